"""grain input pipelines: random windows of talking-face clips, sharded and checkpointable.

A *source* is anything random-access (`len(source)`, `source[i]`) whose elements are dicts
describing one clip of `T` frames:

  exp [T, 64] float, pose [T, 6] float, mel [4T, 80] float (or audio [n] at 16 kHz, from
  which the log-mel is computed), emotion int, intensity int, identity int,
  and optionally frames [T, H, W, 3] uint8.

The TFDS data sources of `flowvq_jax.data.builders` (`builder.as_data_source()[split]`)
and a plain list of such dicts both work.

Each produced example is a window of `window` consecutive frames:

  exp [W, 64] float32, pose [W, 6] float32 (normalised when `stats` is given),
  mel [W, 2k + 1, 4, 80] float32 (the audio context of every frame, see
  `audio.mel_windows`), mask [W] float32 (0 on frames padded past a clip shorter than
  the window), emotion, intensity, identity, clip, start int32 scalars, and with
  `with_frames=True` frames [W, H, W, 3] uint8. Batching adds a leading `[B]` axis.

Training iterators shuffle (reshuffled every epoch), repeat forever and draw the window
start at random; evaluation iterators visit every clip of the shard once, in order,
taking the clip's central window. Both are deterministic given `seed` and the shard,
and their `get_state()` / `set_state()` resume exactly where they stopped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import grain
import numpy as np

from flowvq_jax.core import constants
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import coeffs as coeffs_lib

_SCALARS = ("emotion", "intensity", "identity")


class ClipWindow(grain.transforms.RandomMap):
  """Cuts a window of `window` frames out of a clip; random start, or the centre if eval."""

  def __init__(
    self,
    window: int,
    mel_context: int,
    stats: coeffs_lib.CoeffStats | None = None,
    with_frames: bool = False,
    random_start: bool = True,
  ):
    if window < 1:
      raise ValueError(f"window must be >= 1 frame, got {window}.")
    if mel_context < 0:
      raise ValueError(f"mel_context must be >= 0, got {mel_context}.")
    self.window = window
    self.mel_context = mel_context
    self.stats = stats
    self.with_frames = with_frames
    self.random_start = random_start

  def random_map(self, element: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    clip_index = int(element["__index__"])
    missing = [k for k in ("exp", "pose", *_SCALARS) if k not in element]
    if "mel" not in element and "audio" not in element:
      missing.append("mel (or audio)")
    if self.with_frames and "frames" not in element:
      missing.append("frames")
    if missing:
      raise ValueError(f"Clip {clip_index} of the source lacks {missing}.")
    exp = np.asarray(element["exp"], np.float32)
    pose = np.asarray(element["pose"], np.float32)
    t_total = exp.shape[0]
    if t_total < 1 or pose.shape[0] != t_total:
      raise ValueError(f"Clip {clip_index}: exp has {t_total} frames, pose {pose.shape[0]}.")
    if "mel" in element:
      mel = np.asarray(element["mel"], np.float32)
    else:
      wav = np.asarray(element["audio"])
      wav = wav.astype(np.float32) / 32768.0 if wav.dtype == np.int16 else wav
      mel = audio_lib.log_mel(wav.astype(np.float32), num_frames=t_total)
    if mel.shape[0] != constants.MELS_PER_FRAME * t_total:
      raise ValueError(
        f"Clip {clip_index}: mel has {mel.shape[0]} frames, expected "
        f"{constants.MELS_PER_FRAME} x {t_total} video frames."
      )
    w = self.window
    span = max(t_total - w, 0)
    start = int(rng.integers(0, span + 1)) if self.random_start else span // 2
    n = min(w, t_total)
    idx = np.minimum(start + np.arange(w), t_total - 1)  # Edge-pads a short clip.
    exp, pose = exp[idx], pose[idx]
    if self.stats is not None:
      exp, pose = coeffs_lib.normalize(exp, pose, self.stats)
    mel_win = audio_lib.mel_windows(mel, self.mel_context, start=start, length=n)
    if n < w:
      mel_win = mel_win[np.minimum(np.arange(w), n - 1)]
    out = {
      "exp": exp,
      "pose": pose,
      "mel": mel_win.astype(np.float32),
      "mask": (np.arange(w) < n).astype(np.float32),
      "clip": np.int32(clip_index),
      "start": np.int32(start),
    }
    for k in _SCALARS:
      out[k] = np.int32(element[k])
    if self.with_frames:
      if isinstance(element["frames"], bytes):
        raise ValueError(
          "The source was opened without decoding frames; open it with "
          "builders.sources(builder, with_frames=True) to use with_frames."
        )
      out["frames"] = np.asarray(element["frames"], np.uint8)[idx]
    return out


class _WithIndex(grain.transforms.MapWithIndex):
  """Adds the clip's index in the source (grain passes indices that run past one epoch)."""

  def __init__(self, num_clips: int):
    self.num_clips = num_clips

  def map_with_index(self, index: int, element: Mapping[str, Any]) -> dict[str, Any]:
    return {**element, "__index__": index % self.num_clips}


def _shard(ds: grain.MapDataset, shard_options: grain.sharding.ShardOptions) -> grain.MapDataset:
  n, count, i = len(ds), shard_options.shard_count, shard_options.shard_index
  if not 0 <= i < count:
    raise ValueError(f"Shard index {i} is outside 0..{count - 1}.")
  per = n // count
  if shard_options.drop_remainder:
    start, end = per * i, per * (i + 1)
  else:
    extra = n % count
    start, end = per * i + min(i, extra), per * (i + 1) + min(i + 1, extra)
  if end <= start:
    raise ValueError(f"Shard {i} of {count} is empty: the source has only {n} clips.")
  return ds[start:end]


def make_dataset(
  source: Sequence[Mapping[str, Any]],
  *,
  batch_size: int,
  window: int,
  mel_context: int = 2,
  train: bool = True,
  seed: int = 0,
  stats: coeffs_lib.CoeffStats | None = None,
  with_frames: bool = False,
  shard_options: grain.sharding.ShardOptions | None = None,
  drop_remainder: bool | None = None,
  num_threads: int = 2,
  prefetch_buffer_size: int = 8,
) -> grain.IterDataset:
  """A grain `IterDataset` of batched clip windows (see the module docstring).

  Args:
    source: random-access clips (TFDS data source split, list of dicts, ...).
    batch_size: examples per batch, per process.
    window: frames per example `W`.
    mel_context: audio context radius `k` in video frames.
    train: shuffle + repeat forever + random window starts; otherwise one pass over
      the shard in order with central windows.
    seed: seed of the shuffle and the window starts.
    stats: normalisation statistics for exp and pose; None leaves them raw.
    with_frames: include the video frames of the window.
    shard_options: which part of the source this process reads; default
      `grain.sharding.ShardByJaxProcess(drop_remainder=True)` (every process gets an
      equal, disjoint, contiguous part of the source).
    drop_remainder: drop a last partial batch; default True for train, False for eval.
    num_threads, prefetch_buffer_size: grain read options (threads, prefetch depth).

  Returns:
    A `grain.IterDataset`; `iter()` it for a checkpointable iterator.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  if len(source) == 0:
    raise ValueError("The data source is empty.")
  if shard_options is None:
    shard_options = grain.sharding.ShardByJaxProcess(drop_remainder=True)
  ds = grain.MapDataset.source(source).map_with_index(_WithIndex(len(source)))
  ds = _shard(ds, shard_options)
  if train:
    ds = ds.shuffle(seed=seed).repeat(None)
  ds = ds.random_map(
    ClipWindow(window, mel_context, stats, with_frames, random_start=train),
    seed=seed + 1_000_003,
  )
  ds = ds.batch(batch_size, drop_remainder=train if drop_remainder is None else drop_remainder)
  return ds.to_iter_dataset(
    grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch_buffer_size)
  )


def train_iterator(source, **kwargs) -> grain.DatasetIterator:
  """An infinite, shuffled, checkpointable iterator of batches: `make_dataset(train=True)`."""
  return iter(make_dataset(source, train=True, **kwargs))


def eval_iterator(source, **kwargs) -> grain.DatasetIterator:
  """A finite, ordered, deterministic iterator of batches: `make_dataset(train=False)`."""
  return iter(make_dataset(source, train=False, **kwargs))


def from_config(
  source: Sequence[Mapping[str, Any]],
  config: Mapping[str, Any],
  *,
  train: bool,
  stats: coeffs_lib.CoeffStats | None = None,
  shard_options: grain.sharding.ShardOptions | None = None,
) -> grain.IterDataset:
  """`make_dataset` with settings from a config (e.g. an ml_collections `config.data`).

  Keys: batch_size, window, and optionally mel_context (2), seed (0), normalize (True:
  apply `stats`, which must then be given), with_frames (False), num_threads (2),
  prefetch_buffer_size (8).
  """
  get = lambda key, default: config[key] if key in config else default
  normalize = bool(get("normalize", True))
  if normalize and stats is None:
    raise ValueError("config.normalize is set but no normalisation statistics were given.")
  return make_dataset(
    source,
    batch_size=int(config["batch_size"]),
    window=int(config["window"]),
    mel_context=int(get("mel_context", 2)),
    train=train,
    seed=int(get("seed", 0)),
    stats=stats if normalize else None,
    with_frames=bool(get("with_frames", False)),
    shard_options=shard_options,
    num_threads=int(get("num_threads", 2)),
    prefetch_buffer_size=int(get("prefetch_buffer_size", 8)),
  )
