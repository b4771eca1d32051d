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

Modules: `base` (conventions), `image` (PSNR, SSIM, LMD, sharpness), `temporal` (lip sync,
blinks, diversity), `networks` (FID, LPIPS, SyncNet scores with the user's weights).
"""

from flowvq_jax.eval.metrics.base import (
  MetricValue,
  NotComputed,
  is_computed,
)
from flowvq_jax.eval.metrics.image import (
  CPBD_BETA,
  CPBD_EDGE_BLOCK_FRACTION,
  CPBD_P_JNB,
  LMD_REFERENCE_RESOLUTION,
  MOUTH_POINTS,
  canny_edges,
  cpbd,
  edge_widths,
  laplacian_variance,
  lmd,
  mouth_sharpness,
  psnr,
  ssim,
)
from flowvq_jax.eval.metrics.networks import (
  INCEPTION_NEEDED,
  fid,
  frechet_distance,
  gaussian_stats,
  lpips,
  syncnet_scores,
)
from flowvq_jax.eval.metrics.temporal import (
  blink_rate,
  coefficient_metrics,
  diversity,
  lip_sync,
  within_emotion_std,
)

__all__ = [
  "CPBD_BETA",
  "CPBD_EDGE_BLOCK_FRACTION",
  "CPBD_P_JNB",
  "INCEPTION_NEEDED",
  "LMD_REFERENCE_RESOLUTION",
  "MOUTH_POINTS",
  "MetricValue",
  "NotComputed",
  "blink_rate",
  "canny_edges",
  "coefficient_metrics",
  "cpbd",
  "diversity",
  "edge_widths",
  "fid",
  "frechet_distance",
  "gaussian_stats",
  "is_computed",
  "laplacian_variance",
  "lip_sync",
  "lmd",
  "lpips",
  "mouth_sharpness",
  "psnr",
  "ssim",
  "syncnet_scores",
  "within_emotion_std",
]
