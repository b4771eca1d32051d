"""Typed parsing of the single string argument of `get_config(arg)`.

Every config file under `configs/` has a `get_config(arg=None)` that reads its
argument with `parse_arg`, in the spirit of big_vision:

  configs/expflow.py:tiny                  -> variant "tiny"
  configs/expflow.py:synthetic,res=64      -> variant "synthetic", res=64

The first comma-separated token without `=` is the variant; the rest are
`key=value` pairs whose types come from the defaults. Unknown variants and
unknown keys are errors that list what is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ml_collections


class ConfigError(ValueError):
  """A config argument, variant or override that cannot be honoured."""


def _cast(key: str, value: str, default: Any) -> Any:
  if isinstance(default, bool):
    low = value.lower()
    if low in ("1", "true", "yes", "on"):
      return True
    if low in ("0", "false", "no", "off"):
      return False
    raise ConfigError(f"Config argument {key}={value!r} is not a boolean.")
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
