"""The ExpFlow / PoseFlow config, shared by configs/expflow.py and configs/poseflow.py.

`base_config("exp" | "pose", arg)` builds the whole training config of the `flow` task
(`flowvq_jax/train/tasks/flow.py`; model: `flowvq_jax/models/flow`); the variants and arguments
are documented in configs/expflow.py.
"""

from __future__ import annotations

import ml_collections

from configs import common
from flowvq_jax.core.config import ConfigError, parse_arg
from flowvq_jax.data import clip_layout
from flowvq_jax.models.flow.model import default_config

VARIANTS = {
  "exp": ("tiny", "synthetic", "synthetic_wide", "mead", "hdtf", "moglow_size"),
  "pose": ("tiny", "synthetic", "mead", "hdtf"),
}
PRIORS = ("smm", "gmm", "gaussian")


def base_config(kind: str, arg: str | None):
  """The full training config of ExpFlow (`kind='exp'`) or PoseFlow (`kind='pose'`).

  `arg` is `variant[,prior=smm|gmm|gaussian][,dropout=RATE][,emotion_context=true]` (see
  configs/expflow.py).
  """
  arg = parse_arg(
    arg,
    variants=VARIANTS[kind],
    default_variant="synthetic",
    prior="",
    dropout=-1.0,
    emotion_context=False,
  )
  v = arg.variant
  if arg.prior and arg.prior not in PRIORS:
    raise ConfigError(f"Unknown prior {arg.prior!r}; choose one of: {', '.join(PRIORS)}.")
  if arg.dropout != -1.0 and not 0.0 <= arg.dropout < 1.0:
    raise ConfigError(f"dropout must be in [0, 1), got {arg.dropout}.")
  tiny = v == "tiny"
  wide = v == "synthetic_wide"  # the `synthetic` flow, emotion in context, 48 identities
  size = {"tiny": "tiny", "synthetic": "synthetic", "synthetic_wide": "synthetic",
          "moglow_size": "moglow"}.get(v, "moglow")  # fmt: skip
  c = common.new_config("flow")
  c.model = default_config(kind, size)
  if v == "moglow_size":
    # MoGlow's conditioning: 5 previous frames + 26 audio frames of 64 features
    # (13 video frames x 2 audio frames x 64 bins). Benchmark-only: the data pipeline
    # gives 4 frames of 80 mel bins per video frame.
    c.model.audio_context = 6
    c.model.mels_per_frame = 2
    c.model.mel_bins = 64
  if arg.prior:
    c.model.prior = arg.prior
  if arg.dropout != -1.0:
    c.model.history_dropout = float(arg.dropout)
  if arg.emotion_context or wide:
    c.model.emotion_in_context = True  # Emotion embedding in the conditioner's context too.

  c.data = ml_collections.ConfigDict()
  c.data.coeffs = kind
  c.data.source = "memory" if (tiny or wide) else "tfds"
  c.data.name = {
    "tiny": "synthetic_talking_faces/tiny",
    "synthetic": "synthetic_talking_faces/small_64",
    "synthetic_wide": "synthetic_talking_faces/small_64",
    "moglow_size": "synthetic_talking_faces/small_64",
    "mead": "mead/res256",
    "hdtf": "hdtf/res256",
  }[v]
  c.data.data_dir = "~/flowvq_data"
  # In-memory world clips: `tiny`'s few short ones; `synthetic_wide`'s are the `small` layout
  # (16 clips of 3 s per identity, held-out utterance pools) with 48 training identities.
  mem = dict(world_seed=0, seconds=1.2, identities=(2, 1, 1), clips_per_identity=8,
             utterances=(4, 2, 2))  # fmt: skip
  if wide:
    small = {k: val for k, val in clip_layout.SIZES["small"].items() if k != "resolution"}
    mem.update(small, identities=(48, 2, 2))
  c.data.memory = ml_collections.ConfigDict(mem)
  c.data.unlabelled = v == "hdtf"  # HDTF has no emotion labels: emotion -1, intensity unknown.
  c.data.normalize = True
  c.data.seed = 0
  synth = v in ("synthetic", "synthetic_wide")
  c.data.window = 16 if tiny else 48 if synth else 100
  c.data.batch_size = {"tiny": 8, "moglow_size": 16}.get(v, 32 if synth else 64)
  c.data.num_threads = 1 if tiny else 2
  c.data.prefetch = 2 if tiny else 4

  c.optimizer = common.optimizer(
    name="adam",
    lr=3e-3 if tiny else 1e-3,
    warmup_steps=5 if tiny else 100,
    end_lr_factor=0.05,
    b1=0.9,
    b2=0.999,
  )
  c.train = common.train(
    steps={
      "tiny": 60, "synthetic": 1500 if kind == "exp" else 800, "synthetic_wide": 1000,
      "moglow_size": 100,
    }.get(v, 100_000),
    log_every=10 if tiny else 100,
    eval_every=30 if tiny else 250,
    ckpt_every=30 if tiny else 250,
    quick=tiny,
  )  # fmt: skip
  c.eval = common.evaluation(num_batches=1 if (tiny or synth) else 8)
  return common.set_mesh(c)


def ablation_sweep(hyper):
  """The paper's FCG ablation: prior SMM vs GMM x data dropout on (0.4) / off."""
  return hyper.product(
    [
      hyper.sweep("model.prior", ["smm", "gmm"]),
      hyper.sweep("model.history_dropout", [0.4, 0.0]),
    ]
  )
