"""SyntheticWorld: seeded identities, clips (speech + performance), render and landmarks."""

from __future__ import annotations

import dataclasses

import numpy as np

from flowvq_jax.core.constants import (
  EMOTIONS,
  EXP_DIM,
  FPS,
  NUM_LANDMARKS,
  POSE_DIM,
  SAMPLE_RATE,
  SAMPLES_PER_FRAME,
  emotion_index,
)
from flowvq_jax.world import cues, speech
from flowvq_jax.world import geometry as geo
from flowvq_jax.world import mouth as mouth_lib
from flowvq_jax.world import renderer as render_lib
from flowvq_jax.world import tables as tb
from flowvq_jax.world.identity import Identity, make_identity

EXTERNAL_UTTERANCE = -1  # Clip.utterance of a performance of given audio.


@dataclasses.dataclass(frozen=True, eq=False)
class Clip:
  """One talking-face clip of the world.

  Attributes:
    audio: float32 [T * 640] at 16 kHz.
    frames: uint8 [T, H, W, 3] at 25 fps.
    exp: float32 [T, 64] expression coefficients (tables.EXP_TABLE).
    pose: float32 [T, 6] pitch, yaw, roll (radians), tx, ty, tz (tables.POSE_TABLE).
    landmarks: float32 [T, 68, 2] pixel (x, y), iBUG 68-point layout.
    emotion: emotion index (constants.EMOTIONS).
    intensity: 1, 2 or 3.
    identity: identity index.
    utterance: spoken content id (EXTERNAL_UTTERANCE = -1 for `perform` of given audio).
  """

  audio: np.ndarray
  frames: np.ndarray
  exp: np.ndarray
  pose: np.ndarray
  landmarks: np.ndarray
  emotion: int
  intensity: int
  identity: int
  utterance: int
  sample_rate: int = SAMPLE_RATE
  fps: int = FPS

  @property
  def num_frames(self) -> int:
    return int(self.exp.shape[0])

  @property
  def emotion_name(self) -> str:
    return EMOTIONS[self.emotion]


def _check_seed(seed, what: str = "seed") -> int:
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ValueError(f"{what} must be an int >= 0, got {seed!r}.")
  return int(seed)


def _as_identity(identity, world_seed: int = 0) -> Identity:
  if isinstance(identity, Identity):
    return identity
  return make_identity(world_seed, identity)


def render(identity, exp, pose, resolution: int = 128) -> np.ndarray:
  """Renders frames of `identity` with coefficients.

  Args:
    identity: an Identity (or an int: that identity of the world with seed 0).
    exp: float [T, 64] (or [64] for one frame).
    pose: float [T, 6] (or [6]).
    resolution: output size in pixels (>= 32).

  Returns:
    uint8 [T, H, W, 3] (or [H, W, 3] for one frame); deterministic.
  """
  ident = _as_identity(identity)
  exp, pose, single = geo.check_coefficients(exp, pose)
  res = geo.check_resolution(resolution)
  g = geo.face_geometry(ident, exp, pose, res)
  out = render_lib.render_frames(ident, g, res)
  return out[0] if single else out


def landmarks(identity, exp, pose, resolution: int = 128) -> np.ndarray:
  """68 landmarks (pixel x, y; iBUG layout) from the renderer's geometry.

  Returns:
    float32 [T, 68, 2] (or [68, 2] for one frame).
  """
  ident = _as_identity(identity)
  exp, pose, single = geo.check_coefficients(exp, pose)
  res = geo.check_resolution(resolution)
  out = geo.all_landmarks(geo.face_geometry(ident, exp, pose, res))
  return out[0] if single else out


class SyntheticWorld:
  """A seeded world of talking faces.

  Example:
    world = SyntheticWorld(seed=0, resolution=128)
    clip = world.sample_clip(3, "happy", 3, seconds=2.0, seed=7)
  """

  def __init__(self, seed: int = 0, resolution: int = 128):
    self.seed = _check_seed(seed, "world seed")
    self.resolution = geo.check_resolution(resolution)

  def identity(self, i: int) -> Identity:
    """Identity `i` (any int >= 0), reproducible from (world seed, i)."""
    return make_identity(self.seed, i)

  def _ident(self, identity) -> Identity:
    if isinstance(identity, Identity):
      return identity
    return self.identity(identity)

  def render(self, identity, exp, pose) -> np.ndarray:
    """`render` at the world's resolution; identity: index or Identity."""
    return render(self._ident(identity), exp, pose, self.resolution)

  def landmarks(self, identity, exp, pose) -> np.ndarray:
    """`landmarks` at the world's resolution; identity: index or Identity."""
    return landmarks(self._ident(identity), exp, pose, self.resolution)

  def speech(self, identity, emotion, intensity: int, seconds: float, seed: int, utterance=None):
    """The audio `sample_clip` would speak.

    Returns:
      (wav float32 [round(seconds * 25) * 640] at 16 kHz, the utterance id used).
    """
    ident = self._ident(identity)
    emo = emotion_index(emotion)
    intensity = speech.check_intensity(intensity)
    seed = _check_seed(seed)
    utt = self._utterance(seed, utterance)
    if not np.isfinite(seconds) or round(seconds * FPS) < 1:
      raise ValueError(f"seconds must be at least one video frame (0.04 s), got {seconds!r}.")
    rng = np.random.default_rng([self.seed, ident.index, seed, utt, emo, intensity, 1])
    return speech.synthesize_speech(utt, emo, intensity, ident.voice, seconds, rng), utt

  def _utterance(self, seed: int, utterance) -> int:
    if utterance is None:
      return int(np.random.default_rng([self.seed, seed, 0x177]).integers(0, 2**31 - 1))
    return _check_seed(utterance, "utterance")

  def sample_clip(
    self,
    identity,
    emotion,
    intensity: int,
    seconds: float,
    seed: int,
    utterance=None,
    *,
    render_frames: bool = True,
  ) -> Clip:
    """A clip: synthesized speech of `utterance` performed with `emotion` at `intensity`.

    Args:
      identity: identity index or Identity.
      emotion: name or index (constants.EMOTIONS).
      intensity: 1, 2 or 3.
      seconds: duration (> 0); T = round(seconds * 25) frames.
      seed: non-verbal randomness and prosody jitter.
      utterance: spoken content id; None derives one from `seed`.
      render_frames: False skips rendering (frames is then uint8 [T, 0, 0, 3]); everything
        else is identical. For coefficient-only datasets.
    """
    ident = self._ident(identity)
    wav, utt = self.speech(ident, emotion, intensity, seconds, seed, utterance)
    clip = self.perform(
      ident, wav, SAMPLE_RATE, emotion, intensity, seed, render_frames=render_frames
    )
    return dataclasses.replace(clip, utterance=utt)

  def perform(
    self,
    identity,
    audio,
    sample_rate: int,
    emotion,
    intensity: int,
    seed: int,
    *,
    render_frames: bool = True,
  ) -> Clip:
    """A performance of given audio (resampled to 16 kHz, cut to whole frames).

    The mouth follows the mouth law; blinks, head motion and emotion offsets are random given
    `seed`, so different seeds give different non-verbal cues with the same mouth.
    `render_frames=False` skips rendering (frames is then uint8 [T, 0, 0, 3]).
    """
    ident = self._ident(identity)
    emo = emotion_index(emotion)
    intensity = speech.check_intensity(intensity)
    seed = _check_seed(seed)
    wav, sr = mouth_lib.check_audio(audio, sample_rate)
    num_frames = wav.size * FPS // sr
    if num_frames < 1:
      raise ValueError(f"audio is shorter than one video frame ({wav.size} samples at {sr} Hz).")
    wav16 = mouth_lib.to_frames(mouth_lib.resample(wav, sr), num_frames).astype(np.float32)
    law = mouth_lib.mouth_from_audio(wav16, SAMPLE_RATE)
    rng = np.random.default_rng([self.seed, ident.index, seed, emo, intensity, 2])
    exp, pose = cues.sample_nonverbal(rng, num_frames, emo, intensity)
    exp = exp.astype(np.float32)
    exp[:, tb.JAW] = law[:, 0]
    exp[:, tb.ROUND] = law[:, 1] + exp[:, tb.ROUND]
    exp[:, tb.WIDTH] = law[:, 2] + exp[:, tb.WIDTH]
    pose = pose.astype(np.float32)
    g = geo.face_geometry(ident, exp.astype(np.float64), pose.astype(np.float64), self.resolution)
    if render_frames:
      frames = render_lib.render_frames(ident, g, self.resolution)
    else:
      frames = np.zeros((num_frames, 0, 0, 3), np.uint8)
    lms = geo.all_landmarks(g)
    assert exp.shape == (num_frames, EXP_DIM) and pose.shape == (num_frames, POSE_DIM)
    assert lms.shape == (num_frames, NUM_LANDMARKS, 2)
    assert wav16.size == num_frames * SAMPLES_PER_FRAME
    return Clip(
      audio=wav16,
      frames=frames,
      exp=exp,
      pose=pose,
      landmarks=lms,
      emotion=emo,
      intensity=intensity,
      identity=ident.index,
      utterance=EXTERNAL_UTTERANCE,
    )
