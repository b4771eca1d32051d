"""The shared conventions of the metrics: `NotComputed` (a metric that needs a missing weights
file) and the checks that map images to [0, 1] (uint8 in [0, 255], floats in [-1, 1])."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

# ------------------------------------------------------------------------------------------------
# The "not computed" convention.


@dataclasses.dataclass(frozen=True)
class NotComputed:
  """A metric that could not be computed, with the reason (e.g. the missing weights file).

  Metric functions return it instead of a number so a report can show *why* a cell is empty.
  It deliberately refuses `float()` so it cannot slip into arithmetic silently.
  """

  reason: str

  def __str__(self) -> str:
    return f"not computed: {self.reason}"

  def __float__(self) -> float:
    raise TypeError(f"Metric value is {self}; it has no numeric value.")

  def to_json(self) -> dict[str, str]:
    return {"not_computed": self.reason}


MetricValue = float | NotComputed


def is_computed(value: Any) -> bool:
  """True for a metric value that is a number (not a `NotComputed`)."""
  return not isinstance(value, NotComputed)


# ------------------------------------------------------------------------------------------------
# Input checks.


def _to_unit_range(x, name: str) -> np.ndarray:
  """uint8 [0, 255] or float [-1, 1] -> float32 [0, 1]."""
  x = np.asarray(x)
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 255.0
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"{name} must be uint8 in [0, 255] or float in [-1, 1], got dtype {x.dtype}.")
  if x.size and not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or inf.")
  if x.size and (x.min() < -1.001 or x.max() > 1.001):
    raise ValueError(
      f"Float {name} must be in [-1, 1] (uint8 images are in [0, 255]); got values in "
      f"[{x.min():.3g}, {x.max():.3g}]."
    )
  return ((x.astype(np.float32) + 1.0) * 0.5).clip(0.0, 1.0)


def _image_pair(a, b) -> tuple[np.ndarray, np.ndarray, bool]:
  """Checks two image batches; returns them as float32 [B, H, W, C] in [0, 1]."""
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"Images must have equal shapes, got {a.shape} and {b.shape}.")
  if a.ndim not in (3, 4) or a.shape[-1] not in (1, 3):
    raise ValueError(f"Expected images [B, H, W, C] or [H, W, C] with C in (1, 3), got {a.shape}.")
  if (a.dtype == np.uint8) != (b.dtype == np.uint8):
    raise ValueError(
      f"Both images must use the same range convention (uint8 or float [-1, 1]); got dtypes "
      f"{a.dtype} and {b.dtype}."
    )
  single = a.ndim == 3
  a, b = _to_unit_range(a, "images"), _to_unit_range(b, "images")
  if single:
    a, b = a[None], b[None]
  return a, b, single
