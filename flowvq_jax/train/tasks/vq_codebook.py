"""VQ image generator, stage 1: the face-texture codebook (VQGAN autoencoder + PatchGAN).

Task module for `flowvq_jax.train.trainer.train` (contract: docs/training.md). Params are
`{'ae': autoencoder params, 'disc': discriminator params}`, two optimizer groups
(`config.optimizer.groups['disc']`). `extra` holds

  step         int32 []: the number of applied updates. The discriminator start uses the
               trainer's update index when the trainer passes `step=` to `compute_grads` (it does
               since the contract allows it) and this counter otherwise; the two differ only by
               skipped (non-finite) steps.
  code_counts  float32 [K]: per-code assignment counts, decayed by `train_usage_decay` per step;
               `usage_recent` is the fraction of codes with a count >= 0.5 (used about once
               within the last ~1 / (1 - decay) steps).
  vq_stats     the quantizer's EMA codebook collection (only with `model.use_ema`).

Data: single frames `{'image': float32 [B, S, S, 3] in [-1, 1], 'landmarks': [B, 68, 2] (pixels at
S px), 'jaw': [B] (jaw_open of the frame), 'identity': [B] int32}` from the clips of
`synthetic_talking_faces` (TFDS, `data.source='tfds'`) or of the world generated in memory
(`data.source='memory'`: the same clips the TFDS builder writes for the same sizes, without disk;
for tests, tiny runs and machines without TFDS). The train iterator shuffles clips, takes
`data.frames_per_clip` random frames of each and batches them; it is a grain `DatasetIterator`
(checkpointable). Process `i` of `n` reads local batches `k*n + i`, so global batch `k` is the
same for any process count. Other splits read `frames_per_clip` evenly spaced frames of each clip,
in order, once.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import dm_pix
import grain
import jax
import jax.numpy as jnp
import numpy as np

from flowvq_jax.core.config import ConfigError
from flowvq_jax.data import clip_layout, sources, transforms
from flowvq_jax.models.vq import objective, perceptual
from flowvq_jax.models.vq import quantizer as quant_lib
from flowvq_jax.stages.vq_codebook import make_modules
from flowvq_jax.world.tables import JAW

log = logging.getLogger(__name__)

# ------------------------------------------------------------------------------------------------
# Data.


def clip_source(cfg: Any, split: str):
  """The clips of `split` with frames, without audio (`flowvq_jax.data.sources`)."""
  return sources.clip_source(cfg, split, audio=False)


class PickFrames(grain.transforms.RandomMap):
  """A clip -> `k` of its frames, random (train) or evenly spaced (eval), at `size` px."""

  def __init__(self, k: int, size: int, random: bool):
    self.k, self.size, self.random = int(k), int(size), bool(random)

  def _pick(self, t: int, rng: np.random.Generator | None) -> np.ndarray:
    if self.random:
      return np.sort(rng.choice(t, self.k, replace=t < self.k))
    return np.round(np.linspace(0, t - 1, self.k)).astype(np.int64)

  def random_map(self, clip: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    frames = np.asarray(clip["frames"])
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1] == 0:
      raise ValueError(f"Clip frames must be uint8 [T, H, W, 3]; got shape {frames.shape}.")
    idx = self._pick(frames.shape[0], rng)
    scale = self.size / frames.shape[2]
    img = transforms.resize_frames(frames[idx].astype(np.uint8), self.size)
    return {
      "image": img.astype(np.float32) / 127.5 - 1.0,
      "landmarks": np.asarray(clip["landmarks"], np.float32)[idx] * scale,
      "jaw": np.asarray(clip["exp"], np.float32)[idx, JAW],
      "identity": np.full((self.k,), int(clip["identity"]), np.int32),
    }


def _flatten(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """[n_clips, k, ...] -> [n_clips * k, ...]."""
  return {key: v.reshape((-1,) + v.shape[2:]) for key, v in batch.items()}


def local_batch_layout(cfg, process_count: int) -> tuple[int, int]:
  """`(per-process batch, frames per clip)` of `data` config `cfg`, with clear errors."""
  b, k = int(cfg.batch_size), int(cfg.frames_per_clip)
  if b % process_count:
    raise ConfigError(f"data.batch_size={b} is not divisible by {process_count} processes.")
  local = b // process_count
  if k < 1 or local % k:
    raise ConfigError(
      f"data.frames_per_clip={k} must divide the per-process batch {local} "
      f"(data.batch_size {b} / {process_count} processes)."
    )
  return local, k


def clip_batches(
  source,
  pick,
  cfg,
  split: str,
  local: int,
  k: int,
  *,
  process_index: int,
  process_count: int,
  seed: int,
):
  """grain iterator of this process's batches of `k` examples per clip picked by `pick`.

  Clips are shuffled and repeated for `train` (infinite), read in order otherwise; global batch
  `j` is the same for any process count (process `i` takes local batches `j*n + i`).
  """  # fmt: skip
  if len(source) == 0:
    raise ValueError(f"The {split} split of the data source is empty.")
  ds = grain.MapDataset.source(source).seed(seed)
  if clip_layout.split_name(split) == "train":
    ds = ds.shuffle().repeat()
  ds = ds.random_map(pick)
  ds = ds.batch(local // k, drop_remainder=True)[process_index::process_count].map(_flatten)
  opts = grain.ReadOptions(
    num_threads=int(cfg.get("num_threads", 2)), prefetch_buffer_size=int(cfg.get("prefetch", 4))
  )
  return iter(ds.to_iter_dataset(opts))


def make_data(config, split: str, *, process_index: int, process_count: int, seed: int):
  """grain iterator of this process's batches (see module doc); `train` is infinite."""
  local, k = local_batch_layout(config.data, process_count)
  pick = PickFrames(k, int(config.image_size), random=clip_layout.split_name(split) == "train")
  return clip_batches(
    clip_source(config.data, split), pick, config.data, split, local, k,
    process_index=process_index, process_count=process_count, seed=seed,
  )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Model.


@functools.lru_cache(maxsize=4)
def _perceptual(weights: str):
  return perceptual.make_perceptual_loss(weights or None)


def perceptual_fn(config):
  return _perceptual(str(config.loss.get("perceptual_weights") or ""))[0]


def init(rng, batch, config):
  """`({'ae', 'disc'}, extra)` for a global batch `{'image': [B, S, S, 3]}`."""
  model, disc = make_modules(config)
  images = batch["image"]
  r_ae, r_disc = jax.random.split(rng)
  variables = model.init({"params": r_ae}, images, train=False)
  params = {"ae": variables["params"], "disc": disc.init(r_disc, images)["params"]}
  extra = {
    "step": jnp.zeros((), jnp.int32),
    "code_counts": jnp.zeros((int(config.model.num_codes),), jnp.float32),
  }
  if config.model.use_ema:
    extra["vq_stats"] = variables["vq_stats"]
  return params, extra


def critic_starts(config) -> bool:
  """Whether the critic trains in this run: `loss.disc_start < train.steps` (updates 0..steps-1).

  When it does not (e.g. `launch/vq_wide.sh`, which sets `disc_start = steps + 1`), the train step
  leaves the critic out of its graph: same params and losses, less compute (objective.py).
  """
  return int(config.loss.disc_start) < int(config.train.steps)


def _gen_loss(config, ae_params, disc_params, images, step, vq_stats, rng, train, critic=True):
  model, disc = make_modules(config)
  return objective.generator_loss(
    model, disc, perceptual_fn(config), config.loss, ae_params, disc_params, images, step,
    vq_stats=vq_stats, rng=rng, train=train, critic=critic,
  )  # fmt: skip


def compute_grads(params, extra, batch, rng, config, step=None):
  """Generator grads of the VQGAN loss and discriminator grads of the hinge loss, one step.

  `step` is the trainer's update index (int32 []); without it `extra['step']` is used. In a run
  whose critic never starts (`critic_starts`), the discriminator is not run: its grads are zeros
  (as they are before `loss.disc_start` anyway) and its metrics read 0.
  """
  model, disc = make_modules(config)
  images = batch["image"]
  step = extra["step"] if step is None else jnp.asarray(step, jnp.int32)
  vq_stats = extra.get("vq_stats")
  critic = critic_starts(config)

  def g_fn(ae_params):
    return _gen_loss(config, ae_params, params["disc"], images, step, vq_stats, rng, True, critic)

  (g_loss, aux), g_grads = jax.value_and_grad(g_fn, has_aux=True)(params["ae"])

  def d_fn(disc_params):
    return objective.discriminator_loss(
      disc, config.loss, disc_params, images, aux["recon"], step, critic=critic
    )

  (d_loss, d_metrics), d_grads = jax.value_and_grad(d_fn, has_aux=True)(params["disc"])
  decay = float(config.train.get("usage_decay", 0.99))
  counts = decay * extra["code_counts"] + aux["counts"].astype(jnp.float32)
  new_extra = {"step": extra["step"] + 1, "code_counts": counts}
  if vq_stats is not None:
    new_extra["vq_stats"] = aux["vq_stats"]
  metrics = {("g_total" if k == "loss" else k): v for k, v in aux["metrics"].items()}
  metrics.update(d_metrics)
  metrics["d_total"] = d_loss
  metrics["usage_recent"] = jnp.mean((counts >= 0.5).astype(jnp.float32))
  del model
  return {"ae": g_grads, "disc": d_grads}, new_extra, g_loss + d_loss, metrics


def reconstruct(params, extra, images, config):
  """`(recon [B, S, S, 3] float32 in [-1, 1] (clipped), quantizer aux)` without EMA updates."""
  model, _ = make_modules(config)
  variables = {"params": params["ae"]}
  if extra is not None and "vq_stats" in extra:
    variables["vq_stats"] = extra["vq_stats"]
  recon, aux = model.apply(variables, images, train=False)
  return jnp.clip(recon.astype(jnp.float32), -1.0, 1.0), aux


def image_metrics(recon, images):
  """Per-image L1, PSNR (dB) and SSIM (dm-pix, images mapped to [0, 1]); each `[B]`."""
  x, y = (images + 1.0) / 2.0, (recon + 1.0) / 2.0
  return {
    "l1": jnp.mean(jnp.abs(recon - images), axis=(1, 2, 3)),
    "psnr": dm_pix.psnr(x, y),
    "ssim": dm_pix.ssim(x, y),
  }


def eval_metrics(params, batch, rng, config, *, extra=None):
  """L1, PSNR, SSIM of reconstructions; codebook usage and perplexity of the batch."""
  del rng
  recon, aux = reconstruct(params, extra, batch["image"], config)
  out = {k: jnp.mean(v) for k, v in image_metrics(recon, batch["image"]).items()}
  out["usage"] = aux["usage"]
  out["perplexity"] = aux["perplexity"]
  if extra is not None and "code_counts" in extra:
    out["usage_recent_train"], _ = quant_lib.codebook_usage(
      jnp.where(extra["code_counts"] >= 0.5, extra["code_counts"], 0.0)
    )
  return out


def comparison_grid(images, recon, n: int = 8):
  """One image: `n` inputs above their reconstructions, float [1, 2S, n*S, 3] in [0, 1]."""
  x, y = images[:n], recon[:n]
  rows = [jnp.concatenate(list(r), axis=1) for r in (x, y)]  # [S, n*S, 3] each
  return jnp.clip((jnp.concatenate(rows, axis=0)[None] + 1.0) / 2.0, 0.0, 1.0)


def summaries(params, batch, config, *, extra=None):
  """`{'reconstruction': [1, 2S, 8S, 3]}`: inputs (top row) above reconstructions."""
  recon, _ = reconstruct(params, extra, batch["image"][:8], config)
  return {"reconstruction": comparison_grid(batch["image"][:8], recon)}
