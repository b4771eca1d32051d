"""Jitted batch renderer of stage 2: a source image + coefficient tracks -> uint8 frames.

  renderer = BatchRenderer(generator, chunk=16)
  frames = renderer.render_frames(params, stage1_params, source_image, exp, pose, fidelity=0.5)

Frame t is rendered from the coefficient window t-k..t+k; windows reaching past either end of
the clip repeat the first / last frame (edge padding). Frames are rendered in FIXED-size chunks
of `chunk` frames (the last chunk is padded by repeating its last window and the padding is
dropped), so every clip length runs the same compiled program: one compile per
(generator, chunk, image size). Codes are the argmax of the logits (`mode='hard'`).

`python -m flowvq_jax.models.vq.renderer --sizes 128 256` prints the renderer's frames/s for a
freshly initialised `synthetic` model (see docs/vq_query.md).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowvq_jax.core.constants import EXP_DIM, POSE_DIM
from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq.query import CodeQueryGenerator, default_config

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


_RENDERERS: dict[tuple[int, int], tuple[CodeQueryGenerator, BatchRenderer]] = {}


def render_frames(
  generator: CodeQueryGenerator,
  params: Any,
  stage1_params: Any,
  source_image: Any,
  exp: Any,
  pose: Any,
  fidelity: float = 0.5,
  chunk: int = 16,
) -> np.ndarray:
  """`BatchRenderer(generator, chunk).render_frames(...)` with the renderer cached per
  (generator, chunk), so repeated calls reuse one compiled program. uint8 `[T, H, W, 3]`."""
  key = (id(generator), int(chunk))
  if key not in _RENDERERS or _RENDERERS[key][0] is not generator:
    _RENDERERS[key] = (generator, BatchRenderer(generator, chunk))
  return _RENDERERS[key][1].render_frames(params, stage1_params, source_image, exp, pose, fidelity)


def time_renderer(
  image_size: int = 128,
  size: str = "synthetic",
  frames: int = 64,
  chunk: int = 16,
  repeats: int = 2,
  seed: int = 0,
) -> dict[str, Any]:
  """Frames/s of `BatchRenderer` for a freshly initialised `default_config(size)` model whose
  image size is set to `image_size` (random coefficients, a random source image).

  Returns dict with `image_size`, `tokens`, `frames`, `chunk`, `params` (stage 2), `first_call_s`
  (trace + compile + one clip), `render_s` (best later call), `fps`, `device`, and XLA's count of
  one chunk call (`bench_util.xla_cost`): `chunk_flops` (as compiled for the host CPU, since a
  GPU's count leaves out cuDNN's convolutions; None where XLA gives none) and `chunk_xla_bytes`
  (arguments + outputs + temporaries, on the device).
  """
  cfg = default_config(size)
  cfg.image_size = image_size
  gen = CodeQueryGenerator.from_config(cfg)
  stage1 = ae.make_autoencoder(cfg.stage1)
  key = jax.random.key(seed)
  s = image_size
  # Random weights render as fast as trained ones. They are made on the host CPU: compiling
  # `gen.init` on a GPU took over 75 s (docs/vq_query_results.md), time the render never needs.
  with jax.default_device(jax.devices("cpu")[0]):
    stage1_params = jax.jit(stage1.init)(key, jnp.zeros((1, s, s, 3)))["params"]
    params = jax.jit(gen.init)(jax.random.fold_in(key, 1), stage1_params)
  params, stage1_params = jax.device_put((params, stage1_params), jax.devices()[0])
  rng = np.random.default_rng(seed)
  source = rng.integers(0, 256, (s, s, 3), dtype=np.uint8)
  exp = rng.normal(size=(frames, EXP_DIM)).astype(np.float32)
  pose = 0.1 * rng.normal(size=(frames, POSE_DIM)).astype(np.float32)
  renderer = BatchRenderer(gen, chunk)
  t0 = time.perf_counter()
  renderer.render_frames(params, stage1_params, source, exp, pose)
  first = time.perf_counter() - t0
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    renderer.render_frames(params, stage1_params, source, exp, pose)
    best = min(best, time.perf_counter() - t0)
  w = coefficient_windows(np.concatenate([exp, pose], -1)[:chunk], gen.window)
  w = np.concatenate([w, np.repeat(w[-1:], chunk - len(w), axis=0)], axis=0)
  from flowvq_jax.bench import util as bench_util  # noqa: PLC0415

  args = (params, stage1_params, to_model_image(source, s), w[..., :EXP_DIM], w[..., EXP_DIM:],
          np.float32(0.5))  # fmt: skip
  cost = bench_util.xla_cost(renderer.chunk_fn.lower(*args).compile(), renderer.chunk_fn, args)
  return dict(
    image_size=s,
    tokens=gen.tokens,
    frames=frames,
    chunk=chunk,
    params=ae.param_count(params),
    first_call_s=first,
    render_s=best,
    fps=frames / best,
    device=str(jax.devices()[0].device_kind),
    chunk_flops=cost["flops"],
    chunk_xla_bytes=None if cost["xla_bytes"] is None else int(cost["xla_bytes"]),
  )


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", default="synthetic", help="stage-2 config size")
  parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256], help="image sizes")
  parser.add_argument("--frames", type=int, default=64)
  parser.add_argument("--chunk", type=int, default=16)
  parser.add_argument("--repeats", type=int, default=2)
  args = parser.parse_args(argv)
  for s in args.sizes:
    r = time_renderer(s, args.size, args.frames, args.chunk, args.repeats)
    print(
      f"{r['image_size']} px ({r['tokens']}x{r['tokens']} tokens), {r['params']:,} params, "
      f"chunk {r['chunk']}, {r['frames']} frames on {r['device']}: first call "
      f"{r['first_call_s']:.1f} s, then {r['render_s']:.2f} s = {r['fps']:.1f} frames/s"
    )


if __name__ == "__main__":
  main()
