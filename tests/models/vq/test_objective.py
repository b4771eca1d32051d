"""Stage-1 objective: last-layer adaptive weight equals the full-model one; a short GAN run;
the critic-free graph equals the full one before the critic starts."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq import losses, objective
from flowvq_jax.models.vq.discriminator import make_discriminator
from flowvq_jax.models.vq.perceptual import make_perceptual_loss
from flowvq_jax.train.tasks import vq_codebook


def fast_key(seed: int) -> jax.Array:
  """An RBG key: model init compiles several times faster on CPU than with threefry."""
  return jax.random.key(seed, impl="unsafe_rbg")


@pytest.fixture(scope="module")
def setup():
  # Smaller than 'tiny' (fewer layers compile faster); an EMA codebook exercises vq_stats.
  cfg = ae.default_config("tiny")
  cfg.image_size = 16
  cfg.model.update(ch=8, ch_mult=(1, 2), num_codes=16, code_dim=8, lookup_dim=4, use_ema=True)
  cfg.discriminator.update(ch=8, n_layers=1)
  cfg.loss.disc_start = 2
  model = ae.make_autoencoder(cfg.model)
  disc = make_discriminator(cfg.discriminator)
  x = jnp.asarray(
    np.random.default_rng(0).uniform(-1, 1, (2, cfg.image_size, cfg.image_size, 3)), jnp.float32
  )
  variables = jax.jit(model.init)(fast_key(0), x)
  disc_params = jax.jit(disc.init)(fast_key(1), x)["params"]
  logging.disable(logging.WARNING)
  perceptual, _ = make_perceptual_loss(None)
  logging.disable(logging.NOTSET)
  return cfg, model, disc, perceptual, variables, disc_params, x


def test_adaptive_weight_matches_full_model_gradients(setup):
  # Highest precision: on GPUs the default float32 matmuls/convs use TF32.
  with jax.default_matmul_precision("highest"):
    cfg, model, disc, perceptual, variables, disc_params, x = setup
    params = variables["params"]
    _, aux = jax.jit(
      lambda p: objective.generator_loss(
        model,
        disc,
        perceptual,
        cfg.loss,
        p,
        disc_params,
        x,
        jnp.array(5),
        variables["vq_stats"],
        train=False,
      )
    )(params)

    def with_kernel(k):
      p = jax.tree_util.tree_map(lambda a: a, params)
      p["decoder"]["conv_out"]["kernel"] = k
      return model.apply({"params": p, "vq_stats": variables["vq_stats"]}, x)[0]

    def rec(k):
      r = with_kernel(k)
      return losses.l1_loss(r, x) + cfg.loss.perceptual_weight * jnp.mean(perceptual(r, x))

    gan = lambda k: losses.hinge_g_loss(disc.apply({"params": disc_params}, with_kernel(k)))
    kernel = params["decoder"]["conv_out"]["kernel"]
    expected = jax.jit(lambda k: losses.adaptive_weight(jax.grad(rec)(k), jax.grad(gan)(k)))(kernel)
    np.testing.assert_allclose(aux["metrics"]["adaptive_weight"], expected, rtol=1e-4)
    np.testing.assert_allclose(aux["recon"], model.apply(variables, x)[0], atol=1e-5)


def test_short_gan_run_with_discriminator_start_and_ema(setup):
  cfg, model, disc, perceptual, variables, disc_params, x = setup
  params, vq_stats = variables["params"], variables["vq_stats"]
  tx_g, tx_d = optax.adam(1e-3), optax.adam(1e-3)
  opt_g, opt_d = tx_g.init(params), tx_d.init(disc_params)

  @jax.jit
  def step(params, disc_params, vq_stats, opt_g, opt_d, i):
    grad_fn = jax.grad(objective.generator_loss, argnums=4, has_aux=True)
    g, aux = grad_fn(model, disc, perceptual, cfg.loss, params, disc_params, x, i, vq_stats)
    up, opt_g = tx_g.update(g, opt_g, params)
    params = optax.apply_updates(params, up)
    (d_loss, d_metrics), dg = jax.value_and_grad(objective.discriminator_loss, 2, has_aux=True)(
      disc, cfg.loss, disc_params, x, aux["recon"], i
    )
    up, opt_d = tx_d.update(dg, opt_d, disc_params)
    disc_params = optax.apply_updates(disc_params, up)
    dg_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree_util.tree_leaves(dg)))
    return params, disc_params, aux["vq_stats"], opt_g, opt_d, aux["metrics"], d_metrics, dg_norm

  history = []
  for i in range(4):
    params, disc_params, vq_stats, opt_g, opt_d, m, dm, dg_norm = step(
      params, disc_params, vq_stats, opt_g, opt_d, jnp.array(i)
    )
    history.append((float(m["disc_factor"]), float(dg_norm), float(m["loss"]), float(dm["d_loss"])))
  assert int(vq_stats["quantizer"]["step"]) == 4  # EMA codebook updated each step
  for i, (factor, dg_norm, loss, d_loss) in enumerate(history):
    assert np.isfinite(loss) and np.isfinite(d_loss)
    if i < cfg.loss.disc_start:
      assert factor == 0.0 and dg_norm == 0.0
    else:
      assert factor == cfg.loss.disc_factor and dg_norm > 0.0


def test_critic_free_objective_equals_full_objective_before_disc_start(setup):
  cfg, model, disc, perceptual, variables, disc_params, x = setup
  assert cfg.loss.disc_start > 0

  def grads(critic):
    fn = lambda p: objective.generator_loss(
      model, disc, perceptual, cfg.loss, p, disc_params, x, jnp.array(0), variables["vq_stats"],
      train=False, critic=critic,
    )  # fmt: skip
    return jax.jit(jax.value_and_grad(fn, has_aux=True))(variables["params"])

  (loss_full, aux_full), g_full = grads(True)
  (loss_free, aux_free), g_free = grads(False)
  np.testing.assert_allclose(loss_free, loss_full, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(g_free), jax.tree.leaves(g_full), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
  assert float(aux_full["metrics"]["adaptive_weight"]) > 0.0  # the full graph ran its critic
  assert float(aux_free["metrics"]["adaptive_weight"]) == 0.0
  assert float(aux_free["metrics"]["g_loss"]) == 0.0

  def d_grads(critic):
    fn = lambda d: objective.discriminator_loss(
      disc, cfg.loss, d, x, aux_full["recon"], jnp.array(0), critic=critic
    )
    return jax.jit(jax.value_and_grad(fn, has_aux=True))(disc_params)

  for critic in (True, False):  # before the start both give a zero loss and zero grads
    (d_loss, d_metrics), dg = d_grads(critic)
    assert float(d_loss) == 0.0 and all(not np.any(g) for g in jax.tree.leaves(dg))
    assert (float(d_metrics["logits_real"]) != 0.0) == critic  # only the full one ran D


def test_critic_starts_only_within_the_run():
  c = ml_collections.ConfigDict({"train": {"steps": 10}, "loss": {"disc_start": 9}})
  assert vq_codebook.critic_starts(c)  # update 9 is the run's last
  c.loss.disc_start = 10
  assert not vq_codebook.critic_starts(c)
