"""The one resize policy for face frames, everywhere: training, evaluation and inference.

Frames shrink with area averaging (`cv2.INTER_AREA`: each output pixel the mean of the input
pixels it covers, so no aliasing) and grow with bicubic interpolation (`cv2.INTER_CUBIC`; area
averaging would only replicate pixels). The training pipelines shrink the world's or a dataset's
frames to the model's size, so a source photo resized the same way at inference looks like the
training frames; evaluation resizes its references the same way, so the scores compare the model
with what it was trained to produce.
"""

from __future__ import annotations

import cv2
import numpy as np


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
  """uint8 `[H, W, 3]` -> `[size, size, 3]` (a no-op at that size)."""
  if image.shape[:2] == (size, size):
    return image
  interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_CUBIC
  return cv2.resize(image, (size, size), interpolation=interp)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
  """uint8 `[N, H, W, 3]` -> `[N, size, size, 3]` (a no-op at that size)."""
  if frames.shape[1:3] == (size, size):
    return frames
  return np.stack([resize_image(f, size) for f in frames])
