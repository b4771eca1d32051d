"""Tests of the synthetic world: determinism, mouth law, cues, renderer, landmarks, errors."""

from __future__ import annotations

import numpy as np
import pytest

from flowvq_jax.core.constants import EMOTIONS, EXP_DIM, POSE_DIM, emotion_index
from flowvq_jax.world import (
  EXP_TABLE,
  POSE_TABLE,
  SyntheticWorld,
  landmarks,
  mouth_from_audio,
  render,
  sample_nonverbal,
)
from flowvq_jax.world import tables as tb

RES = 64


@pytest.fixture(scope="module")
def world():
  return SyntheticWorld(seed=0, resolution=RES)


@pytest.fixture(scope="module")
def clip(world):
  return world.sample_clip(1, "happy", 3, seconds=2.0, seed=5, utterance=11)


def test_tables():
  assert [row[0] for row in EXP_TABLE] == list(range(EXP_DIM))
  assert [row[0] for row in POSE_TABLE] == list(range(POSE_DIM))
  names = {row[1] for row in EXP_TABLE if row[3]}
  for n in (
    "jaw_open",
    "lip_rounding",
    "lip_width",
    "smile",
    "lip_corner_depress",
    "brow_raise",
    "brow_furrow",
    "blink",
    "eye_widen",
    "cheek_raise",
    "nose_wrinkle",
  ):
    assert n in names
  assert [row[1] for row in POSE_TABLE] == ["pitch", "yaw", "roll", "tx", "ty", "tz"]


def test_identities_reproducible():
  a, b = SyntheticWorld(seed=3).identity(7), SyntheticWorld(seed=3, resolution=64).identity(7)
  assert a == b and a.index == 7
  assert SyntheticWorld(seed=4).identity(7) != a
  assert SyntheticWorld(seed=3).identity(8) != a
  assert SyntheticWorld(seed=3).identity(10**6).index == 10**6


def test_clip_fields(clip):
  t = clip.num_frames
  assert t == 50
  assert clip.audio.dtype == np.float32 and clip.audio.shape == (t * 640,)
  assert clip.frames.dtype == np.uint8 and clip.frames.shape == (t, RES, RES, 3)
  assert clip.exp.dtype == np.float32 and clip.exp.shape == (t, 64)
  assert clip.pose.dtype == np.float32 and clip.pose.shape == (t, 6)
  assert clip.landmarks.dtype == np.float32 and clip.landmarks.shape == (t, 68, 2)
  assert (clip.emotion, clip.intensity, clip.identity, clip.utterance) == (4, 3, 1, 11)
  assert clip.sample_rate == 16000 and clip.fps == 25


def test_determinism(world, clip):
  again = world.sample_clip(1, 4, 3, seconds=2.0, seed=5, utterance=11)
  for name in ("audio", "frames", "exp", "pose", "landmarks"):
    assert getattr(clip, name).tobytes() == getattr(again, name).tobytes(), name
  # A fresh world object with the same seed agrees too.
  other = SyntheticWorld(seed=0, resolution=RES).sample_clip(1, "happy", 3, 2.0, 5, utterance=11)
  assert other.frames.tobytes() == clip.frames.tobytes()


def test_jaw_is_the_mouth_law(clip):
  law = mouth_from_audio(clip.audio, 16000)
  np.testing.assert_array_equal(clip.exp[:, tb.JAW], law[:, 0])
  # Rounding and width: the law plus the emotion's (slowly varying) offsets.
  for dim, col in ((tb.ROUND, 1), (tb.WIDTH, 2)):
    off = clip.exp[:, dim] - law[:, col]
    assert np.std(off) < 0.1


def test_same_audio_different_seeds(world, clip):
  a = world.perform(1, clip.audio, 16000, "happy", 3, seed=1)
  b = world.perform(1, clip.audio, 16000, "happy", 3, seed=2)
  np.testing.assert_array_equal(a.exp[:, tb.JAW], b.exp[:, tb.JAW])
  np.testing.assert_array_equal(a.audio, b.audio)
  assert not np.allclose(a.pose, b.pose)
  assert not np.allclose(a.exp[:, tb.BLINK], b.exp[:, tb.BLINK])
  assert not np.array_equal(a.frames, b.frames)
  # Without rendering, everything else is identical.
  d = world.perform(1, clip.audio, 16000, "happy", 3, seed=5, render_frames=False)
  assert d.frames.shape == (clip.num_frames, 0, 0, 3)
  np.testing.assert_array_equal(d.exp, clip.exp)
  np.testing.assert_array_equal(d.landmarks, clip.landmarks)
  # sample_clip is speech + perform with the same seed.
  c = world.perform(1, clip.audio, 16000, "happy", 3, seed=5)
  np.testing.assert_array_equal(c.exp, clip.exp)
  np.testing.assert_array_equal(c.frames, clip.frames)


def test_mouth_closed_in_silence_open_in_speech(clip):
  silence = mouth_from_audio(np.zeros(16000, np.float32), 16000)
  assert silence.shape == (25, 3)
  np.testing.assert_array_equal(silence, 0.0)
  noise = np.random.default_rng(0).normal(0, 1e-3, 16000)
  assert mouth_from_audio(noise, 16000)[:, 0].max() < 0.05
  jaw = clip.exp[:, tb.JAW]
  assert jaw.max() > 0.6
  # Frames inside a pause (silent with two silent neighbours each side) have a closed jaw.
  rms = np.sqrt((clip.audio.reshape(-1, 640).astype(np.float64) ** 2).mean(-1))
  loud = np.convolve(rms > 1e-4, np.ones(5), mode="same") > 0
  assert (~loud).sum() >= 3
  np.testing.assert_array_equal(jaw[~loud], 0.0)


def test_mouth_law_resampling(clip):
  import scipy.signal

  law16 = mouth_from_audio(clip.audio, 16000)
  wav44 = scipy.signal.resample_poly(clip.audio.astype(np.float64), 441, 160)
  law44 = mouth_from_audio(wav44, 44100)
  assert law44.shape == law16.shape
  assert np.mean(np.abs(law44 - law16)) < 0.03
  # Stereo integer PCM is accepted too.
  pcm = (np.stack([clip.audio, clip.audio], -1) * 32767).astype(np.int16)
  np.testing.assert_allclose(mouth_from_audio(pcm, 16000), law16, atol=0.02)


def test_emotion_changes_statistics(world):
  def stats(emotion):
    exps = [
      world.perform(i, np.zeros(16000), 16000, emotion, 3, seed=s).exp
      for i in range(2)
      for s in range(3)
    ]
    return np.concatenate(exps).mean(0)

  neutral, happy, sad, surprised, angry = (
    stats(e) for e in ("neutral", "happy", "sad", "surprised", "angry")
  )
  assert happy[tb.SMILE] > neutral[tb.SMILE] + 0.4
  assert sad[tb.DEPRESS] > neutral[tb.DEPRESS] + 0.4
  assert surprised[tb.EYE_WIDEN] > neutral[tb.EYE_WIDEN] + 0.4
  assert angry[tb.BROW_FURROW] > neutral[tb.BROW_FURROW] + 0.4
  # Intensity scales the offsets.
  low = world.perform(0, np.zeros(16000), 16000, "happy", 1, seed=0).exp[:, tb.SMILE].mean()
  assert low < happy[tb.SMILE]


def test_blinks_and_head_motion_follow_emotion():
  def cues_of(emotion, seed):
    rng = np.random.default_rng(seed)
    return sample_nonverbal(rng, 25 * 60, emotion_index(emotion), 3)

  def blinks(exp):
    closed = exp[:, tb.BLINK] > 0.9
    return int(np.sum(closed[1:] & ~closed[:-1]))

  fear = sum(blinks(cues_of("fear", s)[0]) for s in range(3))
  surprised = sum(blinks(cues_of("surprised", s)[0]) for s in range(3))
  assert fear > 2 * surprised > 0
  angry = np.mean([np.std(cues_of("angry", s)[1][:, 1]) for s in range(3)])
  sad = np.mean([np.std(cues_of("sad", s)[1][:, 1]) for s in range(3)])
  assert angry > 1.5 * sad
  # Gaze saccades: more jumps in fear than in sadness.
  from flowvq_jax.world.cues import GAZE_X

  jumps = lambda e: sum(
    int(np.sum(np.abs(np.diff(cues_of(e, s)[0][:, GAZE_X])) > 0.15)) for s in range(3)
  )
  assert jumps("fear") > 2 * jumps("sad") > 0
  # Head motion is smooth (low-passed): small frame-to-frame steps.
  pose = cues_of("happy", 0)[1]
  assert np.abs(np.diff(pose[:, :3], axis=0)).max() < 0.05


def test_render_shapes_determinism_identities():
  exp = np.zeros((3, 64), np.float32)
  pose = np.zeros((3, 6), np.float32)
  world = SyntheticWorld(seed=0, resolution=RES)
  a = render(world.identity(0), exp, pose, RES)
  assert a.shape == (3, RES, RES, 3) and a.dtype == np.uint8
  assert a.tobytes() == render(world.identity(0), exp, pose, RES).tobytes()
  one = render(world.identity(0), exp[0], pose[0], RES)
  assert one.shape == (RES, RES, 3)
  np.testing.assert_array_equal(one, a[0])
  b = render(world.identity(1), exp, pose, RES)
  assert np.mean(np.abs(a.astype(int) - b.astype(int))) > 10
  for res in (32, 128):
    assert render(world.identity(0), exp[:1], pose[:1], res).shape == (1, res, res, 3)


def test_frame_alone_equals_frame_in_batch(clip):
  world = SyntheticWorld(seed=0, resolution=RES)
  frames = world.render(1, clip.exp, clip.pose)
  np.testing.assert_array_equal(frames, clip.frames)
  for t in (0, 17, 49):
    np.testing.assert_array_equal(world.render(1, clip.exp[t], clip.pose[t]), clip.frames[t])
  np.testing.assert_array_equal(world.render(1, clip.exp[5:9], clip.pose[5:9]), clip.frames[5:9])


def test_expression_changes_pixels():
  world = SyntheticWorld(seed=0, resolution=RES)
  ident = world.identity(2)
  base = np.zeros(64, np.float32)
  img0 = render(ident, base, np.zeros(6), RES).astype(int)
  for dim in range(tb.NUM_SEMANTIC):
    e = base.copy()
    e[dim] = 1.0
    assert np.abs(render(ident, e, np.zeros(6), RES).astype(int) - img0).sum() > 0, dim
  p = np.zeros(6)
  p[2] = 0.2
  assert np.abs(render(ident, base, p, RES).astype(int) - img0).mean() > 1


def test_any_finite_coefficients_render():
  rng = np.random.default_rng(0)
  exp = rng.normal(0, 2, (6, 64)).astype(np.float32)
  pose = rng.normal(0, 0.5, (6, 6)).astype(np.float32)
  ident = SyntheticWorld(seed=0).identity(4)
  a = render(ident, exp, pose, RES)
  assert a.shape == (6, RES, RES, 3) and a.std() > 10
  np.testing.assert_array_equal(a, render(ident, exp, pose, RES))
  assert np.all(np.isfinite(landmarks(ident, exp, pose, RES)))
  with pytest.raises(ValueError, match="finite"):
    render(ident, np.full((1, 64), np.nan), np.zeros((1, 6)), RES)


def test_landmarks(clip):
  lm = clip.landmarks
  assert np.all(lm >= 0) and np.all(lm <= RES)
  world = SyntheticWorld(seed=0, resolution=RES)
  exp = np.zeros((2, 64), np.float32)
  exp[1, tb.JAW] = 1.0
  lm2 = landmarks(world.identity(0), exp, np.zeros((2, 6)), RES)
  gap = lm2[:, 66, 1] - lm2[:, 62, 1]  # inner lower lip centre - inner upper lip centre.
  assert gap[0] < 0.5 and gap[1] > 3.0
  assert lm2[1, 8, 1] > lm2[0, 8, 1]  # chin drops.
  # Left/right structure of the iBUG layout.
  assert lm2[0, 36, 0] < lm2[0, 39, 0] < lm2[0, 42, 0] < lm2[0, 45, 0]
  assert lm2[0, 48, 0] < lm2[0, 54, 0] and lm2[0, 0, 0] < lm2[0, 16, 0]
  np.testing.assert_array_equal(clip.landmarks, world.landmarks(1, clip.exp, clip.pose))


def test_bad_inputs(world):
  with pytest.raises(ValueError, match="emotion"):
    world.sample_clip(0, "bored", 3, 1.0, 0)
  with pytest.raises(ValueError, match="intensity"):
    world.sample_clip(0, "happy", 0, 1.0, 0)
  with pytest.raises(ValueError, match="Identity index"):
    world.identity(-1)
  with pytest.raises(ValueError, match="exp must have shape"):
    render(world.identity(0), np.zeros((2, 63)), np.zeros((2, 6)), RES)
  with pytest.raises(ValueError, match="pose must have shape"):
    landmarks(world.identity(0), np.zeros((2, 64)), np.zeros((2, 5)), RES)
  with pytest.raises(ValueError, match="frames"):
    render(world.identity(0), np.zeros((2, 64)), np.zeros((3, 6)), RES)
  with pytest.raises(ValueError, match="sample_rate"):
    mouth_from_audio(np.zeros(100), 0)
  with pytest.raises(ValueError, match="seconds"):
    world.sample_clip(0, "happy", 3, -1.0, 0)
  with pytest.raises(ValueError, match="resolution"):
    SyntheticWorld(0, resolution=8)
  assert len(EMOTIONS) == 8
