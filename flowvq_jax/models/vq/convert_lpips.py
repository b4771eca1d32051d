"""Converts torchvision VGG16 + LPIPS v0.1 weights into the `.npz` read by `vq/perceptual.py`.

Run by the user, where torch is available (torch is not a dependency of flowvq_jax; nothing in
the package or its tests imports this file):

  pip install torch torchvision            # plus `lpips`, or download LPIPS's vgg.pth
  python -m flowvq_jax.models.vq.convert_lpips --out vgg16_lpips.npz
  python -m flowvq_jax.models.vq.convert_lpips --out vgg16_lpips.npz \
      --lpips_pth weights/v0.1/vgg.pth
  python -m flowvq_jax.models.vq.convert_lpips --out vgg16_only.npz --no_lin

VGG16 comes from `torchvision.models.vgg16(weights=IMAGENET1K_V1)` (the network LPIPS uses).
The LPIPS v0.1 heads come from `--lpips_pth` (the `weights/v0.1/vgg.pth` file of the LPIPS
repository) or, without it, from the installed `lpips` package. Conv kernels are transposed
from torch's OIHW to Flax's HWIO; each head `lin{j}.model.1.weight [1, C, 1, 1]` becomes
`lin{j}/kernel [C]`. The written file is validated with `load_lpips_weights`.
"""

from __future__ import annotations

import argparse
import inspect
import os

import numpy as np

from flowvq_jax.models.vq.perceptual import LPIPS_CHANNELS, VGG16_LAYERS, load_lpips_weights

# Indices of the 13 conv layers inside torchvision's `vgg16().features`.
_TORCH_CONV_INDEX = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


def _lpips_state(lpips_pth: str | None):
  import torch  # noqa: PLC0415  (optional: PyTorch, only for this conversion)

  if lpips_pth:
    return torch.load(lpips_pth, map_location="cpu")
  import lpips  # noqa: PLC0415  (optional: the reference package ships weights/v0.1/vgg.pth)

  path = os.path.join(os.path.dirname(inspect.getfile(lpips)), "weights", "v0.1", "vgg.pth")
  return torch.load(path, map_location="cpu")


def arrays_from_torch(features, lin_state=None) -> dict:
  """Named float32 arrays from torchvision's `vgg16().features` and an LPIPS state dict.

  Args:
    features: the `features` Sequential of a torchvision VGG16.
    lin_state: mapping with `lin{j}.model.1.weight` tensors `[1, C, 1, 1]`, or None (no heads).
  """
  names = [layer[0] for layer in VGG16_LAYERS if layer != "pool"]
  arrays = {}
  for name, idx in zip(names, _TORCH_CONV_INDEX, strict=True):
    conv = features[idx]
    arrays[f"{name}/kernel"] = conv.weight.detach().cpu().numpy().transpose(2, 3, 1, 0)
    arrays[f"{name}/bias"] = conv.bias.detach().cpu().numpy()
  if lin_state is not None:
    for j, c in enumerate(LPIPS_CHANNELS):
      w = lin_state[f"lin{j}.model.1.weight"].detach().cpu().numpy().reshape(-1)
      if w.shape != (c,):
        raise ValueError(f"lin{j} has {w.shape[0]} channels, expected {c}.")
      arrays[f"lin{j}/kernel"] = w
  return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}


def convert(out: str, lpips_pth: str | None = None, with_lin: bool = True) -> None:
  """Writes and validates the weights `.npz` at `out`."""
  import torchvision  # noqa: PLC0415  (optional: PyTorch, only for this conversion)

  vgg = torchvision.models.vgg16(weights=torchvision.models.VGG16_Weights.IMAGENET1K_V1)
  arrays = arrays_from_torch(vgg.features, _lpips_state(lpips_pth) if with_lin else None)
  np.savez(out, **arrays)
  load_lpips_weights(out)  # validates what was written
  print(f"Wrote {len(arrays)} arrays to {out}.")


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="output .npz path")
  parser.add_argument("--lpips_pth", default=None, help="LPIPS v0.1 vgg.pth (else the lpips pkg)")
  parser.add_argument("--no_lin", action="store_true", help="VGG16 only, no LPIPS heads")
  args = parser.parse_args()
  convert(args.out, args.lpips_pth, with_lin=not args.no_lin)


if __name__ == "__main__":
  main()
