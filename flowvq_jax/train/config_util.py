"""Loading `path.py:arg` configs and applying `--config.a.b=value` overrides.

`load_config('configs/toy.py:tiny')` imports the file (or module `configs.toy`) and calls its
`get_config('tiny')`. `apply_overrides(config, {'train.steps': '100'})` sets fields with the type
of the value already there (bool/int/float/str; tuples, lists, dicts and None via Python
literals). Every problem (missing file, unknown variant, unknown field, wrong type) raises
`ConfigError` with a one-line message naming it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import ml_collections

from flowvq_jax.configlib import ConfigError


def load_module(path: str) -> ModuleType:
  """Imports a config module from a file path (`configs/toy.py`) or module name (`configs.toy`)."""
  if path.endswith(".py") or os.sep in path:
    if not os.path.exists(path):
      raise ConfigError(f"Config file {path!r} does not exist.")
    name = "_config_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
  try:
    return importlib.import_module(path)
  except ModuleNotFoundError as e:
    raise ConfigError(f"Config module {path!r} not found.") from e


def split_spec(spec: str) -> tuple[str, str | None]:
  path, _, arg = spec.partition(":")
  return path, (arg or None)


def load_config(spec: str) -> ml_collections.ConfigDict:
  """`'configs/toy.py:tiny,key=value'` -> the module's `get_config('tiny,key=value')`."""
  path, arg = split_spec(spec)
  module = load_module(path)
  if not hasattr(module, "get_config"):
    raise ConfigError(f"Config {path!r} has no get_config(arg) function.")
  return module.get_config(arg)


def _parse_value(key: str, text: str, current: Any) -> Any:
  if isinstance(current, bool):
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
      return True
    if low in ("0", "false", "no", "off"):
      return False
    raise ConfigError(f"--config.{key}={text!r} is not a boolean.")
  if isinstance(current, int):
    try:
      return int(text)
    except ValueError:
      raise ConfigError(f"--config.{key}={text!r} is not an int.") from None
  if isinstance(current, float):
    try:
      return float(text)
    except ValueError:
      raise ConfigError(f"--config.{key}={text!r} is not a float.") from None
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    if current is None:
      return text
    raise ConfigError(
      f"--config.{key}={text!r} is not a Python literal of type {type(current).__name__}."
    ) from None
  if isinstance(current, (tuple, list)):
    if not isinstance(value, (tuple, list)):
      raise ConfigError(f"--config.{key}={text!r} is not a sequence.")
    return type(current)(value)
  if isinstance(current, (Mapping, ml_collections.ConfigDict)) and not isinstance(value, Mapping):
    raise ConfigError(f"--config.{key}={text!r} is not a dict.")
  return value


def apply_overrides(config: ml_collections.ConfigDict, overrides: Mapping[str, Any]):
  """Sets `config[a][b] = value` for every `'a.b': value` (strings are parsed, see module doc)."""
  for key, raw in overrides.items():
    parts = key.split(".")
    node = config
    for i, part in enumerate(parts):
      fields = list(node.keys()) if hasattr(node, "keys") else []
      if part not in fields:
        where = "config" + "".join("." + p for p in parts[:i])
        raise ConfigError(
          f"Unknown config override --config.{key}: {where} has no field {part!r} "
          f"(fields: {', '.join(sorted(fields)) or 'none'})."
        )
      if i < len(parts) - 1:
        node = node[part]
    current = node[parts[-1]]
    if isinstance(current, ml_collections.ConfigDict):
      current = current.to_dict()
    value = _parse_value(key, raw, current) if isinstance(raw, str) else raw
    try:
      if isinstance(node, ml_collections.ConfigDict):
        with node.ignore_type() if current is None else _nullcontext():
          node[parts[-1]] = value
      else:
        node[parts[-1]] = value
    except TypeError as e:
      raise ConfigError(f"--config.{key}={raw!r}: {e}") from None


class _nullcontext:
  def __enter__(self):
    return self

  def __exit__(self, *a):
    return False


def to_json(config: ml_collections.ConfigDict) -> str:
  """The resolved config as JSON (non-JSON values as their repr)."""
  return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=repr)
