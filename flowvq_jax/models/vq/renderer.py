"""Jitted batch renderer of stage 2: a source image + coefficient tracks -> uint8 frames.

  renderer = BatchRenderer(generator, chunk=16)
  frames = renderer.render_frames(params, stage1_params, source_image, exp, pose, fidelity=0.5)

Frame t is rendered from the coefficient window t-k..t+k; windows reaching past either end of
the clip repeat the first / last frame (edge padding). Frames are rendered in FIXED-size chunks
of `chunk` frames (the last chunk is padded by repeating its last window and the padding is
dropped), so every clip length runs the same compiled program: one compile per
(generator, chunk, image size). Codes are the argmax of the logits (`mode='hard'`).

Its speed: `python -m flowvq_jax.bench.render --sizes 128 256` (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowvq_jax.core.constants import EXP_DIM, POSE_DIM
from flowvq_jax.models.vq.query import CodeQueryGenerator

Array = jax.Array


def coefficient_windows(coeffs: np.ndarray, k: int) -> np.ndarray:
  """`[T, C]` -> `[T, 2k+1, C]`: the window of frames t-k..t+k, edge-padded at both ends."""
  padded = np.pad(coeffs, ((k, k), (0, 0)), mode="edge")
  idx = np.arange(coeffs.shape[0])[:, None] + np.arange(2 * k + 1)[None, :]
  return padded[idx]


def to_model_image(image: Any, size: int) -> np.ndarray:
  """`[H, W, 3]` uint8 (0..255) or float in [-1, 1] -> float32 `[1, H, W, 3]` in [-1, 1]."""
  x = np.asarray(image)
  if x.shape != (size, size, 3):
    raise ValueError(f"source_image must be [{size}, {size}, 3] (HWC, RGB), got {x.shape}.")
  if x.dtype == np.uint8:
    return (x.astype(np.float32) / 127.5 - 1.0)[None]
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"source_image must be uint8 or float in [-1, 1], got dtype {x.dtype}.")
  x = x.astype(np.float32)
  if not np.all(np.isfinite(x)) or x.min() < -1.001 or x.max() > 1.001:
    raise ValueError(
      "A float source_image must be finite and lie in [-1, 1] "
      f"(got range [{np.nanmin(x):.3g}, {np.nanmax(x):.3g}]); pass uint8 for 0..255 images."
    )
  return np.clip(x, -1.0, 1.0)[None]


def to_uint8(images: Array) -> Array:
  """Images in [-1, 1] -> uint8 0..255 (rounded, clipped)."""
  return jnp.clip(jnp.round((images.astype(jnp.float32) + 1.0) * 127.5), 0, 255).astype(jnp.uint8)


class BatchRenderer:
  """Chunked, jitted stage-2 renderer for one generator (see the module doc)."""

  def __init__(self, generator: CodeQueryGenerator, chunk: int = 16):
    if chunk < 1:
      raise ValueError(f"chunk must be >= 1, got {chunk}.")
    self.generator = generator
    self.chunk = int(chunk)

    def chunk_fn(params, stage1_params, source, exp, pose, fidelity):
      out = generator.apply(params, stage1_params, source, exp, pose, fidelity, mode="hard")
      return to_uint8(out["image"])

    self.chunk_fn = jax.jit(chunk_fn)

  @property
  def num_compiles(self) -> int:
    """Entries in the chunk function's compilation cache."""
    return self.chunk_fn._cache_size()

  def render_frames(
    self,
    params: Any,
    stage1_params: Any,
    source_image: Any,
    exp: Any,
    pose: Any,
    fidelity: float = 0.5,
  ) -> np.ndarray:
    """Renders one clip.

    Args:
      params: stage-2 params `{'query', 'fusion'}`.
      stage1_params: the stage-1 autoencoder params.
      source_image: `[H, W, 3]` uint8 or float in [-1, 1] (H = W = the model's image size).
      exp: `[T, 64]` expression and pose: `[T, 6]` pose coefficients (normalised as in training).
      fidelity: w in [0, 1] (0 = pure codebook, 1 = most source detail).

    Returns:
      uint8 frames `[T, H, W, 3]`.
    """
    g = self.generator
    exp = np.asarray(exp, np.float32)
    pose = np.asarray(pose, np.float32)
    for name, x, d in (("exp", exp, EXP_DIM), ("pose", pose, POSE_DIM)):
      if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must be [T, {d}] coefficients per frame, got {x.shape}.")
      if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} coefficients contain NaN or inf.")
    if exp.shape[0] != pose.shape[0]:
      raise ValueError(f"exp and pose have different lengths: {exp.shape[0]} vs {pose.shape[0]}.")
    if exp.shape[0] == 0:
      raise ValueError("exp and pose have no frames.")
    if not 0.0 <= float(fidelity) <= 1.0:
      raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}.")
    source = to_model_image(source_image, g.image_size)
    t = exp.shape[0]
    windows = coefficient_windows(np.concatenate([exp, pose], axis=-1), g.window)
    n = -(-t // self.chunk) * self.chunk
    windows = np.concatenate([windows, np.repeat(windows[-1:], n - t, axis=0)], axis=0)
    fidelity = np.float32(fidelity)
    frames = []
    for start in range(0, n, self.chunk):
      w = windows[start : start + self.chunk]
      frames.append(
        self.chunk_fn(params, stage1_params, source, w[..., :EXP_DIM], w[..., EXP_DIM:], fidelity)
      )
    return np.concatenate([np.asarray(f) for f in frames], axis=0)[:t]
