"""Deep3DFaceRecon coefficient layout, file formats and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from flowvq_jax.data import coeffs


def _known_257(n=5):
  """Column c of row r holds 1000 r + c."""
  return (1000 * np.arange(n)[:, None] + np.arange(257)[None]).astype(np.float64)


def test_split_257_picks_documented_columns():
  exp, pose = coeffs.split_coeffs(_known_257())
  assert exp.shape == (5, 64) and pose.shape == (5, 6)
  assert exp.dtype == np.float32 and pose.dtype == np.float32
  np.testing.assert_array_equal(exp[2], 2000 + np.arange(80, 144))
  np.testing.assert_array_equal(pose[3], 3000 + np.array([224, 225, 226, 254, 255, 256]))


def test_split_73_and_packing_round_trip():
  rng = np.random.default_rng(0)
  exp, pose = rng.normal(size=(7, 64)), rng.normal(size=(7, 6))
  for packed in (coeffs.to_full(exp, pose), coeffs.to_compact(exp, pose)):
    e, p = coeffs.split_coeffs(packed)
    np.testing.assert_allclose(e, exp, rtol=1e-6)
    np.testing.assert_allclose(p, pose, rtol=1e-6)
  compact = (np.arange(73)[None] + np.zeros((2, 1))).astype(np.float32)
  e, p = coeffs.split_coeffs(compact)
  np.testing.assert_array_equal(e[0], np.arange(64))
  np.testing.assert_array_equal(p[0], np.arange(64, 70))


def test_bad_width_is_rejected():
  with pytest.raises(ValueError, match="width 70 is not supported"):
    coeffs.split_coeffs(np.zeros((4, 70)))
  with pytest.raises(ValueError, match="shape"):
    coeffs.split_coeffs(np.zeros((2, 3, 257)))


def test_load_files(tmp_path):
  full = _known_257(4)
  want_exp, want_pose = coeffs.split_coeffs(full)
  scipy.io.savemat(tmp_path / "a.mat", {"coeff": full})
  np.save(tmp_path / "b.npy", full)
  scipy.io.savemat(tmp_path / "c.mat", {"coeff_3dmm": coeffs.to_compact(want_exp, want_pose)})
  scipy.io.savemat(
    tmp_path / "d.mat",
    {"exp": full[:, 80:144], "angle": full[:, 224:227], "trans": full[:, 254:257], "id": 0},
  )
  for name in ("a.mat", "b.npy", "c.mat", "d.mat"):
    exp, pose = coeffs.load_coeffs(tmp_path / name)
    np.testing.assert_array_equal(exp, want_exp)
    np.testing.assert_array_equal(pose, want_pose)


def test_load_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="not found"):
    coeffs.load_coeffs(tmp_path / "none.mat")
  scipy.io.savemat(tmp_path / "k.mat", {"params": np.zeros((3, 257))})
  with pytest.raises(ValueError, match=r"k\.mat has no 'coeff'.*params"):
    coeffs.load_coeffs(tmp_path / "k.mat")
  scipy.io.savemat(tmp_path / "w.mat", {"coeff": np.zeros((3, 100))})
  with pytest.raises(ValueError, match=r"w\.mat.*width 100"):
    coeffs.load_coeffs(tmp_path / "w.mat")
  (tmp_path / "x.txt").write_text("1 2 3")
  with pytest.raises(ValueError, match="Unsupported coefficient file type"):
    coeffs.load_coeffs(tmp_path / "x.txt")


def test_stats_normalise_round_trip(tmp_path):
  rng = np.random.default_rng(0)
  clips = [(rng.normal(2, 3, (n, 64)), rng.normal(-1, 0.5, (n, 6))) for n in (10, 30, 7)]
  stats = coeffs.compute_stats(clips)
  all_exp = np.concatenate([c[0] for c in clips])
  all_pose = np.concatenate([c[1] for c in clips])
  np.testing.assert_allclose(stats.exp_mean, all_exp.mean(0), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(stats.pose_std, all_pose.std(0), rtol=1e-4)
  ne, npose = coeffs.normalize(all_exp, all_pose, stats)
  np.testing.assert_allclose(ne.mean(0), 0, atol=1e-4)
  np.testing.assert_allclose(npose.std(0), 1, atol=1e-3)
  de, dp = coeffs.denormalize(ne, npose, stats)
  np.testing.assert_allclose(de, all_exp, atol=1e-4)
  np.testing.assert_allclose(dp, all_pose, atol=1e-5)
  stats.save_json(tmp_path / "s.json")
  again = coeffs.CoeffStats.load_json(tmp_path / "s.json")
  np.testing.assert_array_equal(again.exp_std, stats.exp_std)
  # A constant dimension gets a finite std.
  const = coeffs.compute_stats([(np.ones((5, 64)), np.zeros((5, 6)))])
  assert np.all(const.exp_std > 0)
  with pytest.raises(ValueError, match="No coefficients"):
    coeffs.compute_stats([])
