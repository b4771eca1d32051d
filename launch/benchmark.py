r"""Speed benchmarks: `python -m launch.benchmark --what flow --out FILE.json [--repeats 3]`.

  flow   ExpFlow / PoseFlow (`flowvq_jax.eval.bench_flow`): 10 s sampling and compile time of
         the synthetic and moglow_size configs; moglow_size parameter count, training step
         (batch 16 x 100) and sampling of 1 and 8 sequences.

Prints a table and writes the rows as JSON. The logic lives in the package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m launch.benchmark",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--what", required=True, choices=("flow",))
  parser.add_argument("--out", required=True, help="JSON file for the results")
  parser.add_argument("--repeats", type=int, default=3, help="compiled runs; the best is kept")
  args = parser.parse_args(argv)
  if args.repeats < 1:
    print(f"error: --repeats must be >= 1, got {args.repeats}.", file=sys.stderr)
    return 2
  from flowvq_jax.eval import bench_flow  # noqa: PLC0415

  rows = bench_flow.run(repeats=args.repeats)
  print(bench_flow.format_rows(rows), end="")
  d = os.path.dirname(args.out)
  if d:
    os.makedirs(d, exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(rows, f, indent=2)
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
