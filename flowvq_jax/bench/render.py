"""Speed of the stage-2 renderer (`flowvq_jax.models.vq.renderer.time_renderer`) at 128 and 256 px.

A freshly initialised `synthetic`-sized code-query generator (+ stage-1 autoencoder) with its
image size set to each size renders random coefficient tracks in fixed chunks. Row fields:
`image_size`, `tokens` (per side), `params` (stage 2), `frames`, `chunk`, `compile_s` (first
call minus the best later call: trace + compile), `render_s`, `fps`, `flops` (XLA, per frame),
`gflops_per_s`, `peak_share`, `chunk_xla_mib`, `peak_mem_mib` (over the whole measurement,
params and compilation included) and `memory_source`.
"""

from __future__ import annotations

from typing import Any

from flowvq_jax.bench import util as U


def run(quick: bool = False, repeats: int = 2) -> list[dict[str, Any]]:
  """Rows for 128 and 256 px (`synthetic`, 64 frames in chunks of 16); with `quick`, the `tiny`
  generator at 32 px, 8 frames in chunks of 4."""
  from flowvq_jax.models.vq import renderer  # noqa: PLC0415

  quick_sizes = ("tiny", (32,), 8, 4)
  size, sizes, frames, chunk = quick_sizes if quick else ("synthetic", (128, 256), 64, 16)
  rows = []
  for s in sizes:
    with U.MemoryMeter() as mem:
      r = renderer.time_renderer(s, size, frames=frames, chunk=chunk, repeats=repeats)
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
