"""A small CNN landmark regressor: face images -> 68 landmarks, for M-LMD / F-LMD of generated
frames.

Trained on frames of the synthetic world (whose landmarks are exact), it measures where the
mouth and face of a *generated* frame are, so `metrics.lmd` can compare them with the ground
truth. Images are resized to the model's resolution (default 64 px); landmarks are regressed as
offsets from the training set's mean shape, in units of the image side, and returned in pixels
of the input images.

    frames, lms = world_frames(SyntheticWorld(0, 64), identities=range(12))
    reg = train_landmark_regressor(frames, lms, steps=400, seed=0)
    pred = predict_landmarks(reg, generated_frames)  # [T, 68, 2] pixels
    save_regressor(reg, "landmarks.msgpack"); reg = load_regressor("landmarks.msgpack")

A regressor is a plain pytree: {'params', 'mean_shape' [68, 2] (fractions of the side),
'config': {'resolution', 'width'}}.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import cv2
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flowvq_jax.core.constants import NUM_EMOTIONS, NUM_LANDMARKS
from flowvq_jax.eval.instruments import pytree_io
from flowvq_jax.eval.instruments.fit import fit_minibatches


class LandmarkCNN(nn.Module):
  """Images `[B, R, R, 3]` in [-1, 1] -> landmark offsets `[B, 68, 2]` (fractions of R).

  Four stride-2 3x3 convs (width, 2w, 4w, 4w channels) with GELU, then a dense layer of 8w and a
  zero-initialised linear head, so a new model predicts the mean shape.
  """

  width: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    h = x.astype(self.dtype)
    for i, mult in enumerate((1, 2, 4, 4)):
      h = nn.Conv(self.width * mult, (3, 3), strides=2, dtype=self.dtype, name=f"conv{i}")(h)
      h = nn.gelu(h)
    h = h.reshape(h.shape[0], -1)
    h = nn.gelu(nn.Dense(self.width * 8, dtype=self.dtype, name="dense")(h))
    out = nn.Dense(
      NUM_LANDMARKS * 2, dtype=self.dtype, kernel_init=nn.initializers.zeros, name="head"
    )(h)
    return out.astype(jnp.float32).reshape(-1, NUM_LANDMARKS, 2)


def _prepare(images, resolution: int) -> tuple[np.ndarray, float]:
  """uint8 / [-1, 1] float [B, H, H, 3] -> float32 [B, R, R, 3] in [-1, 1], and H / R."""
  x = np.asarray(images)
  if x.ndim != 4 or x.shape[-1] != 3 or x.shape[1] != x.shape[2]:
    raise ValueError(f"images must be square RGB [B, H, H, 3], got {x.shape}.")
  if x.dtype == np.uint8:
    x = x.astype(np.float32) / 127.5 - 1.0
  elif np.issubdtype(x.dtype, np.floating):
    x = x.astype(np.float32)
    if x.size and (x.min() < -1.001 or x.max() > 1.001):
      raise ValueError(f"Float images must be in [-1, 1], got [{x.min():.3g}, {x.max():.3g}].")
  else:
    raise ValueError(f"images must be uint8 or float in [-1, 1], got dtype {x.dtype}.")
  side = x.shape[1]
  if side != resolution:
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_LINEAR
    x = np.stack([cv2.resize(im, (resolution, resolution), interpolation=interp) for im in x])
  return x, side / resolution


def world_frames(
  world,
  identities: Iterable[int],
  frames_per_identity: int = 8,
  seed: int = 0,
  pool_clips: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
  """Rendered frames and exact landmarks of the synthetic world, for training or testing.

  A pool of `pool_clips` coefficient-only clips (2 s, random emotions and intensities from
  `seed`) supplies expressions and head poses; each identity is rendered with
  `frames_per_identity` frames drawn at random from the pool, so neighbouring samples are not
  near-copies of each other.

  Returns:
    (frames uint8 [N, R, R, 3], landmarks float32 [N, 68, 2] pixels) at the world's resolution,
    N = len(identities) * frames_per_identity.
  """
  rng = np.random.default_rng(seed)
  exps, poses = [], []
  for j in range(pool_clips):
    emo, k = int(rng.integers(NUM_EMOTIONS)), int(rng.integers(1, 4))
    clip = world.sample_clip(1_000_000 + j, emo, k, 2.0, seed=seed * 1000 + j, render_frames=False)
    exps.append(clip.exp)
    poses.append(clip.pose)
  exp, pose = np.concatenate(exps), np.concatenate(poses)
  fs, ls = [], []
  for i in identities:
    idx = rng.choice(exp.shape[0], size=frames_per_identity, replace=False)
    fs.append(world.render(i, exp[idx], pose[idx]))
    ls.append(world.landmarks(i, exp[idx], pose[idx]))
  return np.concatenate(fs), np.concatenate(ls).astype(np.float32)


def _check_targets(images: np.ndarray, landmarks) -> np.ndarray:
  lms = np.asarray(landmarks, np.float32)
  if lms.shape != (images.shape[0], NUM_LANDMARKS, 2):
    raise ValueError(f"landmarks must be [{images.shape[0]}, 68, 2] pixels, got {lms.shape}.")
  return lms


def train_landmark_regressor(
  images,
  landmarks,
  steps: int = 400,
  seed: int = 0,
  resolution: int = 64,
  width: int = 32,
  batch_size: int = 32,
  learning_rate: float = 2e-3,
) -> dict:
  """Trains a `LandmarkCNN` with Adam on the mean squared landmark error (fractions of the side).

  Args:
    images: uint8 [N, H, H, 3] or float [-1, 1] (resized to `resolution`).
    landmarks: [N, 68, 2] pixel (x, y) in the images' own resolution.

  Returns:
    The regressor pytree (see module docstring).
  """
  x, scale = _prepare(images, resolution)
  lms = _check_targets(x, landmarks)
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  y = lms / (scale * resolution)
  mean_shape = y.mean(0)
  xj, yj = jnp.asarray(x), jnp.asarray(y - mean_shape)
  model = LandmarkCNN(width=width)
  key = jax.random.key(seed)
  params = model.init(key, xj[:1])["params"]
  sched = optax.warmup_cosine_decay_schedule(0.0, learning_rate, min(50, steps // 5 + 1), steps)
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(sched))

  def loss_fn(p, xb, yb):
    return jnp.mean(jnp.square(model.apply({"params": p}, xb) - yb))

  params = fit_minibatches(loss_fn, params, tx, xj, yj, steps=steps, batch_size=batch_size, key=key)
  return {
    "params": params,
    "mean_shape": mean_shape.astype(np.float32),
    "config": {"resolution": int(resolution), "width": int(width)},
  }


def predict_landmarks(regressor: dict, images, batch_size: int = 256) -> np.ndarray:
  """Landmarks float32 [B, 68, 2] in pixels of the input images [B, H, H, 3]."""
  cfg = regressor["config"]
  res = int(cfg["resolution"])
  x, scale = _prepare(images, res)
  model = LandmarkCNN(width=int(cfg["width"]))
  apply = jax.jit(lambda p, im: model.apply({"params": p}, im))
  outs = [
    np.asarray(apply(regressor["params"], jnp.asarray(x[i : i + batch_size])))
    for i in range(0, x.shape[0], batch_size)
  ]
  out = np.concatenate(outs) if outs else np.zeros((0, NUM_LANDMARKS, 2), np.float32)
  return ((out + regressor["mean_shape"]) * scale * res).astype(np.float32)


def mean_shape_landmarks(regressor: dict, num: int, side: int) -> np.ndarray:
  """The mean-shape baseline: the training mean shape for `num` images of `side` px.

  Returns:
    float32 [num, 68, 2] pixels.
  """
  return np.broadcast_to(regressor["mean_shape"] * side, (num, NUM_LANDMARKS, 2)).astype(np.float32)


def save_regressor(regressor: dict, path: str) -> None:
  """Writes the regressor pytree as msgpack (flax.serialization)."""
  pytree_io.save_pytree(regressor, path)


def load_regressor(path: str) -> dict:
  """Reads a regressor written by `save_regressor`."""
  return pytree_io.load_pytree(path, ("params", "mean_shape", "config"), "a landmark regressor")
