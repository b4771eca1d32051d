r"""The paper's evaluation table, end to end: generate the test split and score it.

  python -m launch.evaluate --checkpoints DIR --dataset NAME --out OUT \
      [--data_dir DIR] [--max_clips N] [--seeds 3] [--landmarks auto|regressor|dlib|PATH] \
      [--inception_weights F] [--lpips_weights F] [--syncnet_weights F]

For every test clip of NAME (its audio, its first frame, its emotion label and intensity) the
checkpoints directory (`flowvq_jax.stages` layout, read by `flowvq_jax.inference.load`) generates
a video for `--seeds` seeds, and the generated frames and coefficients are scored against the
clip's ground truth. Datasets:

  world:<size>[_<px>]            the synthetic world generated in memory (nothing to prepare):
                                 the clip layout of `synthetic_talking_faces/<size>` (tiny, small,
                                 full), e.g. `world:tiny`, `world:small_64`
  synthetic_talking_faces/<cfg>  a prepared TFDS dataset (`--data_dir`, `launch.prepare_data`)
  mead/<cfg>, hdtf/<cfg>         prepared real datasets (no landmarks stored; see below)

Frames are resized to the renderer's image size; LMD is expressed in pixels of a 256 px image.
The columns (docs/evaluation.md defines each one and its source):

  psnr, ssim          generated vs real frames 1..T-1 (frame 0 is the given source image)
  m_lmd, f_lmd        mouth / face landmark distance; landmarks of generated frames come from a
                      detector (the project's regressor trained on the dataset's train frames, a
                      saved one, or dlib's 68-point model when installed), the reference is the
                      dataset's landmarks (synthetic: exact) or the detector on the real frames
  cpbd                sharpness of the generated frames (higher is sharper)
  emotion_accuracy    a coefficient-window emotion classifier trained on the train split
                      (`flowvq_jax.eval.instruments.classifier`) on the generated expressions
                      vs the label
  lip_sync_r / _lag   synthetic data: Pearson r and best lag of generated jaw_open against the
                      mouth law of the audio (`flowvq_jax.world.mouth_from_audio`)
  lse_c, lse_d        SyncNet scores (need SyncNet weights and a port: NotComputed)
  diversity           std over seeds of the non-mouth expression dims / the data's within-emotion
                      std; `pose_diversity` the same for the head pose
  blinks_per_min      blink rate (synthetic: exp dim 7), next to the ground truth's in its row
  fid, lpips          need Inception-v3 / VGG16+LPIPS weights (`--inception_weights`,
                      `--lpips_weights`)

Rows: `generated`, `ground truth` (the real clips through the same instruments: the floor or
target of each metric) and `source copy` (the first frame repeated: what a model that ignores the
audio scores). A cell that cannot be computed holds `NotComputed(reason)`.

Writes OUT/eval_table.json, OUT/eval_table.md and OUT/eval_details.json (per-clip values,
instruments, timings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flowvq_jax import inference
from flowvq_jax.core.constants import SAMPLE_RATE
from flowvq_jax.data import transforms
from flowvq_jax.eval import metrics, report
from flowvq_jax.eval.instruments import classifier as clf_lib
from flowvq_jax.eval.instruments import landmarks as lm
from flowvq_jax.eval.metrics import NotComputed
from flowvq_jax.eval.table_data import EvalData, check_dataset, load_data
from flowvq_jax.world import mouth_from_audio
from flowvq_jax.world.tables import BLINK, JAW, MOUTH_DIMS

# The clip layouts of `synthetic_talking_faces/<size>` (flowvq_jax/data/clip_layout.py), generated
# in memory by `world:<size>[_<px>]`: the same identities, utterances and seeds per split.
COLUMNS = (
  "psnr", "ssim", "m_lmd", "f_lmd", "cpbd", "emotion_accuracy", "lip_sync_r", "lip_sync_lag",
  "lse_c", "lse_d", "diversity", "pose_diversity", "blinks_per_min", "fid", "lpips",
)  # fmt: skip
ROWS = ("generated", "ground truth", "source copy")
DLIB_HINT = "pip install dlib face-recognition-models (dlib has no wheel: it builds with CMake)"


# ------------------------------------------------------------------------------------------------
# Instruments: the emotion classifier, the landmark detector and the reference spreads.


@dataclasses.dataclass
class Instruments:
  """What measures a generation (see `build_instruments`).

  Attributes:
    classifier: an emotion classifier pytree (`flowvq_jax.eval.instruments.classifier`) or None.
    classifier_info: how it was made, or why there is none.
    landmarks: frames uint8 [N, S, S, 3] -> float32 [N, 68, 2] pixels, or None.
    landmarks_info: which detector, or why there is none.
    exp_std, pose_std: the train split's within-emotion std per dim ([64], [6]).
    synthetic: world coefficient layout (lip sync against the mouth law, blink dim 7).
    inception_weights, lpips_weights, syncnet_weights: user-supplied weight paths (or None).
  """

  classifier: dict | None
  classifier_info: str
  landmarks: Callable[[np.ndarray], np.ndarray] | None
  landmarks_info: str
  exp_std: np.ndarray
  pose_std: np.ndarray
  synthetic: bool
  inception_weights: str | None = None
  lpips_weights: str | None = None
  syncnet_weights: str | None = None


def dlib_detector() -> tuple[Callable[[np.ndarray], np.ndarray] | None, str]:
  """dlib's 68-point shape predictor (from `face-recognition-models`), or (None, reason).

  Each frame's face box is dlib's frontal face detection (upsampled once); frames where it finds
  no face (small or stylised crops) use the whole frame as the box, since the frames are face
  crops already.
  """
  try:
    import dlib  # noqa: PLC0415  (optional: the user installs it, see DLIB_HINT)
    import face_recognition_models  # noqa: PLC0415  (optional, with dlib)
  except ImportError as e:
    return None, f"dlib landmarks unavailable ({e}); {DLIB_HINT}"
  detector = dlib.get_frontal_face_detector()
  predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())

  def detect(frames: np.ndarray) -> np.ndarray:
    out = np.zeros((len(frames), 68, 2), np.float32)
    for i, f in enumerate(np.asarray(frames, np.uint8)):
      boxes = detector(f, 1)
      box = boxes[0] if len(boxes) else dlib.rectangle(0, 0, f.shape[1] - 1, f.shape[0] - 1)
      shape = predictor(f, box)
      out[i] = [(shape.part(k).x, shape.part(k).y) for k in range(68)]
    return out

  return detect, "dlib 68-point shape predictor (face-recognition-models)"


def build_instruments(
  data: EvalData,
  image_size: int,
  *,
  landmarks: str = "auto",
  classifier_steps: int = 400,
  landmark_steps: int = 400,
  window: int = 25,
  seed: int = 0,
  inception_weights: str | None = None,
  lpips_weights: str | None = None,
  syncnet_weights: str | None = None,
) -> Instruments:
  """Trains the emotion classifier (and the landmark regressor) on `data`'s train split.

  Args:
    landmarks: 'auto' (synthetic data: the regressor; real data: dlib when importable), 'regressor'
      (trained on the train frames), 'dlib', or the path of a saved regressor (`save_regressor`).
    window: the classifier's window in frames (shortened to the shortest clip when needed).
  """
  labelled = [(e, y) for e, y in zip(data.train_exp, data.train_labels, strict=True) if y >= 0]
  shortest = min([e.shape[0] for e, _ in labelled] + [c["exp"].shape[0] for c in data.test])
  win = min(int(window), shortest) if labelled else 0
  clf, clf_info = None, "the train split has no emotion labels"
  if labelled and win >= 2:
    xs = [clf_lib.make_windows(e, win) for e, _ in labelled]
    ys = [np.full(len(x), y, np.int32) for x, (_, y) in zip(xs, labelled, strict=True)]
    clf = clf_lib.train_emotion_classifier(
      np.concatenate(xs), np.concatenate(ys), steps=classifier_steps, seed=seed
    )
    clf_info = (
      f"coefficient-window MLP ({win}-frame windows, {sum(len(x) for x in xs)} train windows "
      f"of {len(labelled)} clips, {classifier_steps} steps)"
    )
  elif labelled:
    clf_info = f"clips too short for a classifier window ({shortest} frames)"

  detect, lm_info = None, ""
  if landmarks == "dlib" or (landmarks == "auto" and not data.synthetic):
    detect, lm_info = dlib_detector()
  elif landmarks in ("auto", "regressor"):
    if data.train_frames is None:
      lm_info = (
        f"{data.name} stores no landmarks to train the landmark regressor on; install dlib "
        f"({DLIB_HINT}) or pass --landmarks PATH (a saved regressor)"
      )
    else:
      frames, lms = data.train_frames
      scale = image_size / frames.shape[2]
      reg = lm.train_landmark_regressor(
        transforms.resize_frames(frames, image_size), lms * scale, steps=landmark_steps, seed=seed
      )
      detect = lambda f, reg=reg: lm.predict_landmarks(reg, f)  # noqa: E731
      lm_info = (
        f"landmark regressor trained on {frames.shape[0]} train frames ({landmark_steps} steps)"
      )
  elif os.path.isfile(landmarks):
    reg = lm.load_regressor(landmarks)
    detect = lambda f, reg=reg: lm.predict_landmarks(reg, f)  # noqa: E731
    lm_info = f"landmark regressor loaded from {landmarks}"
  else:
    raise ValueError(
      f"--landmarks must be auto, regressor, dlib or a saved regressor file; got {landmarks!r}."
    )

  if labelled:
    exp_std = metrics.within_emotion_std([e for e, _ in labelled], [y for _, y in labelled])
    pose_std = metrics.within_emotion_std(
      [p for p, y in zip(data.train_pose, data.train_labels, strict=True) if y >= 0],
      [y for _, y in labelled],
    )
  else:  # unlabelled data: the spread over all clips
    exp_std = np.concatenate(data.train_exp).std(0)
    pose_std = np.concatenate(data.train_pose).std(0)
  return Instruments(
    classifier=clf, classifier_info=clf_info, landmarks=detect, landmarks_info=lm_info,
    exp_std=exp_std, pose_std=pose_std, synthetic=data.synthetic,
    inception_weights=inception_weights, lpips_weights=lpips_weights,
    syncnet_weights=syncnet_weights,
  )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Scoring.

# generate(clip, source_image uint8 [S, S, 3], seed) -> {'frames' uint8 [T, S, S, 3],
#   'exp' float [T, 64], 'pose' float [T, 6]} (denormalised coefficients).
GenerateFn = Callable[[dict[str, Any], np.ndarray, int], dict[str, np.ndarray]]


def pipeline_generator(
  talker, *, temperature: float = 1.0, fidelity: float = 0.5, pose: str = "sampled"
) -> GenerateFn:
  """A `GenerateFn` over `flowvq_jax.inference.generate` (audio, first frame, label, intensity)."""
  def generate(clip: dict[str, Any], source: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    labelled = clip["emotion"] >= 0  # unlabelled data (HDTF): neutral, intensity 0
    emotion = clip["emotion"] if labelled else "neutral"
    intensity = min(max(float(clip["intensity"]), 0.0), 3.0) if labelled else 0.0
    gen = inference.generate(
      talker, clip["audio"], source, emotion=emotion, intensity=intensity,
      pose=pose, temperature=temperature, fidelity=fidelity, num_samples=1, seed=int(seed),
      crop="none",
    )  # fmt: skip
    return {"frames": gen.frames[0], "exp": gen.exp[0], "pose": gen.pose[0]}

  return generate


def _mean(xs: Sequence[float], why: str) -> float | NotComputed:
  """The mean of the values that are not None / NaN (+inf counts: a perfect PSNR)."""
  vals = [float(x) for x in xs if x is not None and not math.isnan(float(x))]
  return float(np.mean(vals)) if vals else NotComputed(why)


def score(
  clips: Sequence[dict[str, Any]],
  generate: GenerateFn,
  inst: Instruments,
  *,
  image_size: int,
  seeds: Sequence[int] = (0, 1, 2),
  frame_stride: int = 1,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
  """Generates every clip for every seed and scores it (module docstring).

  Returns:
    (rows {row: {column: value}} for ROWS x COLUMNS, details {per-clip values, counts}).
  """
  if not clips:
    raise ValueError("The test split has no clips.")
  if frame_stride < 1 or not seeds:
    raise ValueError(f"Need frame_stride >= 1 and at least one seed; got {frame_stride}, {seeds}.")
  s = int(image_size)
  acc: dict[str, dict[str, list]] = {r: {c: [] for c in COLUMNS} for r in ROWS}
  real_pool, fake_pool, per_clip = [], [], []
  gen_seconds = 0.0
  win = int(inst.classifier["config"]["window"]) if inst.classifier else 0
  exp_dims = [d for d in range(inst.exp_std.shape[0]) if d not in MOUTH_DIMS]
  exp_dims = [d for d in exp_dims if inst.exp_std[d] > 1e-6]
  pose_dims = [d for d in range(inst.pose_std.shape[0]) if inst.pose_std[d] > 1e-6]

  def lmd_pair(frames, ref):
    p = inst.landmarks(frames)
    return (metrics.lmd(p, ref, "mouth", resolution=s), metrics.lmd(p, ref, "face", resolution=s))

  def emotion_hit(exp, label):
    if inst.classifier is None or label < 0 or exp.shape[0] < win:
      return None
    logits = clf_lib.logits(inst.classifier, clf_lib.make_windows(exp, win))
    return float(logits.sum(0).argmax() == label)

  for clip in clips:
    real = transforms.resize_frames(clip["frames"], s)
    t_real = real.shape[0]
    source = real[0]
    label = int(clip["emotion"])
    gt_exp = np.asarray(clip["exp"], np.float32)
    law = None
    if inst.synthetic:
      law = np.asarray(mouth_from_audio(np.asarray(clip["audio"], np.float32), SAMPLE_RATE))[:, 0]
    ref_lms = None
    if clip.get("landmarks") is not None:
      ref_lms = np.asarray(clip["landmarks"], np.float32) * (s / clip["frames"].shape[2])
    info: dict[str, Any] = {"clip_id": clip["clip_id"], "emotion": label, "frames": t_real}
    samples_exp, samples_pose = [], []
    for seed in seeds:
      t0 = time.perf_counter()
      out = generate(clip, source, int(seed))
      gen_seconds += time.perf_counter() - t0
      fake = np.asarray(out["frames"])
      if fake.dtype != np.uint8 or fake.ndim != 4 or fake.shape[1:] != (s, s, 3):
        raise ValueError(f"Generated frames must be uint8 [T, {s}, {s}, 3], got {fake.dtype} "
                         f"{fake.shape}.")  # fmt: skip
      t = min(t_real, fake.shape[0])
      idx = np.arange(1, t, frame_stride) if t > 1 else np.zeros(1, int)
      g = acc["generated"]
      g["psnr"] += list(metrics.psnr(real[idx], fake[idx]))
      g["ssim"] += list(metrics.ssim(real[idx], fake[idx]))
      g["cpbd"] += list(metrics.cpbd(fake[idx]))
      real_pool.append(real[idx])
      fake_pool.append(fake[idx])
      if inst.landmarks is not None:
        ref = ref_lms[idx] if ref_lms is not None else inst.landmarks(real[idx])
        m, f = lmd_pair(fake[idx], ref)
        g["m_lmd"].append(m)
        g["f_lmd"].append(f)
      lp = metrics.lpips(real[idx], fake[idx], weights=inst.lpips_weights)
      if metrics.is_computed(lp):
        g["lpips"] += list(lp)
      exp = np.asarray(out["exp"], np.float32)[:t]
      samples_exp.append(exp)
      samples_pose.append(np.asarray(out["pose"], np.float32)[:t])
      g["emotion_accuracy"].append(emotion_hit(exp, label))
      if inst.synthetic:
        g["blinks_per_min"].append(metrics.blink_rate(exp[:, BLINK]) if t >= 2 else None)
        if t >= 4:
          ls = metrics.lip_sync(exp[:, JAW], law[:t], max_lag=min(10, t - 3))
          g["lip_sync_r"].append(ls["pearson_r"])
          g["lip_sync_lag"].append(ls["best_lag"])
    if len(seeds) >= 2 and exp_dims:
      t = min(x.shape[0] for x in samples_exp)
      div = metrics.diversity(np.stack([x[:t] for x in samples_exp]), inst.exp_std, exp_dims)
      acc["generated"]["diversity"].append(div["ratio"])
      info["diversity"] = div["ratio"]
    if len(seeds) >= 2 and pose_dims:
      t = min(x.shape[0] for x in samples_pose)
      div = metrics.diversity(np.stack([x[:t] for x in samples_pose]), inst.pose_std, pose_dims)
      acc["generated"]["pose_diversity"].append(div["ratio"])

    # The references: the real clip and its first frame through the same instruments.
    idx = np.arange(1, t_real, frame_stride) if t_real > 1 else np.zeros(1, int)
    gt, sc = acc["ground truth"], acc["source copy"]
    still = np.broadcast_to(source, real[idx].shape)
    sc["psnr"] += list(metrics.psnr(real[idx], still))
    sc["ssim"] += list(metrics.ssim(real[idx], still))
    sc["cpbd"].append(float(metrics.cpbd(source)))
    gt["cpbd"] += list(metrics.cpbd(real[idx]))
    if inst.landmarks is not None:
      if ref_lms is not None:
        gt_m, gt_f = lmd_pair(real[idx], ref_lms[idx])
        gt["m_lmd"].append(gt_m)
        gt["f_lmd"].append(gt_f)
        ref = ref_lms[idx]
      else:
        ref = inst.landmarks(real[idx])
      sm, sf = lmd_pair(still, ref)
      sc["m_lmd"].append(sm)
      sc["f_lmd"].append(sf)
    gt["emotion_accuracy"].append(emotion_hit(gt_exp, label))
    if inst.synthetic:
      gt["blinks_per_min"].append(metrics.blink_rate(gt_exp[:, BLINK]) if t_real >= 2 else None)
      if t_real >= 4:
        n = min(t_real, law.shape[0])
        ls = metrics.lip_sync(gt_exp[:n, JAW], law[:n], max_lag=min(10, n - 3))
        gt["lip_sync_r"].append(ls["pearson_r"])
        gt["lip_sync_lag"].append(ls["best_lag"])
    info["emotion_hits"] = acc["generated"]["emotion_accuracy"][-len(seeds) :]
    per_clip.append(info)

  rows = _aggregate(acc, inst, real_pool, fake_pool, len(seeds))
  details = {
    "clips": len(clips),
    "seeds": [int(x) for x in seeds],
    "image_size": s,
    "frame_stride": frame_stride,
    "frames_scored": int(sum(len(x) for x in fake_pool)),
    "generation_seconds": round(gen_seconds, 2),
    "per_clip": per_clip,
  }
  return rows, details


def _aggregate(acc, inst: Instruments, real_pool, fake_pool, num_seeds: int) -> dict[str, dict]:
  """Means of the per-frame / per-clip lists, with a NotComputed reason for every empty cell."""
  not_synth = (
    "the dataset's coefficients are not in the synthetic world's layout (jaw_open / blink dims), "
    "so the mouth law and blink series do not apply"
  )
  lm_why = inst.landmarks_info if inst.landmarks is None else "no landmarks measured"
  why = {
    "psnr": "no frames", "ssim": "no frames", "cpbd": "no frames",
    "m_lmd": lm_why, "f_lmd": lm_why,
    "emotion_accuracy": inst.classifier_info if inst.classifier is None
    else "no labelled clip long enough for a classifier window",
    "lip_sync_r": not_synth if not inst.synthetic else "clips shorter than 4 frames",
    "lip_sync_lag": not_synth if not inst.synthetic else "clips shorter than 4 frames",
    "diversity": "needs --seeds >= 2" if num_seeds < 2 else "no dims with spread in the data",
    "pose_diversity": "needs --seeds >= 2" if num_seeds < 2 else "no dims with spread in the data",
    "blinks_per_min": not_synth if not inst.synthetic else "clips shorter than 2 frames",
  }  # fmt: skip
  reference = {
    "ground truth": "reference row: the ground truth itself",
    "source copy": "reference row: a still image has no coefficients",
  }
  rows: dict[str, dict[str, Any]] = {}
  for r in ROWS:
    row = {}
    for c in COLUMNS:
      vals = acc[r][c]
      if c in ("lse_c", "lse_d", "fid", "lpips"):
        continue
      if r != "generated" and not vals:
        row[c] = NotComputed(
          reference[r] if c not in ("m_lmd", "f_lmd") or inst.landmarks is not None else lm_why
        )
        continue
      if c == "lip_sync_lag":
        lags = [v for v in vals if v is not None]
        row[c] = int(np.median(lags)) if lags else NotComputed(why[c])
      else:
        row[c] = _mean(vals, why.get(c, "not computed"))
    rows[r] = row
  if not inst.synthetic and rows["ground truth"].get("m_lmd") is not None:
    for c in ("m_lmd", "f_lmd"):  # the detector against itself: trivially 0
      if metrics.is_computed(rows["ground truth"][c]):
        rows["ground truth"][c] = NotComputed("the reference landmarks are the detector's own")
  real = np.concatenate(real_pool)
  fake = np.concatenate(fake_pool)
  sync = metrics.syncnet_scores(fake, None, inst.syncnet_weights)
  if inst.synthetic:
    sync = {
      k: NotComputed(f"{v.reason}; on synthetic data lip_sync_r measures sync")
      for k, v in sync.items()
    }
  rows["generated"]["lse_c"], rows["generated"]["lse_d"] = sync["lse_c"], sync["lse_d"]
  if fake.shape[0] >= 2:
    rows["generated"]["fid"] = metrics.fid(real, fake, inception_weights=inst.inception_weights)
  else:
    rows["generated"]["fid"] = NotComputed("FID needs at least 2 frames")
  lp = acc["generated"]["lpips"]
  rows["generated"]["lpips"] = (
    float(np.mean(lp)) if lp else metrics.lpips(real[:1], fake[:1], inst.lpips_weights)
  )
  for r in ("ground truth", "source copy"):
    for c in ("lse_c", "lse_d", "fid", "lpips"):
      rows[r][c] = NotComputed(reference[r])
  return {r: {c: rows[r][c] for c in COLUMNS} for r in ROWS}


# ------------------------------------------------------------------------------------------------
# The command.


# Direction of improvement per column (None: closer to the ground truth row is better).
HIGHER_IS_BETTER = {
  "psnr": True, "ssim": True, "m_lmd": False, "f_lmd": False, "cpbd": True,
  "emotion_accuracy": True, "lip_sync_r": True, "lip_sync_lag": None, "lse_c": True,
  "lse_d": False, "diversity": None, "pose_diversity": None, "blinks_per_min": None,
  "fid": False, "lpips": False,
}  # fmt: skip


def to_markdown(
  rows: dict[str, dict[str, Any]], row_label: str = "row", higher_is_better=None
) -> str:
  """A markdown table whose not-computed cells point to numbered notes giving the reasons.

  `higher_is_better` ({column: True / False / None}, default this table's) sets header arrows.
  """
  higher_is_better = HIGHER_IS_BETTER if higher_is_better is None else higher_is_better
  cols = list(next(iter(rows.values())))
  reasons: list[str] = []
  shown = {}
  for name, row in rows.items():
    shown[name] = {}
    for c in cols:
      v = row[c]
      if isinstance(v, NotComputed):
        if v.reason not in reasons:
          reasons.append(v.reason)
        v = f"n/a [{reasons.index(v.reason) + 1}]"
      shown[name][c] = v if isinstance(v, str) else report.format_value(v)
  arrow = {True: " ↑", False: " ↓"}
  lines = [
    "| " + " | ".join([row_label] + [c + arrow.get(higher_is_better.get(c), "") for c in cols])
    + " |",
    "|" + "---|" * (len(cols) + 1),
  ]  # fmt: skip
  lines += ["| " + " | ".join([n] + [shown[n][c] for c in cols]) + " |" for n in rows]
  notes = [f"[{i + 1}] not computed: {r}" for i, r in enumerate(reasons)]
  return "\n".join(lines) + "\n" + ("\n" + "\n\n".join(notes) + "\n" if notes else "")


def write_table(
  rows: dict[str, dict[str, Any]], details: dict[str, Any], out: str, title: str, notes: str
) -> dict[str, str]:
  """OUT/eval_table.json, OUT/eval_table.md (title, notes, table), OUT/eval_details.json."""
  os.makedirs(out, exist_ok=True)
  paths = {
    "json": os.path.join(out, "eval_table.json"),
    "md": os.path.join(out, "eval_table.md"),
    "details": os.path.join(out, "eval_details.json"),
  }
  with open(paths["json"], "w", encoding="utf-8") as f:
    f.write(report.to_json(rows))
  with open(paths["md"], "w", encoding="utf-8") as f:
    f.write(f"# {title}\n\n{notes}\n\n{to_markdown(rows)}")
  with open(paths["details"], "w", encoding="utf-8") as f:
    json.dump(report.to_jsonable(details), f, indent=2)
  return paths


def run(args: argparse.Namespace) -> int:
  """`launch.evaluate --checkpoints DIR --dataset NAME --out OUT`."""
  t0 = time.perf_counter()
  if not args.checkpoints or not args.dataset:
    raise ValueError("--checkpoints and --dataset are required (or --ablation, or --stage).")
  if not os.path.isdir(args.checkpoints):
    raise FileNotFoundError(f"--checkpoints {args.checkpoints} does not exist.")
  if args.seeds < 1 or args.max_clips < 0:
    raise ValueError(f"--seeds must be >= 1 and --max_clips >= 0; got {args.seeds}, "
                     f"{args.max_clips}.")  # fmt: skip
  check_dataset(args.dataset, args.data_dir)
  talker = inference.load(args.checkpoints)
  size = int(talker.image_size)
  data = load_data(
    args.dataset, args.data_dir, max_clips=args.max_clips, train_frames=args.landmark_frames
  )
  t_data = time.perf_counter()
  inst = build_instruments(
    data, size, landmarks=args.landmarks, classifier_steps=args.classifier_steps,
    landmark_steps=args.landmark_steps, window=args.window,
    inception_weights=args.inception_weights, lpips_weights=args.lpips_weights,
    syncnet_weights=args.syncnet_weights,
  )  # fmt: skip
  t_inst = time.perf_counter()
  gen = pipeline_generator(talker, temperature=args.temperature, fidelity=args.fidelity)
  rows, details = score(
    data.test, gen, inst, image_size=size, seeds=list(range(args.seeds)),
    frame_stride=args.frame_stride,
  )  # fmt: skip
  details.update(
    checkpoints=os.path.abspath(args.checkpoints),
    dataset=args.dataset,
    classifier=inst.classifier_info,
    landmarks=inst.landmarks_info,
    temperature=args.temperature,
    fidelity=args.fidelity,
    seconds={
      "data": round(t_data - t0, 1),
      "instruments": round(t_inst - t_data, 1),
      "generate_and_score": round(time.perf_counter() - t_inst, 1),
    },
  )
  notes = (
    f"{args.dataset} test split: {details['clips']} clips x {args.seeds} seeds, "
    f"{details['frames_scored']} generated frames at {size} px; checkpoints "
    f"{args.checkpoints}. Emotion classifier: {inst.classifier_info}. Landmarks: "
    f"{inst.landmarks_info or 'none'}. LMD in 256 px units. Definitions: docs/evaluation.md."
  )
  paths = write_table(rows, details, args.out, "FlowVQTalker evaluation", notes)
  print(notes + "\n\n" + to_markdown(rows))
  print(f"wrote {paths['json']}, {paths['md']}, {paths['details']}")
  return 0
