"""VQ autoencoder: indices round trip, shapes and errors, last layer, a tiny fit, bf16 path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq.losses import l1_loss


def fast_key(seed: int) -> jax.Array:
  """An RBG key: model init compiles several times faster on CPU than with threefry."""
  return jax.random.key(seed, impl="unsafe_rbg")


def blobs(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
  """`[n, size, size, 3]` images in [-1, 1]: 1-3 random coloured discs on a coloured background."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:size, :size]
  out = np.empty((n, size, size, 3), np.float32)
  for i in range(n):
    img = np.broadcast_to(rng.uniform(-1, 1, 3), (size, size, 3)).copy()
    for _ in range(rng.integers(1, 4)):
      cy, cx = rng.uniform(0, size, 2)
      r = rng.uniform(size / 8, size / 3)
      img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(-1, 1, 3)
    out[i] = img
  return out


@pytest.fixture(scope="module")
def tiny():
  cfg = ae.default_config("tiny")
  model = ae.make_autoencoder(cfg.model)
  x = jnp.asarray(blobs(4, cfg.image_size))
  variables = jax.jit(model.init)(fast_key(0), x)
  return cfg, model, variables, x


def test_configs_build_and_downsample():
  for size, tokens in [("tiny", 8), ("synthetic", 16), ("ffhq_mead", 16), ("taming_faceshq", 16)]:
    cfg = ae.default_config(size)
    assert ae.tokens_per_side(cfg.image_size, cfg.model) == tokens
  cfg = ae.default_config("taming_faceshq")
  assert (cfg.model.ch, tuple(cfg.model.ch_mult)) == (128, (1, 1, 2, 2, 4))
  assert (cfg.model.num_codes, cfg.model.code_dim, cfg.discriminator.n_layers) == (1024, 256, 3)
  with pytest.raises(ValueError, match="Unknown stage-1 size"):
    ae.default_config("huge")


@pytest.fixture(scope="module")
def outputs(tiny):
  """Every encode/decode path of the tiny model, in one compiled function."""
  _, model, variables, x = tiny

  @jax.jit
  def run(variables, x):
    recon, aux = model.apply(variables, x)
    indices = model.apply(variables, x, method=model.encode_to_indices)
    quantized, _ = model.apply(variables, x, method=model.encode)
    feats = model.apply(variables, quantized, method=model.decode_features)
    conv_out = variables["params"]["decoder"]["conv_out"]
    kernel = variables["params"]
    for k in ae.LAST_LAYER:
      kernel = kernel[k]
    return dict(
      recon=recon,
      aux=aux,
      indices=indices,
      decoded=model.apply(variables, quantized, method=model.decode),
      from_indices=model.apply(variables, indices, method=model.decode_from_indices),
      last_layer=ae.apply_last_layer(feats, kernel, conv_out["bias"]),
    )

  return run(variables, x)


def test_indices_round_trip(tiny, outputs):
  x = tiny[3]
  assert outputs["recon"].shape == x.shape
  indices = outputs["indices"]
  assert indices.shape == (4, 8, 8) and indices.dtype == jnp.int32
  np.testing.assert_array_equal(indices, outputs["aux"]["indices"])
  np.testing.assert_allclose(outputs["from_indices"], outputs["decoded"], atol=1e-5)
  np.testing.assert_allclose(outputs["from_indices"], outputs["recon"], atol=1e-5)


def test_last_layer_as_pure_function(outputs):
  np.testing.assert_allclose(outputs["last_layer"], outputs["recon"], atol=1e-5)


def test_bad_images_raise_clear_errors(tiny):
  cfg, model, variables, _ = tiny
  with pytest.raises(ValueError, match="multiples of the downsampling factor 4"):
    model.apply(variables, jnp.zeros((1, 30, 30, 3)))
  with pytest.raises(ValueError, match="NHWC"):
    model.apply(variables, jnp.zeros((1, 3, 32, 32)))
  with pytest.raises(ValueError, match="integers"):
    model.apply(variables, jnp.zeros((1, 8, 8)), method=model.decode_from_indices)
  with pytest.raises(ValueError, match="Unknown dtype"):
    ae.make_autoencoder(dict(cfg.model.to_dict(), dtype="float8"))


def test_tiny_autoencoder_fit_reduces_reconstruction_loss():
  # Two levels (16 px -> 8x8 tokens) keep compilation short on CPU.
  cfg = ae.default_config("tiny")
  cfg.model.ch_mult = (1, 2)
  model = ae.make_autoencoder(cfg.model)
  x = jnp.asarray(blobs(8, 16, seed=1))
  params = jax.jit(model.init)(fast_key(1), x)["params"]
  tx = optax.adam(2e-3)
  opt_state = tx.init(params)

  def loss_fn(params):
    recon, aux = model.apply({"params": params}, x, train=True)
    rec = l1_loss(recon, x)
    return rec + aux["loss"], (rec, aux["perplexity"])

  @jax.jit
  def step(params, opt_state):
    (_, (rec, ppl)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, rec, ppl

  recs = []
  for _ in range(120):
    params, opt_state, rec, ppl = step(params, opt_state)
    recs.append(float(rec))
  first, last = np.mean(recs[:5]), np.mean(recs[-5:])
  assert np.isfinite(recs).all()
  assert last < 0.5 * first, (first, last)
  assert float(ppl) > 2.0  # more than a couple of codes in use


def test_bf16_compute_matches_fp32(tiny):
  cfg, model, variables, x = tiny
  model16 = ae.make_autoencoder(dict(cfg.model.to_dict(), dtype="bfloat16"))
  variables16 = jax.eval_shape(model16.init, jax.random.PRNGKey(0), x)
  # Params stay float32 and have the same structure.
  assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(variables16["params"]))
  assert jax.tree_util.tree_structure(variables16) == jax.tree_util.tree_structure(variables)

  @jax.jit
  def run(variables, x):
    out = {}
    for name, m in (("32", model), ("16", model16)):
      recon, aux = m.apply(variables, x)
      indices = m.apply(variables, x, method=m.encode_to_indices)
      out[name] = (recon, l1_loss(recon, x), aux["loss"], indices)
    out["d16"] = model16.apply(variables, out["32"][3], method=model16.decode_from_indices)
    return out

  out = run(variables, x)
  r32, l32, v32, i32 = out["32"]
  r16, l16, v16, i16 = out["16"]
  assert r16.dtype == jnp.bfloat16
  assert l16.dtype == jnp.float32 and v16.dtype == jnp.float32
  assert np.isfinite(float(l16)) and np.isfinite(float(v16))
  np.testing.assert_allclose(l16, l32, rtol=0.05)
  np.testing.assert_allclose(v16, v32, rtol=0.1)
  # bf16 rounding may flip a few nearest-code decisions; most tokens agree ...
  assert float(jnp.mean(i32 == i16)) > 0.8
  # ... and decoding the same codes is close.
  assert float(jnp.mean(jnp.abs(out["d16"].astype(jnp.float32) - r32))) < 0.02
