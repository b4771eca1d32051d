"""Fixtures shared by the trainer tests."""

from __future__ import annotations

import os

import jax
import pytest
from train_testutil import REPO, config, losses, params

from flowvq_jax.core import config as config_lib
from flowvq_jax.train import trainer

VQ_STEPS, VQ_DISC_START = 30, 20


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


def vq_codebook_tiny_config():
  """`configs/vq_codebook.py:tiny` for a 30-step test run whose discriminator starts at 20."""
  c = config_lib.load_config(os.path.join(REPO, "configs", "vq_codebook.py") + ":tiny")
  c.train.steps = VQ_STEPS
  c.loss.disc_start = VQ_DISC_START
  c.train.log_every = 5
  c.train.eval_every = VQ_STEPS
  c.train.ckpt_every = 10
  c.train.keep = 5
  c.train.summaries_every = VQ_STEPS
  c.eval.num_batches = 1
  return c


@pytest.fixture(scope="session")
def vq_codebook_run(tmp_path_factory):
  """One finished tiny stage-1 run, shared by the stage-1 tests and as stage 2's frozen codebook.

  Returns (workdir, config). Cheaper-to-compile rng keys while it runs.
  """
  wd = str(tmp_path_factory.mktemp("vq_codebook"))
  old = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", "unsafe_rbg")
  try:
    trainer.train(vq_codebook_tiny_config(), wd)
  finally:
    jax.config.update("jax_default_prng_impl", old)
  return wd, vq_codebook_tiny_config()
