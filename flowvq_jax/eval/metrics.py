"""Evaluation metrics for talking-face generation: pure functions over numpy arrays.

Image range conventions (shared by every image metric here):
  * `uint8` arrays are pixel values in [0, 255];
  * floating arrays are in [-1, 1] (the generators' output range); values outside
    [-1 - 1e-3, 1 + 1e-3] raise ValueError.
Both are mapped to [0, 1] before PSNR/SSIM, so a uint8 image and its float copy
`x / 127.5 - 1` score the same.

Metrics that need pretrained networks which this package cannot download (FID's Inception-v3,
LPIPS's VGG16, SyncNet) return a `NotComputed(reason)` instead of a number when the weights are
not given; report tables print the reason (see `flowvq_jax.eval.report`). See docs/metrics.md for
every definition.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import cv2
import dm_pix
import jax.numpy as jnp
import numpy as np

from flowvq_jax.models.vq import perceptual
from flowvq_jax.world import mouth_from_audio, tables

# iBUG 68-point layout: the mouth is points 48..67 (outer lip 48..59, inner lip 60..67).
MOUTH_POINTS = tuple(range(48, 68))
LMD_REFERENCE_RESOLUTION = 256  # MEAD papers report LMD in pixels of 256 x 256 face crops.

# CPBD constants (Narvekar & Karam, 2011).
CPBD_BETA = 3.6
CPBD_P_JNB = 0.63  # an edge counts as sharp when its blur probability is <= 63%.
CPBD_EDGE_BLOCK_FRACTION = 0.002  # a block is an edge block above this fraction of edge pixels.


# ------------------------------------------------------------------------------------------------
# The "not computed" convention.


@dataclasses.dataclass(frozen=True)
class NotComputed:
  """A metric that could not be computed, with the reason (e.g. the missing weights file).

  Metric functions return it instead of a number so a report can show *why* a cell is empty.
  It deliberately refuses `float()` so it cannot slip into arithmetic silently.
  """

  reason: str

  def __str__(self) -> str:
    return f"not computed: {self.reason}"

  def __float__(self) -> float:
    raise TypeError(f"Metric value is {self}; it has no numeric value.")

  def to_json(self) -> dict[str, str]:
    return {"not_computed": self.reason}


MetricValue = float | NotComputed


def is_computed(value: Any) -> bool:
  """True for a metric value that is a number (not a `NotComputed`)."""
  return not isinstance(value, NotComputed)


# ------------------------------------------------------------------------------------------------
# Input checks.


def _to_unit_range(x, name: str) -> np.ndarray:
  """uint8 [0, 255] or float [-1, 1] -> float32 [0, 1]."""
  x = np.asarray(x)
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 255.0
  if not np.issubdtype(x.dtype, np.floating):
    raise ValueError(f"{name} must be uint8 in [0, 255] or float in [-1, 1], got dtype {x.dtype}.")
  if x.size and not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or inf.")
  if x.size and (x.min() < -1.001 or x.max() > 1.001):
    raise ValueError(
      f"Float {name} must be in [-1, 1] (uint8 images are in [0, 255]); got values in "
      f"[{x.min():.3g}, {x.max():.3g}]."
    )
  return ((x.astype(np.float32) + 1.0) * 0.5).clip(0.0, 1.0)


def _image_pair(a, b) -> tuple[np.ndarray, np.ndarray, bool]:
  """Checks two image batches; returns them as float32 [B, H, W, C] in [0, 1]."""
  a, b = np.asarray(a), np.asarray(b)
  if a.shape != b.shape:
    raise ValueError(f"Images must have equal shapes, got {a.shape} and {b.shape}.")
  if a.ndim not in (3, 4) or a.shape[-1] not in (1, 3):
    raise ValueError(f"Expected images [B, H, W, C] or [H, W, C] with C in (1, 3), got {a.shape}.")
  if (a.dtype == np.uint8) != (b.dtype == np.uint8):
    raise ValueError(
      f"Both images must use the same range convention (uint8 or float [-1, 1]); got dtypes "
      f"{a.dtype} and {b.dtype}."
    )
  single = a.ndim == 3
  a, b = _to_unit_range(a, "images"), _to_unit_range(b, "images")
  if single:
    a, b = a[None], b[None]
  return a, b, single


# ------------------------------------------------------------------------------------------------
# Pixel metrics.


def psnr(a, b) -> np.ndarray:
  """Peak signal-to-noise ratio in dB, per image (dm-pix).

  PSNR = -10 log10(MSE) with both images mapped to [0, 1] (module range conventions), i.e. a peak
  of 255 for uint8 images and of 2 for [-1, 1] images. Identical images give +inf.

  Args:
    a, b: uint8 [B, H, W, C] or float [-1, 1] of equal shape ([H, W, C] for one image).

  Returns:
    float32 [B] (a scalar array for one image).
  """
  a, b, single = _image_pair(a, b)
  out = np.asarray(dm_pix.psnr(jnp.asarray(a), jnp.asarray(b)), np.float32)
  return out[0] if single else out


def ssim(a, b, filter_size: int = 11, filter_sigma: float = 1.5) -> np.ndarray:
  """Structural similarity (Wang et al., 2004) per image, via `dm_pix.ssim`.

  Gaussian window (`filter_size` 11, sigma 1.5), K1 = 0.01, K2 = 0.03, data range 1 after the
  module's range mapping; colour images average SSIM over channels and pixels (dm-pix, 'valid'
  filtering, like scikit-image's `channel_axis` default but without edge padding).

  Args:
    a, b: uint8 [B, H, W, C] or float [-1, 1] of equal shape; H, W >= filter_size.

  Returns:
    float32 [B] in [-1, 1]; 1 for identical images.
  """
  a, b, single = _image_pair(a, b)
  if min(a.shape[1:3]) < filter_size:
    raise ValueError(f"SSIM needs images of at least {filter_size} px, got {a.shape[1:3]}.")
  out = dm_pix.ssim(
    jnp.asarray(a), jnp.asarray(b), filter_size=filter_size, filter_sigma=filter_sigma
  )
  out = np.asarray(out, np.float32)
  return out[0] if single else out


# ------------------------------------------------------------------------------------------------
# Landmarks.


def _check_landmarks(x, name: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim == 2:
    x = x[None]
  if x.ndim != 3 or x.shape[1:] != (68, 2):
    raise ValueError(f"{name} must be [T, 68, 2] (pixel x, y; iBUG layout), got {x.shape}.")
  if not np.all(np.isfinite(x)):
    raise ValueError(f"{name} contains NaN or inf.")
  return x


def lmd(
  pred_landmarks,
  true_landmarks,
  region: str = "mouth",
  resolution: float = LMD_REFERENCE_RESOLUTION,
  reference_resolution: float = LMD_REFERENCE_RESOLUTION,
) -> float:
  """Landmark distance: M-LMD (`region='mouth'`, points 48-67) or F-LMD (`'face'`, all 68).

  LMD = mean over frames and points of the Euclidean distance ||pred - true||_2, in pixels of a
  `reference_resolution` (256) image: coordinates given at `resolution` px are scaled by
  `reference_resolution / resolution` first (MEAD papers report LMD on 256 px crops).

  Args:
    pred_landmarks, true_landmarks: [T, 68, 2] pixel (x, y) at `resolution` ([68, 2] for one).
    region: 'mouth' or 'face'.
    resolution: the side of the images the landmarks were measured on.
    reference_resolution: the side the result is expressed in.

  Returns:
    The mean distance (float, reference pixels).
  """
  pred = _check_landmarks(pred_landmarks, "pred_landmarks")
  true = _check_landmarks(true_landmarks, "true_landmarks")
  if pred.shape != true.shape:
    raise ValueError(f"Landmark arrays differ in shape: {pred.shape} vs {true.shape}.")
  if region == "mouth":
    idx = list(MOUTH_POINTS)
  elif region == "face":
    idx = list(range(68))
  else:
    raise ValueError(f"region must be 'mouth' or 'face', got {region!r}.")
  if not resolution > 0 or not reference_resolution > 0:
    raise ValueError(f"resolutions must be positive, got {resolution}, {reference_resolution}.")
  d = np.linalg.norm(pred[:, idx] - true[:, idx], axis=-1)
  return float(d.mean() * reference_resolution / resolution)


# ------------------------------------------------------------------------------------------------
# Sharpness.


def _gray255(image, name: str = "image") -> np.ndarray:
  """uint8 / [-1, 1] float [H, W, 3] or [H, W] (or [H, W, 1]) -> float64 luma in [0, 255]."""
  x = np.asarray(image)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.ndim == 3 and x.shape[-1] != 3 or x.ndim not in (2, 3):
    raise ValueError(f"{name} must be [H, W, 3] or [H, W], got {x.shape}.")
  x = _to_unit_range(x, name).astype(np.float64) * 255.0
  if x.ndim == 3:  # ITU-R BT.601 luma, as MATLAB's rgb2gray.
    x = x @ np.array([0.299, 0.587, 0.114])
  return x


# The 8 quantized gradient directions as (dy, dx) unit steps, index = round(angle / 45) mod 8.
_DIRS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))


def edge_widths(gray: np.ndarray, edges: np.ndarray, max_steps: int = 50) -> np.ndarray:
  """Edge widths along the gradient direction (Marziliano et al.'s width, all 8 directions).

  For each edge pixel the Sobel gradient direction is quantized to a multiple of 45 degrees;
  from the pixel we walk up the gradient while intensity strictly increases (to the local
  maximum) and down while it strictly decreases (to the local minimum). The width is the distance
  between the two extrema (steps times 1 or sqrt(2) px for diagonals).

  Args:
    gray: float [H, W] intensities.
    edges: bool [H, W] edge pixels.

  Returns:
    float64 [N] widths of the edge pixels with a non-zero width.
  """
  h, w = gray.shape
  gx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3)
  gy = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3)
  ys, xs = np.nonzero(edges & ((gx != 0) | (gy != 0)))
  if ys.size == 0:
    return np.zeros((0,))
  ang = np.arctan2(gy[ys, xs], gx[ys, xs])
  dir_idx = np.round(ang / (np.pi / 4)).astype(int) % 8
  dirs = np.array(_DIRS)
  widths = np.zeros(ys.size)
  for sign in (1, -1):
    dy, dx = (sign * dirs[dir_idx]).T
    y, x = ys.copy(), xs.copy()
    steps = np.zeros(ys.size, int)
    active = np.ones(ys.size, bool)
    for _ in range(max_steps):
      ny, nx = y + dy, x + dx
      inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
      ny_c, nx_c = np.clip(ny, 0, h - 1), np.clip(nx, 0, w - 1)
      cur, nxt = gray[y, x], gray[ny_c, nx_c]
      go = active & inside & ((nxt > cur) if sign == 1 else (nxt < cur))
      if not go.any():
        break
      y, x = np.where(go, ny, y), np.where(go, nx, x)
      steps += go
      active = go
    widths += steps
  step_len = np.where(dir_idx % 2 == 1, math.sqrt(2.0), 1.0)
  widths = widths * step_len
  return widths[widths > 0]


def canny_edges(gray: np.ndarray, sigma: float = math.sqrt(2.0), high: float = 0.2) -> np.ndarray:
  """Canny edges of a [0, 255] float image (OpenCV), MATLAB-like defaults.

  The image is smoothed with a Gaussian of `sigma` px, then `cv2.Canny` runs on its Sobel
  derivatives with hysteresis thresholds `high * max|grad|` and `0.4 * high * max|grad|` (MATLAB's
  threshold ratio 0.4), so the detector adapts to the image's contrast.

  Returns:
    bool [H, W].
  """
  sm = cv2.GaussianBlur(gray, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)
  dx = cv2.Sobel(sm, cv2.CV_64F, 1, 0, ksize=3)
  dy = cv2.Sobel(sm, cv2.CV_64F, 0, 1, ksize=3)
  mag = np.hypot(dx, dy)
  top = float(mag.max())
  if top <= 1e-6:
    return np.zeros(gray.shape, bool)
  # cv2.Canny on int16 derivatives: rescale so the strongest gradient maps to 2**14.
  s = 2.0**14 / top
  e = cv2.Canny(
    np.round(dx * s).astype(np.int16),
    np.round(dy * s).astype(np.int16),
    0.4 * high * 2.0**14,
    high * 2.0**14,
    L2gradient=True,
  )
  return e > 0


def cpbd(image, block_size: int = 64, edge_sigma: float = math.sqrt(2.0)) -> float | np.ndarray:
  """Cumulative Probability of Blur Detection (Narvekar & Karam, IEEE TIP 2011). Higher = sharper.

  1. Luma in [0, 255]; Canny edges (`canny_edges`).
  2. The image is cut into `block_size` blocks (a smaller image is one block); a block is an edge
     block if more than 0.2% of its pixels are edges.
  3. In each edge block, every edge pixel's width w is measured along its gradient direction
     (`edge_widths`) and the block contrast C = max - min gives the just-noticeable-blur width
     w_JNB = 5 if C <= 50 else 3.
  4. P_blur(w) = 1 - exp(-|w / w_JNB|^3.6); P_blur is rounded to whole percent as in the
     reference implementation.
  5. CPBD = fraction of all edge-block edge pixels with P_blur <= 63% (the JNB probability).

  Deviation from the reference code: widths are measured along all 8 quantized gradient
  directions at Canny edge pixels (the authors' code uses horizontal widths at Sobel edges).
  Values are therefore comparable between methods evaluated with this function, not to numbers
  from other implementations. An image with no edge block scores 0.

  Args:
    image: uint8 [H, W, 3] / [H, W] or float in [-1, 1]; a batch [B, H, W, 3] gives [B].
  """
  x = np.asarray(image)
  if x.ndim == 4:
    return np.array([cpbd(im, block_size, edge_sigma) for im in x], np.float64)
  if block_size < 8:
    raise ValueError(f"block_size must be >= 8, got {block_size}.")
  gray = _gray255(x)
  h, w = gray.shape
  if min(h, w) < 8:
    raise ValueError(f"CPBD needs images of at least 8 x 8 px, got {h} x {w}.")
  edges = canny_edges(gray, sigma=edge_sigma)
  bh, bw = min(block_size, h), min(block_size, w)
  probs = []
  for i in range(h // bh):
    for j in range(w // bw):
      rows, cols = slice(i * bh, (i + 1) * bh), slice(j * bw, (j + 1) * bw)
      e = edges[rows, cols]
      if e.mean() <= CPBD_EDGE_BLOCK_FRACTION:
        continue
      block = gray[rows, cols]
      widths = edge_widths(block, e)
      if widths.size == 0:
        continue
      w_jnb = 5.0 if block.max() - block.min() <= 50 else 3.0
      p = 1.0 - np.exp(-(np.abs(widths / w_jnb) ** CPBD_BETA))
      probs.append(np.round(p * 100.0))
  if not probs:
    return 0.0
  probs = np.concatenate(probs)
  return float(np.mean(probs <= CPBD_P_JNB * 100))


def laplacian_variance(gray: np.ndarray) -> float:
  """Variance of the 3x3 Laplacian of a [0, 255] float image (a standard focus measure)."""
  return float(cv2.Laplacian(gray, cv2.CV_64F, ksize=1).var())


def mouth_sharpness(frames, landmarks, margin: float = 0.15) -> np.ndarray:
  """Sharpness of the mouth region per frame ("teeth sharpness"): variance of the Laplacian.

  The crop is the bounding box of the mouth landmarks (48-67) enlarged by `margin` of its size on
  each side and clipped to the image; the value is the variance of the 3x3 Laplacian of the crop's
  luma in [0, 255]. It depends on the resolution: compare methods at the same resolution.

  Args:
    frames: uint8 [T, H, W, 3] or float [-1, 1].
    landmarks: [T, 68, 2] pixel (x, y) for those frames.

  Returns:
    float64 [T].
  """
  frames = np.asarray(frames)
  if frames.ndim != 4:
    raise ValueError(f"frames must be [T, H, W, 3], got {frames.shape}.")
  lms = _check_landmarks(landmarks, "landmarks")
  if lms.shape[0] != frames.shape[0]:
    raise ValueError(f"{frames.shape[0]} frames but {lms.shape[0]} landmark sets.")
  h, w = frames.shape[1:3]
  out = np.zeros(frames.shape[0])
  for t in range(frames.shape[0]):
    m = lms[t, list(MOUTH_POINTS)]
    (x0, y0), (x1, y1) = m.min(0), m.max(0)
    px, py = margin * (x1 - x0), margin * (y1 - y0)
    xa, xb = int(max(0, np.floor(x0 - px))), int(min(w, np.ceil(x1 + px) + 1))
    ya, yb = int(max(0, np.floor(y0 - py))), int(min(h, np.ceil(y1 + py) + 1))
    if xb - xa < 3 or yb - ya < 3:
      raise ValueError(f"Mouth crop of frame {t} is smaller than 3 px: x {xa}:{xb}, y {ya}:{yb}.")
    out[t] = laplacian_variance(_gray255(frames[t, ya:yb, xa:xb], "frames"))
  return out


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


# ------------------------------------------------------------------------------------------------
# Distribution / network metrics.


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean [D] and covariance [D, D] (ddof 1) of features [N, D], N >= 2, in float64."""
  f = np.asarray(features, np.float64)
  if f.ndim != 2 or f.shape[0] < 2:
    raise ValueError(f"features must be [N >= 2, D], got {f.shape}.")
  if not np.all(np.isfinite(f)):
    raise ValueError("features contain NaN or inf.")
  return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _sym_sqrt(m: np.ndarray) -> np.ndarray:
  vals, vecs = np.linalg.eigh((m + m.T) / 2)
  return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

  d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2)), with
  Tr((sigma1 sigma2)^(1/2)) computed as the sum of square roots of the eigenvalues of the
  symmetric PSD matrix sigma1^(1/2) sigma2 sigma1^(1/2) (same spectrum, numerically stable).
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
  d = mu1.shape[0] if mu1.ndim == 1 else -1
  if mu1.shape != mu2.shape or s1.shape != (d, d) or s2.shape != (d, d):
    raise ValueError(
      f"Expected mu [D] and sigma [D, D]; got {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}."
    )
  r1 = _sym_sqrt(s1)
  m = r1 @ s2 @ r1
  tr_covmean = float(np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None))))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


INCEPTION_NEEDED = (
  "needs Inception-v3 pool3 features (2048-d, the pt_inception-2015-12-05 network of the "
  "reference FID code): pass precomputed features [N, 2048] or a feature_fn"
)


def fid(
  real,
  fake,
  inception_weights: str | None = None,
  feature_fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> MetricValue:
  """Fréchet Inception Distance (Heusel et al., 2017) or a `NotComputed`.

  `real` / `fake` are either features [N, D] (used as they are) or images [N, H, W, 3], which are
  mapped to features by `feature_fn(images) -> [N, D]`. This package does not ship the
  Inception-v3 network: with images and no `feature_fn`, the result is `NotComputed` naming what
  is missing (also when `inception_weights` is given, since no loader for it exists yet, or when
  that file does not exist). FID = `frechet_distance` of the Gaussian fits (`gaussian_stats`).
  Values are only comparable to published FIDs when the features are the reference
  Inception-v3 pool3 activations.
  """
  real, fake = np.asarray(real), np.asarray(fake)
  if real.ndim != fake.ndim or real.ndim not in (2, 4):
    raise ValueError(
      f"fid takes two feature arrays [N, D] or two image batches [N, H, W, 3]; got shapes "
      f"{real.shape} and {fake.shape}."
    )
  if real.ndim == 4:
    if feature_fn is None:
      if inception_weights is None:
        return NotComputed(f"FID {INCEPTION_NEEDED}")
      if not os.path.isfile(inception_weights):
        return NotComputed(f"FID: Inception weights file not found: {inception_weights!r}")
      return NotComputed(
        f"FID: no Inception-v3 implementation in this package to load {inception_weights!r}; "
        f"{INCEPTION_NEEDED}"
      )
    real, fake = np.asarray(feature_fn(real)), np.asarray(feature_fn(fake))
  if real.shape[1] != fake.shape[1]:
    raise ValueError(f"Feature sizes differ: {real.shape[1]} vs {fake.shape[1]}.")
  return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def lpips(x, y, weights: str | None = None) -> np.ndarray | NotComputed:
  """LPIPS distance per image pair from a user-supplied VGG16/LPIPS weights `.npz`.

  Reuses `flowvq_jax.models.vq.perceptual` (file format and converter documented there and in
  docs/vq.md). Without a path, or with a path to no file, returns `NotComputed`; a malformed file
  raises ValueError.

  Args:
    x, y: uint8 [B, H, W, 3] or float [-1, 1] of equal shape.
    weights: path to the weights `.npz` (with the lin heads for true LPIPS v0.1).

  Returns:
    float32 [B], or NotComputed.
  """
  if weights is None:
    return NotComputed(
      "LPIPS needs VGG16 + LPIPS weights (.npz, see flowvq_jax/models/vq/convert_lpips.py)"
    )
  if not os.path.isfile(weights):
    return NotComputed(f"LPIPS weights file not found: {weights!r}")
  a, b, single = _image_pair(x, y)
  if a.shape[-1] != 3:
    raise ValueError(f"LPIPS needs RGB images, got {a.shape[-1]} channels.")
  w = perceptual.load_lpips_weights(weights)
  out = perceptual.lpips_distance(w, jnp.asarray(a * 2 - 1), jnp.asarray(b * 2 - 1))
  out = np.asarray(out, np.float32)
  return out[0] if single else out


def syncnet_scores(frames, audio, syncnet_weights: str | None = None) -> dict[str, MetricValue]:
  """SyncNet LSE-C / LSE-D (Prajwal et al., 2020). Not implemented: always `NotComputed`.

  The scores need the pretrained SyncNet (`syncnet_v2.model`), which cannot be downloaded here,
  and a JAX port of the network, which this package does not have yet. The reason says which of
  the two is missing. Use `lip_sync` on the jaw-opening coefficient for a sync measure that needs
  no weights.
  """
  del frames, audio
  if syncnet_weights is None:
    reason = "SyncNet LSE needs SyncNet weights (syncnet_v2.model) and a SyncNet port"
  elif not os.path.isfile(syncnet_weights):
    reason = f"SyncNet weights file not found: {syncnet_weights!r}"
  else:
    reason = f"no SyncNet implementation in this package to load {syncnet_weights!r}"
  return {"lse_c": NotComputed(reason), "lse_d": NotComputed(reason)}
