"""Stage 1, the face-texture codebook: a config -> its autoencoder and PatchGAN; a trained run ->
params and the quantizer's state.

  run = stages.vq_codebook.load("runs/vq1")
  run.config, run.params["ae"], run.extra   # extra: code_counts, vq_stats (EMA codebooks)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

from flowvq_jax import checkpoints
from flowvq_jax.models.vq import autoencoder as ae_lib
from flowvq_jax.models.vq import discriminator as disc_lib

HINT = "python -m launch.train --config configs/vq_codebook.py:... --workdir DIR"


def make_modules(config: ml_collections.ConfigDict):
  """`(VQAutoencoder, PatchDiscriminator)` from `config.model` and `config.discriminator`."""
  return ae_lib.make_autoencoder(config.model), disc_lib.make_discriminator(config.discriminator)


@dataclasses.dataclass(frozen=True)
class CodebookRun:
  """A trained stage 1: resolved config, params `{'ae', 'disc'}` and extra state (numpy)."""

  config: ml_collections.ConfigDict
  params: Any
  extra: Any
  step: int


def load(workdir: str, step: int | None = None, use_ema: bool = False) -> CodebookRun:
  """A stage-1 run (a workdir or its export); `use_ema`: its EMA params (ValueError if none)."""
  config, arrays, step = checkpoints.load_run(workdir, "vq_codebook", HINT, step)
  params = arrays["params"]
  if use_ema:
    if not arrays.get("ema_params"):
      raise ValueError(f"The checkpoint of {workdir} has no EMA params (train.ema_decay was 0).")
    params = arrays["ema_params"]
  return CodebookRun(config=config, params=params, extra=arrays.get("extra") or {}, step=step)
