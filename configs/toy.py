r"""Toy stage: a small MLP autoencoder on synthetic vectors (exercises the trainer).

Launch (CPU is enough):

  python -m launch.train --config configs/toy.py:tiny --workdir /tmp/toy_tiny
  python -m launch.train --config configs/toy.py --workdir /tmp/toy \
      --config.optimizer.lr=3e-3
  python -m launch.sweep --config configs/toy.py:tiny --workdir_root /tmp/toy_sweep

Variants: `default` (2000 steps) and `tiny` (200 steps, seconds). Arguments: `fsdp=true`
shards params over all devices instead of replicating them; `ema=0.99` turns on EMA.

Expected result (measured on CPU, see docs/training.md): `tiny` ends at val/loss 0.0236
(same to 4 digits on 1 and 8 devices, replicated or sharded); `default` at val/loss 0.0027,
close to the noise floor 0.0025 (`data.noise` squared; the variance of x is about 0.5).
"""

from __future__ import annotations

import ml_collections

from flowvq_jax.core.config import parse_arg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = parse_arg(arg, variants=("default", "tiny"), fsdp=False, ema=0.0)
  tiny = arg.variant == "tiny"
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = "toy"

  c.data = ml_collections.ConfigDict()
  c.data.seed = 1234  # fixes the synthetic arrays (the run's `seed` fixes order and init)
  c.data.dim = 16
  c.data.latent = 4
  c.data.noise = 0.05
  c.data.num_train = 2048 if tiny else 16384
  c.data.num_val = 256 if tiny else 1024
  c.data.batch_size = 64  # global
  c.data.num_threads = 1
  c.data.prefetch = 2

  c.model = ml_collections.ConfigDict()
  c.model.hidden = 64 if tiny else 256
  c.model.latent = 4
  c.model.depth = 2
  c.model.dropout = 0.0
  c.model.dtype = "float32"

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adamw"
  c.optimizer.lr = 3e-3
  c.optimizer.warmup_steps = 20 if tiny else 100
  c.optimizer.schedule = "cosine"
  c.optimizer.end_lr_factor = 0.0
  c.optimizer.weight_decay = 1e-4
  c.optimizer.grad_clip_norm = 1.0
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.eps = 1e-8
  c.optimizer.groups = ml_collections.ConfigDict()

  c.train = ml_collections.ConfigDict()
  c.train.steps = 200 if tiny else 2000
  c.train.log_every = 20 if tiny else 100
  c.train.eval_every = 100 if tiny else 500
  c.train.ckpt_every = 100 if tiny else 500
  c.train.keep = 2
  c.train.init_from = ""  # warm start: an earlier run or params export (train/warm_start.py)
  c.train.init_items = ("params",)
  c.train.keep_best_metric = "val/loss"
  c.train.best_mode = "min"
  c.train.ema_decay = arg.ema
  c.train.max_nonfinite = 10
  c.train.async_checkpoint = True
  c.train.progress = True
  c.train.summaries_every = c.train.eval_every

  c.eval = ml_collections.ConfigDict()
  c.eval.split = "val"
  c.eval.num_batches = 4
  c.eval.use_ema = True

  c.mesh = ml_collections.ConfigDict(
    {"data": 1, "fsdp": -1} if arg.fsdp else {"data": -1, "fsdp": 1}
  )
  c.sharding = ml_collections.ConfigDict()
  c.sharding.params = "fsdp" if arg.fsdp else "replicate"
  c.sharding.min_size = 0  # toy params are small; shard them all to exercise FSDP
  c.sharding.rules = ()
  return c


def get_sweep(hyper):
  """Learning rate x width: 6 points."""
  return hyper.product(
    [
      hyper.sweep("optimizer.lr", [1e-3, 3e-3, 1e-2]),
      hyper.sweep("model.hidden", [32, 64]),
    ]
  )
