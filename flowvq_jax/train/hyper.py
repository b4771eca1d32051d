"""Sweep definitions in the style of big_vision's `get_hyper(hyper)`.

A config module may define `get_sweep(hyper)` returning a list of override dicts, built with:

  hyper.sweep('optimizer.lr', [1e-3, 3e-3])       -> [{'optimizer.lr': 1e-3}, {...: 3e-3}]
  hyper.fixed('train.steps', 500)                  -> [{'train.steps': 500}]
  hyper.product([a, b, ...])                       -> every combination (dicts merged)
  hyper.zipit([a, b, ...])                         -> element-wise merge (same lengths)
  hyper.chainit([a, b, ...])                       -> concatenation
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

Sweep = list[dict[str, Any]]


def sweep(key: str, values: Iterable[Any]) -> Sweep:
  return [{key: v} for v in values]


def fixed(key: str, value: Any) -> Sweep:
  return [{key: value}]


def product(sweeps: Sequence[Sweep]) -> Sweep:
  out = []
  for combo in itertools.product(*sweeps):
    merged: dict[str, Any] = {}
    for d in combo:
      merged.update(d)
    out.append(merged)
  return out


def zipit(sweeps: Sequence[Sweep]) -> Sweep:
  lengths = {len(s) for s in sweeps}
  if len(lengths) > 1:
    raise ValueError(f"hyper.zipit needs sweeps of equal length; got lengths {sorted(lengths)}.")
  return [{k: v for d in ds for k, v in d.items()} for ds in zip(*sweeps)]


def chainit(sweeps: Sequence[Sweep]) -> Sweep:
  return [d for s in sweeps for d in s]


def point_name(point: dict[str, Any]) -> str:
  """A short directory-safe name for one sweep point: `lr=0.001,hidden=64`."""
  if not point:
    return "base"
  parts = []
  for k, v in point.items():
    s = str(v).replace("/", "_").replace(" ", "")
    parts.append(f"{k.split('.')[-1]}={s}")
  return ",".join(parts)
