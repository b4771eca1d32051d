"""Fixtures shared across test directories."""

from __future__ import annotations

import jax
import pytest

from flowvq_jax import stages
from flowvq_jax.apps import train_all


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> str:
  """A checkpoints directory (`flowvq_jax.stages` layout) with every stage's `tiny` config
  trained for a few steps: real checkpoints for the pipeline, generate and evaluate tests.
  Untrained-quality outputs; about a minute on 2 CPU cores."""
  root = str(tmp_path_factory.mktemp("tiny_checkpoints"))
  specs = stages.preset_specs(root, "tiny")
  old = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", "unsafe_rbg")  # cheaper to compile
  try:
    train_all.train_stages(specs, log=lambda _: None)
  finally:
    jax.config.update("jax_default_prng_impl", old)
  return root


@pytest.fixture(scope="module")
def fast_compiles():
  """XLA without most optimisations for a module of many tiny, briefly run programs: compile
  time dominates them and drops several-fold. Use with
  `pytestmark = pytest.mark.usefixtures("fast_compiles")`.

  The flag is not part of jit's cache key, so the caches are cleared on the way out: a later
  module must not reuse a program compiled here (its numerics differ in the last bits)."""
  old = bool(jax.config.values.get("jax_disable_most_optimizations", False))
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", old)
  jax.clear_caches()
