"""Saving and loading the small evaluation models (classifier, landmark regressor) as msgpack."""

from __future__ import annotations

from collections.abc import Iterable

import flax.serialization
import jax
import numpy as np


def save_pytree(tree: dict, path: str) -> None:
  """Writes a pytree of arrays as msgpack (flax.serialization)."""
  data = flax.serialization.msgpack_serialize(jax.tree.map(np.asarray, tree))
  with open(path, "wb") as f:
    f.write(data)


def load_pytree(path: str, keys: Iterable[str], what: str) -> dict:
  """Reads a pytree written by `save_pytree` and checks its top-level `keys`.

  Raises:
    FileNotFoundError: `path` does not exist.
    ValueError: naming `what` was expected, when the file holds other keys.
  """
  with open(path, "rb") as f:
    tree = flax.serialization.msgpack_restore(f.read())
  if not isinstance(tree, dict) or set(tree) != set(keys):
    found = sorted(tree) if isinstance(tree, dict) else type(tree).__name__
    raise ValueError(f"{path!r} is not {what} file (keys {found}).")
  return tree
