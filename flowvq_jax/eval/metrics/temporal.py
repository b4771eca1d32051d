"""Metrics over coefficient sequences: lip sync against the audio's mouth law, blink rate,
emotion offsets and the diversity of samples of the same audio."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from flowvq_jax.world import mouth_from_audio, tables

# ------------------------------------------------------------------------------------------------
# Temporal metrics.


def _series(x, name: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != 1:
    raise ValueError(f"{name} must be a 1-D series [T], got shape {x.shape}.")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or inf.")
  return x


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
  a, b = a - a.mean(), b - b.mean()
  den = math.sqrt(float(np.sum(a * a) * np.sum(b * b)))
  return float(np.sum(a * b) / den) if den > 0 else float("nan")


def lip_sync(jaw_open_pred, jaw_open_ref, max_lag: int = 10) -> dict[str, float | int]:
  """Lip-sync agreement of a jaw-opening series with a reference (e.g. the mouth law).

  r(L) = Pearson correlation of pred[t + L] with ref[t] over the overlapping frames. A positive
  best lag means the prediction is late (pred[t] ~ ref[t - L]).

  Args:
    jaw_open_pred, jaw_open_ref: [T] per-frame jaw opening (e.g. exp dim 0) at the same fps.
    max_lag: lags -max_lag..max_lag frames are searched (< T - 1).

  Returns:
    {'pearson_r': r(0), 'best_lag': argmax_L r(L), 'r_at_best_lag': r(best_lag)}; r is NaN for a
    constant series.
  """
  p = _series(jaw_open_pred, "jaw_open_pred")
  r = _series(jaw_open_ref, "jaw_open_ref")
  if p.shape != r.shape:
    raise ValueError(f"Series differ in length: {p.shape[0]} vs {r.shape[0]}.")
  max_lag = int(max_lag)
  if max_lag < 0 or p.shape[0] - max_lag < 3:
    raise ValueError(f"max_lag must be in [0, T - 3] = [0, {p.shape[0] - 3}], got {max_lag}.")
  t = p.shape[0]
  rs = {}
  for lag in range(-max_lag, max_lag + 1):
    if lag >= 0:
      rs[lag] = _pearson(p[lag:], r[: t - lag])
    else:
      rs[lag] = _pearson(p[: t + lag], r[-lag:])
  finite = {k: v for k, v in rs.items() if np.isfinite(v)}
  if finite:
    best = max(finite, key=lambda k: (finite[k], -abs(k)))
  else:
    best = 0
  return {"pearson_r": rs[0], "best_lag": int(best), "r_at_best_lag": rs[best]}


def blink_rate(blink_series, fps: float = 25, threshold: float = 0.5) -> float:
  """Blinks per minute: upward crossings of `threshold` (x[t-1] < threshold <= x[t]).

  A series that starts at or above the threshold does not count that first closure.

  Args:
    blink_series: [T] eyelid closure (e.g. exp dim 7, 1 = closed).
    fps: frames per second of the series.
  """
  x = _series(blink_series, "blink_series")
  if not fps > 0:
    raise ValueError(f"fps must be positive, got {fps}.")
  if x.size < 2:
    raise ValueError(f"blink_series needs at least 2 frames, got {x.size}.")
  count = int(np.sum((x[:-1] < threshold) & (x[1:] >= threshold)))
  return count * 60.0 * fps / x.size


def coefficient_metrics(
  exp_pred, exp_ref=None, audio=None, sample_rate: int = 16_000, fps: float = 25, max_lag: int = 10
) -> dict[str, float | int]:
  """Per-clip metrics of a generated expression sequence (no images needed).

  Lip sync compares the generated jaw opening (exp dim 0, `jaw_open`) with a reference jaw
  series: `exp_ref[:, 0]` when given, else the world's mouth law applied to `audio`
  (`flowvq_jax.world.mouth_from_audio`, defined for any recording). Blink rate uses exp dim 7
  (`blink`, threshold 0.5), for the prediction and, when given, the reference.

  Args:
    exp_pred: [T, 64] generated expression coefficients (world / Deep3DFaceRecon-sized layout).
    exp_ref: optional [T, 64] ground truth.
    audio: optional waveform [N] at `sample_rate`, used when `exp_ref` is None.

  Returns:
    {'pearson_r', 'best_lag', 'r_at_best_lag', 'blinks_per_min' [, 'blinks_per_min_ref']};
    lip-sync keys are absent when neither `exp_ref` nor `audio` is given.
  """
  e = np.asarray(exp_pred, np.float64)
  if e.ndim != 2 or e.shape[1] <= tables.BLINK:
    raise ValueError(f"exp_pred must be [T, 64] expression coefficients, got {e.shape}.")
  out: dict[str, float | int] = {}
  ref_jaw = None
  if exp_ref is not None:
    r = np.asarray(exp_ref, np.float64)
    if r.shape != e.shape:
      raise ValueError(f"exp_ref must match exp_pred's shape {e.shape}, got {r.shape}.")
    ref_jaw = r[:, tables.JAW]
    out["blinks_per_min_ref"] = blink_rate(r[:, tables.BLINK], fps)
  elif audio is not None:
    ref_jaw = np.asarray(mouth_from_audio(np.asarray(audio, np.float32), sample_rate))[:, 0]
    if ref_jaw.shape[0] != e.shape[0]:
      raise ValueError(
        f"The audio gives {ref_jaw.shape[0]} frames at 25 fps but exp_pred has {e.shape[0]}."
      )
  if ref_jaw is not None:
    out.update(lip_sync(e[:, tables.JAW], ref_jaw, max_lag=min(max_lag, e.shape[0] - 3)))
  out["blinks_per_min"] = blink_rate(e[:, tables.BLINK], fps)
  return out


def within_emotion_std(coefficients: Sequence[np.ndarray], labels: Sequence[int]) -> np.ndarray:
  """Ground-truth within-emotion std per dim, the reference scale for `diversity`.

  For every emotion, all frames of its clips are pooled and the std per dim is taken; the result
  averages those stds over the emotions present.

  Args:
    coefficients: clips, each [T_i, D].
    labels: each clip's emotion index.

  Returns:
    float64 [D].
  """
  if len(coefficients) != len(labels) or not coefficients:
    raise ValueError(
      f"Need one label per clip, got {len(coefficients)} clips, {len(labels)} labels."
    )
  groups: dict[int, list[np.ndarray]] = {}
  for c, lab in zip(coefficients, labels, strict=True):
    c = np.asarray(c, np.float64)
    if c.ndim != 2:
      raise ValueError(f"Each clip must be [T, D], got {c.shape}.")
    groups.setdefault(int(lab), []).append(c)
  return np.mean([np.concatenate(g).std(axis=0) for g in groups.values()], axis=0)


def diversity(samples, ref_within_emotion_std, dims: Sequence[int] | None = None) -> dict:
  """Sample diversity across seeds, relative to the data's own within-emotion spread.

  std_d = mean over frames t of std over seeds s of samples[s, t, d] (population std); the ratio
  is std_d / ref_within_emotion_std[d]. 1 means the seeds vary as much as different ground-truth
  clips of one emotion; 0 means every seed gives the same sequence.

  Args:
    samples: [S, T, D] with S >= 2 sequences generated for the same audio/emotion, different seeds.
    ref_within_emotion_std: [D] (see `within_emotion_std`).
    dims: the dims to evaluate (default all), e.g. non-mouth semantic dims.

  Returns:
    {'std': mean over dims of std_d, 'ratio': mean over dims of the ratio,
     'per_dim_ratio': float64 [len(dims)]}.
  """
  s = np.asarray(samples, np.float64)
  if s.ndim != 3 or s.shape[0] < 2:
    raise ValueError(f"samples must be [S >= 2, T, D], got {s.shape}.")
  ref = np.asarray(ref_within_emotion_std, np.float64)
  if ref.shape != (s.shape[2],):
    raise ValueError(f"ref_within_emotion_std must be [{s.shape[2]}], got {ref.shape}.")
  dims = list(range(s.shape[2])) if dims is None else [int(d) for d in dims]
  if not dims or min(dims) < 0 or max(dims) >= s.shape[2]:
    raise ValueError(f"dims must be non-empty indices into {s.shape[2]} dims, got {dims}.")
  if np.any(ref[dims] <= 0):
    bad = [d for d in dims if ref[d] <= 0]
    raise ValueError(f"Reference std is zero for dims {bad}; leave them out of `dims`.")
  per_dim = s.std(axis=0).mean(axis=0)[dims]
  ratio = per_dim / ref[dims]
  return {"std": float(per_dim.mean()), "ratio": float(ratio.mean()), "per_dim_ratio": ratio}
