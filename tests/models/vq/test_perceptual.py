"""Perceptual loss: weights file round trip, clear errors, LPIPS properties, logged fallback."""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowvq_jax.models.vq import perceptual as P


def _random_weights(with_lin=True, seed=0):
  rng = np.random.default_rng(seed)
  out = {}
  for name, shape in P.expected_shapes(with_lin).items():
    if name.endswith("/kernel") and len(shape) == 4:
      scale = np.sqrt(2.0 / np.prod(shape[:3]))
      out[name] = (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)
    elif name.startswith("lin"):
      out[name] = np.abs(rng.standard_normal(shape)).astype(np.float32)
    else:
      out[name] = np.zeros(shape, np.float32)
  return out


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
  arrays = _random_weights()
  path = tmp_path_factory.mktemp("lpips") / "vgg16_lpips.npz"
  np.savez(path, **arrays)
  return str(path), arrays


def _images():
  x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3), minval=-1, maxval=1)
  return x, jnp.clip(x + 0.2 * jax.random.normal(jax.random.PRNGKey(1), x.shape), -1, 1)


def test_weights_round_trip_and_lpips_properties(weights_file):
  path, arrays = weights_file
  loaded = P.load_lpips_weights(path)
  np.testing.assert_array_equal(loaded["vgg"]["conv3_2"]["kernel"], arrays["conv3_2/kernel"])
  np.testing.assert_array_equal(loaded["vgg"]["conv5_3"]["bias"], arrays["conv5_3/bias"])
  np.testing.assert_array_equal(loaded["lin"][4], arrays["lin4/kernel"])
  fn, description = P.make_perceptual_loss(path)
  assert "LPIPS" in description and path in description
  x, y = _images()
  fn = jax.jit(fn)
  d_xy, d_xx = fn(x, y), fn(x, x)
  assert d_xy.shape == (2,) and d_xy.dtype == jnp.float32
  assert np.all(np.asarray(d_xy) > 0) and np.all(np.isfinite(d_xy))
  np.testing.assert_allclose(d_xx, 0.0, atol=1e-6)
  np.testing.assert_allclose(fn(y, x), d_xy, rtol=1e-5)  # symmetric
  # Farther images are farther apart.
  assert np.all(np.asarray(fn(x, -x)) > np.asarray(d_xy))


def test_weights_without_heads(tmp_path):
  path = tmp_path / "vgg_only.npz"
  np.savez(path, **_random_weights(with_lin=False))
  fn, description = P.make_perceptual_loss(str(path))
  assert "no LPIPS heads" in description
  assert P.load_lpips_weights(str(path))["lin"] is None


def test_loader_clear_errors(tmp_path, weights_file):
  _, arrays = weights_file
  with pytest.raises(FileNotFoundError, match="not found.*convert_lpips"):
    P.make_perceptual_loss(str(tmp_path / "nope.npz"))
  bad = tmp_path / "bad.npz"
  bad.write_text("not a zip")
  with pytest.raises(ValueError, match="not a readable .npz"):
    P.load_lpips_weights(str(bad))
  missing = dict(arrays)
  del missing["conv2_1/bias"]
  np.savez(tmp_path / "missing.npz", **missing)
  with pytest.raises(ValueError, match=r"missing arrays \['conv2_1/bias'\]"):
    P.load_lpips_weights(str(tmp_path / "missing.npz"))
  shaped = dict(arrays, **{"conv1_1/kernel": np.zeros((3, 3, 3, 32), np.float32)})
  np.savez(tmp_path / "shape.npz", **shaped)
  with pytest.raises(ValueError, match=r"conv1_1/kernel has shape \(3, 3, 3, 32\)"):
    P.load_lpips_weights(str(tmp_path / "shape.npz"))
  partial = {k: v for k, v in arrays.items() if k != "lin3/kernel"}
  np.savez(tmp_path / "partial.npz", **partial)
  with pytest.raises(ValueError, match="lin3/kernel"):
    P.load_lpips_weights(str(tmp_path / "partial.npz"))


def test_fallback_logs_warning_and_behaves(caplog):
  with caplog.at_level(logging.WARNING):
    fn, description = P.make_perceptual_loss(None)
  assert "fallback" in description
  assert any("No perceptual loss weights" in r.getMessage() for r in caplog.records)
  x, y = _images()
  fn = jax.jit(fn)
  d_xy, d_xx = fn(x, y), fn(x, x)
  assert d_xy.shape == (2,) and np.all(np.asarray(d_xy) > 0.05)
  np.testing.assert_allclose(d_xx, 0.0, atol=1e-5)
  assert np.all(np.asarray(fn(x, -x)) > np.asarray(d_xy))
  # Gradients exist and are finite (usable as a training loss).
  g = jax.grad(lambda a: jnp.sum(fn(a, y)))(x)
  assert np.all(np.isfinite(g)) and float(jnp.abs(g).sum()) > 0
