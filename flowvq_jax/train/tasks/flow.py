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

from typing import Any

import grain
import numpy as np

from flowvq_jax.core.config import ConfigError
from flowvq_jax.core.constants import MELS_PER_FRAME
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import clip_layout, pipeline, sources
from flowvq_jax.stages.flow import model_of

CLIP_FLAGS = {"frames": False, "audio": False, "mel": True}  # what the flows read of a clip


def clip_source(data_cfg, split: str):
  """The clips of `split` with their log-mel, without frames or waveform
  (`flowvq_jax.data.sources`)."""
  return sources.clip_source(data_cfg, split, **CLIP_FLAGS)


def statistics(config):
  """The `CoeffStats` this run normalises with (None when `data.normalize` is false); the trainer
  writes them into the workdir, where inference and evaluation read them."""
  if not config.data.get("normalize", True):
    return None
  return sources.train_stats(config.data, **CLIP_FLAGS)


class ToBatch(grain.transforms.Map):
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
  split = clip_layout.split_name(split)
  source = clip_source(cfg, split)
  train = split == "train"
  ds = pipeline.make_dataset(
    source,
    batch_size=cfg.batch_size // process_count,
    window=int(cfg.window),
    mel_context=int(model.audio_context),
    train=train,
    seed=int(cfg.get("seed", 0)) + int(seed),
    stats=statistics(config),
    shard_options=grain.sharding.ShardOptions(
      shard_index=process_index, shard_count=process_count, drop_remainder=True
    ),
    drop_remainder=True,
    num_threads=int(cfg.get("num_threads", 2)),
    prefetch_buffer_size=int(cfg.get("prefetch", 4)),
  )
  ds = ds.map(ToBatch(cfg.coeffs, bool(cfg.get("unlabelled", False))))
  return iter(ds)


# ------------------------------------------------------------------------------------------------
# Model.


def inputs(batch):
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
  return model.init({"params": rng}, *inputs(batch))["params"]


def loss(params, batch, rng, config):
  """NLL in nats per dim (float32 []) with data dropout on the history, and its parts."""
  model = model_of(config)
  m = model.apply({"params": params}, *inputs(batch), train=True, rngs={"dropout": rng})
  return m["loss"], {k: v for k, v in m.items() if k != "loss"}


def eval_metrics(params, batch, rng, config, *, extra=None):
  """Held-out NLL (no data dropout) and its parts."""
  del rng, extra
  return dict(model_of(config).apply({"params": params}, *inputs(batch), train=False))
