"""Synthetic-world clips as dataset examples: the one path from a world `Clip` to the example dict
that the `synthetic_talking_faces` builder writes and the in-memory sources serve.

  world_example(clip, clip_id)             -> {frames, exp, pose, landmarks, audio, mel, ...}
  memory_clips(mem, split)                 the clips of a split made in this process (cached)
  memory_frames(mem, split, picks)         chosen frames of chosen clips, rendered, not cached
  world_performance(seed, identity, ...)   exp + audio of one performance (emotion references)

`mem` holds the sizes of a split layout (`flowvq_jax.data.clip_layout`): world_seed, seconds,
identities, clips_per_identity, utterances, and optionally resolution (default 64) and workers
(processes rendering clips; < 0: all cores).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Sequence
from concurrent import futures
from typing import Any

import numpy as np

from flowvq_jax.core.config import ConfigError
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import clip_layout
from flowvq_jax.world import SyntheticWorld

DEFAULT_RESOLUTION = 64  # in-memory clips of a layout that names no resolution (the flows').


def world_example(clip, clip_id: str, *, keep=None, audio: bool = True) -> dict[str, Any]:
  """A world `Clip` as the example dict the builder writes (module docstring).

  Args:
    clip: `flowvq_jax.world.Clip`.
    clip_id: the clip's id (`ClipSpec.clip_id`).
    keep: frame indices: only those frames of the per-frame arrays (None: all).
    audio: include `audio` and `mel` (of the whole clip).
  """
  sel = slice(None) if keep is None else np.asarray(keep)
  out = {
    "frames": np.asarray(clip.frames[sel], np.uint8),
    "exp": np.asarray(clip.exp[sel], np.float32),
    "pose": np.asarray(clip.pose[sel], np.float32),
    "landmarks": np.asarray(clip.landmarks[sel], np.float32),
    "emotion": int(clip.emotion),
    "intensity": int(clip.intensity),
    "identity": int(clip.identity),
    "utterance": int(clip.utterance),
    "clip_id": clip_id,
  }
  if audio:
    t = int(np.asarray(clip.exp).shape[0])
    wav = audio_lib.fit_length(np.asarray(clip.audio, np.float32), t)
    out["audio"] = wav
    out["mel"] = audio_lib.log_mel(wav, num_frames=t)
  return out


def _world_clip(args: tuple, keep=None, *, frames: bool, audio: bool) -> dict[str, Any]:
  """One in-memory clip from `(world_seed, resolution, seconds, ClipSpec)` (top level: it runs in
  process pools)."""
  world_seed, resolution, seconds, spec = args
  world = SyntheticWorld(seed=world_seed, resolution=resolution)
  clip = world.sample_clip(
    world.identity(spec.identity), spec.emotion, spec.intensity, seconds, spec.seed,
    utterance=spec.utterance, render_frames=frames,
  )  # fmt: skip
  return world_example(clip, spec.clip_id, keep=keep, audio=audio)


def _clip_args(mem: Any, split: str) -> list[tuple]:
  try:
    specs = clip_layout.clip_specs(
      mem.identities, mem.clips_per_identity, mem.utterances, mem.world_seed
    )[clip_layout.split_name(split)]
  except ValueError as e:
    raise ConfigError(f"data.memory: {e}") from e
  resolution = int(mem.get("resolution", DEFAULT_RESOLUTION))
  return [(int(mem.world_seed), resolution, float(mem.seconds), spec) for spec in specs]


def _workers(mem: Any) -> int:
  workers = int(mem.get("workers", 0) or 0)
  return (os.cpu_count() or 1) if workers < 0 else workers


def _generate(args: Sequence[tuple], workers: int, frames: bool, audio: bool, keep=None):
  """`_world_clip` of every item of `args` (with `keep[i]`), in order, in `workers` processes
  when it pays."""
  fn = functools.partial(_world_clip, frames=frames, audio=audio)
  keep = [None] * len(args) if keep is None else list(keep)
  if workers > 1 and len(args) > 4:
    ctx = multiprocessing.get_context("spawn")  # no fork after jax started
    with futures.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
      return tuple(pool.map(fn, args, keep, chunksize=max(1, len(args) // (4 * workers))))
  return tuple(fn(a, k) for a, k in zip(args, keep))


@functools.lru_cache(maxsize=8)
def _memory_clips(args: tuple, workers: int, frames: bool, audio: bool) -> tuple[dict, ...]:
  return _generate(args, workers, frames, audio)


def memory_clips(mem: Any, split: str, *, frames: bool = True, audio: bool = True):
  """The in-memory clips of `split` (cached per settings and split)."""
  return _memory_clips(tuple(_clip_args(mem, split)), _workers(mem), bool(frames), bool(audio))


def memory_frames(mem: Any, split: str, picks) -> tuple[dict, ...]:
  """Chosen frames of clips of `split`, rendered and not cached: `picks` is `[(clip index, frame
  indices)]`, the result a clip dict per pick holding only those frames, for a sample of a split
  too large to hold whole."""
  args = _clip_args(mem, split)
  chosen = [(args[int(c)], np.asarray(idx)) for c, idx in picks]
  clips, keep = zip(*chosen) if chosen else ((), ())
  return _generate(tuple(clips), _workers(mem), True, False, keep)


def world_performance(
  world_seed: int, identity: int, emotion: int, seconds: float, seed: int, intensity: int = 3
) -> tuple[np.ndarray, np.ndarray]:
  """A synthetic-world performance without frames: `(exp [T, 64], audio [n] at 16 kHz)` of
  `identity` speaking with `emotion` (the `world:IDENTITY:EMOTION[:SEED]` emotion references)."""
  world = SyntheticWorld(seed=int(world_seed), resolution=DEFAULT_RESOLUTION)
  clip = world.sample_clip(identity, emotion, intensity, seconds, seed, render_frames=False)
  return np.asarray(clip.exp, np.float32), np.asarray(clip.audio, np.float32)
