r"""Train every stage on the synthetic world and talk with a face it never saw.

  python -m launch.quickstart --workdir runs/quickstart          # the `synthetic` configs
  python -m launch.quickstart --workdir runs/quickstart --fast   # about 8 min on a 2-core CPU

Writes DIR/checkpoints (the stages layout, for `launch.generate --checkpoints`), DIR/videos
(one video per emotion and a diversity video, for a held-out identity and sentence),
DIR/quickstart.json (the evaluation numbers) and DIR/index.html (the page that shows both).
Re-running continues where it stopped. See docs/quickstart.md and flowvq_jax/apps/quickstart.py.
Exit codes: 0 done, 2 bad flags or an unusable workdir.
"""

from __future__ import annotations

import argparse
import sys

from flowvq_jax.core.config import ConfigError


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m launch.quickstart",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    "--workdir", required=True, help="where everything goes (resumed if it exists)"
  )
  parser.add_argument(
    "--fast", action="store_true", help="smaller stages: about 8 minutes on a 2-core CPU"
  )
  parser.add_argument("--preset", default=None, help=argparse.SUPPRESS)  # 'tiny' for tests
  args = parser.parse_args(argv)
  from flowvq_jax.apps import quickstart  # noqa: PLC0415  (after argparse: no JAX for --help)

  preset = args.preset or ("fast" if args.fast else "synthetic")
  try:
    quickstart.check_workdir(args.workdir)
    out = quickstart.run(args.workdir, preset)
  except (ValueError, ConfigError, FileNotFoundError) as e:
    print("error: " + " | ".join(str(e).splitlines()), file=sys.stderr)
    return 2
  s = out["numbers"]["summary"]
  print(
    "quickstart: "
    + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items())
  )
  print(f"open {out['page']}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
