"""The one generic training loop: `train(config, workdir)`.

Per stage only the task module differs (see `flowvq_jax.train.tasks`). The loop:
  * builds the mesh and shardings from `config.mesh` / `config.sharding`, the state shapes from
    `jax.eval_shape`, and one `jax.jit(step, in_shardings, out_shardings, donate_argnums)`;
  * feeds global batches made with `jax.make_array_from_process_local_data` from this
    process's data shard; step `s` uses the key `fold_in(state.rng, s)`;
  * skips (inside jit) any update whose loss or gradients are not finite, counts them, and
    stops after `train.max_nonfinite` in a row with `NonFiniteError` and a checkpoint of the
    last good state;
  * logs loss, grad/param/update norms, lr and steps/s (JSON lines + TensorBoard, process 0),
    shows a tqdm bar with ETA, evaluates on `eval.split` every `train.eval_every` steps;
  * checkpoints (state + data-iterator state) every `train.ckpt_every` steps, keeps the last
    `train.keep` plus the best by `train.keep_best_metric`, resumes from the latest
    checkpoint of `workdir` by itself, and on SIGTERM (or a multi-host preemption notice)
    saves and returns cleanly;
  * on a fresh start with `train.init_from` (an earlier run or params export), takes the
    `train.init_items` arrays from there (`flowvq_jax.train.warm_start`).
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from jax.experimental import multihost_utils

from flowvq_jax import checkpoints
from flowvq_jax.core import config as config_lib
from flowvq_jax.core.config import ConfigError
from flowvq_jax.train import checkpoint as ckpt_lib
from flowvq_jax.train import mesh as mesh_lib
from flowvq_jax.train import metrics as metrics_lib
from flowvq_jax.train import optim, tasks, warm_start
from flowvq_jax.train import state as state_lib

log = logging.getLogger(__name__)


class NonFiniteError(RuntimeError):
  """Raised after `train.max_nonfinite` consecutive steps with non-finite loss or grads."""


def initialize_distributed(
  coordinator_address: str | None = None,
  num_processes: int | None = None,
  process_id: int | None = None,
  mode: str = "auto",
) -> bool:
  """Calls `jax.distributed.initialize` when this is a multi-process run.

  Args:
    coordinator_address: 'host:port' of process 0 (with `num_processes` and `process_id`).
    num_processes: total number of processes.
    process_id: this process's index.
    mode: 'auto' (initialize if an address is given, or under a multi-task SLURM job, or on a
      multi-host TPU slice, where jax finds the cluster itself), 'on' (always; jax detects
      TPU/SLURM/...), or 'off'.

  Returns:
    Whether `jax.distributed.initialize` was called.
  """
  if mode not in ("auto", "on", "off"):
    raise ConfigError(f"--distributed={mode!r}; choose auto, on or off.")
  explicit = coordinator_address is not None
  if mode == "off":
    return False
  auto = (
    explicit
    or int(os.environ.get("SLURM_NTASKS", "1")) > 1
    or "," in os.environ.get("TPU_WORKER_HOSTNAMES", "")
    or "," in os.environ.get("MEGASCALE_COORDINATOR_ADDRESS", "")
  )
  if mode == "auto" and not auto:
    return False
  kwargs = {}
  if explicit:
    if num_processes is None or process_id is None:
      raise ConfigError("--coordinator_address needs --num_processes and --process_id.")
    kwargs = dict(
      coordinator_address=coordinator_address,
      num_processes=int(num_processes),
      process_id=int(process_id),
    )
  jax.distributed.initialize(**kwargs)
  return True


# ----------------------------------------------------------------------------- helpers


def _to_global(local: Mapping[str, Any], sharding, global_batch: int) -> dict[str, jax.Array]:
  pc = jax.process_count()

  def one(x):
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[0] * pc != global_batch:
      raise ValueError(
        f"The task's data gave a local batch with leading dim {x.shape[:1]}; expected "
        f"data.batch_size / processes = {global_batch} / {pc}."
      )
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree.map(one, dict(local))


def _finite_tree(tree) -> jax.Array:
  leaves = [
    jnp.all(jnp.isfinite(x))
    for x in jax.tree.leaves(tree)
    if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)
  ]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _takes_step(fn) -> bool:
  """Whether a task function accepts the optional keyword `step` (int32 [], the update index)."""
  try:
    return "step" in inspect.signature(fn).parameters
  except (TypeError, ValueError):
    return False


def _global_norm(tree) -> jax.Array:
  """sqrt of the sum of squares of every leaf, float32 []."""
  leaves = [jnp.sum(jnp.square(jnp.asarray(x, jnp.float32))) for x in jax.tree.leaves(tree)]
  return jnp.sqrt(sum(leaves)) if leaves else jnp.zeros((), jnp.float32)


def _select(ok, new, old):
  return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def _state_shardings(abstract: state_lib.TrainState, mesh, sharding_cfg):
  rep = mesh_lib.replicated(mesh)
  rules = lambda tree: mesh_lib.tree_shardings(tree, mesh, sharding_cfg)
  return state_lib.TrainState(
    step=rep,
    params=rules(abstract.params),
    opt_state=rules(abstract.opt_state),
    ema_params=None if abstract.ema_params is None else rules(abstract.ema_params),
    extra=rules(abstract.extra),
    rng=rep,
    nonfinite=rep,
    skipped=rep,
  )


def make_train_step(task: ModuleType, config, tx, schedule: Callable, ema_decay: float):
  """`(state, batch) -> (state, metrics)`, pure (jit it)."""

  def step_fn(state: state_lib.TrainState, batch):
    rng = jax.random.fold_in(state.rng, state.step)
    if hasattr(task, "compute_grads"):
      kw = {"step": state.step} if _takes_step(task.compute_grads) else {}
      grads, new_extra, loss, aux = task.compute_grads(
        state.params, state.extra, batch, rng, config, **kw
      )
    else:
      kw = {"step": state.step} if _takes_step(task.loss) else {}
      (loss, aux), grads = jax.value_and_grad(task.loss, has_aux=True)(
        state.params, batch, rng, config, **kw
      )
      new_extra = state.extra
    loss = jnp.asarray(loss, jnp.float32)
    grad_norm = _global_norm(grads)
    ok = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & _finite_tree(new_extra)
    # Zeroed grads keep NaNs out of the optimizer maths; the result is discarded anyway.
    safe = jax.tree.map(lambda g: jnp.where(ok, g, jnp.zeros_like(g)), grads)
    updates, opt_state = tx.update(safe, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if ema is not None:
      ema = jax.tree.map(lambda e, p: ema_decay * e + (1.0 - ema_decay) * p, ema, params)
    nonfinite = jnp.where(ok, 0, state.nonfinite + 1)
    new = state.replace(
      step=state.step + 1,
      params=_select(ok, params, state.params),
      opt_state=_select(ok, opt_state, state.opt_state),
      ema_params=None if ema is None else _select(ok, ema, state.ema_params),
      extra=_select(ok, new_extra, state.extra),
      nonfinite=nonfinite.astype(jnp.int32),
      skipped=(state.skipped + jnp.where(ok, 0, 1)).astype(jnp.int32),
    )
    metrics = {f"train/{k}": jnp.asarray(v, jnp.float32) for k, v in dict(aux).items()}
    metrics.update(
      {
        "train/loss": loss,
        "train/grad_norm": grad_norm,
        "train/param_norm": _global_norm(new.params),
        "train/update_norm": jnp.where(ok, _global_norm(updates), 0.0),
        "train/lr": jnp.asarray(schedule(state.step), jnp.float32),
        "train/nonfinite_run": new.nonfinite.astype(jnp.float32),
        "train/skipped_total": new.skipped.astype(jnp.float32),
      }
    )
    return new, metrics

  return step_fn


class _Preemption:
  """SIGTERM -> flag (single process); multi-host uses jax's preemption sync point."""

  def __init__(self):
    self.flag = threading.Event()
    self._old = None

  def __enter__(self):
    # Multi-process runs leave SIGTERM to jax's preemption notifier (a Python handler would
    # replace it); all processes then agree on the step to save at.
    if jax.process_count() == 1 and threading.current_thread() is threading.main_thread():
      self._old = signal.signal(signal.SIGTERM, lambda *_: self.flag.set())
    return self

  def __exit__(self, *exc):
    if self._old is not None:
      signal.signal(signal.SIGTERM, self._old)
    return False

  def reached(self, step: int) -> bool:
    if jax.process_count() > 1:
      try:
        if multihost_utils.reached_preemption_sync_point(step):
          return True
      except RuntimeError:
        pass
      return False
    return self.flag.is_set()


# ----------------------------------------------------------------------------- the loop


def write_statistics(task: ModuleType, config: ml_collections.ConfigDict, workdir: str) -> bool:
  """Writes the task's normalisation statistics (`task.statistics(config)`, optional) into
  `workdir/coeff_stats.json`, where inference and evaluation read them
  (`flowvq_jax.checkpoints.read_stats`); returns whether it wrote them."""
  stats_fn = getattr(task, "statistics", None)
  stats = stats_fn(config) if stats_fn is not None else None
  if stats is None:
    return False
  checkpoints.write_stats(workdir, stats)
  return True


def train(
  config: ml_collections.ConfigDict, workdir: str, *, task: ModuleType | None = None
) -> dict[str, Any]:
  """Trains (or resumes) the run in `workdir` to `config.train.steps` steps.

  Args:
    config: the full config (see docs/training.md).
    workdir: run directory: config.json, coeff_stats.json (when the task normalises with
      statistics), metrics.jsonl, tensorboard/, checkpoints/, final_metrics.json.
    task: the task module (default: `tasks.load(config.task)`).

  Returns:
    `{'step', 'status' ('done' | 'preempted'), 'train': {...}, 'eval': {...},
    'steps_per_sec' (last log interval), 'overall_steps_per_sec' (from the end of the first
    step, compilation excluded, evaluation and checkpoints included)}`, also written to
    `final_metrics.json` by process 0.

  Raises:
    NonFiniteError: after `train.max_nonfinite` consecutive non-finite steps (a checkpoint of
      the last good state is written first).
    ConfigError: bad config values.
  """
  task = task or tasks.load(config.task)
  tc = config.train
  pi, pc = jax.process_index(), jax.process_count()
  is_main = pi == 0
  total = int(tc.steps)
  if checkpoints.has_export(os.path.join(workdir, "checkpoints")):
    raise ConfigError(
      f"{workdir} is a params-only export (no optimizer state, see flowvq_jax/train/export.py): "
      "it cannot be resumed. Start a new workdir from it with "
      f"--config.train.init_from={workdir}."
    )
  init_from = str(tc.get("init_from") or "")
  init_items = warm_start.check_items(tc.get("init_items") or ("params",))
  if init_from:
    warm_start.checkpoint_dir(init_from)  # a missing source fails before anything is written
  os.makedirs(workdir, exist_ok=True)
  if is_main:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config_lib.to_json(config))
    write_statistics(task, config, workdir)

  mesh = mesh_lib.make_mesh(config.mesh)
  gb = int(config.data.batch_size)
  if gb % mesh.size:
    raise ConfigError(
      f"data.batch_size={gb} is not divisible by the {mesh.size} devices "
      f"of mesh {dict(mesh.shape)}."
    )
  data_sh = mesh_lib.batch_sharding(mesh)
  rep = mesh_lib.replicated(mesh)
  ema_decay = float(tc.get("ema_decay", 0.0) or 0.0)
  if hasattr(task, "make_optimizer"):
    tx, schedule = task.make_optimizer(config, total)
  else:
    tx, schedule = optim.make_optimizer(config.optimizer.to_dict(), total)

  train_it = task.make_data(
    config, "train", process_index=pi, process_count=pc, seed=int(config.seed)
  )
  it_state0 = train_it.get_state()
  first = _to_global(next(train_it), data_sh, gb)
  train_it.set_state(it_state0)

  root = jax.random.PRNGKey(int(config.seed))
  init_rng, train_rng, eval_rng = jax.random.split(root, 3)

  def init_fn(rng, batch):
    out = task.init(rng, batch, config)
    params, extra = out if isinstance(out, tuple) else (out, {})
    return state_lib.create(params, extra, tx, train_rng, ema_decay > 0)

  abstract = jax.eval_shape(init_fn, init_rng, first)
  state_sh = _state_shardings(abstract, mesh, config.sharding)

  ckpt = ckpt_lib.Checkpointer(
    os.path.join(workdir, "checkpoints"),
    keep=int(tc.keep),
    best_metric=tc.get("keep_best_metric") or None,
    best_mode=tc.get("best_mode", "min"),
    async_save=bool(tc.get("async_checkpoint", True)),
  )
  latest = ckpt.latest_step()
  if latest is not None:
    target = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
      state_lib.as_dict(abstract),
      state_lib.as_dict(state_sh),
    )
    try:
      restored, data_state, _ = ckpt.restore(latest, target)
    except ValueError as e:
      ckpt.close()
      raise ConfigError(
        f"Checkpoint {latest} in {workdir} does not fit this config's train state (did the "
        f"model, optimizer or EMA settings change?): {str(e).splitlines()[0][:300]}"
      ) from None
    state = state_lib.from_dict(abstract, restored)
    if data_state is None:
      log.warning(
        "Checkpoint %d has no data-iterator state for process %d of %d; the data "
        "stream restarts from its beginning.",
        latest,
        pi,
        pc,
      )
    else:
      train_it.set_state(data_state)
    log.info("Resumed from checkpoint step %d in %s.", latest, workdir)
    if init_from:
      log.info("train.init_from=%s is ignored: the run resumes from its own checkpoint.", init_from)
  else:
    state = jax.jit(init_fn, out_shardings=state_sh)(init_rng, first)
    if init_from:
      d, report = warm_start.apply(state_lib.as_dict(state), init_from, init_items)
      state = state_lib.from_dict(abstract, d)
      log.info("%s", report.summary())
  del first

  step_fn = make_train_step(task, config, tx, schedule, ema_decay)
  p_step = jax.jit(
    step_fn, in_shardings=(state_sh, data_sh), out_shardings=(state_sh, rep), donate_argnums=(0,)
  )

  eval_fn = getattr(task, "eval_metrics", None)

  def eval_step(params, extra, batch, rng):
    if eval_fn is not None:
      out = eval_fn(params, batch, rng, config, extra=extra)
    else:
      loss, aux = task.loss(params, batch, rng, config)
      out = {**dict(aux), "loss": loss}
    return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}

  p_eval = jax.jit(eval_step, out_shardings=rep)
  summ_fn = getattr(task, "summaries", None)
  p_summ = (
    None
    if summ_fn is None
    else jax.jit(lambda p, e, b: summ_fn(p, b, config, extra=e), out_shardings=rep)
  )

  writer = metrics_lib.MetricWriter(workdir, enabled=is_main)
  use_ema = bool(config.eval.get("use_ema", True)) and ema_decay > 0

  def run_eval(state, step):
    split = config.eval.get("split", "val")
    it = task.make_data(config, split, process_index=pi, process_count=pc, seed=int(config.seed))
    params = state.ema_params if use_ema else state.params
    sums, n, first_batch = {}, 0, None
    for i in range(int(config.eval.num_batches)):
      try:
        local = next(it)
      except StopIteration:
        break
      batch = _to_global(local, data_sh, gb)
      first_batch = first_batch or batch
      m = jax.device_get(p_eval(params, state.extra, batch, jax.random.fold_in(eval_rng, i)))
      for k, v in m.items():
        sums[k] = sums.get(k, 0.0) + float(v)
      n += 1
    out = {f"{split}/{k}": v / max(n, 1) for k, v in sums.items()}
    writer.scalars(step, out)
    every = int(tc.get("summaries_every", 0) or 0)
    if (
      p_summ is not None
      and first_batch is not None
      and every
      and (step % every == 0 or step == total)
    ):
      for name, arr in jax.device_get(p_summ(params, state.extra, first_batch)).items():
        arr = np.asarray(arr)
        (writer.videos if arr.ndim == 5 else writer.images)(step, {f"{split}/{name}": arr})
      writer.flush()
    return out

  step = int(jax.device_get(state.step))
  log_every, eval_every = int(tc.log_every), int(tc.eval_every)
  ckpt_every, max_nf = int(tc.ckpt_every), int(tc.get("max_nonfinite", 0) or 0)
  best_on_eval = bool(tc.get("keep_best_metric"))
  last_train, last_eval, sps = {}, {}, float("nan")
  status = "done"
  pbar = tqdm.tqdm(
    total=total,
    initial=step,
    disable=not (is_main and tc.get("progress", True)),
    dynamic_ncols=True,
    desc="train",
    unit="step",
  )
  say = pbar.write if not pbar.disable else (lambda s: log.info("%s", s))
  say(
    f"Training {config.task} for {total} steps from step {step} on {jax.device_count()} "
    f"devices ({pc} processes), mesh {dict(mesh.shape)}, params "
    f"{config.sharding.get('params', 'replicate')}; workdir {workdir}"
  )

  def save(step, metrics=None):
    ckpt.save(step, state_lib.as_dict(state), train_it.get_state(), metrics)

  prev = None  # metrics of the previous step: non-finite check lags one step (async dispatch)
  t_mark, s_mark = None, step
  t_first, s_first = None, step
  nf_error = None
  try:
    with _Preemption() as pre:
      while step < total:
        if pre.reached(step):
          status = "preempted"
          save(step)
          say(f"Preemption notice: saved checkpoint at step {step}; exiting.")
          break
        batch = _to_global(next(train_it), data_sh, gb)
        state, m = p_step(state, batch)
        step += 1
        pbar.update(1)
        if t_mark is None:  # exclude compilation from steps/s
          jax.block_until_ready(m)
          t_mark, s_mark = time.perf_counter(), step
          t_first, s_first = t_mark, step
        if max_nf and prev is not None and float(prev["train/nonfinite_run"]) >= max_nf:
          m = jax.device_get(m)
          nf_error = (
            f"Stopping at step {step}: {int(prev['train/nonfinite_run'])} "
            f"consecutive steps had a non-finite loss or gradients (limit "
            f"train.max_nonfinite={max_nf}); their updates were skipped and the "
            f"last good state is checkpointed at step {step}."
          )
          save(step)
          break
        prev = m
        if step % log_every == 0 or step == total:
          last_train = {k: float(v) for k, v in jax.device_get(m).items()}
          now = time.perf_counter()
          if step > s_mark:
            sps = (step - s_mark) / (now - t_mark)
            last_train["train/steps_per_sec"] = sps
          t_mark, s_mark = now, step
          writer.scalars(step, last_train)
          pbar.set_postfix(loss=f"{last_train['train/loss']:.4g}", refresh=False)
        evaluated = False
        if step % eval_every == 0 or step == total:
          last_eval = run_eval(state, step)
          evaluated = True
          say(f"step {step}: " + ", ".join(f"{k}={v:.4g}" for k, v in last_eval.items()))
        if step % ckpt_every == 0 or step == total or (evaluated and best_on_eval):
          save(step, last_eval if evaluated else None)
  finally:
    t_end = time.perf_counter()
    pbar.close()
    ckpt.close()
    writer.close()

  if nf_error is not None:
    raise NonFiniteError(nf_error)
  overall = None
  if t_first is not None and step > s_first:
    overall = (step - s_first) / (t_end - t_first)
  result = {
    "step": step,
    "status": status,
    "train": last_train,
    "eval": last_eval,
    "steps_per_sec": sps if math.isfinite(sps) else None,
    "overall_steps_per_sec": overall,
  }
  if is_main:
    with open(os.path.join(workdir, "final_metrics.json"), "w") as f:
      json.dump(result, f, indent=2)
  return result
