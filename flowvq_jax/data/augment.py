"""Audio augmentation: what recordings do to speech (16 kHz mono float32 in, same out).

Every function is pure given its arguments (and `rng` where it draws noise):

  speed(wav, factor)              speed perturbation: resampling, so tempo and pitch change together
                                  (Kaldi's `speed perturbation`); `stretch` keeps the pitch
  pitch(wav, semitones)           pitch shift without changing duration (phase vocoder)
  noise(wav, rng, snr_db, color)  white / pink / brown noise at a signal-to-noise ratio
  reverb(wav, rng, rt60)          a synthetic room: exponentially decaying noise tail
  band(wav, low, high)            band limit (e.g. 300-3400 Hz: a telephone)
  codec(wav, kind, kbps)          an mp3 / aac encode-decode round trip through ffmpeg
  gain(wav, db)                   loudness (clipped to [-1, 1])

`AUGMENTATIONS` names fixed settings that the evaluation reports one by one; `random_chain`
draws a random chain of them for training (`Augment` holds the probabilities and ranges; a
config's `data.performed.augment` block). Lengths are kept (speed changes are cut / padded
back to the input length only by the caller: a performance follows whatever audio it gets).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile

import librosa
import numpy as np
import scipy.signal

from flowvq_jax.core.constants import SAMPLE_RATE
from flowvq_jax.data import media

SR = SAMPLE_RATE


def _f32(wav) -> np.ndarray:
  wav = np.asarray(wav, np.float32)
  if wav.ndim != 1:
    raise ValueError(f"augmentation expects a mono waveform [n], got shape {wav.shape}.")
  return wav


def _clip(x) -> np.ndarray:
  return np.clip(np.asarray(x, np.float32), -1.0, 1.0)


def speed(wav, factor: float) -> np.ndarray:
  """`factor` > 1 plays faster (shorter audio, higher pitch): resampled by 1/factor."""
  wav = _f32(wav)
  if factor <= 0:
    raise ValueError(f"speed factor must be > 0, got {factor}.")
  if abs(factor - 1.0) < 1e-6:
    return wav
  up = 100
  down = int(round(100 * factor))
  return _clip(scipy.signal.resample_poly(wav, up, down))


def stretch(wav, factor: float) -> np.ndarray:
  """`factor` > 1 speaks faster (shorter audio); the pitch is kept (phase vocoder)."""
  wav = _f32(wav)
  if factor <= 0:
    raise ValueError(f"stretch factor must be > 0, got {factor}.")
  if abs(factor - 1.0) < 1e-6 or wav.size < 2048:
    return wav
  return _clip(librosa.effects.time_stretch(wav, rate=float(factor)))


def pitch(wav, semitones: float) -> np.ndarray:
  """Shifts the pitch by `semitones` (duration kept)."""
  wav = _f32(wav)
  if abs(semitones) < 1e-6 or wav.size < 2048:
    return wav
  return _clip(librosa.effects.pitch_shift(wav, sr=SR, n_steps=float(semitones)))


def _rms(x: np.ndarray) -> float:
  return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def _active_rms(wav: np.ndarray) -> float:
  """RMS over the louder half of 20 ms frames (speech, not its pauses)."""
  n = 320
  frames = wav[: wav.size // n * n].reshape(-1, n) if wav.size >= n else wav[None]
  e = np.mean(np.square(frames, dtype=np.float64), axis=1)
  top = np.sort(e)[len(e) // 2 :]
  return float(np.sqrt(np.mean(top) + 1e-12))


def colored_noise(rng: np.random.Generator, n: int, color: str = "white") -> np.ndarray:
  """[n] unit-RMS noise with a 1/f^a spectrum: white (a=0), pink (a=1), brown (a=2)."""
  alpha = {"white": 0.0, "pink": 1.0, "brown": 2.0}.get(color)
  if alpha is None:
    raise ValueError(f"Unknown noise color {color!r}; choose white, pink or brown.")
  spec = np.fft.rfft(rng.standard_normal(n))
  f = np.fft.rfftfreq(n, 1.0 / SR)
  spec /= np.maximum(f, 20.0) ** (alpha / 2.0)
  x = np.fft.irfft(spec, n)
  return (x / (_rms(x) + 1e-12)).astype(np.float32)


def noise(wav, rng: np.random.Generator, snr_db: float, color: str = "white") -> np.ndarray:
  """Adds noise at `snr_db` below the speech's active level."""
  wav = _f32(wav)
  level = _active_rms(wav) * 10.0 ** (-snr_db / 20.0)
  return np.clip(wav + level * colored_noise(rng, wav.size, color), -1.0, 1.0).astype(np.float32)


def reverb(wav, rng: np.random.Generator, rt60: float, wet: float = 0.5) -> np.ndarray:
  """Convolves with a synthetic room response: a direct path plus a noise tail decaying 60 dB
  in `rt60` seconds, mixed `wet` (0..1); the active level is kept."""
  wav = _f32(wav)
  if rt60 <= 0:
    return wav
  n = int(min(rt60, 2.0) * SR)
  t = np.arange(n) / SR
  tail = rng.standard_normal(n) * 10.0 ** (-3.0 * t / rt60)
  tail[: int(0.005 * SR)] = 0.0  # first reflections after 5 ms.
  tail *= wet / (np.sqrt(np.sum(tail**2)) + 1e-12)
  ir = np.concatenate([[1.0 - wet], tail[1:]])
  out = scipy.signal.fftconvolve(wav, ir)[: wav.size]
  out *= _active_rms(wav) / (_active_rms(out) + 1e-12)
  return np.clip(out, -1.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=16)
def _band_sos(low: float, high: float):
  if low > 0 and high < SR / 2:
    return scipy.signal.butter(4, [low, high], btype="bandpass", fs=SR, output="sos")
  if low > 0:
    return scipy.signal.butter(4, low, btype="highpass", fs=SR, output="sos")
  return scipy.signal.butter(4, high, btype="lowpass", fs=SR, output="sos")


def band(wav, low: float = 0.0, high: float = SR / 2) -> np.ndarray:
  """Band limit to [low, high] Hz (4th-order Butterworth, zero phase)."""
  wav = _f32(wav)
  if not 0 <= low < high <= SR / 2 or (low == 0 and high == SR / 2):
    if low == 0 and high == SR / 2:
      return wav
    raise ValueError(f"band must satisfy 0 <= low < high <= {SR // 2}, got ({low}, {high}).")
  return _clip(scipy.signal.sosfiltfilt(_band_sos(float(low), float(high)), wav))


def codec(wav, kind: str = "mp3", kbps: int = 32) -> np.ndarray:
  """An mp3 / aac encode-decode round trip at `kbps` (ffmpeg), cut / padded to the input length."""
  wav = _f32(wav)
  ext = {"mp3": ".mp3", "aac": ".m4a"}.get(kind)
  if ext is None:
    raise ValueError(f"Unknown codec {kind!r}; choose mp3 or aac.")
  enc = {"mp3": "libmp3lame", "aac": "aac"}[kind]
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "coded" + ext)
    cmd = [media.ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(SR)]
    cmd += ["-ac", "1", "-i", "-", "-c:a", enc, "-b:a", f"{int(kbps)}k", path]
    media._run(cmd, "encode audio to", path, stdin=np.clip(wav, -1, 1).tobytes())
    out = media.load_audio(path, SR)
  out = out[: wav.size] if out.size >= wav.size else np.pad(out, (0, wav.size - out.size))
  return _clip(out)


def gain(wav, db: float) -> np.ndarray:
  """Scales by `db` decibels (clipped to [-1, 1])."""
  return np.clip(_f32(wav) * 10.0 ** (db / 20.0), -1.0, 1.0).astype(np.float32)


# Fixed settings the evaluation reports one by one (name -> f(wav, rng)).
AUGMENTATIONS = {
  "clean": lambda w, rng: _f32(w),
  "noise_20db": lambda w, rng: noise(w, rng, 20.0, "pink"),
  "noise_10db": lambda w, rng: noise(w, rng, 10.0, "white"),
  "reverb": lambda w, rng: reverb(w, rng, 0.5),
  "telephone": lambda w, rng: band(w, 300.0, 3400.0),
  "mp3_32k": lambda w, rng: codec(w, "mp3", 32),
  "quiet_-18db": lambda w, rng: gain(w, -18.0),
  "fast_1.25": lambda w, rng: stretch(w, 1.25),
  "pitch_+4": lambda w, rng: pitch(w, 4.0),
}


@dataclasses.dataclass(frozen=True)
class Augment:
  """Probabilities and ranges of the random training chain (`random_chain`); p_* = 0 turns one
  off. The defaults are the `data.performed.augment` block of the flow configs."""

  p_speed: float = 0.4
  speed_range: tuple[float, float] = (0.85, 1.2)
  p_pitch: float = 0.15  # a phase vocoder: the costliest step (~30 ms per 3 s clip).
  pitch_range: tuple[float, float] = (-4.0, 4.0)
  p_reverb: float = 0.25
  rt60_range: tuple[float, float] = (0.15, 0.8)
  p_band: float = 0.2
  p_noise: float = 0.4
  snr_range: tuple[float, float] = (5.0, 35.0)
  p_codec: float = 0.0  # an ffmpeg process per clip: off unless asked for.
  p_gain: float = 0.6
  gain_range: tuple[float, float] = (-24.0, 6.0)

  @classmethod
  def from_config(cls, cfg) -> Augment:
    d = dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(f"Unknown augmentation keys {unknown}.")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def random_chain(wav, rng: np.random.Generator, aug: Augment) -> tuple[np.ndarray, list[str]]:
  """A random chain of augmentations (in recording order: voice, room, channel, level).

  Returns:
    (augmented float32 [n'], the names of the steps applied).
  """
  wav, steps = _f32(wav), []
  u = lambda r: float(rng.uniform(*r))

  def step(p: float, name: str, fn) -> None:
    nonlocal wav
    if rng.uniform() < p:
      wav = fn(wav)
      steps.append(name)

  step(aug.p_speed, "speed", lambda w: speed(w, u(aug.speed_range)))
  step(aug.p_pitch, "pitch", lambda w: pitch(w, u(aug.pitch_range)))
  step(aug.p_reverb, "reverb", lambda w: reverb(w, rng, u(aug.rt60_range)))
  bands = [(300.0, 3400.0), (100.0, 4000.0), (0.0, 6000.0), (200.0, 7000.0)]
  step(aug.p_band, "band", lambda w: band(w, *bands[rng.integers(len(bands))]))
  colors = ("white", "pink", "brown")
  step(aug.p_noise, "noise", lambda w: noise(w, rng, u(aug.snr_range), colors[rng.integers(3)]))
  kinds = ("mp3", "aac")
  step(
    aug.p_codec, "codec", lambda w: codec(w, kinds[rng.integers(2)], int(rng.choice([24, 32, 64])))
  )
  step(aug.p_gain, "gain", lambda w: gain(w, u(aug.gain_range)))
  return wav, steps
