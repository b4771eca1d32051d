"""Latent priors against tfp's JAX substrate; unlabelled clips use the mixture marginal."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tensorflow_probability.substrates import jax as tfp

from flowvq_jax.core.constants import NEUTRAL, NUM_EMOTIONS
from flowvq_jax.models.flow.prior import Prior, intensity_to_weight

tfd = tfp.distributions
D, B, T = 5, 4, 3


def _prior(kind, learn_df=True, df=5.0):
  prior = Prior(kind=kind, dim=D, df=df, learn_df=learn_df)
  z = jnp.zeros((B, T, D))
  params = prior.init(jax.random.key(0), z, jnp.zeros((B,), jnp.int32))["params"]
  keys = iter(jax.random.split(jax.random.key(1), 8))
  params = {k: v + 0.5 * jax.random.normal(next(keys), v.shape) for k, v in params.items()}
  return prior, params


def _clip_dist(kind, params, prior, e):
  """tfd distribution of clips `[T, D]` under components `e [B]` (batch [B])."""
  loc = params["loc"][e][:, None]
  scale = jnp.exp(params["log_scale"][e])[:, None]
  if kind == "smm":
    df = prior.apply({"params": params}, method=Prior.dfs)[e][:, None, None]
    return tfd.Independent(tfd.StudentT(df, loc, scale), 2)
  return tfd.Independent(tfd.Normal(loc, scale), 2)


@pytest.fixture(scope="module")
def z():
  return jax.random.normal(jax.random.key(2), (B, T, D)) * 2.0


@pytest.mark.parametrize("kind", ["smm", "gmm", "gaussian"])
def test_labelled_log_prob_matches_tfp(kind, z):
  prior, params = _prior(kind)
  emotion = jnp.array([0, 3, NEUTRAL, 7])
  got = prior.apply({"params": params}, z, emotion)
  ref = _clip_dist(kind, params, prior, jnp.zeros_like(emotion) if kind == "gaussian" else emotion)
  np.testing.assert_allclose(got, ref.log_prob(z), rtol=1e-5, atol=1e-4)


def test_fixed_df_matches_tfp(z):
  prior, params = _prior("smm", learn_df=False, df=3.0)
  assert "raw_df" not in params
  got = prior.apply({"params": params}, z, jnp.array([1, 1, 2, 2]))
  ref = tfd.StudentT(3.0, params["loc"][1], jnp.exp(params["log_scale"][1])).log_prob(z[0])
  np.testing.assert_allclose(got[0], jnp.sum(ref), rtol=1e-5)


@pytest.mark.parametrize("kind", ["smm", "gmm"])
def test_unlabelled_clip_is_mixture_marginal(kind, z):
  prior, params = _prior(kind)
  got = prior.apply({"params": params}, z, jnp.full((B,), -1))
  # Reference: one emotion per clip, a mixture over components of whole clips [T, D].
  k = NUM_EMOTIONS
  loc = jnp.broadcast_to(params["loc"][:, None], (k, T, D))
  scale = jnp.broadcast_to(jnp.exp(params["log_scale"])[:, None], (k, T, D))
  if kind == "smm":
    df = prior.apply({"params": params}, method=Prior.dfs)
    base = tfd.StudentT(jnp.broadcast_to(df[:, None, None], (k, T, D)), loc, scale)
  else:
    base = tfd.Normal(loc, scale)
  mix = tfd.MixtureSameFamily(
    tfd.Categorical(logits=params["mix_logits"]), tfd.Independent(base, 2)
  )
  np.testing.assert_allclose(got, mix.log_prob(z), rtol=1e-5, atol=1e-4)
  # ... which is logsumexp_k(log w_k + log p(z | k)).
  per_k = jnp.stack([prior.apply({"params": params}, z, jnp.full((B,), e)) for e in range(k)], -1)
  lse = jax.nn.logsumexp(per_k + jax.nn.log_softmax(params["mix_logits"]), -1)
  np.testing.assert_allclose(got, lse, rtol=1e-5, atol=1e-4)


def test_mask_drops_frames(z):
  prior, params = _prior("smm")
  emotion = jnp.array([0, 1, -1, 4])
  mask = jnp.array([[1, 1, 0]] * B, jnp.float32)
  got = prior.apply({"params": params}, z, emotion, mask=mask)
  ref = prior.apply({"params": params}, z[:, :2], emotion)
  np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_intensity_interpolates_from_neutral(z):
  prior, params = _prior("smm")
  v = {"params": params}
  happy = 4
  full = prior.apply(v, jnp.array([happy]), jnp.array([1.0]), method=Prior.component_params)
  zero = prior.apply(v, jnp.array([happy]), jnp.array([0.0]), method=Prior.component_params)
  half = prior.apply(v, jnp.array([happy]), jnp.array([0.5]), method=Prior.component_params)
  np.testing.assert_allclose(full["loc"][0], params["loc"][happy], rtol=1e-6)
  np.testing.assert_allclose(zero["loc"][0], params["loc"][NEUTRAL], rtol=1e-6)
  np.testing.assert_allclose(
    half["loc"][0], 0.5 * (params["loc"][happy] + params["loc"][NEUTRAL]), rtol=1e-5
  )
  dfs = prior.apply(v, method=Prior.dfs)
  np.testing.assert_allclose(half["df"][0], jnp.sqrt(dfs[happy] * dfs[NEUTRAL]), rtol=1e-5)
  # Intensity levels: 3 = full, 0 = neutral, unknown (-1 / None) = full.
  np.testing.assert_allclose(
    intensity_to_weight(jnp.array([3.0, 1.5, 0.0, -1.0, 9.0])), [1.0, 0.5, 0.0, 1.0, 1.0]
  )
  # Level 3 scores like the plain component; level 0 like neutral.
  e = jnp.full((B,), happy)
  np.testing.assert_allclose(
    prior.apply(v, z, e, jnp.full((B,), 3.0)), prior.apply(v, z, e), rtol=1e-6
  )
  np.testing.assert_allclose(
    prior.apply(v, z, e, jnp.zeros((B,))),
    prior.apply(v, z, jnp.full((B,), NEUTRAL)),
    rtol=1e-6,
  )


def test_gaussian_prior_ignores_emotion(z):
  prior, params = _prior("gaussian")
  assert params["loc"].shape == (1, D)
  a = prior.apply({"params": params}, z, jnp.array([0, 1, 2, 3]))
  b = prior.apply({"params": params}, z, jnp.array([-1, 5, 6, 7]))
  np.testing.assert_allclose(a, b, rtol=1e-6)


def test_unknown_prior_kind():
  with pytest.raises(ValueError, match="prior kind"):
    Prior(kind="laplace", dim=D).init(jax.random.key(0), jnp.zeros((1, 1, D)), jnp.zeros(1, int))
