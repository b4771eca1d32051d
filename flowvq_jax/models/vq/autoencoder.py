"""VQGAN-style convolutional autoencoder (stage 1 of the VQ image generator).

Encoder: conv_in -> per level `num_res_blocks` residual blocks (GroupNorm + swish), downsampling
by 2 between levels -> mid (res, self-attention, res) -> GroupNorm, swish, conv to `code_dim`
-> 1x1 `quant_conv` -> vector quantizer. The decoder mirrors it with nearest-neighbour
upsampling and `num_res_blocks + 1` blocks per level; self-attention runs at the lowest
resolution (the mid block and the blocks of the deepest level). The downsampling factor is
`2 ** (len(ch_mult) - 1)`: a `[B, 256, 256, 3]` image with `ch_mult=(1, 1, 2, 2, 4)` becomes
`[B, 16, 16]` code indices.

Images are NHWC float in [-1, 1]. Params are float32; `dtype` sets the compute dtype (bf16 on
accelerators); the quantizer's lookup and losses stay float32.

`default_config(size)` gives the model-level configs ('tiny', 'synthetic', 'ffhq_mead',
'taming_faceshq'); `make_autoencoder(config.model)` builds the module.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from flowvq_jax.models.vq.quantizer import VectorQuantizer

Array = jax.Array

# Path of the decoder's last layer kernel in the autoencoder's params (for the adaptive weight).
LAST_LAYER = ("decoder", "conv_out", "kernel")

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


def as_dtype(dtype: Any) -> Any:
  """'float32' / 'bfloat16' / 'float16' or a dtype -> a jnp dtype."""
  if isinstance(dtype, str):
    if dtype not in _DTYPES:
      raise ValueError(f"Unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}.")
    return _DTYPES[dtype]
  return dtype


def num_groups(channels: int, max_groups: int = 32) -> int:
  """Largest divisor of `channels` not above `max_groups` (32 groups as in taming when possible)."""
  for g in range(min(max_groups, channels), 0, -1):
    if channels % g == 0:
      return g
  return 1


def _norm(channels: int, max_groups: int, dtype: Any, name: str | None = None) -> nn.GroupNorm:
  groups = num_groups(channels, max_groups)
  return nn.GroupNorm(num_groups=groups, epsilon=1e-6, dtype=dtype, name=name)


class ResBlock(nn.Module):
  """GroupNorm -> swish -> conv3x3, twice, plus a (1x1-projected) shortcut. `[B, H, W, C]`."""

  out_ch: int
  max_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    h = nn.swish(_norm(x.shape[-1], self.max_groups, self.dtype, "norm1")(x))
    h = nn.Conv(self.out_ch, (3, 3), dtype=self.dtype, name="conv1")(h)
    h = nn.swish(_norm(self.out_ch, self.max_groups, self.dtype, "norm2")(h))
    h = nn.Conv(self.out_ch, (3, 3), dtype=self.dtype, name="conv2")(h)
    if x.shape[-1] != self.out_ch:
      x = nn.Conv(self.out_ch, (1, 1), dtype=self.dtype, name="shortcut")(x)
    return x + h


class AttnBlock(nn.Module):
  """Multi-head self-attention over all H*W positions, pre-GroupNorm, residual. `[B, H, W, C]`."""

  num_heads: int = 1
  max_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    b, hh, ww, c = x.shape
    h = _norm(c, self.max_groups, self.dtype, "norm")(x).reshape(b, hh * ww, c)
    h = nn.MultiHeadDotProductAttention(
      num_heads=self.num_heads, dtype=self.dtype, deterministic=True, name="attn"
    )(h, h)
    return x + h.reshape(b, hh, ww, c)


class Downsample(nn.Module):
  """Stride-2 3x3 conv, taming's asymmetric (0, 1) padding. `[B, H, W, C] -> [B, H/2, W/2, C]`."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    return nn.Conv(x.shape[-1], (3, 3), strides=(2, 2), padding="VALID", dtype=self.dtype)(x)


class Upsample(nn.Module):
  """Nearest-neighbour x2 then 3x3 conv. `[B, H, W, C] -> [B, 2H, 2W, C]`."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    return nn.Conv(x.shape[-1], (3, 3), dtype=self.dtype)(x)


class Encoder(nn.Module):
  """Images `[B, H, W, in_ch]` -> features `[B, H/f, W/f, out_ch]`, f = 2^(len(ch_mult)-1)."""

  ch: int
  ch_mult: tuple[int, ...]
  num_res_blocks: int
  out_ch: int
  attn_heads: int = 1
  max_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    kw = dict(max_groups=self.max_groups, dtype=self.dtype)
    h = nn.Conv(self.ch, (3, 3), dtype=self.dtype, name="conv_in")(x.astype(self.dtype))
    last = len(self.ch_mult) - 1
    for level, mult in enumerate(self.ch_mult):
      for i in range(self.num_res_blocks):
        h = ResBlock(self.ch * mult, name=f"down{level}_res{i}", **kw)(h)
        if level == last:
          h = AttnBlock(self.attn_heads, name=f"down{level}_attn{i}", **kw)(h)
      if level != last:
        h = Downsample(self.dtype, name=f"down{level}_sample")(h)
    c = h.shape[-1]
    h = ResBlock(c, name="mid_res0", **kw)(h)
    h = AttnBlock(self.attn_heads, name="mid_attn", **kw)(h)
    h = ResBlock(c, name="mid_res1", **kw)(h)
    h = nn.swish(_norm(c, self.max_groups, self.dtype, "norm_out")(h))
    return nn.Conv(self.out_ch, (3, 3), dtype=self.dtype, name="conv_out")(h)


class Decoder(nn.Module):
  """Features `[B, h, w, C]` -> images `[B, h*f, w*f, out_ch]` (mirror of `Encoder`).

  `features` returns the activations that enter the last layer (`conv_out`); the VQGAN adaptive
  weight differentiates through that layer only (see `apply_last_layer`).
  """

  ch: int
  ch_mult: tuple[int, ...]
  num_res_blocks: int
  out_ch: int = 3
  attn_heads: int = 1
  max_groups: int = 32
  dtype: Any = jnp.float32

  def setup(self):
    kw = dict(max_groups=self.max_groups, dtype=self.dtype)
    top = self.ch * self.ch_mult[-1]
    self.conv_in = nn.Conv(top, (3, 3), dtype=self.dtype)
    self.mid_res0 = ResBlock(top, **kw)
    self.mid_attn = AttnBlock(self.attn_heads, **kw)
    self.mid_res1 = ResBlock(top, **kw)
    blocks = []
    last = len(self.ch_mult) - 1
    for level in reversed(range(len(self.ch_mult))):
      layers = []
      for _ in range(self.num_res_blocks + 1):
        layers.append(ResBlock(self.ch * self.ch_mult[level], **kw))
        if level == last:
          layers.append(AttnBlock(self.attn_heads, **kw))
      if level != 0:
        layers.append(Upsample(self.dtype))
      blocks.append(layers)
    self.blocks = blocks
    self.norm_out = _norm(self.ch * self.ch_mult[0], self.max_groups, self.dtype)
    self.conv_out = nn.Conv(self.out_ch, (3, 3), dtype=self.dtype)

  def features(self, z: Array) -> Array:
    """`[B, h, w, C]` -> `[B, H, W, ch * ch_mult[0]]`, the input of `conv_out`."""
    h = self.conv_in(z.astype(self.dtype))
    h = self.mid_res1(self.mid_attn(self.mid_res0(h)))
    for layers in self.blocks:
      for layer in layers:
        h = layer(h)
    return nn.swish(self.norm_out(h))

  def __call__(self, z: Array) -> Array:
    return self.conv_out(self.features(z))


def apply_last_layer(
  features: Array, kernel: Array, bias: Array, dtype: Any = jnp.float32
) -> Array:
  """The decoder's `conv_out` (3x3, SAME) as a pure function of its kernel `[3, 3, C, out]`.

  Equal to `Decoder.conv_out(features)`; lets a loss be differentiated wrt the last-layer kernel
  without re-running the decoder (VQGAN adaptive weight).
  """
  y = jax.lax.conv_general_dilated(
    features.astype(dtype),
    kernel.astype(dtype),
    window_strides=(1, 1),
    padding="SAME",
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )
  return y + bias.astype(dtype)


class VQAutoencoder(nn.Module):
  """Encoder -> 1x1 quant_conv -> VectorQuantizer -> 1x1 post_quant_conv -> Decoder.

  Attributes mirror `default_config(...).model`; see `VectorQuantizer` for the codebook ones.
  """

  ch: int = 128
  ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
  num_res_blocks: int = 2
  in_channels: int = 3
  code_dim: int = 256
  num_codes: int = 1024
  beta: float = 0.25
  l2_normalize: bool = False
  lookup_dim: int | None = None
  use_ema: bool = False
  ema_decay: float = 0.99
  restart_dead_codes: bool = True
  dead_code_threshold: float = 1e-2
  codebook_init: str = "normal"
  attn_heads: int = 1
  norm_groups: int = 32
  dtype: Any = jnp.float32

  @property
  def downsample_factor(self) -> int:
    return 2 ** (len(self.ch_mult) - 1)

  def setup(self):
    kw = dict(
      ch=self.ch,
      ch_mult=tuple(self.ch_mult),
      num_res_blocks=self.num_res_blocks,
      attn_heads=self.attn_heads,
      max_groups=self.norm_groups,
      dtype=self.dtype,
    )
    self.encoder = Encoder(out_ch=self.code_dim, **kw)
    self.quant_conv = nn.Conv(self.code_dim, (1, 1), dtype=self.dtype)
    self.quantizer = VectorQuantizer(
      num_codes=self.num_codes,
      code_dim=self.code_dim,
      beta=self.beta,
      l2_normalize=self.l2_normalize,
      lookup_dim=self.lookup_dim,
      use_ema=self.use_ema,
      ema_decay=self.ema_decay,
      restart_dead_codes=self.restart_dead_codes,
      dead_code_threshold=self.dead_code_threshold,
      codebook_init=self.codebook_init,
      dtype=self.dtype,
    )
    self.post_quant_conv = nn.Conv(self.code_dim, (1, 1), dtype=self.dtype)
    self.decoder = Decoder(out_ch=self.in_channels, **kw)

  def _check_images(self, x: Array) -> None:
    f = self.downsample_factor
    if x.ndim != 4 or x.shape[-1] != self.in_channels:
      raise ValueError(f"Expected NHWC images [B, H, W, {self.in_channels}], got shape {x.shape}.")
    if x.shape[1] % f or x.shape[2] % f:
      raise ValueError(
        f"Image height and width must be multiples of the downsampling factor {f} "
        f"(ch_mult={tuple(self.ch_mult)}), got {x.shape[1]}x{x.shape[2]}."
      )

  def encode_pre_quant(self, x: Array) -> Array:
    """Images `[B, H, W, 3]` in [-1, 1] -> continuous latents `[B, H/f, W/f, code_dim]`."""
    self._check_images(x)
    return self.quant_conv(self.encoder(x))

  def encode(self, x: Array, train: bool = False) -> tuple[Array, dict[str, Array]]:
    """Images `[B, H, W, 3]` -> `(quantized [B, H/f, W/f, code_dim], quantizer aux)`."""
    return self.quantizer(self.encode_pre_quant(x), train=train)

  def decode_features(self, quantized: Array) -> Array:
    """Quantized latents -> the decoder's last-layer input `[B, H, W, ch * ch_mult[0]]`."""
    return self.decoder.features(self.post_quant_conv(quantized))

  def decode(self, quantized: Array) -> Array:
    """Quantized latents `[B, h, w, code_dim]` -> images `[B, h*f, w*f, 3]` (compute dtype)."""
    return self.decoder(self.post_quant_conv(quantized))

  def encode_to_indices(self, x: Array) -> Array:
    """Images `[B, H, W, 3]` -> code indices `[B, H/f, W/f]` (int32). No EMA update."""
    _, aux = self.encode(x, train=False)
    return aux["indices"]

  def lookup(self, indices: Array) -> Array:
    """Code indices `[B, h, w]` -> quantized latents `[B, h, w, code_dim]`."""
    if not jnp.issubdtype(indices.dtype, jnp.integer):
      raise ValueError(f"Code indices must be integers, got dtype {indices.dtype}.")
    return self.quantizer.lookup(indices)

  def decode_from_indices(self, indices: Array) -> Array:
    """Code indices `[B, h, w]` -> images `[B, h*f, w*f, 3]`."""
    return self.decode(self.lookup(indices))

  def __call__(self, x: Array, train: bool = False) -> tuple[Array, dict[str, Array]]:
    """Images `[B, H, W, 3]` -> `(reconstructions [B, H, W, 3], quantizer aux)`."""
    quantized, aux = self.encode(x, train=train)
    return self.decode(quantized), aux


_SIZES = {
  # image_size, ch, ch_mult, num_res_blocks, num_codes, code_dim, l2, lookup_dim, init, disc (ch, n)
  "tiny": (32, 16, (1, 2, 2), 1, 64, 16, True, 8, "normal", (16, 2)),
  "synthetic": (128, 64, (1, 1, 2, 4), 1, 1024, 256, True, 32, "normal", (64, 3)),
  "ffhq_mead": (256, 128, (1, 1, 2, 2, 4), 2, 1024, 256, True, None, "normal", (64, 3)),
  "taming_faceshq": (256, 128, (1, 1, 2, 2, 4), 2, 1024, 256, False, None, "uniform", (64, 3)),
}
_DISC_START = {"tiny": 50, "synthetic": 5_000, "ffhq_mead": 30_001, "taming_faceshq": 30_001}


def default_config(size: str = "synthetic") -> ml_collections.ConfigDict:
  """Model-level config of stage 1: `image_size`, `model`, `discriminator`, `loss`.

  Sizes: 'tiny' (32 px, seconds on CPU, for tests), 'synthetic' (128 px, 16x16 tokens),
  'ffhq_mead' (256 px paper setting, 1024 x 256 codebook, 16x16 tokens, cosine lookup),
  'taming_faceshq' (taming-transformers' FacesHQ VQGAN: 256 px, ch 128, ch_mult (1,1,2,2,4),
  1024 x 256 codebook, 3-layer PatchGAN, disc_start 30001, disc_weight 0.8; beta placed as in
  the VQ-VAE paper, not taming's swap).
  """
  if size not in _SIZES:
    raise ValueError(f"Unknown stage-1 size {size!r}; expected one of {sorted(_SIZES)}.")
  res, ch, mult, nres, k, d, l2, lookup, init, (dch, dn) = _SIZES[size]
  c = ml_collections.ConfigDict()
  c.image_size = res
  c.model = ml_collections.ConfigDict(
    dict(
      ch=ch,
      ch_mult=mult,
      num_res_blocks=nres,
      in_channels=3,
      code_dim=d,
      num_codes=k,
      beta=0.25,
      l2_normalize=l2,
      lookup_dim=ml_collections.config_dict.placeholder(int) if lookup is None else lookup,
      use_ema=False,
      ema_decay=0.99,
      restart_dead_codes=True,
      dead_code_threshold=1e-2,
      codebook_init=init,
      attn_heads=1,
      norm_groups=32,
      dtype="float32",
    )
  )
  c.discriminator = ml_collections.ConfigDict(
    dict(ch=dch, n_layers=dn, norm="group", in_channels=3, dtype="float32")
  )
  c.loss = ml_collections.ConfigDict(
    dict(
      l1_weight=1.0,
      perceptual_weight=1.0,
      # .npz of VGG16 (+ LPIPS heads) weights; unset -> MS-SSIM + gradient-L1 fallback.
      perceptual_weights=ml_collections.config_dict.placeholder(str),
      codebook_weight=1.0,
      disc_weight=0.8,
      disc_factor=1.0,
      disc_start=_DISC_START[size],
      adaptive_weight_max=1e4,
    )
  )
  return c


def make_autoencoder(model_config: Any) -> VQAutoencoder:
  """`VQAutoencoder` from `default_config(...).model` (a ConfigDict or a dict)."""
  kw = model_config.to_dict() if hasattr(model_config, "to_dict") else dict(model_config)
  kw["ch_mult"] = tuple(kw["ch_mult"])
  kw["dtype"] = as_dtype(kw.get("dtype", "float32"))
  try:
    return VQAutoencoder(**kw)
  except TypeError as e:
    raise ValueError(f"Bad stage-1 model config: {e}") from e


def tokens_per_side(image_size: int, model_config: Any) -> int:
  """Code grid side for `image_size` (e.g. 256 -> 16 with five levels)."""
  f = 2 ** (len(model_config["ch_mult"]) - 1)
  if image_size % f:
    raise ValueError(f"image_size {image_size} is not a multiple of the downsampling factor {f}.")
  return image_size // f


def param_count(tree: Any) -> int:
  """Number of scalars in a pytree of arrays or ShapeDtypeStructs."""
  return sum(math.prod(x.shape) for x in jax.tree_util.tree_leaves(tree))
