"""Contact sheet of the synthetic world: identities (rows) x emotions (columns, intensity 3).

Each identity gets two rows: mouth closed and mouth open (jaw 0.8). Usage:

  python -m launch.world_preview --out sheet.png [--resolution 128] [--identities 4] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from flowvq_jax.core.constants import EMOTIONS, EXP_DIM, POSE_DIM
from flowvq_jax.world import SyntheticWorld, cues
from flowvq_jax.world import tables as tb


def contact_sheet(seed: int = 0, resolution: int = 128, identities: int = 4, first: int = 0):
  """uint8 [H, W, 3] sheet: 2 rows per identity (mouth closed / open) x 8 emotions."""
  world = SyntheticWorld(seed=seed, resolution=resolution)
  rows = []
  for i in range(first, first + identities):
    for jaw in (0.0, 0.8):
      exp = np.zeros((len(EMOTIONS), EXP_DIM), np.float32)
      for e in range(len(EMOTIONS)):
        exp[e] = cues.emotion_offset_vector(e)
      exp[:, tb.JAW] = jaw
      pose = np.zeros((len(EMOTIONS), POSE_DIM), np.float32)
      frames = world.render(i, exp, pose)
      rows.append(np.concatenate(list(frames), axis=1))
  sheet = np.concatenate(rows, axis=0)
  img = Image.fromarray(sheet)
  label_h = 14
  out = Image.new("RGB", (img.width, img.height + label_h), (255, 255, 255))
  out.paste(img, (0, label_h))
  draw = ImageDraw.Draw(out)
  for e, name in enumerate(EMOTIONS):
    draw.text((e * resolution + 3, 1), name, fill=(0, 0, 0))
  return np.asarray(out)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--out", required=True, help="output PNG path")
  p.add_argument("--resolution", type=int, default=128)
  p.add_argument("--identities", type=int, default=4)
  p.add_argument("--first", type=int, default=0, help="first identity index")
  p.add_argument("--seed", type=int, default=0, help="world seed")
  args = p.parse_args(argv)
  sheet = contact_sheet(args.seed, args.resolution, args.identities, args.first)
  Image.fromarray(sheet).save(args.out, optimize=True)
  print(f"wrote {args.out} ({sheet.shape[1]}x{sheet.shape[0]})")


if __name__ == "__main__":
  main()
