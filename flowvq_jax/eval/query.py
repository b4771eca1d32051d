r"""Evaluation of the stage-2 code-query renderer on held-out identities.

  python -m launch.evaluate --stage query --workdir RUN --out DIR [--split test] [--data_dir DIR]

Reads a `vq_query` training workdir (its `config.json` and latest checkpoint: the stage-2 params
and the frozen stage-1 params saved with them; the stage-1 model config comes from the stage-1
run's `config.json`, `--stage1_workdir` if it moved), or a params export of one (`launch.export
--items params` leaves the frozen stage 1 out; it is then read from the stage-1 run). For every
clip of `--split` (default `test`: identities never seen in training) the clip's FIRST frame is
the source image and every other frame (every `--frame_stride`-th from frame 1) is rendered from
the clip's own ground-truth coefficients (windows edge-padded at the clip ends, normalised like
the training data, argmax codes, `--fidelity`). Against the real frames:

  psnr, ssim, l1      per frame, averaged (`flowvq_jax.eval.metrics`, images in [0, 1]; L1 in
                      [-1, 1] units)
  code_accuracy       share of tokens whose predicted code equals the stage-1 code of the real
                      frame (`encode_to_indices`)
  m_lmd, f_lmd        mouth / face landmark distance (256 px units, `metrics.lmd`) between the
                      landmarks a regressor finds on the RENDERED frames and the ground-truth
                      landmarks of the clip. The ground truth is the dataset's: for the synthetic
                      world they are exact (the world renders the target from the same
                      coefficients); the renderer's geometry cannot be read off a generated
                      image, so the regressor (`flowvq_jax.eval.instruments.landmarks`, a small
                      CNN) is trained here on frames and landmarks of the TRAIN split
                      (`--landmark_steps`,
                      `--landmark_frames`) or loaded from `--landmarks PATH`.
  m_lmd_real, f_lmd_real  the same regressor on the real frames: its own error, the floor the
                      generated frames are measured against.
  psnr_copy_source, ssim_copy_source  the source frame itself as the prediction (a model that
                      ignores the coefficients scores this)
  psnr_stage1_recon, ssim_stage1_recon  the stage-1 decoding of the real frame's own codes (what
                      perfect code accuracy renders without fusion)
  code_accuracy_copy_source  the source frame's own stage-1 codes as the prediction (a model
                      that copies every code of the source scores this)
  code_accuracy_changed  code accuracy on the tokens whose target code differs from the source
                      frame's (pooled over all such tokens; copying scores 0): what the model
                      gets right beyond copying
  changed_token_fraction  the share of tokens whose code differs from the source's
                      (`1 - code_accuracy_copy_source`, pooled)
  mouth_sharpness     variance of the Laplacian of the mouth box (ground-truth landmarks 48-67) on
                      frames with jaw_open > `--jaw_threshold`: rendered, ground truth
                      (`mouth_sharpness_gt`) and their ratio.
  identities_seen_by_stage1  how many of the split's identities the stage-1 run trained on
                      (`vq_query.identities_seen_by_stage1`; 0 unless the two stages' in-memory
                      identity layouts differ); a warning is printed when it is not 0.

Writes `DIR/query_eval.json` and `DIR/query_eval.md` (`flowvq_jax.eval.report`) and
`DIR/query_grid.png`: one row per clip (the first `--grid` clips), source | target | rendered of
its most open-mouthed frame.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image

from flowvq_jax.data import clip_layout, sources, transforms, world_clips
from flowvq_jax.eval import metrics, report
from flowvq_jax.eval.instruments import landmarks as lm
from flowvq_jax.models.vq import query_loss
from flowvq_jax.stages import vq_query as query_stage
from flowvq_jax.train.tasks import vq_query as task
from flowvq_jax.world.tables import JAW


def load_run(
  workdir: str, step: int | None = None, stage1_workdir: str | None = None
) -> query_stage.QueryRun:
  """A vq_query run (`flowvq_jax.stages.vq_query.load`); clear errors when absent."""
  return query_stage.load(workdir, stage1_workdir, step)


def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.clip(np.round((np.asarray(x, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def choose_frames(num_clips: int, fetch, length, num_frames: int, seed: int = 0):
  """Yields `(clip index, sorted frame indices, fetch(clip index))` for up to `num_frames`
  frames: the same number from each clip (`length(fetched)` frames long) of a random order of
  the clips, fetching each clip once and only as far as needed."""
  rng = np.random.default_rng(seed)
  per_clip = max(1, -(-num_frames // max(num_clips, 1)))
  total = 0
  for c in rng.permutation(num_clips):
    item = fetch(int(c))
    t = length(item)
    idx = np.sort(rng.choice(t, min(per_clip, t), replace=False))
    yield int(c), idx, item
    total += idx.size
    if total >= num_frames:
      return


def regressor_data(config, num_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """`(frames uint8 [N, S, S, 3], landmarks float32 [N, 68, 2] in pixels at S)`: up to
  `num_frames` frames of the train split (`choose_frames`) at the run's image size S.

  In-memory clips are chosen from the split made without images (the same choice as from the
  rendered clips), then only the chosen clips are rendered, in the worker processes, and only
  the chosen frames come back."""

  data = config.data
  if data.source == "memory":
    bare = world_clips.memory_clips(data.memory, "train", frames=False, audio=False)
    chosen = choose_frames(len(bare), bare.__getitem__, lambda x: len(x["exp"]), num_frames, seed)
    picked = world_clips.memory_frames(data.memory, "train", [(c, i) for c, i, _ in chosen])
  else:
    source = sources.clip_source(data, "train", audio=False)
    chosen = choose_frames(
      len(source), source.__getitem__, lambda x: np.shape(x["frames"])[0], num_frames, seed
    )
    picked = [{k: np.asarray(clip[k])[idx] for k in ("frames", "landmarks")}
              for _, idx, clip in chosen]  # fmt: skip
  size = int(config.image_size)
  frames, lms = [], []
  for clip in picked:
    f = np.asarray(clip["frames"], np.uint8)
    frames.append(transforms.resize_frames(f, size))
    lms.append(np.asarray(clip["landmarks"], np.float32) * (size / f.shape[2]))
  return np.concatenate(frames), np.concatenate(lms)


def train_regressor(config, steps: int, num_frames: int, seed: int = 0) -> dict:
  """A landmark regressor trained on up to `num_frames` frames of the train split."""

  frames, lms = regressor_data(config, num_frames, seed)
  return lm.train_landmark_regressor(frames, lms, steps, seed)


def evaluate(
  config: ml_collections.ConfigDict,
  params: Any,
  stage1_params: Any,
  source,
  stats,
  regressor: dict,
  *,
  batch_size: int = 16,
  frame_stride: int = 1,
  max_clips: int = 0,
  fidelity: float = 1.0,
  jaw_threshold: float = 0.4,
  grid: int = 8,
) -> tuple[dict[str, Any], np.ndarray]:
  """Metrics over the selected frames of `source` and the grid image uint8 [n*S, 3S, 3]."""

  if batch_size < 1 or frame_stride < 1 or max_clips < 0:
    raise ValueError("batch_size and frame_stride must be >= 1 and max_clips >= 0.")
  if not 0.0 <= fidelity <= 1.0:
    raise ValueError(f"fidelity must be in [0, 1], got {fidelity}.")
  gen = query_stage.make_generator(config)
  size, k = int(config.image_size), int(config.model.window)

  @jax.jit
  def render_fn(source_img, exp, pose, target):
    out = gen.apply(params, stage1_params, source_img, exp, pose, fidelity=fidelity, mode="hard")
    codes = query_loss.target_indices(gen, stage1_params, target)
    recon = gen.stage1.apply(
      {"params": stage1_params}, codes, method=type(gen.stage1).decode_from_indices
    ).astype(jnp.float32)
    acc = jnp.mean(out["indices"] == codes, axis=(1, 2))
    changed = query_loss.changed_tokens(gen, stage1_params, out, source_img, codes)  # [B, h, w]
    counts = jnp.stack(
      [jnp.sum(changed & (out["indices"] == codes), axis=(1, 2)), jnp.sum(changed, axis=(1, 2))], -1
    )  # [B, 2]: correct changed tokens, changed tokens
    copy_acc = 1.0 - jnp.mean(changed, axis=(1, 2))
    return jnp.clip(out["image"], -1.0, 1.0), acc, copy_acc, counts, jnp.clip(recon, -1.0, 1.0)

  names = ("psnr", "ssim", "l1", "code_accuracy", "code_accuracy_copy_source", "psnr_copy_source",
           "ssim_copy_source", "psnr_stage1_recon", "ssim_stage1_recon")  # fmt: skip
  per = {name: [] for name in names}
  changed_counts = []
  gen_u8, real_u8, gt_lms, jaws, rows = [], [], [], [], []
  n_clips = len(source) if not max_clips else min(max_clips, len(source))
  for c in range(n_clips):
    clip = source[c]
    frames = np.asarray(clip["frames"])
    scale = size / frames.shape[2]
    frames = transforms.resize_frames(frames.astype(np.uint8), size)
    exp_w, pose_w = task.clip_windows(clip, stats, k)
    # Every frame but the source (frame 0), which would be a trivially perfect copy.
    idx = np.arange(1, frames.shape[0], frame_stride) if frames.shape[0] > 1 else np.zeros(1, int)
    src = frames[:1].astype(np.float32) / 127.5 - 1.0
    clip_gen = []
    for i in range(0, idx.size, batch_size):
      sel = idx[i : i + batch_size]
      n = sel.size
      pad = lambda x, m=batch_size - n: np.concatenate([x, np.repeat(x[-1:], m, axis=0)])
      target = pad(frames[sel].astype(np.float32) / 127.5 - 1.0)
      image, acc, copy_acc, counts, recon = jax.device_get(
        render_fn(
          jnp.asarray(src), jnp.asarray(pad(exp_w[sel])), jnp.asarray(pad(pose_w[sel])),
          jnp.asarray(target),
        )
      )  # fmt: skip
      image = np.asarray(image)
      # Metrics on the full (padded) batch, so every batch has one shape; padding dropped after.
      per["psnr"].append(metrics.psnr(target, image)[:n])
      per["ssim"].append(metrics.ssim(target, image)[:n])
      per["l1"].append(np.mean(np.abs(image - target), axis=(1, 2, 3))[:n])
      per["code_accuracy"].append(np.asarray(acc)[:n])
      per["code_accuracy_copy_source"].append(np.asarray(copy_acc)[:n])
      changed_counts.append(np.asarray(counts)[:n])
      source_b = np.broadcast_to(src, target.shape)
      per["psnr_copy_source"].append(metrics.psnr(target, source_b)[:n])
      per["ssim_copy_source"].append(metrics.ssim(target, source_b)[:n])
      per["psnr_stage1_recon"].append(metrics.psnr(target, np.asarray(recon))[:n])
      per["ssim_stage1_recon"].append(metrics.ssim(target, np.asarray(recon))[:n])
      image = image[:n]
      clip_gen.append(_to_uint8(image))
    clip_gen = np.concatenate(clip_gen)
    jaw = np.asarray(clip["exp"], np.float32)[idx, JAW]
    gen_u8.append(clip_gen)
    real_u8.append(frames[idx])
    gt_lms.append(np.asarray(clip["landmarks"], np.float32)[idx] * scale)
    jaws.append(jaw)
    if c < grid:
      j = int(np.argmax(jaw))
      rows.append(np.concatenate([frames[0], frames[idx[j]], clip_gen[j]], axis=1))
  if not gen_u8:
    raise ValueError("The evaluation split has no clips.")
  gen_all, real_all = np.concatenate(gen_u8), np.concatenate(real_u8)
  lms_all, jaw_all = np.concatenate(gt_lms), np.concatenate(jaws)
  pred_gen = lm.predict_landmarks(regressor, gen_all)
  pred_real = lm.predict_landmarks(regressor, real_all)
  lmd = lambda p, region: metrics.lmd(p, lms_all, region, resolution=size)
  cat = {key: np.concatenate(v) for key, v in per.items()}
  counts = np.concatenate(changed_counts).astype(np.float64)
  result: dict[str, Any] = {
    "num_clips": n_clips,
    "num_frames": int(gen_all.shape[0]),
    "image_size": size,
    "fidelity": float(fidelity),
    **{key: float(np.mean(v)) for key, v in cat.items()},
    # Over all tokens whose target code differs from the source's (copying gets none of them).
    "code_accuracy_changed": float(counts[:, 0].sum() / max(counts[:, 1].sum(), 1)),
    "changed_token_fraction": float(counts[:, 1].sum() / (counts.shape[0] * gen.tokens**2)),
    "m_lmd": lmd(pred_gen, "mouth"),
    "f_lmd": lmd(pred_gen, "face"),
    "m_lmd_real": lmd(pred_real, "mouth"),
    "f_lmd_real": lmd(pred_real, "face"),
  }
  open_ = jaw_all > jaw_threshold
  result["mouth_frames"] = int(open_.sum())
  if open_.any():
    r = metrics.mouth_sharpness(gen_all[open_], lms_all[open_])
    g = metrics.mouth_sharpness(real_all[open_], lms_all[open_])
    result["mouth_sharpness"] = float(np.mean(r))
    result["mouth_sharpness_gt"] = float(np.mean(g))
    result["mouth_sharpness_ratio"] = float(np.mean(r) / max(np.mean(g), 1e-12))
  else:
    why = metrics.NotComputed(f"no frame with jaw_open > {jaw_threshold}")
    result.update(mouth_sharpness=why, mouth_sharpness_gt=why, mouth_sharpness_ratio=why)
  return result, np.concatenate(rows, axis=0)


def run(args: argparse.Namespace) -> int:

  t0 = time.perf_counter()
  run_ = load_run(args.workdir, args.step, args.stage1_workdir)
  config, params, stage1_params, step = run_.config, run_.params, run_.stage1_params, run_.step
  with config.unlocked():
    if args.data_dir:
      config.data.data_dir = args.data_dir
    if args.source:
      config.data.source = args.source
  split = clip_layout.split_name(args.split)
  seen = query_stage.identities_seen_by_stage1(config, split)
  source, stats = sources.clip_source(config.data, split, audio=False), run_.stats
  if args.landmarks:
    regressor, reg_info = lm.load_regressor(args.landmarks), f"loaded from {args.landmarks}"
  else:
    regressor = train_regressor(config, args.landmark_steps, args.landmark_frames)
    reg_info = f"trained on the train split ({args.landmark_steps} steps)"
  fidelity = float(config.eval.get("fidelity", 1.0) if args.fidelity is None else args.fidelity)
  result, grid = evaluate(
    config, params, stage1_params, source, stats, regressor,
    batch_size=args.batch_size, frame_stride=args.frame_stride, max_clips=args.max_clips,
    fidelity=fidelity, jaw_threshold=args.jaw_threshold, grid=args.grid,
  )  # fmt: skip
  result = {
    "workdir": os.path.abspath(args.workdir),
    "step": step,
    "split": split,
    "data": f"{config.data.source}:{config.data.name}",
    "device": jax.devices()[0].device_kind,
    "landmark_regressor": reg_info,
    "identities_seen_by_stage1": len(seen),
    **result,
    "seconds": round(time.perf_counter() - t0, 1),
  }
  os.makedirs(args.out, exist_ok=True)
  paths = report.write_report(result, os.path.join(args.out, "query_eval"), "Stage-2 code query")
  Image.fromarray(grid).save(os.path.join(args.out, "query_grid.png"), optimize=True)
  ms = result["mouth_sharpness_ratio"]
  print(
    f"query eval of {args.workdir} (step {step}) on {split}: {result['num_clips']} clips, "
    f"{result['num_frames']} frames at {result['image_size']} px, fidelity {fidelity}\n"
    f"  PSNR {result['psnr']:.2f} dB  SSIM {result['ssim']:.4f}  L1 {result['l1']:.4f}  "
    f"code accuracy {result['code_accuracy']:.3f} (on the {result['changed_token_fraction']:.1%} "
    f"of tokens whose code differs from the source's: {result['code_accuracy_changed']:.3f})\n"
    f"  references: source copied PSNR {result['psnr_copy_source']:.2f} SSIM "
    f"{result['ssim_copy_source']:.4f} code accuracy {result['code_accuracy_copy_source']:.3f}; "
    f"stage-1 reconstruction PSNR "
    f"{result['psnr_stage1_recon']:.2f} SSIM {result['ssim_stage1_recon']:.4f}\n"
    f"  M-LMD {result['m_lmd']:.3f}  F-LMD {result['f_lmd']:.3f}  (regressor on real frames: "
    f"{result['m_lmd_real']:.3f} / {result['f_lmd_real']:.3f}; {reg_info})\n"
    f"  mouth sharpness ratio (rendered / real): {report.format_value(ms)}\n"
    f"  wrote {paths['json']}, {paths['md']}, {args.out}/query_grid.png"
  )
  if seen:
    print(
      f"  WARNING: the stage-1 run trained on {len(seen)} of these {split} identities "
      f"({seen[0]}..{seen[-1]}): they are not held out from the codebook."
    )
  return 0
