"""Params-only exports (`flowvq_jax.train.export`, `python -m launch.export`).

Uses the session's tiny stage-1 run (tests/train/conftest.py): an export in small parts reads back
bit-identical, stage 2 and the stage-1 evaluation read it as they read the run, damage and misuse
give clear errors, and the trainer refuses to train in it.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest

from flowvq_jax import checkpoints
from flowvq_jax.core import config as config_lib
from flowvq_jax.core.config import ConfigError
from flowvq_jax.eval import codebook as codebook_eval
from flowvq_jax.train import export, trainer
from flowvq_jax.train.tasks import vq_query
from launch import export as export_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PART_MB = 0.05  # the tiny autoencoder's params are about 0.4 MB: several parts


def _equal(a, b) -> bool:
  la, lb = jax.tree_util.tree_flatten_with_path(a)[0], jax.tree_util.tree_flatten_with_path(b)[0]
  return [p for p, _ in la] == [p for p, _ in lb] and all(
    x.dtype == y.dtype and np.array_equal(x, y) for (_, x), (_, y) in zip(la, lb)
  )


@pytest.fixture(scope="module")
def exported(vq_codebook_run, tmp_path_factory):
  wd = vq_codebook_run[0]
  out = str(tmp_path_factory.mktemp("export") / "s1")
  rc = export_cli.main(["--workdir", wd, "--out", out, "--part_mb", str(PART_MB)])
  assert rc == 0
  return wd, out


def test_round_trip_in_bounded_parts(exported):
  wd, out = exported
  step = checkpoints.latest_step(os.path.join(wd, "checkpoints"))
  assert checkpoints.latest_step(os.path.join(out, "checkpoints")) == step
  original = checkpoints.load_arrays(os.path.join(wd, "checkpoints"))
  loaded = checkpoints.load_arrays(os.path.join(out, "checkpoints"))
  assert set(loaded) == {"params", "extra"}  # no optimizer state; no EMA in this run
  assert _equal(loaded["params"], original["params"])
  assert _equal(loaded["extra"], original["extra"])
  step_dir = os.path.join(out, "checkpoints", str(step))
  index = json.load(open(os.path.join(step_dir, checkpoints.INDEX)))
  assert len(index["parts"]) > 2
  sizes = {p["file"]: os.path.getsize(os.path.join(step_dir, p["file"])) for p in index["parts"]}
  for j, part in enumerate(index["parts"]):
    arrays = [leaf for leaf in index["leaves"] if leaf["part"] == j]
    if len(arrays) > 1:  # a part holds one oversized leaf or stays under the limit
      assert sizes[part["file"]] <= PART_MB * 1e6 + 512 * len(arrays)  # npz headers
  assert json.load(open(os.path.join(out, "config.json"))) == json.load(
    open(os.path.join(wd, "config.json"))
  )


def test_stage2_and_stage1_evaluation_read_the_export(exported):
  wd, out = exported
  cfg = config_lib.load_config(
    os.path.join(REPO, "configs", "vq_query.py") + f":tiny,stage1={out}"
  )
  via_export = vq_query.load_stage1(cfg)
  cfg.model.stage1_workdir = wd
  assert _equal(via_export, vq_query.load_stage1(cfg))
  config, params, extra, step = codebook_eval.load_run(out)
  assert config.task.endswith("vq_codebook") and step == checkpoints.latest_step(
    os.path.join(wd, "checkpoints")
  )
  assert _equal(params, checkpoints.load_arrays(os.path.join(wd, "checkpoints"))["params"])
  assert "code_counts" in extra


def test_exclude_and_items(vq_codebook_run, tmp_path):
  wd = vq_codebook_run[0]
  out = str(tmp_path / "ae_only")
  index = export.export_run(wd, out, items=["params"], exclude=["params/disc"])
  assert {tuple(leaf["path"][:2]) for leaf in index["leaves"]} == {("params", "ae")}
  assert set(checkpoints.load_arrays(os.path.join(out, "checkpoints"))) == {"params"}
  with pytest.raises(ValueError, match="matches no array"):
    export.export_run(wd, str(tmp_path / "x"), exclude=["params/nothing"])
  with pytest.raises(ValueError, match="has no"):
    export.export_run(wd, str(tmp_path / "y"), items=["weights"])


def test_bad_input_gives_one_error_line(vq_codebook_run, exported, tmp_path, capsys):
  wd, out = exported
  assert export_cli.main(["--workdir", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 2
  assert "does not exist" in capsys.readouterr().err
  before = sorted(os.listdir(out))
  assert export_cli.main(["--workdir", wd, "--out", out]) == 2  # never overwrites
  assert "not empty" in capsys.readouterr().err
  assert sorted(os.listdir(out)) == before


def test_damaged_part_is_named(exported, tmp_path):
  import shutil  # noqa: PLC0415

  _, out = exported
  copy = str(tmp_path / "copy")
  shutil.copytree(out, copy)
  step_dir = os.path.join(copy, "checkpoints", os.listdir(os.path.join(copy, "checkpoints"))[0])
  part = sorted(f for f in os.listdir(step_dir) if f.endswith(".npz"))[1]
  with open(os.path.join(step_dir, part), "r+b") as f:
    f.seek(-8, os.SEEK_END)
    f.write(b"\0" * 8)
  with pytest.raises(ValueError, match=part):
    checkpoints.load_arrays(os.path.join(copy, "checkpoints"))
  os.remove(os.path.join(step_dir, part))
  with pytest.raises(FileNotFoundError, match=part):
    checkpoints.load_arrays(os.path.join(copy, "checkpoints"))


def test_trainer_refuses_an_export(vq_codebook_run, exported):
  _, out = exported
  config_path = os.path.join(out, "config.json")
  before = open(config_path).read()
  with pytest.raises(ConfigError, match="params-only export.*train.init_from"):
    trainer.train(vq_codebook_run[1], out)
  assert open(config_path).read() == before  # nothing written over
