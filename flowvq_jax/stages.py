"""The checkpoints layout of a whole FlowVQTalker, and training every stage into it.

A *checkpoints directory* holds one training workdir per stage (each made by
`flowvq_jax.train.trainer.train`, so each resumes by itself):

  DIR/expflow/       configs/expflow.py   ExpFlow (expression, SMM prior)
  DIR/poseflow/      configs/poseflow.py  PoseFlow (head pose)
  DIR/vq_codebook/   configs/vq_codebook.py  stage 1: the face texture codebook
  DIR/vq_query/      configs/vq_query.py  stage 2: the code-query generator (stage1=DIR/vq_codebook)

`flowvq_jax.pipeline.load(DIR)` reads it; `python -m launch.generate --checkpoints DIR` and
`python -m launch.quickstart --workdir DIR` use it.

  specs = stage_specs(DIR, {"expflow": "tiny", "poseflow": "tiny", "vq_codebook": "tiny",
                            "vq_query": "tiny"})
  train_stages(specs)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flowvq_jax.configlib import ConfigError

STAGES = ("expflow", "poseflow", "vq_codebook", "vq_query")
CONFIGS_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclasses.dataclass(frozen=True)
class StageSpec:
  """One stage's run: `configs/<stage>.py:<arg>` with `overrides`, trained into `workdir`."""

  stage: str
  arg: str
  workdir: str
  overrides: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def config_spec(self) -> str:
    return f"{CONFIGS_DIR / (self.stage + '.py')}:{self.arg}"

  def config(self):
    """The resolved ml_collections config of this stage (raises ConfigError on a typo)."""
    from flowvq_jax.train import config_util  # noqa: PLC0415

    c = config_util.load_config(self.config_spec)
    config_util.apply_overrides(c, dict(self.overrides))
    return c


def stage_dir(checkpoints: str, stage: str) -> str:
  """`DIR/<stage>`; raises ValueError for an unknown stage name."""
  if stage not in STAGES:
    raise ValueError(f"Unknown stage {stage!r}; the stages are {', '.join(STAGES)}.")
  return os.path.join(checkpoints, stage)


def stage_specs(
  checkpoints: str,
  args: Mapping[str, str],
  overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[StageSpec]:
  """The four stage runs of a checkpoints directory, in training order.

  Args:
    checkpoints: the checkpoints directory (see the module docstring).
    args: config argument per stage, e.g. `{"expflow": "tiny", ...}`; vq_query's gets
      `stage1=DIR/vq_codebook` appended.
    overrides: per stage, `--config.` overrides such as `{"train.steps": 5}`.
  """
  missing = [s for s in STAGES if s not in args]
  if missing:
    raise ValueError(f"No config argument for stage(s) {', '.join(missing)}.")
  overrides = overrides or {}
  unknown = sorted(set(overrides) - set(STAGES))
  if unknown:
    raise ValueError(f"Overrides for unknown stage(s) {', '.join(unknown)}.")
  specs = []
  for stage in STAGES:
    arg = args[stage]
    if stage == "vq_query":
      arg = f"{arg},stage1={stage_dir(checkpoints, 'vq_codebook')}"
    specs.append(StageSpec(stage, arg, stage_dir(checkpoints, stage), overrides.get(stage, {})))
  return specs


def is_trained(spec: StageSpec) -> bool:
  """Whether `spec.workdir` holds a checkpoint at the config's last step."""
  from flowvq_jax.train import checkpoint  # noqa: PLC0415

  step = checkpoint.latest_step(os.path.join(spec.workdir, "checkpoints"))
  return step is not None and step >= int(spec.config().train.steps)


def train_stages(
  specs: list[StageSpec], log: Callable[[str], None] = print
) -> dict[str, dict[str, Any]]:
  """Trains (or resumes, or skips when finished) every stage in order.

  Every config is resolved first, so a typo stops the run before any training.

  Returns:
    per stage: the trainer's final metrics, or `{"status": "already trained"}`.
  """
  from flowvq_jax.train import trainer  # noqa: PLC0415

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
