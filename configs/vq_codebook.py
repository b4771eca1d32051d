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
  synthetic_wide  the `synthetic` model on 1000 in-memory training identities x 2 clips (4 / 48
                  held-out), batch 16 (4 clips x 4 frames), 12000 steps, no discriminator: the
                  recipe of the 1000-identity codebook below (`launch/vq_wide.sh` runs it).
  taming_faceshq  256 px, ch 128, ch_mult (1, 1, 2, 2, 4), 1024 x 256 codebook (taming init),
                  3-layer PatchGAN from step 30001, batch 2, Adam(4.5e-6 * batch, 0.5, 0.9): for
                  comparison with the PyTorch VQGAN reference.

Arguments: `memory=true` (in-memory world clips instead of TFDS), `bf16=true` (bfloat16 compute),
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
    (`synthetic_wide`: `IDS="(1000,4,12)" STAGES=1 launch/vq_wide.sh`, about 6 min of steps):
    PSNR 27.25 dB, SSIM 0.889 on 12 test identities, 60.5% of codes; on 48 test identities
    27.99 dB, SSIM 0.8995, 69% of codes. Still (just) below both targets.
  * those params + 300 steps on a 2-core CPU (`train.init_from`, constant lr 2e-5, 42 min in
    all, 7.3 s per step): on the same 48 test identities PSNR 28.13 dB, SSIM 0.9003, 68.5% of
    codes: the targets are met (by 0.13 dB and 0.0003).
`tiny` trains in about a minute on a 2-core CPU, mostly compilation.
"""

from __future__ import annotations

import ml_collections

from configs import common
from flowvq_jax.core.config import parse_arg
from flowvq_jax.models.vq import autoencoder

VARIANTS = ("tiny", "synthetic", "synthetic_wide", "ffhq_mead", "taming_faceshq")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = parse_arg(arg, variants=VARIANTS, memory=False, bf16=False, lpips="")
  v = arg.variant
  tiny, wide = v == "tiny", v == "synthetic_wide"
  vq = autoencoder.default_config("synthetic" if wide else v)
  c = common.new_config("vq_codebook", image_size=vq.image_size)
  c.model = vq.model
  c.discriminator = vq.discriminator
  c.loss = vq.loss
  dtype = "bfloat16" if arg.bf16 else "float32"
  c.model.dtype = dtype
  c.discriminator.dtype = dtype
  if arg.lpips:
    c.loss.perceptual_weights = arg.lpips

  name = {
    "tiny": "synthetic_talking_faces/tiny",
    "ffhq_mead": "mead/res256",
    "taming_faceshq": "mead/res256",
  }.get(v, "synthetic_talking_faces/small")
  c.data = common.vq_data(v, name, memory=arg.memory)
  c.data.batch_size = {"synthetic_wide": 16, "taming_faceshq": 2}.get(v, 8)
  c.data.frames_per_clip = {"synthetic_wide": 4, "taming_faceshq": 1}.get(v, 2)
  c.data.num_threads = 8 if wide else 2
  c.data.prefetch = 8 if wide else 4

  # taming: base lr 4.5e-6 scaled by the batch size; the shorter runs use a larger one.
  c.optimizer = common.optimizer(
    name="adam",
    lr={"tiny": 2e-3, "synthetic": 2e-4, "synthetic_wide": 2e-4, "ffhq_mead": 1e-4}.get(
      v, 4.5e-6 * c.data.batch_size
    ),
    warmup_steps={"tiny": 5, "ffhq_mead": 2000, "taming_faceshq": 0}.get(v, 300),
    schedule="constant" if v == "taming_faceshq" else "cosine",
    grad_clip_norm=0.0 if v == "taming_faceshq" else 1.0,
    b1=0.5,
    b2=0.9,
    # The discriminator's gradients are zero before loss.disc_start, so Adam leaves it unchanged.
    groups={"disc": {"weight_decay": 0.0}},
  )

  steps = {"tiny": 40, "synthetic": 8000, "synthetic_wide": 12_000, "ffhq_mead": 200_000}
  c.train = common.train(
    steps=steps.get(v, 500_000),
    log_every=10 if tiny else 200,
    eval_every={"tiny": 20, "synthetic_wide": 1500}.get(v, 2000),
    ckpt_every={"tiny": 20, "synthetic_wide": 1500}.get(v, 1000),
    quick=tiny,
    best_mode="max",
    usage_decay=0.99,  # window of the `usage_recent` code count (about 100 steps)
  )
  c.train.summaries_every = c.train.eval_every
  if v == "synthetic":
    c.loss.disc_start = 4000
  if wide:
    c.loss.disc_start = c.train.steps + 1  # no discriminator
  if tiny:
    c.loss.disc_start = 20

  c.eval = common.evaluation(num_batches=2 if tiny else 8)
  return common.set_mesh(c)
