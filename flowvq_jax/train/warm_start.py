"""Warm starts: a new run's params taken from an earlier run (checkpoint or params export).

`train.init_from = PATH` names the workdir of an earlier run, or a params export of one
(`launch.export`). When the run starts fresh (its own workdir has no checkpoint yet), the trainer
replaces the freshly initialised arrays of the state entries `train.init_items` (default
`('params',)`) with the saved ones at the same tree paths. The optimizer state, the step counter
and the data stream start anew; with an EMA, the EMA starts at the loaded params. A run that
resumes from its own checkpoint ignores `init_from`.

Use it to train on after an export has crossed machines (an export has no optimizer state, so
the run cannot be resumed), to fine-tune on another dataset, or to start a variant of a model
from a trained one:

  python -m launch.train --config configs/vq_codebook.py:synthetic,memory=true \
      --workdir runs/s1_more --config.train.init_from=runs/vq_wide/s1_export

Arrays missing from the source keep their initialisation (for example the critic, `params/disc`,
which `launch/vq_wide.sh` leaves out of its export) and are logged; a shape that differs, or a
source that shares no array with the run, is a `ConfigError` naming the path.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from flax import traverse_util

from flowvq_jax import checkpoints
from flowvq_jax.core.config import ConfigError

ITEMS = ("params", "extra", "ema_params")


@dataclasses.dataclass
class Report:
  """What a warm start took: `loaded` / `kept` (fresh init) / `unused` (source only) paths."""

  source: str
  step: int
  loaded: list[str]
  kept: list[str]
  unused: list[str]

  def summary(self) -> str:
    def some(paths: list[str]) -> str:
      return ", ".join(paths[:4]) + (f", ... ({len(paths)})" if len(paths) > 4 else "")

    out = f"Initialised {len(self.loaded)} arrays from {self.source} (step {self.step})"
    if self.kept:
      out += f"; kept the fresh init of {len(self.kept)}: {some(self.kept)}"
    if self.unused:
      out += f"; {len(self.unused)} saved arrays have no place in this run: {some(self.unused)}"
    return out + "."


def checkpoint_dir(path: str) -> tuple[str, int]:
  """`(PATH/checkpoints, its latest step)`, or a ConfigError saying what is missing."""
  root = os.path.expanduser(str(path))
  directory = os.path.join(root, "checkpoints")
  if not os.path.isdir(root):
    raise ConfigError(f"train.init_from: no such directory {root}.")
  step = checkpoints.latest_step(directory)
  if step is None:
    raise ConfigError(
      f"train.init_from: {root} has no checkpoints/ with a saved step (give a training workdir "
      "or a params export)."
    )
  return directory, step


def check_items(items: Sequence[str]) -> tuple[str, ...]:
  """`train.init_items` as a tuple, or a ConfigError when it names something not in `ITEMS`."""
  items = tuple(str(i) for i in items)
  bad = [i for i in items if i not in ITEMS]
  if not items or bad:
    raise ConfigError(
      f"train.init_items: {list(items)} must name one or more of {', '.join(ITEMS)}."
    )
  return items


def _flat(tree: Any) -> dict[str, Any]:
  """`{'a/b': leaf}`; empty sub-dicts stay (as `traverse_util.empty_node`) for the round trip."""
  if not isinstance(tree, dict) or not tree:
    return {}
  return traverse_util.flatten_dict(tree, keep_empty_nodes=True, sep="/")


def _is_leaf(x: Any) -> bool:
  return x is not traverse_util.empty_node


def merge(
  target: dict[str, Any],
  saved: dict[str, Any],
  items: Sequence[str],
  source: str = "",
  step: int = 0,
) -> tuple[dict[str, Any], Report]:
  """`target` (a state dict, `state.as_dict`) with the leaves of `items` replaced by `saved`'s.

  Args:
    target: {item: nested dict of arrays}, the fresh state; leaves need `.shape` and `.dtype`.
    saved: {item: nested dict of numpy arrays} (`checkpoints.load_arrays`).
    items: which entries to take.

  Returns:
    `(new state dict, Report)`. New leaves are numpy arrays in the target's dtype; the others are
    `target`'s own objects.

  Raises:
    ConfigError: a shape mismatch, or no array in common.
  """
  out = dict(target)
  loaded, kept, unused = [], [], []
  for item in items:
    want, have = _flat(target.get(item)), _flat(saved.get(item))
    new = dict(want)
    for key, leaf in want.items():
      if not _is_leaf(leaf):
        continue
      path = f"{item}/{key}"
      if key not in have:
        kept.append(path)
        continue
      value = np.asarray(have[key])
      if tuple(value.shape) != tuple(leaf.shape):
        raise ConfigError(
          f"train.init_from: {path} is {tuple(value.shape)} in {source} but "
          f"{tuple(leaf.shape)} in this run (a different model size?)."
        )
      new[key] = value.astype(leaf.dtype)
      loaded.append(path)
    unused += [f"{item}/{key}" for key, v in have.items() if key not in want and _is_leaf(v)]
    if want:
      out[item] = traverse_util.unflatten_dict(new, sep="/")
  if not loaded:
    raise ConfigError(
      f"train.init_from: {source} shares no array of {list(items)} with this run (another "
      "task or model?)."
    )
  return out, Report(source, int(step), loaded, kept, unused)


def apply(state_dict: dict[str, Any], path: str, items: Sequence[str]) -> tuple[dict, Report]:
  """Loads `path`'s latest step and merges it into the (sharded) `state_dict`.

  Loaded leaves become global arrays with the fresh leaves' shardings (every process reads the
  same file, so this also holds on several hosts). With an EMA in the state and `params` among
  `items`, the EMA starts at the loaded params unless `ema_params` is loaded too.
  """
  items = check_items(items)
  directory, step = checkpoint_dir(path)
  saved = checkpoints.load_arrays(directory, step)
  if "params" in items and "ema_params" not in items and _flat(state_dict.get("ema_params")):
    saved = {**saved, "ema_params": saved.get("params", {})}
    items = items + ("ema_params",)
  merged, report = merge(state_dict, saved, items, source=str(path), step=step)

  def place(fresh, value):
    if value is fresh:
      return fresh
    return jax.make_array_from_callback(value.shape, fresh.sharding, lambda idx: value[idx])

  for item in items:
    fresh = _flat(state_dict.get(item))
    if fresh:
      new = _flat(merged[item])
      placed = {k: place(v, new[k]) if _is_leaf(v) else v for k, v in fresh.items()}
      merged[item] = traverse_util.unflatten_dict(placed, sep="/")
  return merged, report
