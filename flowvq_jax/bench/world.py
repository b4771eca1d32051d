"""Speed of the synthetic world: render frames/s per resolution and clip synthesis time.

  taskset -c 0 python -m flowvq_jax.bench.world [--resolutions 64 128 256] [--frames 250]

Renders the coefficients of real world clips (speech, blinks, head motion, emotions) for several
identities; reports the best of `--repeats` runs (timings on shared machines are noisy).
"""

from __future__ import annotations

import argparse
import time

from flowvq_jax.core.constants import EMOTIONS
from flowvq_jax.world.world import SyntheticWorld, render


def _coefficients(frames: int, seed: int = 0):
  world = SyntheticWorld(seed=seed, resolution=32)
  per = max(1, frames // 4)
  items = []
  for k in range(4):
    clip = world.sample_clip(k, EMOTIONS[(2 * k + 1) % 8], 3, per / 25, seed=k)
    items.append((world.identity(k), clip.exp, clip.pose))
  return items


def benchmark(resolutions=(64, 128, 256), frames: int = 250, repeats: int = 3) -> dict:
  """Returns {resolution: frames per second} of `render` (best of `repeats`)."""
  items = _coefficients(frames)
  total = sum(len(e) for _, e, _ in items)
  out = {}
  for res in resolutions:
    for ident, exp, pose in items:  # warm the per-identity background cache.
      render(ident, exp[:1], pose[:1], res)
    best = float("inf")
    for _ in range(repeats):
      t0 = time.perf_counter()
      for ident, exp, pose in items:
        render(ident, exp, pose, res)
      best = min(best, time.perf_counter() - t0)
    out[res] = total / best
  return out


def clip_seconds_per_second(resolution: int = 128, seconds: float = 4.0, repeats: int = 3) -> float:
  """Wall time of `sample_clip` (speech + mouth law + cues + render) per second of clip."""
  world = SyntheticWorld(seed=0, resolution=resolution)
  world.sample_clip(0, "happy", 3, 0.2, seed=0)
  best = float("inf")
  for r in range(repeats):
    t0 = time.perf_counter()
    world.sample_clip(0, "happy", 3, seconds, seed=r)
    best = min(best, time.perf_counter() - t0)
  return best / seconds


def main(argv=None):
  p = argparse.ArgumentParser(description="Speed of the synthetic world.")
  p.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
  p.add_argument("--frames", type=int, default=250)
  p.add_argument("--repeats", type=int, default=3)
  args = p.parse_args(argv)
  for res, fps in benchmark(tuple(args.resolutions), args.frames, args.repeats).items():
    print(f"render {res}x{res}: {fps:7.1f} frames/s")
  for res in args.resolutions:
    s = clip_seconds_per_second(res, repeats=args.repeats)
    print(f"sample_clip {res}x{res}: {s * 1000:7.1f} ms per second of clip")


if __name__ == "__main__":
  main()
