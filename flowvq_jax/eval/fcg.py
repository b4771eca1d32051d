r"""Evaluation of the Flow-based Coefficient Generator (ExpFlow + PoseFlow).

  python -m launch.evaluate --stage fcg --expflow RUN --poseflow RUN --out DIR \
      [--data_dir DIR] [--num_clips N] [--seeds 5] [--temperature T] \
      [--nll_runs smm=RUN,gmm=RUN,nodrop=RUN]

Reads training workdirs of configs/expflow.py and configs/poseflow.py (their `config.json` and
latest checkpoint) and, on the held-out `--split` (default `test`: identities AND utterances
never seen in training), samples every clip's audio with the clip's emotion and intensity for
`--seeds` seeds, de-normalises with the dataset's statistics and reports

  lip_sync_r           Pearson r between sampled jaw_open (exp dim 0) and the mouth law of the
                       same audio (`flowvq_jax.world.mouth_from_audio`), mean over clips and seeds
                       (target >= 0.85); `lip_sync_lag`: median best lag in frames (target 0);
                       `lip_sync_r_min_seed`: the worst seed's mean r (lip sync holding across
                       seeds); `lip_sync_r_ground_truth`: the same for the data itself
  emotion_accuracy     clip accuracy of the sampled expressions under the coefficient-window
                       emotion classifier (`flowvq_jax.eval.instruments.classifier`) trained on
                       ground-truth windows of the train split (target >= 0.90 over 8 emotions);
                       `emotion_accuracy_ground_truth`: the classifier on the real test clips;
                       `fcg_details.json` adds `emotion_confusion` (true x predicted counts
                       over clips x seeds) and `emotion_accuracy_per_emotion`
  diversity_ratio      std over seeds of the non-mouth expression dims, relative to the ground
                       truth's within-emotion std (target 0.5-1.5); `pose_diversity_ratio` the same
                       for the 6 pose values
  nll_nats_per_dim     held-out NLL of each run (ExpFlow, PoseFlow and every `--nll_runs` entry,
                       e.g. the paper's SMM / GMM / no-dropout ablation)

It prints the numbers and writes `DIR/fcg_eval.{json,md}` (one row: the metrics and whether each
target is met), `DIR/fcg_nll.{json,md}` (one row per run) and `DIR/fcg_details.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import grain
import jax
import numpy as np

from flowvq_jax.core.constants import EMOTIONS
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data import pipeline, sources
from flowvq_jax.eval import metrics, report
from flowvq_jax.eval.instruments import classifier as clf_lib
from flowvq_jax.models.flow.sampler import FlowSampler
from flowvq_jax.stages import flow as flow_stage
from flowvq_jax.train.tasks import flow as flow_task
from flowvq_jax.world import mouth_from_audio
from flowvq_jax.world.tables import MOUTH_DIMS

TARGETS = {
  "lip_sync_r": (">=", 0.85),
  "lip_sync_lag": ("==", 0),
  "emotion_accuracy": (">=", 0.90),
  "diversity_ratio": ("in", (0.5, 1.5)),
}


# ------------------------------------------------------------------------------------------------
# Loading.


def load_run(workdir: str, data_dir: str | None = None) -> flow_stage.FlowRun:
  """A flow run (`flowvq_jax.stages.flow.load`), its data read from `data_dir` when given."""
  run = flow_stage.load(workdir)
  if data_dir:
    with run.config.unlocked():
      run.config.data.data_dir = data_dir
  return run


def _parse_runs(spec: str) -> dict[str, str]:
  runs = {}
  for item in [s.strip() for s in spec.split(",") if s.strip()]:
    name, sep, path = item.partition("=")
    if not sep or not name or not path:
      raise ValueError(f"--nll_runs entries are NAME=WORKDIR, got {item!r}.")
    runs[name] = path
  return runs


# ------------------------------------------------------------------------------------------------
# Metrics.


def heldout_nll(run: flow_stage.FlowRun, split: str = "test", batch_size: int = 8):
  """Frame-weighted held-out NLL `{name: float}` of a run on the central windows of `split`'s
  clips."""
  config, params, model = run.config, run.params, run.model
  source = flow_task.clip_source(config.data, split)
  ds = pipeline.make_dataset(
    source,
    batch_size=batch_size,
    window=int(config.data.window),
    mel_context=int(model.audio_context),
    train=False,
    stats=run.stats,
    shard_options=grain.sharding.NoSharding(),
    num_threads=1,
  ).map(flow_task.ToBatch(config.data.coeffs, bool(config.data.get("unlabelled", False))))
  fn = jax.jit(lambda p, b: model.apply({"params": p}, *flow_task.inputs(b), method="log_prob"))
  tot, frames, prior, logdet = 0.0, 0.0, 0.0, 0.0
  for batch in ds:
    out = jax.device_get(fn(params, batch))
    tot += float(np.sum(out["log_prob"]))
    prior += float(np.sum(out["log_prior"]))
    logdet += float(np.sum(out["log_det"]))
    frames += float(np.sum(out["frames"]))
  dims = max(frames, 1.0) * model.dim
  return {
    "nll_nats_per_dim": -tot / dims,
    "nll_bits_per_dim": float(-tot / dims / np.log(2.0)),
    "log_prior_per_dim": prior / dims,
    "log_det_per_dim": logdet / dims,
    "frames": int(frames),
  }


def _pick(n: int, k: int) -> list[int]:
  if k <= 0 or k >= n:
    return list(range(n))
  return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)})


def _met(name: str, value: Any) -> bool:
  return report.meets(TARGETS[name], value)


def evaluate(
  exp_run: flow_stage.FlowRun,
  pose_run: flow_stage.FlowRun,
  *,
  split: str = "test",
  num_clips: int = 0,
  seeds: int = 5,
  temperature: float = 1.0,
  classifier_steps: int = 400,
  window: int = 25,
) -> dict[str, Any]:
  """The FCG metrics (module docstring) of an ExpFlow and a PoseFlow run; the samples are
  denormalised with each run's own statistics."""
  if seeds < 2:
    raise ValueError(f"--seeds must be >= 2 to measure diversity, got {seeds}.")
  exp_cfg, exp_params = exp_run.config, exp_run.params
  pose_cfg, pose_params = pose_run.config, pose_run.params
  if exp_cfg.data.coeffs != "exp" or pose_cfg.data.coeffs != "pose":
    raise ValueError(
      f"--expflow must be an ExpFlow run and --poseflow a PoseFlow run; got data.coeffs "
      f"{exp_cfg.data.coeffs!r} and {pose_cfg.data.coeffs!r}."
    )
  source = sources.clip_source(exp_cfg.data, split, frames=False)
  train_src = flow_task.clip_source(exp_cfg.data, "train")
  idx = _pick(len(source), num_clips)
  clips = [source[i] for i in idx]
  labels = [int(c["emotion"]) for c in clips]
  samplers = {
    "exp": FlowSampler(exp_run.model, chunk_size=64),
    "pose": FlowSampler(pose_run.model, chunk_size=64),
  }
  ident = coeffs_lib.CoeffStats.identity()
  seed_list = list(range(seeds))
  lips = np.zeros((len(clips), seeds))
  lags = np.zeros((len(clips), seeds), np.int64)
  gt_lips, exp_samples, pose_samples = [], [], []
  for c in clips:
    mel = np.asarray(c["mel"], np.float32)
    emo, inten = int(c["emotion"]), float(c["intensity"])
    e = samplers["exp"](
      exp_params, mel_frames=mel, emotion=emo, intensity=inten, temperature=temperature,
      seed=seed_list,
    )  # fmt: skip
    p = samplers["pose"](
      pose_params, mel_frames=mel, emotion=emo, intensity=inten, temperature=temperature,
      seed=[s + 1000 for s in seed_list],
    )  # fmt: skip
    e, _ = coeffs_lib.denormalize(e, ident.pose_mean, exp_run.stats)
    _, p = coeffs_lib.denormalize(ident.exp_mean, p, pose_run.stats)
    exp_samples.append(np.asarray(e))
    pose_samples.append(np.asarray(p))
    law = np.asarray(mouth_from_audio(np.asarray(c["audio"], np.float32), 16_000))[:, 0]
    t = min(law.shape[0], e.shape[1])
    max_lag = min(10, t - 3)
    gt_lips.append(metrics.lip_sync(np.asarray(c["exp"])[:t, 0], law[:t], max_lag)["pearson_r"])
  for i, c in enumerate(clips):
    law = np.asarray(mouth_from_audio(np.asarray(c["audio"], np.float32), 16_000))[:, 0]
    t = min(law.shape[0], exp_samples[i].shape[1])
    for s in range(seeds):
      ls = metrics.lip_sync(exp_samples[i][s, :t, 0], law[:t], min(10, t - 3))
      lips[i, s], lags[i, s] = ls["pearson_r"], ls["best_lag"]

  # Emotion accuracy: classifier trained on ground-truth train windows.
  tr_windows, tr_labels = [], []
  for k in range(len(train_src)):
    ex = train_src[k]
    w = clf_lib.make_windows(np.asarray(ex["exp"], np.float32), window)
    tr_windows.append(w)
    tr_labels.append(np.full(len(w), int(ex["emotion"]), np.int32))
  clf = clf_lib.train_emotion_classifier(
    np.concatenate(tr_windows), np.concatenate(tr_labels), steps=classifier_steps, seed=0
  )
  preds = np.stack([clf_lib.clip_predictions(clf, [x[s] for x in exp_samples]) for s in seed_list])
  acc_seed = [float(np.mean(p == np.asarray(labels))) for p in preds]
  confusion = clf_lib.confusion(np.tile(labels, seeds), preds.reshape(-1))
  acc_gt = clf_lib.clip_accuracy(clf, [np.asarray(c["exp"], np.float32) for c in clips], labels)

  # Diversity across seeds relative to the ground truth's within-emotion std (split clips).
  ref_exp = metrics.within_emotion_std([np.asarray(c["exp"]) for c in clips], labels)
  ref_pose = metrics.within_emotion_std([np.asarray(c["pose"]) for c in clips], labels)
  dims = [d for d in range(ref_exp.shape[0]) if d not in MOUTH_DIMS and ref_exp[d] > 1e-6]
  pdims = [d for d in range(ref_pose.shape[0]) if ref_pose[d] > 1e-6]
  div = [metrics.diversity(x, ref_exp, dims)["ratio"] for x in exp_samples]
  pdiv = [metrics.diversity(x, ref_pose, pdims)["ratio"] for x in pose_samples]
  sem = [d for d in dims if d < 16]
  sem_div = [metrics.diversity(x, ref_exp, sem)["ratio"] for x in exp_samples] if sem else [np.nan]

  result = {
    "lip_sync_r": float(np.mean(lips)),
    "lip_sync_lag": int(np.median(lags)),
    "lip_sync_r_min_seed": float(np.min(lips.mean(0))),
    "lip_sync_r_ground_truth": float(np.mean(gt_lips)),
    "emotion_accuracy": float(np.mean(acc_seed)),
    "emotion_accuracy_ground_truth": acc_gt,
    "diversity_ratio": float(np.mean(div)),
    "diversity_ratio_semantic": float(np.mean(sem_div)),
    "pose_diversity_ratio": float(np.mean(pdiv)),
  }
  details = {
    "split": split,
    "clips": len(clips),
    "seeds": seeds,
    "temperature": temperature,
    "lip_sync_r_per_seed": lips.mean(0).tolist(),
    "lip_sync_lag_counts": {int(k): int(v) for k, v in zip(*np.unique(lags, return_counts=True))},
    "emotion_accuracy_per_seed": acc_seed,
    # Over clips x seeds: row = the clip's emotion, column = the classifier's (EMOTIONS order).
    "emotion_confusion": confusion.tolist(),
    "emotion_accuracy_per_emotion": {
      name: float(confusion[k, k] / max(confusion[k].sum(), 1))
      for k, name in enumerate(EMOTIONS)
      if confusion[k].sum()
    },
    "classifier_train_windows": int(sum(len(w) for w in tr_windows)),
    "diversity_dims": dims,
  }
  return {"metrics": result, "details": details}


def run(args: argparse.Namespace) -> int:

  t0 = time.perf_counter()
  nll_runs = {"expflow": args.expflow, "poseflow": args.poseflow, **_parse_runs(args.nll_runs)}
  for name, path in nll_runs.items():  # fail fast, before any work
    if not os.path.isdir(path):
      flag = f"--{name}" if name in ("expflow", "poseflow") else f"--nll_runs {name}"
      raise FileNotFoundError(f"Workdir {path} ({flag}) does not exist.")
  exp_run = load_run(args.expflow, args.data_dir)
  pose_run = load_run(args.poseflow, args.data_dir)
  exp_step, pose_step = exp_run.step, pose_run.step
  out = evaluate(
    exp_run, pose_run, split=args.split, num_clips=args.num_clips, seeds=args.seeds,
    temperature=args.temperature, classifier_steps=args.classifier_steps, window=args.window,
  )  # fmt: skip
  m = out["metrics"]
  nll = {}
  for name, path in nll_runs.items():
    nll_run = load_run(path, args.data_dir)
    cfg, step = nll_run.config, nll_run.step
    r = heldout_nll(nll_run, args.split)
    nll[name] = {
      "coeffs": cfg.data.coeffs,
      "prior": cfg.model.prior,
      "history_dropout": float(cfg.model.history_dropout),
      "step": step,
      **r,
    }
  m["nll_nats_per_dim_exp"] = nll["expflow"]["nll_nats_per_dim"]
  m["nll_nats_per_dim_pose"] = nll["poseflow"]["nll_nats_per_dim"]
  m["targets_met"] = ", ".join(k for k in TARGETS if _met(k, m[k])) or "none"
  m["targets_missed"] = ", ".join(k for k in TARGETS if not _met(k, m[k])) or "none"
  os.makedirs(args.out, exist_ok=True)
  report.write_report({"ExpFlow + PoseFlow": m}, os.path.join(args.out, "fcg_eval"), "FCG")
  report.write_report(nll, os.path.join(args.out, "fcg_nll"), "FCG held-out NLL")
  details = {
    **out["details"],
    "expflow": {"workdir": os.path.abspath(args.expflow), "step": exp_step},
    "poseflow": {"workdir": os.path.abspath(args.poseflow), "step": pose_step},
    "targets": {k: list(v) if isinstance(v, tuple) else v for k, v in TARGETS.items()},
    "seconds": round(time.perf_counter() - t0, 1),
  }
  with open(os.path.join(args.out, "fcg_details.json"), "w") as f:
    json.dump(report.to_jsonable(details), f, indent=2)
  print(
    f"FCG eval on {out['details']['split']} ({out['details']['clips']} clips x {args.seeds} "
    f"seeds; ExpFlow step {exp_step}, PoseFlow step {pose_step}):\n"
    f"  lip sync r {m['lip_sync_r']:.3f} (worst seed {m['lip_sync_r_min_seed']:.3f}; data "
    f"{m['lip_sync_r_ground_truth']:.3f}), best lag {m['lip_sync_lag']} frames\n"
    f"  emotion accuracy {m['emotion_accuracy']:.3f} (classifier on the real clips: "
    f"{m['emotion_accuracy_ground_truth']:.3f}); per emotion: "
    + ", ".join(f"{k} {v:.2f}" for k, v in out["details"]["emotion_accuracy_per_emotion"].items())
    + "\n"
    f"  diversity ratio {m['diversity_ratio']:.3f} (semantic dims "
    f"{m['diversity_ratio_semantic']:.3f}), pose {m['pose_diversity_ratio']:.3f}\n"
    f"  targets met: {m['targets_met']}; missed: {m['targets_missed']}\n"
    + report.to_markdown(nll, row_label="run")
    + f"  wrote {args.out}/fcg_eval.json/.md, fcg_nll.json/.md, fcg_details.json "
    f"({details['seconds']} s)"
  )
  return 0
