"""Reference values and failure modes of flowvq_jax.eval.metrics."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import scipy.linalg

from flowvq_jax.eval import metrics as M
from flowvq_jax.world import SyntheticWorld


@pytest.fixture(scope="module")
def face_clip():
  return SyntheticWorld(seed=0, resolution=128).sample_clip(0, "happy", 3, seconds=0.2, seed=1)


# ---------------------------------------------------------------------------------------------
# PSNR / SSIM.


def test_psnr_identical_is_inf_and_known_mse():
  rng = np.random.default_rng(0)
  a = rng.integers(20, 230, size=(2, 16, 16, 3), dtype=np.uint8)
  b = a.copy()
  b[1] += 10  # MSE = 100 in [0, 255] units -> PSNR = 20 log10(255 / 10).
  out = M.psnr(a, b)
  assert out.shape == (2,)
  assert np.isinf(out[0]) and out[0] > 0
  np.testing.assert_allclose(out[1], 20 * math.log10(25.5), atol=1e-3)


def test_psnr_float_range_matches_uint8():
  rng = np.random.default_rng(1)
  a = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
  b = np.clip(a.astype(int) + rng.integers(-20, 21, size=a.shape), 0, 255).astype(np.uint8)
  f = lambda x: x.astype(np.float32) / 127.5 - 1.0
  np.testing.assert_allclose(M.psnr(a, b), M.psnr(f(a), f(b)), rtol=1e-4)
  np.testing.assert_allclose(M.ssim(a, b), M.ssim(f(a), f(b)), rtol=1e-4)


def test_ssim_reference_values():
  rng = np.random.default_rng(2)
  a = rng.integers(0, 256, size=(1, 32, 32, 3), dtype=np.uint8)
  np.testing.assert_allclose(M.ssim(a, a), [1.0], atol=1e-5)
  # Constant images: SSIM reduces to the luminance term (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1).
  c1 = (0.01) ** 2
  ua, ub = 100 / 255, 150 / 255
  want = (2 * ua * ub + c1) / (ua**2 + ub**2 + c1)
  x = np.full((1, 16, 16, 1), 100, np.uint8)
  y = np.full((1, 16, 16, 1), 150, np.uint8)
  np.testing.assert_allclose(M.ssim(x, y), [want], rtol=1e-4)
  noisy = np.clip(a.astype(int) + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
  assert M.ssim(a, noisy)[0] < 0.9


def test_image_metric_bad_inputs():
  a = np.zeros((2, 16, 16, 3), np.uint8)
  with pytest.raises(ValueError, match="equal shapes"):
    M.psnr(a, a[:1])
  with pytest.raises(ValueError, match="same range convention"):
    M.psnr(a, a.astype(np.float32))
  with pytest.raises(ValueError, match=r"\[-1, 1\]"):
    M.ssim(a.astype(np.float32) + 3, a.astype(np.float32))
  with pytest.raises(ValueError, match="at least 11 px"):
    M.ssim(a[:, :8, :8], a[:, :8, :8])
  with pytest.raises(ValueError, match=r"\[B, H, W, C\]"):
    M.psnr(a[0, 0], a[0, 0])


# ---------------------------------------------------------------------------------------------
# Landmark distance.


def test_lmd_known_offsets():
  rng = np.random.default_rng(3)
  true = rng.uniform(0, 64, size=(5, 68, 2))
  pred = true.copy()
  pred[:, 48:] += np.array([3.0, 4.0])  # mouth points moved by 5 px
  assert M.lmd(pred, true, "mouth", resolution=256) == pytest.approx(5.0)
  assert M.lmd(pred, true, "face", resolution=256) == pytest.approx(5.0 * 20 / 68)
  # Landmarks measured at 64 px, reported at the 256 px reference: distances x4.
  assert M.lmd(pred, true, "mouth", resolution=64) == pytest.approx(20.0)
  assert M.lmd(true, true, "face") == 0.0


def test_lmd_bad_inputs():
  x = np.zeros((4, 68, 2))
  with pytest.raises(ValueError, match=r"\[T, 68, 2\]"):
    M.lmd(np.zeros((4, 67, 2)), np.zeros((4, 67, 2)))
  with pytest.raises(ValueError, match="differ in shape"):
    M.lmd(x, x[:3])
  with pytest.raises(ValueError, match="region"):
    M.lmd(x, x, region="eyes")


# ---------------------------------------------------------------------------------------------
# Sharpness.


def test_cpbd_sharp_beats_blurred_monotone(face_clip):
  frame = face_clip.frames[2]
  scores = [M.cpbd(frame)] + [M.cpbd(cv2.GaussianBlur(frame, (0, 0), s)) for s in (0.6, 1.0, 2.0)]
  assert scores[0] > 0.3
  assert scores[0] > 3 * scores[1]
  assert all(a > b for a, b in zip(scores, scores[1:])), scores
  assert 0.0 <= min(scores) and max(scores) <= 1.0


def test_cpbd_step_edge_widths():
  # A vertical step blurred by a Gaussian: the measured width grows with sigma.
  img = np.zeros((64, 64), np.float64)
  img[:, 32:] = 200.0
  edges = np.zeros_like(img, bool)
  edges[8:56, 32] = True
  w_sharp = M.edge_widths(img, edges)
  w_blur = M.edge_widths(cv2.GaussianBlur(img, (0, 0), 2.0), edges)
  assert np.all(w_sharp == 1.0)
  assert np.median(w_blur) > 5 * np.median(w_sharp)


def test_cpbd_batch_and_flat_image():
  flat = np.full((32, 32, 3), 128, np.uint8)
  assert M.cpbd(flat) == 0.0
  out = M.cpbd(np.stack([flat, flat]))
  assert out.shape == (2,)
  with pytest.raises(ValueError, match="at least 8"):
    M.cpbd(np.zeros((4, 4), np.uint8))


def test_mouth_sharpness_drops_with_blur(face_clip):
  frames, lms = face_clip.frames, face_clip.landmarks
  blurred = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in frames])
  sharp, soft = M.mouth_sharpness(frames, lms), M.mouth_sharpness(blurred, lms)
  assert sharp.shape == (frames.shape[0],)
  assert np.all(sharp > 3 * soft)
  with pytest.raises(ValueError, match="landmark sets"):
    M.mouth_sharpness(frames, lms[:2])


# ---------------------------------------------------------------------------------------------
# Temporal metrics.


def _smooth_signal(t: int, seed: int) -> np.ndarray:
  x = np.random.default_rng(seed).normal(size=t + 20)
  return np.convolve(x, np.hanning(7), mode="same")[10:-10]


@pytest.mark.parametrize("lag", [3, -2, 0])
def test_lip_sync_finds_known_lag(lag):
  ref = _smooth_signal(120, 0)
  pred = np.roll(ref, lag)  # pred[t] = ref[t - lag]: late by `lag` frames.
  out = M.lip_sync(pred, ref, max_lag=6)
  assert out["best_lag"] == lag
  assert out["r_at_best_lag"] == pytest.approx(1.0, abs=0.02)
  if lag != 0:
    assert out["pearson_r"] < out["r_at_best_lag"] - 0.05
  else:
    assert out["pearson_r"] == pytest.approx(1.0)


def test_lip_sync_bad_inputs():
  with pytest.raises(ValueError, match="differ in length"):
    M.lip_sync(np.zeros(10), np.zeros(11))
  with pytest.raises(ValueError, match="1-D"):
    M.lip_sync(np.zeros((10, 2)), np.zeros((10, 2)))
  with pytest.raises(ValueError, match="max_lag"):
    M.lip_sync(np.ones(10), np.ones(10), max_lag=9)


def test_blink_rate_counts_upward_crossings():
  x = np.zeros(25 * 12)  # 12 s at 25 fps
  for start in (10, 60, 120, 200):
    x[start : start + 4] = 1.0
  assert M.blink_rate(x, fps=25) == pytest.approx(4 * 60 / 12)
  x[0:3] = 1.0  # starts closed: not an upward crossing
  assert M.blink_rate(x, fps=25) == pytest.approx(4 * 60 / 12)
  assert M.blink_rate(x, fps=25, threshold=1.5) == 0.0
  assert M.blink_rate(x, fps=50) == pytest.approx(4 * 60 / 6)
  with pytest.raises(ValueError, match="fps"):
    M.blink_rate(x, fps=0)


def test_diversity_relative_to_reference():
  rng = np.random.default_rng(4)
  ref = np.array([0.5, 2.0, 1.0])
  samples = rng.normal(size=(64, 50, 3)) * ref  # seeds vary exactly like the reference
  out = M.diversity(samples, ref)
  assert out["ratio"] == pytest.approx(1.0, abs=0.05)
  np.testing.assert_allclose(out["per_dim_ratio"], 1.0, atol=0.06)
  same = np.repeat(samples[:1], 4, axis=0)
  assert M.diversity(same, ref)["ratio"] == 0.0
  sub = M.diversity(samples * np.array([1.0, 0.5, 1.0]), ref, dims=[1])
  assert sub["ratio"] == pytest.approx(0.5, abs=0.03)
  with pytest.raises(ValueError, match="zero for dims"):
    M.diversity(samples, np.array([0.0, 1.0, 1.0]))
  with pytest.raises(ValueError, match=r"S >= 2"):
    M.diversity(samples[:1], ref)


def test_within_emotion_std_pools_per_emotion():
  a = np.array([[0.0], [2.0]])
  b = np.array([[10.0], [12.0]])
  # Emotion 0: frames {0, 2, 10, 12}; emotion 1: {0, 2}; averaged std.
  got = M.within_emotion_std([a, b, a], [0, 0, 1])
  want = (np.std([0, 2, 10, 12]) + np.std([0, 2])) / 2
  np.testing.assert_allclose(got, [want])


# ---------------------------------------------------------------------------------------------
# Fréchet distance, FID, LPIPS, SyncNet.


def test_frechet_distance_closed_forms():
  rng = np.random.default_rng(5)
  mu1, mu2 = rng.normal(size=4), rng.normal(size=4)
  s1, s2 = rng.uniform(0.5, 2, size=4), rng.uniform(0.5, 2, size=4)
  # Diagonal covariances: ||mu1 - mu2||^2 + sum (sqrt(s1) - sqrt(s2))^2.
  want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
  got = M.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  assert got == pytest.approx(want, rel=1e-10)
  # General SPD matrices against the scipy.linalg.sqrtm formula of the reference FID code.
  a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
  c1, c2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
  ref = np.sum((mu1 - mu2) ** 2) + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
  assert M.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-8)
  assert M.frechet_distance(mu1, c1, mu1, c1) == pytest.approx(0.0, abs=1e-9)


def test_fid_from_features_matches_gaussians():
  rng = np.random.default_rng(6)
  n, d = 20000, 3
  real = rng.normal(size=(n, d))
  fake = rng.normal(size=(n, d)) * 2.0 + 1.0
  want = d * 1.0 + d * (1.0 - 2.0) ** 2  # ||mu||^2 + sum (1 - 2)^2
  assert M.fid(real, fake) == pytest.approx(want, rel=0.05)
  # A feature hook maps images to features.
  imgs = rng.integers(0, 256, size=(64, 8, 8, 3), dtype=np.uint8)
  feat = lambda x: x.reshape(x.shape[0], -1)[:, :4].astype(np.float64)
  assert M.fid(imgs, imgs, feature_fn=feat) == pytest.approx(0.0, abs=1e-8)


def test_fid_not_computed_without_inception(tmp_path):
  imgs = np.zeros((4, 8, 8, 3), np.uint8)
  out = M.fid(imgs, imgs)
  assert isinstance(out, M.NotComputed) and "Inception" in out.reason
  missing = M.fid(imgs, imgs, inception_weights=str(tmp_path / "pt_inception.npz"))
  assert isinstance(missing, M.NotComputed) and "not found" in missing.reason
  with pytest.raises(TypeError, match="no numeric value"):
    float(out)
  with pytest.raises(ValueError, match="fid takes"):
    M.fid(np.zeros((4, 3)), imgs)


def test_lpips_and_syncnet_not_computed(tmp_path):
  x = np.zeros((1, 16, 16, 3), np.uint8)
  assert isinstance(M.lpips(x, x), M.NotComputed)
  nc = M.lpips(x, x, weights=str(tmp_path / "vgg.npz"))
  assert isinstance(nc, M.NotComputed) and "not found" in nc.reason
  sync = M.syncnet_scores(x, np.zeros(640), syncnet_weights=None)
  assert set(sync) == {"lse_c", "lse_d"}
  assert all(isinstance(v, M.NotComputed) and "SyncNet" in v.reason for v in sync.values())
  assert not M.is_computed(sync["lse_c"]) and M.is_computed(0.5)


def test_lpips_with_weights_file_uses_perceptual_loader(tmp_path):
  from flowvq_jax.models.vq import perceptual as P

  rng = np.random.default_rng(7)
  arrays = {}
  for name, shape in P.expected_shapes(True).items():
    if len(shape) == 4:
      arrays[name] = rng.standard_normal(shape, dtype=np.float32) * np.sqrt(2 / np.prod(shape[:3]))
    elif name.startswith("lin"):
      arrays[name] = np.abs(rng.standard_normal(shape)).astype(np.float32)
    else:
      arrays[name] = np.zeros(shape, np.float32)
  path = str(tmp_path / "vgg16_lpips.npz")
  np.savez(path, **arrays)
  x = rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8)
  y = np.clip(x.astype(int) + rng.integers(-40, 41, size=x.shape), 0, 255).astype(np.uint8)
  d = M.lpips(x, y, weights=path)
  assert d.shape == (2,) and np.all(d > 0)
  np.testing.assert_allclose(M.lpips(x, x, weights=path), 0.0, atol=1e-6)
  want = P.lpips_distance(P.load_lpips_weights(path), x / 127.5 - 1.0, y / 127.5 - 1.0)
  np.testing.assert_allclose(d, np.asarray(want), rtol=1e-4, atol=1e-6)


def test_coefficient_metrics_on_world_clip():
  world = SyntheticWorld(seed=0, resolution=64)
  clip = world.sample_clip(3, "neutral", 2, seconds=4.0, seed=2, render_frames=False)
  # The world's own jaw is the mouth law of its audio: perfect sync at lag 0.
  out = M.coefficient_metrics(clip.exp, audio=clip.audio)
  assert out["best_lag"] == 0 and out["pearson_r"] == pytest.approx(1.0, abs=1e-5)
  # A generator two frames late.
  late = clip.exp.copy()
  late[2:, 0] = clip.exp[:-2, 0]
  out = M.coefficient_metrics(late, exp_ref=clip.exp)
  assert out["best_lag"] == 2 and out["pearson_r"] < out["r_at_best_lag"]
  assert out["blinks_per_min"] == out["blinks_per_min_ref"] == M.blink_rate(clip.exp[:, 7])
  assert set(M.coefficient_metrics(clip.exp)) == {"blinks_per_min"}
  with pytest.raises(ValueError, match="frames at 25 fps"):
    M.coefficient_metrics(clip.exp[:50], audio=clip.audio)
