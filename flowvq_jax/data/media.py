"""Audio and video file I/O through the ffmpeg binary that imageio-ffmpeg ships.

No system ffmpeg, TensorFlow or PyAV is needed. Audio decodes from any container
ffmpeg reads (wav, mp3, m4a/AAC, flac, the audio track of an mp4); video is read as
RGB frames and written as h264 mp4 with AAC audio.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import warnings

import imageio_ffmpeg
import numpy as np
import scipy.io.wavfile

from flowvq_jax.core import constants


def ffmpeg_exe() -> str:
  """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
  return imageio_ffmpeg.get_ffmpeg_exe()


def _check_file(path: str | os.PathLike, what: str) -> str:
  path = os.fspath(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{what} file not found: {path}")
  if not os.path.isfile(path):
    raise ValueError(f"{what} path is not a file: {path}")
  if os.path.getsize(path) == 0:
    raise ValueError(f"{what} file is empty: {path}")
  return path


@contextlib.contextmanager
def _quiet_fork():
  """Silences JAX's warning on fork: subprocess forks only to exec ffmpeg at once."""
  with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
    yield


def _run(cmd: list[str], what: str, path: str, stdin: bytes | None = None) -> bytes:
  with _quiet_fork():
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
  if proc.returncode != 0:
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    tail = " | ".join(err[-3:]) if err else f"exit status {proc.returncode}"
    raise ValueError(f"ffmpeg could not {what} {path}: {tail}")
  return proc.stdout


def load_audio(path: str | os.PathLike, target_sr: int = constants.SAMPLE_RATE) -> np.ndarray:
  """Decodes the audio of `path` to a mono float32 waveform at `target_sr`.

  Args:
    path: any file ffmpeg reads with an audio stream (wav, mp3, m4a, flac, mp4, ...).
    target_sr: output sample rate in Hz.

  Returns:
    float32 `[n]` in [-1, 1]; stereo is averaged to mono.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: the file is empty, unreadable, or has no audio stream.
  """
  path = _check_file(path, "Audio")
  with tempfile.TemporaryDirectory() as tmp:
    out_path = os.path.join(tmp, "decoded.wav")
    # Decoded at the native channel count and averaged here: ffmpeg's own downmix (`-ac 1`)
    # scales stereo by 1/sqrt(2) instead of averaging.
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", path, "-map", "0:a:0", "-vn"]
    cmd += ["-ar", str(int(target_sr)), "-acodec", "pcm_f32le", "-f", "wav", out_path]
    try:
      _run(cmd, "decode the audio of", path)
    except ValueError as e:
      if "matches no streams" in str(e) or "'0:a:0'" in str(e):
        raise ValueError(f"No audio stream in {path}.") from None
      raise
    _, wav = scipy.io.wavfile.read(out_path)
  wav = np.asarray(wav, np.float32)
  if wav.ndim == 2:
    wav = wav.mean(axis=1)
  if wav.size == 0:
    raise ValueError(f"No audio samples decoded from {path}.")
  return wav


def write_audio(
  path: str | os.PathLike, wav: np.ndarray, sample_rate: int = constants.SAMPLE_RATE
) -> None:
  """Encodes a mono waveform `[n]` to `path`; the codec follows the extension.

  `.wav` is 16-bit PCM, `.m4a`/`.aac`/`.mp4` AAC, `.mp3` MP3, `.flac` FLAC.
  """
  path = os.fspath(path)
  wav = np.asarray(wav, np.float32)
  if wav.ndim != 1:
    raise ValueError(f"write_audio expects a mono waveform [n], got shape {wav.shape}.")
  ext = os.path.splitext(path)[1].lower()
  codecs = {".wav": "pcm_s16le", ".m4a": "aac", ".aac": "aac", ".mp4": "aac", ".mp3": "libmp3lame"}
  codecs[".flac"] = "flac"
  if ext not in codecs:
    raise ValueError(f"Unsupported audio extension {ext!r} for {path}; use {sorted(codecs)}.")
  cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sample_rate)]
  cmd += ["-ac", "1", "-i", "-", "-c:a", codecs[ext]]
  if codecs[ext] in ("aac", "libmp3lame"):
    cmd += ["-b:a", "128k"]
  _run(cmd + [path], "write audio to", path, stdin=np.clip(wav, -1, 1).tobytes())


def video_info(path: str | os.PathLike) -> dict:
  """`{"width", "height", "fps", "duration"}` of a video (duration in s, 0.0 if unknown).

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: the file is empty or not a readable video.
  """
  path = _check_file(path, "Video")
  reader = None
  try:
    with _quiet_fork():
      reader = imageio_ffmpeg.read_frames(path, pix_fmt="rgb24")
      meta = next(reader)
    w, h = meta["size"]
    fps = float(meta.get("fps") or constants.FPS)
    duration = float(meta.get("duration") or 0.0)
  except (OSError, RuntimeError, KeyError, StopIteration) as e:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    msg = " | ".join(lines[:1] + lines[-2:]) if len(lines) > 3 else " | ".join(lines)
    raise ValueError(f"Could not read video {path}: {msg}") from None
  finally:
    if reader is not None:
      reader.close()
  return {"width": int(w), "height": int(h), "fps": fps, "duration": duration}


def probe_video(path: str | os.PathLike) -> tuple[int, int, float]:
  """`(width, height, fps)` of a video file (`video_info` has the duration too)."""
  info = video_info(path)
  return info["width"], info["height"], info["fps"]


def read_video(
  path: str | os.PathLike,
  crop_box: tuple[int, int, int, int] | None = None,
  size: int | None = None,
  fps: float | None = None,
) -> tuple[np.ndarray, float]:
  """Reads every frame of a video file, optionally cropped, resized and resampled in ffmpeg.

  Args:
    path: the video.
    crop_box: `(x, y, w, h)` in source pixels; parts outside the frame are black.
    size: resize (after cropping) to `size x size` with area averaging.
    fps: resample to this frame rate (ffmpeg's `fps` filter: nearest frames).

  Returns:
    `(frames, fps)`: uint8 `[T, H, W, 3]` RGB frames and their frame rate.

  Raises:
    FileNotFoundError: the file does not exist.
    ValueError: the file is empty, unreadable, or has no video frames.
  """
  src_w, src_h, src_fps = probe_video(path)
  path = os.fspath(path)
  filters, out_w, out_h = [], src_w, src_h
  if crop_box is not None:
    x, y, bw, bh = (int(v) for v in crop_box)
    if bw <= 0 or bh <= 0:
      raise ValueError(f"Crop box {crop_box} has no area.")
    pad = max(0, -x, -y, x + bw - src_w, y + bh - src_h)
    if pad:
      filters.append(f"pad={src_w + 2 * pad}:{src_h + 2 * pad}:{pad}:{pad}:black")
    filters.append(f"crop={bw}:{bh}:{x + pad}:{y + pad}")
    out_w, out_h = bw, bh
  if size is not None:
    filters.append(f"scale={int(size)}:{int(size)}:flags=area")
    out_w = out_h = int(size)
  if fps is not None:
    filters.append(f"fps={fps}")
  cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", path, "-map", "0:v:0"]
  if filters:
    cmd += ["-vf", ",".join(filters)]
  cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
  out = _run(cmd, "read the video", path)
  frame_bytes = out_w * out_h * 3
  if len(out) < frame_bytes:
    raise ValueError(f"No video frames in {path}.")
  t = len(out) // frame_bytes
  frames = np.frombuffer(out, np.uint8)[: t * frame_bytes].reshape(t, out_h, out_w, 3)
  return frames, float(fps if fps is not None else src_fps)


def write_video(
  path: str | os.PathLike,
  frames: np.ndarray,
  fps: float = constants.FPS,
  audio: np.ndarray | None = None,
  sr: int = constants.SAMPLE_RATE,
  crf: int = 18,
) -> None:
  """Writes uint8 RGB frames `[T, H, W, 3]` as h264 mp4, muxing mono `audio` `[n]` as AAC.

  H and W must be even (yuv420p). The file ends with the shorter of video and audio.
  """
  path = os.fspath(path)
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(
      f"write_video expects uint8 [T, H, W, 3] frames, got {frames.dtype} {frames.shape}."
    )
  t, h, w, _ = frames.shape
  if t == 0 or h % 2 or w % 2:
    raise ValueError(f"write_video needs at least one frame and even H, W; got {frames.shape}.")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with tempfile.TemporaryDirectory() as tmp:
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio is not None:
      wav_path = os.path.join(tmp, "audio.wav")
      write_audio(wav_path, np.asarray(audio, np.float32), sr)
      cmd += ["-i", wav_path, "-c:a", "aac", "-b:a", "128k", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-preset", "veryfast"]
    cmd += ["-movflags", "+faststart", path]
    _run(cmd, "write video to", path, stdin=np.ascontiguousarray(frames).tobytes())


class VideoWriter:
  """Streams uint8 RGB frames into an h264 mp4 through one ffmpeg process (bounded memory).

    with media.VideoWriter("out.mp4", width=256, height=256, audio=wav) as w:
      for block in blocks:  # uint8 [t, 256, 256, 3]
        w.write(block)

  The file is written to `<path>.partial` and moved to `path` only when ffmpeg finishes
  cleanly, so an existing `path` survives a failed or interrupted run. Mono `audio` `[n]` (at
  `sr`) is muxed as AAC; as in `write_video`, the file ends with the shorter of video and audio.
  H and W must be even (yuv420p).
  """

  def __init__(
    self,
    path: str | os.PathLike,
    width: int,
    height: int,
    fps: float = constants.FPS,
    audio: np.ndarray | None = None,
    sr: int = constants.SAMPLE_RATE,
    crf: int = 18,
  ):
    self.path = os.fspath(path)
    self.width, self.height = int(width), int(height)
    if self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
      raise ValueError(f"VideoWriter needs a positive, even width and height: {width}x{height}.")
    self.frames_written = 0
    self._done = False
    self._partial = self.path + ".partial"
    os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
    self._tmp = tempfile.TemporaryDirectory()
    self._log = open(os.path.join(self._tmp.name, "ffmpeg.log"), "wb")  # noqa: SIM115
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{self.width}x{self.height}", "-r", str(fps), "-i", "-"]
    if audio is not None:
      wav_path = os.path.join(self._tmp.name, "audio.wav")
      write_audio(wav_path, np.asarray(audio, np.float32), sr)
      cmd += ["-i", wav_path, "-c:a", "aac", "-b:a", "128k", "-shortest"]
    cmd += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", str(crf), "-preset", "veryfast"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", self._partial]
    with _quiet_fork():
      self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._log)

  def write(self, frames: np.ndarray) -> None:
    """Appends uint8 frames `[t, H, W, 3]` (or one frame `[H, W, 3]`)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
      frames = frames[None]
    if frames.dtype != np.uint8 or frames.shape[1:] != (self.height, self.width, 3):
      raise ValueError(
        f"VideoWriter expects uint8 [t, {self.height}, {self.width}, 3] frames, got "
        f"{frames.dtype} {frames.shape}."
      )
    try:
      self._proc.stdin.write(np.ascontiguousarray(frames).tobytes())
    except (BrokenPipeError, OSError):
      self._fail("ffmpeg stopped while writing")
    self.frames_written += frames.shape[0]

  def _error_tail(self) -> str:
    self._log.flush()
    with open(self._log.name, "rb") as f:
      lines = f.read().decode("utf-8", "replace").strip().splitlines()
    return " | ".join(lines[-3:]) if lines else f"exit status {self._proc.returncode}"

  def _fail(self, what: str):
    if self._proc.poll() is None:
      self._proc.kill()
    self._proc.wait()
    tail = self._error_tail()
    self.abort()
    raise ValueError(f"{what} {self.path}: {tail}")

  def close(self) -> str:
    """Finishes the file; returns its path. Raises ValueError if ffmpeg failed."""
    if self._done:
      raise ValueError(f"VideoWriter for {self.path} is already closed.")
    if self._proc.stdin and not self._proc.stdin.closed:
      try:
        self._proc.stdin.close()
      except (BrokenPipeError, OSError):
        pass
    code = self._proc.wait()
    if code != 0 or self.frames_written == 0:
      tail = self._error_tail() if code != 0 else "no frames were written"
      self._cleanup(remove=True)
      raise ValueError(f"ffmpeg could not write video to {self.path}: {tail}")
    os.replace(self._partial, self.path)
    self._cleanup(remove=False)
    return self.path

  def abort(self) -> None:
    """Stops ffmpeg and removes the partial file (an existing `path` is left untouched)."""
    if self._done:
      return
    if self._proc.poll() is None:
      self._proc.kill()
    with contextlib.suppress(OSError, BrokenPipeError):
      if self._proc.stdin:
        self._proc.stdin.close()
    self._proc.wait()
    self._cleanup(remove=True)

  def _cleanup(self, remove: bool) -> None:
    self._done = True
    if remove and os.path.exists(self._partial):
      os.remove(self._partial)
    if not self._log.closed:
      self._log.close()
    self._tmp.cleanup()

  def __enter__(self) -> VideoWriter:
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()
