"""Task modules: one per training stage. `load(name)` resolves `config.task`.

A task is a module with these functions (the contract the trainer relies on):

Required
  make_data(config, split, *, process_index, process_count, seed) -> iterator
      Local batches (dict of numpy arrays, leading dim `config.data.batch_size //
      process_count`) of this process's shard. `split='train'` must be infinite and support
      `get_state() -> dict` / `set_state(dict)` (a grain `DatasetIterator`), so the trainer can
      checkpoint it; other splits (e.g. 'val') are read from the start on every evaluation.
  init(rng, batch, config) -> params  or  (params, extra)
      `batch` is one global batch. `params` are trained; `extra` is non-trainable state
      (updated only by `compute_grads`).
  loss(params, batch, rng, config) -> (scalar float32 loss, {name: scalar})
      Unless the task defines both `compute_grads` and `eval_metrics`, which replace it.

Optional
  compute_grads(params, extra, batch, rng, config) -> (grads, new_extra, loss, metrics)
      Replaces `jax.value_and_grad(loss)`: for several losses on several param groups (a GAN's
      generator and discriminator, each differentiated on its own loss) or mutable state.
      Combine with `config.optimizer.groups` for per-group optimizers.
  make_optimizer(config, total_steps) -> (optax transformation, lr schedule)
  eval_metrics(params, batch, rng, config, *, extra) -> {name: scalar}, averaged over batches
      (default: the metrics and loss of `loss`).
  summaries(params, batch, config, *, extra) -> {name: [N, H, W, C] image or [N, T, H, W, C]
      video}, float in [0, 1] or uint8, written to TensorBoard at evaluation.
  statistics(config) -> CoeffStats or None
      The normalisation statistics of the training data; the trainer writes them to
      `WORKDIR/coeff_stats.json` at start, where inference and evaluation read them.

`loss` and `compute_grads` may also take a keyword argument `step` (int32 [], the index of the
update being computed, `state.step`), e.g. for a loss weight that starts at some step; it is
passed only to functions whose signature names it.

All functions except `make_data` and `statistics` run under `jax.jit`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from flowvq_jax.core.config import ConfigError

REQUIRED = ("make_data", "init")
# `loss`, or both of these (which replace it in training and evaluation).
INSTEAD_OF_LOSS = ("compute_grads", "eval_metrics")


def load(name: str) -> ModuleType:
  """`'toy'` -> `flowvq_jax.train.tasks.toy`; other names are imported as given (`pkg.task`)."""
  module = None
  for module_name in (f"flowvq_jax.train.tasks.{name}", name):
    try:
      module = importlib.import_module(module_name)
      break
    except ModuleNotFoundError as e:
      if not (e.name and module_name.startswith(e.name)):
        raise
  if module is None:
    raise ConfigError(
      f"Unknown task {name!r}: neither flowvq_jax.train.tasks.{name} nor {name} can be imported."
    )
  missing = [f for f in REQUIRED if not hasattr(module, f)]
  if not hasattr(module, "loss") and not all(hasattr(module, f) for f in INSTEAD_OF_LOSS):
    missing.append("loss (or compute_grads and eval_metrics)")
  if missing:
    raise ConfigError(f"Task module {module.__name__} lacks {', '.join(missing)}.")
  return module
