r"""Export a trained run's params (no optimizer state) in parts of bounded size.

  python -m launch.export --workdir runs/vq_synth --out runs/vq_synth_params \
      [--step N] [--exclude params/disc] [--items params,extra] [--part_mb 15]
  python -m launch.export --workdir runs/expflow --write_stats

`--write_stats` writes a run's normalisation statistics (`coeff_stats.json`) from its training
data, for runs trained before training wrote them (inference and evaluation read them there).

The export is a workdir that the readers of trained runs accept (they all load through
`checkpoints.load_arrays`): e.g. `configs/vq_query.py:VARIANT,stage1=OUT` and `launch.evaluate
--stage vq --workdir OUT`. It cannot be resumed (no optimizer state); `--config.train.init_from=OUT`
starts a new run from its params (`flowvq_jax/train/warm_start.py`). Layout and format:
`flowvq_jax/train/export.py`. Bad input (no such workdir, no checkpoint, a non-empty `--out`, an
`--exclude` that matches nothing) ends with one `error:` line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m launch.export",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--workdir", required=True, help="a training workdir")
  parser.add_argument("--out", default="", help="new directory for the export")
  parser.add_argument(
    "--write_stats", action="store_true", help="write WORKDIR/coeff_stats.json and stop"
  )
  parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  parser.add_argument(
    "--items", default="", help="top-level entries to keep (default: params, extra, ema_params)"
  )
  parser.add_argument(
    "--exclude", action="append", default=[], help="path prefix to drop, e.g. params/disc"
  )
  parser.add_argument("--part_mb", type=float, default=15.0, help="largest part file, in MB")
  args = parser.parse_args(argv)
  if not (args.out or args.write_stats):
    parser.error("give --out (an export) or --write_stats")
  from flowvq_jax.train import export  # noqa: PLC0415  (after argparse: no JAX for --help)

  if args.write_stats:
    try:
      print(f"wrote {export.write_stats(args.workdir)}")
    except (FileNotFoundError, ValueError) as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    return 0
  items = [s for s in args.items.split(",") if s] or None
  try:
    index = export.export_run(
      args.workdir, args.out, step=args.step, items=items, exclude=args.exclude,
      part_mb=args.part_mb,
    )  # fmt: skip
  except (FileNotFoundError, FileExistsError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  total = sum(p["bytes"] for p in index["parts"])
  largest = max(p["bytes"] for p in index["parts"])
  print(
    f"exported step {index['step']} of {args.workdir} to {args.out}: {len(index['leaves'])} "
    f"arrays, {total / 1e6:.1f} MB in {len(index['parts'])} parts (largest {largest / 1e6:.1f} MB)"
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
