"""Training every stage of a checkpoints directory (the `flowvq_jax.stages` layout).

  specs = stages.preset_specs("runs/quickstart/checkpoints", "fast")   # configs/presets.py
  train_stages(specs)                                    # resumes; skips finished stages

`launch.quickstart` and the tests train the presets (`tiny`, `fast`, `synthetic`) this way.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from flowvq_jax import checkpoints
from flowvq_jax.core.config import ConfigError
from flowvq_jax.stages import StageSpec
from flowvq_jax.train import trainer


def is_trained(spec: StageSpec) -> bool:
  """Whether `spec.workdir` holds a checkpoint at the config's last step."""
  step = checkpoints.latest_step(os.path.join(spec.workdir, "checkpoints"))
  return step is not None and step >= int(spec.config().train.steps)


def train_stages(
  specs: list[StageSpec], log: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
  """Trains (or resumes, or skips when finished) every stage in order.

  Every config is resolved first, so a typo stops the run before any training.

  Returns:
    per stage: the trainer's final metrics, or `{"status": "already trained"}`.
  """
  configs = {}
  for spec in specs:
    try:
      configs[spec.stage] = spec.config()
    except ConfigError as e:
      raise ConfigError(f"{spec.stage}: {e}") from None
  results = {}
  for spec in specs:
    if is_trained(spec):
      log(f"[{spec.stage}] already trained in {spec.workdir}")
      results[spec.stage] = {"status": "already trained"}
      continue
    log(f"[{spec.stage}] training {spec.config_spec} -> {spec.workdir}")
    results[spec.stage] = trainer.train(configs[spec.stage], spec.workdir)
  return results
