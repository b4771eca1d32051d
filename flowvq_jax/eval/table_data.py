"""The data of the evaluation table: a dataset's test clips and the train split its instruments
learn from, for a synthetic world layout (`world:<size>[_<px>]`, made in memory) or a prepared
TFDS dataset."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

import numpy as np

from flowvq_jax.core.constants import EMOTIONS
from flowvq_jax.data import builders, clip_layout
from flowvq_jax.world import SyntheticWorld

WORLD_SIZES = clip_layout.SIZES
WORLD_RESOLUTIONS = (32, 64, 128, 256)



@dataclasses.dataclass
class EvalData:
  """A dataset's test clips and what the measuring instruments train on.

  Attributes:
    name: the dataset name as given.
    synthetic: coefficients in the world's layout (jaw_open = dim 0, blink = dim 7; the mouth law
      is their lip-sync reference) and exact landmarks.
    test: clips, each {'frames' uint8 [T, H, W, 3], 'landmarks' float32 [T, 68, 2] or None,
      'exp' [T, 64], 'pose' [T, 6], 'audio' float32 [T * 640], 'emotion' int (-1: unknown),
      'intensity' float, 'clip_id' str}.
    train_exp: ground-truth expression clips [T_i, 64] of the train split.
    train_pose: their poses [T_i, 6].
    train_labels: their emotions (-1: unknown).
    train_frames: (uint8 [N, H, W, 3], float32 [N, 68, 2] landmarks) sampled from the train
      split, or None when the dataset stores no landmarks.
  """

  name: str
  synthetic: bool
  test: list[dict[str, Any]]
  train_exp: list[np.ndarray]
  train_pose: list[np.ndarray]
  train_labels: list[int]
  train_frames: tuple[np.ndarray, np.ndarray] | None


def _pick(n: int, k: int) -> list[int]:
  """`k` indices spread evenly over `range(n)` (all when k <= 0 or k >= n)."""
  if k <= 0 or k >= n:
    return list(range(n))
  return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def parse_world(name: str) -> dict[str, Any]:
  """`world:<size>[_<px>]` -> the world layout (WORLD_SIZES entry, resolution replaced)."""
  m = re.fullmatch(r"world:([a-z]+)(?:_(\d+))?", name)
  if not m or m.group(1) not in WORLD_SIZES:
    raise ValueError(
      f"Unknown world dataset {name!r}; use world:<size>[_<px>] with size in "
      f"{', '.join(WORLD_SIZES)} and px in {WORLD_RESOLUTIONS}, e.g. world:tiny."
    )
  kw = dict(WORLD_SIZES[m.group(1)])
  if m.group(2):
    res = int(m.group(2))
    if res not in WORLD_RESOLUTIONS:
      raise ValueError(f"{name}: resolution must be one of {WORLD_RESOLUTIONS}, got {res}.")
    kw["resolution"] = res
  return kw


def check_dataset(
  name: str, data_dir: str | None, hint: str = ", or use an in-memory world:tiny"
) -> None:
  """Fails fast (ValueError) for an unknown or unprepared dataset, before any model loads."""
  if name.startswith("world:"):
    parse_world(name)
    return
  data_dir = os.path.expanduser(data_dir or "~/flowvq_data")
  builder = builders.get_builder(name, data_dir)
  if not builder.is_prepared():
    raise ValueError(
      f"{name} is not prepared in {data_dir}; run `python -m launch.prepare_data --dataset "
      f"{name} --data_dir {data_dir}` (or pass --data_dir{hint})."
    )


def _world_data(name: str, max_clips: int, train_frames: int, seed: int) -> EvalData:
  kw = parse_world(name)
  specs = clip_layout.clip_specs(kw["identities"], kw["clips_per_identity"], kw["utterances"], 0)
  world = SyntheticWorld(seed=0, resolution=kw["resolution"])

  def clip_of(s, render: bool):
    return world.sample_clip(
      world.identity(s.identity), s.emotion, s.intensity, kw["seconds"], s.seed,
      utterance=s.utterance, render_frames=render,
    )  # fmt: skip

  test = []
  for i in _pick(len(specs["test"]), max_clips):
    s = specs["test"][i]
    c = clip_of(s, True)
    test.append({
      "frames": np.asarray(c.frames, np.uint8), "landmarks": np.asarray(c.landmarks, np.float32),
      "exp": np.asarray(c.exp, np.float32), "pose": np.asarray(c.pose, np.float32),
      "audio": np.asarray(c.audio, np.float32), "emotion": int(c.emotion),
      "intensity": float(c.intensity), "clip_id": s.clip_id,
    })  # fmt: skip
  train = [(s, clip_of(s, False)) for s in specs["train"]]
  frames, lms = None, None
  if train_frames > 0:
    rng = np.random.default_rng(seed)
    per_clip = max(1, -(-train_frames // len(train)))
    fs, ls = [], []
    for s, c in train:
      idx = np.sort(rng.choice(c.num_frames, min(per_clip, c.num_frames), replace=False))
      fs.append(world.render(world.identity(s.identity), c.exp[idx], c.pose[idx]))
      ls.append(np.asarray(c.landmarks, np.float32)[idx])
    frames, lms = np.concatenate(fs)[:train_frames], np.concatenate(ls)[:train_frames]
  return EvalData(
    name=name,
    synthetic=True,
    test=test,
    train_exp=[np.asarray(c.exp, np.float32) for _, c in train],
    train_pose=[np.asarray(c.pose, np.float32) for _, c in train],
    train_labels=[int(c.emotion) for _, c in train],
    train_frames=None if frames is None else (frames, lms),
  )


def _tfds_data(
  name: str, data_dir: str | None, max_clips: int, train_frames: int, seed: int
) -> EvalData:
  import tensorflow_datasets as tfds  # noqa: PLC0415  (TFDS: only for prepared datasets)

  check_dataset(name, data_dir)
  builder = builders.get_builder(name, os.path.expanduser(data_dir or "~/flowvq_data"))
  feats = builder.info.features
  has_lms = "landmarks" in feats
  skip_mel = {"mel": tfds.decode.SkipDecoding()} if "mel" in feats else {}
  full = builder.as_data_source(decoders=skip_mel or None)
  coeff = builders.sources(builder, with_frames=False)
  for split in ("train", "test"):
    if split not in full:
      raise ValueError(f"{name} has no {split!r} split (has {sorted(full)}).")

  def label(ex) -> int:
    e = int(ex["emotion"]) if "emotion" in ex else -1
    return e if 0 <= e < len(EMOTIONS) else -1

  def clip_id(ex, i: int) -> str:
    cid = ex.get("clip_id", str(i))
    return cid.decode() if isinstance(cid, bytes) else str(cid)

  # Records in clip_id order (TFDS stores them shuffled), so --max_clips picks the same clips as
  # the in-memory world of the same layout.
  src, ids = full["test"], [clip_id(coeff["test"][i], i) for i in range(len(full["test"]))]
  order = sorted(range(len(ids)), key=ids.__getitem__)
  test = []
  for j in _pick(len(order), max_clips):
    i = order[j]
    ex = src[i]
    test.append({
      "frames": np.asarray(ex["frames"], np.uint8),
      "landmarks": np.asarray(ex["landmarks"], np.float32) if has_lms else None,
      "exp": np.asarray(ex["exp"], np.float32), "pose": np.asarray(ex["pose"], np.float32),
      "audio": np.asarray(ex["audio"], np.float32), "emotion": label(ex),
      "intensity": float(ex.get("intensity", 3)), "clip_id": ids[i],
    })  # fmt: skip
  tr = coeff["train"]
  train = [tr[i] for i in range(len(tr))]
  frames = None
  if has_lms and train_frames > 0:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(full["train"]))
    per_clip = max(1, -(-train_frames // max(len(order), 1)))
    fs, ls, n = [], [], 0
    for c in order:
      ex = full["train"][int(c)]
      f = np.asarray(ex["frames"], np.uint8)
      idx = np.sort(rng.choice(f.shape[0], min(per_clip, f.shape[0]), replace=False))
      fs.append(f[idx])
      ls.append(np.asarray(ex["landmarks"], np.float32)[idx])
      n += idx.size
      if n >= train_frames:
        break
    frames = (np.concatenate(fs)[:train_frames], np.concatenate(ls)[:train_frames])
  return EvalData(
    name=name,
    synthetic=name.split("/")[0] == "synthetic_talking_faces",
    test=test,
    train_exp=[np.asarray(ex["exp"], np.float32) for ex in train],
    train_pose=[np.asarray(ex["pose"], np.float32) for ex in train],
    train_labels=[label(ex) for ex in train],
    train_frames=frames,
  )


def load_data(
  name: str,
  data_dir: str | None = None,
  *,
  max_clips: int = 0,
  train_frames: int = 2048,
  seed: int = 0,
) -> EvalData:
  """The test clips (`max_clips` spread evenly, 0: all) and train data of dataset `name`."""
  if name.startswith("world:"):
    return _world_data(name, max_clips, train_frames, seed)
  return _tfds_data(name, data_dir, max_clips, train_frames, seed)
