"""Metric writers: JSON lines + TensorBoard (tensorboardX), images and videos.

Only process 0 writes; other processes get a writer whose methods do nothing.
Files: `<workdir>/metrics.jsonl` (one `{"step": s, name: value, ...}` per call) and
TensorBoard event files under `<workdir>/tensorboard/`.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from PIL import Image
from tensorboardX import SummaryWriter
from tensorboardX.proto.summary_pb2 import Summary


def _to_uint8(x: np.ndarray) -> np.ndarray:
  """float in [0, 1] (or uint8) -> uint8, 1-channel broadcast to RGB."""
  x = np.asarray(x)
  if x.dtype != np.uint8:
    x = np.clip(np.nan_to_num(x.astype(np.float32)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, axis=-1)
  return x


def image_grid(images: np.ndarray, cols: int | None = None) -> np.ndarray:
  """[N, H, W, C] -> one [rows*H, cols*W, C] uint8 image (C in {1, 3}, floats in [0, 1])."""
  images = _to_uint8(images)
  if images.ndim != 4:
    raise ValueError(f"image summaries need [N, H, W, C]; got shape {images.shape}.")
  n, h, w, c = images.shape
  cols = cols or math.ceil(math.sqrt(n))
  rows = math.ceil(n / cols)
  grid = np.zeros((rows * h, cols * w, c), np.uint8)
  for i in range(n):
    r, q = divmod(i, cols)
    grid[r * h : (r + 1) * h, q * w : (q + 1) * w] = images[i]
  return grid


def _gif(frames: np.ndarray, fps: int) -> bytes:
  pil = [Image.fromarray(f) for f in frames]
  buf = io.BytesIO()
  pil[0].save(
    buf,
    format="GIF",
    save_all=True,
    append_images=pil[1:],
    duration=max(int(1000 / fps), 20),
    loop=0,
  )
  return buf.getvalue()


class MetricWriter:
  """Writes scalars / images / videos for one run.

  Args:
    workdir: run directory.
    enabled: write anything at all (default: only on `jax.process_index() == 0`).
    tensorboard: also write TensorBoard event files.
  """

  def __init__(self, workdir: str, *, enabled: bool | None = None, tensorboard: bool = True):
    if enabled is None:
      enabled = jax.process_index() == 0
    self.enabled = enabled
    self._jsonl = None
    self._tb = None
    if not enabled:
      return
    os.makedirs(workdir, exist_ok=True)
    self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")  # noqa: SIM115
    if tensorboard:
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def scalars(self, step: int, values: Mapping[str, Any]):
    """Writes `{name: scalar}` at `step` (non-finite values are written as null in JSON)."""
    if not self.enabled:
      return
    row = {"step": int(step)}
    for k, v in values.items():
      v = float(np.asarray(v))
      row[k] = v if math.isfinite(v) else None
      if self._tb is not None:
        self._tb.add_scalar(k, v, int(step))
    self._jsonl.write(json.dumps(row) + "\n")
    self._jsonl.flush()

  def images(self, step: int, images: Mapping[str, np.ndarray]):
    """`{name: [N, H, W, C]}` (uint8 or float in [0, 1]) -> one grid image per name."""
    if not self.enabled or self._tb is None:
      return
    for k, v in images.items():
      self._tb.add_image(k, image_grid(np.asarray(v)), int(step), dataformats="HWC")

  def videos(self, step: int, videos: Mapping[str, np.ndarray], fps: int = 25):
    """`{name: [N, T, H, W, C]}` -> an animated GIF of the N clips side by side per name."""
    if not self.enabled or self._tb is None:
      return
    for k, v in videos.items():
      v = np.asarray(v)
      if v.ndim != 5:
        raise ValueError(f"video summaries need [N, T, H, W, C]; got shape {v.shape} for {k}.")
      frames = np.stack([image_grid(v[:, t], cols=v.shape[0]) for t in range(v.shape[1])])
      _, h, w, c = frames.shape
      img = Summary.Image(height=h, width=w, colorspace=c, encoded_image_string=_gif(frames, fps))
      self._tb.file_writer.add_summary(Summary(value=[Summary.Value(tag=k, image=img)]), int(step))

  def flush(self):
    if self._tb is not None:
      self._tb.flush()

  def close(self):
    if self._jsonl is not None:
      self._jsonl.close()
      self._jsonl = None
    if self._tb is not None:
      self._tb.close()
      self._tb = None


def read_jsonl(path: str) -> list[dict[str, Any]]:
  """Rows of a metrics.jsonl file."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
