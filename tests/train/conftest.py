"""Fixtures shared by the trainer tests."""

from __future__ import annotations

import pytest
from train_testutil import REPO, config, losses, params

from flowvq_jax.train import trainer


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
  """An uninterrupted 10-step toy run on this process's devices: (workdir, losses, params)."""
  wd = str(tmp_path_factory.mktemp("reference"))
  trainer.train(config(), wd)
  return wd, losses(wd), params(wd)


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch):
  """Config paths such as `configs/toy.py` are relative to the repository root."""
  monkeypatch.chdir(REPO)
