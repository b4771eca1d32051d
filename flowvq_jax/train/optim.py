"""Optimizer and learning-rate schedule from `config.optimizer`.

Fields of `config.optimizer` (see docs/training.md):
  name: 'adamw' | 'adam' | 'sgd'.
  lr: peak learning rate.
  warmup_steps: linear warm-up from 0 to `lr`.
  schedule: 'cosine' | 'linear' | 'constant' (after warm-up; decays to `lr * end_lr_factor`).
  end_lr_factor: final learning rate as a fraction of `lr` (default 0).
  weight_decay: decoupled weight decay (adamw), applied to params with ndim > 1 only.
  grad_clip_norm: clip the global gradient norm (0 or None: off).
  b1, b2, eps: Adam moments; `momentum` for sgd.
  groups: optional {top-level param key: {field: value}} overriding the fields above for that
    param group (e.g. a GAN discriminator with its own lr). Params under other keys use the
    base settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from flowvq_jax.core.config import ConfigError

_NAMES = ("adamw", "adam", "sgd")
_SCHEDULES = ("cosine", "linear", "constant")


def _get(cfg: Mapping[str, Any], key: str, default: Any) -> Any:
  value = cfg.get(key, default)
  return default if value is None else value


def make_schedule(cfg: Mapping[str, Any], total_steps: int) -> optax.Schedule:
  """Warm-up then `cosine` / `linear` / `constant` learning rate; `step -> lr`."""
  lr = float(cfg["lr"])
  warmup = int(_get(cfg, "warmup_steps", 0))
  kind = _get(cfg, "schedule", "cosine")
  if kind not in _SCHEDULES:
    raise ConfigError(f"optimizer.schedule={kind!r}; choose one of: {', '.join(_SCHEDULES)}.")
  end = lr * float(_get(cfg, "end_lr_factor", 0.0))
  decay_steps = max(int(total_steps) - warmup, 1)
  if kind == "cosine":
    decay = optax.cosine_decay_schedule(lr, decay_steps, alpha=end / lr if lr else 0.0)
  elif kind == "linear":
    decay = optax.linear_schedule(lr, end, decay_steps)
  else:
    decay = optax.constant_schedule(lr)
  if warmup <= 0:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), decay], [warmup])


def _decay_mask(params: Any) -> Any:
  return jax.tree.map(lambda p: jnp.ndim(p) > 1, params)


def _make_one(cfg: Mapping[str, Any], total_steps: int):
  name = _get(cfg, "name", "adamw")
  if name not in _NAMES:
    raise ConfigError(f"optimizer.name={name!r}; choose one of: {', '.join(_NAMES)}.")
  sched = make_schedule(cfg, total_steps)
  b1, b2, eps = (
    float(_get(cfg, "b1", 0.9)),
    float(_get(cfg, "b2", 0.999)),
    float(_get(cfg, "eps", 1e-8)),
  )
  wd = float(_get(cfg, "weight_decay", 0.0))
  if name == "adamw":
    tx = optax.adamw(sched, b1=b1, b2=b2, eps=eps, weight_decay=wd, mask=_decay_mask)
  elif name == "adam":
    tx = optax.adam(sched, b1=b1, b2=b2, eps=eps)
  else:
    tx = optax.sgd(sched, momentum=float(_get(cfg, "momentum", 0.0)) or None)
  clip = _get(cfg, "grad_clip_norm", 0.0)
  if clip and float(clip) > 0:
    tx = optax.chain(optax.clip_by_global_norm(float(clip)), tx)
  return tx, sched


def make_optimizer(
  cfg: Mapping[str, Any], total_steps: int
) -> tuple[optax.GradientTransformation, Callable[[Any], Any]]:
  """Builds `(tx, lr_schedule)` from `config.optimizer`.

  With `cfg.groups`, params are partitioned by their top-level key: each named group gets the
  base settings updated by its overrides (`optax.multi_transform`), the rest the base settings.
  The returned schedule is the base group's.
  """
  cfg = dict(cfg)
  groups = dict(cfg.pop("groups", None) or {})
  base_tx, base_sched = _make_one(cfg, total_steps)
  if not groups:
    return base_tx, base_sched
  transforms = {"__base__": base_tx}
  for name, over in groups.items():
    transforms[name] = _make_one({**cfg, **dict(over)}, total_steps)[0]

  def labels(params):
    if not isinstance(params, Mapping):
      raise ConfigError("optimizer.groups needs params that are a dict keyed by group name.")
    missing = [g for g in groups if g not in params]
    if missing:
      raise ConfigError(
        f"optimizer.groups names {missing} but the params' top-level keys are {sorted(params)}."
      )
    return {
      k: jax.tree.map(lambda _, k=k: k if k in groups else "__base__", v) for k, v in params.items()
    }

  return optax.multi_transform(transforms, labels), base_sched
