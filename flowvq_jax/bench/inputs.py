"""Input-pipeline throughput: the train iterator of each stage (`task.make_data`) on its own.

Answers whether a training run waits for data: compare `batches_per_s` with the `train`
section's `1 / step_s` (which times the step on random batches). Every stage reads world clips
generated in memory (`data.source='memory'`) at its `synthetic` config's batch layout, image
size and window, from `CLIPS` training identities x 2 clips (the iterator's cost per batch does
not depend on how many clips it draws from). Row fields: `stage`, `config`, `batch`,
`threads` (`data.num_threads`), `clips`, `setup_s` (rendering the clips and building the
iterator, first batch included), `batches_per_s` and `examples_per_s` over `batches` batches
after the first, `mib_per_batch` (host bytes of one batch).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from flowvq_jax.bench import train as bench_train
from flowvq_jax.core import config as config_lib
from flowvq_jax.train import tasks

CLIPS = 8  # training identities (x 2 clips each) rendered for each stage


def _overrides(stage: str, quick: bool) -> dict[str, Any]:
  ids = (2, 1, 1) if quick else (CLIPS, 1, 1)
  out: dict[str, Any] = {
    "data.source": "memory",
    "data.memory.identities": ids,
    "data.memory.clips_per_identity": 2,
  }
  if quick:
    out["data.memory.seconds"] = 1.0
  return out


def time_input(stage: str, arg: str, batches: int, overrides: dict[str, Any]) -> dict[str, Any]:
  """One row (module docstring) for `configs/<stage>.py:<arg>` with `overrides` applied."""
  config = bench_train.stage_config(stage, arg)
  config_lib.apply_overrides(config, overrides)
  task = tasks.load(config.task)
  t0 = time.perf_counter()
  it = task.make_data(config, "train", process_index=0, process_count=1, seed=0)
  first = next(it)
  setup = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(batches):
    next(it)
  seconds = time.perf_counter() - t0
  b = int(config.data.batch_size)
  size = int(config.image_size) if stage.startswith("vq") else int(config.data.window)
  return {
    "stage": stage,
    "config": arg,
    "batch": f"{b}x{size}{'px' if stage.startswith('vq') else ''}",
    "threads": int(config.data.get("num_threads", 0) or 0),
    "clips": int(config.data.memory.identities[0]) * int(config.data.memory.clips_per_identity),
    "setup_s": setup,
    "batches_per_s": batches / seconds,
    "examples_per_s": batches * b / seconds,
    "mib_per_batch": sum(np.asarray(v).nbytes for v in first.values()) / 2**20,
  }


def run(quick: bool = False) -> list[dict[str, Any]]:
  """A row per stage: `synthetic` configs (`tiny` with `quick`, 5 batches instead of 200)."""
  variant = "tiny" if quick else "synthetic"
  args = {"expflow": "tiny" if quick else "synthetic_wide"}
  batches = 5 if quick else 200
  return [
    time_input(s, args.get(s, variant), batches, _overrides(s, quick)) for s in bench_train.STAGES
  ]
