"""Common base of the package's TFDS builders (array_record files, no TensorFlow)."""

from __future__ import annotations

import inspect

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from flowvq_jax.core import constants
from flowvq_jax.data import audio as audio_lib


class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A GeneratorBasedBuilder whose code path is its source file.

  TFDS's default `code_path` probes `importlib_resources`, which is not a dependency of
  this package and is absent from many environments; the source file is what it finds
  anyway when the package is installed normally.
  """

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path | None:
    try:
      return epath.Path(inspect.getfile(cls))
    except (TypeError, OSError):
      return None


def clip_features(
  resolution: int | None, *, landmarks: bool, speaker: bool
) -> tfds.features.FeaturesDict:
  """The features of one clip (frames, coefficients, audio, mel, labels; `landmarks` [T, 68, 2]
  for the synthetic world, `speaker` for the real datasets); `resolution` None allows any frame
  size."""
  f = tfds.features
  ZLIB, BYTES = f.Encoding.ZLIB, f.Encoding.BYTES  # Raw bytes: fast to write and read.
  h = w = resolution
  feats = {
    "frames": f.Tensor(shape=(None, h, w, 3), dtype=np.uint8, encoding=ZLIB),
    "exp": f.Tensor(shape=(None, constants.EXP_DIM), dtype=np.float32, encoding=BYTES),
    "pose": f.Tensor(shape=(None, constants.POSE_DIM), dtype=np.float32, encoding=BYTES),
  }
  if landmarks:
    shape = (None, constants.NUM_LANDMARKS, 2)
    feats["landmarks"] = f.Tensor(shape=shape, dtype=np.float32, encoding=BYTES)
  feats.update(
    audio=f.Tensor(shape=(None,), dtype=np.float32, encoding=BYTES),
    mel=f.Tensor(shape=(None, audio_lib.N_MELS), dtype=np.float32, encoding=BYTES),
    emotion=f.ClassLabel(names=list(constants.EMOTIONS)),
    intensity=f.Scalar(dtype=np.int32),
    identity=f.Scalar(dtype=np.int32),
    utterance=f.Scalar(dtype=np.int32),
  )
  if speaker:
    feats["speaker"] = f.Text()
  feats["clip_id"] = f.Text()
  return f.FeaturesDict(feats)
