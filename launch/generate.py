r"""Talking-face videos from speech: `python -m launch.generate --checkpoints DIR --audio A
--image I --out OUT [options]`.

  python -m launch.generate --checkpoints ckpts --audio speech.m4a --image face.jpg \
      --emotion happy --intensity 2.5 --num_samples 3 --out out/

  --emotion 'neutral:0-2,happy:2-6'      an emotion schedule (seconds)
  --emotion_ref clip.npy | world:3:sad:7 emotion transfer from a reference clip
  --pose still | sampled | pose.npy      head pose: fixed, sampled, or followed from a file

Writes per sample OUT/NAME_i.mp4 (h264 with the input audio as AAC), NAME_i_exp.npy [T, 64]
and NAME_i_pose.npy [T, 6], and NAME_side_by_side.mp4 with several samples (NAME: --name, by
default the audio file's name). Any length of audio: frames are streamed into ffmpeg in blocks
of --chunk_frames. Bad input ends with one `error:` line on stderr and exit code 2; existing
outputs are never replaced without --overwrite. The pipeline is `flowvq_jax.inference`
(docs/generate.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from flowvq_jax.core.constants import EMOTIONS


class _UsageError(Exception):
  pass


class _Parser(argparse.ArgumentParser):
  def error(self, message):  # One line, no usage dump.
    raise _UsageError(message)


def _on_off(value: str) -> bool:
  v = value.strip().lower()
  if v in ("on", "true", "yes", "1"):
    return True
  if v in ("off", "false", "no", "0"):
    return False
  raise argparse.ArgumentTypeError(f"expected on or off, got {value!r}")


def make_parser() -> argparse.ArgumentParser:
  p = _Parser(
    prog="python -m launch.generate",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--checkpoints", required=True, help="checkpoints DIR (flowvq_jax/stages.py)")
  p.add_argument("--audio", required=True, help="wav, mp3, m4a, flac or a video's audio track")
  p.add_argument("--image", required=True, help="source face, png/jpg of any size")
  p.add_argument("--out", required=True, help="output directory")
  p.add_argument(
    "--emotion",
    default="neutral",
    help=f"one of {', '.join(EMOTIONS)}, or a schedule 'neutral:0-2,happy:2-6' (seconds)",
  )
  p.add_argument("--intensity", type=float, default=3.0, help="emotion level in [0, 3]")
  p.add_argument(
    "--emotion_ref",
    default=None,
    help="emotion transfer: a coefficient file (.npy/.mat) or world:IDENTITY:EMOTION[:SEED]",
  )
  p.add_argument("--pose", default="sampled", help="sampled, still, or a coefficient file")
  p.add_argument("--blink", type=_on_off, default=True, help="on (default) or off")
  p.add_argument("--temperature", type=float, default=1.0, help="latent noise scale (0: mode)")
  p.add_argument("--num_samples", type=int, default=1)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--fidelity", type=float, default=0.5, help="fusion weight w in [0, 1]")
  p.add_argument("--crop", default="auto", help="auto (face detection), none, or x,y,w,h")
  p.add_argument("--name", default=None, help="output file prefix (default: the audio's name)")
  p.add_argument("--overwrite", action="store_true", help="replace existing output files")
  p.add_argument("--chunk_frames", type=int, default=250, help="frames rendered per streamed block")
  p.add_argument("--quiet", action="store_true", help="no progress bar")
  return p


def run(args: argparse.Namespace) -> int:
  from flowvq_jax import inference  # noqa: PLC0415  (after argparse: no JAX for --help)

  t_start = time.perf_counter()
  name = args.name or os.path.splitext(os.path.basename(args.audio))[0] or "sample"
  options = dict(
    emotion=args.emotion, intensity=args.intensity, emotion_ref=args.emotion_ref, pose=args.pose,
    blink=args.blink, temperature=args.temperature, num_samples=args.num_samples,
    seed=args.seed, fidelity=args.fidelity, crop=args.crop,
  )  # fmt: skip
  if args.chunk_frames < 1:
    raise ValueError(f"--chunk_frames must be >= 1, got {args.chunk_frames}.")
  # Everything checkable without the model, before loading it; the outputs before any work.
  inference.check_options(**options)
  if not os.path.isfile(args.audio):
    raise FileNotFoundError(f"Audio file not found: {args.audio}")
  if not os.path.isfile(args.image):
    raise FileNotFoundError(f"Image file not found: {args.image}")
  paths = inference.output_paths(args.out, args.num_samples, name)
  inference.check_output_dir(args.out, paths, args.overwrite)
  t0 = time.perf_counter()
  talker = inference.load(args.checkpoints)
  load_s = time.perf_counter() - t0
  result = inference.generate_to_dir(
    talker, args.audio, args.image, args.out, overwrite=args.overwrite, name=name,
    chunk_frames=args.chunk_frames, progress=not args.quiet, **options,
  )  # fmt: skip
  t = result.timings
  n = len(result.paths["video"])
  secs = result.num_frames / result.fps
  print(f"wrote {n} sample(s) of {result.num_frames} frames ({secs:.1f} s at {result.fps} fps):")
  for key in ("video", "exp", "pose"):
    for p in result.paths[key]:
      print(f"  {p}")
  if result.paths["side_by_side"]:
    print(f"  {result.paths['side_by_side']}")
  if "emotion_ref" in result.info:
    print(f"emotion reference: {result.info['emotion_ref']}")
  print(
    f"time: loading {load_s:.1f} s, inputs {t['inputs']:.1f} s, coefficients "
    f"{t['coefficients']:.1f} s, rendering {t['rendering']:.1f} s, encoding "
    f"{t['encoding']:.1f} s; total {time.perf_counter() - t_start:.1f} s"
  )
  return 0


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  parser = make_parser()
  try:
    args = parser.parse_args(argv)
  except _UsageError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  try:
    return run(args)
  except (ValueError, FileNotFoundError, FileExistsError) as e:
    msg = " ".join(str(e).split())  # One line.
    print(f"error: {msg}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
