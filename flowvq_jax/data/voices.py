"""Speech from offline synthesizers that ship as Debian packages: voices the world never made.

The synthetic world speaks with one synthesizer (`flowvq_jax.world.speech`); a flow trained only
on it learns that synthesizer's acoustics. This module renders English sentences with other
programs, many voices, rates and pitches, so training and evaluation can hear speech the world did
not produce (`flowvq_jax.data.builders.speech` stores it as the `speech_corpus` dataset):

  synthesizer  program    Debian package(s)             voices
  espeak-ng    espeak-ng  espeak-ng                     formant: 8 English accents x variants
  flite        flite      flite                         kal, kal16, awb, rms, slt
  festival     text2wave  festival, festvox-kallpc16k,  kal_diphone, cmu_us_slt_arctic_hts
                          festvox-us-slt-hts

A `Voice` is (synthesizer, voice, rate, pitch); `rate` is the speaking-rate factor (1 = the
voice's own; 1.3 = 30 % faster) and `pitch` a pitch setting in the synthesizer's own range
mapped from [0, 1] (0.5 = the voice's own). `synthesize(voice, text)` returns float32 16 kHz
mono audio; a missing program raises `SynthesizerMissing` naming it and its package.

The voices of each split are disjoint (`split_voices`): validation and test hear voices, accents,
variants and (for test) a whole synthesizer (festival) never heard in training, and sentences
never spoken in training (`split_sentences`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile

import numpy as np

from flowvq_jax.core.constants import SAMPLE_RATE
from flowvq_jax.data import media

SYNTHESIZERS = {  # name -> (program, Debian packages)
  "espeak-ng": ("espeak-ng", "espeak-ng"),
  "flite": ("flite", "flite"),
  "festival": ("text2wave", "festival festvox-kallpc16k festvox-us-slt-hts"),
}
FESTIVAL_VOICES = ("kal_diphone", "cmu_us_slt_arctic_hts")
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")

# Sentences written for this corpus: everyday English with varied vowels, plosives and pauses.
SENTENCES = (
  "The old boat drifted slowly toward the quiet harbour.",
  "Please bring the blue folder to my office before noon.",
  "We watched the rain fall over the hills all afternoon.",
  "She opened the window and the cold air rushed in.",
  "A cup of hot tea is the best cure for a long day.",
  "The children laughed as the puppy chased its own tail.",
  "Turn left at the bakery, then walk two more blocks.",
  "He forgot his keys again, so we waited by the door.",
  "The museum closes early on Sundays during the winter.",
  "Our train was delayed because of a fallen tree.",
  "I would like a table for four, near the window.",
  "The garden smells of roses after a summer storm.",
  "Nobody knew who had left the lights on all night.",
  "Fresh bread and cheese make a simple, perfect lunch.",
  "The teacher asked us to read the first three chapters.",
  "Can you hear the owls calling from the dark woods?",
  "My brother builds tiny ships inside glass bottles.",
  "The market was crowded with people buying fruit.",
  "Put the heavy boxes on the bottom shelf, please.",
  "The river rose quickly after the snow began to melt.",
  "I have never seen so many stars in one sky.",
  "They painted the fence bright yellow last weekend.",
  "The phone rang twice and then stopped ringing.",
  "Our neighbour plays the violin every evening at eight.",
  "Keep your umbrella handy, the forecast looks grim.",
  "The soup needs a little more salt and some pepper.",
  "We walked along the beach until the sun went down.",
  "A sudden gust of wind blew the papers off the desk.",
  "The doctor said to rest and drink plenty of water.",
  "Every morning the baker opens his shop at six.",
  "The movie was much longer than any of us expected.",
  "Who moved my chair away from the fireplace?",
  "The mountain road twists and turns for many miles.",
  "She keeps her old letters in a wooden box.",
  "We should leave now if we want to catch the bus.",
  "The cat slept on the warm roof of the car.",
  "Thick fog covered the valley until late morning.",
  "He whistled a cheerful tune while fixing the bike.",
  "The library has a new room full of maps.",
  "Bright lanterns swung above the busy night market.",
  "Our flight leaves at seven, so pack your bags tonight.",
  "The farmer counted the sheep twice to be sure.",
  "I found an old coin buried in the sand.",
  "Would you mind closing the door on your way out?",
  "The choir sang softly in the candlelit hall.",
  "A long queue formed outside the new ice cream shop.",
  "The kettle whistled loudly in the empty kitchen.",
  "Few people noticed the painting had been moved.",
  "The storm knocked out power across the whole town.",
  "My grandmother tells the best stories about the sea.",
  "The bridge was closed for repairs until Friday.",
  "Two geese landed gently on the frozen pond.",
  "Write your name clearly at the top of each page.",
  "The orchestra tuned up as the audience took their seats.",
  "Lemons, onions and garlic filled the wooden crate.",
  "We heard thunder rumbling far beyond the lake.",
  "The ferry crossed the bay in less than an hour.",
  "Sharp rocks lined the path down to the cove.",
  "He answered every question with a calm, steady voice.",
  "The first snow of the year fell without a sound.",
)


class SynthesizerMissing(ValueError):
  """A speech synthesizer program is not installed."""


@dataclasses.dataclass(frozen=True)
class Voice:
  """One synthesizer setting: `voice` of `synthesizer` at speaking `rate` and `pitch` in [0, 1]."""

  synthesizer: str
  voice: str
  rate: float = 1.0
  pitch: float = 0.5

  @property
  def voice_id(self) -> str:
    return f"{self.synthesizer}:{self.voice}:r{self.rate:.2f}:p{self.pitch:.2f}"


def check_programs(synthesizers) -> None:
  """Raises `SynthesizerMissing` naming the first absent program and its Debian package(s)."""
  for name in synthesizers:
    if name not in SYNTHESIZERS:
      raise ValueError(f"Unknown synthesizer {name!r}; choose from {', '.join(SYNTHESIZERS)}.")
    program, packages = SYNTHESIZERS[name]
    if shutil.which(program) is None:
      raise SynthesizerMissing(
        f"the speech synthesizer program {program!r} ({name}) is not installed; install it "
        f"with `apt-get install {packages}` (Debian/Ubuntu) or leave {name} out of the corpus."
      )


def _command(voice: Voice, text: str, out: str) -> tuple[list[str], str | None]:
  """(argv, stdin text) writing a wav of `text` to `out`."""
  if voice.synthesizer == "espeak-ng":
    wpm = int(round(175 * voice.rate))
    pitch = int(round(100 * voice.pitch))
    return ["espeak-ng", "-v", voice.voice, "-s", str(wpm), "-p", str(pitch), "-w", out, text], None
  if voice.synthesizer == "flite":
    f0 = 80.0 + 120.0 * voice.pitch  # the voice's mean F0 target in Hz (100-200 Hz range).
    args = ["flite", "-voice", voice.voice, "--setf", f"duration_stretch={1.0 / voice.rate:.3f}"]
    if abs(voice.pitch - 0.5) > 1e-6:
      args += ["--setf", f"int_f0_target_mean={f0:.0f}"]
    return args + ["-t", text, "-o", out], None
  if voice.synthesizer == "festival":
    if voice.voice not in FESTIVAL_VOICES:
      raise ValueError(f"Unknown festival voice {voice.voice!r}; choose from {FESTIVAL_VOICES}.")
    evals = [f"(voice_{voice.voice})", f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})"]
    args = ["text2wave"]
    for e in evals:
      args += ["-eval", e]
    return args + ["-o", out], text
  raise ValueError(
    f"Unknown synthesizer {voice.synthesizer!r}; choose from {', '.join(SYNTHESIZERS)}."
  )


def synthesize(voice: Voice, text: str, timeout: float = 120.0) -> np.ndarray:
  """`text` spoken by `voice`: float32 mono [n] at 16 kHz.

  Raises:
    SynthesizerMissing: the program is not installed.
    RuntimeError: the program failed or wrote no audio (its message included).
  """
  check_programs([voice.synthesizer])
  with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "speech.wav")
    argv, stdin = _command(voice, text, out)
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not os.path.exists(out) or os.path.getsize(out) <= 44:
      msg = (proc.stderr or proc.stdout or "no output").strip().splitlines()
      raise RuntimeError(f"{voice.voice_id} failed on {text!r}: {msg[-1] if msg else ''}")
    wav = media.load_audio(out, SAMPLE_RATE)
  return np.asarray(wav, np.float32)


# ------------------------------------------------------------------------------------------------
# Splits: disjoint voices and sentences.

_ESPEAK_TRAIN = ("en-us", "en-gb", "en-gb-scotland", "en-029")
_ESPEAK_TRAIN_VARIANTS = ("", "+m1", "+m3", "+f2", "+f4", "+m6")
_ESPEAK_VAL = ("en-gb-x-rp",)
_ESPEAK_VAL_VARIANTS = ("+m5", "+f1")
_ESPEAK_TEST = ("en-gb-x-gbclan", "en-gb-x-gbcwmd")
_ESPEAK_TEST_VARIANTS = ("+m7", "+f5", "+croak")


def split_voices(split: str, synthesizers=tuple(SYNTHESIZERS)) -> list[Voice]:
  """The voice settings of a split (train / validation / test), disjoint across splits.

  train: espeak-ng in 4 accents x 6 variants, flite kal / awb / rms; each at 3 rates x 3 pitches.
  validation: espeak-ng en-gb-x-rp with 2 unseen variants, flite kal16.
  test: festival's two voices (a synthesizer never heard in training), flite slt, espeak-ng in
  2 unseen accents x 3 unseen variants; rates and pitches include values outside training's.
  """
  rates = {"train": (0.85, 1.0, 1.2), "validation": (0.9, 1.1), "test": (0.8, 1.0, 1.25)}[split]
  pitches = {"train": (0.3, 0.5, 0.7), "validation": (0.4, 0.6), "test": (0.25, 0.5, 0.75)}[split]
  espeak = {
    "train": [a + v for a in _ESPEAK_TRAIN for v in _ESPEAK_TRAIN_VARIANTS],
    "validation": [a + v for a in _ESPEAK_VAL for v in _ESPEAK_VAL_VARIANTS],
    "test": [a + v for a in _ESPEAK_TEST for v in _ESPEAK_TEST_VARIANTS],
  }[split]
  flite = {"train": ("kal", "awb", "rms"), "validation": ("kal16",), "test": ("slt",)}[split]
  festival = FESTIVAL_VOICES if split == "test" else ()
  out = []
  for name, voices, pitch_ok in (
    ("espeak-ng", espeak, True),
    ("flite", flite, True),
    ("festival", festival, False),  # festival's pitch is the voice's own.
  ):
    if name not in synthesizers:
      continue
    for v in voices:
      for r in rates:
        for p in pitches if pitch_ok else (0.5,):
          out.append(Voice(name, v, r, p))
  return out


def split_sentences(split: str) -> tuple[int, ...]:
  """Sentence indices of a split: 0-39 train, 40-49 validation, 50-59 test."""
  return {"train": tuple(range(40)), "validation": tuple(range(40, 50)),
          "test": tuple(range(50, 60))}[split]  # fmt: skip
