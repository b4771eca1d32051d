"""Flow-based Coefficient Generator: ExpFlow and PoseFlow training (one task, two configs).

Task module for `flowvq_jax.train.trainer.train` (contract: docs/training.md). The model is
`flowvq_jax.models.flow.model.CoefficientFlow.from_config(config.model)`; `config.data.coeffs` picks
what it models: `'exp'` (ExpFlow, `[B, T, 64]`) or `'pose'` (PoseFlow, `[B, T, 6]`).

Data (`make_data`): grain windows of `data.window` frames cut from clips
(`flowvq_jax.data.pipeline.make_dataset`), normalised with the dataset's train-split statistics
(`data.normalize`), with mel context windows of `+-model.audio_context` frames. Batches are

  x          float32 [B, T, D]            exp or pose, normalised
  mel        float32 [B, T, 2k+1, 4, 80]  log-mel windows
  emotion    int32 [B]                    MEAD index; -1 when `data.unlabelled` (HDTF)
  intensity  float32 [B]                  1..3; -1 (unknown) when `data.unlabelled`
  mask       float32 [B, T]               0 past the end of a short clip

Sources (`data.source`):
  'tfds'    a prepared dataset `data.name` in `data.data_dir` (`launch.prepare_data`), read
            without decoding frames; statistics from the builder.
  'memory'  world clips generated in memory without rendering (`data.memory`: the sizes of a
            `synthetic.SyntheticConfig`), statistics computed over its train split. For tests,
            tiny runs and notebooks.

Process `i` of `n` reads the `i`-th contiguous shard of the clips (grain `ShardOptions`) with
local batches of `batch_size // n`; the train iterator is a grain `DatasetIterator`, so the
trainer checkpoints its position. Evaluation splits are one ordered pass over central windows,
last partial batch dropped (the trainer assembles fixed-size global batches).

Loss: exact NLL in nats per dimension under the clip emotion's prior component, with data
dropout on the history (`model.history_dropout`, training only); metrics: its parts
(`log_prior_per_dim`, `log_det_per_dim`), `nll_bits_per_dim`, `nll_bits_per_frame`.
`init` runs the flow's ActNorm data initialisation on the first global batch.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import grain
import numpy as np

from flowvq_jax.core.config import ConfigError
from flowvq_jax.core.constants import EXP_DIM, MELS_PER_FRAME, POSE_DIM
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import clip_layout, pipeline
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.models.flow.model import CoefficientFlow

SPLITS = ("train", "validation", "test")
_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "eval": "validation"}
COEFFS = ("exp", "pose")


def split_name(split: str) -> str:
  """Canonical split name ('val' -> 'validation')."""
  name = _SPLIT_ALIASES.get(split, split)
  if name not in SPLITS:
    raise ConfigError(f"Unknown split {split!r}; choose one of: {', '.join(SPLITS)} (or 'val').")
  return name


def model_of(config) -> CoefficientFlow:
  """The `CoefficientFlow` of a config (checks that it matches `data.coeffs`)."""
  coeffs = config.data.coeffs
  if coeffs not in COEFFS:
    raise ConfigError(f"data.coeffs must be one of {COEFFS}, got {coeffs!r}.")
  model = CoefficientFlow.from_config(config.model)
  want = EXP_DIM if coeffs == "exp" else POSE_DIM
  if model.dim != want:
    raise ConfigError(f"model.dim={model.dim} does not fit data.coeffs={coeffs!r} ({want} dims).")
  return model


# ------------------------------------------------------------------------------------------------
# Data.


def _memory_key(mem) -> tuple:
  return (
    int(mem.world_seed),
    float(mem.seconds),
    tuple(int(i) for i in mem.identities),
    int(mem.clips_per_identity),
    tuple(int(u) for u in mem.utterances),
  )


@functools.lru_cache(maxsize=4)
def _memory_clips(key: tuple) -> dict[str, list[dict]]:
  """World clips of every split (coefficients and mel, no frames), cached per process."""
  from flowvq_jax.data.builders import synthetic  # noqa: PLC0415

  world_seed, seconds, identities, clips_per_identity, utterances = key
  cfg = synthetic.SyntheticConfig(
    name="memory",
    resolution=64,
    seconds=seconds,
    identities=identities,
    clips_per_identity=clips_per_identity,
    utterances=utterances,
    world_seed=world_seed,
  )
  world = synthetic.make_world(cfg)
  out = {}
  for split, specs in synthetic.clip_specs(cfg).items():
    clips = []
    for s in specs:
      clip = world.sample_clip(
        world.identity(s.identity),
        s.emotion,
        s.intensity,
        seconds,
        s.seed,
        utterance=s.utterance,
        render_frames=False,
      )
      t = clip.exp.shape[0]
      wav = audio_lib.fit_length(np.asarray(clip.audio, np.float32), t)
      clips.append(
        {
          "exp": np.asarray(clip.exp, np.float32),
          "pose": np.asarray(clip.pose, np.float32),
          "audio": wav,
          "mel": audio_lib.log_mel(wav, num_frames=t),
          "emotion": int(clip.emotion),
          "intensity": int(clip.intensity),
          "identity": int(clip.identity),
          "utterance": int(clip.utterance),
          "clip_id": s.clip_id,
        }
      )
    out[split] = clips
  return out


def clip_source(data_cfg, split: str):
  """`(random-access clips of split, CoeffStats of the train split)` for `data_cfg`."""
  split = split_name(split)
  if data_cfg.source == "memory":
    clips = _memory_clips(_memory_key(data_cfg.memory))
    stats = coeffs_lib.compute_stats((c["exp"], c["pose"]) for c in clips["train"])
    return clips[split], stats
  if data_cfg.source == "tfds":
    from flowvq_jax.data import builders  # noqa: PLC0415

    data_dir = os.path.expanduser(data_cfg.data_dir)
    builder = builders.get_builder(data_cfg.name, data_dir)
    if not builder.is_prepared():
      raise ConfigError(
        f"{data_cfg.name} is not prepared in {data_dir}; run `python -m launch.prepare_data "
        f"--dataset {data_cfg.name} --data_dir {data_dir}` (or set data.data_dir)."
      )
    sources = builders.sources(builder, with_frames=False)
    if split not in sources:
      raise ConfigError(f"{data_cfg.name} has no split {split!r} (has {sorted(sources)}).")
    return sources[split], builders.load_stats(builder)
  raise ConfigError(f"data.source must be 'memory' or 'tfds', got {data_cfg.source!r}.")


class _ToBatch(grain.transforms.Map):
  """Pipeline batch -> the flow's inputs (see module docstring)."""

  def __init__(self, coeffs: str, unlabelled: bool):
    self.coeffs = coeffs
    self.unlabelled = unlabelled

  def map(self, b: dict[str, Any]) -> dict[str, np.ndarray]:
    emotion = np.asarray(b["emotion"], np.int32)
    intensity = np.asarray(b["intensity"], np.float32)
    if self.unlabelled:
      emotion = np.full_like(emotion, -1)
      intensity = np.full_like(intensity, -1.0)
    return {
      "x": np.asarray(b[self.coeffs], np.float32),
      "mel": np.asarray(b["mel"], np.float32),
      "emotion": emotion,
      "intensity": intensity,
      "mask": np.asarray(b["mask"], np.float32),
    }


def make_data(config, split: str, *, process_index: int, process_count: int, seed: int):
  """grain iterator of this process's local batches (module docstring)."""
  cfg = config.data
  if cfg.batch_size % process_count:
    raise ConfigError(
      f"data.batch_size={cfg.batch_size} is not divisible by {process_count} processes."
    )
  model = model_of(config)
  if (model.mels_per_frame, model.mel_bins) != (MELS_PER_FRAME, audio_lib.N_MELS):
    raise ConfigError(
      f"The data pipeline gives {MELS_PER_FRAME} mel frames of {audio_lib.N_MELS} "
      f"bins per video frame; model.mels_per_frame={model.mels_per_frame}, "
      f"model.mel_bins={model.mel_bins} cannot be trained on it (a benchmark-only config?)."
    )
  split = split_name(split)
  source, stats = clip_source(cfg, split)
  train = split == "train"
  ds = pipeline.make_dataset(
    source,
    batch_size=cfg.batch_size // process_count,
    window=int(cfg.window),
    mel_context=int(model.audio_context),
    train=train,
    seed=int(cfg.get("seed", 0)) + int(seed),
    stats=stats if cfg.get("normalize", True) else None,
    shard_options=grain.sharding.ShardOptions(
      shard_index=process_index, shard_count=process_count, drop_remainder=True
    ),
    drop_remainder=True,
    num_threads=int(cfg.get("num_threads", 2)),
    prefetch_buffer_size=int(cfg.get("prefetch", 4)),
  )
  ds = ds.map(_ToBatch(cfg.coeffs, bool(cfg.get("unlabelled", False))))
  return iter(ds)


# ------------------------------------------------------------------------------------------------
# Model.


def _inputs(batch):
  return (
    batch["x"],
    batch["mel"],
    batch["emotion"],
    batch["intensity"],
    batch["mask"],
  )


def init(rng, batch, config):
  """Params, with ActNorm initialised from `batch` (the first global batch)."""
  model = model_of(config)
  return model.init({"params": rng}, *_inputs(batch))["params"]


def loss(params, batch, rng, config):
  """NLL in nats per dim (float32 []) with data dropout on the history, and its parts."""
  model = model_of(config)
  m = model.apply({"params": params}, *_inputs(batch), train=True, rngs={"dropout": rng})
  return m["loss"], {k: v for k, v in m.items() if k != "loss"}


def eval_metrics(params, batch, rng, config, *, extra=None):
  """Held-out NLL (no data dropout) and its parts."""
  del rng, extra
  return dict(model_of(config).apply({"params": params}, *_inputs(batch), train=False))


# ------------------------------------------------------------------------------------------------
# Configs (shared by configs/expflow.py and configs/poseflow.py).

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
  import ml_collections  # noqa: PLC0415

  from flowvq_jax.core.config import parse_arg  # noqa: PLC0415
  from flowvq_jax.models.flow.model import default_config  # noqa: PLC0415

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
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = "flow"
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

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  c.optimizer.lr = 3e-3 if tiny else 1e-3
  c.optimizer.warmup_steps = 5 if tiny else 100
  c.optimizer.schedule = "cosine"
  c.optimizer.end_lr_factor = 0.05
  c.optimizer.weight_decay = 0.0
  c.optimizer.grad_clip_norm = 1.0
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.eps = 1e-8
  c.optimizer.groups = ml_collections.ConfigDict()

  c.train = ml_collections.ConfigDict()
  c.train.steps = {
    "tiny": 60, "synthetic": 1500 if kind == "exp" else 800, "synthetic_wide": 1000,
    "moglow_size": 100,
  }.get(v, 100_000)  # fmt: skip
  c.train.log_every = 10 if tiny else 100
  c.train.eval_every = 30 if tiny else 250
  c.train.ckpt_every = 30 if tiny else 250
  c.train.keep = 2
  c.train.init_from = ""  # warm start: an earlier run or params export (train/warm_start.py)
  c.train.init_items = ("params",)
  c.train.keep_best_metric = ""
  c.train.best_mode = "min"
  c.train.ema_decay = 0.0
  c.train.max_nonfinite = 20
  c.train.async_checkpoint = not tiny
  c.train.progress = not tiny
  c.train.summaries_every = 0

  c.eval = ml_collections.ConfigDict()
  c.eval.split = "validation"
  c.eval.num_batches = 1 if (tiny or synth) else 8
  c.eval.use_ema = False

  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})
  c.sharding = ml_collections.ConfigDict()
  c.sharding.params = "replicate"
  c.sharding.min_size = 2**16
  c.sharding.rules = ()
  return c


def ablation_sweep(hyper):
  """The paper's FCG ablation: prior SMM vs GMM x data dropout on (0.4) / off."""
  return hyper.product(
    [
      hyper.sweep("model.prior", ["smm", "gmm"]),
      hyper.sweep("model.history_dropout", [0.4, 0.0]),
    ]
  )
