"""Emotion names and indices: the one table every part of the package shares."""

import numpy as np
import pytest

from flowvq_jax.core import constants


def test_emotions_in_mead_order():
  mead = "angry contempt disgusted fear happy neutral sad surprised"
  assert constants.EMOTIONS == tuple(mead.split())
  assert constants.NEUTRAL == 5
  assert constants.SAMPLES_PER_FRAME * constants.FPS == constants.SAMPLE_RATE
  assert constants.HOP_LENGTH * constants.MELS_PER_FRAME == constants.SAMPLES_PER_FRAME


@pytest.mark.parametrize(
  "given,expected", [("happy", 4), ("Sad", 6), (" neutral ", 5), (0, 0), (np.int64(7), 7)]
)
def test_emotion_index_accepts_names_and_indices(given, expected):
  assert constants.emotion_index(given) == expected


@pytest.mark.parametrize(
  "bad,match",
  [
    ("joyful", "Unknown emotion 'joyful'"),
    (8, "out of range"),
    (-1, "out of range"),
    (True, "name or an index"),
  ],
)
def test_emotion_index_rejects_clearly(bad, match):
  with pytest.raises(ValueError, match=match):
    constants.emotion_index(bad)
