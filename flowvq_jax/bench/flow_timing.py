"""Sampling speed of the coefficient flows: time to generate 10 s (250 frames).

  python -m flowvq_jax.bench.flow_timing --size synthetic          # exp and pose
  python -m flowvq_jax.bench.flow_timing --size tiny --kind exp --frames 250

Measures, for a freshly initialised model of `default_config(kind, size)`: the
first call of the sampler (trace + compile + run) and the best of `repeats`
later calls (compiled), on random log-mel input. Timings depend on the machine
and its load; the numbers in docs/flow.md say where they were taken.
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from flowvq_jax.core.constants import FPS, MELS_PER_FRAME
from flowvq_jax.models.flow.model import KINDS, SIZES, CoefficientFlow, default_config
from flowvq_jax.models.flow.sampler import FlowSampler


def time_sampling(
  kind: str = "exp",
  size: str = "synthetic",
  frames: int = 250,
  chunk_size: int = 64,
  repeats: int = 3,
  seed: int = 0,
) -> dict[str, float | int | str]:
  """Times `FlowSampler` on `frames` frames of random audio.

  Returns:
    dict with `first_call_s` (trace + compile + one run), `compile_s` (first call
    minus a compiled run), `sample_s` (best compiled run), `s_per_10s_audio`
    (`sample_s` scaled to 250 frames), `params`, `frames`, `chunk_size`, `device`.
  """
  model = CoefficientFlow.from_config(default_config(kind, size))
  rng = np.random.default_rng(seed)
  t_init = 16
  x = rng.normal(size=(2, t_init, model.dim)).astype(np.float32)
  mel = rng.normal(size=(2, t_init, *model.mel_shape)).astype(np.float32)
  params = jax.jit(model.init)(jax.random.key(seed), x, mel, np.array([0, 5]))["params"]
  n_params = int(sum(p.size for p in jax.tree.leaves(params)))
  sampler = FlowSampler(model, chunk_size=chunk_size)
  mel_frames = rng.normal(size=(MELS_PER_FRAME * frames, 80)).astype(np.float32)

  def run(s):
    return sampler(params, mel_frames=mel_frames, emotion="happy", temperature=1.0, seed=s)

  start = time.perf_counter()
  run(0)
  first = time.perf_counter() - start
  runs = []
  for r in range(repeats):
    start = time.perf_counter()
    run(r + 1)
    runs.append(time.perf_counter() - start)
  best = min(runs)
  return {
    "kind": kind,
    "size": size,
    "params": n_params,
    "frames": frames,
    "chunk_size": chunk_size,
    "first_call_s": first,
    "compile_s": first - best,
    "sample_s": best,
    "s_per_10s_audio": best * (10 * FPS) / frames,
    "device": str(jax.devices()[0].device_kind),
  }


def main(argv=None) -> list[dict]:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--kind", choices=(*KINDS, "both"), default="both")
  parser.add_argument("--size", choices=SIZES, default="synthetic")
  parser.add_argument("--frames", type=int, default=10 * FPS)
  parser.add_argument("--chunk_size", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(argv)
  kinds = KINDS if args.kind == "both" else (args.kind,)
  results = []
  print(
    f"{'kind':5} {'size':10} {'params':>10} {'frames':>6} {'chunk':>5}"
    f" {'compile_s':>9} {'sample_s':>8} {'s/10s audio':>11}  device"
  )
  for kind in kinds:
    r = time_sampling(kind, args.size, args.frames, args.chunk_size, args.repeats)
    results.append(r)
    print(
      f"{kind:5} {args.size:10} {r['params']:>10,} {r['frames']:>6} {r['chunk_size']:>5}"
      f" {r['compile_s']:>9.2f} {r['sample_s']:>8.3f} {r['s_per_10s_audio']:>11.3f}"
      f"  {r['device']}"
    )
  return results


if __name__ == "__main__":
  main()
