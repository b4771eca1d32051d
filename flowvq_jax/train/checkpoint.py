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
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath

from flowvq_jax import checkpoints

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
    self.directory = checkpoints.local_path(directory)
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
    tree = checkpoints.state_metadata(self.directory / str(int(step)) / "state")
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


def _flat(tree):
  return jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)[0]


def _key(path) -> str:
  return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


