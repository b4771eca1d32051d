"""Per-frame image metrics: PSNR, SSIM, landmark distances (M-LMD, F-LMD) and sharpness (CPBD,
the mouth region's Laplacian variance)."""

from __future__ import annotations

import math

import cv2
import dm_pix
import jax.numpy as jnp
import numpy as np

from flowvq_jax.eval.metrics.base import _image_pair, _to_unit_range

# iBUG 68-point layout: the mouth is points 48..67 (outer lip 48..59, inner lip 60..67).
MOUTH_POINTS = tuple(range(48, 68))
LMD_REFERENCE_RESOLUTION = 256  # MEAD papers report LMD in pixels of 256 x 256 face crops.

# CPBD constants (Narvekar & Karam, 2011).
CPBD_BETA = 3.6
CPBD_P_JNB = 0.63  # an edge counts as sharp when its blur probability is <= 63%.
CPBD_EDGE_BLOCK_FRACTION = 0.002  # a block is an edge block above this fraction of edge pixels.


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
