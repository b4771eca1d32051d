"""Speed of the stage-2 batch renderer (`flowvq_jax.models.vq.renderer.BatchRenderer`).

  python -m flowvq_jax.bench.render --sizes 128 256    # frames/s per image size

A freshly initialised `synthetic`-sized code-query generator (+ stage-1 autoencoder) with its
image size set to each size renders random coefficient tracks in fixed chunks. Row fields:
`image_size`, `tokens` (per side), `params` (stage 2), `frames`, `chunk`, `compile_s` (first
call minus the best later call: trace + compile), `render_s`, `fps`, `flops` (XLA, per frame),
`gflops_per_s`, `peak_share`, `chunk_xla_mib`, `peak_mem_mib` (over the whole measurement,
params and compilation included) and `memory_source`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowvq_jax.bench import util as U
from flowvq_jax.core.constants import EXP_DIM, POSE_DIM
from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq.query import CodeQueryGenerator, default_config
from flowvq_jax.models.vq.renderer import BatchRenderer, coefficient_windows, to_model_image


def run(quick: bool = False, repeats: int = 2) -> list[dict[str, Any]]:
  """Rows for 128 and 256 px (`synthetic`, 64 frames in chunks of 16); with `quick`, the `tiny`
  generator at 32 px, 8 frames in chunks of 4."""
  quick_sizes = ("tiny", (32,), 8, 4)
  size, sizes, frames, chunk = quick_sizes if quick else ("synthetic", (128, 256), 64, 16)
  rows = []
  for s in sizes:
    with U.MemoryMeter() as mem:
      r = time_renderer(s, size, frames=frames, chunk=chunk, repeats=repeats)
    per_frame = None if r["chunk_flops"] is None else r["chunk_flops"] / chunk
    m = mem.result()
    rows.append(
      {
        "config": size,
        "image_size": s,
        "tokens": r["tokens"],
        "params": r["params"],
        "frames": frames,
        "chunk": chunk,
        "compile_s": max(r["first_call_s"] - r["render_s"], 0.0),
        "render_s": r["render_s"],
        "fps": r["fps"],
        "flops": per_frame,
        "gflops_per_s": None if per_frame is None else per_frame * r["fps"] / 1e9,
        "peak_share": U.peak_share(per_frame, 1.0 / r["fps"]),
        "chunk_xla_mib": U.mib(r["chunk_xla_bytes"]),
        "peak_mem_mib": U.mib(m["peak_mem_bytes"]),
        "memory_source": m["memory_source"],
      }
    )
  return rows


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
  one chunk call (`util.xla_cost`): `chunk_flops` (as compiled for the host CPU, since a
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
  args = (params, stage1_params, to_model_image(source, s), w[..., :EXP_DIM], w[..., EXP_DIM:],
          np.float32(0.5))  # fmt: skip
  cost = U.xla_cost(renderer.chunk_fn.lower(*args).compile(), renderer.chunk_fn, args)
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
