"""Reading trained runs: a training workdir or a params-only export, anywhere, without a trainer.

A *run* is a directory with `config.json` (the resolved training config) and `checkpoints/STEP/`,
either a full train state written by `flowvq_jax.train.checkpoint.Checkpointer` (orbax:
`state/`, `data/`, `meta/`) or a params-only export written by `flowvq_jax.train.export`
(`export.json` and `.npz` parts). Training also writes the normalisation statistics of its data
next to the config (`coeff_stats.json`, `STATS_FILE`), so loading a model never needs its
training dataset:

  config, arrays, step = load_run("runs/expflow", "flow")   # numpy arrays, latest step
  stats = read_stats("runs/expflow", config)                # CoeffStats of the training data

Readers need neither the task nor a mesh; inference, evaluation and the next stage use them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from flax import traverse_util

from flowvq_jax.data import coeffs as coeffs_lib

FORMAT = "flowvq_jax.params_export/1"
INDEX = "export.json"


def local_path(directory: str) -> epath.Path:
  """`directory` as orbax needs it: a local path made absolute (orbax refuses relative ones when
  it writes arrays), a URI such as `gs://bucket/run` left as it is."""
  directory = os.fspath(directory)
  return epath.Path(directory if "://" in directory else os.path.abspath(directory))


def is_export(step_dir: str) -> bool:
  """Whether `step_dir` (`.../checkpoints/STEP`) holds an export rather than a train state."""
  return os.path.exists(os.path.join(step_dir, INDEX))


def has_export(checkpoint_dir: str) -> bool:
  """Whether any step of `checkpoint_dir` (a workdir's `checkpoints/`) is an export."""
  if not os.path.isdir(checkpoint_dir):
    return False
  return any(
    is_export(os.path.join(checkpoint_dir, name))
    for name in os.listdir(checkpoint_dir)
    if name.isdigit()
  )


def sha256_of(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def read_export(step_dir: str) -> dict[str, Any]:
  """The arrays of an export step directory as nested dicts of numpy arrays.

  Raises:
    FileNotFoundError: the index or a part is missing.
    ValueError: another format, or a part whose sha256 differs (a truncated or mixed-up copy).
  """
  path = os.path.join(step_dir, INDEX)
  with open(path) as f:
    index = json.load(f)
  if index.get("format") != FORMAT:
    raise ValueError(f"{path}: format {index.get('format')!r}, expected {FORMAT!r}.")
  parts = []
  for part in index["parts"]:
    file = os.path.join(step_dir, part["file"])
    if not os.path.exists(file):
      raise FileNotFoundError(f"Export part {file} is missing.")
    if sha256_of(file) != part["sha256"]:
      raise ValueError(f"Export part {file} is damaged: its sha256 differs from {path}'s.")
    with np.load(file) as z:
      parts.append({k: z[k] for k in z.files})
  return traverse_util.unflatten_dict(
    {tuple(leaf["path"]): parts[leaf["part"]][str(i)] for i, leaf in enumerate(index["leaves"])}
  )


class _DropMissingMetadataWarning(logging.Filter):
  """Orbax warns that a step's item folder has no step metadata file; it never has one."""

  def filter(self, record: logging.LogRecord) -> bool:
    return "Metadata file does not exist" not in record.getMessage()


def state_metadata(path: epath.Path):
  """Tree of saved array metadata (shape, dtype) of a checkpoint's `state` item."""
  absl_log = logging.getLogger("absl")
  drop = _DropMissingMetadataWarning()
  absl_log.addFilter(drop)
  try:
    tree = ocp.PyTreeCheckpointer().metadata(path)
  finally:
    absl_log.removeFilter(drop)
  tree = getattr(tree, "item_metadata", tree)
  return getattr(tree, "tree", tree)


def latest_step(directory: str) -> int | None:
  """The newest step saved in `directory` (a run's `checkpoints/`), None when there is none."""
  root = epath.Path(directory)
  steps = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.exists() else []
  return steps[-1] if steps else None


def read_config(workdir: str, task: str, launch_hint: str) -> ml_collections.ConfigDict:
  """The resolved config (`config.json`) of a run of `task`.

  Raises:
    FileNotFoundError: no such workdir, or no config.json (`launch_hint` says how one is made).
    ValueError: the workdir trained another task.
  """
  if not os.path.isdir(workdir):
    raise FileNotFoundError(f"Workdir {workdir} does not exist.")
  cfg_path = os.path.join(workdir, "config.json")
  if not os.path.exists(cfg_path):
    raise FileNotFoundError(
      f"{workdir} has no config.json: not a training workdir of `{launch_hint}`."
    )
  with open(cfg_path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if str(config.get("task", "")).rsplit(".", 1)[-1] != task:
    raise ValueError(f"{workdir} trained task {config.get('task')!r}, not {task}.")
  return config


def load_run(workdir: str, task: str, launch_hint: str, step: int | None = None):
  """`(config, arrays, step)` of a finished or running training workdir of `task`.

  `config` is the run's resolved config (`config.json`), `arrays` its checkpoint at `step`
  (default: the latest) as numpy arrays (see `load_arrays`).

  Raises:
    FileNotFoundError: no such workdir, no config.json (`launch_hint` says how one is made),
      or no checkpoint.
    ValueError: the workdir trained another task.
  """
  config = read_config(workdir, task, launch_hint)
  ckpt_dir = os.path.join(workdir, "checkpoints")
  step = latest_step(ckpt_dir) if step is None else step
  if step is None:
    raise FileNotFoundError(f"No checkpoints in {ckpt_dir} (train {workdir} first).")
  return config, load_arrays(ckpt_dir, step), int(step)


def load_arrays(directory: str, step: int | None = None) -> dict[str, Any]:
  """The saved train state of `directory` (a run's `checkpoints/`) as numpy arrays.

  Needs neither the task nor a mesh: use it to read trained params anywhere, e.g.
  `load_arrays(f'{workdir}/checkpoints')['params']`. `step` defaults to the latest. A step
  written by `flowvq_jax.train.export` yields only the exported entries (`params`, `extra`, ...).
  """
  root = local_path(directory)
  if step is None:
    step = latest_step(directory)
    if step is None:
      raise FileNotFoundError(f"No checkpoints in {directory}.")
  if is_export(str(root / str(step))):
    return read_export(str(root / str(step)))
  path = root / str(step) / "state"
  if not path.exists():
    raise FileNotFoundError(f"No checkpoint state at {path}.")
  ckptr = ocp.PyTreeCheckpointer()
  tree = state_metadata(path)
  restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return ckptr.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


STATS_FILE = "coeff_stats.json"


def stats_path(workdir: str) -> str:
  return os.path.join(workdir, STATS_FILE)


def write_stats(workdir: str, stats: coeffs_lib.CoeffStats) -> str:
  """Writes `workdir/coeff_stats.json` atomically (parallel readers never see half a file)."""
  os.makedirs(workdir, exist_ok=True)
  path = stats_path(workdir)
  tmp = f"{path}.tmp{os.getpid()}"
  stats.save_json(tmp)
  os.replace(tmp, path)
  return path


def read_stats(workdir: str, config: ml_collections.ConfigDict) -> coeffs_lib.CoeffStats:
  """The `CoeffStats` a run normalised its coefficients with.

  Identity statistics when the run trained on unnormalised coefficients (`data.normalize`
  false); else `workdir/coeff_stats.json`, written by training (and copied by exports).

  Raises:
    FileNotFoundError: the file is missing (a run trained before training wrote it); the
      message gives the command that writes it where the training data is.
  """
  if not config.data.get("normalize", True):
    return coeffs_lib.CoeffStats.identity()
  path = stats_path(workdir)
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"{workdir} has no {STATS_FILE}, the normalisation statistics of its training data "
      f"(runs trained before training wrote them lack it): run `python -m launch.export "
      f"--workdir {workdir} --write_stats` once on a machine that has that data."
    )
  return coeffs_lib.CoeffStats.load_json(path)


def params_of(config: ml_collections.ConfigDict, arrays: dict[str, Any]) -> Any:
  """The params a run is used with: its EMA when it evaluates with one (`eval.use_ema`)."""
  ema = arrays.get("ema_params")
  if config.get("eval", {}).get("use_ema", False) and ema:
    return ema
  return arrays["params"]
