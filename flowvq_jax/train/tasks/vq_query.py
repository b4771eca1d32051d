"""VQ image generator, stage 2: the code-query renderer on a FROZEN stage-1 codebook.

Task module for `flowvq_jax.train.trainer.train` (contract: docs/training.md); model:
`flowvq_jax.models.vq.query` (docs/vq_query.md).

Frozen stage 1. `init` reads the latest (or `model.stage1_step`) checkpoint of the stage-1 run in
`model.stage1_workdir` (a `configs/vq_codebook.py` workdir) with
`flowvq_jax.train.checkpoints.load_arrays`, and the autoencoder's model config from that run's
`config.json`. The autoencoder params are kept in `extra['stage1']`: outside the optimizer, copied
unchanged by every step (`compute_grads` returns them as they came) and saved with each checkpoint,
so a stage-2 run holds the exact codebook and decoder it was trained on.

Params are `{'query', 'fusion'}` (`CodeQueryGenerator.init`) and, when `loss.adv_weight > 0`,
`'disc'`: the stage-1 PatchGAN's params, as the stage-1 run left them, trained on as the
adversary (hinge loss from `loss.disc_start`, its own optimizer group `optimizer.groups['disc']`).
The generator's adversarial term is on from step 0 (the stage-1 critic is already trained).

Data: `(source, target)` frame pairs of the same clip, with the target's coefficient windows:

  source  float32 [B, S, S, 3] in [-1, 1]   a random frame of the clip (train) / its first frame
  target  float32 [B, S, S, 3] in [-1, 1]   random frames (train) / `eval_targets` (eval)
  exp     float32 [B, 2k+1, 64]             frames t-k..t+k of the target, edge-padded at the
  pose    float32 [B, 2k+1, 6]              clip ends, normalised with the train-split statistics
  landmarks float32 [B, 68, 2]              the target's landmarks (pixels at S px)
  jaw     float32 [B]                       the target's jaw_open (raw)
  identity int32 [B]

from `synthetic_talking_faces` (TFDS, `data.source='tfds'`) or the same clips generated in memory
(`data.source='memory'`, the layout of `flowvq_jax.data.clip_layout`). A clip gives
`data.frames_per_clip` examples; process `i` of `n` reads local batches `k*n + i` (grain,
checkpointable), so global batch `k` is the same for any process count.

Training goes through `compute_grads` and evaluation through `eval_metrics`, which take the frozen
stage 1 from `extra`.
"""

from __future__ import annotations

from typing import Any

import dm_pix
import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from flowvq_jax.data import clip_layout, sources, transforms
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.models.vq import objective, query_loss
from flowvq_jax.models.vq.renderer import coefficient_windows
from flowvq_jax.stages.vq_query import (
  load_stage1,
  make_discriminator,
  make_generator,
)
from flowvq_jax.train import optim
from flowvq_jax.train.tasks import vq_codebook
from flowvq_jax.world.tables import JAW


def adversarial(config) -> bool:
  return float(config.loss.adv_weight) > 0


# ------------------------------------------------------------------------------------------------
# Data.


def clip_source(data_cfg, split: str):
  """The clips of `split` with frames, without audio (`flowvq_jax.data.sources`)."""
  return sources.clip_source(data_cfg, split, audio=False)


def statistics(config):
  """The `CoeffStats` this run normalises with (None when `data.normalize` is false); the trainer
  writes them into the workdir, where inference and evaluation read them."""
  return sources.train_stats(config.data) if config.data.get("normalize", True) else None


def clip_windows(clip, stats: coeffs_lib.CoeffStats | None, k: int):
  """Normalised, edge-padded windows `(exp [T, 2k+1, 64], pose [T, 2k+1, 6])` of a clip."""
  exp, pose = np.asarray(clip["exp"], np.float32), np.asarray(clip["pose"], np.float32)
  if stats is not None:
    exp, pose = coeffs_lib.normalize(exp, pose, stats)
  return coefficient_windows(exp, k), coefficient_windows(pose, k)


def eval_targets(num_frames: int, n: int) -> np.ndarray:
  """The `n` evaluation targets of a clip whose frame 0 is the source: int64 [n], the centres of
  `n` equal segments of frames 1..T-1.

  A stratified sample of the frames `launch.evaluate --stage query` scores (all but the source),
  so validation and test measure the same thing. Spacing them from frame 0 (as before) made, at
  the `synthetic` 2 targets per clip, frame 0 (the source itself) and frame T-1 the targets.
  """
  if num_frames < 2:
    return np.zeros((n,), np.int64)
  return 1 + ((num_frames - 1) * (2 * np.arange(n, dtype=np.int64) + 1)) // (2 * n)


class PickPairs(grain.transforms.RandomMap):
  """A clip -> `n` (source, target, coefficient windows) examples at `size` px."""

  def __init__(self, n: int, size: int, window: int, stats, random: bool):
    self.n, self.size, self.window = int(n), int(size), int(window)
    self.stats, self.random = stats, bool(random)

  def random_map(self, clip: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    frames = np.asarray(clip["frames"])
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
      raise ValueError(f"Clip frames must be uint8 [T, H, W, 3]; got shape {frames.shape}.")
    t = frames.shape[0]
    if self.random:
      tgt = np.sort(rng.choice(t, self.n, replace=t < self.n))
      src = rng.integers(0, t, self.n)
    else:
      tgt = eval_targets(t, self.n)
      src = np.zeros((self.n,), np.int64)
    exp_w, pose_w = clip_windows(clip, self.stats, self.window)
    scale = self.size / frames.shape[2]
    resize = lambda idx: transforms.resize_frames(frames[idx].astype(np.uint8), self.size)
    to_float = lambda idx: resize(idx).astype(np.float32)
    return {
      "source": to_float(src) / 127.5 - 1.0,
      "target": to_float(tgt) / 127.5 - 1.0,
      "exp": exp_w[tgt],
      "pose": pose_w[tgt],
      "landmarks": np.asarray(clip["landmarks"], np.float32)[tgt] * scale,
      "jaw": np.asarray(clip["exp"], np.float32)[tgt, JAW],
      "identity": np.full((self.n,), int(clip["identity"]), np.int32),
    }


def make_data(config, split: str, *, process_index: int, process_count: int, seed: int):
  """grain iterator of this process's batches (module doc); `train` is infinite."""
  cfg = config.data
  local, k = vq_codebook.local_batch_layout(cfg, process_count)
  source, stats = clip_source(cfg, split), statistics(config)
  train = clip_layout.split_name(split) == "train"
  pick = PickPairs(k, int(config.image_size), int(config.model.window), stats, random=train)
  return vq_codebook.clip_batches(
    source, pick, cfg, split, local, k,
    process_index=process_index, process_count=process_count, seed=seed,
  )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Model, losses, optimizer.


def make_optimizer(config, total_steps: int):
  """The shared optimizer; the `disc` group exists only with the adversary (`loss.adv_weight`)."""
  cfg = config.optimizer.to_dict()
  groups = dict(cfg.get("groups") or {})
  if not adversarial(config):
    groups.pop("disc", None)
  cfg["groups"] = groups
  return optim.make_optimizer(cfg, total_steps)


def init(rng, batch, config):
  """`(params, extra)`: fresh `{'query', 'fusion'}` (+ the stage-1 `disc`), frozen stage 1."""
  gen = make_generator(config)
  stage1 = load_stage1(config)
  ae_params = jax.tree.map(jnp.asarray, stage1["ae"])
  params = gen.init(rng, ae_params, batch_size=1)
  if adversarial(config):
    params["disc"] = jax.tree.map(jnp.asarray, stage1["disc"])
  return params, {"stage1": ae_params}


def _query_loss(config, gen, params, stage1_params, batch, rng):
  disc = make_discriminator(config) if adversarial(config) else None
  return query_loss.query_loss(
    gen, vq_codebook.perceptual_fn(config), config.loss, params, stage1_params,
    {k: batch[k] for k in ("source", "target", "exp", "pose")}, rng,
    disc=disc, disc_params=params.get("disc"),
  )  # fmt: skip


def compute_grads(params, extra, batch, rng, config, step=None):
  """Grads of `query_loss` for `{'query', 'fusion'}` (+ the discriminator's hinge loss).

  `extra['stage1']` is returned unchanged: stage 1 never trains.
  """
  gen = make_generator(config)
  stage1_params = extra["stage1"]
  gen_keys = ("query", "fusion")

  def g_fn(p):
    full = dict(p, **({"disc": params["disc"]} if "disc" in params else {}))
    return _query_loss(config, gen, full, stage1_params, batch, rng)

  (g_loss, aux), g_grads = jax.value_and_grad(g_fn, has_aux=True)({k: params[k] for k in gen_keys})
  metrics = {("g_total" if k == "loss" else k): v for k, v in aux["metrics"].items()}
  grads = dict(g_grads)
  total = g_loss
  if "disc" in params:
    disc = make_discriminator(config)
    step = jnp.zeros((), jnp.int32) if step is None else jnp.asarray(step, jnp.int32)
    d_cfg = ml_collections.ConfigDict(
      {"disc_factor": 1.0, "disc_start": int(config.loss.get("disc_start", 0))}
    )

    def d_fn(dp):
      return objective.discriminator_loss(disc, d_cfg, dp, batch["target"], aux["image"], step)

    (d_loss, d_metrics), d_grads = jax.value_and_grad(d_fn, has_aux=True)(params["disc"])
    grads["disc"] = d_grads
    metrics.update(d_metrics)
    metrics["d_total"] = d_loss
    total = total + d_loss
  return grads, extra, total, metrics


def render(params, extra, batch, config, fidelity: float | None = None):
  """Generator outputs on a batch, argmax codes (`mode='hard'`), image clipped to [-1, 1]."""
  gen = make_generator(config)
  w = float(config.eval.get("fidelity", 1.0) if fidelity is None else fidelity)
  out = gen.apply(
    {k: params[k] for k in ("query", "fusion")}, extra["stage1"], batch["source"], batch["exp"],
    batch["pose"], fidelity=w, mode="hard",
  )  # fmt: skip
  out["image"] = jnp.clip(out["image"], -1.0, 1.0)
  return gen, out


def eval_metrics(params, batch, rng, config, *, extra=None):
  """Code accuracy (vs the stage-1 codes of the target; `code_accuracy_changed`: on the batch's
  tokens whose target code differs from the source's), L1, PSNR, SSIM of the rendering."""
  del rng
  gen, out = render(params, extra, batch, config)
  codes = query_loss.target_indices(gen, extra["stage1"], batch["target"])
  changed = query_loss.changed_tokens(gen, extra["stage1"], out, batch["source"], codes)
  correct = out["indices"] == codes
  x, y = (batch["target"] + 1.0) / 2.0, (out["image"] + 1.0) / 2.0
  return {
    "code_accuracy": jnp.mean(correct.astype(jnp.float32)),
    "code_accuracy_changed": jnp.sum(correct & changed) / jnp.maximum(jnp.sum(changed), 1),
    "l1": jnp.mean(jnp.abs(out["image"] - batch["target"])),
    "psnr": jnp.mean(dm_pix.psnr(x, y)),
    "ssim": jnp.mean(dm_pix.ssim(x, y)),
  }


def comparison_grid(source, target, image, n: int = 8):
  """Rows source | target | rendered for `n` examples: float [1, 3S, n*S, 3] in [0, 1]."""
  rows = [jnp.concatenate(list(r[:n]), axis=1) for r in (source, target, image)]
  return jnp.clip((jnp.concatenate(rows, axis=0)[None] + 1.0) / 2.0, 0.0, 1.0)


def summaries(params, batch, config, *, extra=None):
  """`{'source_target_rendered': [1, 3S, 8S, 3]}`."""
  b = {k: batch[k][:8] for k in ("source", "target", "exp", "pose")}
  _, out = render(params, extra, b, config)
  return {"source_target_rendered": comparison_grid(b["source"], b["target"], out["image"])}
