"""Audio features: 80-bin log-mel spectrograms aligned with 25 fps video.

Alignment. At 16 kHz and 25 fps one video frame covers 640 samples = 4 mel hops of
160 samples (10 ms). Mel frame `i` is computed from a 400-sample (25 ms) Hann window
centred on the middle of hop `i`, i.e. on sample `160 * i + 80`, so video frame `t`
owns mel frames `[4t, 4t + 4)` and a `T`-frame clip gives exactly `4T` mel frames.
The waveform is trimmed or zero-padded to `T * 640` samples first, then zero-padded
outside the clip for the windows that reach past its ends.

Values are natural-log power mel energies, `log(mel + 1e-6)`: silence is about -13.8.
"""

from __future__ import annotations

import librosa
import numpy as np

from flowvq_jax.core import constants

N_MELS = 80
WIN_LENGTH = 400  # 25 ms at 16 kHz.
N_FFT = 512
LOG_EPS = 1e-6
# With `center=False`, frame i starts at sample 160 i of the padded signal and its window is
# centred N_FFT // 2 further; padding by this much centres it on sample 160 i + 80.
_PAD = N_FFT // 2 - constants.HOP_LENGTH // 2


def num_video_frames(num_samples: int, sample_rate: int = constants.SAMPLE_RATE) -> int:
  """Number of whole 25 fps video frames in `num_samples` of audio at `sample_rate`."""
  return int(num_samples * constants.FPS // sample_rate)


def fit_length(wav: np.ndarray, num_frames: int) -> np.ndarray:
  """Trims or zero-pads a 16 kHz waveform `[n]` to `num_frames * 640` samples."""
  n = num_frames * constants.SAMPLES_PER_FRAME
  wav = np.asarray(wav, np.float32)
  if wav.shape[0] >= n:
    return wav[:n]
  return np.pad(wav, (0, n - wav.shape[0]))


def log_mel(
  wav: np.ndarray,
  sample_rate: int = constants.SAMPLE_RATE,
  num_frames: int | None = None,
) -> np.ndarray:
  """Log-mel spectrogram of a mono waveform, 4 mel frames per video frame.

  Args:
    wav: float waveform `[n]`, mono, in [-1, 1].
    sample_rate: must be 16000 (resample with `media.load_audio` or librosa first).
    num_frames: number of video frames `T` the audio belongs to; defaults to the whole
      frames in `wav` (`n // 640`). The waveform is trimmed or zero-padded to `T * 640`.

  Returns:
    float32 `[4T, 80]`.
  """
  wav = np.asarray(wav)
  if wav.ndim != 1:
    raise ValueError(f"log_mel expects a mono waveform [n], got shape {wav.shape}.")
  if sample_rate != constants.SAMPLE_RATE:
    raise ValueError(
      f"log_mel expects {constants.SAMPLE_RATE} Hz audio, got {sample_rate} Hz; "
      "resample first (media.load_audio does)."
    )
  if num_frames is None:
    num_frames = num_video_frames(wav.shape[0])
  if num_frames < 1:
    raise ValueError(
      f"Audio of {wav.shape[0]} samples is shorter than one video frame "
      f"({constants.SAMPLES_PER_FRAME} samples)."
    )
  x = fit_length(wav, num_frames)
  x = np.pad(x, (_PAD, _PAD))
  mel = librosa.feature.melspectrogram(
    y=x,
    sr=constants.SAMPLE_RATE,
    n_fft=N_FFT,
    hop_length=constants.HOP_LENGTH,
    win_length=WIN_LENGTH,
    window="hann",
    center=False,
    power=2.0,
    n_mels=N_MELS,
    fmin=0.0,
    fmax=constants.SAMPLE_RATE / 2,
  )  # [80, >= 4T]
  mel = mel[:, : num_frames * constants.MELS_PER_FRAME]
  return np.log(mel + LOG_EPS).T.astype(np.float32)


def mel_windows(mel: np.ndarray, k: int, start: int = 0, length: int | None = None) -> np.ndarray:
  """Per-video-frame mel context of +-k video frames, edge-padded at the clip's ends.

  Args:
    mel: `[4T, 80]` log-mel of a T-frame clip (`log_mel`).
    k: context radius in video frames; each frame sees frames `t - k .. t + k`.
    start: first video frame of the returned window of frames.
    length: number of frames returned (default: to the end of the clip).

  Returns:
    `[length, 2k + 1, 4, 80]`: entry `[i, j]` holds the 4 mel frames of video frame
    `clip(start + i + j - k, 0, T - 1)`. Flatten the last three axes with
    `reshape(length, -1)` for a `[(2k + 1) * 4 * 80]` vector per frame.
  """
  mel = np.asarray(mel)
  per = constants.MELS_PER_FRAME
  if mel.ndim != 2 or mel.shape[0] % per:
    raise ValueError(f"mel must be [4T, n_mels], got shape {mel.shape}.")
  if k < 0:
    raise ValueError(f"Context radius k must be >= 0, got {k}.")
  t_total = mel.shape[0] // per
  if length is None:
    length = t_total - start
  if start < 0 or length < 0 or start + length > t_total:
    raise ValueError(f"Window [{start}, {start + length}) is outside the clip of {t_total} frames.")
  frames = mel.reshape(t_total, per, mel.shape[1])
  idx = start + np.arange(length)[:, None] + np.arange(-k, k + 1)[None, :]
  return frames[np.clip(idx, 0, t_total - 1)]
