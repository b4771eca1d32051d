"""Warm starts (`train.init_from`, `flowvq_jax.train.warm_start`).

A run started from the toy reference run carries its params (bit-identical with lr 0) and its
first loss is lower than a fresh run's on the same batch; a stage-1 run started from a params
export without the critic takes the autoencoder and keeps the critic's fresh init; a resumed
run ignores `init_from`; a bad source is a ConfigError before anything is written.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import vq_codebook_tiny_config
from train_testutil import assert_trees_close, config, losses, params

from flowvq_jax import checkpoints
from flowvq_jax.core.config import ConfigError
from flowvq_jax.train import trainer, warm_start
from launch import export as export_cli


def test_lr0_run_from_reference_keeps_its_params(reference, tmp_path):
  ref_wd, ref_losses, ref_params = reference
  wd = str(tmp_path / "warm")
  trainer.train(config(train__steps=2, train__init_from=ref_wd, optimizer__lr=0.0), wd)
  assert_trees_close(params(wd), ref_params, rtol=0, atol=0)
  fresh = str(tmp_path / "fresh")
  trainer.train(config(train__steps=2, optimizer__lr=0.0), fresh)
  # The control: without init_from the params are the fresh init's, not the reference's.
  assert not np.allclose(params(fresh)["enc_0"]["kernel"], ref_params["enc_0"]["kernel"])
  # On the same first batch, the fresh run's loss is the reference's first; the warm run's is
  # the trained model's, clearly lower.
  np.testing.assert_allclose(losses(fresh)[1], ref_losses[1], rtol=1e-6)
  assert losses(wd)[1] < losses(fresh)[1] - 0.1


def test_resume_ignores_init_from(reference, tmp_path):
  ref_wd = reference[0]
  wd = str(tmp_path / "run")
  trainer.train(config(train__steps=4), wd)
  before = params(wd)
  out = trainer.train(config(train__steps=6, train__init_from=ref_wd), wd)
  assert out["step"] == 6
  again = str(tmp_path / "again")
  trainer.train(config(train__steps=6), again)
  assert_trees_close(params(wd), params(again))  # as if init_from were not there
  assert not np.allclose(before["enc_0"]["kernel"], params(wd)["enc_0"]["kernel"])


def test_stage1_from_export_keeps_critic_fresh(vq_codebook_run, tmp_path, caplog):
  src = vq_codebook_run[0]
  exp = str(tmp_path / "export")
  assert export_cli.main(["--workdir", src, "--out", exp, "--exclude", "params/disc"]) == 0
  c = vq_codebook_tiny_config()
  c.train.steps, c.train.ckpt_every, c.train.eval_every = 1, 1, 1
  c.optimizer.lr = 0.0
  c.train.init_from = exp
  wd = str(tmp_path / "warm")
  with caplog.at_level("INFO"):
    trainer.train(c, wd)
  got = checkpoints.load_arrays(os.path.join(wd, "checkpoints"))["params"]
  want = checkpoints.load_arrays(os.path.join(src, "checkpoints"))["params"]
  assert_trees_close(got["ae"], want["ae"], rtol=0, atol=0)
  c.train.init_from = ""
  fresh = str(tmp_path / "fresh")
  trainer.train(c, fresh)
  assert_trees_close(got["disc"], checkpoints.load_arrays(fresh + "/checkpoints")["params"]["disc"])
  assert "kept the fresh init of" in caplog.text and "params/disc/" in caplog.text


def _tree(**shapes):
  return {k: np.zeros(s, np.float32) for k, s in shapes.items()}


def test_merge_reports_and_errors():
  target = {"params": {"a": _tree(w=(2, 3), b=(3,)), "c": _tree(w=(4,))}, "opt_state": {}}
  saved = {"params": {"a": {"w": np.ones((2, 3), np.float64)}, "z": _tree(w=(1,))}}
  merged, report = warm_start.merge(target, saved, ("params",), source="S", step=7)
  assert merged["params"]["a"]["w"].dtype == np.float32
  np.testing.assert_array_equal(merged["params"]["a"]["w"], 1.0)
  assert merged["params"]["c"]["w"] is target["params"]["c"]["w"]
  assert report.loaded == ["params/a/w"]
  assert report.kept == ["params/a/b", "params/c/w"]
  assert report.unused == ["params/z/w"]
  assert "Initialised 1 arrays from S (step 7)" in report.summary()
  bad = {"params": {"a": {"w": np.ones((3, 2))}}}
  with pytest.raises(ConfigError, match=r"params/a/w is \(3, 2\) in S but \(2, 3\)"):
    warm_start.merge(target, bad, ("params",), source="S")
  with pytest.raises(ConfigError, match="shares no array"):
    warm_start.merge(target, {"params": {"q": _tree(w=(1,))}}, ("params",), source="S")
  with pytest.raises(ConfigError, match="init_items"):
    warm_start.check_items(("params", "opt_state"))


def test_missing_source_fails_before_writing(tmp_path):
  wd = tmp_path / "run"
  with pytest.raises(ConfigError, match="no such directory"):
    trainer.train(config(train__init_from=str(tmp_path / "nope")), str(wd))
  assert not wd.exists()
  (tmp_path / "empty").mkdir()
  with pytest.raises(ConfigError, match="no checkpoints/"):
    trainer.train(config(train__init_from=str(tmp_path / "empty")), str(wd))
  assert not wd.exists()
