"""The inputs of a generation: audio, the source face, emotions and schedules, coefficient files,
and the options checked before any model loads.

Every function raises `ValueError` or `FileNotFoundError` with a one-line message naming the bad
input (the CLI prints it as `error: ...`).
"""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np
import scipy.ndimage
from PIL import Image, UnidentifiedImageError

from flowvq_jax.core import constants
from flowvq_jax.core.constants import EXP_DIM, FPS, POSE_DIM, SAMPLE_RATE, emotion_index
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data import faces, media, transforms
from flowvq_jax.data.coeffs import WORLD_BLINK

SILENCE_PEAK = 1e-3  # audio whose peak amplitude is below this is "silent" (-60 dBFS).
POSE_MODES = ("sampled", "still")
CROP_MODES = ("auto", "none")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".mp4", ".mov", ".mkv")


def load_audio_input(audio: Any) -> np.ndarray:
  """A path (any format ffmpeg reads) or a float waveform `[n]` at 16 kHz -> float32 `[n]`.

  Raises:
    FileNotFoundError / ValueError: unreadable, too short (< one 25 fps frame) or silent audio.
  """

  if isinstance(audio, (str, os.PathLike)):
    name = os.fspath(audio)
    wav = media.load_audio(name)
  else:
    name = "the audio waveform"
    wav = np.asarray(audio)
    if wav.ndim != 1 or not np.issubdtype(wav.dtype, np.floating):
      raise ValueError(
        f"audio must be a file path or a float waveform [n] at {SAMPLE_RATE} Hz, got "
        f"{wav.dtype} {wav.shape}."
      )
    wav = wav.astype(np.float32)
  if not np.all(np.isfinite(wav)):
    raise ValueError(f"Audio {name} contains NaN or inf samples.")
  if audio_lib.num_video_frames(wav.shape[0]) < 1:
    raise ValueError(
      f"Audio {name} is too short: {wav.shape[0]} samples at {SAMPLE_RATE} Hz, less than one "
      f"video frame ({constants.SAMPLES_PER_FRAME} samples)."
    )
  peak = float(np.max(np.abs(wav)))
  if peak < SILENCE_PEAK:
    raise ValueError(
      f"Audio {name} is silent (peak amplitude {peak:.2g} < {SILENCE_PEAK:g}): there is no "
      "speech to animate."
    )
  return wav


def _read_image(image: Any) -> tuple[np.ndarray, str]:
  if isinstance(image, (str, os.PathLike)):

    name = os.fspath(image)
    if not os.path.isfile(name):
      raise FileNotFoundError(f"Image file not found: {name}")
    try:
      with Image.open(name) as im:
        return np.asarray(im.convert("RGB")), name
    except (UnidentifiedImageError, OSError) as e:
      raise ValueError(f"Could not read image {name}: {e}") from None
  x = np.asarray(image)
  if x.dtype != np.uint8:
    raise ValueError(f"image must be a file path or uint8 [H, W, 3] RGB, got dtype {x.dtype}.")
  if x.ndim == 2:
    x = np.repeat(x[..., None], 3, axis=-1)
  if x.ndim != 3 or x.shape[-1] not in (3, 4) or min(x.shape[:2]) < 2:
    raise ValueError(f"image must be uint8 [H, W, 3] RGB, got shape {x.shape}.")
  return np.ascontiguousarray(x[..., :3]), "the image"


def _crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
  """Crops `(x, y, w, h)`; parts outside the image are black (as `media.read_video` pads)."""
  x, y, w, h = box
  hh, ww = img.shape[:2]
  out = np.zeros((h, w, 3), np.uint8)
  x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, ww), min(y + h, hh)
  if x1 > x0 and y1 > y0:
    out[y0 - y : y1 - y, x0 - x : x1 - x] = img[y0:y1, x0:x1]
  return out


def prepare_image(image: Any, size: int, crop: str = "auto") -> np.ndarray:
  """The source face: a path or uint8 `[H, W, 3]` -> uint8 `[size, size, 3]`.

  Args:
    image: png/jpg path (any size) or uint8 RGB array.
    size: the renderer's frame size S.
    crop: 'auto' (Haar face detection; a square box 1.6x the face, as the datasets crop),
      'none' (a pre-aligned face: the centre square, resized), or 'x,y,w,h' (a box in pixels).

  Raises:
    ValueError: no face found with crop='auto' (the message suggests crop='none'), or a bad
      crop value or image.
  """


  img, name = _read_image(image)
  h, w = img.shape[:2]
  crop = str(crop).strip().lower()
  if crop == "auto":
    try:
      box = faces.detect_face_box(img[None], num_probes=1, source=name)
    except ValueError as e:
      msg = str(e).split("; give a fixed crop box")[0]
      raise ValueError(
        f"{msg}. If the image is already an aligned face crop, use --crop none "
        "(crop='none'), or give a box with --crop x,y,w,h."
      ) from None
    img = _crop(img, box)
  elif crop == "none":
    side = min(h, w)
    img = img[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
  else:
    try:
      box = faces.parse_box(crop)
    except ValueError:
      raise ValueError(
        f"Unknown crop {crop!r}; use 'auto', 'none' or a box 'x,y,w,h' in pixels."
      ) from None
    img = _crop(img, box)
  return np.ascontiguousarray(transforms.resize_image(img, size))


_SEGMENT = re.compile(r"^\s*([A-Za-z]+|\d+)\s*:\s*([0-9.]+)\s*-\s*([0-9.]*)\s*$")


def parse_schedule(text: str) -> list[tuple[int, float, float | None]]:
  """`'neutral:0-2,happy:2-6'` -> `[(emotion index, start s, end s or None), ...]`.

  Segments are `EMOTION:START-END` in seconds, separated by commas, in time order and not
  overlapping; the last END may be left out (`happy:2-`: to the end). Before the first segment
  the first emotion holds, in gaps and after the last segment the previous one holds.

  Raises:
    ValueError: naming the bad segment.
  """
  segments: list[tuple[int, float, float | None]] = []
  parts = str(text).split(",")
  for i, part in enumerate(parts):
    m = _SEGMENT.match(part)
    if not m:
      raise ValueError(
        f"Malformed emotion schedule segment {part.strip()!r} in {text!r}: expected "
        "EMOTION:START-END in seconds, e.g. 'neutral:0-2,happy:2-6'."
      )
    name, start, end = m.groups()
    emo = emotion_index(int(name) if name.isdigit() else name)
    try:
      t0 = float(start)
      t1 = float(end) if end else None
    except ValueError:
      raise ValueError(f"Malformed times in emotion schedule segment {part.strip()!r}.") from None
    if t1 is None and i != len(parts) - 1:
      raise ValueError(f"Only the last schedule segment may leave out its end: {part.strip()!r}.")
    if t1 is not None and t1 <= t0:
      raise ValueError(f"Emotion schedule segment {part.strip()!r} ends before it starts.")
    if segments:
      prev_end = segments[-1][2]
      if t0 < segments[-1][1] or (prev_end is not None and t0 < prev_end - 1e-9):
        raise ValueError(
          f"Emotion schedule segments must be in time order without overlap: {part.strip()!r}."
        )
    segments.append((emo, t0, t1))
  if not segments:
    raise ValueError(f"Empty emotion schedule {text!r}.")
  return segments


def emotion_frames(emotion: Any, num_frames: int) -> np.ndarray:
  """An emotion (name, index, schedule string or per-frame `[T]` array) -> int32 `[T]`."""
  if isinstance(emotion, str) and (":" in emotion or "," in emotion):
    out = np.empty((num_frames,), np.int32)
    segments = parse_schedule(emotion)
    out[:] = segments[0][0]
    for emo, t0, _ in segments:
      out[min(int(round(t0 * FPS)), num_frames) :] = emo
    return out
  if isinstance(emotion, str):
    e = emotion.strip()
    return np.full((num_frames,), emotion_index(int(e) if e.isdigit() else e), np.int32)
  if isinstance(emotion, (int, np.integer)):
    return np.full((num_frames,), emotion_index(emotion), np.int32)
  arr = np.asarray(emotion)
  if arr.shape != (num_frames,):
    raise ValueError(
      f"A per-frame emotion must have shape [T]=({num_frames},), got {arr.shape}; or give a "
      "name, an index or a schedule 'neutral:0-2,happy:2-6'."
    )
  if arr.dtype.kind in "US":
    return np.array([emotion_index(str(e)) for e in arr], np.int32)
  return np.array([emotion_index(int(e)) for e in arr], np.int32)


def check_options(
  *, emotion: Any = "neutral", intensity: float = 3.0, emotion_ref: Any = None,
  pose: Any = "sampled", blink: bool = True, temperature: float = 1.0, num_samples: int = 1,
  seed: int = 0, fidelity: float = 0.5, crop: str = "auto",
) -> None:  # fmt: skip
  """Validates the generation options that need no model (cheap; the CLI runs it first).

  Raises:
    ValueError / FileNotFoundError: naming the bad option.
  """
  if isinstance(emotion, str):
    if ":" in emotion or "," in emotion:
      parse_schedule(emotion)
    else:
      emotion_index(int(emotion) if emotion.strip().isdigit() else emotion)
  elif isinstance(emotion, (int, np.integer)):
    emotion_index(emotion)
  if not np.isfinite(intensity) or not 0.0 <= float(intensity) <= 3.0:
    raise ValueError(f"intensity must be a level in [0, 3] (0 neutral, 3 full), got {intensity}.")
  if not np.isfinite(temperature) or float(temperature) < 0:
    raise ValueError(f"temperature must be >= 0, got {temperature}.")
  if int(num_samples) < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
  if isinstance(seed, bool) or int(seed) != seed or int(seed) < 0:
    raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
  if not isinstance(blink, (bool, np.bool_)):
    raise ValueError(f"blink must be True or False, got {blink!r}.")
  if not 0.0 <= float(fidelity) <= 1.0:
    raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}.")
  if isinstance(pose, str) and pose not in POSE_MODES and not os.path.isfile(pose):
    raise ValueError(
      f"pose must be 'sampled', 'still' or a coefficient file; {pose!r} is neither (no such file)."
    )
  c = str(crop).strip().lower()
  if c not in CROP_MODES:

    try:
      faces.parse_box(c)
    except ValueError:
      raise ValueError(
        f"Unknown crop {crop!r}; use 'auto', 'none' or a box 'x,y,w,h' in pixels."
      ) from None
  if isinstance(emotion_ref, str):
    if emotion_ref.startswith("world:"):
      parse_world_ref(emotion_ref)
    elif not os.path.isfile(emotion_ref):
      raise FileNotFoundError(
        f"emotion_ref {emotion_ref!r} is neither a coefficient file nor a 'world:IDENTITY:EMOTION"
        "[:SEED]' clip."
      )


def read_coefficients(path: str, want: str) -> np.ndarray:
  """exp `[M, 64]` (`want='exp'`) or pose `[M, 6]` (`want='pose'`) from a coefficient file.

  Reads what `flowvq_jax.data.coeffs.load_coeffs` reads (`.npy` `[M, 257]` / `[M, 73]`, `.mat`)
  and the `.npy` files `save` writes (`*_exp.npy` `[M, 64]`, `*_pose.npy` `[M, 6]`).
  """
  width = EXP_DIM if want == "exp" else POSE_DIM
  if str(path).lower().endswith(".npy") and os.path.isfile(path):
    try:
      arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
      raise ValueError(f"Could not read coefficient file {path}: {e}") from None
    if arr.ndim == 2 and arr.shape[1] == width:
      out = arr.astype(np.float32)
      if out.shape[0] == 0 or not np.all(np.isfinite(out)):
        raise ValueError(f"Coefficient file {path} is empty or has NaN/inf values.")
      return out
    if arr.ndim == 2 and arr.shape[1] == (POSE_DIM if want == "exp" else EXP_DIM):
      raise ValueError(
        f"{path} holds {arr.shape[1]}-d coefficients; {want} needs {width} per frame (or a "
        f"full [M, {coeffs_lib.FULL_WIDTH}] / [M, {coeffs_lib.COMPACT_WIDTH}] file)."
      )
  exp, pose = coeffs_lib.load_coeffs(path)
  out = exp if want == "exp" else pose
  if out.shape[0] == 0 or not np.all(np.isfinite(out)):
    raise ValueError(f"Coefficient file {path} is empty or has NaN/inf values.")
  return out


def parse_world_ref(spec: str) -> tuple[int, int, int]:
  """`'world:IDENTITY:EMOTION[:SEED]'` -> (identity, emotion index, seed)."""
  parts = spec.split(":")
  if len(parts) not in (3, 4) or parts[0] != "world":
    raise ValueError(
      f"A synthetic-world reference is 'world:IDENTITY:EMOTION[:SEED]' (e.g. "
      f"'world:3:happy:7'), got {spec!r}."
    )
  try:
    identity = int(parts[1])
    seed = int(parts[3]) if len(parts) == 4 else 0
  except ValueError:
    raise ValueError(f"IDENTITY and SEED of {spec!r} must be integers >= 0.") from None
  if identity < 0 or seed < 0:
    raise ValueError(f"IDENTITY and SEED of {spec!r} must be integers >= 0.")
  e = parts[2]
  return identity, emotion_index(int(e) if e.isdigit() else e), seed


def reference_audio(path: str) -> str | None:
  stem = os.path.splitext(path)[0]
  for suffix in ("", "_audio"):
    for ext in AUDIO_EXTENSIONS:
      cand = stem + suffix + ext
      if os.path.isfile(cand) and os.path.abspath(cand) != os.path.abspath(path):
        return cand
  return None


def tile(x: np.ndarray, t: int) -> np.ndarray:
  """Loops (or trims) `[M, D]` to `[t, D]`."""
  reps = -(-t // x.shape[0])
  return np.tile(x, (reps, 1))[:t]


def hold_blink(exp: np.ndarray, window: int = 2 * FPS + 1) -> np.ndarray:
  """Removes blinks: the world's blink dim replaced by its rolling median (`window` frames).

  Blinks in the synthetic world are short closures (7 frames) from a resting lid level (0 =
  open; a slight droop for sad), so the median over 2 s is that resting level and follows
  emotion changes. `exp`: raw (denormalised) `[..., T, 64]` in the synthetic world's layout
  (`flowvq_jax.world.EXP_TABLE`); returns a copy.
  """


  dim = WORLD_BLINK
  out = np.array(exp, np.float32, copy=True)
  col = out[..., dim]
  size = [1] * (col.ndim - 1) + [max(1, min(int(window), col.shape[-1]) | 1)]
  out[..., dim] = scipy.ndimage.median_filter(col, size=size, mode="nearest")
  return out


def is_world_layout(config) -> bool:
  data = config.data
  return data.source == "memory" or str(data.get("name", "")).startswith("synthetic")
