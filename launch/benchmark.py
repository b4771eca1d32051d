r"""Speed benchmarks: `python -m launch.benchmark --out FILE.json [--what all] [--quick]`.

  python -m launch.benchmark --out bench/bench.json                 # everything (minutes)
  python -m launch.benchmark --what train,render --out bench/b.json
  python -m launch.benchmark --what all --quick --out quick.json     # small sizes, seconds
  python -m launch.benchmark --what generate --checkpoints DIR --out gen.json

Sections (comma list; `all` = every one but `flow`):
  train         a training step of each stage (synthetic configs): examples/s, compile time,
                XLA FLOPs per step, share of peak FLOP/s (accelerators), memory
  sample        ExpFlow / PoseFlow sampling of 10 s of coefficients
  scan_vs_loop  the chunked lax.scan sampler vs a frame-by-frame Python loop (ratio)
  growth        sampling time and memory vs clip length (10 s - 10 min) and batch size; a PNG
                plot next to the JSON (FILE_growth.png)
  render        renderer frames/s at 128 and 256 px
  moglow        moglow_size ExpFlow / PoseFlow: params, training step 16 x 100, sampling
  taming        taming_faceshq VQGAN: parameter counts, generator + discriminator step
  flow          the earlier flow table (synthetic + moglow_size rows)
  generate      the whole generate path for 10 s of audio (real-time factor); uses
                --checkpoints DIR, else builds one-step synthetic checkpoints in
                --build_dir (default FILE_checkpoints, reused when it is complete)

Prints markdown tables and writes every section's results as JSON (after each section). The
logic lives in `flowvq_jax.bench.suite`; docs/benchmarks.md explains the fields.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m launch.benchmark",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--what", default="all", help="comma list of sections, or all")
  parser.add_argument("--out", required=True, help="JSON file for the results")
  parser.add_argument("--quick", action="store_true", help="small sizes (seconds; for tests)")
  parser.add_argument("--repeats", type=int, default=3, help="compiled runs; the best is kept")
  parser.add_argument("--checkpoints", default=None, help="trained checkpoints for `generate`")
  parser.add_argument(
    "--build_dir", default=None, help="where `generate` builds its one-step checkpoints"
  )
  args = parser.parse_args(argv)
  from flowvq_jax.bench import suite as bench  # noqa: PLC0415  (after argparse: no JAX for --help)

  try:
    sections = bench.parse_sections(args.what)
  except ValueError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.repeats < 1:
    print(f"error: --repeats must be >= 1, got {args.repeats}.", file=sys.stderr)
    return 2
  if args.checkpoints and not os.path.isdir(args.checkpoints):
    print(f"error: --checkpoints {args.checkpoints} is not a directory.", file=sys.stderr)
    return 2
  build_dir = args.build_dir
  if build_dir is None and not args.quick:
    build_dir = os.path.splitext(args.out)[0] + "_checkpoints"
  bench.run(
    sections,
    args.out,
    quick=args.quick,
    repeats=args.repeats,
    checkpoints=args.checkpoints,
    build_dir=build_dir,
  )
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
