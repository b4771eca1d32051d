"""Motion mapping network (phi) and AdaIN, the motion-conditioning layers of stage 2.

`MappingNet` follows PIRender's mapping network (Ren et al., 2021): a window of per-frame
coefficients `[B, T, 70]` (expression 64 + pose 6 of frames t-k..t+k) goes through a 1-D
convolution over time (kernel 7, VALID), then `layers` residual blocks of LeakyReLU(0.1) and a
dilated (3) kernel-3 convolution, each added to the centre-cropped input (`x[:, 3:-3]`), and is
averaged over the remaining time steps into a motion latent `[B, dim]`. With PIRender's 27-frame
window and 3 layers the time axis runs 27 -> 21 -> 15 -> 9 -> 3. When a window is too short for
a VALID block (a tiny config), that block uses SAME padding instead of cropping.

`CentreFrameMapping` is the ablation without phi: the centre frame's raw coefficients through
one Dense layer.

`AdaIN(x, m)` = `InstanceNorm(x) * (1 + gamma(m)) + beta(m)`, normalising over every axis but
the batch and channel ones (`[B, H, W, C]` or `[B, N, C]`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


class MappingNet(nn.Module):
  """Coefficient window `[B, T, C_in]` -> motion latent `[B, dim]` (PIRender's mapping net)."""

  dim: int = 256
  layers: int = 3
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, coeffs: Array) -> Array:
    if coeffs.ndim != 3:
      raise ValueError(f"MappingNet expects a coefficient window [B, T, C], got {coeffs.shape}.")
    t = coeffs.shape[1]
    k = min(7, t)
    h = nn.Conv(self.dim, (k,), padding="VALID", dtype=self.dtype, name="first")(
      coeffs.astype(self.dtype)
    )
    for i in range(self.layers):
      y = nn.leaky_relu(h, 0.1)
      if h.shape[1] > 6:
        y = nn.Conv(
          self.dim, (3,), kernel_dilation=(3,), padding="VALID", dtype=self.dtype, name=f"enc{i}"
        )(y)
        h = y + h[:, 3:-3]
      else:
        y = nn.Conv(self.dim, (3,), padding="SAME", dtype=self.dtype, name=f"enc{i}")(y)
        h = y + h
    return jnp.mean(h, axis=1)


class CentreFrameMapping(nn.Module):
  """Ablation of phi: the centre frame of `[B, T, C_in]` through one Dense layer -> `[B, dim]`."""

  dim: int = 256
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, coeffs: Array) -> Array:
    centre = coeffs[:, coeffs.shape[1] // 2]
    return nn.Dense(self.dim, dtype=self.dtype, name="linear")(centre.astype(self.dtype))


class AdaIN(nn.Module):
  """Instance norm of `x` `[B, ..., C]` modulated by `(1 + gamma(m), beta(m))` from `m` `[B, M]`."""

  eps: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, motion: Array) -> Array:
    c = x.shape[-1]
    axes = tuple(range(1, x.ndim - 1))
    xf = x.astype(jnp.float32)
    mean = jnp.mean(xf, axis=axes, keepdims=True)
    var = jnp.var(xf, axis=axes, keepdims=True)
    normed = ((xf - mean) * jax.lax.rsqrt(var + self.eps)).astype(self.dtype)
    style = nn.Dense(2 * c, dtype=self.dtype, name="style")(motion.astype(self.dtype))
    gamma, beta = jnp.split(style, 2, axis=-1)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
    return normed * (1.0 + gamma.reshape(shape)) + beta.reshape(shape)
