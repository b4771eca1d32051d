r"""Evaluate: the paper's table end to end, its ablations, or one trained stage.

  python -m launch.evaluate --checkpoints DIR --dataset world:tiny --out OUT [--max_clips N] \
      [--seeds 3] [--data_dir DIR] [--inception_weights F] [--lpips_weights F] [...]
  python -m launch.evaluate --ablation --preset tiny --out OUT [--ablation_steps N] [...]
  python -m launch.evaluate --stage fcg --help
  python -m launch.evaluate --stage fcg_voices --help
  python -m launch.evaluate --stage vq --help
  python -m launch.evaluate --stage query --help

The table (`flowvq_jax.eval.table`) generates the test split of a dataset with a checkpoints
directory (`flowvq_jax.stages` layout) and scores PSNR, SSIM, M-LMD, F-LMD, CPBD, emotion
accuracy, lip sync, diversity, blink rate, FID and LPIPS; `--ablation` (`flowvq_jax.eval.ablation`)
trains and scores the configs' ablation sweeps. Each evaluation lives in the package
(`flowvq_jax.eval.<module>.run(args) -> int`); this file holds every flag and dispatches. Bad
input (a missing checkpoint, an unknown or unprepared dataset) ends with one `error:` line and
exit code 2. Definitions: docs/evaluation.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Stage name -> package module holding its evaluation.
STAGES = {
  "fcg": "flowvq_jax.eval.fcg",  # ExpFlow + PoseFlow: lip sync, emotion accuracy, diversity, NLL
  "fcg_voices": "flowvq_jax.eval.fcg_voices",  # ExpFlow on held-out voices and recordings
  "vq": "flowvq_jax.eval.codebook",  # VQ codebook: PSNR, SSIM, code usage, mouth sharpness
  "query": "flowvq_jax.eval.query",
}
TABLE = "flowvq_jax.eval.table"  # without --stage: the whole table
ABLATION = "flowvq_jax.eval.ablation"  # --ablation (with the table's flags)
ABLATION_PRESETS = ("tiny", "fast", "synthetic")  # flowvq_jax.eval.ablation.PRESETS


def _run_flags(g, config_file: str, outputs: str) -> None:
  """The flags of a one-run evaluation: the run, where its data is, which split and step."""
  g.add_argument("--workdir", required=True, help=f"training workdir of configs/{config_file}")
  g.add_argument("--out", required=True, help=f"output directory ({outputs})")
  g.add_argument("--data_dir", default=None, help="TFDS data dir (overrides the run's config)")
  g.add_argument(
    "--source", default=None, choices=("tfds", "memory"), help="clip source (default: the run's)"
  )
  g.add_argument("--split", default="test", help="train, validation or test (default: test)")
  g.add_argument("--step", type=int, default=None, help="checkpoint step (default: latest)")
  g.add_argument("--batch_size", type=int, default=16)
  g.add_argument("--frame_stride", type=int, default=1, help="evaluate every n-th frame")
  g.add_argument("--jaw_threshold", type=float, default=0.4)
  g.add_argument("--grid", type=int, default=8, help="clips shown in the image grid")


def _generation_flags(g, seeds: int, seeds_help: str) -> None:
  """Sampling (seeds, temperature) and the emotion classifier trained to score it."""
  g.add_argument("--seeds", type=int, default=seeds, help=seeds_help)
  g.add_argument("--temperature", type=float, default=1.0, help="flow sampling temperature")
  g.add_argument("--classifier_steps", type=int, default=400)
  g.add_argument("--window", type=int, default=25, help="classifier window in frames")


def _landmark_flags(g, landmarks_default, landmarks_help: str) -> None:
  g.add_argument("--landmarks", default=landmarks_default, help=landmarks_help)
  g.add_argument("--landmark_steps", type=int, default=400, help="regressor training steps")
  g.add_argument("--landmark_frames", type=int, default=2048, help="train-split frames for it")


def codebook_flags(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("vq (stage-1 codebook)")
  _run_flags(g, "vq_codebook.py", "JSON, PNG, tensorboard/")
  g.add_argument("--max_frames", type=int, default=0, help="stop after this many (0: all)")
  g.add_argument("--use_ema", action="store_true", help="evaluate the EMA params if saved")


def query_flags(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("query (stage-2 code query)")
  _run_flags(g, "vq_query.py", "JSON, markdown, PNG")
  g.add_argument("--stage1_workdir", default=None, help="the stage-1 run (default: the config's)")
  g.add_argument("--max_clips", type=int, default=0, help="evaluate the first n clips (0: all)")
  g.add_argument("--fidelity", type=float, default=None, help="w in [0, 1] (default: config)")
  _landmark_flags(g, None, "a saved landmark regressor (.msgpack)")


def fcg_flags(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("fcg (ExpFlow + PoseFlow)")
  g.add_argument("--expflow", required=True, help="training workdir of configs/expflow.py")
  g.add_argument("--poseflow", required=True, help="training workdir of configs/poseflow.py")
  g.add_argument("--out", required=True, help="output directory (JSON, markdown)")
  g.add_argument("--data_dir", default=None, help="TFDS data dir (overrides the runs' configs)")
  g.add_argument("--split", default="test", help="train, validation or test (default: test)")
  g.add_argument("--num_clips", type=int, default=0, help="clips evaluated, evenly spread (0: all)")
  g.add_argument(
    "--nll_runs", default="", help="NAME=WORKDIR,... : extra runs for the held-out NLL table"
  )
  _generation_flags(g, 5, "samples per clip (diversity needs >= 2)")


def fcg_voices_flags(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("fcg_voices (ExpFlow on held-out voices)")
  g.add_argument("--expflow", required=True, help="training workdir (or export) of an ExpFlow")
  g.add_argument("--out", required=True, help="output directory (JSON, markdown)")
  g.add_argument("--corpus", default="", help="a prepared speech corpus, e.g. speech_corpus/small")
  g.add_argument("--data_dir", default=None, help="where the corpus is (default ~/flowvq_data)")
  g.add_argument("--split", default="test", help="validation (for choices) or test (to report)")
  g.add_argument("--per_source", type=int, default=6, help="utterances per voice source")
  g.add_argument("--seeds", type=int, default=3, help="samples per utterance and emotion")
  g.add_argument("--temperature", type=float, default=1.0, help="the CLI's default: 1")
  g.add_argument("--intensity", type=float, default=3.0, help="the CLI's default: 3")
  g.add_argument("--references", type=int, default=4, help="world performances per audio")
  g.add_argument(
    "--conditions", default="clean,noise_10db,reverb,telephone,mp3_32k,quiet_-18db",
    help="recording conditions (flowvq_jax.data.augment.AUGMENTATIONS)",
  )


def table_flags(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("the evaluation table (--checkpoints) and --ablation")
  g.add_argument("--checkpoints", default=None, help="checkpoints dir (flowvq_jax.stages layout)")
  g.add_argument("--dataset", default=None, help="world:tiny, synthetic_talking_faces/tiny, ...")
  g.add_argument("--data_dir", default=None, help="TFDS data dir (default ~/flowvq_data)")
  g.add_argument("--out", required=True, help="output directory")
  g.add_argument("--max_clips", type=int, default=0, help="test clips, spread evenly (0: all)")
  _generation_flags(g, 3, "generations per clip (seeds 0..n-1)")
  g.add_argument("--frame_stride", type=int, default=1, help="score every n-th frame")
  g.add_argument("--fidelity", type=float, default=0.5, help="renderer fidelity w in [0, 1]")
  _landmark_flags(g, "auto", "auto, regressor, dlib or a saved regressor")
  g.add_argument("--inception_weights", default=None, help="Inception-v3 weights for FID")
  g.add_argument("--lpips_weights", default=None, help="VGG16 + LPIPS .npz for LPIPS")
  g.add_argument("--syncnet_weights", default=None, help="SyncNet weights for LSE-C / LSE-D")
  g.add_argument("--ablation", action="store_true", help="run the paper's ablations instead")


def ablation_flags(parser: argparse.ArgumentParser) -> None:
  g = parser.add_argument_group("--ablation")
  g.add_argument("--preset", default="tiny", choices=ABLATION_PRESETS, help="member configs")
  g.add_argument("--ablation_steps", type=int, default=0, help="training steps (0: config's)")
  g.add_argument("--stage1", default=None, help="a trained vq_codebook run for the query members")
  g.add_argument(
    "--stages", default="expflow,vq_query", help="which sweeps: expflow, vq_query or both"
  )
  g.add_argument(
    "--ablation_seeds", type=int, default=1, help="seeds per member (mean, std over them)"
  )
  g.add_argument(
    "--ablation_members",
    default="",
    metavar="NAMES",
    help="train and score only these members (comma-separated; a table row's name or its end, "
    "e.g. --ablation_members=full,-C); default: all",
  )
  g.add_argument(
    "--query_override",
    action="append",
    default=[],
    metavar="KEY=VALUE",
    help="config override for every code-query member (repeatable), e.g. "
    "data.memory.identities=(1000,4,48) to match a --stage1 run's identities",
  )


FLAGS = {
  "fcg": fcg_flags,
  "fcg_voices": fcg_voices_flags,
  "vq": codebook_flags,
  "query": query_flags,
}


def parser_for(argv: list[str]) -> tuple[argparse.ArgumentParser, str]:
  """The parser of the evaluation `argv` asks for, and that evaluation's module name."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.evaluate",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--stage", default=None, choices=sorted(STAGES), help="one stage only")
  known, _ = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
  if known.stage:
    FLAGS[known.stage](parser)
    return parser, STAGES[known.stage]
  table_flags(parser)
  ablation_flags(parser)
  return parser, ABLATION if "--ablation" in argv else TABLE


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser, name = parser_for(argv)
  args = parser.parse_args(argv)
  # After parsing: --help and flag errors need no JAX.
  module = importlib.import_module(name)
  try:
    return int(module.run(args) or 0)
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
