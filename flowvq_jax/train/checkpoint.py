"""Orbax checkpoints of the train state and the per-process data-iterator state.

Layout: `<workdir>/checkpoints/<step>/{state,data,meta}` (a params-only export of a run,
`flowvq_jax.train.export`, has `<step>/export.json` and `.npz` parts instead; readers here accept
both).
  state: the `TrainState` as a pytree (params, optimizer, EMA, step, rng, counters), saved
    asynchronously; restored onto any mesh by giving target shardings (a checkpoint written on
    8 devices restores on 1 and back).
  data: one JSON file per process, `process_<i>-of-<n>.json`, the grain iterator state of that
    process, captured when `save` is called.
  meta: JSON with the step and the metrics attached to the checkpoint (if any).
Keeps the last `keep` checkpoints plus the best one by `best_metric` (`best_mode` min/max).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath

from flowvq_jax.train import export

log = logging.getLogger(__name__)


class DataStateHandler(ocp.CheckpointHandler):
  """Saves a JSON-able dict per process (the data iterator state of that process)."""

  def save(self, directory: epath.Path, args: DataStateSave):
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    (epath.Path(directory) / name).write_text(json.dumps(args.state))

  def restore(self, directory: epath.Path, args: DataStateRestore | None = None):
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    path = epath.Path(directory) / name
    if not path.exists():
      return None
    return json.loads(path.read_text())

  def metadata(self, directory: epath.Path):
    return None

  def finalize(self, directory: epath.Path):
    pass

  def close(self):
    pass


@ocp.args.register_with_handler(DataStateHandler, for_save=True)
@dataclasses.dataclass
class DataStateSave(ocp.args.CheckpointArgs):
  state: Any


@ocp.args.register_with_handler(DataStateHandler, for_restore=True)
@dataclasses.dataclass
class DataStateRestore(ocp.args.CheckpointArgs):
  pass


def _path(directory: str) -> epath.Path:
  """`directory` as orbax needs it: a local path made absolute (orbax refuses relative ones when
  it writes arrays), a URI such as `gs://bucket/run` left as it is."""
  directory = os.fspath(directory)
  return epath.Path(directory if "://" in directory else os.path.abspath(directory))


class Checkpointer:
  """Saves/restores `(state pytree, data state, metrics)` under `directory`.

  Args:
    directory: checkpoint root (created if missing; a relative path is taken from the current
      directory).
    keep: number of most recent checkpoints kept.
    best_metric: metric name (e.g. 'val/loss') whose best checkpoint is kept too, or None.
    best_mode: 'min' or 'max'.
    async_save: write the state in a background thread.
  """

  def __init__(
    self,
    directory: str,
    *,
    keep: int = 3,
    best_metric: str | None = None,
    best_mode: str = "min",
    async_save: bool = True,
  ):
    if best_mode not in ("min", "max"):
      raise ValueError(f"train.best_mode={best_mode!r}; choose 'min' or 'max'.")
    policies = [ocp.checkpoint_managers.LatestN(n=max(int(keep), 1))]
    if best_metric:
      policies.append(
        ocp.checkpoint_managers.BestN(
          get_metric_fn=lambda m: m[best_metric],
          reverse=best_mode == "min",
          n=1,
          keep_checkpoints_without_metrics=False,
        )
      )
    options = ocp.CheckpointManagerOptions(
      preservation_policy=ocp.checkpoint_managers.AnyPreservationPolicy(policies),
      enable_async_checkpointing=async_save,
      create=True,
    )
    self.best_metric = best_metric
    self.best_mode = best_mode
    self.directory = _path(directory)
    self._mngr = ocp.CheckpointManager(
      self.directory, item_names=("state", "data", "meta"), options=options
    )

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._mngr.all_steps())

  def best_step(self) -> int | None:
    """The kept step with the best `best_metric` (None without metric or checkpoints)."""
    if not self.best_metric:
      return None
    best = None
    for step in self.all_steps():
      meta = self._mngr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
      value = (meta["meta"] or {}).get("metrics", {}).get(self.best_metric)
      if value is None:
        continue
      better = best is None or (value < best[1] if self.best_mode == "min" else value > best[1])
      if better:
        best = (step, value)
    return None if best is None else best[0]

  def save(
    self,
    step: int,
    state: Any,
    data_state: Mapping[str, Any] | None,
    metrics: Mapping[str, float] | None = None,
  ) -> bool:
    """Starts saving `state` (a pytree of jax arrays) at `step`; returns whether it saved."""
    metrics = {k: float(v) for k, v in (metrics or {}).items()}
    if self.best_metric and self.best_metric not in metrics:
      metrics_arg = None
    else:
      metrics_arg = metrics or None
    return self._mngr.save(
      int(step),
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=DataStateSave(dict(data_state or {})),
        meta=ocp.args.JsonSave({"step": int(step), "metrics": metrics}),
      ),
      metrics=metrics_arg,
      force=True,
    )

  def restore(self, step: int, target: Any) -> tuple[Any, dict | None, dict]:
    """Restores checkpoint `step` into the structure/shardings of `target`.

    Args:
      step: the checkpoint step.
      target: pytree of `jax.ShapeDtypeStruct` with `.sharding` (the mesh of this run).

    Returns:
      `(state, data_state or None, meta)`. `data_state` is None when the checkpoint has no
      file for this process layout (e.g. it was written with a different process count).
    """
    self._check_fits(step, target)
    out = self._mngr.restore(
      int(step),
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(target),
        data=DataStateRestore(),
        meta=ocp.args.JsonRestore(),
      ),
    )
    return out["state"], out["data"], dict(out["meta"] or {})

  def _check_fits(self, step: int, target: Any):
    """Raises ValueError naming the first leaf whose saved shape differs from `target`'s."""
    tree = _state_metadata(self.directory / str(int(step)) / "state")
    saved = {_key(p): tuple(getattr(m, "shape", ())) for p, m in _flat(tree)}
    wanted = {_key(p): tuple(getattr(t, "shape", ())) for p, t in _flat(target)}
    for name in sorted(set(saved) | set(wanted)):
      if saved.get(name) != wanted.get(name):
        raise ValueError(
          f"{name}: saved {saved.get(name, 'absent')}, this run needs {wanted.get(name, 'absent')}"
        )

  def wait(self):
    self._mngr.wait_until_finished()

  def close(self):
    self._mngr.wait_until_finished()
    self._mngr.close()


class _DropMissingMetadataWarning(logging.Filter):
  """Orbax warns that a step's item folder has no step metadata file; it never has one."""

  def filter(self, record: logging.LogRecord) -> bool:
    return "Metadata file does not exist" not in record.getMessage()


def _state_metadata(path: epath.Path):
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


def _flat(tree):
  return jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)[0]


def _key(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def latest_step(directory: str) -> int | None:
  """The newest step saved in `directory` (a run's `checkpoints/`), None when there is none."""
  root = epath.Path(directory)
  steps = sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.exists() else []
  return steps[-1] if steps else None


def load_run(workdir: str, task: str, launch_hint: str, step: int | None = None):
  """`(config, arrays, step)` of a finished or running training workdir of `task`.

  `config` is the run's resolved config (`config.json`), `arrays` its checkpoint at `step`
  (default: the latest) as numpy arrays (see `load_arrays`).

  Raises:
    FileNotFoundError: no such workdir, no config.json (`launch_hint` says how one is made),
      or no checkpoint.
    ValueError: the workdir trained another task.
  """
  import ml_collections  # noqa: PLC0415

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
  import numpy as np  # noqa: PLC0415

  root = _path(directory)
  if step is None:
    step = latest_step(directory)
    if step is None:
      raise FileNotFoundError(f"No checkpoints in {directory}.")
  if export.is_export(str(root / str(step))):
    return export.read(str(root / str(step)))
  path = root / str(step) / "state"
  if not path.exists():
    raise FileNotFoundError(f"No checkpoint state at {path}.")
  ckptr = ocp.PyTreeCheckpointer()
  tree = _state_metadata(path)
  restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return ckptr.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))
