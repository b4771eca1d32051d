"""The checkpoints layout of a whole FlowVQTalker, and training every stage into it.

A *checkpoints directory* holds one training workdir per stage (each made by
`flowvq_jax.train.trainer.train`, so each resumes by itself):

  DIR/expflow/       configs/expflow.py   ExpFlow (expression, SMM prior)
  DIR/poseflow/      configs/poseflow.py  PoseFlow (head pose)
  DIR/vq_codebook/   configs/vq_codebook.py  stage 1: the face texture codebook
  DIR/vq_query/      configs/vq_query.py  stage 2: the code-query generator (stage1=DIR/vq_codebook)

`flowvq_jax.inference.load(DIR)` reads it; `python -m launch.generate --checkpoints DIR` and
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

from flowvq_jax.core.config import ConfigError

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
    from flowvq_jax.core import config as config_lib  # noqa: PLC0415

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


# ------------------------------------------------------------------------------------------------
# Presets: the stage runs of `python -m launch.quickstart` (flowvq_jax/apps/quickstart.py).

# The layout of synthetic_talking_faces/small (12 / 2 / 2 identities, 16 clips of 3 s each),
# generated in memory without rendering (the flows need no frames).
_SMALL_CLIPS = {
  "world_seed": 0,
  "seconds": 3.0,
  "identities": (12, 2, 2),
  "clips_per_identity": 16,
  "utterances": (40, 8, 8),
}


def _flow_fast(steps: int) -> dict[str, Any]:
  """A mid-sized flow (4 steps, width 64) on the `small` clip layout: minutes on a CPU."""
  return {
    "data.source": "memory",
    "data.memory": dict(_SMALL_CLIPS),
    "data.window": 32,
    "data.batch_size": 16,
    "model.num_steps": 4,
    "model.coupling_hidden": 64,
    "model.lstm_width": 64,
    "model.audio_hidden": 16,
    "model.audio_features": 32,
    "optimizer.warmup_steps": 50,
    "train.steps": steps,
    "train.log_every": 50,
    "train.eval_every": steps,
    "train.ckpt_every": max(1, steps // 2),
    "train.progress": False,
  }


def _vq_fast(steps: int, stage1: bool) -> dict[str, Any]:
  """The `tiny` VQ stage (32 px) on 96 training identities (2 clips of 1.2 s each); stage 1 with
  a wider autoencoder (ch 32) and 256 codes, its discriminator from half-way."""
  mem = {"resolution": 32, "seconds": 1.2, "identities": (96, 2, 2), "clips_per_identity": 2,
         "utterances": (16, 4, 4), "world_seed": 0, "workers": 0}  # fmt: skip
  out = {
    "data.memory": mem,
    "train.steps": steps,
    "train.log_every": 100,
    "train.eval_every": steps,
    "train.ckpt_every": max(1, steps // 2),
    "train.summaries_every": 0,
    "train.progress": False,
  }
  if stage1:
    out.update({"model.ch": 32, "model.num_codes": 256, "loss.disc_start": steps // 2})
  return out


def _tiny(steps: int) -> dict[str, Any]:
  return {"train.steps": steps, "train.ckpt_every": steps, "train.eval_every": steps,
          "train.log_every": steps}  # fmt: skip


# name -> (config argument per stage, overrides per stage). `synthetic`: the configs' own
# `synthetic` variants on the prepared TFDS datasets, but ExpFlow's `synthetic_wide` (emotion in
# its context, 48 in-memory training identities: the FCG targets' measured run, docs/fcg.md);
# `fast`: 8 min measured on a shared 2-core CPU (docs/quickstart.md); `tiny`: a few steps (tests).
PRESETS: dict[str, tuple[dict[str, str], dict[str, dict[str, Any]]]] = {
  "synthetic": (
    {
      "expflow": "synthetic_wide",
      "poseflow": "synthetic",
      "vq_codebook": "synthetic",
      "vq_query": "synthetic",
    },
    {},
  ),
  "fast": (
    {
      "expflow": "synthetic,emotion_context=true",
      "poseflow": "synthetic",
      "vq_codebook": "tiny",
      "vq_query": "tiny",
    },
    {
      "expflow": _flow_fast(800),
      "poseflow": _flow_fast(300),
      "vq_codebook": _vq_fast(1500, stage1=True),
      "vq_query": _vq_fast(1500, stage1=False),
    },
  ),
  "tiny": ({s: "tiny" for s in STAGES}, {s: _tiny(4) for s in STAGES}),
}


def preset_specs(checkpoints: str, preset: str) -> list[StageSpec]:
  """The four stage runs of a named preset (`PRESETS`) in the checkpoints directory."""
  if preset not in PRESETS:
    raise ValueError(f"Unknown preset {preset!r}; choose one of: {', '.join(PRESETS)}.")
  args, overrides = PRESETS[preset]
  return stage_specs(checkpoints, args, overrides)
