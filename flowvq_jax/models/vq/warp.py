"""Differentiable bilinear warping of feature maps by a dense flow field (in pixels).

`warp(features, flow)` samples, for every output pixel (y, x),

  out[b, y, x] = bilinear(features[b], y + flow[b, y, x, 1], x + flow[b, y, x, 0])

so `flow[..., 0]` is the horizontal (width, x) and `flow[..., 1]` the vertical (height, y)
displacement, both in pixels of `features`. A zero flow is the identity; a constant flow
(dx, dy) = (1, 0) moves the content one pixel to the left (`out[y, x] = in[y, x + 1]`). This is
the backward warping of PIRender / `torch.nn.functional.grid_sample` with `align_corners=True`,
expressed in pixels rather than in [-1, 1] grid coordinates.

Border handling (`padding`):

* `'border'` (default): sample positions are clamped to the image, so points outside take the
  value of the nearest edge pixel (grid_sample's `padding_mode='border'`). Gradients wrt the
  flow are zero where a position is clamped.
* `'zeros'`: the image is surrounded by zeros; each of the four bilinear taps that falls outside
  contributes zero (grid_sample's `padding_mode='zeros'`), so content fades out smoothly
  within one pixel of the border.

Everything is plain jnp (gathers and weights), differentiable wrt both `features` and `flow`;
the weights are computed in float32 and the result has the dtype of `features`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

PADDINGS = ("border", "zeros")


def identity_grid(height: int, width: int) -> Array:
  """`[H, W, 2]` float32 pixel coordinates `(x, y)` of every position."""
  ys, xs = jnp.meshgrid(jnp.arange(height), jnp.arange(width), indexing="ij")
  return jnp.stack([xs, ys], axis=-1).astype(jnp.float32)


def warp(features: Array, flow: Array, padding: str = "border") -> Array:
  """Bilinearly samples `features` at `identity + flow`.

  Args:
    features: `[B, H, W, C]` feature map or image.
    flow: `[B, H, W, 2]` displacement in pixels, `(dx, dy)` in the last axis.
    padding: `'border'` (clamp to the edge) or `'zeros'` (zeros outside); see the module doc.

  Returns:
    `[B, H, W, C]` warped features, dtype of `features`.
  """
  if padding not in PADDINGS:
    raise ValueError(f"warp padding must be one of {PADDINGS}, got {padding!r}.")
  if features.ndim != 4:
    raise ValueError(f"warp expects features [B, H, W, C], got shape {features.shape}.")
  b, h, w, c = features.shape
  if flow.shape != (b, h, w, 2):
    raise ValueError(
      f"warp expects flow [B, H, W, 2] = {(b, h, w, 2)} for features {features.shape}, "
      f"got {flow.shape}."
    )
  pos = identity_grid(h, w)[None] + flow.astype(jnp.float32)
  px, py = pos[..., 0], pos[..., 1]
  if padding == "border":
    px = jnp.clip(px, 0.0, w - 1.0)
    py = jnp.clip(py, 0.0, h - 1.0)
  x0 = jnp.floor(px)
  y0 = jnp.floor(py)
  fx = px - x0
  fy = py - y0
  x0 = x0.astype(jnp.int32)
  y0 = y0.astype(jnp.int32)
  flat = features.reshape(b, h * w, c)

  def tap(yi: Array, xi: Array, weight: Array) -> Array:
    inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    idx = jnp.clip(yi, 0, h - 1) * w + jnp.clip(xi, 0, w - 1)
    vals = jnp.take_along_axis(flat, idx.reshape(b, h * w, 1), axis=1).reshape(b, h, w, c)
    weight = jnp.where(inside, weight, 0.0)
    return vals.astype(jnp.float32) * weight[..., None]

  out = (
    tap(y0, x0, (1.0 - fx) * (1.0 - fy))
    + tap(y0, x0 + 1, fx * (1.0 - fy))
    + tap(y0 + 1, x0, (1.0 - fx) * fy)
    + tap(y0 + 1, x0 + 1, fx * fy)
  )
  return out.astype(features.dtype)


def resize_flow(flow: Array, height: int, width: int) -> Array:
  """Bilinearly resizes a pixel flow `[B, h, w, 2]` to `[B, height, width, 2]`, rescaling the
  displacements to the new pixel size (x by `width / w`, y by `height / h`)."""
  b, h, w, _ = flow.shape
  if (h, w) == (height, width):
    return flow
  resized = jax.image.resize(flow, (b, height, width, 2), method="linear")
  scale = jnp.asarray([width / w, height / h], resized.dtype)
  return resized * scale
