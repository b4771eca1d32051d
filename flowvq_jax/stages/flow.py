"""ExpFlow / PoseFlow: a config -> its `CoefficientFlow`; a trained run -> model, params, stats.

  run = stages.flow.load("runs/expflow", coeffs="exp")
  run.model, run.params, run.stats   # CoefficientFlow, params, CoeffStats of its training data

`config.data.coeffs` says what the flow models: `'exp'` (ExpFlow, 64 dims) or `'pose'`
(PoseFlow, 6 dims).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

from flowvq_jax import checkpoints
from flowvq_jax.core.config import ConfigError
from flowvq_jax.core.constants import EXP_DIM, POSE_DIM
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.models.flow.model import CoefficientFlow

COEFFS = ("exp", "pose")
HINT = "python -m launch.train --config configs/expflow.py:... (or poseflow.py) --workdir DIR"


def model_of(config: ml_collections.ConfigDict) -> CoefficientFlow:
  """The `CoefficientFlow` of a flow config (checks that it matches `data.coeffs`)."""
  coeffs = config.data.coeffs
  if coeffs not in COEFFS:
    raise ConfigError(f"data.coeffs must be one of {COEFFS}, got {coeffs!r}.")
  model = CoefficientFlow.from_config(config.model)
  want = EXP_DIM if coeffs == "exp" else POSE_DIM
  if model.dim != want:
    raise ConfigError(f"model.dim={model.dim} does not fit data.coeffs={coeffs!r} ({want} dims).")
  return model


@dataclasses.dataclass(frozen=True)
class FlowRun:
  """A trained flow: its resolved config, model, params (numpy), statistics and step."""

  config: ml_collections.ConfigDict
  model: CoefficientFlow
  params: Any
  stats: coeffs_lib.CoeffStats
  step: int


def load(workdir: str, coeffs: str | None = None, step: int | None = None) -> FlowRun:
  """A flow run (a training workdir or its export) with the statistics its training wrote.

  Raises:
    FileNotFoundError: no such run, checkpoint or statistics file (the message says how to make
      it).
    ValueError: the run trained another task, or a flow over other coefficients than `coeffs`.
  """
  config, arrays, step = checkpoints.load_run(workdir, "flow", HINT, step)
  if coeffs is not None and config.data.coeffs != coeffs:
    raise ValueError(
      f"{workdir} trained a flow over {config.data.coeffs!r} coefficients, not {coeffs!r}."
    )
  return FlowRun(
    config=config,
    model=model_of(config),
    params=checkpoints.params_of(config, arrays),
    stats=checkpoints.read_stats(workdir, config),
    step=step,
  )
