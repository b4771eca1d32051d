r"""VQ image generator, stage 2: code query on the frozen stage-1 codebook.

Task: `flowvq_jax/train/tasks/vq_query.py`; model: `flowvq_jax/models/vq/query.py`
(docs/vq_query.md); results: docs/vq_query_results.md.

Variants (`configs/vq_query.py:VARIANT[,key=value...]`):

  tiny       32 px, 8 x 8 tokens, 13-frame window, 2 x 2-head transformer; pairs from a few
             in-memory world clips; no adversary, no perceptual term (tests, seconds on CPU).
  synthetic  128 px, 16 x 16 tokens, 27-frame window, 4 x 8-head transformer x 256, L1 +
             perceptual (SSIM + gradient fallback or LPIPS) + PatchGAN (the stage-1 critic) from
             step 0, batch 8, 20000 steps; data: synthetic_talking_faces/small (TFDS) or the same
             clips generated in memory (`memory=true`).
  synthetic_wide  the `synthetic` model on 1000 in-memory training identities x 2 clips (4 / 48
             held-out), no adversary, 6000 steps: the recipe of the 1000-identity H100 runs
             below (`launch/vq_wide.sh` runs it; `stage1=` the `synthetic_wide` codebook).
  mead       256 px, the paper's setting (CodeFormer-sized head: 9 x 8 heads x 512); data:
             `mead/res256` (docs/data.md).
  hdtf       the `mead` model on `hdtf/res256`.

Arguments: `stage1=WORKDIR` (the stage-1 run, REQUIRED before training: a
`configs/vq_codebook.py` workdir of the matching size; its latest checkpoint is loaded and kept
frozen), the ablation switches `warp=`, `mapping=`, `mhca=`, `codebook=` (true/false: the paper's
W, phi, MHCA and C), `source_codes=` (true: the query reads the source frame's own stage-1 codes,
with a copy gate on their logits; docs/vq_query.md), `copy_warp=` (true: the copy gate follows
W's flow), `memory=true` (in-memory world clips), `bf16=true`, `lpips=PATH`. The CE weight of
the tokens whose code differs from the source's is `--config.loss.changed_weight` (default 1).
`get_sweep` gives the paper's ablation: full, -W, -phi, -MHCA, -C.

Launch:

  python -m launch.train --config configs/vq_codebook.py:synthetic,memory=true --workdir runs/vq1
  python -m launch.train --config configs/vq_query.py:synthetic,memory=true,stage1=runs/vq1 \
      --workdir runs/vq2
  python -m launch.evaluate --stage query --workdir runs/vq2 --out runs/vq2/eval
  python -m launch.sweep --config configs/vq_query.py:synthetic,memory=true,stage1=runs/vq1 \
      --workdir_root runs/vq2_ablation

Measured (one run each; docs/vq_query_results.md):
  * `tiny` on a shared 2-core CPU, 24 training identities, 400 stage-1 and 600 stage-2 steps:
    held-out code accuracy 0.59, PSNR 15.9 dB / SSIM 0.63. The tiny stage-1 decoder's own
    reconstruction is 16.4 dB / 0.64.
  * `synthetic` on one H200 (`launch/vq_wide.sh`: 160 training identities, no adversary),
    stopped at step 1265 of 2000 by the time limit: held-out SSIM 0.797 (target >= 0.85, not
    met), PSNR 22.7 dB, code accuracy 0.44. Copying the source frame gives 0.808; the stage-1
    reconstruction ceiling is 0.873.
  * `synthetic_wide` on one H100 on the 1000-identity stage 1 (28.13 dB / 0.9003), before
    `source_codes` (`source_codes=false`), stopped at step 3594 of 6000: on 48 held-out
    identities SSIM 0.821 (not met), PSNR 24.50 dB, code accuracy 0.452, M-LMD 5.50; copying
    the source gives 0.799, the stage-1 ceiling 0.900.
  * The same with `source_codes` (the default), all 6000 steps: SSIM 0.8365 at w = 1, 0.8388 at
    w = 0.5 (not met), PSNR 25.20 dB, code accuracy 0.587, M-LMD 4.63.
  * The paper's ablation (full, -W, -phi, -MHCA, -C) at 32 px on a 2-core CPU, `tiny` on the
    quickstart's `--fast` codebook, 2000 steps, 3 seeds (`launch.evaluate --ablation --preset
    fast`), with source codes: every member within 0.5 dB / 0.016 SSIM of the full model
    (held-out SSIM 0.690, code accuracy 0.534, copying the source's codes 0.539); -C has the best
    SSIM (0.706).
`mead` and `hdtf` have not been run. The paper reports SSIM 0.689, M-LMD 1.94 and F-LMD 2.06
on MEAD.
"""

from __future__ import annotations

import ml_collections

from configs import common
from flowvq_jax.core.config import parse_arg
from flowvq_jax.models.vq import query

VARIANTS = ("tiny", "synthetic", "synthetic_wide", "mead", "hdtf")

# The ablation switches of the paper (Table 4): argument name -> config.model field.
SWITCHES = {
  "warp": "use_warp",
  "mapping": "use_mapping",
  "mhca": "use_mhca",
  "codebook": "use_codebook",
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  arg = parse_arg(
    arg, variants=VARIANTS, stage1="", warp=True, mapping=True, mhca=True, codebook=True,
    memory=False, bf16=False, lpips="", source_codes=True, copy_warp=False,
  )  # fmt: skip
  v = arg.variant
  tiny, wide = v == "tiny", v == "synthetic_wide"
  base = query.default_config("synthetic" if wide else v)
  c = common.new_config("vq_query", image_size=base.image_size)
  c.model = base.model
  c.model.stage1_workdir = arg.stage1
  c.model.stage1_step = -1  # -1: the latest checkpoint of the stage-1 run
  c.model.enc_ch_mult = ()  # (): one source-encoder level per level of the stage-1 run
  for name, field in SWITCHES.items():
    c.model[field] = bool(arg[name])
  c.model.source_codes = bool(arg.source_codes)
  c.model.copy_warp = bool(arg.copy_warp)
  c.model.dtype = "bfloat16" if arg.bf16 else "float32"
  c.loss = base.loss
  c.loss.disc_start = 0  # the discriminator's own hinge loss starts here (adv_weight > 0)
  if arg.lpips:
    c.loss.perceptual_weights = arg.lpips
  if tiny:
    c.loss.perceptual_weight = 0.0
    c.loss.adv_weight = 0.0
  if wide:
    c.loss.adv_weight = 0.0  # the wide stage 1 trains no critic

  world = "synthetic_talking_faces/" + ("tiny" if tiny else "small")
  name = {"mead": "mead/res256", "hdtf": "hdtf/res256"}.get(v, world)
  c.data = common.vq_data(v, name, memory=arg.memory)
  c.data.normalize = True
  c.data.batch_size = 4 if tiny else 8
  c.data.frames_per_clip = 2
  c.data.num_threads = 8 if wide else 2
  c.data.prefetch = 8 if wide else 4

  c.optimizer = common.optimizer(
    name="adamw",
    lr={"tiny": 2e-3, "synthetic": 2e-4, "synthetic_wide": 2e-4}.get(v, 1e-4),
    warmup_steps={"tiny": 2, "synthetic": 500, "synthetic_wide": 200}.get(v, 2000),
    b1=0.9,
    b2=0.99,
    # Used only when loss.adv_weight > 0 (the task drops the group otherwise).
    groups={"disc": {"b1": 0.5, "b2": 0.9}},
  )
  steps = {"tiny": 20, "synthetic": 20_000, "synthetic_wide": 6000}.get(v, 200_000)
  c.train = common.train(
    steps=steps,
    log_every=5 if tiny else 200,
    eval_every={"tiny": 10, "synthetic_wide": 1000}.get(v, 2000),
    ckpt_every=10 if tiny else 1000,
    quick=tiny,
    best_mode="max",
  )
  c.train.summaries_every = c.train.eval_every
  c.eval = common.evaluation(num_batches=1 if tiny else 8, fidelity=1.0)
  return common.set_mesh(c)


def get_sweep(hyper):
  """The paper's stage-2 ablation: full, -W, -phi, -MHCA, -C (one switch off at a time)."""
  on = {f"model.{f}": True for f in SWITCHES.values()}
  return [on] + [dict(on, **{f"model.{f}": False}) for f in SWITCHES.values()]
