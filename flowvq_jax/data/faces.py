"""Face cropping for real videos: one fixed square box per video, resized to a size.

The box comes from OpenCV's bundled frontal-face Haar cascade (`cv2.data.haarcascades`;
present in OpenCV 4.x, removed in OpenCV 5) run on a few frames, or from the user
(`(x, y, w, h)` in pixels of the source video), or is the whole frame. A single box per
video keeps the head's motion in the pose coefficients instead of removing it frame by
frame.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, width, height in pixels.

_CASCADE = None
CASCADE_FILE = "haarcascade_frontalface_default.xml"


def haar_available() -> bool:
  """Whether the installed OpenCV has the Haar cascade detector and its model files.

  OpenCV 5 removed both; OpenCV 4.x (`opencv-python-headless<5`) ships them.
  """
  data = getattr(getattr(cv2, "data", None), "haarcascades", None)
  return (
    hasattr(cv2, "CascadeClassifier")
    and data is not None
    and os.path.isfile(os.path.join(data, CASCADE_FILE))
  )


def check_haar() -> None:
  """Raises a ValueError saying what to do when the Haar cascade is not available."""
  if not haar_available():
    raise ValueError(
      f"Haar face detection needs OpenCV 4.x with its bundled cascades; the installed "
      f"OpenCV {cv2.__version__} has none. Install 'opencv-python-headless<5', or give a "
      "fixed crop box (crop='x,y,w,h' in source pixels) or crop='full'."
    )


def _cascade():
  global _CASCADE
  if _CASCADE is None:
    check_haar()
    path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
    _CASCADE = cv2.CascadeClassifier(path)
    if _CASCADE.empty():
      raise ValueError(f"Could not load OpenCV's Haar cascade from {path}.")
  return _CASCADE


def detect_face_box(
  frames: np.ndarray, num_probes: int = 8, scale: float = 1.6, source: str = "video"
) -> Box:
  """A square box around the face, from the median Haar detection over a few frames.

  Args:
    frames: uint8 `[T, H, W, 3]` RGB.
    num_probes: frames (evenly spaced) the detector runs on.
    scale: side of the box relative to the detected face (1.6 keeps chin, hair and ears).
    source: name of the video, for the error message.

  Returns:
    `(x, y, side, side)`; may extend past the frame (`media.read_video` pads it black).

  Raises:
    ValueError: naming `source`, if no face is found on any probed frame.
  """
  t, h, w, _ = frames.shape
  boxes = []
  for i in np.linspace(0, t - 1, min(num_probes, t)).round().astype(int):
    gray = cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY)
    found = _cascade().detectMultiScale(
      gray, scaleFactor=1.1, minNeighbors=4, minSize=(max(16, h // 10), max(16, h // 10))
    )
    if len(found):
      boxes.append(max(found, key=lambda b: b[2] * b[3]))
  if not boxes:
    raise ValueError(
      f"No face found in {source} (Haar cascade on {min(num_probes, t)} frames of {w}x{h}); "
      "give a fixed crop box instead."
    )
  x, y, bw, bh = np.median(np.asarray(boxes, np.float64), axis=0)
  cx, cy = x + bw / 2, y + bh / 2
  side = scale * max(bw, bh)
  return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side))


def parse_box(text: str | None) -> Box | None:
  """Parses `"x,y,w,h"` (pixels) into a box; None or "" gives None."""
  if not text:
    return None
  parts = [p.strip() for p in str(text).split(",")]
  try:
    box = tuple(int(p) for p in parts)
  except ValueError:
    box = ()
  if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
    raise ValueError(f"Crop box must be 'x,y,w,h' with positive w and h in pixels, got {text!r}.")
  return box  # type: ignore[return-value]
