"""Vector quantizer: straight-through gradient, loss values and beta placement, usage, EMA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowvq_jax.models.vq.quantizer import VectorQuantizer, codebook_usage


def fast_key(seed: int) -> jax.Array:
  """An RBG key: init compiles several times faster on CPU than with threefry."""
  return jax.random.key(seed, impl="unsafe_rbg")


def normal(seed: int, shape) -> jax.Array:
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _fixed(vq, codebook):
  """Variables of `vq` with its codebook replaced by `codebook`."""
  return {"params": {"codebook": jnp.asarray(codebook, jnp.float32)}}


def test_straight_through_gradient_equals_gradient_wrt_quantized():
  vq = VectorQuantizer(num_codes=8, code_dim=4)
  z = normal(0, (2, 3, 3, 4))
  variables = vq.init(fast_key(1), z)
  w = normal(2, z.shape)
  downstream = lambda q: jnp.sum(jnp.sin(q) * w)
  quantized, _ = vq.apply(variables, z)
  grad_z = jax.grad(lambda z: downstream(vq.apply(variables, z)[0]))(z)
  grad_q = jax.grad(downstream)(quantized)
  np.testing.assert_allclose(grad_z, grad_q, rtol=1e-6, atol=1e-6)
  # The forward value is the selected code, not z.
  codebook = variables["params"]["codebook"]
  _, aux = vq.apply(variables, z)
  np.testing.assert_allclose(quantized, codebook[aux["indices"]], atol=1e-6)


def test_loss_values_and_beta_on_commitment_term():
  beta = 0.25
  vq = VectorQuantizer(num_codes=2, code_dim=2, beta=beta)
  codebook = np.array([[0.0, 0.0], [1.0, 1.0]], np.float32)
  z = jnp.array([[0.1, 0.2], [0.9, 1.3]], jnp.float32)
  variables = _fixed(vq, codebook)
  _, aux = vq.apply(variables, z)
  np.testing.assert_array_equal(aux["indices"], [0, 1])
  expected = (0.01 + 0.04 + 0.01 + 0.09) / 4  # mean over all 4 elements
  np.testing.assert_allclose(aux["codebook_loss"], expected, rtol=1e-6)
  np.testing.assert_allclose(aux["commitment_loss"], expected, rtol=1e-6)
  np.testing.assert_allclose(aux["loss"], (1 + beta) * expected, rtol=1e-6)

  # Beta weighs the encoder's (commitment) gradient, not the codebook's.
  def loss(params, z):
    return vq.apply({"params": params}, z)[1]["loss"]

  g_params, g_z = jax.grad(loss, argnums=(0, 1))(variables["params"], z)
  e = codebook[[0, 1]]
  np.testing.assert_allclose(g_z, beta * 2 * (np.asarray(z) - e) / 4, rtol=1e-5)
  np.testing.assert_allclose(g_params["codebook"], 2 * (e - np.asarray(z)) / 4, rtol=1e-5)


def test_usage_and_perplexity_on_known_assignments():
  usage, ppl = codebook_usage(jnp.array([5.0, 5.0, 5.0, 5.0, 0, 0, 0, 0]))
  np.testing.assert_allclose(usage, 0.5)
  np.testing.assert_allclose(ppl, 4.0, rtol=1e-6)
  _, ppl1 = codebook_usage(jnp.array([7.0, 0.0, 0.0]))
  np.testing.assert_allclose(ppl1, 1.0, rtol=1e-6)

  # Through the module: 8 one-hot codes, the batch uses codes 0..3 three times each.
  vq = VectorQuantizer(num_codes=8, code_dim=8)
  codebook = np.eye(8, dtype=np.float32)
  z = jnp.asarray(np.tile(codebook[:4], (3, 1)) * 0.9)
  _, aux = vq.apply(_fixed(vq, codebook), z)
  np.testing.assert_allclose(aux["counts"], [3, 3, 3, 3, 0, 0, 0, 0])
  np.testing.assert_allclose(aux["perplexity"], 4.0, rtol=1e-5)
  np.testing.assert_allclose(aux["usage"], 0.5)


def test_l2_normalised_factorised_lookup():
  vq = VectorQuantizer(num_codes=16, code_dim=12, lookup_dim=4, l2_normalize=True)
  z = normal(0, (2, 5, 12))
  variables = vq.init(fast_key(1), z)
  assert variables["params"]["codebook"].shape == (16, 4)
  q, aux = vq.apply(variables, z)
  assert q.shape == z.shape and aux["indices"].shape == (2, 5)
  codes = vq.apply(variables, method=vq.codes)
  np.testing.assert_allclose(jnp.linalg.norm(codes, axis=-1), 1.0, rtol=1e-5)
  # The forward output is the projected code: lookup(indices) reproduces it.
  np.testing.assert_allclose(
    vq.apply(variables, aux["indices"], method=vq.lookup), q, rtol=1e-5, atol=1e-5
  )
  # Cosine lookup: the chosen code has the highest cosine similarity with the projected input.
  zl = vq.apply(variables, z, method=lambda m, z: m.in_proj(z))
  sims = jnp.einsum("bnd,kd->bnk", zl / jnp.linalg.norm(zl, axis=-1, keepdims=True), codes)
  np.testing.assert_array_equal(aux["indices"], jnp.argmax(sims, axis=-1))


def _clusters(seed, n=64):
  """`[n, 2]` points around the four corners (+-1, +-1)."""
  centres = np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]], np.float32)
  rng = np.random.default_rng(seed)
  return jnp.asarray(centres[rng.integers(0, 4, n)] + 0.05 * rng.standard_normal((n, 2)))


@pytest.mark.parametrize("restart", [True, False])
def test_ema_dead_code_restart_revives_unused_codes(restart):
  vq = VectorQuantizer(
    num_codes=16, code_dim=2, use_ema=True, ema_decay=0.5, restart_dead_codes=restart
  )
  variables = vq.init(fast_key(0), jnp.zeros((4, 2)))
  assert "codebook" not in variables.get("params", {})
  # All codes far from the data but code 0, which sits at the origin: everything maps to it.
  codebook = jnp.full((16, 2), 50.0).at[0].set(0.0)
  stats = dict(variables["vq_stats"], codebook=codebook, ema_sum=codebook)

  @jax.jit
  def step(stats, x):
    (_, aux), new = vq.apply({"vq_stats": stats}, x, train=True, mutable=["vq_stats"])
    return new["vq_stats"], aux

  _, aux0 = vq.apply({"vq_stats": stats}, _clusters(1))
  assert int(jnp.sum(aux0["counts"] > 0)) == 1
  restarted = 0.0
  for i in range(20):
    stats, aux = step(stats, _clusters(10 + i))
    restarted += float(aux["num_dead"])
  _, aux = vq.apply({"vq_stats": stats}, _clusters(99))
  assert int(stats["step"]) == 20
  if restart:
    assert restarted >= 15
    assert int(jnp.sum(aux["counts"] > 0)) >= 4
    assert float(aux["perplexity"]) > 3.0
    # Every data point now has a code close by.
    assert float(aux["commitment_loss"]) < 0.05
  else:
    assert restarted == 0
    assert int(jnp.sum(aux["counts"] > 0)) == 1


def test_ema_eval_does_not_update_stats():
  vq = VectorQuantizer(num_codes=4, code_dim=2, use_ema=True)
  x = _clusters(0)
  variables = vq.init(fast_key(0), x)
  _, new = vq.apply(variables, x, train=False, mutable=["vq_stats"])
  jax.tree_util.tree_map(np.testing.assert_array_equal, new["vq_stats"], variables["vq_stats"])


def test_bad_inputs_raise_clear_errors():
  vq = VectorQuantizer(num_codes=4, code_dim=3)
  with pytest.raises(ValueError, match=r"\[\.\.\., 3\]"):
    vq.init(fast_key(0), jnp.zeros((2, 5)))
  with pytest.raises(ValueError, match="dead_code_threshold"):
    VectorQuantizer(num_codes=4, code_dim=2, use_ema=True, dead_code_threshold=2.0).init(
      fast_key(0), jnp.zeros((2, 2))
    )
  with pytest.raises(ValueError, match="codebook_init"):
    VectorQuantizer(num_codes=4, code_dim=2, codebook_init="zeros").init(
      fast_key(0), jnp.zeros((2, 2))
    )
