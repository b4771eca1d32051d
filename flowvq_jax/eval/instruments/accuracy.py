"""Measures the evaluation models on the synthetic world and prints the numbers (docs/metrics.md).

    python -m flowvq_jax.eval.instruments.accuracy                      # the settings the tests use
    python -m flowvq_jax.eval.instruments.accuracy --train_ids 300 --lm_frames 4 --lm_steps 600

Emotion classifier: trained on ground-truth windows of `--clf_ids` identities at intensities
1-3, tested on 4 held-out identities (new seeds) per intensity, per window and per clip.
Landmark regressor: trained on `--train_ids` identities at 64 px, tested on 8 held-out
identities' clips, against the mean-shape baseline; LMD in 64 px and in 256-px reference pixels.
Optionally saves the trained models (`--out_dir`).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from flowvq_jax.eval import metrics as M
from flowvq_jax.eval.instruments import classifier as C
from flowvq_jax.eval.instruments import landmarks as L
from flowvq_jax.world import SyntheticWorld


def classifier_benchmark(clf_ids: int, steps: int, seed: int) -> dict:
  world = SyntheticWorld(seed=0, resolution=64)
  t0 = time.perf_counter()
  x, y = C.world_windows(world, range(clf_ids), intensities=(1, 2, 3), seconds=2.0)
  t1 = time.perf_counter()
  clf = C.train_emotion_classifier(x, y, steps=steps, seed=seed)
  t2 = time.perf_counter()
  out = {"train_windows": len(y), "data_s": t1 - t0, "train_s": t2 - t1, "classifier": clf}
  test_ids = range(100, 104)
  for k in (1, 2, 3):
    xt, yt = C.world_windows(world, test_ids, intensities=(k,), seeds=(7,), seconds=2.0)
    out[f"window_acc_i{k}"] = C.accuracy(clf, xt, yt)
    clips, labels = [], []
    for i in test_ids:
      for e in range(8):
        clips.append(world.sample_clip(i, e, k, 4.0, seed=11, render_frames=False).exp)
        labels.append(e)
    out[f"clip_acc_i{k}"] = C.clip_accuracy(clf, clips, labels)
  return out


def landmark_benchmark(train_ids: int, frames: int, steps: int, width: int, seed: int) -> dict:
  world = SyntheticWorld(seed=0, resolution=64)
  t0 = time.perf_counter()
  x, y = L.world_frames(world, range(train_ids), frames_per_identity=frames, seed=seed)
  t1 = time.perf_counter()
  reg = L.train_landmark_regressor(x, y, steps=steps, seed=seed, width=width)
  t2 = time.perf_counter()
  clips = [world.sample_clip(200 + i, i, 3, 0.4, seed=5) for i in range(8)]
  frames_t = np.concatenate([c.frames for c in clips])
  true = np.concatenate([c.landmarks for c in clips])
  pred = L.predict_landmarks(reg, frames_t)
  base = L.mean_shape_landmarks(reg, len(frames_t), 64)
  out = {"train_frames": len(x), "data_s": t1 - t0, "train_s": t2 - t1, "regressor": reg}
  for region, name in (("mouth", "m_lmd"), ("face", "f_lmd")):
    out[name + "_64px"] = M.lmd(pred, true, region, resolution=64, reference_resolution=64)
    out[name + "_mean_shape_64px"] = M.lmd(
      base, true, region, resolution=64, reference_resolution=64
    )
    out[name + "_256px"] = M.lmd(pred, true, region, resolution=64)
  return out


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--clf_ids", type=int, default=2)
  p.add_argument("--clf_steps", type=int, default=200)
  p.add_argument("--train_ids", type=int, default=100)
  p.add_argument("--lm_frames", type=int, default=8, help="frames per training identity")
  p.add_argument("--lm_steps", type=int, default=300)
  p.add_argument("--lm_width", type=int, default=16)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out_dir", default=None, help="save classifier / regressor msgpack files here")
  args = p.parse_args(argv)
  c = classifier_benchmark(args.clf_ids, args.clf_steps, args.seed)
  print(
    f"emotion classifier: {c['train_windows']} train windows, data {c['data_s']:.1f} s, "
    f"train {c['train_s']:.1f} s ({args.clf_steps} steps)"
  )
  for k in (1, 2, 3):
    print(
      f"  intensity {k}: window accuracy {c[f'window_acc_i{k}']:.3f}, "
      f"clip accuracy {c[f'clip_acc_i{k}']:.3f}"
    )
  r = landmark_benchmark(args.train_ids, args.lm_frames, args.lm_steps, args.lm_width, args.seed)
  print(
    f"landmark regressor: {r['train_frames']} train frames, data {r['data_s']:.1f} s, "
    f"train {r['train_s']:.1f} s ({args.lm_steps} steps)"
  )
  for name in ("m_lmd", "f_lmd"):
    print(
      f"  {name}: {r[name + '_64px']:.3f} px at 64 px (mean shape "
      f"{r[name + '_mean_shape_64px']:.3f}); {r[name + '_256px']:.2f} px at 256 px reference"
    )
  if args.out_dir:
    os.makedirs(args.out_dir, exist_ok=True)
    C.save_classifier(c["classifier"], os.path.join(args.out_dir, "emotion_classifier.msgpack"))
    L.save_regressor(r["regressor"], os.path.join(args.out_dir, "landmark_regressor.msgpack"))
    print(f"saved models to {args.out_dir}")


if __name__ == "__main__":
  main()
