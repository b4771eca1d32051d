"""The ExpFlow / PoseFlow config, shared by configs/expflow.py and configs/poseflow.py.

`base_config("exp" | "pose", arg)` builds the whole training config of the `flow` task
(`flowvq_jax/train/tasks/flow.py`; model: `flowvq_jax/models/flow`); the variants and arguments
are documented in configs/expflow.py.
"""

from __future__ import annotations

import dataclasses

import ml_collections

from configs import common
from flowvq_jax.core.config import ConfigError, parse_arg
from flowvq_jax.data import augment, clip_layout
from flowvq_jax.models.flow.model import default_config

VARIANTS = {
  "exp": ("tiny", "fast", "synthetic", "synthetic_wide", "paper", "mead", "hdtf", "moglow_size"),
  "pose": ("tiny", "fast", "synthetic", "mead", "hdtf"),
}
PRIORS = ("smm", "gmm", "gaussian")
# The quickstart's layout of world clips (that of synthetic_talking_faces/small: 12 / 2 / 2
# identities, 16 clips of 3 s each), generated in memory without rendering.
SMALL_CLIPS = {"world_seed": 0, "seconds": 3.0, "identities": (12, 2, 2),
               "clips_per_identity": 16, "utterances": (40, 8, 8)}  # fmt: skip
FAST_CORPUS = "speech_corpus/small"


def base_config(kind: str, arg: str | None):
  """The full training config of ExpFlow (`kind='exp'`) or PoseFlow (`kind='pose'`).

  `arg` is `variant[,prior=smm|gmm|gaussian][,dropout=RATE][,emotion_context=true]
  [,intensity_context=true][,prior_only=true][,coupling=mlp|lstm][,performed=true][,corpus=NAME]`
  (see configs/expflow.py).
  """
  arg = parse_arg(
    arg,
    variants=VARIANTS[kind],
    default_variant="synthetic",
    prior="",
    dropout=-1.0,
    emotion_context=False,
    intensity_context=False,
    prior_only=False,
    coupling="",
    performed=False,
    corpus="",
  )
  v = arg.variant
  if arg.prior and arg.prior not in PRIORS:
    raise ConfigError(f"Unknown prior {arg.prior!r}; choose one of: {', '.join(PRIORS)}.")
  if arg.coupling not in ("", "mlp", "lstm"):
    raise ConfigError(f"Unknown coupling {arg.coupling!r}; choose mlp or lstm.")
  if arg.dropout != -1.0 and not 0.0 <= arg.dropout < 1.0:
    raise ConfigError(f"dropout must be in [0, 1), got {arg.dropout}.")
  tiny = v == "tiny"
  wide = v == "synthetic_wide"  # the `synthetic` flow, emotion in context, 48 identities
  fast = v == "fast"
  size = {"tiny": "tiny", "fast": "synthetic", "synthetic": "synthetic",
          "synthetic_wide": "synthetic", "paper": "synthetic",
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
  if fast:
    # Mid-sized (4 steps, width 64): minutes on a 2-core CPU. The emotion, scaled by the
    # intensity, enters the conditioner as well as the prior (`prior_only=true`: the paper's).
    c.model.update(num_steps=4, coupling_hidden=64, lstm_width=64, audio_hidden=16,
                   audio_features=32, audio_level=True)  # fmt: skip
    if kind == "exp" and not arg.prior_only:
      c.model.emotion_in_context = c.model.intensity_in_context = True
  if v == "paper" or arg.coupling == "lstm":
    # MoGlow's coupling: every step its own 2-layer LSTM over (x_a, context); no shared LSTM,
    # the context is the audio features and the previous frames themselves.
    c.model.coupling = "lstm"
    c.model.coupling_depth = 2
    c.model.lstm_layers = 0
  if arg.prior:
    c.model.prior = arg.prior
  if arg.dropout != -1.0:
    c.model.history_dropout = float(arg.dropout)
  if arg.prior_only and (arg.emotion_context or arg.intensity_context):
    raise ConfigError("prior_only=true puts the emotion in the prior only; drop *_context=true.")
  if arg.emotion_context or arg.intensity_context or wide:
    c.model.emotion_in_context = True  # Emotion embedding in the conditioner's context too.
  if arg.intensity_context:
    c.model.intensity_in_context = True  # ... scaled from neutral by the intensity.

  c.data = ml_collections.ConfigDict()
  c.data.coeffs = kind
  c.data.source = "memory" if (tiny or wide) else "tfds"
  c.data.name = {
    "tiny": "synthetic_talking_faces/tiny",
    "fast": "synthetic_talking_faces/small_64",  # unread: performed clips
    "synthetic": "synthetic_talking_faces/small_64",
    "synthetic_wide": "synthetic_talking_faces/small_64",
    "paper": "synthetic_talking_faces/small_64",
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
  c.data.performed = performed_block(arg.corpus or (FAST_CORPUS if fast else ""))
  if fast:
    c.data.memory = ml_collections.ConfigDict(SMALL_CLIPS)
    c.data.performed.seconds = 1.6  # a little over the 32-frame windows: each clip is made anew.
  if arg.performed or arg.corpus or fast:
    if v in ("mead", "hdtf"):
      raise ConfigError(f"performed=true is for the synthetic world's variants, not {v!r}.")
    c.data.source = "performed"
  c.data.unlabelled = v == "hdtf"  # HDTF has no emotion labels: emotion -1, intensity unknown.
  c.data.normalize = True
  c.data.seed = 0
  synth = v in ("synthetic", "synthetic_wide", "paper")
  c.data.window = 16 if tiny else 32 if fast else 48 if synth else 100
  c.data.batch_size = {"tiny": 8, "fast": 8 if kind == "exp" else 16, "moglow_size": 16}.get(
    v, 32 if synth else 64
  )  # fast ExpFlow: twice the steps of half the batch, chosen on the validation voices
  c.data.num_threads = 1 if tiny else 2
  c.data.prefetch = 2 if tiny else 4

  c.optimizer = common.optimizer(
    name="adam",
    lr=3e-3 if tiny else 2e-3 if (fast and kind == "exp") else 1e-3,
    warmup_steps=5 if tiny else 50 if fast else 100,
    end_lr_factor=0.05,
    b1=0.9,
    b2=0.999,
  )
  c.train = common.train(
    steps={
      "tiny": 60, "synthetic": 1500 if kind == "exp" else 800, "synthetic_wide": 1000,
      "paper": 1500, "fast": 1600 if kind == "exp" else 300,
      "moglow_size": 100,
    }.get(v, 100_000),
    log_every=10 if tiny else 100,
    eval_every=30 if tiny else 250,
    ckpt_every=30 if tiny else 250,
    quick=tiny,
  )  # fmt: skip
  c.eval = common.evaluation(num_batches=1 if (tiny or synth) else 8)
  return common.set_mesh(c)


def performed_block(corpus: str = "") -> ml_collections.ConfigDict:
  """`data.performed`: any speech performed by the world when read (`flowvq_jax.data.performed`),
  with a random recording chain (`flowvq_jax.data.augment.Augment`)."""
  return ml_collections.ConfigDict({
    "corpus": corpus,  # e.g. 'speech_corpus/small' in data.data_dir ('' = world speech only)
    "corpus_fraction": 0.5,
    "match_fraction": 0.5,  # world-speech clips whose prosody is the label's
    "clips": 65536,  # per epoch, each made when read
    "eval_clips": 64,
    "seconds": 3.0,
    "augment": dataclasses.asdict(augment.Augment()),
    "augment_eval": True,
    "seed": 0,
  })  # fmt: skip


def ablation_sweep(hyper):
  """The paper's FCG ablation: prior SMM vs GMM x data dropout on (0.4) / off."""
  return hyper.product(
    [
      hyper.sweep("model.prior", ["smm", "gmm"]),
      hyper.sweep("model.history_dropout", [0.4, 0.0]),
    ]
  )
