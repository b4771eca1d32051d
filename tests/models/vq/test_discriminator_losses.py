"""PatchGAN output shapes, hinge loss reference values, adaptive weight, discriminator start."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq import losses
from flowvq_jax.models.vq.discriminator import PatchDiscriminator, make_discriminator


def fast_key(seed: int) -> jax.Array:
  """An RBG key: model init compiles several times faster on CPU than with threefry."""
  return jax.random.key(seed, impl="unsafe_rbg")


@pytest.mark.parametrize("n_layers,norm,side", [(2, "group", 6), (3, "none", 2)])
def test_patch_discriminator_output_shape(n_layers, norm, side):
  disc = PatchDiscriminator(ch=8, n_layers=n_layers, norm=norm)
  x = jnp.zeros((2, 32, 32, 3))
  variables = jax.jit(disc.init)(fast_key(0), x)
  assert list(variables) == ["params"]  # no batch statistics: apply is pure.
  logits = disc.apply(variables, x)
  assert logits.shape == (2, side, side, 1) and logits.dtype == jnp.float32


def test_discriminator_from_config_taming_shape():
  cfg = ae.default_config("taming_faceshq")
  disc = make_discriminator(cfg.discriminator)
  shape = jax.eval_shape(disc.init, jax.random.PRNGKey(0), jnp.zeros((1, 256, 256, 3)))
  out = jax.eval_shape(disc.apply, shape, jnp.zeros((1, 256, 256, 3)))
  assert out.shape == (1, 30, 30, 1)
  with pytest.raises(ValueError, match="norm"):
    PatchDiscriminator(norm="batch").init(jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))


def test_hinge_losses_reference_values():
  real = jnp.array([2.0, 0.5, -1.0])
  fake = jnp.array([-2.0, 0.0, 1.0])
  # relu(1 - real) = [0, 0.5, 2] -> 2.5/3; relu(1 + fake) = [0, 1, 2] -> 1.
  np.testing.assert_allclose(losses.hinge_d_loss(real, fake), 0.5 * (2.5 / 3 + 1.0), rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_g_loss(fake), 1.0 / 3.0, rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_d_loss(jnp.ones(4) * 3, -jnp.ones(4) * 3), 0.0)
  np.testing.assert_allclose(losses.l1_loss(jnp.zeros(4), jnp.array([1.0, -1.0, 2.0, 0.0])), 1.0)


def test_adaptive_weight_hand_example():
  rec = jnp.array([[3.0, 0.0], [0.0, 4.0]])  # norm 5
  gan = jnp.array([[0.0, 1.0], [0.0, 0.0]])  # norm 1
  np.testing.assert_allclose(losses.adaptive_weight(rec, gan), 5.0 / (1.0 + 1e-4), rtol=1e-6)
  # Clipped at max_weight when the GAN gradient vanishes.
  np.testing.assert_allclose(losses.adaptive_weight(rec, jnp.zeros((2, 2))), 1e4)
  # No gradient flows through lambda.
  g = jax.grad(lambda r: losses.adaptive_weight(r, gan))(rec)
  np.testing.assert_array_equal(g, jnp.zeros_like(rec))
  with pytest.raises(ValueError, match="shapes differ"):
    losses.adaptive_weight(rec, jnp.zeros(3))


def test_adopt_weight_starts_the_discriminator():
  np.testing.assert_allclose(losses.adopt_weight(0.8, jnp.array(99), 100), 0.0)
  np.testing.assert_allclose(losses.adopt_weight(0.8, jnp.array(100), 100), 0.8)
  steps = jnp.arange(3)
  np.testing.assert_allclose(losses.adopt_weight(1.0, steps, 1), [0.0, 1.0, 1.0])
