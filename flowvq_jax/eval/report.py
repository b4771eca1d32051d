"""Evaluation reports: results as JSON and as a markdown table.

Results are `{row: {metric: value}}` (rows are methods / checkpoints / settings) or a flat
`{metric: value}` (one row). Values are numbers, `NotComputed(reason)`, or other JSON-able
values (strings, ints). In JSON a NotComputed is `{"not_computed": reason}` and non-finite floats
are the strings "inf", "-inf", "nan" (strict JSON has no such numbers); `load_json` undoes both.
In the markdown table a NotComputed cell reads `n/a (reason)`.

    results = {"ours": {"ssim": 0.71, "fid": metrics.fid(real_images, fake_images)}}
    write_report(results, "eval/report")  # eval/report.json and eval/report.md
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from flowvq_jax.eval.metrics import NotComputed

# Direction of improvement, shown in table headers.
HIGHER_IS_BETTER = {
  "psnr": True,
  "ssim": True,
  "cpbd": True,
  "mouth_sharpness": True,
  "emotion_accuracy": True,
  "pearson_r": True,
  "lse_c": True,
  "fid": False,
  "lpips": False,
  "m_lmd": False,
  "f_lmd": False,
  "lse_d": False,
}


def meets(target: tuple[str, Any], value: Any) -> bool:
  """Whether `value` meets a target `(op, ref)`: op '>=', '<=' or '==' with a number, or 'in'
  with a `(low, high)` range; a missing or non-finite value never does."""
  op, ref = target
  if value is None or not np.isfinite(float(value)):
    return False
  v = float(value)
  if op == "in":
    return ref[0] <= v <= ref[1]
  return {">=": v >= ref, "<=": v <= ref, "==": v == ref}[op]


def _rows(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
  if not isinstance(results, Mapping) or not results:
    raise ValueError(f"results must be a non-empty mapping, got {type(results).__name__}.")
  if all(isinstance(v, Mapping) for v in results.values()):
    return {str(k): dict(v) for k, v in results.items()}
  if any(isinstance(v, Mapping) for v in results.values()):
    raise ValueError("results must be {metric: value} or {row: {metric: value}}, not a mix.")
  return {"": dict(results)}


def _scalar(v: Any) -> Any:
  if isinstance(v, np.ndarray | np.generic):
    v = v.item() if np.ndim(v) == 0 else v.tolist()
  return v


def to_jsonable(value: Any) -> Any:
  """NotComputed -> {'not_computed': reason}; numpy -> python; non-finite floats -> strings."""
  value = _scalar(value)
  if isinstance(value, NotComputed):
    return value.to_json()
  if isinstance(value, Mapping):
    return {str(k): to_jsonable(v) for k, v in value.items()}
  if isinstance(value, list | tuple):
    return [to_jsonable(v) for v in value]
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  if value is None or isinstance(value, bool | int | float | str):
    return value
  raise TypeError(f"Cannot write {type(value).__name__} {value!r} to a report.")


def from_jsonable(value: Any) -> Any:
  """Inverse of `to_jsonable` (lists stay lists)."""
  if isinstance(value, Mapping):
    if set(value) == {"not_computed"}:
      return NotComputed(value["not_computed"])
    return {k: from_jsonable(v) for k, v in value.items()}
  if isinstance(value, list):
    return [from_jsonable(v) for v in value]
  if value in ("inf", "-inf", "nan"):
    return float(value)
  return value


def format_value(value: Any, digits: int = 4) -> str:
  """One table cell: numbers with `digits` significant digits, NotComputed as `n/a (reason)`."""
  value = _scalar(value)
  if isinstance(value, NotComputed):
    return "n/a (" + value.reason.replace("|", "\\|") + ")"
  if isinstance(value, bool) or value is None:
    return str(value)
  if isinstance(value, int):
    return str(value)
  if isinstance(value, float):
    return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
  if isinstance(value, list):
    return "[" + ", ".join(format_value(v, digits) for v in value) + "]"
  return str(value).replace("|", "\\|")


def to_markdown(results: Mapping[str, Any], digits: int = 4, row_label: str = "method") -> str:
  """A markdown table: one row per result row, one column per metric (in first-seen order).

  Headers carry an arrow for metrics in `HIGHER_IS_BETTER`; missing cells are empty.
  """
  rows = _rows(results)
  cols: list[str] = []
  for r in rows.values():
    cols += [c for c in r if c not in cols]

  def head(c: str) -> str:
    arrow = {True: " ↑", False: " ↓"}.get(HIGHER_IS_BETTER.get(c.lower()), "")
    return c + arrow

  lines = [
    "| " + " | ".join([row_label] + [head(c) for c in cols]) + " |",
    "|" + "---|" * (len(cols) + 1),
  ]
  for name, r in rows.items():
    cells = [format_value(r[c], digits) if c in r else "" for c in cols]
    lines.append("| " + " | ".join([name] + cells) + " |")
  return "\n".join(lines) + "\n"


def to_json(results: Mapping[str, Any]) -> str:
  """The results as an indented JSON string (see `to_jsonable`)."""
  _rows(results)
  return json.dumps(to_jsonable(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_report(results: Mapping[str, Any], path_prefix: str, title: str | None = None) -> dict:
  """Writes `<path_prefix>.json` and `<path_prefix>.md`; returns {'json': path, 'md': path}."""
  js, md = to_json(results), to_markdown(results)
  if title:
    md = f"# {title}\n\n{md}"
  d = os.path.dirname(path_prefix)
  if d:
    os.makedirs(d, exist_ok=True)
  paths = {"json": f"{path_prefix}.json", "md": f"{path_prefix}.md"}
  with open(paths["json"], "w", encoding="utf-8") as f:
    f.write(js)
  with open(paths["md"], "w", encoding="utf-8") as f:
    f.write(md)
  return paths


def load_json(path: str) -> dict:
  """Reads a report JSON back, with NotComputed and non-finite floats restored."""
  with open(path, encoding="utf-8") as f:
    return from_jsonable(json.load(f))
