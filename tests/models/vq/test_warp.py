"""Bilinear warp: identity, integer shifts, sub-pixel interpolation, borders, gradients, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from flowvq_jax.models.vq.warp import resize_flow, warp


def image(b=2, h=9, w=11, c=3, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=(b, h, w, c)).astype(np.float32))


@pytest.mark.parametrize("padding", ["border", "zeros"])
def test_zero_flow_is_identity(padding):
  x = image()
  out = warp(x, jnp.zeros((*x.shape[:3], 2)), padding)
  np.testing.assert_allclose(out, x, atol=1e-6)


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, -3), (1, 2), (-2, -1)])
def test_integer_flow_shifts_the_interior(dx, dy):
  x = image(h=12, w=12)
  flow = jnp.broadcast_to(jnp.asarray([dx, dy], jnp.float32), (*x.shape[:3], 2))
  out = np.asarray(warp(x, flow, "zeros"))
  # out[y, x] = in[y + dy, x + dx] wherever that source pixel exists.
  ys = slice(max(0, -dy), 12 - max(0, dy))
  xs = slice(max(0, -dx), 12 - max(0, dx))
  src_ys = slice(ys.start + dy, ys.stop + dy)
  src_xs = slice(xs.start + dx, xs.stop + dx)
  np.testing.assert_allclose(out[:, ys, xs], np.asarray(x)[:, src_ys, src_xs], atol=1e-6)


def test_borders():
  x = image(b=1, h=6, w=6)
  flow = jnp.broadcast_to(jnp.asarray([3.0, 0.0]), (1, 6, 6, 2))
  border = np.asarray(warp(x, flow, "border"))
  zeros = np.asarray(warp(x, flow, "zeros"))
  # Columns 3..5 sample x = 6..8, past the right edge.
  np.testing.assert_allclose(border[:, :, 3:], np.repeat(np.asarray(x)[:, :, 5:6], 3, axis=2))
  np.testing.assert_allclose(zeros[:, :, 3:], 0.0)
  np.testing.assert_allclose(border[:, :, :3], np.asarray(x)[:, :, 3:])


def test_subpixel_flow_interpolates_linearly():
  x = image(b=1, h=5, w=7)
  flow = jnp.broadcast_to(jnp.asarray([0.25, 0.5]), (1, 5, 7, 2))
  out = np.asarray(warp(x, flow))
  xn = np.asarray(x)
  expected = (
    0.75 * 0.5 * xn[:, 1:2, 1:2]
    + 0.25 * 0.5 * xn[:, 1:2, 2:3]
    + 0.75 * 0.5 * xn[:, 2:3, 1:2]
    + 0.25 * 0.5 * xn[:, 2:3, 2:3]
  )
  np.testing.assert_allclose(out[:, 1:2, 1:2], expected, atol=1e-6)


def test_gradients_wrt_flow_and_features():
  x = image(b=1, h=6, w=6, c=2)
  flow = 0.3 * image(b=1, h=6, w=6, c=2, seed=1)

  def f(flow, x):
    return jnp.sum(jnp.sin(warp(x, flow)))

  gflow, gx = jax.grad(f, argnums=(0, 1))(flow, x)
  assert np.all(np.isfinite(gflow)) and np.abs(gflow).sum() > 0
  # Finite differences of the flow at an interior pixel (away from the kinks at integers).
  eps = 1e-3
  d = jnp.zeros_like(flow).at[0, 2, 3, 0].set(eps)
  num = (f(flow + d, x) - f(flow - d, x)) / (2 * eps)
  np.testing.assert_allclose(gflow[0, 2, 3, 0], num, rtol=2e-2, atol=1e-3)
  assert gx.shape == x.shape


def test_resize_flow_rescales_displacements():
  flow = jnp.broadcast_to(jnp.asarray([1.0, -2.0]), (1, 4, 4, 2))
  big = resize_flow(flow, 16, 8)
  assert big.shape == (1, 16, 8, 2)
  np.testing.assert_allclose(big[..., 0], 2.0, atol=1e-6)
  np.testing.assert_allclose(big[..., 1], -8.0, atol=1e-6)


def test_bad_inputs():
  x = image()
  with pytest.raises(ValueError, match="flow \\[B, H, W, 2\\]"):
    warp(x, jnp.zeros((2, 9, 11, 3)))
  with pytest.raises(ValueError, match="features \\[B, H, W, C\\]"):
    warp(x[0], jnp.zeros((9, 11, 2)))
  with pytest.raises(ValueError, match="padding"):
    warp(x, jnp.zeros((2, 9, 11, 2)), "reflect")
