"""The mouth law: waveform -> (jaw_open, lip_rounding, lip_width) at 25 fps.

Computed from the waveform alone, so it applies to any recording (any sample rate, mono or
multi-channel). Steps:

1. Mix to mono, resample to 16 kHz (polyphase), T = len(wav) * 25 // sample_rate frames.
2. Frame t is analysed with a 1024-sample Hann window centred on samples [640 t, 640 t + 640).
3. Level L_t = RMS in the 80..4000 Hz band in dBFS (fricative noise above 4 kHz barely counts).
   jaw_raw = clip((L_t - FLOOR_DB) / RANGE_DB, 0, 1): silence and low noise (< -52 dBFS) give 0.
4. Spectral tilt of the voiced band, S_t = 10 log10(E[1700..3500 Hz] / E[150..1000 Hz]) in dB:
   front vowels (i, e) carry energy at their high second formant -> lip width; back rounded vowels
   (u, o) have almost none -> lip rounding:
     rounding_raw = clip((ROUND_DB - S_t) / ROUND_SPAN, 0, 1) * gate
     width_raw = clip((S_t - WIDTH_DB) / WIDTH_SPAN, 0, 1) * gate
   with gate = clip(3 * jaw_raw, 0, 1) (no lip shape in silence).
5. Each track is smoothed by a [1, 2, 1] / 4 filter applied twice (edges repeated).

Thresholds were calibrated on the world's own speech synthesizer.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.signal

from flowvq_jax.core.constants import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME

FLOOR_DB = -52.0
RANGE_DB = 36.0
ROUND_DB, ROUND_SPAN = -36.0, 8.0
WIDTH_DB, WIDTH_SPAN = -34.0, 16.0
WIN = 1024
_SMOOTH = np.array([0.25, 0.5, 0.25], np.float64)


def check_audio(wav, sample_rate) -> tuple[np.ndarray, int]:
  """Validates audio; returns (mono float64 [n], sample_rate).

  Accepts [n], or [n, c] / [c, n] with c <= 8 channels (the short axis is the channel axis).

  Raises:
    ValueError: on a bad sample rate, shape, or non-finite samples.
  """
  if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer, float)):
    raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}.")
  if sample_rate <= 0 or int(sample_rate) != sample_rate:
    raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}.")
  wav = np.asarray(wav)
  if wav.dtype.kind not in "fiu":
    raise ValueError(f"audio must be numeric, got dtype {wav.dtype}.")
  if wav.dtype.kind in "iu":  # integer PCM -> [-1, 1].
    wav = wav.astype(np.float64) / float(np.iinfo(wav.dtype).max)
  wav = wav.astype(np.float64)
  if wav.ndim == 2:
    ax = 0 if wav.shape[0] <= wav.shape[1] else 1
    if wav.shape[ax] > 8:
      raise ValueError(f"audio must be mono [n] or [n, channels], got shape {wav.shape}.")
    wav = wav.mean(axis=ax)
  elif wav.ndim != 1:
    raise ValueError(f"audio must be mono [n] or [n, channels], got shape {wav.shape}.")
  if not np.all(np.isfinite(wav)):
    raise ValueError("audio contains NaN or inf.")
  return wav, int(sample_rate)


def resample(wav: np.ndarray, sample_rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
  """Polyphase resampling of mono float audio [n] from `sample_rate` to `target` Hz."""
  if sample_rate == target or wav.size == 0:
    return np.asarray(wav, np.float64)
  g = math.gcd(int(sample_rate), int(target))
  return scipy.signal.resample_poly(wav, target // g, sample_rate // g)


def to_frames(wav16: np.ndarray, num_frames: int) -> np.ndarray:
  """Pads/trims 16 kHz audio to exactly num_frames * 640 samples."""
  n = num_frames * SAMPLES_PER_FRAME
  if wav16.size >= n:
    return wav16[:n]
  return np.pad(wav16, (0, n - wav16.size))


def _smooth(x: np.ndarray) -> np.ndarray:
  for _ in range(2):
    p = np.concatenate([x[:1], x, x[-1:]])
    x = _SMOOTH[0] * p[:-2] + _SMOOTH[1] * p[1:-1] + _SMOOTH[2] * p[2:]
  return x


def _band(freqs, lo, hi):
  return (freqs >= lo) & (freqs < hi)


def frame_spectra(wav16: np.ndarray, num_frames: int) -> np.ndarray:
  """[T, 513] power spectra of the analysis windows (see module docstring)."""
  x = to_frames(wav16, num_frames)
  pad = (WIN - SAMPLES_PER_FRAME) // 2
  x = np.pad(x, (pad, pad))
  frames = np.lib.stride_tricks.sliding_window_view(x, WIN)[::SAMPLES_PER_FRAME][:num_frames]
  w = np.hanning(WIN)
  spec = np.fft.rfft(frames * w, axis=-1)
  power = spec.real**2 + spec.imag**2
  return power * (2.0 / (WIN * np.sum(w * w)))  # sum over bins of a band = band mean-square.


def mouth_from_audio(wav, sample_rate) -> np.ndarray:
  """The mouth law: jaw_open, lip_rounding, lip_width per video frame.

  Args:
    wav: audio [n] (or [n, c] / [c, n], mixed to mono), float in [-1, 1] or integer PCM.
    sample_rate: its sample rate in Hz (any; resampled to 16 kHz).

  Returns:
    float32 [T, 3] in [0, 1], T = n * 25 // sample_rate.
  """
  wav, sr = check_audio(wav, sample_rate)
  num_frames = wav.size * FPS // sr
  if num_frames == 0:
    return np.zeros((0, 3), np.float32)
  wav16 = resample(wav, sr)
  power = frame_spectra(wav16, num_frames)
  freqs = np.fft.rfftfreq(WIN, 1.0 / SAMPLE_RATE)
  level = power[:, _band(freqs, 80, 4000)].sum(-1)
  db = 10.0 * np.log10(level + 1e-12)
  jaw_raw = np.clip((db - FLOOR_DB) / RANGE_DB, 0.0, 1.0)
  tilt = 10.0 * np.log10(
    (power[:, _band(freqs, 1700, 3500)].sum(-1) + 1e-12)
    / (power[:, _band(freqs, 150, 1000)].sum(-1) + 1e-12)
  )
  gate = np.clip(3.0 * jaw_raw, 0.0, 1.0)
  rnd = np.clip((ROUND_DB - tilt) / ROUND_SPAN, 0.0, 1.0) * gate
  wid = np.clip((tilt - WIDTH_DB) / WIDTH_SPAN, 0.0, 1.0) * gate
  out = np.stack([_smooth(jaw_raw), _smooth(rnd), _smooth(wid)], -1)
  return np.clip(out, 0.0, 1.0).astype(np.float32)
