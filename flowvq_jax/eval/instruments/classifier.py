"""Emotion classifier over expression-coefficient windows, for the emotion-accuracy metric.

A window of W frames of expression coefficients `[B, W, 64]` is summarised by its per-dim mean
and std over time (`[B, 128]`), standardised with the training set's feature statistics, and
classified by an MLP into the eight MEAD emotions. Trained on ground-truth windows (the synthetic
world's, or real 3DMM fits), it scores generated coefficients: the accuracy of its predictions
against the requested emotion is the "emotion accuracy" of talking-face papers, measured on
coefficients rather than on images.

    windows, labels = world_windows(SyntheticWorld(0), identities=range(4), intensities=(1, 2, 3))
    clf = train_emotion_classifier(windows, labels, steps=300, seed=0)
    accuracy(clf, test_windows, test_labels)
    save_classifier(clf, "emotion_clf.msgpack"); clf = load_classifier("emotion_clf.msgpack")

A classifier is a plain pytree: {'params': Flax params, 'norm': {'mean', 'std'} [2 * D],
'config': {'hidden', 'window', 'dim'}}.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flowvq_jax.core.constants import NUM_EMOTIONS, emotion_index
from flowvq_jax.eval.instruments import pytree_io
from flowvq_jax.eval.instruments.fit import fit_minibatches

DEFAULT_WINDOW = 25  # frames (1 s at 25 fps).


class WindowClassifier(nn.Module):
  """MLP over standardised window statistics `[B, F]` -> logits `[B, num_classes]`."""

  hidden: int = 128
  num_classes: int = NUM_EMOTIONS
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, feats: jax.Array) -> jax.Array:
    h = feats.astype(self.dtype)
    for i in range(2):
      h = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype, name=f"dense{i}")(h))
    return nn.Dense(self.num_classes, dtype=self.dtype, name="head")(h).astype(jnp.float32)


def _check_windows(windows, dim: int | None = None, window: int | None = None) -> np.ndarray:
  w = np.asarray(windows, np.float32)
  if w.ndim != 3 or w.shape[1] < 2:
    raise ValueError(f"windows must be [B, W >= 2, D] coefficient windows, got {w.shape}.")
  if dim is not None and w.shape[2] != dim:
    raise ValueError(f"The classifier was trained on {dim}-d coefficients, got windows {w.shape}.")
  if window is not None and w.shape[1] != window:
    raise ValueError(f"The classifier was trained on {window}-frame windows, got {w.shape[1]}.")
  if not np.all(np.isfinite(w)):
    raise ValueError("windows contain NaN or inf.")
  return w


def window_features(windows: np.ndarray) -> np.ndarray:
  """[B, W, D] -> [B, 2D]: per-dim mean and std over the window's frames."""
  return np.concatenate([windows.mean(axis=1), windows.std(axis=1)], axis=-1)


def make_windows(
  coefficients: np.ndarray, window: int = DEFAULT_WINDOW, stride: int | None = None
) -> np.ndarray:
  """Cuts a clip `[T, D]` into windows `[N, window, D]` every `stride` (default window // 2)."""
  c = np.asarray(coefficients, np.float32)
  if c.ndim != 2 or c.shape[0] < window:
    raise ValueError(f"coefficients must be [T >= {window}, D], got {c.shape}.")
  stride = stride or max(1, window // 2)
  starts = range(0, c.shape[0] - window + 1, stride)
  return np.stack([c[s : s + window] for s in starts])


def world_windows(
  world,
  identities: Iterable[int],
  intensities: Sequence[int] = (1, 2, 3),
  emotions: Sequence[int | str] | None = None,
  seeds: Sequence[int] = (0,),
  seconds: float = 3.0,
  window: int = DEFAULT_WINDOW,
  stride: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Ground-truth expression windows of the synthetic world (no rendering).

  Returns:
    (windows float32 [N, window, 64], labels int32 [N]).
  """
  emotions = range(NUM_EMOTIONS) if emotions is None else [emotion_index(e) for e in emotions]
  xs, ys = [], []
  for i in identities:
    for e in emotions:
      for k in intensities:
        for s in seeds:
          clip = world.sample_clip(i, e, k, seconds, seed=s, render_frames=False)
          w = make_windows(clip.exp, window, stride)
          xs.append(w)
          ys.append(np.full(len(w), e, np.int32))
  return np.concatenate(xs), np.concatenate(ys)


def train_emotion_classifier(
  windows,
  labels,
  steps: int = 300,
  seed: int = 0,
  hidden: int = 128,
  batch_size: int = 256,
  learning_rate: float = 3e-3,
  weight_decay: float = 1e-4,
) -> dict:
  """Trains a `WindowClassifier` with AdamW on cross-entropy.

  Args:
    windows: float [N, W, D] ground-truth coefficient windows.
    labels: int [N] emotion indices in [0, 8).
    steps: optimisation steps on random minibatches of `batch_size`.

  Returns:
    The classifier pytree (see module docstring).
  """
  w = _check_windows(windows)
  y = np.asarray(labels)
  if y.shape != (w.shape[0],) or not np.issubdtype(y.dtype, np.integer):
    raise ValueError(f"labels must be int [{w.shape[0]}], got {y.dtype} {y.shape}.")
  if y.min() < 0 or y.max() >= NUM_EMOTIONS:
    raise ValueError(
      f"labels must be emotion indices in [0, {NUM_EMOTIONS}), got {y.min()}..{y.max()}."
    )
  if steps < 1:
    raise ValueError(f"steps must be >= 1, got {steps}.")
  feats = window_features(w)
  mean, std = feats.mean(0), feats.std(0) + 1e-3
  x = jnp.asarray((feats - mean) / std)
  yj = jnp.asarray(y.astype(np.int32))
  model = WindowClassifier(hidden=hidden)
  key = jax.random.key(seed)
  params = model.init(key, x[:1])["params"]
  tx = optax.adamw(optax.cosine_decay_schedule(learning_rate, steps), weight_decay=weight_decay)

  def loss_fn(p, xb, yb):
    logits = model.apply({"params": p}, xb)
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  params = fit_minibatches(loss_fn, params, tx, x, yj, steps=steps, batch_size=batch_size, key=key)
  return {
    "params": params,
    "norm": {"mean": mean.astype(np.float32), "std": std.astype(np.float32)},
    "config": {"hidden": int(hidden), "window": int(w.shape[1]), "dim": int(w.shape[2])},
  }


def logits(classifier: dict, windows) -> np.ndarray:
  """Emotion logits float32 [B, 8] of windows [B, W, D] (W, D as in training)."""
  cfg = classifier["config"]
  w = _check_windows(windows, dim=int(cfg["dim"]), window=int(cfg["window"]))
  x = (window_features(w) - classifier["norm"]["mean"]) / classifier["norm"]["std"]
  model = WindowClassifier(hidden=int(cfg["hidden"]))
  return np.asarray(model.apply({"params": classifier["params"]}, jnp.asarray(x)))


def predict(classifier: dict, windows) -> np.ndarray:
  """Predicted emotion indices int32 [B] of windows [B, W, D]."""
  return logits(classifier, windows).argmax(-1).astype(np.int32)


def accuracy(classifier: dict, windows, labels) -> float:
  """Fraction of windows [B, W, D] whose predicted emotion equals `labels` [B]."""
  y = np.asarray(labels)
  pred = predict(classifier, windows)
  if y.shape != pred.shape:
    raise ValueError(f"labels must be [{pred.shape[0]}], got {y.shape}.")
  return float(np.mean(pred == y))


def clip_predictions(classifier: dict, clips: Sequence[np.ndarray]) -> np.ndarray:
  """One emotion index per clip: the argmax of its windows' summed logits. int `[N]`.

  Args:
    clips: coefficient sequences, each [T_i >= window, D].
  """
  win = int(classifier["config"]["window"])
  return np.array([int(logits(classifier, make_windows(c, win)).sum(0).argmax()) for c in clips])


def clip_accuracy(classifier: dict, clips: Sequence[np.ndarray], labels: Sequence[int]) -> float:
  """Accuracy per clip of `clip_predictions`.

  Args:
    clips: coefficient sequences, each [T_i >= window, D].
    labels: one emotion (index or name) per clip.
  """
  if len(clips) != len(labels) or not clips:
    raise ValueError(f"Need one label per clip, got {len(clips)} clips, {len(labels)} labels.")
  truth = np.array([emotion_index(lab) for lab in labels])
  return float(np.mean(clip_predictions(classifier, clips) == truth))


def confusion(truth: Sequence[int], predicted: Sequence[int]) -> np.ndarray:
  """Counts `[NUM_EMOTIONS, NUM_EMOTIONS]`: row = true emotion, column = predicted."""
  m = np.zeros((NUM_EMOTIONS, NUM_EMOTIONS), np.int64)
  np.add.at(m, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
  return m


def save_classifier(classifier: dict, path: str) -> None:
  """Writes the classifier pytree as msgpack (flax.serialization)."""
  pytree_io.save_pytree(classifier, path)


def load_classifier(path: str) -> dict:
  """Reads a classifier written by `save_classifier`."""
  return pytree_io.load_pytree(path, ("params", "norm", "config"), "an emotion classifier")


__all__ = [
  "DEFAULT_WINDOW",
  "WindowClassifier",
  "accuracy",
  "clip_accuracy",
  "load_classifier",
  "logits",
  "make_windows",
  "predict",
  "save_classifier",
  "train_emotion_classifier",
  "window_features",
  "world_windows",
]
