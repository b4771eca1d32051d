"""Glow bijectors: exact inverses and log-dets against slogdet of the Jacobian."""

from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowvq_jax.models.flow import bijectors, layers

D = 7
C = 5


def _check_bijector(make_bij, x: jax.Array, ctx: jax.Array | None = None):
  """x -> y -> x round trip, and both log-dets equal log|det J| of the map.

  `make_bij(ctx)` builds the bijector (for a batch of rows or for one row).
  """

  @jax.jit
  def run(x, ctx):
    bij = make_bij(ctx)
    y, fldj = bij.forward_and_log_det(x)
    x2, ildj = bij.inverse_and_log_det(y)

    def row(xr, yr, cr):
      b = make_bij(cr)
      jf = jnp.linalg.slogdet(jax.jacfwd(b.forward)(xr))[1]
      ji = jnp.linalg.slogdet(jax.jacfwd(b.inverse)(yr))[1]
      return jf, ji

    jf, ji = jax.vmap(row, (0, 0, None if ctx is None else 0))(x, y, ctx)
    return x2, fldj, ildj, jf, ji

  x2, fldj, ildj, jf, ji = run(x, ctx)
  np.testing.assert_allclose(x2, x, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(ildj, -fldj, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(fldj, jf, atol=1e-4, rtol=1e-4)
  np.testing.assert_allclose(ildj, ji, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def x():
  return jax.random.normal(jax.random.key(0), (4, D)) * 1.5 + 0.5


def test_actnorm_inverts_with_logdet(x):
  _check_bijector(
    lambda _: bijectors.ActNorm(jnp.linspace(-1, 1, D), jnp.linspace(-0.5, 0.7, D)), x
  )


def test_actnorm_data_init_standardises_first_batch():
  data = jax.random.normal(jax.random.key(1), (256, D)) * jnp.arange(1, D + 1) + 3.0
  layer = layers.ActNormLayer(D)
  params = layer.init(jax.random.key(0), data)
  bij = layer.apply(params, None)
  z = bij.inverse(data)
  np.testing.assert_allclose(jnp.mean(z, 0), 0.0, atol=1e-4)
  np.testing.assert_allclose(jnp.std(z, 0), 1.0, atol=1e-3)
  # The init values are params: a reload without data gives the same map.
  np.testing.assert_allclose(params["params"]["loc"], jnp.mean(data, 0), rtol=1e-5)


def test_actnorm_data_init_respects_weights():
  data = jnp.concatenate([jax.random.normal(jax.random.key(2), (100, D)), jnp.full((50, D), 9.0)])
  w = jnp.concatenate([jnp.ones(100), jnp.zeros(50)])
  params = layers.ActNormLayer(D).init(jax.random.key(0), data, w)
  np.testing.assert_allclose(params["params"]["loc"], jnp.mean(data[:100], 0), atol=1e-5)


def test_lu_linear_inverts_with_logdet(x, perturb):
  layer = layers.InvertibleLinearLayer(D, seed=3)
  params = perturb(layer.init(jax.random.key(0)), jax.random.key(4), 0.3)
  _check_bijector(lambda _: layer.apply(params), x)
  bij = layer.apply(params)
  w = bij.weight()
  np.testing.assert_allclose(bij.forward(x), x @ w.T, atol=1e-5)


def test_lu_linear_starts_as_rotation():
  bij = layers.InvertibleLinearLayer(D, seed=5).apply(
    layers.InvertibleLinearLayer(D, seed=5).init(jax.random.key(0))
  )
  w = bij.weight()
  np.testing.assert_allclose(w @ w.T, np.eye(D), atol=1e-5)


@pytest.mark.parametrize("scale_fn", ["tanh", "sigmoid"])
def test_coupling_inverts_with_logdet(x, scale_fn, perturb):
  ctx = jax.random.normal(jax.random.key(6), (x.shape[0], C))
  layer = layers.CouplingLayer(D, hidden=16, depth=2, scale_fn=scale_fn)
  params = layer.init(jax.random.key(0), ctx, method=lambda m, c: m(c).inverse(x))
  params = perturb(params, jax.random.key(7), scale=0.5)
  y = layer.apply(params, ctx).forward(x)
  assert not np.allclose(y, x, atol=1e-3)  # The perturbed coupling does something.
  _check_bijector(lambda c: layer.apply(params, c), x, ctx)


def test_coupling_scale_is_bounded():
  h = jnp.linspace(-20, 20, 11)
  log_s = bijectors.bounded_scale(h, "tanh", 2.0)
  assert jnp.all(jnp.abs(log_s) <= 2.0)
  s = jnp.exp(bijectors.bounded_scale(h, "sigmoid", 0.0))
  assert jnp.all((s > 0) & (s < 1.0 / jax.nn.sigmoid(2.0) + 1e-6))
  for fn in ("tanh", "sigmoid"):
    assert bijectors.bounded_scale(jnp.zeros(()), fn, 2.0) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match="scale_fn"):
    bijectors.bounded_scale(h, "exp", 2.0)


def test_zero_init_coupling_is_identity(x):
  ctx = jax.random.normal(jax.random.key(8), (x.shape[0], C))
  layer = layers.CouplingLayer(D, hidden=16)
  params = layer.init(jax.random.key(0), ctx, method=lambda m, c: m(c).inverse(x))
  y, ldj = layer.apply(params, ctx).forward_and_log_det(x)
  np.testing.assert_array_equal(y, x)
  np.testing.assert_array_equal(ldj, 0.0)


@pytest.fixture(scope="module")
def flow_and_params():
  flow = layers.Flow(features=D, num_steps=2, hidden=16, depth=1, perm_seed=1)
  data = jax.random.normal(jax.random.key(9), (32, D)) * 2.0 + 1.0
  ctx = jax.random.normal(jax.random.key(10), (32, C))
  params = flow.init(jax.random.key(0), ctx, x_init=data)
  return flow, params, data, ctx


def test_flow_at_init_standardises_and_couplings_do_nothing(flow_and_params):
  flow, params, data, ctx = flow_and_params
  chain = flow.apply(params, ctx)
  z, ildj = chain.inverse_and_log_det(data)
  # First step's ActNorm was initialised on the data; the coupling of the last step is
  # the identity, so z is an orthogonal map of a standardised batch: unit total variance.
  np.testing.assert_allclose(jnp.mean(z, 0), 0.0, atol=1e-4)
  np.testing.assert_allclose(jnp.sum(jnp.var(z, 0)), D, rtol=2e-2)
  # The log-det is the ActNorms' and the 1x1s' alone.
  p = params["params"]
  expected = -sum(
    jnp.sum(p[f"actnorms_{k}"]["log_scale"]) + jnp.sum(p[f"convs_{k}"]["log_s"]) for k in range(2)
  )
  np.testing.assert_allclose(ildj, expected, rtol=1e-5, atol=1e-5)


def test_whole_flow_inverts_with_logdet(flow_and_params, perturb):
  flow, params, data, ctx = flow_and_params
  params = perturb(params, jax.random.key(11), scale=0.3)
  assert not np.allclose(flow.apply(params, ctx[:4]).inverse(data[:4]), data[:4], atol=1e-2)
  _check_bijector(lambda c: flow.apply(params, c), data[:4], ctx[:4])


def test_chain_works_as_distrax_transformed(flow_and_params, perturb):
  """forward = latent -> data, so distrax.Transformed(prior, chain) is the flow's density."""
  flow, params, data, ctx = flow_and_params
  params = perturb(params, jax.random.key(12), scale=0.3)

  @jax.jit
  def both(params, x, c):
    chain = flow.apply(params, c)
    base = distrax.MultivariateNormalDiag(jnp.zeros(D), jnp.ones(D))
    z, ildj = chain.inverse_and_log_det(x)
    return distrax.Transformed(base, chain).log_prob(x), base.log_prob(z) + ildj

  got, want = both(params, data[:4], ctx[:4])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
