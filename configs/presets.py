"""Presets of a whole checkpoints directory: each stage's config argument and overrides.

`PRESETS[name] = ({stage: config argument}, {stage: {"a.b": value}})`, read by
`flowvq_jax.apps.train_all.preset_specs` (`python -m launch.quickstart --preset NAME`):

  synthetic  the configs' own `synthetic` variants on the prepared TFDS datasets, but ExpFlow's
             `synthetic_wide` (emotion in its context, 48 in-memory training identities: the FCG
             targets' measured run, docs/fcg.md); for a GPU.
  fast       18 min 43 s measured on a 2-core CPU (docs/quickstart.md): the flows' `fast` variant
             (mid-sized, trained on any speech performed by the world: the speech corpus's voices
             and the `small` layout's world speech, with a random recording chain), the `tiny` VQ
             stages (32 px) on 96 training identities.
  tiny       every stage's `tiny` config for a few steps (tests).
"""

from __future__ import annotations

from typing import Any

STAGES = ("expflow", "poseflow", "vq_codebook", "vq_query")


def _flow_fast(steps: int) -> dict[str, Any]:
  """The flows' `fast` variant (configs/flow_common.py), logged and checkpointed for a short run."""
  return {
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
      "expflow": "fast",
      "poseflow": "fast",
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
