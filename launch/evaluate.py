r"""Evaluate: the paper's table end to end, its ablations, or one trained stage.

  python -m launch.evaluate --checkpoints DIR --dataset world:tiny --out OUT [--max_clips N] \
      [--seeds 3] [--data_dir DIR] [--inception_weights F] [--lpips_weights F] [...]
  python -m launch.evaluate --ablation --preset tiny --out OUT [--ablation_steps N] [...]
  python -m launch.evaluate --stage fcg --help
  python -m launch.evaluate --stage vq --help
  python -m launch.evaluate --stage query --help

The table (`flowvq_jax.eval.table`) generates the test split of a dataset with a checkpoints
directory (`flowvq_jax.stages` layout) and scores PSNR, SSIM, M-LMD, F-LMD, CPBD, emotion
accuracy, lip sync, diversity, blink rate, FID and LPIPS; `--ablation` (`flowvq_jax.eval.ablation`)
trains and scores the configs' ablation sweeps. Each `--stage` evaluation lives in the package
(`flowvq_jax.eval.<module>`), which defines `add_flags(parser)` and `run(args) -> int`; this file
only parses flags and dispatches. Bad input (a missing checkpoint, an unknown or unprepared
dataset) ends with one `error:` line and exit code 2. Definitions: docs/evaluation.md.
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
TABLE = "flowvq_jax.eval.table"  # without --stage: the whole table
ABLATION = "flowvq_jax.eval.ablation"  # --ablation (with the table's flags)


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = argparse.ArgumentParser(
    prog="python -m launch.evaluate",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--stage", default=None, choices=sorted(STAGES), help="one stage only")
  known, _ = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
  module = importlib.import_module(STAGES[known.stage] if known.stage else TABLE)
  module.add_flags(parser)
  if not known.stage:
    ablation = importlib.import_module(ABLATION)
    ablation.add_flags(parser)
    if "--ablation" in argv:
      module = ablation
  args = parser.parse_args(argv)
  try:
    return int(module.run(args) or 0)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
