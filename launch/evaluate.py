r"""Evaluate trained stages: `python -m launch.evaluate --stage STAGE [stage flags]`.

  python -m launch.evaluate --stage fcg --help
  python -m launch.evaluate --stage vq --help

Each stage's evaluation lives in the package (`flowvq_jax.eval.<module>`), which defines
`add_flags(parser)` and `run(args) -> int`; this file only parses flags and dispatches. Bad
input (a missing checkpoint, an unknown dataset) ends with one `error:` line and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Stage name -> package module holding its evaluation.
STAGES = {
  "fcg": "flowvq_jax.eval.fcg",  # ExpFlow + PoseFlow: lip sync, emotion accuracy, diversity, NLL
  "vq": "flowvq_jax.eval.codebook",  # VQ codebook: PSNR, SSIM, code usage, mouth sharpness
  "query": "flowvq_jax.eval.query",
}


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = argparse.ArgumentParser(
    prog="python -m launch.evaluate",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--stage", required=True, choices=sorted(STAGES))
  known, _ = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
  module = importlib.import_module(STAGES[known.stage])
  module.add_flags(parser)
  args = parser.parse_args(argv)
  try:
    return int(module.run(args) or 0)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
