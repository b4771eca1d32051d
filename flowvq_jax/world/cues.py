"""Non-verbal cues of the synthetic world: random given the audio (the one-to-many part).

For a clip of T frames, emotion e and intensity k (level = INTENSITY_LEVEL[k] = 0.4/0.7/1.0):

- emotion expression offsets: EMOTION_EXP[e] * level * gain_clip * (1 + 0.12 n_dim) + slow drift,
  gain_clip ~ U(0.8, 1.15), drift = low-passed noise (0.4 Hz) with std 0.06 * level on every dim the
  emotion uses; all semantic dims except jaw and blink also get a small per-clip offset N(0, 0.03);
- shape modes (dims 16..63): per-clip N(0, 0.3) + 0.1-std drift + EMOTION_FINE[e] * level (a fixed
  random emotion signature, zero for neutral); the two gaze modes also get saccades: piecewise
  constant targets (N(0, 0.7) horizontal, N(0, 0.4) vertical) that jump at SACCADE_RATE[e] per
  second over two frames;
- blinks: a Poisson process with BLINK_RATE[e] per second (refractory 0.3 s), each blink a 7-frame
  close/open profile; the blink dim = base + (1 - base) * profile where base is the emotion's lid
  droop (sad);
- head motion: low-passed noise (0.5 Hz angles, 0.3 Hz translations) with amplitude
  HEAD_AMPLITUDE[e] (interpolated from neutral by level) + EMOTION_POSE[e] * level + a per-clip
  offset, clipped so the face stays in frame.

The jaw dim is never touched here (the mouth law owns it); rounding and width get only offsets.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.signal

from flowvq_jax.core.constants import EMOTIONS, EXP_DIM, FPS, NEUTRAL, POSE_DIM
from flowvq_jax.world import tables as tb
from flowvq_jax.world.speech import INTENSITY_LEVEL

_N = {row[1]: row[0] for row in tb.EXP_TABLE}

# Expression offsets at intensity 3 (dim name -> value).
EMOTION_EXP: dict[str, dict[str, float]] = {
  "angry": {
    "brow_furrow": 0.9,
    "brow_raise": -0.45,
    "lip_press": 0.7,
    "eye_widen": 0.25,
    "nose_wrinkle": 0.25,
    "lip_corner_depress": 0.25,
  },
  "contempt": {"smile_asym": 0.9, "lip_press": 0.25, "cheek_raise": 0.1, "brow_raise": 0.1},
  "disgusted": {
    "nose_wrinkle": 0.9,
    "upper_lip_raise": 0.85,
    "brow_furrow": 0.55,
    "brow_raise": -0.3,
    "lip_corner_depress": 0.4,
    "cheek_raise": 0.35,
  },
  "fear": {
    "brow_raise": 0.6,
    "brow_inner_raise": 0.55,
    "brow_furrow": 0.45,
    "eye_widen": 0.9,
    "lip_width": 0.6,
    "lips_part": 0.35,
    "lip_corner_depress": 0.2,
  },
  "happy": {
    "smile": 0.95,
    "cheek_raise": 0.8,
    "lip_width": 0.2,
    "brow_raise": 0.1,
    "lips_part": 0.15,
  },
  "neutral": {},
  "sad": {
    "brow_inner_raise": 0.85,
    "lip_corner_depress": 0.75,
    "brow_furrow": 0.3,
    "blink": 0.22,
    "lip_press": 0.2,
    "brow_raise": -0.1,
  },
  "surprised": {"brow_raise": 0.95, "eye_widen": 0.95, "lips_part": 0.7, "lip_rounding": 0.25},
}

BLINK_RATE = {  # blinks per second.
  "angry": 0.22,
  "contempt": 0.3,
  "disgusted": 0.35,
  "fear": 0.55,
  "happy": 0.35,
  "neutral": 0.3,
  "sad": 0.4,
  "surprised": 0.12,
}
_BLINK_PROFILE = np.array([0.45, 0.95, 1.0, 0.8, 0.5, 0.25, 0.08])

HEAD_AMPLITUDE = {  # std of the head angles in radians.
  "angry": 0.09,
  "contempt": 0.05,
  "disgusted": 0.06,
  "fear": 0.065,
  "happy": 0.08,
  "neutral": 0.05,
  "sad": 0.03,
  "surprised": 0.07,
}
EMOTION_POSE = {  # pose offsets at intensity 3: (pitch, yaw, roll, tx, ty, tz).
  "angry": (0.05, 0.0, 0.0, 0.0, 0.0, 0.02),
  "contempt": (-0.03, 0.07, 0.06, 0.0, 0.0, 0.0),
  "disgusted": (-0.03, -0.09, 0.0, 0.0, 0.0, -0.02),
  "fear": (0.03, 0.0, 0.0, 0.0, 0.0, -0.04),
  "happy": (-0.02, 0.0, 0.03, 0.0, 0.0, 0.0),
  "neutral": (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
  "sad": (0.13, 0.0, 0.0, 0.0, 0.01, 0.0),
  "surprised": (-0.07, 0.0, 0.0, 0.0, -0.01, 0.02),
}
POSE_LIMITS = np.array([0.35, 0.35, 0.3, 0.06, 0.05, 0.1])
SACCADE_RATE = {  # gaze jumps per second.
  "angry": 0.4,
  "contempt": 0.5,
  "disgusted": 0.6,
  "fear": 1.2,
  "happy": 0.6,
  "neutral": 0.5,
  "sad": 0.3,
  "surprised": 0.8,
}
GAZE_X, GAZE_Y = (tb.NUM_SEMANTIC + tb.FINE_INDEX[n] for n in ("gaze_x", "gaze_y"))


def _fine_signature() -> np.ndarray:
  rng = np.random.default_rng(0xE3)
  sig = rng.normal(0.0, 0.25, size=(len(EMOTIONS), tb.NUM_SHAPE_MODES))
  sig[NEUTRAL] = 0.0
  return sig.astype(np.float32)


EMOTION_FINE = _fine_signature()  # [8, 48] shape-mode offsets at intensity 3.


def emotion_offset_vector(emotion: int) -> np.ndarray:
  """[64] expression offsets of `emotion` at intensity 3 (semantic dims only)."""
  out = np.zeros(EXP_DIM)
  for name, val in EMOTION_EXP[EMOTIONS[emotion]].items():
    out[_N[name]] = val
  return out


@functools.lru_cache(maxsize=8)
def _lowpass(cutoff_hz: float) -> tuple[np.ndarray, float]:
  sos = scipy.signal.butter(2, cutoff_hz, fs=FPS, output="sos")
  impulse = np.zeros(4000)
  impulse[0] = 1.0
  h = scipy.signal.sosfilt(sos, impulse)
  return sos, float(np.sqrt(np.sum(h * h)))


def smooth_noise(rng: np.random.Generator, num_frames: int, dims: int, cutoff_hz: float):
  """[T, dims] low-passed Gaussian noise with unit (stationary) std."""
  sos, gain = _lowpass(cutoff_hz)
  warm = 3 * FPS
  x = rng.standard_normal((num_frames + warm, dims))
  return scipy.signal.sosfilt(sos, x, axis=0)[warm:] / gain


def sample_blinks(rng: np.random.Generator, num_frames: int, rate: float) -> np.ndarray:
  """[T] blink profile in [0, 1] from a Poisson process with `rate` blinks per second."""
  out = np.zeros(num_frames)
  t = rng.exponential(1.0 / rate) * rng.uniform(0, 1)  # start inside an interval.
  k = len(_BLINK_PROFILE)
  while t * FPS < num_frames:
    i = int(t * FPS)
    j = min(num_frames, i + k)
    out[i:j] = np.maximum(out[i:j], _BLINK_PROFILE[: j - i])
    t += 0.3 + rng.exponential(1.0 / rate)
  return out


def sample_saccades(rng: np.random.Generator, num_frames: int, rate: float) -> np.ndarray:
  """[T, 2] piecewise-constant gaze offsets (x, y) jumping `rate` times per second."""
  out = np.zeros((num_frames, 2))
  target = rng.normal(0.0, [0.7, 0.4])
  t = 0
  while t < num_frames:
    dur = max(2, int(round(rng.exponential(FPS / rate))))
    out[t : t + dur] = target
    t += dur
    target = rng.normal(0.0, [0.7, 0.4])
  # Two-frame transitions.
  out[1:] = 0.5 * (out[1:] + out[:-1])
  return out


def sample_nonverbal(rng: np.random.Generator, num_frames: int, emotion: int, intensity: int):
  """Random non-verbal cues of one clip.

  Returns:
    (exp_offset float64 [T, 64] with the jaw column zero, pose float64 [T, 6]).
  """
  name = EMOTIONS[emotion]
  level = INTENSITY_LEVEL[intensity]
  n = num_frames
  target = emotion_offset_vector(emotion) * level
  gain = rng.uniform(0.8, 1.15)
  jitter = 1 + 0.12 * rng.standard_normal(EXP_DIM)
  used = (target != 0).astype(np.float64)
  exp = np.zeros((n, EXP_DIM))
  exp += target * gain * jitter
  exp += smooth_noise(rng, n, EXP_DIM, 0.4) * (0.06 * level * used)
  base = rng.normal(0.0, 0.03, EXP_DIM)
  base[tb.NUM_SEMANTIC :] = 0.0
  base[[tb.JAW, tb.BLINK]] = 0.0
  exp += base
  # Shape modes.
  fine = slice(tb.NUM_SEMANTIC, EXP_DIM)
  exp[:, fine] += rng.normal(0.0, 0.3, tb.NUM_SHAPE_MODES) + EMOTION_FINE[emotion] * level
  exp[:, fine] += smooth_noise(rng, n, tb.NUM_SHAPE_MODES, 0.4) * 0.1
  exp[:, [GAZE_X, GAZE_Y]] += sample_saccades(rng, n, SACCADE_RATE[name])
  # Blinks on top of the emotion's lid droop.
  droop = np.clip(exp[:, tb.BLINK], 0.0, 0.6)
  blinks = sample_blinks(rng, n, BLINK_RATE[name])
  exp[:, tb.BLINK] = droop + (1 - droop) * blinks
  exp[:, tb.JAW] = 0.0
  # Head motion.
  amp_n, amp_e = HEAD_AMPLITUDE[EMOTIONS[NEUTRAL]], HEAD_AMPLITUDE[name]
  amp = amp_n + level * (amp_e - amp_n)
  scale = np.array([0.7 * amp, amp, 0.5 * amp, 0.15 * amp, 0.12 * amp, 0.25 * amp])
  pose = np.zeros((n, POSE_DIM))
  pose[:, :3] = smooth_noise(rng, n, 3, 0.5) * scale[:3]
  pose[:, 3:] = smooth_noise(rng, n, 3, 0.3) * scale[3:]
  pose += np.array(EMOTION_POSE[name]) * level
  pose += rng.normal(0.0, 1.0, POSE_DIM) * np.array([0.04, 0.05, 0.03, 0.012, 0.01, 0.02])
  pose = np.clip(pose, -POSE_LIMITS, POSE_LIMITS)
  return exp, pose
