"""The stages of FlowVQTalker: each stage's config -> model; a trained run -> params + statistics.

The boundary that inference, evaluation and the trainer's tasks stand on: `stages.flow`,
`stages.vq_codebook` and `stages.vq_query` build each stage's model from its config and load a
trained run (a workdir or its export) with its normalisation statistics, through
`flowvq_jax.checkpoints`; nothing here imports the trainer.

A *checkpoints directory* holds one training workdir per stage (each made by
`launch.train`, so each resumes by itself):

  DIR/expflow/       configs/expflow.py   ExpFlow (expression, SMM prior)
  DIR/poseflow/      configs/poseflow.py  PoseFlow (head pose)
  DIR/vq_codebook/   configs/vq_codebook.py  stage 1: the face texture codebook
  DIR/vq_query/      configs/vq_query.py  stage 2: the code-query generator (stage1=DIR/vq_codebook)

`flowvq_jax.inference.load(DIR)` reads it; `flowvq_jax.apps.train_all` trains every stage into
it, e.g. from a preset of `configs/presets.py` (`preset_specs`); `python -m launch.generate
--checkpoints DIR` and `python -m launch.quickstart --workdir DIR` use it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flowvq_jax.core import config as config_lib

STAGES = ("expflow", "poseflow", "vq_codebook", "vq_query")
CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


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
    c = config_lib.load_config(self.config_spec)
    config_lib.apply_overrides(c, dict(self.overrides))
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


def presets() -> dict[str, tuple[dict[str, str], dict[str, dict[str, Any]]]]:
  """`configs/presets.py`'s PRESETS: name -> (config argument per stage, overrides per stage)."""
  return config_lib.load_module(str(CONFIGS_DIR / "presets.py")).PRESETS


def preset_specs(checkpoints_dir: str, preset: str) -> list[StageSpec]:
  """The four stage runs of a named preset in the checkpoints directory."""
  table = presets()
  if preset not in table:
    raise ValueError(f"Unknown preset {preset!r}; choose one of: {', '.join(table)}.")
  args, overrides = table[preset]
  return stage_specs(checkpoints_dir, args, overrides)
