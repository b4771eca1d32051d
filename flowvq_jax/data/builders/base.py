"""Common base of the package's TFDS builders (array_record files, no TensorFlow)."""

from __future__ import annotations

import inspect

import tensorflow_datasets as tfds
from etils import epath


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
