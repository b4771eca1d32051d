"""A source-filter speech-like synthesizer at 16 kHz.

An utterance (an int) fixes the spoken content: phrases of words of syllables, each syllable an
optional consonant onset (plosive, fricative, nasal, approximant) and a vowel (a, e, i, o, u).
Synthesis:

- source: a Rosenberg-like glottal pulse train following an f0 contour (phrase declination, pitch
  accents on stressed syllables, phrase-final fall or rise, slow drift) plus breath noise;
- filter: three cascaded formant resonators (Klatt style), formants interpolated between
  segments (coarticulation) and updated every 10 ms;
- consonants: band-passed noise bursts and frication, closures are silent, nasals are quiet
  low-formant murmurs; words are separated by short gaps and phrases by pauses (silence).

Emotion changes prosody (`EMOTION_PROSODY`): pitch level and range, energy, tempo and pitch
jitter/tremor, scaled towards neutral at lower intensity (`INTENSITY_LEVEL`). The voice (pitch,
formant scale, breathiness) comes from the identity. `rng` drives only small prosody jitter.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import scipy.signal

from flowvq_jax.core.constants import EMOTIONS, FPS, NEUTRAL, SAMPLE_RATE, SAMPLES_PER_FRAME
from flowvq_jax.world.identity import Voice

VOWELS = {  # F1, F2, F3 in Hz (adult male reference; scaled by Voice.formant_scale).
  "a": (730.0, 1090.0, 2440.0),
  "e": (530.0, 1840.0, 2480.0),
  "i": (290.0, 2250.0, 3010.0),
  "o": (520.0, 840.0, 2410.0),
  "u": (320.0, 820.0, 2240.0),
}
ONSETS = ("", "", "p", "t", "k", "s", "sh", "f", "h", "m", "n", "l", "r")
_NOISE_BANDS = {  # Hz band, level of the band-passed noise.
  "s": ((4000.0, 7500.0), 0.5),
  "sh": ((2000.0, 5000.0), 0.45),
  "f": ((1200.0, 7000.0), 0.22),
  "h": ((600.0, 3500.0), 0.15),
  "p": ((400.0, 2500.0), 0.6),
  "t": ((3000.0, 7000.0), 0.6),
  "k": ((1200.0, 3500.0), 0.6),
}
_SONORANT = {  # formants and relative level of voiced consonants.
  "m": ((280.0, 1100.0, 2300.0), 0.22),
  "n": ((280.0, 1500.0, 2500.0), 0.22),
  "l": ((360.0, 1300.0, 2700.0), 0.45),
  "r": ((420.0, 1250.0, 1700.0), 0.45),
}


@dataclasses.dataclass(frozen=True)
class Prosody:
  """Emotion prosody, relative to neutral speech."""

  pitch: float  # f0 level multiplier.
  pitch_range: float  # multiplier of the intonation excursions.
  energy_db: float  # level change in dB.
  tempo: float  # speaking rate multiplier (> 1 faster).
  tremor: float  # relative f0 jitter / tremor depth.


EMOTION_PROSODY: dict[str, Prosody] = {
  "angry": Prosody(1.12, 1.35, 4.0, 1.1, 0.01),
  "contempt": Prosody(0.95, 0.8, -1.5, 0.9, 0.0),
  "disgusted": Prosody(0.93, 0.9, -1.0, 0.85, 0.0),
  "fear": Prosody(1.22, 1.2, -1.0, 1.18, 0.03),
  "happy": Prosody(1.18, 1.5, 2.5, 1.06, 0.005),
  "neutral": Prosody(1.0, 1.0, 0.0, 1.0, 0.0),
  "sad": Prosody(0.9, 0.55, -5.0, 0.78, 0.01),
  "surprised": Prosody(1.28, 1.8, 3.0, 1.0, 0.005),
}
INTENSITY_LEVEL = {1: 0.4, 2: 0.7, 3: 1.0}  # fraction of the emotion's full deviation.

_GAIN = 0.055  # output level: neutral stressed vowels measure about -10..-22 dBFS RMS.


def check_intensity(intensity) -> int:
  if isinstance(intensity, bool) or not isinstance(intensity, (int, np.integer)):
    raise ValueError(f"intensity must be 1, 2 or 3, got {intensity!r}.")
  if int(intensity) not in INTENSITY_LEVEL:
    raise ValueError(f"intensity must be 1, 2 or 3, got {intensity}.")
  return int(intensity)


def emotion_prosody(emotion: int, intensity: int) -> Prosody:
  """The prosody of `emotion` (index) at `intensity`, interpolated from neutral."""
  lev = INTENSITY_LEVEL[intensity]
  e, n = EMOTION_PROSODY[EMOTIONS[emotion]], EMOTION_PROSODY[EMOTIONS[NEUTRAL]]
  mix = lambda a, b: b + lev * (a - b)
  return Prosody(
    pitch=mix(e.pitch, n.pitch),
    pitch_range=mix(e.pitch_range, n.pitch_range),
    energy_db=mix(e.energy_db, n.energy_db),
    tempo=mix(e.tempo, n.tempo),
    tremor=mix(e.tremor, n.tremor),
  )


@dataclasses.dataclass(frozen=True)
class Syllable:
  onset: str
  vowel: str
  stressed: bool
  onset_dur: float  # seconds at neutral tempo.
  vowel_dur: float
  gap_after: float  # silence after (word gap or phrase pause), seconds.
  phrase_end: bool
  rise: bool  # phrase-final rise (question-like) if phrase_end.


def utterance_syllables(utterance: int, min_seconds: float) -> list[Syllable]:
  """The syllables of `utterance` covering at least `min_seconds` at neutral tempo.

  Deterministic in `utterance`; a longer request extends the same sequence (same prefix).
  """
  if isinstance(utterance, bool) or not isinstance(utterance, (int, np.integer)):
    raise ValueError(f"utterance must be an int >= 0, got {utterance!r}.")
  if utterance < 0:
    raise ValueError(f"utterance must be >= 0, got {utterance}.")
  rng = np.random.default_rng([int(utterance), 0x5EEC])
  out: list[Syllable] = []
  total = float(rng.uniform(0.15, 0.3))  # leading silence, see synthesize_speech.
  vowels = list(VOWELS)
  while total < min_seconds:
    n_words = int(rng.integers(2, 6))
    rise = bool(rng.random() < 0.3)
    for w in range(n_words):
      n_syl = int(rng.choice([1, 1, 2, 2, 3]))
      stress = int(rng.integers(n_syl))
      for k in range(n_syl):
        onset = str(ONSETS[rng.integers(len(ONSETS))])
        onset_dur = {"": 0.0, "p": 0.07, "t": 0.07, "k": 0.075, "s": 0.1, "sh": 0.1}.get(
          onset, 0.07
        )
        stressed = k == stress
        vdur = float(rng.uniform(0.16, 0.22) if stressed else rng.uniform(0.1, 0.15))
        last_word = w == n_words - 1
        if k == n_syl - 1:
          gap = float(rng.uniform(0.28, 0.5)) if last_word else float(rng.choice([0.0, 0.04, 0.07]))
        else:
          gap = 0.0
        out.append(
          Syllable(
            onset=onset,
            vowel=str(vowels[rng.integers(len(vowels))]),
            stressed=stressed,
            onset_dur=onset_dur * float(rng.uniform(0.85, 1.15)),
            vowel_dur=vdur,
            gap_after=gap,
            phrase_end=last_word and k == n_syl - 1,
            rise=rise,
          )
        )
        total += onset_dur + vdur + gap
  return out


@functools.lru_cache(maxsize=16)
def _noise_sos(lo: float, hi: float) -> np.ndarray:
  return scipy.signal.butter(2, [lo, hi], btype="bandpass", fs=SAMPLE_RATE, output="sos")


def _resonator_sos(freqs: np.ndarray, bws: np.ndarray) -> np.ndarray:
  """[K, 6] second-order sections of Klatt resonators (unity gain at DC)."""
  t = 1.0 / SAMPLE_RATE
  c = -np.exp(-2 * np.pi * bws * t)
  b = 2 * np.exp(-np.pi * bws * t) * np.cos(2 * np.pi * freqs * t)
  a = 1 - b - c
  z = np.zeros_like(a)
  return np.stack([a, z, z, np.ones_like(a), -b, -c], -1)


def _box_smooth(x: np.ndarray, n: int) -> np.ndarray:
  if n <= 1:
    return x
  k = np.ones(n) / n
  p = np.pad(x, ((n // 2, n - 1 - n // 2),) + ((0, 0),) * (x.ndim - 1), mode="edge")
  if x.ndim == 1:
    return np.convolve(p, k, mode="valid")
  return np.stack([np.convolve(p[:, j], k, mode="valid") for j in range(x.shape[1])], -1)


def synthesize_speech(
  utterance: int,
  emotion: int,
  intensity: int,
  voice: Voice,
  seconds: float,
  rng: np.random.Generator,
) -> np.ndarray:
  """Speech-like audio of `utterance` spoken with `emotion` at `intensity` by `voice`.

  Args:
    utterance: content id (int >= 0): same id = same syllable sequence.
    emotion: emotion index (constants.EMOTIONS order).
    intensity: 1, 2 or 3.
    voice: the speaker's Voice.
    seconds: duration; the output has round(seconds * 25) * 640 samples (whole video frames).
    rng: drives prosody jitter (durations, accents, pitch drift) and the noise sources.

  Returns:
    float32 [n] at 16 kHz in [-1, 1].
  """
  intensity = check_intensity(intensity)
  num_frames = int(round(seconds * FPS))
  n = num_frames * SAMPLES_PER_FRAME
  if n <= 0:
    return np.zeros((0,), np.float32)
  pro = emotion_prosody(emotion, intensity)
  syls = utterance_syllables(utterance, seconds * pro.tempo + 1.0)
  ms = n // 16 + 2  # control signals at 1 kHz.
  av = np.zeros(ms)  # voiced amplitude.
  fmt = np.zeros((ms, 3))
  fmt[:] = VOWELS["a"]
  accent = np.zeros(ms)  # log-f0 excursions.
  decl = np.zeros(ms)
  noise_env = {k: np.zeros(ms) for k in _NOISE_BANDS}
  has_fmt = np.zeros(ms, bool)

  def span(t0, t1):
    return slice(min(int(t0 * 1000), ms), min(int(t1 * 1000), ms))

  jit = lambda: float(np.clip(1 + 0.06 * rng.standard_normal(), 0.85, 1.15))
  t = float(np.random.default_rng([int(utterance), 0x5EEC]).uniform(0.15, 0.3)) / pro.tempo
  phrase_start = t
  for syl in syls:
    if t * 1000 >= ms:
      break
    od = syl.onset_dur / pro.tempo * jit()
    vd = syl.vowel_dur / pro.tempo * jit()
    vf = np.array(VOWELS[syl.vowel])
    if syl.onset in _NOISE_BANDS:
      if syl.onset in ("p", "t", "k"):  # closure (silence) then a burst.
        noise_env[syl.onset][span(t + 0.7 * od, t + od)] = 1.0
      else:
        noise_env[syl.onset][span(t, t + od)] = 1.0
      fmt[span(t, t + od)] = vf
    elif syl.onset in _SONORANT:
      sf, lev = _SONORANT[syl.onset]
      av[span(t, t + od)] = lev
      fmt[span(t, t + od)] = sf
      has_fmt[span(t, t + od)] = True
    t += od
    sl = span(t, t + vd)
    av[sl] = 1.0 if syl.stressed else 0.75
    fmt[sl] = vf
    has_fmt[sl] = True
    if syl.stressed:
      m = sl.stop - sl.start
      if m > 0:
        size = 0.12 * float(np.clip(1 + 0.25 * rng.standard_normal(), 0.4, 1.6))
        accent[sl] += size * np.sin(np.linspace(0, np.pi, m))
    t += vd
    if syl.phrase_end:
      # Declination over the phrase, final fall or rise.
      p = span(phrase_start, t)
      m = p.stop - p.start
      if m > 0:
        decl[p] = np.linspace(0.08, -0.1, m)
        tail = min(m, 200)
        end = np.linspace(0, 1, tail) ** 2 * (0.18 if syl.rise else -0.08)
        decl[p.stop - tail : p.stop] += end
    t += syl.gap_after / pro.tempo**1.5 * (jit() if syl.gap_after > 0 else 1.0)
    if syl.phrase_end:
      phrase_start = t

  # Formants: hold through silences, then smooth for coarticulation.
  idx = np.where(has_fmt, np.arange(ms), 0)
  np.maximum.accumulate(idx, out=idx)
  fmt = _box_smooth(fmt[idx], 30) * voice.formant_scale
  av = _box_smooth(av, 20)
  drift = _box_smooth(rng.standard_normal(ms // 100 + 2).repeat(100)[:ms], 300) * 0.04
  trem = pro.tremor * np.sin(2 * np.pi * 6.0 * np.arange(ms) / 1000.0 + rng.uniform(0, 6.3))
  log_f0 = np.log(voice.f0 * pro.pitch) + pro.pitch_range * (decl + accent) + drift + trem
  f0_ms = np.exp(log_f0)

  # Glottal source at 16 kHz.
  tm = (np.arange(n) + 0.5) / 16.0  # sample times in ms.
  grid = np.arange(ms)
  f0 = np.interp(tm, grid, f0_ms) * (1 + 0.5 * pro.tremor * rng.standard_normal(n) * 0.1)
  phase = np.cumsum(f0 / SAMPLE_RATE) % 1.0
  tp, tn = 0.4, 0.16  # Rosenberg pulse: opening and (abrupt) closing phase, fractions of a period.
  pulse = np.where(
    phase < tp,
    0.5 * (1 - np.cos(np.pi * phase / tp)),
    np.where(phase < tp + tn, np.cos(0.5 * np.pi * (phase - tp) / tn), 0.0),
  )
  src = np.diff(pulse, prepend=0.0)
  a_tilt = 0.1 + 0.35 * voice.tilt
  src = scipy.signal.lfilter(
    [1 - a_tilt, -0.7 * (1 - a_tilt)], [1, -a_tilt], src
  )  # tilt, lip radiation
  src = src / (np.std(src) + 1e-9)
  breath = voice.breathiness * rng.standard_normal(n) * 0.6
  src = (src + breath) * np.interp(tm, grid, av)

  # Formant filter, coefficients updated every 10 ms.
  block = 160
  bws = np.array([70.0, 100.0, 140.0])
  voiced = np.empty(n)
  zi = np.zeros((3, 2))
  for b0 in range(0, n, block):
    f = fmt[min((b0 + block // 2) // 16, ms - 1)]
    sos = _resonator_sos(f, bws + 0.04 * f)
    voiced[b0 : b0 + block], zi = scipy.signal.sosfilt(sos, src[b0 : b0 + block], zi=zi)

  out = voiced
  for k, env in noise_env.items():
    if not env.any():
      continue
    (lo, hi), lev = _NOISE_BANDS[k]
    e = _box_smooth(env, 8 if k in ("p", "t", "k") else 25)
    noise = scipy.signal.sosfilt(_noise_sos(lo, hi), rng.standard_normal(n))
    out = out + lev * 2.5 * noise * np.interp(tm, grid, e)
  gain = _GAIN * 10 ** (pro.energy_db / 20)
  wav = np.clip(out * gain, -0.99, 0.99)
  return wav.astype(np.float32)
