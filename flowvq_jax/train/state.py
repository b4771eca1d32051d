"""The train state: one pytree with everything a resumed run needs (besides the data state)."""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training.

  Attributes:
    step: int32 [], number of updates applied (skipped non-finite steps count too).
    params: trainable parameters (float32 pytree).
    opt_state: optax state for `params`.
    ema_params: exponential moving average of `params`, or None when `train.ema_decay` is 0.
    extra: non-trainable task state (e.g. codebook EMA statistics), `{}` if unused.
    rng: uint32 [2], the training key; step `s` uses `fold_in(rng, s)`.
    nonfinite: int32 [], consecutive steps skipped because loss or grads were not finite.
    skipped: int32 [], total skipped steps.
  """

  step: jax.Array
  params: Any
  opt_state: Any
  ema_params: Any
  extra: Any
  rng: jax.Array
  nonfinite: jax.Array
  skipped: jax.Array


def create(params: Any, extra: Any, tx, rng: jax.Array, ema: bool) -> TrainState:
  """Fresh state at step 0 (traceable: run it under `jax.eval_shape` / `jax.jit`)."""
  return TrainState(
    step=jnp.zeros((), jnp.int32),
    params=params,
    opt_state=tx.init(params),
    ema_params=jax.tree.map(jnp.copy, params) if ema else None,
    extra={} if extra is None else extra,
    rng=rng,
    nonfinite=jnp.zeros((), jnp.int32),
    skipped=jnp.zeros((), jnp.int32),
  )


def as_dict(state: TrainState) -> dict[str, Any]:
  """The checkpointed form (a plain dict; None EMA stored as an empty dict)."""
  d = flax.serialization.to_state_dict(state)
  if d.get("ema_params") is None:
    d["ema_params"] = {}
  return d


def from_dict(template: TrainState, d: dict[str, Any]) -> TrainState:
  d = dict(d)
  if template.ema_params is None:
    d["ema_params"] = None
  return flax.serialization.from_state_dict(template, d)
