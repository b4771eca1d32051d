"""Blocks shared by the config files: optimizer, training loop, evaluation, mesh and sharding, and
the in-memory world clips of the VQ stages.

Each function returns a fresh `ml_collections.ConfigDict`; a config file fills in what differs.
The fields are what the trainer reads (docs/training.md).
"""

from __future__ import annotations

from typing import Any

import ml_collections


def new_config(task: str, **fields: Any) -> ml_collections.ConfigDict:
  """A run's config: `seed` 0, the task module (`flowvq_jax/train/tasks/<task>.py`) and `fields`."""
  return ml_collections.ConfigDict({"seed": 0, "task": task, **fields})


def optimizer(
  *, name: str, lr: float, warmup_steps: int, b1: float, b2: float, schedule: str = "cosine",
  end_lr_factor: float = 0.1, weight_decay: float = 0.0, grad_clip_norm: float = 1.0,
  eps: float = 1e-8, groups: dict[str, dict[str, Any]] | None = None,
) -> ml_collections.ConfigDict:  # fmt: skip
  """`config.optimizer` (flowvq_jax/train/optim.py): `groups` are per-param-group overrides."""
  return ml_collections.ConfigDict(
    {
      "name": name, "lr": lr, "warmup_steps": warmup_steps, "schedule": schedule,
      "end_lr_factor": end_lr_factor, "weight_decay": weight_decay,
      "grad_clip_norm": grad_clip_norm, "b1": b1, "b2": b2, "eps": eps,
      "groups": ml_collections.ConfigDict(groups or {}),
    }
  )  # fmt: skip


def train(
  *,
  steps: int,
  log_every: int,
  eval_every: int,
  ckpt_every: int,
  quick: bool = False,
  best_mode: str = "min",
  keep_best_metric: str = "",
  ema_decay: float = 0.0,
  max_nonfinite: int = 20,
  summaries_every: int = 0,
  **extra: Any,
) -> ml_collections.ConfigDict:
  """`config.train` (flowvq_jax/train/trainer.py). `quick` (the `tiny` variants): synchronous
  checkpoints and no progress bar."""
  c = ml_collections.ConfigDict()
  c.steps = steps
  c.log_every = log_every
  c.eval_every = eval_every
  c.ckpt_every = ckpt_every
  c.keep = 2
  c.init_from = ""  # warm start: an earlier run or params export (train/warm_start.py)
  c.init_items = ("params",)
  c.keep_best_metric = keep_best_metric
  c.best_mode = best_mode
  c.ema_decay = ema_decay
  c.max_nonfinite = max_nonfinite
  c.async_checkpoint = not quick
  c.progress = not quick
  c.summaries_every = summaries_every
  c.update(extra)
  return c


def evaluation(num_batches: int, split: str = "validation", **extra: Any):
  """`config.eval`: the split and batches evaluated every `train.eval_every` steps."""
  return ml_collections.ConfigDict(
    {"split": split, "num_batches": num_batches, "use_ema": False, **extra}
  )


def set_mesh(
  c: ml_collections.ConfigDict, *, fsdp: bool = False, min_size: int = 2**16
) -> ml_collections.ConfigDict:
  """`config.mesh` and `config.sharding` (flowvq_jax/train/mesh.py): data parallel, or FSDP over
  params of at least `min_size` elements."""
  c.mesh = ml_collections.ConfigDict({"data": 1, "fsdp": -1} if fsdp else {"data": -1, "fsdp": 1})
  c.sharding = ml_collections.ConfigDict()
  c.sharding.params = "fsdp" if fsdp else "replicate"
  c.sharding.min_size = min_size
  c.sharding.rules = ()
  return c


def vq_data(variant: str, name: str, memory: bool) -> ml_collections.ConfigDict:
  """`config.data`'s source of the VQ stages (`flowvq_jax.data.sources`): the TFDS dataset
  `name`, or in-memory world clips (`memory`, always for `tiny` and `synthetic_wide`): `tiny`'s
  few short 32 px clips, `synthetic_wide`'s 1000 training identities x 2 clips (4 / 48 held out,
  rendered by every core), else the layout of synthetic_talking_faces/small (128 px)."""
  if variant == "tiny":
    mem = dict(resolution=32, seconds=0.4, identities=(3, 1, 1), clips_per_identity=4,
               utterances=(4, 2, 2), workers=0)  # fmt: skip
  else:
    mem = dict(resolution=128, seconds=3.0, identities=(12, 2, 2), clips_per_identity=16,
               utterances=(40, 8, 8), workers=0)  # fmt: skip
  if variant == "synthetic_wide":
    mem.update(identities=(1000, 4, 48), clips_per_identity=2, workers=-1)
  in_memory = memory or variant in ("tiny", "synthetic_wide")
  return ml_collections.ConfigDict(
    {
      "source": "memory" if in_memory else "tfds",
      "name": name,
      "data_dir": "~/flowvq_data",
      "memory": ml_collections.ConfigDict({"world_seed": 0, **mem}),
    }
  )
