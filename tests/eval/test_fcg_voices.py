"""The voice evaluation's instruments, checked on the world's own performances (the oracle) and on
a sampler that ignores the emotion."""

from __future__ import annotations

import numpy as np
import pytest

from flowvq_jax.core.constants import NEUTRAL, SAMPLE_RATE
from flowvq_jax.data import augment
from flowvq_jax.eval import fcg_voices as fv
from flowvq_jax.world import SyntheticWorld


@pytest.fixture(scope="module")
def clf():
  return fv.fit_centroids(per_class=4)


def _oracle(emotion_of=lambda e: e, seeds=3):
  """A 'sampler' returning the world's performances (other seeds than the references')."""
  world = SyntheticWorld(0, 64)

  def sample(wav, e):
    return np.stack([
      world.perform(5, wav, SAMPLE_RATE, emotion_of(e), 3 if emotion_of(e) != NEUTRAL else 1,
                    500 + s, render_frames=False).exp
      for s in range(seeds)
    ])  # fmt: skip

  return sample


def test_the_worlds_own_performances_meet_every_target(clf):
  utts = fv.world_utterances("test", 2, 3)
  m = fv.score_utterances(_oracle(), utts, clf, intensity=3, references=3)
  assert m["lip_sync_r"] > 0.99 and m["lip_sync_lag"] == 0 and m["lag0_fraction"] == 1.0
  assert m["emotion_accuracy"] >= 0.9 and m["centroid_accuracy_world"] >= 0.9
  for name, r in m["per_emotion"]["amplitude_ratio"].items():
    assert 0.75 < r < 1.3, (name, r)
  assert 0.6 < m["diversity_ratio"] < 1.6
  assert all(fv.met(k, m[k]) for k in ("lip_sync_r", "lip_sync_lag", "emotion_accuracy"))


def test_a_sampler_that_ignores_the_emotion_scores_zero_amplitude(clf):
  utts = fv.world_utterances("test", 1, 3)
  m = fv.score_utterances(_oracle(lambda e: NEUTRAL), utts, clf, intensity=3, references=2)
  assert m["lip_sync_r"] > 0.99  # the mouth is right ...
  assert abs(m["amplitude_ratio_mean"]) < 0.1  # ... but no emotion shows
  assert m["emotion_accuracy"] <= 0.25  # neutral (and what looks like it) only
  assert not fv.met("amplitude_ratio_min", m["amplitude_ratio_min"])


def test_a_recording_condition_is_applied_to_the_audio_that_is_scored(clf):
  """Under a condition the reference is the mouth law of the *transformed* file."""
  utts = fv.world_utterances("test", 1, 3)
  seen = []

  def sample(wav, e):
    seen.append(wav)
    return _oracle()(wav, e)

  m = fv.score_utterances(sample, utts, clf, emotions=(0,), references=2,
                          transform=augment.AUGMENTATIONS["quiet_-18db"])  # fmt: skip
  assert m["lip_sync_r"] > 0.99
  np.testing.assert_allclose(seen[0], utts[0](0)[: seen[0].size] * 10 ** (-18 / 20), rtol=1e-4)


def test_targets():
  assert fv.met("diversity_ratio", 1.0) and not fv.met("diversity_ratio", 1.6)
  assert fv.met("amplitude_ratio_max", 1.1) and not fv.met("amplitude_ratio_max", 1.3)
  assert not fv.met("lip_sync_r", float("nan"))
