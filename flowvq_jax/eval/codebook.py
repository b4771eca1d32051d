r"""Evaluation of the stage-1 VQ codebook autoencoder on held-out identities.

  python -m launch.evaluate --stage vq --workdir RUN --out DIR [--data_dir DIR] [--split test]

Reads a `vq_codebook` training workdir (its `config.json` and latest checkpoint), reconstructs
every frame (or every `--frame_stride`-th) of the clips of `--split` (default `test`: identities
never seen in training) at the training resolution and reports

  psnr, ssim          mean over frames (dm-pix via `flowvq_jax.eval.metrics`, images in [0, 1])
  l1                  mean absolute error in [-1, 1] units
  code_usage          share of the K codes used at least once over all evaluated frames
  perplexity          exp(entropy) of the code histogram over all evaluated frames
  per_identity        {identity: frames, psnr, ssim}: where the mean comes from
  mouth               variance of the Laplacian of the mouth box (landmarks 48-67) on frames with
                      jaw_open > `--jaw_threshold` (teeth showing): reconstruction, ground truth
                      and their ratio (1 = as sharp as the input)

It prints the numbers, writes `DIR/vq_eval.json`, `DIR/vq_grid.png` (inputs above their
reconstructions: the most open-mouthed frame of each of the first clips) and the same grid plus
the scalars as a TensorBoard summary under `DIR/tensorboard`. Targets (the `synthetic` config):
PSNR >= 28 dB, SSIM >= 0.90, code usage >= 0.5; `targets_met` in the JSON says which hold.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from flowvq_jax.data import clip_layout, sources, transforms
from flowvq_jax.eval import metrics
from flowvq_jax.models.vq import quantizer
from flowvq_jax.stages import vq_codebook as codebook_stage
from flowvq_jax.train import metrics as metrics_lib
from flowvq_jax.train.tasks import vq_codebook as task
from flowvq_jax.world.tables import JAW

TARGETS = {"psnr": 28.0, "ssim": 0.90, "code_usage": 0.5}


def load_run(workdir: str, step: int | None = None, use_ema: bool = False):
  """`(config, params, extra, step)` of a vq_codebook run (`flowvq_jax.stages.vq_codebook`)."""
  run = codebook_stage.load(workdir, step, use_ema)
  return run.config, run.params, run.extra, run.step


def _frames(source, size: int, stride: int, max_frames: int):
  """Yields `(clip index, identity, uint8 frames [n, S, S, 3], landmarks [n, 68, 2], jaw [n])`
  per clip."""

  total = 0
  for c in range(len(source)):
    clip = source[c]
    frames = np.asarray(clip["frames"])[::stride]
    if max_frames:
      frames = frames[: max_frames - total]
    n = frames.shape[0]
    if n == 0:
      break
    scale = size / frames.shape[2]
    lms = np.asarray(clip["landmarks"], np.float32)[::stride][:n] * scale
    jaw = np.asarray(clip["exp"], np.float32)[::stride][:n, JAW]
    frames = transforms.resize_frames(frames.astype(np.uint8), size)
    yield c, int(clip["identity"]), frames, lms, jaw
    total += n
    if max_frames and total >= max_frames:
      break


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.clip(np.round((np.asarray(x, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def evaluate(
  config: ml_collections.ConfigDict,
  params: Any,
  extra: Any,
  source,
  *,
  batch_size: int = 16,
  frame_stride: int = 1,
  max_frames: int = 0,
  jaw_threshold: float = 0.4,
  grid: int = 8,
) -> tuple[dict[str, Any], np.ndarray]:
  """Metrics over every selected frame of `source` and the grid image uint8 [2S, n*S, 3]."""

  if batch_size < 1 or frame_stride < 1 or max_frames < 0:
    raise ValueError("batch_size and frame_stride must be >= 1 and max_frames >= 0.")
  size = int(config.image_size)
  vq_extra = {"vq_stats": extra["vq_stats"]} if "vq_stats" in extra else None

  @jax.jit
  def recon_fn(images):
    recon, aux = task.reconstruct(params, vq_extra, images, config)
    return recon, aux["indices"]

  k = int(config.model.num_codes)
  counts = np.zeros((k,), np.int64)
  sums = {"psnr": [], "ssim": [], "l1": [], "identity": []}
  sharp_rec, sharp_gt = [], []
  grid_in, grid_out = [], []

  def flush(frames, lms, jaw, clip_ids, identities):
    n = frames.shape[0]
    sums["identity"].append(identities)
    x = frames.astype(np.float32) / 127.5 - 1.0
    pad = np.zeros((batch_size - n,) + x.shape[1:], np.float32)
    recon, idx = jax.device_get(recon_fn(jnp.asarray(np.concatenate([x, pad]))))
    recon, idx = np.asarray(recon[:n]), np.asarray(idx[:n])
    np.add.at(counts, idx.reshape(-1), 1)
    sums["psnr"].append(metrics.psnr(x, recon))
    sums["ssim"].append(metrics.ssim(x, recon))
    sums["l1"].append(np.mean(np.abs(recon - x), axis=(1, 2, 3)))
    rec8 = _to_uint8(recon)
    open_ = jaw > jaw_threshold
    if open_.any():
      sharp_rec.append(metrics.mouth_sharpness(rec8[open_], lms[open_]))
      sharp_gt.append(metrics.mouth_sharpness(frames[open_], lms[open_]))
    for i, c in enumerate(clip_ids):  # the most open-mouthed frame of each of the first clips
      if c < grid:
        grid_in.append((c, jaw[i], frames[i]))
        grid_out.append((c, jaw[i], rec8[i]))

  buf: list[tuple] = []
  n_frames = 0
  for c, identity, frames, lms, jaw in _frames(source, size, frame_stride, max_frames):
    for i in range(frames.shape[0]):
      buf.append((frames[i], lms[i], jaw[i], c, identity))
      if len(buf) == batch_size:
        flush(*[np.stack(z) for z in zip(*buf)])
        n_frames += len(buf)
        buf = []
  if buf:
    flush(*[np.stack(z) for z in zip(*buf)])
    n_frames += len(buf)
  if n_frames == 0:
    raise ValueError("The evaluation split has no frames.")

  usage, perplexity = quantizer.codebook_usage(jnp.asarray(counts))
  cat = {key: np.concatenate(v) for key, v in sums.items()}
  result: dict[str, Any] = {
    "num_frames": n_frames,
    "image_size": size,
    "psnr": float(np.mean(cat["psnr"])),
    "ssim": float(np.mean(cat["ssim"])),
    "l1": float(np.mean(cat["l1"])),
    "code_usage": float(usage),
    "codes_used": int(np.sum(counts > 0)),
    "num_codes": k,
    "perplexity": float(perplexity),
    "per_identity": {
      str(i): {
        "frames": int(np.sum(cat["identity"] == i)),
        "psnr": float(np.mean(cat["psnr"][cat["identity"] == i])),
        "ssim": float(np.mean(cat["ssim"][cat["identity"] == i])),
      }
      for i in np.unique(cat["identity"])
    },
  }
  if sharp_rec:
    r, g = np.concatenate(sharp_rec), np.concatenate(sharp_gt)
    result["mouth"] = {
      "num_frames": int(r.size),
      "jaw_threshold": jaw_threshold,
      "laplacian_var_recon": float(np.mean(r)),
      "laplacian_var_input": float(np.mean(g)),
      "ratio": float(np.mean(r) / max(np.mean(g), 1e-12)),
    }
  else:
    result["mouth"] = {"num_frames": 0, "jaw_threshold": jaw_threshold}
  result["targets"] = dict(TARGETS)
  result["targets_met"] = {m: bool(result[m] >= t) for m, t in TARGETS.items()}

  def best(items):
    by_clip: dict[int, tuple] = {}
    for c, j, img in items:
      if c not in by_clip or j > by_clip[c][0]:
        by_clip[c] = (j, img)
    return [by_clip[c][1] for c in sorted(by_clip)]

  top, bottom = best(grid_in), best(grid_out)
  image = np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)
  return result, image


def _per_identity_line(per_identity: dict[str, dict]) -> str:
  """'  per identity (n): PSNR a-b dB, SSIM c-d (lowest: id i)' for the printed summary."""
  if len(per_identity) < 2:
    return ""
  psnr = {i: r["psnr"] for i, r in per_identity.items()}
  ssim = [r["ssim"] for r in per_identity.values()]
  worst = min(psnr, key=psnr.get)
  return (
    f"  per identity ({len(psnr)}): PSNR {min(psnr.values()):.2f}-{max(psnr.values()):.2f} dB, "
    f"SSIM {min(ssim):.4f}-{max(ssim):.4f} (lowest PSNR: identity {worst})\n"
  )


def run(args: argparse.Namespace) -> int:


  t0 = time.perf_counter()
  config, params, extra, step = load_run(args.workdir, args.step, args.use_ema)
  with config.unlocked():
    if args.data_dir:
      config.data.data_dir = args.data_dir
    if args.source:
      config.data.source = args.source
  source = sources.clip_source(config.data, args.split, audio=False)
  result, grid = evaluate(
    config, params, extra, source, batch_size=args.batch_size, frame_stride=args.frame_stride,
    max_frames=args.max_frames, jaw_threshold=args.jaw_threshold, grid=args.grid,
  )  # fmt: skip
  result = {
    "workdir": os.path.abspath(args.workdir),
    "step": step,
    "split": clip_layout.split_name(args.split),
    "data": f"{config.data.source}:{config.data.name}",
    "device": jax.devices()[0].device_kind,
    **result,
    "seconds": round(time.perf_counter() - t0, 1),
  }
  os.makedirs(args.out, exist_ok=True)
  with open(os.path.join(args.out, "vq_eval.json"), "w") as f:
    json.dump(result, f, indent=2)
  Image.fromarray(grid).save(os.path.join(args.out, "vq_grid.png"), optimize=True)
  writer = metrics_lib.MetricWriter(args.out, enabled=True)
  scalars = {f"vq_eval/{k}": result[k] for k in ("psnr", "ssim", "l1", "code_usage", "perplexity")}
  if "ratio" in result["mouth"]:
    scalars["vq_eval/mouth_sharpness_ratio"] = result["mouth"]["ratio"]
  writer.scalars(step, scalars)
  writer.images(step, {"vq_eval/inputs_over_reconstructions": grid[None]})
  writer.close()
  mouth = result["mouth"]
  print(
    f"vq eval of {args.workdir} (step {step}) on {result['split']}: {result['num_frames']} frames "
    f"at {result['image_size']} px\n"
    f"  PSNR {result['psnr']:.2f} dB  SSIM {result['ssim']:.4f}  L1 {result['l1']:.4f}\n"
    f"  codes used {result['codes_used']}/{result['num_codes']} ({result['code_usage']:.1%}), "
    f"perplexity {result['perplexity']:.1f}\n"
    + (
      f"  mouth sharpness (jaw_open > {mouth['jaw_threshold']}, {mouth['num_frames']} frames): "
      f"recon {mouth['laplacian_var_recon']:.1f} vs input {mouth['laplacian_var_input']:.1f} "
      f"(ratio {mouth['ratio']:.3f})\n"
      if mouth["num_frames"]
      else f"  mouth sharpness: no frame with jaw_open > {mouth['jaw_threshold']}\n"
    )
    + _per_identity_line(result["per_identity"])
    + f"  targets met: {result['targets_met']}\n"
    f"  wrote {args.out}/vq_eval.json, vq_grid.png, tensorboard/"
  )
  return 0
