"""Stage-1 (VQGAN) losses as pure functions: L1, hinge GAN, adaptive weight, start step.

All return float32. The generator objective of VQGAN (Esser et al., 2021) is

  L = l1_weight * L1 + perceptual_weight * L_P + codebook_weight * L_VQ
      + disc_factor(step) * lambda * L_G

with `lambda = adaptive_weight(grad_{G_L} (L1 + L_P), grad_{G_L} L_G)` computed on the decoder's
last layer G_L (`autoencoder.LAST_LAYER`) and `disc_factor(step) = adopt_weight(...)`, which is
zero before `disc_start`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def l1_loss(x: Array, y: Array) -> Array:
  """Mean absolute error over all elements, float32 scalar."""
  return jnp.mean(jnp.abs(x.astype(jnp.float32) - y.astype(jnp.float32)))


def hinge_d_loss(logits_real: Array, logits_fake: Array) -> Array:
  """Discriminator hinge loss `0.5 * (mean relu(1 - D(x)) + mean relu(1 + D(G(z))))`."""
  real = jnp.mean(jax.nn.relu(1.0 - logits_real.astype(jnp.float32)))
  fake = jnp.mean(jax.nn.relu(1.0 + logits_fake.astype(jnp.float32)))
  return 0.5 * (real + fake)


def hinge_g_loss(logits_fake: Array) -> Array:
  """Generator hinge loss `-mean D(G(z))`."""
  return -jnp.mean(logits_fake.astype(jnp.float32))


def adaptive_weight(
  rec_grad: Array, gan_grad: Array, max_weight: float = 1e4, eps: float = 1e-4
) -> Array:
  """VQGAN's `lambda = ||grad L_rec|| / (||grad L_GAN|| + eps)`, clipped to [0, max], no gradient.

  Args:
    rec_grad: gradient of the reconstruction (+ perceptual) loss wrt the decoder's last-layer
      kernel (any shape).
    gan_grad: gradient of the generator GAN loss wrt the same kernel (same shape).
  """
  if rec_grad.shape != gan_grad.shape:
    raise ValueError(f"Gradient shapes differ: {rec_grad.shape} vs {gan_grad.shape}.")
  rec = jnp.linalg.norm(rec_grad.astype(jnp.float32).ravel())
  gan = jnp.linalg.norm(gan_grad.astype(jnp.float32).ravel())
  return jax.lax.stop_gradient(jnp.clip(rec / (gan + eps), 0.0, max_weight))


def adopt_weight(weight: float | Array, step: Array, threshold: int, value: float = 0.0) -> Array:
  """`weight` once `step >= threshold`, `value` before (the discriminator start step)."""
  return jnp.where(jnp.asarray(step) >= threshold, weight, value).astype(jnp.float32)
