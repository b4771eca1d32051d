"""Configs: typed parsing of `get_config(arg)`, loading `path.py:arg`, `--config.a.b=value`.

Every config file under `configs/` has a `get_config(arg=None)` that reads its argument with
`parse_arg`, in the spirit of big_vision:

  configs/expflow.py:tiny                  -> variant "tiny"
  configs/expflow.py:synthetic,res=64      -> variant "synthetic", res=64

The first comma-separated token without `=` is the variant; the rest are `key=value` pairs whose
types come from the defaults. `load_config('configs/toy.py:tiny')` imports the file and calls its
`get_config('tiny')`; `apply_overrides(config, {'train.steps': '100'})` sets fields with the type
of the value already there (bool/int/float/str; tuples, lists, dicts and None via Python
literals). Every problem (missing file, unknown variant or key, unknown field, wrong type) raises
`ConfigError` with a one-line message naming it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import ml_collections


class ConfigError(ValueError):
  """A config argument, variant or override that cannot be honoured."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(text: str, what: str) -> bool:
  """`'true'/'yes'/'on'/'1'` -> True, `'false'/'no'/'off'/'0'` -> False; else ConfigError naming
  `what` (the argument as the user wrote it)."""
  low = str(text).strip().lower()
  if low in _TRUE:
    return True
  if low in _FALSE:
    return False
  raise ConfigError(f"{what} is not a boolean.")


def _cast(key: str, value: str, default: Any) -> Any:
  if isinstance(default, bool):
    return parse_bool(value, f"Config argument {key}={value!r}")
  if default is None or isinstance(default, str):
    return value
  try:
    return type(default)(value)
  except (TypeError, ValueError) as e:
    raise ConfigError(f"Config argument {key}={value!r} is not a {type(default).__name__}.") from e


def parse_arg(
  arg: str | None, *, variants: Sequence[str], default_variant: str | None = None, **defaults
) -> ml_collections.ConfigDict:
  """Parses `"variant,key=value,..."` into a ConfigDict with `variant` and typed keys.

  Args:
    arg: the string after `:` in `--config path.py:arg` (None or "" for defaults).
    variants: accepted variant names.
    default_variant: the variant when `arg` names none (first of `variants` if None).
    **defaults: accepted keys and their defaults; each value's type is the key's type.

  Returns:
    ConfigDict with field `variant` and every key of `defaults`.

  Raises:
    ConfigError: for an unknown variant, an unknown key, or a value of the wrong type.
  """
  out = {"variant": default_variant or variants[0], **defaults}
  tokens = [t.strip() for t in (arg or "").split(",") if t.strip()]
  seen_variant = False
  for tok in tokens:
    if "=" in tok:
      key, value = (s.strip() for s in tok.split("=", 1))
      if key not in defaults:
        accepted = ", ".join(sorted(defaults)) or "none"
        raise ConfigError(f"Unknown config argument {key!r}; accepted keys: {accepted}.")
      out[key] = _cast(key, value, defaults[key])
    else:
      if seen_variant:
        raise ConfigError(f"Config argument {arg!r} names more than one variant.")
      if tok not in variants:
        raise ConfigError(f"Unknown config variant {tok!r}; choose one of: {', '.join(variants)}.")
      out["variant"] = tok
      seen_variant = True
  return ml_collections.ConfigDict(out)


def load_module(path: str) -> ModuleType:
  """Imports a config module from a file path (`configs/toy.py`) or module name (`configs.toy`).

  A file inside a package (a folder with `__init__.py`, such as `configs/`) is imported as that
  package's module (`configs.toy`), with the folder above the package made importable, so config
  files can share blocks (`from configs import common`).
  """
  if path.endswith(".py") or os.sep in path:
    if not os.path.exists(path):
      raise ConfigError(f"Config file {path!r} does not exist.")
    path = os.path.abspath(path)
    root, parts = os.path.dirname(path), [os.path.splitext(os.path.basename(path))[0]]
    while os.path.exists(os.path.join(root, "__init__.py")):
      root, pkg = os.path.split(root)
      parts.insert(0, pkg)
    if len(parts) > 1:
      if root not in sys.path:
        sys.path.append(root)
      module = importlib.import_module(".".join(parts))
      if os.path.abspath(module.__file__) != path:
        raise ConfigError(f"Config {path!r} is shadowed by {module.__file__!r} on sys.path.")
      return module
    spec = importlib.util.spec_from_file_location("_config_" + parts[0], path)
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
    return parse_bool(text, f"--config.{key}={text!r}")
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
        with node.ignore_type() if current is None else contextlib.nullcontext():
          node[parts[-1]] = value
      else:
        node[parts[-1]] = value
    except TypeError as e:
      raise ConfigError(f"--config.{key}={raw!r}: {e}") from None


def to_json(config: ml_collections.ConfigDict) -> str:
  """The resolved config as JSON (non-JSON values as their repr)."""
  return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=repr)
