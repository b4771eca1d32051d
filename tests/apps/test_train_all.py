"""The checkpoints layout: stage specs, config errors, skipping finished stages."""

from __future__ import annotations

import os

import pytest

from flowvq_jax import stages
from flowvq_jax.apps import train_all
from flowvq_jax.core.config import ConfigError


def test_specs_chain_stage1_into_stage2(tmp_path):
  specs = stages.stage_specs(str(tmp_path), {s: "tiny" for s in stages.STAGES})
  assert [s.stage for s in specs] == list(stages.STAGES)
  query = specs[-1]
  assert query.arg.endswith(f"stage1={tmp_path / 'vq_codebook'}")
  assert query.config().model.stage1_workdir == str(tmp_path / "vq_codebook")
  assert specs[0].config().task == "flow"


def test_bad_specs_are_named(tmp_path):
  with pytest.raises(ValueError, match="vq_query"):
    stages.stage_specs(str(tmp_path), {s: "tiny" for s in stages.STAGES[:3]})
  with pytest.raises(ValueError, match="Unknown stage"):
    stages.stage_dir(str(tmp_path), "vq")
  specs = stages.stage_specs(
    str(tmp_path), {s: "tiny" for s in stages.STAGES}, {"poseflow": {"train.stpes": 3}}
  )
  with pytest.raises(ConfigError, match="poseflow"):
    train_all.train_stages(specs, log=lambda _: None)
  assert not os.path.exists(tmp_path / "expflow")  # nothing trained before the typo is found


def test_finished_stages_are_skipped(tiny_checkpoints):
  specs = stages.stage_specs(
    tiny_checkpoints,
    {s: "tiny" for s in stages.STAGES},
    {s: {"train.steps": 4} for s in stages.STAGES},
  )
  assert all(train_all.is_trained(s) for s in specs)
  logs = []
  out = train_all.train_stages(specs, log=logs.append)
  assert all(v == {"status": "already trained"} for v in out.values())
  assert len(logs) == 4
  longer = stages.stage_specs(
    tiny_checkpoints, {s: "tiny" for s in stages.STAGES}, {"expflow": {"train.steps": 5}}
  )
  assert not train_all.is_trained(longer[0])
