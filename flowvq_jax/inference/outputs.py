"""Output files of a generation: per sample an h264 mp4 with the input audio as AAC and the
coefficients (`.npy`), plus a side-by-side video of all samples; checked before any work so a
mistake costs nothing and no file is overwritten without `overwrite`.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import numpy as np

from flowvq_jax.data import media


def output_paths(out_dir: str, num_samples: int, name: str = "sample") -> dict[str, Any]:
  """The files `save` / `generate_to_dir` write for N samples.

  Returns:
    `{'video': [DIR/NAME_i.mp4], 'exp': [DIR/NAME_i_exp.npy], 'pose': [DIR/NAME_i_pose.npy],
    'side_by_side': DIR/NAME_side_by_side.mp4 or None (N = 1)}`.
  """
  if not name or os.sep in name or name in (".", ".."):
    raise ValueError(f"Bad output name {name!r}: use a plain file name prefix.")
  n = int(num_samples)
  j = lambda f: os.path.join(out_dir, f)
  return {
    "video": [j(f"{name}_{i}.mp4") for i in range(n)],
    "exp": [j(f"{name}_{i}_exp.npy") for i in range(n)],
    "pose": [j(f"{name}_{i}_pose.npy") for i in range(n)],
    "side_by_side": j(f"{name}_side_by_side.mp4") if n > 1 else None,
  }


def _all_paths(paths: dict[str, Any]) -> list[str]:
  out = []
  for v in paths.values():
    out.extend(v if isinstance(v, list) else ([v] if v else []))
  return out


def check_output_dir(out_dir: str, paths: dict[str, Any], overwrite: bool = False) -> None:
  """Creates `out_dir` and checks it is writable and (unless `overwrite`) that none of `paths`
  exists. Run BEFORE any work, so a mistake costs nothing and no file is lost.

  Raises:
    FileExistsError: an output exists and overwrite is False (naming it).
    ValueError: `out_dir` is not a writable directory.
  """
  out_dir = os.fspath(out_dir)
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise ValueError(f"Output path {out_dir} exists and is not a directory.")
  try:
    os.makedirs(out_dir, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".write_test")
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"Output directory {out_dir} is not writable: {e.strerror or e}.") from None
  if not overwrite:
    existing = [p for p in _all_paths(paths) if os.path.exists(p)]
    if existing:
      more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
      raise FileExistsError(
        f"{existing[0]} already exists{more}; pass overwrite=True (--overwrite) to replace, or "
        "choose another output directory or name."
      )


def _side_by_side(frames: np.ndarray) -> np.ndarray:
  """`[N, t, S, S, 3]` -> `[t, S, N*S, 3]`."""
  n, t, s = frames.shape[:3]
  return np.ascontiguousarray(frames.transpose(1, 2, 0, 3, 4).reshape(t, s, n * s, 3))


class Writers:
  """One `media.VideoWriter` per sample (+ the side-by-side), fed block by block."""

  def __init__(self, paths, n, s, audio, fps):
    self.seconds = 0.0
    t0 = time.perf_counter()
    self.writers = []
    try:
      for p in paths["video"]:
        self.writers.append(media.VideoWriter(p, s, s, fps, audio))
      self.side = None
      if paths["side_by_side"]:
        self.side = media.VideoWriter(paths["side_by_side"], n * s, s, fps, audio)
    except BaseException:
      self.abort()
      raise
    self.seconds += time.perf_counter() - t0

  def write(self, frames):
    t0 = time.perf_counter()
    for w, f in zip(self.writers, frames):
      w.write(f)
    if self.side is not None:
      self.side.write(_side_by_side(frames))
    self.seconds += time.perf_counter() - t0

  def close(self):
    t0 = time.perf_counter()
    for w in [*self.writers, self.side]:
      if w is not None:
        w.close()
    self.seconds += time.perf_counter() - t0

  def abort(self):
    for w in [*self.writers, getattr(self, "side", None)]:
      if w is not None:
        w.abort()


def save_coefficients(paths, exp, pose):
  for p, x in zip(paths["exp"], exp):
    np.save(p, np.asarray(x, np.float32))
  for p, x in zip(paths["pose"], pose):
    np.save(p, np.asarray(x, np.float32))
