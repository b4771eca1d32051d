"""Speed of one training step of every stage, and of the taming FacesHQ VQGAN.

  rows = bench_train.run(quick=False)      # expflow, poseflow, vq_codebook, vq_query
  row = bench_train.taming(quick=False)    # configs/vq_codebook.py:taming_faceshq

Each step is the trainer's own (`flowvq_jax.train.trainer.make_train_step`: the task's loss or
`compute_grads`, the config's optimizer, the finite check) on a random batch of the shapes the
task's data pipeline gives (`random_batch`), with fresh params from the task's `init`. For
`vq_query` the frozen stage 1 is a freshly initialised autoencoder of the matching
`vq_codebook` config (its `config.json` is written to a temporary stage-1 workdir, which the task
reads). The VQ steps run in the adversarial phase (`loss.disc_start = 0`): generator AND
discriminator grads, the steady state of most of training. One more row, `vq_codebook (no
critic)`, times the stage-1 step of a run whose critic never starts (no discriminator in the
graph, `vq_codebook.critic_starts`).

Row fields: `stage`, `config`, `params` (trainable scalars), `batch` (e.g. `32x48` = 32 windows
of 48 frames), `compile_s` (trace + lower + XLA compile), `step_s` (best of `repeats` compiled
steps), `examples_per_s` (sequences or images), `frames_per_s` (flows), `flops` (XLA's count for
one step), `gflops_per_s`, `peak_share` (`bench_util.peak_share`), `xla_mib` (XLA's argument +
output + temp memory of the step), `peak_mem_mib` / `memory_source` (`bench_util.MemoryMeter`
over the timed steps).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowvq_jax import stages
from flowvq_jax.bench import flow as bench_flow
from flowvq_jax.bench import util as U
from flowvq_jax.bench import vq as vq_bench
from flowvq_jax.core import config as config_lib
from flowvq_jax.core.constants import EXP_DIM, POSE_DIM
from flowvq_jax.models.vq import autoencoder as ae_lib
from flowvq_jax.models.vq import discriminator as disc_lib
from flowvq_jax.stages import vq_query as query_stage
from flowvq_jax.train import optim, tasks, trainer
from flowvq_jax.train import state as state_lib
from flowvq_jax.train.tasks import flow

STAGES = ("expflow", "poseflow", "vq_codebook", "vq_query")


def stage_config(stage: str, arg: str):
  """The resolved `configs/<stage>.py:<arg>` config."""
  if stage not in STAGES:
    raise ValueError(f"Unknown stage {stage!r}; the stages are {', '.join(STAGES)}.")
  return config_lib.load_config(f"{stages.CONFIGS_DIR / (stage + '.py')}:{arg}")


def random_batch(stage: str, config, rng: np.random.Generator) -> dict[str, np.ndarray]:
  """One global batch of random values with the shapes and dtypes of the stage's data."""
  b = int(config.data.batch_size)
  if stage in ("expflow", "poseflow"):
    return bench_flow.random_batch(flow.model_of(config), b, int(config.data.window), rng)
  s = int(config.image_size)
  image = lambda: rng.uniform(-1.0, 1.0, (b, s, s, 3)).astype(np.float32)
  batch = {
    "landmarks": rng.uniform(0, s, (b, 68, 2)).astype(np.float32),
    "jaw": rng.uniform(0, 1, (b,)).astype(np.float32),
    "identity": np.zeros((b,), np.int32),
  }
  if stage == "vq_codebook":
    batch["image"] = image()
  else:
    w = 2 * int(config.model.window) + 1
    batch.update(
      source=image(),
      target=image(),
      exp=rng.normal(size=(b, w, EXP_DIM)).astype(np.float32),
      pose=rng.normal(size=(b, w, POSE_DIM)).astype(np.float32),
    )
  return batch


def _stage1_workdir(stage1_arg: str, root: str) -> str:
  """A stage-1 workdir holding only `config.json` (what the vq_query task reads of it)."""
  wd = os.path.join(root, "stage1")
  os.makedirs(wd, exist_ok=True)
  with open(os.path.join(wd, "config.json"), "w") as f:
    f.write(config_lib.to_json(stage_config("vq_codebook", stage1_arg)))
  return wd


def _init_query(task, config, rng) -> tuple[Any, Any]:
  """vq_query `(params, extra)` with a fresh stage-1 autoencoder (see module docstring)."""
  s1 = query_stage.stage1_config(config)
  s = int(config.image_size)
  gen = query_stage.make_generator(config)
  ae = ae_lib.make_autoencoder(s1.model)
  disc = disc_lib.make_discriminator(s1.discriminator)
  r_ae, r_disc, r_gen = jax.random.split(rng, 3)

  def init(r_ae, r_disc, r_gen):
    x = jnp.zeros((1, s, s, 3), jnp.float32)
    ae_params = ae.init({"params": r_ae}, x, train=False)["params"]
    params = gen.init(r_gen, ae_params)
    if task.adversarial(config):
      params["disc"] = disc.init(r_disc, x)["params"]
    return params, {"stage1": ae_params}

  return jax.jit(init)(r_ae, r_disc, r_gen)


_ROWS: dict[tuple, dict[str, Any]] = {}


def time_step(stage: str, arg: str, repeats: int = 3, seed: int = 0, overrides=None):
  """One row (module docstring) for `configs/<stage>.py:<arg>` with `overrides` applied.

  Memoized per process: the same arguments return the same measurement (a copy).
  """
  key = (stage, arg, int(repeats), int(seed), tuple(sorted(dict(overrides or {}).items())))
  if key not in _ROWS:
    _ROWS[key] = _time_step(stage, arg, repeats, seed, overrides)
  return dict(_ROWS[key])


def _time_step(stage: str, arg: str, repeats: int, seed: int, overrides):
  with tempfile.TemporaryDirectory() as tmp:
    if stage == "vq_query":
      s1_arg = arg.split(",")[0]
      arg = f"{arg},stage1={_stage1_workdir(s1_arg, tmp)}"
    config = stage_config(stage, arg)
    if stage.startswith("vq"):
      config.loss.disc_start = 0
    config_lib.apply_overrides(config, dict(overrides or {}))
    task = tasks.load(config.task)
    rng = np.random.default_rng(seed)
    batch = jax.tree.map(jnp.asarray, random_batch(stage, config, rng))
    key = jax.random.key(seed)
    total = int(config.train.steps)
    if hasattr(task, "make_optimizer"):
      tx, schedule = task.make_optimizer(config, total)
    else:
      tx, schedule = optim.make_optimizer(config.optimizer.to_dict(), total)
    if stage == "vq_query":
      params, extra = _init_query(task, config, key)
    else:
      out = jax.jit(lambda r, b: task.init(r, b, config))(key, batch)
      params, extra = out if isinstance(out, tuple) else (out, {})
    state = jax.jit(lambda p, e: state_lib.create(p, e, tx, key, False))(params, extra)
    step_fn = jax.jit(trainer.make_train_step(task, config, tx, schedule, 0.0))
    compiled, compile_s = U.compile_timed(step_fn, state, batch)
    cost = U.xla_cost(compiled, step_fn, (state, batch))
    with U.MemoryMeter() as mem:
      best, _ = U.best_time(lambda: compiled(state, batch)[1], repeats)
  b = int(config.data.batch_size)
  row: dict[str, Any] = {
    "stage": stage,
    "config": arg.split(",stage1=")[0],
    "params": int(sum(np.size(p) for p in jax.tree.leaves(params))),
    "compile_s": compile_s,
    "step_s": best,
    "examples_per_s": b / best,
  }
  if stage in ("expflow", "poseflow"):
    t = int(config.data.window)
    row.update(batch=f"{b}x{t}", frames_per_s=b * t / best)
    row["flops_note"] = "lower bound: XLA counts the LSTM's lax.scan body once, not per frame"
  else:
    row.update(batch=f"{b}x{int(config.image_size)}px")
  row.update(_cost_fields(cost, best))
  row.update(_mem_fields(mem.result()))
  return row


def _cost_fields(cost: dict[str, Any], seconds: float) -> dict[str, Any]:
  flops = cost["flops"]
  return {
    "flops": flops,
    "gflops_per_s": None if flops is None else flops / seconds / 1e9,
    "peak_share": U.peak_share(flops, seconds),
    "xla_mib": U.mib(cost["xla_bytes"]),
  }


def _mem_fields(mem: dict[str, Any]) -> dict[str, Any]:
  out = {"peak_mem_mib": U.mib(mem["peak_mem_bytes"]), "memory_source": mem["memory_source"]}
  if "device_peak_bytes" in mem:
    out["device_peak_mib"] = U.mib(mem["device_peak_bytes"])
  return out


def run(quick: bool = False, repeats: int = 3) -> list[dict[str, Any]]:
  """A training-step row per stage, and the critic-free stage-1 step: `synthetic` configs (`tiny`
  with `quick`)."""
  variant = "tiny" if quick else "synthetic"
  args = {
    "expflow": variant,
    "poseflow": variant,
    "vq_codebook": variant,
    "vq_query": variant,
  }
  rows = [time_step(stage, args[stage], repeats) for stage in STAGES]
  rows.insert(STAGES.index("vq_codebook") + 1, critic_free_step(variant, repeats))
  return rows


def critic_free_step(arg: str, repeats: int = 3) -> dict[str, Any]:
  """The vq_codebook step of a run whose critic never starts (`launch/vq_wide.sh`'s recipe):
  `loss.disc_start` past `train.steps`, so the step's graph has no discriminator."""
  row = time_step("vq_codebook", arg, repeats, overrides={"loss.disc_start": 2**31 - 1})
  row["stage"] = "vq_codebook (no critic)"
  return row


def taming(quick: bool = False, repeats: int = 2) -> dict[str, Any]:
  """taming_faceshq: parameter counts (exact, `jax.eval_shape`) and the generator +
  discriminator step at batch 2, 256 px. With `quick`, the same network at 32 px, batch 1."""
  counts = vq_bench.param_counts("taming_faceshq")
  over = {"image_size": 32, "data.batch_size": 1, "data.frames_per_clip": 1} if quick else {}
  row = time_step("vq_codebook", "taming_faceshq", repeats, overrides=over)
  row["stage"] = "vq_codebook (G + D step)"
  row.update({f"params_{k}": v for k, v in counts.items()})
  row["params_total"] = int(sum(counts.values()))
  return row
