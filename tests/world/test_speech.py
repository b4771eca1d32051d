"""Tests of the speech synthesizer, the utterance structure and the docs tables."""

from __future__ import annotations

import itertools
import pathlib

import numpy as np
import pytest

from flowvq_jax.world import EXP_TABLE, POSE_TABLE, SyntheticWorld, synthesize_speech
from flowvq_jax.world.cues import POSE_LIMITS
from flowvq_jax.world.speech import utterance_syllables


def _f0(wav: np.ndarray, sr: int = 16000) -> float:
  """Median autocorrelation pitch (Hz) of the loudest 40 ms frames."""
  frames = wav[: len(wav) // 640 * 640].reshape(-1, 640).astype(np.float64)
  rms = np.sqrt((frames**2).mean(-1))
  out = []
  for fr in frames[rms > np.percentile(rms, 70)]:
    fr = fr - fr.mean()
    ac = np.correlate(fr, fr, "full")[len(fr) - 1 :]
    lo, hi = sr // 400, sr // 70
    out.append(sr / (lo + np.argmax(ac[lo:hi])))
  return float(np.median(out))


@pytest.fixture(scope="module")
def world():
  return SyntheticWorld(seed=0, resolution=32)


def test_speech_shape_determinism(world):
  voice = world.identity(0).voice
  a = synthesize_speech(4, 5, 3, voice, 1.3, np.random.default_rng(1))
  b = synthesize_speech(4, 5, 3, voice, 1.3, np.random.default_rng(1))
  assert a.dtype == np.float32 and a.shape == (round(1.3 * 25) * 640,)
  assert np.abs(a).max() <= 1.0
  np.testing.assert_array_equal(a, b)
  c = synthesize_speech(5, 5, 3, voice, 1.3, np.random.default_rng(1))
  assert not np.allclose(a, c)


def test_utterance_prefix_stable():
  short = utterance_syllables(9, 2.0)
  long = utterance_syllables(9, 6.0)
  assert len(long) > len(short)
  assert long[: len(short)] == short
  assert {s.vowel for s in long} <= set("aeiou")


def test_prosody_follows_emotion(world):
  def speak(emotion):
    wav, _ = world.speech(0, emotion, 3, 4.0, seed=0, utterance=3)
    return wav

  neutral, angry, sad = speak("neutral"), speak("angry"), speak("sad")
  rms = lambda w: float(np.sqrt(np.mean(w.astype(np.float64) ** 2)))
  assert rms(angry) > 1.3 * rms(neutral) > 1.3 * rms(sad)
  assert _f0(angry) > _f0(neutral) > _f0(sad)
  # Voices differ by identity: pitch follows Voice.f0.
  voices = [world.identity(i).voice.f0 for i in range(8)]
  lo, hi = int(np.argmin(voices)), int(np.argmax(voices))
  f_lo = _f0(world.speech(lo, "neutral", 3, 3.0, 0, utterance=3)[0])
  f_hi = _f0(world.speech(hi, "neutral", 3, 3.0, 0, utterance=3)[0])
  assert f_hi > 1.3 * f_lo


def test_same_utterance_same_content(world):
  # The same utterance spoken by another identity has the same syllables and pauses, so the
  # voiced/silent pattern matches (up to the prosody jitter).
  a, _ = world.speech(0, "neutral", 3, 2.0, 0, utterance=21)
  b, _ = world.speech(1, "neutral", 3, 2.0, 0, utterance=21)
  env = lambda w: np.sqrt((w.reshape(-1, 640).astype(np.float64) ** 2).mean(-1)) > 1e-3
  assert np.mean(env(a) == env(b)) > 0.8


def test_landmarks_in_frame_at_pose_limits(world):
  exp = np.zeros(64)
  exp[0] = 1.0
  for signs in itertools.product([-1.0, 1.0], repeat=6):
    lm = world.landmarks(1, exp, np.array(signs) * POSE_LIMITS)
    assert lm.min() >= 0 and lm.max() <= 32


def test_docs_tables_in_sync():
  doc = pathlib.Path(__file__).resolve().parents[2] / "docs" / "world.md"
  text = doc.read_text()
  for i, name, desc, _ in EXP_TABLE + POSE_TABLE:
    assert f"| {i} | `{name}` |" in text and desc in text, name
