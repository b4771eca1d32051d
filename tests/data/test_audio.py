"""Log-mel alignment, mel context windows and audio file round trips."""

from __future__ import annotations

import numpy as np
import pytest

from flowvq_jax.core import constants
from flowvq_jax.data import audio, media


@pytest.mark.parametrize(
  "n_samples,num_frames,expected_t",
  [
    (50 * 640, None, 50),
    (50 * 640 + 300, None, 50),
    (49 * 640 + 10, 50, 50),
    (60 * 640, 50, 50),
  ],
)
def test_log_mel_has_four_frames_per_video_frame(n_samples, num_frames, expected_t):
  wav = np.random.default_rng(0).normal(0, 0.1, n_samples).astype(np.float32)
  mel = audio.log_mel(wav, num_frames=num_frames)
  assert mel.shape == (4 * expected_t, 80)
  assert mel.dtype == np.float32
  assert np.all(np.isfinite(mel))


def test_log_mel_frame_is_centred_on_its_hop():
  """A click at the middle of hop i peaks in mel frame i; a burst in video frame t lands in
  mel frames [4t, 4t + 4)."""
  n = 20 * 640
  for i in (0, 13, 42, 79):
    wav = np.zeros(n, np.float32)
    wav[160 * i + 80] = 1.0
    energy = np.exp(audio.log_mel(wav)).sum(1)
    assert int(np.argmax(energy)) == i
  t = 7
  wav = np.zeros(n, np.float32)
  wav[640 * t : 640 * (t + 1)] = np.random.default_rng(1).normal(0, 0.3, 640)
  energy = np.exp(audio.log_mel(wav)).sum(1)
  inside = energy[4 * t : 4 * t + 4]
  outside = np.delete(energy, np.arange(4 * t - 1, 4 * t + 5))
  assert inside.min() > 10 * outside.max()


def test_log_mel_rejects_bad_input():
  with pytest.raises(ValueError, match="mono"):
    audio.log_mel(np.zeros((2, 6400), np.float32))
  with pytest.raises(ValueError, match="16000 Hz"):
    audio.log_mel(np.zeros(6400, np.float32), sample_rate=22050)
  with pytest.raises(ValueError, match="shorter than one video frame"):
    audio.log_mel(np.zeros(100, np.float32))


def test_mel_windows_edges():
  t_total, k = 6, 2
  mel = np.repeat(np.arange(t_total, dtype=np.float32), 4)[:, None] * np.ones((1, 80), np.float32)
  win = audio.mel_windows(mel, k)
  assert win.shape == (t_total, 2 * k + 1, 4, 80)
  # Entry [t, j] is frame clip(t + j - k).
  got = win[:, :, 0, 0]
  want = np.clip(np.arange(t_total)[:, None] + np.arange(-k, k + 1)[None], 0, t_total - 1)
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(got[0], [0, 0, 0, 1, 2])
  np.testing.assert_array_equal(got[-1], [3, 4, 5, 5, 5])
  # A window of the clip equals the same rows of the full context.
  np.testing.assert_array_equal(audio.mel_windows(mel, k, start=2, length=3), win[2:5])
  with pytest.raises(ValueError, match="outside the clip"):
    audio.mel_windows(mel, k, start=5, length=3)
  with pytest.raises(ValueError, match=r"\[4T, n_mels\]"):
    audio.mel_windows(mel[:-1], k)


@pytest.mark.parametrize("ext", ["m4a", "mp3", "wav"])
def test_load_audio_round_trip(tmp_path, ext):
  sr = 22050
  t = np.arange(sr) / sr
  wav = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
  path = tmp_path / f"tone.{ext}"
  media.write_audio(path, wav, sr)
  out = media.load_audio(path, target_sr=constants.SAMPLE_RATE)
  # Lossy codecs pad a little; the length is within 0.1 s and the tone survives.
  assert abs(out.shape[0] - constants.SAMPLE_RATE) < 1600
  ref = 0.3 * np.sin(2 * np.pi * 440 * np.arange(out.shape[0]) / constants.SAMPLE_RATE)
  spec = np.abs(np.fft.rfft(out))
  freqs = np.fft.rfftfreq(out.shape[0], 1 / constants.SAMPLE_RATE)
  assert abs(freqs[np.argmax(spec)] - 440) < 3
  assert abs(np.sqrt(np.mean(out**2)) - np.sqrt(np.mean(ref**2))) < 0.03


def test_load_audio_stereo_is_averaged(tmp_path):
  import subprocess

  path = tmp_path / "stereo.wav"
  sr = 16000
  left = 0.4 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)
  stereo = np.stack([left, np.zeros_like(left)], 1).astype(np.float32)
  cmd = [media.ffmpeg_exe(), "-v", "error", "-y", "-f", "f32le", "-ar", "16000", "-ac", "2"]
  subprocess.run(cmd + ["-i", "-", str(path)], input=stereo.tobytes(), check=True)
  out = media.load_audio(path)
  np.testing.assert_allclose(out, left.astype(np.float32) / 2, atol=2e-4)


def test_load_audio_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="not found"):
    media.load_audio(tmp_path / "missing.wav")
  bad = tmp_path / "bad.m4a"
  bad.write_bytes(b"not audio at all")
  with pytest.raises(ValueError, match="bad.m4a"):
    media.load_audio(bad)
  silent_video = tmp_path / "silent.mp4"
  media.write_video(silent_video, np.zeros((3, 16, 16, 3), np.uint8))
  with pytest.raises(ValueError, match="No audio stream"):
    media.load_audio(silent_video)


def test_video_round_trip_with_audio(tmp_path):
  rng = np.random.default_rng(0)
  frames = np.zeros((10, 32, 48, 3), np.uint8)
  frames[:] = np.linspace(0, 255, 48).astype(np.uint8)[None, None, :, None]
  frames[:, 8:24, 8:24] = rng.integers(0, 255, 3, dtype=np.uint8)
  wav = (0.2 * np.sin(2 * np.pi * 220 * np.arange(6400) / 16000)).astype(np.float32)
  path = tmp_path / "clip.mp4"
  media.write_video(path, frames, fps=25, audio=wav)
  info = media.video_info(path)
  assert (info["width"], info["height"], info["fps"]) == (48, 32, 25.0)
  assert abs(info["duration"] - 0.4) < 0.05
  got, fps = media.read_video(path)
  assert fps == 25
  assert got.shape == frames.shape and got.dtype == np.uint8
  assert np.abs(got.astype(int) - frames).mean() < 4
  sound = media.load_audio(path)
  assert abs(sound.shape[0] - wav.shape[0]) < 1600
  with pytest.raises(ValueError, match="even"):
    media.write_video(tmp_path / "odd.mp4", np.zeros((2, 15, 16, 3), np.uint8))
