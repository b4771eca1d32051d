"""PatchGAN discriminator (taming-transformers' / pix2pix's NLayerDiscriminator) in Flax.

Layers (k=4 convs, padding 1): conv(ch, stride 2) + leaky ReLU(0.2); for n = 1..n_layers-1:
conv(ch * min(2^n, 8), stride 2) + norm + leaky ReLU; conv(ch * min(2^n_layers, 8), stride 1)
+ norm + leaky ReLU; conv(1, stride 1). With n_layers=3 a `[B, 256, 256, 3]` image gives
`[B, 30, 30, 1]` patch logits; each logit sees a 70x70 receptive field.

Normalisation: taming uses BatchNorm, whose running statistics make the discriminator impure
(a mutable `batch_stats` collection, different train/eval behaviour, and statistics coupled
across real and fake batches). Here `norm='group'` (GroupNorm, the default: per-example, no
state) or `norm='none'`; apply is a pure function of params and inputs. Conv kernels are
initialised N(0, 0.02) as in taming's `weights_init`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from flowvq_jax.models.vq.autoencoder import as_dtype, num_groups

Array = jax.Array


class PatchDiscriminator(nn.Module):
  """Images `[B, H, W, C]` in [-1, 1] -> patch logits `[B, H', W', 1]` (float32).

  Attributes:
    ch: channels of the first layer (taming: 64).
    n_layers: number of stride-2 convs (taming: 3).
    norm: 'group' (GroupNorm, up to 32 groups) or 'none'.
    dtype: compute dtype; params float32, logits returned in float32.
  """

  ch: int = 64
  n_layers: int = 3
  norm: str = "group"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> Array:
    if self.norm not in ("group", "none"):
      raise ValueError(f"PatchDiscriminator norm must be 'group' or 'none', got {self.norm!r}.")
    if x.ndim != 4:
      raise ValueError(f"PatchDiscriminator expects NHWC images [B, H, W, C], got {x.shape}.")
    if self.n_layers < 1:
      raise ValueError(f"n_layers must be >= 1, got {self.n_layers}.")
    init = nn.initializers.normal(0.02)
    conv = lambda c, s, name, bias=True: nn.Conv(
      c,
      (4, 4),
      strides=(s, s),
      padding=((1, 1), (1, 1)),
      use_bias=bias,
      kernel_init=init,
      dtype=self.dtype,
      name=name,
    )

    def norm_act(h: Array, name: str) -> Array:
      if self.norm == "group":
        h = nn.GroupNorm(num_groups(h.shape[-1]), epsilon=1e-5, dtype=self.dtype, name=name)(h)
      return nn.leaky_relu(h, 0.2)

    use_bias = self.norm == "none"  # taming drops the conv bias before a norm layer.
    h = nn.leaky_relu(conv(self.ch, 2, "conv0")(x.astype(self.dtype)), 0.2)
    for n in range(1, self.n_layers):
      h = conv(self.ch * min(2**n, 8), 2, f"conv{n}", use_bias)(h)
      h = norm_act(h, f"norm{n}")
    n = self.n_layers
    h = conv(self.ch * min(2**n, 8), 1, f"conv{n}", use_bias)(h)
    h = norm_act(h, f"norm{n}")
    return conv(1, 1, "conv_out")(h).astype(jnp.float32)


def make_discriminator(disc_config: Any) -> PatchDiscriminator:
  """`PatchDiscriminator` from `default_config(...).discriminator` (in_channels is informative)."""
  kw = disc_config.to_dict() if hasattr(disc_config, "to_dict") else dict(disc_config)
  kw.pop("in_channels", None)
  kw["dtype"] = as_dtype(kw.get("dtype", "float32"))
  try:
    return PatchDiscriminator(**kw)
  except TypeError as e:
    raise ValueError(f"Bad discriminator config: {e}") from e
