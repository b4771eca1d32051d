"""Perceptual loss: LPIPS-style VGG16 feature distance from a user-given weights file.

Pretrained VGG16 weights cannot be downloaded by this package. The user supplies an `.npz`
file with these named arrays (float32, Flax layouts):

  conv{b}_{i}/kernel  [3, 3, C_in, C_out]  (HWIO)     the 13 conv layers of VGG16 `features`
  conv{b}_{i}/bias    [C_out]                          conv1_1 ... conv5_3
  lin{j}/kernel       [C_j], C = 64, 128, 256, 512, 512 optional LPIPS v0.1 linear heads,
                                                      all five or none

`flowvq_jax/models/vq/convert_lpips.py` writes that file from torchvision's VGG16 and the LPIPS v0.1
heads (run it where torch is installed; see docs/vq.md).

The distance follows LPIPS (Zhang et al., 2018): inputs in [-1, 1] are shifted/scaled by
LPIPS's ScalingLayer, the activations relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 are unit-
normalised over channels, their squared difference is weighted per channel by the linear heads
(summed over channels when there are none, LPIPS's `lpips=False` baseline), averaged over
space and summed over the five layers.

Without a weights file, `make_perceptual_loss(None)` logs a warning and falls back to
`(1 - multi-scale SSIM) + image-gradient L1` (dm-pix SSIM averaged over up to three scales;
not Wang et al.'s MS-SSIM product, and not comparable to LPIPS values).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

import dm_pix
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
PerceptualFn = Callable[[Array, Array], Array]

# (name, C_in, C_out); "pool" is a 2x2 max pool.
VGG16_LAYERS: tuple[Any, ...] = (
  ("conv1_1", 3, 64),
  ("conv1_2", 64, 64),
  "pool",
  ("conv2_1", 64, 128),
  ("conv2_2", 128, 128),
  "pool",
  ("conv3_1", 128, 256),
  ("conv3_2", 256, 256),
  ("conv3_3", 256, 256),
  "pool",
  ("conv4_1", 256, 512),
  ("conv4_2", 512, 512),
  ("conv4_3", 512, 512),
  "pool",
  ("conv5_1", 512, 512),
  ("conv5_2", 512, 512),
  ("conv5_3", 512, 512),
)
LPIPS_TAPS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
_CONVERT_HINT = (
  "Create it with `python -m flowvq_jax.models.vq.convert_lpips --out vgg16_lpips.npz` where torch "
  "and torchvision are installed (see docs/vq.md), or pass no weights to use the "
  "SSIM + gradient fallback."
)


def expected_shapes(with_lin: bool = True) -> dict[str, tuple[int, ...]]:
  """Name -> shape of every array the weights file must hold."""
  shapes: dict[str, tuple[int, ...]] = {}
  for layer in VGG16_LAYERS:
    if layer == "pool":
      continue
    name, cin, cout = layer
    shapes[f"{name}/kernel"] = (3, 3, cin, cout)
    shapes[f"{name}/bias"] = (cout,)
  if with_lin:
    for j, c in enumerate(LPIPS_CHANNELS):
      shapes[f"lin{j}/kernel"] = (c,)
  return shapes


class VGG16Features(nn.Module):
  """VGG16 conv trunk. Images `[B, H, W, 3]` (already LPIPS-scaled) -> the five LPIPS taps.

  Returns a list of `[B, H / 2^j, W / 2^j, C_j]` post-ReLU activations, j = 0..4.
  """

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array) -> list[Array]:
    taps = []
    h = x.astype(self.dtype)
    for layer in VGG16_LAYERS:
      if layer == "pool":
        h = nn.max_pool(h, (2, 2), strides=(2, 2), padding="VALID")
        continue
      name, _, cout = layer
      h = nn.relu(nn.Conv(cout, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype, name=name)(h))
      if name in LPIPS_TAPS:
        taps.append(h)
    return taps


def load_lpips_weights(path: str) -> dict[str, Any]:
  """Reads and validates a weights `.npz`.

  Returns:
    `{'vgg': Flax params of VGG16Features, 'lin': list of five [C_j] arrays or None}`.

  Raises:
    FileNotFoundError: no file at `path`.
    ValueError: not a readable .npz, missing/unknown names, wrong shapes, partial heads.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Perceptual loss weights file not found: {path!r}. {_CONVERT_HINT}")
  try:
    with np.load(path, allow_pickle=False) as f:
      arrays = {k: np.asarray(f[k]) for k in f.files}
  except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message.
    raise ValueError(f"{path!r} is not a readable .npz weights file ({e}). {_CONVERT_HINT}") from e
  lin_names = {k for k in arrays if k.startswith("lin")}
  with_lin = bool(lin_names)
  want = expected_shapes(with_lin)
  problems = []
  missing = sorted(set(want) - set(arrays))
  if missing:
    problems.append(f"missing arrays {missing}")
  unknown = sorted(set(arrays) - set(want))
  if unknown:
    problems.append(f"unknown arrays {unknown}")
  for name, shape in want.items():
    if name in arrays and arrays[name].shape != shape:
      problems.append(f"{name} has shape {arrays[name].shape}, expected {shape}")
  if problems:
    raise ValueError(
      f"Malformed perceptual weights file {path!r}: " + "; ".join(problems) + f". {_CONVERT_HINT}"
    )
  vgg: dict[str, dict[str, Array]] = {}
  for name, arr in arrays.items():
    if name.startswith("conv"):
      layer, kind = name.split("/")
      vgg.setdefault(layer, {})[kind] = jnp.asarray(arr, jnp.float32)
  lin = None
  if with_lin:
    lin = [jnp.asarray(arrays[f"lin{j}/kernel"], jnp.float32) for j in range(len(LPIPS_CHANNELS))]
  return {"vgg": vgg, "lin": lin}


def _unit(f: Array, eps: float = 1e-10) -> Array:
  return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + eps)


def lpips_distance(weights: dict[str, Any], x: Array, y: Array, dtype: Any = jnp.float32) -> Array:
  """LPIPS-style distance of images `[B, H, W, 3]` in [-1, 1]; returns `[B]` float32."""
  if x.shape != y.shape or x.ndim != 4 or x.shape[-1] != 3:
    raise ValueError(f"Expected two [B, H, W, 3] images of equal shape, got {x.shape}, {y.shape}.")
  b = x.shape[0]
  inp = (jnp.concatenate([x, y], axis=0).astype(jnp.float32) - _SHIFT) / _SCALE
  taps = VGG16Features(dtype=dtype).apply({"params": weights["vgg"]}, inp)
  total = jnp.zeros((b,), jnp.float32)
  for j, f in enumerate(taps):
    f = f.astype(jnp.float32)
    d = jnp.square(_unit(f[:b]) - _unit(f[b:]))
    d = d @ weights["lin"][j] if weights["lin"] is not None else jnp.sum(d, axis=-1)
    total = total + jnp.mean(d, axis=(1, 2))
  return total


def multiscale_ssim(x: Array, y: Array, num_scales: int = 3) -> Array:
  """Mean dm-pix SSIM over up to `num_scales` 2x-downsampled scales (side >= 8). `[B]`.

  Images `[B, H, W, C]` in [-1, 1]; the filter shrinks to the image on small scales.
  """
  x = (x.astype(jnp.float32) + 1.0) / 2.0
  y = (y.astype(jnp.float32) + 1.0) / 2.0
  values = []
  for s in range(num_scales):
    side = min(x.shape[1], x.shape[2])
    if s > 0 and side < 8:
      break
    size = min(11, side - (1 - side % 2))  # odd, at most the image side
    values.append(dm_pix.ssim(x, y, max_val=1.0, filter_size=size))
    if min(x.shape[1], x.shape[2]) >= 2:
      x = nn.avg_pool(x, (2, 2), strides=(2, 2))
      y = nn.avg_pool(y, (2, 2), strides=(2, 2))
  return jnp.mean(jnp.stack(values), axis=0)


def gradient_l1(x: Array, y: Array) -> Array:
  """L1 between the horizontal and vertical finite differences of `[B, H, W, C]` images. `[B]`."""
  x = x.astype(jnp.float32)
  y = y.astype(jnp.float32)
  dx = jnp.abs(jnp.diff(x, axis=2) - jnp.diff(y, axis=2)).mean(axis=(1, 2, 3))
  dy = jnp.abs(jnp.diff(x, axis=1) - jnp.diff(y, axis=1)).mean(axis=(1, 2, 3))
  return dx + dy


def ssim_gradient_loss(x: Array, y: Array) -> Array:
  """Fallback perceptual loss `(1 - multiscale_ssim) + gradient_l1`, `[B]` float32."""
  if x.shape != y.shape or x.ndim != 4:
    raise ValueError(f"Expected two [B, H, W, C] images of equal shape, got {x.shape}, {y.shape}.")
  return (1.0 - multiscale_ssim(x, y)) + gradient_l1(x, y)


def make_perceptual_loss(
  weights_path: str | None, dtype: Any = jnp.float32
) -> tuple[PerceptualFn, str]:
  """Perceptual loss `fn(x, y) -> [B]` (images `[B, H, W, 3]` in [-1, 1]) and a description.

  With a path, the file must exist and be valid (errors otherwise: a given path is never
  silently replaced). With None or '', a warning is logged and the SSIM + gradient fallback is
  returned.
  """
  if not weights_path:
    description = (
      "fallback perceptual loss: (1 - multi-scale SSIM) + image-gradient L1 "
      "(no VGG16/LPIPS weights given; values are not comparable to LPIPS)"
    )
    logging.warning(
      "No perceptual loss weights file given: using the %s. For LPIPS, convert VGG16 + LPIPS "
      "weights with flowvq_jax/models/vq/convert_lpips.py and pass the .npz path.",
      description,
    )
    return ssim_gradient_loss, description
  weights = load_lpips_weights(weights_path)
  kind = (
    "LPIPS v0.1 (VGG16 + linear heads)"
    if weights["lin"] is not None
    else ("VGG16 feature distance (no LPIPS heads: channel sums)")
  )

  def fn(x: Array, y: Array) -> Array:
    return lpips_distance(weights, x, y, dtype)

  return fn, f"{kind} from {weights_path}"
