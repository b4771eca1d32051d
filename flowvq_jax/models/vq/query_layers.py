"""Building blocks of the stage-2 code query (`query.CodeQuery`): the source encoder, the warping
flow network W, the transformer block of the code head, multi-head cross-attention (MHCA) and
CodeFormer's controllable feature transformation (CFT) for the decoder fusion.

Images NHWC; params float32, `dtype` the compute dtype.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from flowvq_jax.models.vq.autoencoder import AttnBlock, Downsample, ResBlock
from flowvq_jax.models.vq.mapping import AdaIN

Array = jax.Array


class SourceEncoder(nn.Module):
  """Source image `[B, H, W, 3]` -> one feature map per level, `[B, H / 2^l, W / 2^l, ch * m_l]`.

  Stage-1 building blocks (ResBlock, Downsample, AttnBlock); `len(ch_mult)` levels as in the
  stage-1 decoder, so level l has the resolution of the decoder's level l.
  """

  ch: int
  ch_mult: tuple[int, ...]
  max_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> list[Array]:
    kw = dict(max_groups=self.max_groups, dtype=self.dtype)
    h = nn.Conv(self.ch, (3, 3), dtype=self.dtype, name="conv_in")(x.astype(self.dtype))
    feats = []
    last = len(self.ch_mult) - 1
    for level, mult in enumerate(self.ch_mult):
      h = ResBlock(self.ch * mult, name=f"res{level}", **kw)(h)
      if level == last:
        h = AttnBlock(1, name="attn", **kw)(h)
      feats.append(h)
      if level != last:
        h = Downsample(self.dtype, name=f"down{level}")(h)
    return feats


class FlowNet(nn.Module):
  """W's flow predictor: features `[B, h, w, C]` + motion `[B, M]` -> flow `[B, h, w, 2]` (pixels).

  conv3x3 -> `layers` x (AdaIN(m), LeakyReLU, conv3x3, residual) -> conv3x3 to 2 channels,
  zero-initialised, so an untrained module predicts zero flow (the identity warp).
  """

  width: int = 64
  layers: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats: Array, motion: Array) -> Array:
    h = nn.Conv(self.width, (3, 3), dtype=self.dtype, name="conv_in")(feats)
    for i in range(self.layers):
      y = nn.leaky_relu(AdaIN(dtype=self.dtype, name=f"adain{i}")(h, motion), 0.2)
      h = h + nn.Conv(self.width, (3, 3), dtype=self.dtype, name=f"conv{i}")(y)
    h = nn.leaky_relu(h, 0.2)
    flow = nn.Conv(2, (3, 3), kernel_init=nn.initializers.zeros, dtype=self.dtype, name="out")(h)
    return flow.astype(jnp.float32)


class TransformerBlock(nn.Module):
  """Pre-LayerNorm self-attention + MLP block over tokens `[B, N, E]`."""

  num_heads: int
  mlp_ratio: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    e = x.shape[-1]
    h = nn.LayerNorm(dtype=self.dtype, name="ln1")(x)
    x = x + nn.MultiHeadDotProductAttention(
      num_heads=self.num_heads, dtype=self.dtype, deterministic=True, name="attn"
    )(h, h)
    h = nn.LayerNorm(dtype=self.dtype, name="ln2")(x)
    h = nn.Dense(self.mlp_ratio * e, dtype=self.dtype, name="mlp_in")(h)
    return x + nn.Dense(e, dtype=self.dtype, name="mlp_out")(nn.gelu(h))


class MHCA(nn.Module):
  """Motion-aware target tokens `[B, N, E]` query identity tokens `[B, N, E]`; AdaIN by motion."""

  num_heads: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, target: Array, identity: Array, motion: Array) -> Array:
    q = nn.LayerNorm(dtype=self.dtype, name="ln_q")(target)
    kv = nn.LayerNorm(dtype=self.dtype, name="ln_kv")(identity)
    h = target + nn.MultiHeadDotProductAttention(
      num_heads=self.num_heads, dtype=self.dtype, deterministic=True, name="attn"
    )(q, kv)
    return AdaIN(dtype=self.dtype, name="adain")(h, motion)


class CFT(nn.Module):
  """CodeFormer's controllable feature transformation at one decoder level.

  `dec + w * (dec * scale + shift)` with `scale, shift = conv(lrelu(conv(ResBlock([enc, dec]))))`;
  `enc [B, H, W, C_e]`, `dec [B, H, W, C_d]`, `w` scalar or `[B]`.
  """

  channels: int
  max_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, enc: Array, dec: Array, w: Array) -> Array:
    c = self.channels
    h = jnp.concatenate([enc.astype(self.dtype), dec.astype(self.dtype)], axis=-1)
    h = ResBlock(c, self.max_groups, self.dtype, name="res")(h)

    def branch(name):
      y = nn.Conv(c, (3, 3), dtype=self.dtype, name=f"{name}0")(h)
      return nn.Conv(c, (3, 3), dtype=self.dtype, name=f"{name}1")(nn.leaky_relu(y, 0.2))

    scale, shift = branch("scale"), branch("shift")
    w = jnp.asarray(w, jnp.float32)
    w = jnp.broadcast_to(w.reshape((-1, 1, 1, 1)) if w.ndim else w, (dec.shape[0], 1, 1, 1))
    return dec + w.astype(self.dtype) * (dec * scale + shift)
