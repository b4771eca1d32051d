"""3DMM coefficient layout (Deep3DFaceRecon) and normalisation statistics.

Accepted per-frame layouts (rows are frames):

  257 columns, Deep3DFaceRecon's full vector:
    id [0:80] | exp [80:144] | tex [144:224] | angles [224:227] | gamma [227:254] | trans [254:257]
  73 columns, the compact layout of SadTalker's `coeff_3dmm`:
    exp [0:64] | angles [64:67] | trans [67:70] | 3 unused columns [70:73] (crop parameters)

From either, `exp` is `[N, 64]` and `pose` is `[N, 6]` = 3 rotation angles (radians,
pitch/yaw/roll as Deep3DFaceRecon writes them) followed by 3 translations.

Files: `.npy` holding an `[N, 257]` or `[N, 73]` array, or `.mat` holding one of
  `coeff` (`[N, 257]` or `[N, 73]`), `coeff_3dmm` (`[N, 73]`), or the separate
  `exp` `[N, 64]`, `angle` `[N, 3]`, `trans` `[N, 3]` keys that Deep3DFaceRecon_pytorch's
  `save_coeff` writes (per image: `N = 1`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Mapping

import numpy as np
import scipy.io

from flowvq_jax.core import constants
from flowvq_jax.world import tables as world_tables

# The synthetic world's blink dim (flowvq_jax/world/tables.py): `inference.hold_blink` holds it.
WORLD_BLINK = world_tables.BLINK

FULL_WIDTH = 257
COMPACT_WIDTH = 73
FULL_EXP = slice(80, 144)
FULL_ANGLES = slice(224, 227)
FULL_TRANS = slice(254, 257)
COMPACT_EXP = slice(0, 64)
COMPACT_ANGLES = slice(64, 67)
COMPACT_TRANS = slice(67, 70)


def split_coeffs(coeff: np.ndarray, source: str = "coefficients") -> tuple[np.ndarray, np.ndarray]:
  """Splits `[N, 257]` or `[N, 73]` coefficients into `exp [N, 64]` and `pose [N, 6]` (float32).

  Raises:
    ValueError: naming `source`, for any other shape.
  """
  coeff = np.asarray(coeff)
  if coeff.ndim == 1:
    coeff = coeff[None]
  if coeff.ndim != 2:
    raise ValueError(f"{source}: expected a [N, 257] or [N, 73] array, got shape {coeff.shape}.")
  width = coeff.shape[1]
  if width == FULL_WIDTH:
    exp, angles, trans = coeff[:, FULL_EXP], coeff[:, FULL_ANGLES], coeff[:, FULL_TRANS]
  elif width == COMPACT_WIDTH:
    exp, angles, trans = coeff[:, COMPACT_EXP], coeff[:, COMPACT_ANGLES], coeff[:, COMPACT_TRANS]
  else:
    raise ValueError(
      f"{source}: coefficient width {width} is not supported; expected {FULL_WIDTH} "
      f"(Deep3DFaceRecon) or {COMPACT_WIDTH} (64 exp + 3 angles + 3 trans + 3 unused)."
    )
  pose = np.concatenate([angles, trans], axis=1)
  return exp.astype(np.float32), pose.astype(np.float32)


def to_full(exp: np.ndarray, pose: np.ndarray) -> np.ndarray:
  """Packs `exp [N, 64]` and `pose [N, 6]` into a `[N, 257]` Deep3DFaceRecon vector (others 0)."""
  exp, pose = np.asarray(exp, np.float32), np.asarray(pose, np.float32)
  out = np.zeros((exp.shape[0], FULL_WIDTH), np.float32)
  out[:, FULL_EXP], out[:, FULL_ANGLES], out[:, FULL_TRANS] = exp, pose[:, :3], pose[:, 3:]
  return out


def to_compact(exp: np.ndarray, pose: np.ndarray) -> np.ndarray:
  """Packs `exp [N, 64]` and `pose [N, 6]` into the `[N, 73]` layout (unused columns 0)."""
  exp, pose = np.asarray(exp, np.float32), np.asarray(pose, np.float32)
  return np.concatenate([exp, pose, np.zeros((exp.shape[0], 3), np.float32)], axis=1)


def load_coeffs(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """Reads a coefficient file (see the module docstring) into `exp [N, 64]`, `pose [N, 6]`.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: naming the file, for an unknown extension, unreadable file, missing key
      or unsupported width.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Coefficient file not found: {path}")
  ext = os.path.splitext(path)[1].lower()
  if ext == ".npy":
    try:
      arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
      raise ValueError(f"Could not read coefficient file {path}: {e}") from None
    return split_coeffs(arr, path)
  if ext == ".mat":
    try:
      mat = scipy.io.loadmat(path)
    except (OSError, ValueError, TypeError) as e:
      raise ValueError(f"Could not read coefficient file {path}: {e}") from None
    for key in ("coeff", "coeff_3dmm"):
      if key in mat:
        return split_coeffs(mat[key], f"{path} ['{key}']")
    if all(k in mat for k in ("exp", "angle", "trans")):
      exp = np.asarray(mat["exp"], np.float32).reshape(-1, constants.EXP_DIM)
      pose = np.concatenate(
        [np.asarray(mat["angle"]).reshape(-1, 3), np.asarray(mat["trans"]).reshape(-1, 3)], 1
      )
      if pose.shape[0] != exp.shape[0]:
        raise ValueError(
          f"{path}: 'exp' has {exp.shape[0]} rows but 'angle'/'trans' have {pose.shape[0]}."
        )
      return exp, pose.astype(np.float32)
    keys = sorted(k for k in mat if not k.startswith("__"))
    raise ValueError(
      f"{path} has no 'coeff', 'coeff_3dmm' or 'exp'/'angle'/'trans' keys (found: {keys})."
    )
  raise ValueError(f"Unsupported coefficient file type {ext!r} for {path}; use .mat or .npy.")


@dataclasses.dataclass(frozen=True)
class CoeffStats:
  """Per-dimension mean and std of expression `[64]` and pose `[6]` over a training split."""

  exp_mean: np.ndarray
  exp_std: np.ndarray
  pose_mean: np.ndarray
  pose_std: np.ndarray

  def to_dict(self) -> dict[str, list[float]]:
    return {f.name: np.asarray(getattr(self, f.name)).tolist() for f in dataclasses.fields(self)}

  @classmethod
  def from_dict(cls, d: Mapping[str, Iterable[float]]) -> CoeffStats:
    names = [f.name for f in dataclasses.fields(cls)]
    missing = [n for n in names if n not in d]
    if missing:
      raise ValueError(f"Normalisation statistics lack {missing}.")
    return cls(**{n: np.asarray(d[n], np.float32) for n in names})

  def save_json(self, path: str | os.PathLike) -> None:
    with open(path, "w") as f:
      json.dump(self.to_dict(), f)

  @classmethod
  def load_json(cls, path: str | os.PathLike) -> CoeffStats:
    with open(path) as f:
      return cls.from_dict(json.load(f))

  @classmethod
  def identity(cls) -> CoeffStats:
    """Statistics that leave coefficients unchanged."""
    z = lambda n: np.zeros(n, np.float32)
    o = lambda n: np.ones(n, np.float32)
    e, p = constants.EXP_DIM, constants.POSE_DIM
    return cls(z(e), o(e), z(p), o(p))


class StatsAccumulator:
  """Streaming mean/std (float64 sums) of exp `[N, 64]` and pose `[N, 6]` rows."""

  def __init__(self):
    self.n = 0
    dims = {"exp": constants.EXP_DIM, "pose": constants.POSE_DIM}
    self._sums = {k: np.zeros(d) for k, d in dims.items()}
    self._sq = {k: np.zeros_like(v) for k, v in self._sums.items()}

  def add(self, exp: np.ndarray, pose: np.ndarray) -> None:
    exp, pose = np.asarray(exp, np.float64), np.asarray(pose, np.float64)
    if exp.shape[0] != pose.shape[0]:
      raise ValueError(f"exp has {exp.shape[0]} rows but pose has {pose.shape[0]}.")
    self.n += exp.shape[0]
    for k, x in (("exp", exp), ("pose", pose)):
      self._sums[k] += x.sum(0)
      self._sq[k] += np.square(x).sum(0)

  def result(self, min_std: float = 1e-4) -> CoeffStats:
    """The statistics; std is floored at `min_std` so constant dimensions stay finite."""
    if self.n == 0:
      raise ValueError("No coefficients were accumulated; cannot compute statistics.")
    out = {}
    for k in ("exp", "pose"):
      mean = self._sums[k] / self.n
      var = np.maximum(self._sq[k] / self.n - np.square(mean), 0.0)
      out[f"{k}_mean"] = mean.astype(np.float32)
      out[f"{k}_std"] = np.maximum(np.sqrt(var), min_std).astype(np.float32)
    return CoeffStats(**out)


def compute_stats(clips: Iterable[tuple[np.ndarray, np.ndarray]]) -> CoeffStats:
  """Statistics over `(exp [T, 64], pose [T, 6])` pairs, every frame weighted equally."""
  acc = StatsAccumulator()
  for exp, pose in clips:
    acc.add(exp, pose)
  return acc.result()


def normalize(
  exp: np.ndarray, pose: np.ndarray, stats: CoeffStats
) -> tuple[np.ndarray, np.ndarray]:
  """`(x - mean) / std` for exp `[..., 64]` and pose `[..., 6]`."""
  return (
    ((exp - stats.exp_mean) / stats.exp_std).astype(np.float32),
    ((pose - stats.pose_mean) / stats.pose_std).astype(np.float32),
  )


def denormalize(exp, pose, stats: CoeffStats):
  """Inverse of `normalize`; works on numpy or jax arrays `[..., 64]`, `[..., 6]`."""
  return exp * stats.exp_std + stats.exp_mean, pose * stats.pose_std + stats.pose_mean
