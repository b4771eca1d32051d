"""Performed clips: any speech, performed by the synthetic world with an emotion drawn at random.

The flows learn coefficients from audio; nothing ties that audio to the world's own synthesizer,
because `SyntheticWorld.perform` gives the ground-truth performance of *any* waveform (the mouth
law of that waveform, the emotion's non-verbal cues). A `PerformedClips` source serves, for clip
`i` of a split (deterministic given the config, the split and `i`; made when read, never stored):

1. a label: emotion e (uniform over the eight) and intensity k (1..3; neutral 1);
2. speech of `seconds`: with probability `corpus_fraction` utterances of the speech corpus's
   split (synthesizer voices, `flowvq_jax.data.voices`) joined by short pauses, otherwise the
   speech of one of the split's world clips (`data.memory`'s layout, made once and cached: the
   split's identities and sentence pool), spoken with the label's emotion with probability
   `match_fraction` and otherwise with any emotion: in those clips the audio's prosody and the
   label disagree, so the label is the only source of the emotion;
3. a random recording chain (`flowvq_jax.data.augment.random_chain`: speed, pitch, room, band,
   noise, codec, level) with the probabilities of `augment`;
4. the world's performance of the resulting waveform with (e, k) by one of the split's identities
   (`world_clips.world_example`, no frames).

The config (`data.performed`, with the world layout in `data.memory`):

  corpus           a prepared speech corpus in `data.data_dir` (e.g. 'speech_corpus/small'); ''
                   for the world's speech only
  corpus_fraction  share of clips spoken by the corpus's voices (when a corpus is given)
  match_fraction   share of world-speech clips whose prosody is the label's
  clips            clips per epoch of the train split (each made fresh when read);
                   `eval_clips` for validation and test
  seconds          clip length
  augment          `augment.Augment` fields (probabilities and ranges); `augment_eval`: also on
                   validation / test clips
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from flowvq_jax.core.config import ConfigError
from flowvq_jax.core.constants import FPS, NEUTRAL, NUM_EMOTIONS, SAMPLE_RATE, SAMPLES_PER_FRAME
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import augment as augment_lib
from flowvq_jax.data import clip_layout, world_clips
from flowvq_jax.world import SyntheticWorld

PAUSE_SECONDS = (0.05, 0.6)


@functools.lru_cache(maxsize=8)
def _corpus_split(name: str, data_dir: str, split: str):
  from flowvq_jax.data import builders  # noqa: PLC0415  (TFDS: imported only with a corpus)

  try:
    return builders.data_sources(name, data_dir)[clip_layout.split_name(split)]
  except ValueError as e:
    raise ConfigError(f"data.performed.corpus: {e}") from None


class PerformedClips:
  """Random-access clips of a split (module docstring); `len` is the clips per epoch."""

  def __init__(self, data_cfg, split: str, *, audio: bool = True):
    perf, mem = data_cfg.performed, data_cfg.memory
    self.split = clip_layout.split_name(split)
    self.seconds = float(perf.seconds)
    self.frames = int(round(self.seconds * FPS))
    if self.frames < 1:
      raise ConfigError(f"data.performed.seconds must be >= 0.04, got {perf.seconds}.")
    for key in ("corpus_fraction", "match_fraction"):
      if not 0.0 <= float(perf[key]) <= 1.0:
        raise ConfigError(f"data.performed.{key} must be in [0, 1], got {perf[key]}.")
    self.corpus_fraction = float(perf.corpus_fraction) if perf.corpus else 0.0
    self.match_fraction = float(perf.match_fraction)
    train = self.split == "train"
    self.num_clips = int(perf.clips if train else perf.eval_clips)
    self.augment = (
      augment_lib.Augment.from_config(perf.augment) if (train or perf.augment_eval) else None
    )
    self.audio = audio
    self.world_seed = int(mem.world_seed)
    # The split's world clips (audio, no frames; made once per process) by spoken emotion.
    self.world_clips = world_clips.memory_clips(mem, self.split, frames=False, audio=True)
    self.by_emotion: dict[int, list[int]] = {}
    for i, c in enumerate(self.world_clips):
      self.by_emotion.setdefault(int(c["emotion"]), []).append(i)
    self.corpus = (
      _corpus_split(str(perf.corpus), str(data_cfg.data_dir), self.split)
      if self.corpus_fraction > 0
      else None
    )
    self.seed = int(perf.get("seed", 0))

  def __len__(self) -> int:
    return self.num_clips

  @functools.cached_property
  def _world(self) -> SyntheticWorld:
    return SyntheticWorld(self.world_seed, 64)

  def _corpus_speech(self, rng: np.random.Generator) -> np.ndarray:
    n = self.frames * SAMPLES_PER_FRAME
    parts, total = [], 0
    while total < n + SAMPLE_RATE:  # one second spare for a random start.
      wav = np.asarray(self.corpus[int(rng.integers(len(self.corpus)))]["audio"], np.float32)
      pause = np.zeros(int(rng.uniform(*PAUSE_SECONDS) * SAMPLE_RATE), np.float32)
      parts += [pause, wav]
      total += pause.size + wav.size
    wav = np.concatenate(parts)
    start = int(rng.integers(0, wav.size - n + 1))
    return wav[start : start + n]

  def __getitem__(self, index: int) -> dict[str, Any]:
    index = int(index)
    if not 0 <= index < self.num_clips:
      raise IndexError(f"clip {index} of {self.num_clips}")
    rng = np.random.default_rng([self.seed, clip_layout.SPLITS.index(self.split), index, 0xA0D])
    emotion = int(rng.integers(NUM_EMOTIONS))
    intensity = 1 if emotion == NEUTRAL else int(rng.integers(1, 4))
    clips, by_emotion = self.world_clips, self.by_emotion
    if self.corpus is not None and rng.uniform() < self.corpus_fraction:
      wav, source = self._corpus_speech(rng), "corpus"
      identity = int(clips[int(rng.integers(len(clips)))]["identity"])
    else:
      said = emotion if rng.uniform() < self.match_fraction else int(rng.integers(NUM_EMOTIONS))
      pool = by_emotion.get(said) or range(len(clips))
      clip = clips[pool[int(rng.integers(len(pool)))]]
      wav, identity = np.asarray(clip["audio"], np.float32), int(clip["identity"])
      source = "world" if int(clip["emotion"]) == emotion else "world_mismatched"
    if self.augment is not None:
      wav, _ = augment_lib.random_chain(wav, rng, self.augment)
    wav = audio_lib.fit_length(wav, self.frames)
    clip = self._world.perform(
      identity, wav, SAMPLE_RATE, emotion, intensity, int(rng.integers(2**31 - 1)),
      render_frames=False,
    )  # fmt: skip
    clip_id = f"{self.split}/performed/{index:07d}_{source}"
    return world_clips.world_example(clip, clip_id, audio=self.audio)
