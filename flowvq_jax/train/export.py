"""Params-only exports of a training workdir, in parts of bounded size.

A full checkpoint holds the optimizer moments and (for the VQ stages) the discriminator: the
128 px stage-1 run's is about 151 MB, of which its autoencoder params are 53 MB. An export keeps
only the arrays that inference and the next stage read (`params`, `extra`, any EMA; minus
any `--exclude` prefixes), as a workdir that the readers of trained runs accept unchanged, since
they go through `checkpoints.load_arrays` / `load_run` (tested: `stage1=EXPORT`,
`launch.evaluate --stage vq --workdir EXPORT` and `launch.generate` on exported stages):

  EXPORT/config.json                                 the run's resolved config, copied
  EXPORT/coeff_stats.json                            its normalisation statistics, copied
  EXPORT/checkpoints/STEP/export.json                format, step, source, per-part sha256
  EXPORT/checkpoints/STEP/arrays-00000-of-0000N.npz  the arrays, `part_mb` MB per file at most

Parts are plain `.npz` files (keys: index of the leaf in `export.json`'s `leaves`), so a copy
of at most `part_mb` MB per file can move a run between machines that limit file sizes. A leaf
bigger than `part_mb` gets a part of its own. Loading checks every part's sha256. A trainer never
resumes from an export (it has no optimizer state): `trainer.train` refuses such a workdir;
`train.init_from` starts a new run from its params (`flowvq_jax/train/warm_start.py`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import ml_collections
import numpy as np
from flax import traverse_util

from flowvq_jax import checkpoints
from flowvq_jax.checkpoints import FORMAT, INDEX
from flowvq_jax.train import tasks, trainer

# What inference and the next stage read; `ema_params` is empty unless the run kept an EMA.
DEFAULT_ITEMS = ("params", "extra", "ema_params")


def select(
  arrays: dict[str, Any], items: Sequence[str] | None = None, exclude: Sequence[str] = ()
) -> list[tuple[tuple[str, ...], np.ndarray]]:
  """The leaves of a loaded train state kept by an export, as `[(path, array)]`.

  Args:
    arrays: `checkpoints.load_arrays(...)` of a run (top level: params, opt_state, extra, ...).
    items: top-level entries to keep; each must exist. Default: those of `DEFAULT_ITEMS` the
      checkpoint has.
    exclude: '/'-joined path prefixes to drop, e.g. 'params/disc'.

  Raises:
    ValueError: an unknown item, or an exclude prefix that matches nothing.
  """
  if items is None:
    items = [k for k in DEFAULT_ITEMS if k in arrays]
  missing = [k for k in items if k not in arrays]
  if missing:
    raise ValueError(f"The checkpoint has no {missing}; it holds {sorted(arrays)}.")
  drops = [tuple(p.strip("/").split("/")) for p in exclude if p.strip("/")]
  kept, used = [], set()
  flat = traverse_util.flatten_dict({k: arrays[k] for k in items})  # {path tuple: leaf}
  for path, leaf in sorted(flat.items(), key=lambda kv: tuple(map(str, kv[0]))):
    path = tuple(map(str, path))
    hit = [d for d in drops if path[: len(d)] == d]
    used.update(hit)
    if hit or leaf is None:
      continue
    kept.append((path, np.asarray(leaf)))
  unused = ["/".join(d) for d in drops if d not in used]
  if unused:
    raise ValueError(f"--exclude {unused} matches no array of the exported items {list(items)}.")
  if not kept:
    raise ValueError("Nothing left to export.")
  return kept


def write(
  leaves: Sequence[tuple[tuple[str, ...], np.ndarray]],
  step_dir: str,
  *,
  step: int,
  part_mb: float = 15.0,
  source: str = "",
) -> dict[str, Any]:
  """Writes `leaves` into `step_dir` as parts of at most `part_mb` MB; returns the index."""
  if part_mb <= 0:
    raise ValueError(f"part_mb={part_mb} must be positive.")
  limit = int(part_mb * 1e6)
  groups: list[list[int]] = [[]]
  size = 0
  for i, (_, a) in enumerate(leaves):
    if groups[-1] and size + a.nbytes > limit:
      groups.append([])
      size = 0
    groups[-1].append(i)
    size += a.nbytes
  os.makedirs(step_dir, exist_ok=True)
  part_of = {i: j for j, group in enumerate(groups) for i in group}
  parts = []
  for j, group in enumerate(groups):
    name = f"arrays-{j:05d}-of-{len(groups):05d}.npz"
    path = os.path.join(step_dir, name)
    np.savez(path, **{str(i): leaves[i][1] for i in group})
    digest = checkpoints.sha256_of(path)
    parts.append({"file": name, "sha256": digest, "bytes": os.path.getsize(path)})
  index = {
    "format": FORMAT,
    "step": int(step),
    "source": source,
    "leaves": [
      {"path": list(path), "part": part_of[i], "shape": list(a.shape), "dtype": str(a.dtype)}
      for i, (path, a) in enumerate(leaves)
    ],
    "parts": parts,
  }
  with open(os.path.join(step_dir, INDEX), "w") as f:
    json.dump(index, f, indent=1)
  return index


def export_run(
  workdir: str,
  out: str,
  *,
  step: int | None = None,
  items: Sequence[str] | None = None,
  exclude: Sequence[str] = (),
  part_mb: float = 15.0,
) -> dict[str, Any]:
  """Exports checkpoint `step` (default: the latest) of training workdir `workdir` to `out`.

  Returns the index (see `write`) plus `out`. `out` must not exist yet or be empty.

  Raises:
    FileNotFoundError: no such workdir, config.json or checkpoint.
    FileExistsError: `out` holds files already (nothing is overwritten).
    ValueError: bad `items` / `exclude`.
  """
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"Workdir {workdir} does not exist.")
  config = os.path.join(workdir, "config.json")
  if not os.path.exists(config):
    raise FileNotFoundError(f"{workdir} has no config.json: not a training workdir.")
  if os.path.exists(out) and os.listdir(out):
    raise FileExistsError(f"{out} is not empty; export into a new directory.")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  step = checkpoints.latest_step(ckpt_dir) if step is None else int(step)
  if step is None:
    raise FileNotFoundError(f"No checkpoints in {ckpt_dir} (train {workdir} first).")
  leaves = select(checkpoints.load_arrays(ckpt_dir, step), items, exclude)
  os.makedirs(out, exist_ok=True)
  shutil.copyfile(config, os.path.join(out, "config.json"))
  if os.path.exists(checkpoints.stats_path(workdir)):
    shutil.copyfile(checkpoints.stats_path(workdir), checkpoints.stats_path(out))
  index = write(
    leaves,
    os.path.join(out, "checkpoints", str(step)),
    step=step,
    part_mb=part_mb,
    source=os.path.abspath(workdir),
  )
  return dict(index, out=out)


def write_stats(workdir: str) -> str:
  """(Re)writes `workdir/coeff_stats.json` from the run's training data: for runs trained before
  training wrote it. Needs that data on this machine; returns the path.

  Raises:
    FileNotFoundError: no such workdir or config.json.
    ValueError: the run's task normalises with no statistics, or its data is not here.
  """
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"{workdir} has no config.json: not a training workdir.")
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if not trainer.write_statistics(tasks.load(config.task), config, workdir):
    raise ValueError(f"{workdir}: task {config.task!r} normalises with no statistics.")
  return checkpoints.stats_path(workdir)
