"""Speed of ExpFlow / PoseFlow: sampling 10 s of audio, compile time, training steps.

  python -m launch.benchmark --what flow --out flow_bench.json [--repeats 3]

For the `synthetic` and `moglow_size` configs (configs/expflow.py, configs/poseflow.py; the
PoseFlow of `moglow_size` is the same network over 6 dims with a Gaussian prior), with fresh
params on random audio:

  sample_s / compile_s      best of `repeats` compiled calls of `FlowSampler` for 250 frames
                            (10 s at 25 fps), and the first call minus that (trace + compile)
  params                    parameter count
  train_step_s              (moglow_size) best compiled train step (loss + grads + Adam) on a
                            batch of 16 x 100 frames, and its compile time
  sample_s_batch8           (moglow_size) 250 frames for 8 samples at once

Timings depend on the machine and its load; the caller records where they were taken.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from flowvq_jax.constants import FPS


def _config(kind: str, variant: str):
  from flowvq_jax.train.tasks import flow as task  # noqa: PLC0415

  if variant == "moglow_size":
    c = task.base_config("exp", "moglow_size")
    if kind == "pose":
      from flowvq_jax.constants import POSE_DIM  # noqa: PLC0415

      c.model.dim = POSE_DIM
      c.model.prior = "gaussian"
      c.data.coeffs = "pose"
    return c
  return task.base_config(kind, variant)


def _random_batch(model, batch: int, frames: int, rng: np.random.Generator) -> dict:
  return {
    "x": rng.normal(size=(batch, frames, model.dim)).astype(np.float32),
    "mel": rng.normal(size=(batch, frames, *model.mel_shape)).astype(np.float32),
    "emotion": (np.arange(batch) % 8).astype(np.int32),
    "intensity": np.full((batch,), 3.0, np.float32),
    "mask": np.ones((batch, frames), np.float32),
  }


def _best(fn, repeats: int) -> tuple[float, float]:
  """(first call seconds, best of `repeats` later calls)."""
  start = time.perf_counter()
  fn(0)
  first = time.perf_counter() - start
  runs = []
  for r in range(repeats):
    start = time.perf_counter()
    fn(r + 1)
    runs.append(time.perf_counter() - start)
  return first, min(runs)


def time_flow(
  kind: str,
  variant: str,
  frames: int = 10 * FPS,
  repeats: int = 3,
  train_step: bool = False,
  batch8: bool = False,
  seed: int = 0,
) -> dict[str, Any]:
  """Sampling (and optionally training-step) timings of one flow config (module docstring)."""
  import optax  # noqa: PLC0415

  from flowvq_jax.flow.sampler import FlowSampler  # noqa: PLC0415
  from flowvq_jax.train import optim  # noqa: PLC0415
  from flowvq_jax.train.tasks import flow as task  # noqa: PLC0415

  config = _config(kind, variant)
  model = task.model_of(config)
  rng = np.random.default_rng(seed)
  init_batch = _random_batch(model, 2, 16, rng)
  params = jax.jit(lambda r, b: task.init(r, b, config))(jax.random.key(seed), init_batch)
  out: dict[str, Any] = {
    "kind": kind,
    "config": variant,
    "params": int(sum(p.size for p in jax.tree.leaves(params))),
    "frames": frames,
    "device": str(jax.devices()[0].device_kind),
  }
  sampler = FlowSampler(model, chunk_size=64)
  mel = rng.normal(size=(frames, *model.mel_shape)).astype(np.float32)

  def sample(n):
    def fn(s):
      seeds = s if n == 1 else [s * n + i for i in range(n)]
      return sampler(params, mel=mel, emotion="happy", temperature=1.0, seed=seeds)

    return fn

  first, best = _best(sample(1), repeats)
  out.update(sample_s=best, compile_s=first - best)
  if batch8:
    first8, best8 = _best(sample(8), repeats)
    out.update(sample_s_batch8=best8, compile_s_batch8=first8 - best8)
  if train_step:
    tx, _ = optim.make_optimizer(config.optimizer.to_dict(), 1000)
    b, t = int(config.data.batch_size), int(config.data.window)
    batch = _random_batch(model, b, t, rng)
    opt_state = tx.init(params)

    @jax.jit
    def step(p, o, bt, key):
      (loss, _), g = jax.value_and_grad(task.loss, has_aux=True)(p, bt, key, config)
      u, o = tx.update(g, o, p)
      return optax.apply_updates(p, u), o, loss

    state = {"p": params, "o": opt_state}

    def train(s):
      p, o, loss = step(state["p"], state["o"], batch, jax.random.key(s))
      jax.block_until_ready(loss)
      state["p"], state["o"] = p, o

    first_t, best_t = _best(train, repeats)
    out.update(train_batch=f"{b}x{t}", train_step_s=best_t, train_compile_s=first_t - best_t)
  return out


def run(repeats: int = 3) -> list[dict[str, Any]]:
  """Every row: exp and pose of `synthetic` and `moglow_size` (the latter with training)."""
  rows = []
  for variant in ("synthetic", "moglow_size"):
    big = variant == "moglow_size"
    for kind in ("exp", "pose"):
      rows.append(
        time_flow(kind, variant, repeats=repeats, train_step=big and kind == "exp", batch8=big)
      )
  return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
  """A markdown table of `run`'s rows."""
  cols = ("kind", "config", "params", "compile_s", "sample_s", "sample_s_batch8", "train_step_s")
  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  for r in rows:
    cells = []
    for c in cols:
      v = r.get(c, "")
      cells.append(f"{v:.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else v)
    lines.append("| " + " | ".join(str(c) for c in cells) + " |")
  return "\n".join(lines) + "\n"
