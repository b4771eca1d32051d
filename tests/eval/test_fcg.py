"""FCG evaluation command on tiny ExpFlow / PoseFlow workdirs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from configs import expflow, poseflow
from flowvq_jax.eval import fcg, report
from flowvq_jax.train import trainer
from launch import evaluate as evaluate_cli

pytestmark = pytest.mark.usefixtures("fast_compiles")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("fcg_runs")
  out = {}
  for name, module in (("exp", expflow), ("pose", poseflow)):
    config = module.get_config("tiny")
    config.train.steps = 3
    config.train.log_every = config.train.eval_every = config.train.ckpt_every = 3
    trainer.train(config, str(root / name))
    out[name] = str(root / name)
  return out


def _args(**kw):
  argv = ["--stage", "fcg"]
  for k, v in kw.items():
    argv += [f"--{k}", str(v)]
  parser, module = evaluate_cli.parser_for(argv)
  assert module == "flowvq_jax.eval.fcg"
  return parser.parse_args(argv)


def test_run_writes_every_metric(runs, tmp_path, capsys):
  out = tmp_path / "eval"
  args = _args(expflow=runs["exp"], poseflow=runs["pose"], out=out, num_clips=2, seeds=2,
               classifier_steps=10, nll_runs=f"again={runs['exp']}")  # fmt: skip
  assert fcg.run(args) == 0
  res = report.load_json(str(out / "fcg_eval.json"))["ExpFlow + PoseFlow"]
  for key in (*fcg.TARGETS, "lip_sync_r_min_seed", "lip_sync_r_ground_truth",
              "emotion_accuracy_ground_truth", "pose_diversity_ratio", "nll_nats_per_dim_exp",
              "nll_nats_per_dim_pose", "targets_met", "targets_missed"):  # fmt: skip
    assert key in res, key
  assert res["lip_sync_r_ground_truth"] > 0.9  # the data follows the mouth law
  nll = report.load_json(str(out / "fcg_nll.json"))
  assert set(nll) == {"expflow", "poseflow", "again"}
  assert nll["again"]["nll_nats_per_dim"] == pytest.approx(nll["expflow"]["nll_nats_per_dim"])
  assert (out / "fcg_eval.md").read_text().startswith("# FCG")
  details = json.loads((out / "fcg_details.json").read_text())
  assert details["clips"] == 2 and details["seeds"] == 2
  # The confusion matrix counts every clip x seed once, and its diagonal is the accuracy.
  conf = np.asarray(details["emotion_confusion"])
  assert conf.shape == (8, 8) and conf.sum() == 4
  assert np.trace(conf) / 4 == pytest.approx(np.mean(details["emotion_accuracy_per_seed"]))
  assert res["emotion_accuracy"] == pytest.approx(np.trace(conf) / 4)
  # The headline lip sync is the mean over seeds; the worst seed bounds it from below.
  per_seed = details["lip_sync_r_per_seed"]
  assert res["lip_sync_r"] == pytest.approx(np.mean(per_seed))
  assert res["lip_sync_r_min_seed"] == pytest.approx(min(per_seed))
  assert res["lip_sync_r_min_seed"] <= res["lip_sync_r"]
  printed = capsys.readouterr().out
  assert "lip sync r" in printed and "per emotion: " in printed


def test_missing_workdir_is_a_clear_error(runs, tmp_path):
  from launch import evaluate

  missing = tmp_path / "nope"
  with pytest.raises(FileNotFoundError, match=r"nope \(--expflow\) does not exist"):
    fcg.run(_args(expflow=missing, poseflow=runs["pose"], out=tmp_path / "o"))
  with pytest.raises(FileNotFoundError, match="no config.json"):
    fcg.run(_args(expflow=tmp_path, poseflow=runs["pose"], out=tmp_path / "o"))
  argv = ["--stage", "fcg", "--expflow", runs["exp"], "--poseflow", str(missing), "--out",
          str(tmp_path / "o")]  # fmt: skip
  assert evaluate.main(argv) == 2


def test_swapped_runs_are_rejected(runs, tmp_path):
  with pytest.raises(ValueError, match="must be an ExpFlow run"):
    fcg.run(_args(expflow=runs["pose"], poseflow=runs["exp"], out=tmp_path / "o"))
