"""A two-player task (generator + discriminator) through `compute_grads` and param groups.

Generator: an affine map of noise; discriminator: logistic regression on 1-d samples. Each
player is differentiated on its own loss; `extra['d_steps']` counts discriminator updates (a
stand-in for non-trainable state such as codebook statistics) and `extra['last_step']` the
`step` the trainer passed (the optional keyword of the task contract).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from flowvq_jax.train.tasks.toy import make_data  # noqa: F401  (batches {'x': [B, dim]})


def init(rng, batch, config):
  del rng, batch, config
  params = {
    "gen": {"scale": jnp.ones(()), "shift": jnp.zeros(())},
    "disc": {"w": jnp.zeros((1,)), "b": jnp.zeros(())},
  }
  return params, {"d_steps": jnp.zeros((), jnp.int32), "last_step": jnp.zeros((), jnp.int32)}


def _disc(p, x):
  return x[:, None] @ p["w"][:, None] + p["b"]


def _fake(gen, batch, rng):
  z = jax.random.normal(rng, batch["x"].shape[:1])
  return gen["scale"] * z + gen["shift"]


def _d_loss(disc, gen, batch, rng):
  real, fake = batch["x"][:, 0] + 2.0, jax.lax.stop_gradient(_fake(gen, batch, rng))
  return jnp.mean(jax.nn.softplus(-_disc(disc, real))) + jnp.mean(
    jax.nn.softplus(_disc(disc, fake))
  )


def _g_loss(gen, disc, batch, rng):
  return jnp.mean(jax.nn.softplus(-_disc(disc, _fake(gen, batch, rng))))


def loss(params, batch, rng, config):
  del config
  g = _g_loss(params["gen"], params["disc"], batch, rng)
  return g, {"g_loss": g}


def compute_grads(params, extra, batch, rng, config, *, step):
  del config
  d_loss, d_grads = jax.value_and_grad(_d_loss)(params["disc"], params["gen"], batch, rng)
  g_loss, g_grads = jax.value_and_grad(_g_loss)(params["gen"], params["disc"], batch, rng)
  grads = {"gen": g_grads, "disc": d_grads}
  extra = {"d_steps": extra["d_steps"] + 1, "last_step": step}
  return grads, extra, g_loss + d_loss, {"g_loss": g_loss, "d_loss": d_loss}
