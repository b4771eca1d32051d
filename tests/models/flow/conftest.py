"""A tiny ExpFlow-like model (6 dims, SMM prior) shared by the model and sampler tests."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest

from flowvq_jax.models.flow import model as model_lib

DIM = 6


def tiny_config(**overrides):
  cfg = model_lib.default_config("exp", "tiny")
  cfg.dim = DIM
  cfg.update(overrides)
  return cfg


def random_batch(b=3, t=10, seed=0, k=1):
  rng = np.random.default_rng(seed)
  x = (rng.normal(size=(b, t, DIM)) * 2.0 + 1.0).astype(np.float32)
  mel = rng.normal(size=(b, t, 2 * k + 1, 4, 80)).astype(np.float32)
  return x, mel


@functools.partial(jax.jit, static_argnums=2)
def perturb(params, key, scale=0.2):
  """Random non-zero params everywhere (zero-init couplings and prior would hide bugs)."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(key, len(leaves))
  return jax.tree.unflatten(
    tree, [p + scale * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)]
  )


@pytest.fixture(name="perturb")
def perturb_fixture():
  """`perturb` for test modules that do not import from this conftest."""
  return perturb


@pytest.fixture(scope="package", autouse=True)
def fast_compiles_full_precision():
  """XLA without most optimisations: these tests compile many tiny programs and run
  them briefly, so compile time dominates (3-5x less this way). And full float32 matmuls:
  on GPUs the default TF32 products differ between the batched (training) and per-frame
  (sampling) paths by ~1e-3, above the tolerances here. Both restored afterwards, and the jit
  caches cleared (the optimisation flag is not part of their key)."""
  old_opt = bool(jax.config.values.get("jax_disable_most_optimizations", False))
  old_prec = jax.config.values.get("jax_default_matmul_precision", None)
  jax.config.update("jax_disable_most_optimizations", True)
  jax.config.update("jax_default_matmul_precision", "highest")
  yield
  jax.config.update("jax_disable_most_optimizations", old_opt)
  jax.config.update("jax_default_matmul_precision", old_prec)
  jax.clear_caches()


@pytest.fixture(scope="package")
def tiny():
  """(model, params) with perturbed params: couplings, LSTM and prior all non-trivial."""
  model = model_lib.CoefficientFlow.from_config(tiny_config())
  x, mel = random_batch()
  params = jax.jit(model.init)(jax.random.key(0), x, mel, np.array([0, 5, -1]))["params"]
  return model, perturb(params, jax.random.key(1))


def jitted(model, method=None, **kwargs):
  """`jit` of `model.apply({'params': p}, *args, method=method, **kwargs)`."""
  method = method or type(model).__call__
  return jax.jit(lambda p, *a: model.apply({"params": p}, *a, method=method, **kwargs))
