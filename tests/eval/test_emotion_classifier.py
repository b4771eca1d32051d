"""Emotion classifier on the synthetic world's coefficient windows."""

from __future__ import annotations

import numpy as np
import pytest

from flowvq_jax.eval.instruments import classifier as C
from flowvq_jax.world import SyntheticWorld


@pytest.fixture(scope="module")
def trained():
  world = SyntheticWorld(seed=0, resolution=64)
  x, y = C.world_windows(world, identities=range(2), intensities=(1, 2, 3), seconds=2.0)
  clf = C.train_emotion_classifier(x, y, steps=200, seed=0)
  return world, clf


def test_accuracy_on_held_out_identities(trained):
  world, clf = trained
  # Held-out identities and seeds, intensity 3.
  xt, yt = C.world_windows(world, identities=(100, 101), intensities=(3,), seeds=(7,), seconds=2.0)
  assert set(np.unique(yt)) == set(range(8))
  acc = C.accuracy(clf, xt, yt)
  assert acc > 0.8, acc
  # Shuffled labels score near chance: the accuracy comes from the emotions.
  perm = np.random.default_rng(0).permutation(len(yt))
  assert C.accuracy(clf, xt, yt[perm]) < 0.5


def test_clip_accuracy_and_save_load(trained, tmp_path):
  world, clf = trained
  clips = [world.sample_clip(102, e, 3, 2.0, seed=3, render_frames=False).exp for e in range(8)]
  acc = C.clip_accuracy(clf, clips, list(range(8)))
  assert acc >= 0.75
  pred = C.clip_predictions(clf, clips)
  m = C.confusion(range(8), pred)
  # One clip per emotion: each row holds one count, the diagonal the hits.
  np.testing.assert_array_equal(m.sum(1), np.ones(8))
  assert np.trace(m) / 8 == acc and m[np.arange(8), pred].sum() == 8
  path = str(tmp_path / "clf.msgpack")
  C.save_classifier(clf, path)
  back = C.load_classifier(path)
  w = C.make_windows(clips[4])
  np.testing.assert_allclose(C.logits(back, w), C.logits(clf, w), rtol=1e-6, atol=1e-6)


def test_bad_inputs(trained):
  _, clf = trained
  with pytest.raises(ValueError, match="64-d"):
    C.predict(clf, np.zeros((2, 25, 6)))
  with pytest.raises(ValueError, match="25-frame"):
    C.predict(clf, np.zeros((2, 10, 64)))
  with pytest.raises(ValueError, match=r"\[B, W >= 2, D\]"):
    C.predict(clf, np.zeros((25, 64)))
  with pytest.raises(ValueError, match="emotion indices"):
    C.train_emotion_classifier(np.zeros((2, 25, 64)), np.array([0, 9]), steps=1)
  with pytest.raises(ValueError, match=r"T >= 25"):
    C.make_windows(np.zeros((10, 64)))
