"""`launch.evaluate`: every flag lives in the launcher, and each mode reaches its module."""

from __future__ import annotations

import pytest

from flowvq_jax.eval import ablation
from launch import evaluate


def test_each_mode_parses_its_flags_and_names_its_module():
  cases = {
    ("--stage", "vq", "--workdir", "W", "--out", "O", "--max_frames", "3"): "codebook",
    ("--stage", "query", "--workdir", "W", "--out", "O", "--fidelity", "0.5"): "query",
    ("--stage", "fcg", "--expflow", "E", "--poseflow", "P", "--out", "O"): "fcg",
    ("--checkpoints", "C", "--dataset", "world:tiny", "--out", "O"): "table",
    ("--ablation", "--preset", "fast", "--out", "O", "--ablation_seeds", "2"): "ablation",
  }
  for argv, name in cases.items():
    parser, module = evaluate.parser_for(list(argv))
    assert module == f"flowvq_jax.eval.{name}", argv
    args = parser.parse_args(list(argv))
    assert args.out == "O"
  with pytest.raises(SystemExit):  # a stage's own flag is not another stage's
    parser, _ = evaluate.parser_for(["--stage", "vq"])
    parser.parse_args(["--stage", "vq", "--workdir", "W", "--out", "O", "--fidelity", "1"])


def test_ablation_presets_are_the_modules():
  assert set(evaluate.ABLATION_PRESETS) == set(ablation.PRESETS)
