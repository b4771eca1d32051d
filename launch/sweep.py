r"""Run a config's sweep: `python -m launch.sweep --config CONFIG[:ARG] --workdir_root DIR`.

The config module's `get_sweep(hyper)` lists override dicts (see flowvq_jax/train/hyper.py).
Each point runs `python -m launch.train` in `<workdir_root>/<point name>`, one after another
(a finished point is skipped, an interrupted one resumes). `--dry_run` prints the commands
only. Extra `--config.a.b=value` flags apply to every point. Writes
`<workdir_root>/sweep.md` and `sweep.json` with each point's final metrics.
"""

from __future__ import annotations

import argparse
import sys

from flowvq_jax.core.config import ConfigError


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = argparse.ArgumentParser(
    prog="python -m launch.sweep",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--config", required=True)
  parser.add_argument("--workdir_root", required=True)
  parser.add_argument("--dry_run", action="store_true")
  parser.add_argument(
    "--points", default=None, help="comma-separated point indices to run (default: all)"
  )
  args, rest = parser.parse_known_args(argv)
  from flowvq_jax.train import sweep  # noqa: PLC0415  (after argparse: no JAX for --help)

  try:
    bad = [a for a in rest if not a.startswith("--config.")]
    if bad:
      raise ConfigError(f"Unrecognized argument {bad[0]!r}.")
    points = None if args.points is None else [int(p) for p in args.points.split(",")]
    plan = sweep.plan(args.config, args.workdir_root, rest, points=points)
  except (ConfigError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  if args.dry_run:
    for p in plan:
      print(sweep.shell_command(p["command"]))
    return 0
  rows = sweep.run(plan, args.workdir_root)
  print(sweep.markdown_table(rows))
  return 0 if all(r["status"] == "done" for r in rows) else 1


if __name__ == "__main__":
  sys.exit(main())
