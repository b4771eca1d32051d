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

from configs import common
from flowvq_jax.core.config import parse_arg


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = parse_arg(arg, variants=("default", "tiny"), fsdp=False, ema=0.0)
  tiny = arg.variant == "tiny"
  c = common.new_config("toy")

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

  c.optimizer = common.optimizer(
    name="adamw",
    lr=3e-3,
    warmup_steps=20 if tiny else 100,
    end_lr_factor=0.0,
    weight_decay=1e-4,
    b1=0.9,
    b2=0.999,
  )
  c.train = common.train(
    steps=200 if tiny else 2000,
    log_every=20 if tiny else 100,
    eval_every=100 if tiny else 500,
    ckpt_every=100 if tiny else 500,
    keep_best_metric="val/loss",
    ema_decay=arg.ema,
    max_nonfinite=10,
  )
  c.train.summaries_every = c.train.eval_every
  c.eval = common.evaluation(num_batches=4, split="val")
  c.eval.use_ema = True
  # toy params are small; shard them all to exercise FSDP
  return common.set_mesh(c, fsdp=arg.fsdp, min_size=0)


def get_sweep(hyper):
  """Learning rate x width: 6 points."""
  return hyper.product(
    [
      hyper.sweep("optimizer.lr", [1e-3, 3e-3, 1e-2]),
      hyper.sweep("model.hidden", [32, 64]),
    ]
  )
