"""The training loop in this process: learning, non-finite guard, SIGTERM, resume equality."""

from __future__ import annotations

import os

import ml_collections
import numpy as np
import pytest
from train_testutil import assert_trees_close, config, losses, params

from flowvq_jax import checkpoints
from flowvq_jax.core.config import ConfigError
from flowvq_jax.train import checkpoint, metrics, trainer


def test_toy_learns_and_writes_outputs(tmp_path):
  c = config(train__steps=120, train__eval_every=40, train__summaries_every=40)
  res = trainer.train(c, str(tmp_path))
  rows = [r for r in metrics.read_jsonl(tmp_path / "metrics.jsonl") if "val/loss" in r]
  assert [r["step"] for r in rows] == [40, 80, 120]
  assert rows[-1]["val/loss"] < 0.5 * rows[0]["val/loss"]
  assert res["status"] == "done" and res["step"] == 120
  for name in ("config.json", "final_metrics.json", "tensorboard"):
    assert os.path.exists(tmp_path / name)
  row = metrics.read_jsonl(tmp_path / "metrics.jsonl")[0]
  for key in ("train/grad_norm", "train/param_norm", "train/update_norm", "train/lr"):
    assert np.isfinite(row[key])
  # Kept: the last `train.keep` checkpoints (every `ckpt_every` = 4 steps) plus the best by
  # val/loss among the evaluated ones (40, 80, 120).
  steps = checkpoint.Checkpointer(str(tmp_path / "checkpoints"), keep=5).all_steps()
  last = list(range(120 - 4 * (int(c.train.keep) - 1), 121, 4))
  best = min(rows, key=lambda r: r["val/loss"])["step"]
  assert sorted(steps) == sorted(set(last) | {best})


def _faulty(c, **faults):
  c.task = "train_faulty_task"
  c.faults = ml_collections.ConfigDict(faults)
  return c


def test_nan_batch_is_skipped_and_counted(tmp_path):
  c = _faulty(config("tiny,ema=0.9"), nan_at=(3, 4))
  res = trainer.train(c, str(tmp_path))
  rows = {r["step"]: r for r in metrics.read_jsonl(tmp_path / "metrics.jsonl")}
  assert rows[4]["train/loss"] is None and rows[5]["train/loss"] is None
  assert rows[5]["train/nonfinite_run"] == 2 and rows[6]["train/nonfinite_run"] == 0
  assert res["train"]["train/skipped_total"] == 2
  # Skipped steps leave params untouched: step 4 and 5 report the same param norm as step 3.
  assert rows[3]["train/param_norm"] == rows[4]["train/param_norm"] == rows[5]["train/param_norm"]
  state = checkpoints.load_arrays(str(tmp_path / "checkpoints"))
  assert all(np.all(np.isfinite(x)) for x in _leaves(state))
  p, e = state["params"]["out"]["kernel"], state["ema_params"]["out"]["kernel"]
  assert not np.allclose(p, e)  # the EMA lags the params


def _leaves(tree):
  import jax

  return jax.tree.leaves(tree)


def test_too_many_nonfinite_steps_stop_with_checkpoint(tmp_path, reference):
  ref_wd = reference[0]
  c = _faulty(config(train__max_nonfinite=3), nan_at=(4, 5, 6, 7, 8, 9))
  with pytest.raises(trainer.NonFiniteError, match="3 consecutive steps had a non-finite"):
    trainer.train(c, str(tmp_path))
  state = checkpoints.load_arrays(str(tmp_path / "checkpoints"))
  assert 7 <= int(state["step"]) < 10 and int(state["nonfinite"]) >= 3
  # The saved params are the last good ones: those after step 4 of the clean run.
  assert_trees_close(state["params"], params(ref_wd, 4), rtol=1e-6, atol=1e-7)


def test_sigterm_saves_and_resume_matches_uninterrupted(tmp_path, reference):
  ref_wd, ref_losses, ref_params = reference
  wd = str(tmp_path)
  res = trainer.train(_faulty(config(), sigterm_at=6), wd)
  assert res["status"] == "preempted" and 6 <= res["step"] < 10
  assert checkpoint.Checkpointer(os.path.join(wd, "checkpoints")).latest_step() == res["step"]
  res = trainer.train(config(), wd)  # resumes by itself
  assert res["status"] == "done" and res["step"] == 10
  assert_trees_close(params(wd), ref_params, rtol=1e-6, atol=1e-7)
  got = losses(wd)
  np.testing.assert_allclose(
    [got[s] for s in range(1, 11)], [ref_losses[s] for s in range(1, 11)], rtol=1e-6
  )


def test_two_player_task_with_param_groups(tmp_path):
  c = config(train__steps=30, train__ckpt_every=30)
  c.task = "train_gan_task"
  c.optimizer.name = "sgd"
  c.optimizer.lr = 0.05
  c.optimizer.groups = ml_collections.ConfigDict({"disc": {"lr": 0.2}})
  res = trainer.train(c, str(tmp_path))
  assert {"train/g_loss", "train/d_loss"} <= set(res["train"])
  state = checkpoints.load_arrays(str(tmp_path / "checkpoints"))
  assert int(state["extra"]["d_steps"]) == 30
  assert int(state["extra"]["last_step"]) == 29  # steps 0..29 were passed as `step`
  # The generator was pulled towards the real data (mean ~2 + small offset) from 0.
  assert float(state["params"]["gen"]["shift"]) > 0.2
  assert float(state["params"]["disc"]["w"][0]) != 0.0


def test_resume_with_a_different_model_is_a_clear_error(tmp_path):
  trainer.train(config(train__steps=2), str(tmp_path))
  msg = r"Checkpoint 2 in .* does not fit .*: ema_params/code/bias: saved absent, this run needs"
  with pytest.raises(ConfigError, match=msg):
    trainer.train(config("tiny,ema=0.9", train__steps=4), str(tmp_path))
  msg = r"opt_state/.*/mu/code/kernel: saved \(32, 4\), this run needs \(48, 4\)"
  with pytest.raises(ConfigError, match=msg):
    trainer.train(config(train__steps=4, model__hidden=48), str(tmp_path))
