r"""PoseFlow: the conditional autoregressive Glow over the 6 pose values (3 angles, 3 shifts).

Same task and variants as configs/expflow.py (`tiny`, `synthetic`, `mead`, `hdtf`); the prior
is a single Gaussian (emotion does not direct pose; `prior=smm|gmm` to change it),
`dropout=RATE` sets the data dropout on the history. Results: docs/fcg.md.

Launch:

  python -m launch.train --config configs/poseflow.py:synthetic --workdir runs/poseflow

Measured: see MEASURED below (filled in from the runs in docs/fcg.md).
"""

from __future__ import annotations

from flowvq_jax.train.tasks import flow


def get_config(arg: str | None = None):
  return flow.base_config("pose", arg)


def get_sweep(hyper):
  return flow.ablation_sweep(hyper)
