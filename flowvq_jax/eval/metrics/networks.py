"""Metrics that need pretrained networks the package cannot download: FID (Inception-v3), LPIPS
(VGG16 + LPIPS) and SyncNet's LSE-C / LSE-D; each returns `NotComputed` without its weights."""

from __future__ import annotations

import os
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from flowvq_jax.eval.metrics.base import MetricValue, NotComputed, _image_pair
from flowvq_jax.models.vq import perceptual

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
