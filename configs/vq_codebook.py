r"""VQ image generator, stage 1: the face-texture codebook (VQGAN autoencoder + PatchGAN).

Task: `flowvq_jax/train/tasks/vq_codebook.py`; model: `flowvq_jax/models/vq` (docs/vq.md); results:
docs/vq_codebook.md.

Variants (`configs/vq_codebook.py:VARIANT[,key=value...]`):

  tiny            32 px, 64 x 16 codebook, frames of a few in-memory world clips; seconds on CPU
                  (tests).
  synthetic       128 px, 1024 x 256 codebook (cosine lookup in 32 dims), 16 x 16 tokens, 3-layer
                  PatchGAN from step 4000, batch 8, 8000 steps; data: synthetic_talking_faces/small
                  (TFDS) or the same clips generated in memory (`memory=true`).
  ffhq_mead       256 px, the paper's setting (1024 x 256 codebook, taming's FacesHQ encoder /
                  decoder with a cosine codebook); data: a user-built dataset (`mead/res256`, see
                  docs/data.md; FFHQ needs its own builder: point data.name / data.data_dir at it).
  taming_faceshq  256 px, ch 128, ch_mult (1, 1, 2, 2, 4), 1024 x 256 codebook (taming init),
                  3-layer PatchGAN from step 30001, batch 2, Adam(4.5e-6 * batch, 0.5, 0.9): for
                  comparison with the PyTorch VQGAN reference.

Arguments: `memory=true` (in-memory world clips instead of TFDS), `bf16=true` (bfloat16 compute),
`ema=true` (EMA codebook with dead-code restarts instead of a gradient-trained one),
`lpips=PATH` (VGG16 + LPIPS .npz; default: the SSIM + gradient fallback perceptual loss).

Launch:

  python -m launch.prepare_data --dataset synthetic_talking_faces/small --data_dir ~/flowvq_data
  python -m launch.train --config configs/vq_codebook.py:synthetic --workdir runs/vq_synth
  python -m launch.evaluate --stage vq --workdir runs/vq_synth --out runs/vq_synth/eval \
      --data_dir ~/flowvq_data
  # without a prepared dataset (the same clips, generated in memory by 16 processes):
  python -m launch.train --config configs/vq_codebook.py:synthetic,memory=true \
      --workdir runs/vq_synth --config.data.memory.workers=16

Measured (one run each, float32; details in docs/vq_codebook.md). Targets: PSNR >= 28 dB,
SSIM >= 0.90, at least half the codes. On the test split (held-out identities):
  * 12 training identities, one H100, stopped at step 2454 of 8000 by a 200 s limit: PSNR
    17.1 dB, SSIM 0.684, 80% of codes. The training identities' colours do not cover new faces.
  * 160 training identities (`launch/vq_wide.sh`: batch 16, 5000 steps, no discriminator), one
    H200, 229 s: PSNR 25.5 dB, SSIM 0.873, 61% of codes (perplexity 227). Still below the
    PSNR and SSIM targets.
  * 1000 training identities x 2 clips, batch 16, 12000 steps, no discriminator, one H100
    (`IDS="(1000,4,12)" CLIPS=2 S1_STEPS=12000 launch/vq_wide.sh`, about 6 min of steps):
    PSNR 27.25 dB, SSIM 0.889 on 12 test identities, 60.5% of codes; on 48 test identities
    27.99 dB, SSIM 0.8995, 69% of codes. Still (just) below both targets.
  * those params + 300 steps on a 2-core CPU (`train.init_from`, constant lr 2e-5, 42 min in
    all, 7.3 s per step): on the same 48 test identities PSNR 28.13 dB, SSIM 0.9003, 68.5% of
    codes: the targets are met (by 0.13 dB and 0.0003).
`tiny` trains in about a minute on a 2-core CPU, mostly compilation.
"""

from __future__ import annotations

import ml_collections

from flowvq_jax.core.config import parse_arg
from flowvq_jax.models.vq import autoencoder

VARIANTS = ("tiny", "synthetic", "ffhq_mead", "taming_faceshq")


def _memory(variant: str) -> ml_collections.ConfigDict:
  """In-memory world clips; `synthetic` equals synthetic_talking_faces/small."""
  if variant == "tiny":
    kw = dict(resolution=32, seconds=0.4, identities=(3, 1, 1), clips_per_identity=4,
              utterances=(4, 2, 2))  # fmt: skip
  else:
    kw = dict(resolution=128, seconds=3.0, identities=(12, 2, 2), clips_per_identity=16,
              utterances=(40, 8, 8))  # fmt: skip
  return ml_collections.ConfigDict(dict(world_seed=0, workers=0, **kw))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = parse_arg(arg, variants=VARIANTS, memory=False, bf16=False, ema=False, lpips="")
  v = arg.variant
  tiny = v == "tiny"
  vq = autoencoder.default_config(v)
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.task = "vq_codebook"
  c.image_size = vq.image_size
  c.model = vq.model
  c.discriminator = vq.discriminator
  c.loss = vq.loss
  dtype = "bfloat16" if arg.bf16 else "float32"
  c.model.dtype = dtype
  c.discriminator.dtype = dtype
  c.model.use_ema = bool(arg.ema)
  if arg.lpips:
    c.loss.perceptual_weights = arg.lpips

  c.data = ml_collections.ConfigDict()
  c.data.source = "memory" if (tiny or arg.memory) else "tfds"
  c.data.name = {
    "tiny": "synthetic_talking_faces/tiny",
    "synthetic": "synthetic_talking_faces/small",
    "ffhq_mead": "mead/res256",
    "taming_faceshq": "mead/res256",
  }[v]
  c.data.data_dir = "~/flowvq_data"
  c.data.memory = _memory(v)
  c.data.batch_size = {"tiny": 8, "synthetic": 8, "ffhq_mead": 8, "taming_faceshq": 2}[v]
  c.data.frames_per_clip = {"tiny": 2, "synthetic": 2, "ffhq_mead": 2, "taming_faceshq": 1}[v]
  c.data.num_threads = 2
  c.data.prefetch = 4

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  # taming: base lr 4.5e-6 scaled by the batch size; the shorter runs use a larger one.
  c.optimizer.lr = {"tiny": 2e-3, "synthetic": 2e-4, "ffhq_mead": 1e-4}.get(
    v, 4.5e-6 * c.data.batch_size
  )
  c.optimizer.warmup_steps = {"tiny": 5, "synthetic": 300, "ffhq_mead": 2000, "taming_faceshq": 0}[
    v
  ]
  c.optimizer.schedule = "constant" if v == "taming_faceshq" else "cosine"
  c.optimizer.end_lr_factor = 0.1
  c.optimizer.weight_decay = 0.0
  c.optimizer.grad_clip_norm = 0.0 if v == "taming_faceshq" else 1.0
  c.optimizer.b1 = 0.5
  c.optimizer.b2 = 0.9
  c.optimizer.eps = 1e-8
  # The discriminator's gradients are zero before loss.disc_start, so Adam leaves it unchanged.
  c.optimizer.groups = ml_collections.ConfigDict({"disc": {"weight_decay": 0.0}})

  c.train = ml_collections.ConfigDict()
  c.train.steps = {"tiny": 40, "synthetic": 8000, "ffhq_mead": 200_000}.get(v, 500_000)
  if v == "synthetic":
    c.loss.disc_start = 4000
  if tiny:
    c.loss.disc_start = 20
  c.train.log_every = 10 if tiny else 200
  c.train.eval_every = 20 if tiny else 2000
  c.train.ckpt_every = 20 if tiny else 1000
  c.train.keep = 2
  c.train.init_from = ""  # warm start: an earlier run or params export (train/warm_start.py)
  c.train.init_items = ("params",)
  c.train.keep_best_metric = ""
  c.train.best_mode = "max"
  c.train.ema_decay = 0.0
  c.train.usage_decay = 0.99  # window of the `usage_recent` code count (about 100 steps)
  c.train.max_nonfinite = 20
  c.train.async_checkpoint = not tiny
  c.train.progress = not tiny
  c.train.summaries_every = c.train.eval_every

  c.eval = ml_collections.ConfigDict()
  c.eval.split = "validation"
  c.eval.num_batches = 2 if tiny else 8
  c.eval.use_ema = False

  c.mesh = ml_collections.ConfigDict({"data": -1, "fsdp": 1})
  c.sharding = ml_collections.ConfigDict()
  c.sharding.params = "replicate"
  c.sharding.min_size = 2**16
  c.sharding.rules = ()
  return c
