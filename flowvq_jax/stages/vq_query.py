"""Stage 2, the code-query generator: a config -> its `CodeQueryGenerator`; a trained run ->
generator, params, the frozen stage-1 autoencoder and statistics.

  run = stages.vq_query.load("DIR/vq_query", stage1_workdir="DIR/vq_codebook")
  run.generator, run.params, run.stage1_params, run.stats

A stage-2 config names its frozen stage-1 run in `model.stage1_workdir` (a `configs/vq_codebook.py`
workdir or its export); its autoencoder config comes from that run's `config.json`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import ml_collections

from flowvq_jax import checkpoints
from flowvq_jax.core.config import ConfigError
from flowvq_jax.data import clip_layout
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.models.vq import discriminator as disc_lib
from flowvq_jax.models.vq import query

HINT = "python -m launch.train --config configs/vq_query.py:... --workdir DIR"

# Fields of `config.model` that belong to the task, not to `CodeQuery`.
TASK_MODEL_FIELDS = ("stage1_workdir", "stage1_step")


# ------------------------------------------------------------------------------------------------
# The frozen stage-1 run.


def _stage1_dir(config) -> str:
  wd = str(config.model.get("stage1_workdir") or "")
  if not wd:
    raise ConfigError(
      "model.stage1_workdir is not set: stage 2 needs a trained stage-1 codebook. Train "
      "`python -m launch.train --config configs/vq_codebook.py:... --workdir RUN1` first, then "
      "pass `configs/vq_query.py:VARIANT,stage1=RUN1` (or --config.model.stage1_workdir=RUN1)."
    )
  return os.path.expanduser(wd)


@functools.lru_cache(maxsize=8)
def _stage1_config(workdir: str) -> ml_collections.ConfigDict:
  try:
    cfg = checkpoints.read_config(workdir, "vq_codebook", "configs/vq_codebook.py")
  except (FileNotFoundError, ValueError) as e:
    raise ConfigError(f"model.stage1_workdir: {e}") from None
  if cfg.model.get("use_ema", False):
    raise ConfigError(
      f"The stage-1 run {workdir} uses an EMA codebook (model.use_ema), which lives outside its "
      "params; stage 2 needs a gradient-trained codebook (model.use_ema=false)."
    )
  return cfg


def stage1_config(config) -> ml_collections.ConfigDict:
  """The resolved config of the stage-1 run of `config.model.stage1_workdir` (checked)."""
  return _stage1_config(_stage1_dir(config))


@functools.lru_cache(maxsize=4)
def _stage1_arrays(workdir: str, step: int | None) -> dict[str, Any]:

  try:
    arrays = checkpoints.load_arrays(os.path.join(workdir, "checkpoints"), step)
  except FileNotFoundError as e:
    raise ConfigError(
      f"model.stage1_workdir {workdir}: {e} Train stage 1 there first (configs/vq_codebook.py)."
    ) from None
  return arrays["params"]


def load_stage1(config) -> dict[str, Any]:
  """`{'ae': autoencoder params, 'disc': PatchGAN params}` (numpy) of the stage-1 checkpoint."""
  wd = _stage1_dir(config)
  _stage1_config(wd)
  step = config.model.get("stage1_step")
  return _stage1_arrays(wd, None if step is None or int(step) < 0 else int(step))


def identities_seen_by_stage1(config, split: str = "test") -> list[int]:
  """The identities of `split` (this run's in-memory clips) that the stage-1 run trained on.

  Both stages number in-memory world identities the same way (`clip_layout.split_identities`:
  consecutive train, validation, test blocks), so a stage 1 with more training identities than
  this run's train + validation blocks has seen this run's "held-out" faces, and their scores
  measure reconstruction of trained faces. Empty when either stage reads TFDS splits or the two
  use different world seeds (different faces).
  """
  s1 = stage1_config(config).data
  d = config.data
  if d.source != "memory" or s1.get("source") != "memory":
    return []
  if int(s1.memory.world_seed) != int(d.memory.world_seed):
    return []
  trained = clip_layout.split_identities(s1.memory.identities)["train"]
  held_out = clip_layout.split_identities(d.memory.identities)[clip_layout.split_name(split)]
  return [i for i in held_out if i in trained]


def frozen_stage1(config, arrays: dict[str, Any]) -> dict[str, Any]:
  """The frozen stage-1 autoencoder params of a loaded stage-2 checkpoint (numpy).

  A checkpoint keeps them in `extra['stage1']`; a params export that leaves `extra` out
  (`launch.export --items params`, 53 MB smaller at 128 px) reads them from the stage-1 run of
  `config.model.stage1_workdir` (a workdir or its export) instead.
  """
  if "extra" in arrays:
    return arrays["extra"]["stage1"]
  return load_stage1(config)["ae"]


def generator_config(config, stage1_model=None) -> ml_collections.ConfigDict:
  """The `flowvq_jax.models.vq.query` config (`image_size`, `stage1`, `model`, `loss`) of a task
  config.

  `stage1_model` defaults to the stage-1 run's `model` config.
  """
  if stage1_model is None:
    stage1_model = stage1_config(config).model
  model = {k: v for k, v in config.model.to_dict().items() if k not in TASK_MODEL_FIELDS}
  return ml_collections.ConfigDict(
    {
      "image_size": int(config.image_size),
      "stage1": stage1_model.to_dict() if hasattr(stage1_model, "to_dict") else dict(stage1_model),
      "model": model,
      "loss": config.loss.to_dict(),
    }
  )


def make_generator(config, stage1_model=None) -> query.CodeQueryGenerator:
  try:
    return query.CodeQueryGenerator.from_config(generator_config(config, stage1_model))
  except ValueError as e:
    if isinstance(e, ConfigError):
      raise
    raise ConfigError(f"Bad stage-2 config: {e}") from e


def make_discriminator(config):
  """The stage-1 run's PatchGAN (stage 2's adversary when `loss.adv_weight > 0`)."""
  return disc_lib.make_discriminator(stage1_config(config).discriminator)


@dataclasses.dataclass(frozen=True)
class QueryRun:
  """A trained stage 2: resolved config, generator, params `{'query', 'fusion'}` and the frozen
  stage-1 autoencoder params (numpy), the statistics its coefficients were normalised with, and
  the stage-1 run's config and the step."""

  config: ml_collections.ConfigDict
  generator: query.CodeQueryGenerator
  params: Any
  stage1_params: Any
  stage1_config: ml_collections.ConfigDict
  stats: coeffs_lib.CoeffStats
  step: int


def load(workdir: str, stage1_workdir: str | None = None, step: int | None = None) -> QueryRun:
  """A stage-2 run (a workdir or its export).

  Args:
    workdir: the run.
    stage1_workdir: the stage-1 run to use instead of the path stored at training time (a
      checkpoints directory can be moved or copied: `inference.load` passes the one next to it).
    step: the checkpoint step (default: the latest).
  """
  config, arrays, step = checkpoints.load_run(workdir, "vq_query", HINT, step)
  if stage1_workdir:
    with config.unlocked():
      config.model.stage1_workdir = stage1_workdir
  s1 = stage1_config(config)
  params = checkpoints.params_of(config, arrays)
  return QueryRun(
    config=config,
    generator=make_generator(config, s1.model),
    params={k: params[k] for k in ("query", "fusion")},
    stage1_params=frozen_stage1(config, arrays),
    stage1_config=s1,
    stats=checkpoints.read_stats(workdir, config),
    step=step,
  )
