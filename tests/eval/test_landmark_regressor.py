"""Landmark regressor: beats the mean-shape baseline on held-out identities."""

from __future__ import annotations

import numpy as np
import pytest

from flowvq_jax.eval import metrics as M
from flowvq_jax.eval.instruments import landmarks as L
from flowvq_jax.world import SyntheticWorld


@pytest.fixture(scope="module")
def world():
  return SyntheticWorld(seed=0, resolution=64)


@pytest.fixture(scope="module")
def trained(world):
  frames, lms = L.world_frames(world, identities=range(100), frames_per_identity=8, seed=0)
  return L.train_landmark_regressor(frames, lms, steps=300, seed=0, width=16)


@pytest.fixture(scope="module")
def held_out(world):
  clips = [world.sample_clip(200 + i, i, 3, 0.4, seed=5) for i in range(8)]
  return np.concatenate([c.frames for c in clips]), np.concatenate([c.landmarks for c in clips])


def test_beats_mean_shape_on_held_out_identities(trained, held_out):
  frames, true = held_out
  pred = L.predict_landmarks(trained, frames)
  base = L.mean_shape_landmarks(trained, len(frames), 64)
  for region in ("mouth", "face"):
    err = M.lmd(pred, true, region, resolution=64)
    err_base = M.lmd(base, true, region, resolution=64)
    assert err < 0.7 * err_base, (region, err, err_base)


def test_resolution_and_save_load(trained, held_out, tmp_path):
  frames, _ = held_out
  # The same frames given at 128 px come back in 128 px coordinates.
  big = np.repeat(np.repeat(frames[:4], 2, axis=1), 2, axis=2)
  np.testing.assert_allclose(
    L.predict_landmarks(trained, big), 2 * L.predict_landmarks(trained, frames[:4]), atol=0.5
  )
  path = str(tmp_path / "lm.msgpack")
  L.save_regressor(trained, path)
  back = L.load_regressor(path)
  np.testing.assert_allclose(
    L.predict_landmarks(back, frames[:4]), L.predict_landmarks(trained, frames[:4]), atol=1e-5
  )


def test_bad_inputs(trained):
  with pytest.raises(ValueError, match="square RGB"):
    L.predict_landmarks(trained, np.zeros((2, 64, 32, 3), np.uint8))
  with pytest.raises(ValueError, match=r"\[-1, 1\]"):
    L.predict_landmarks(trained, np.full((1, 64, 64, 3), 5.0, np.float32))
  with pytest.raises(ValueError, match=r"\[2, 68, 2\]"):
    L.train_landmark_regressor(np.zeros((2, 64, 64, 3), np.uint8), np.zeros((2, 5, 2)), steps=1)
