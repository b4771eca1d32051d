"""Builds a dataset: synthetic talking faces, or MEAD / HDTF from a manual directory.

  python -m launch.prepare_data --dataset synthetic_talking_faces/tiny --data_dir ~/flowvq_data
  python -m launch.prepare_data --dataset mead/res256 --data_dir ~/flowvq_data \
      --manual_dir ~/MEAD [--crop x,y,w,h | --crop full]

See docs/data.md for the layouts and the dataset configs.
"""

from __future__ import annotations

import argparse
import sys
import time

from flowvq_jax.data import builders


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument(
    "--dataset", required=True, help="<dataset>/<config>, e.g. synthetic_talking_faces/tiny"
  )
  parser.add_argument("--data_dir", required=True, help="where prepared datasets are stored")
  parser.add_argument("--manual_dir", default=None, help="MEAD / HDTF: the downloaded videos")
  parser.add_argument(
    "--crop", default=None, help="MEAD / HDTF: haar (default), full, or x,y,w,h in pixels"
  )
  args = parser.parse_args(argv)
  start = time.perf_counter()
  try:
    builder = builders.prepare(args.dataset, args.data_dir, args.manual_dir, crop=args.crop)
  except (ValueError, FileNotFoundError) as e:
    print("error: " + " | ".join(str(e).splitlines()), file=sys.stderr)
    return 2
  print(builders.describe(builder))
  print(f"  build time: {time.perf_counter() - start:.1f} s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
