r"""PoseFlow: the conditional autoregressive Glow over the 6 pose values (3 angles, 3 shifts).

Same task and variants as configs/expflow.py (`tiny`, `fast`, `synthetic`, `mead`, `hdtf`); the
prior
is a single Gaussian (emotion does not direct pose; `prior=smm|gmm` to change it),
`dropout=RATE` sets the data dropout on the history. Results: docs/fcg.md.

Launch:

  python -m launch.train --config configs/poseflow.py:synthetic --workdir runs/poseflow

MEASURED (2 shared CPU cores, noisy; docs/fcg.md): `synthetic`, 800 steps in 12 min 44 s (next
to an ExpFlow run): train NLL -0.82 nats/dim, held-out NLL 2.53 nats/dim on the test split (0.88 on
validation at step 250, then rising: it overfits the 192 clips); pose diversity across 5 seeds
1.009 of the data's within-emotion std. Sampling 10 s of pose: 0.027 s after a 6.5 s compile.
"""

from __future__ import annotations

from configs import flow_common


def get_config(arg: str | None = None):
  return flow_common.base_config("pose", arg)


def get_sweep(hyper):
  return flow_common.ablation_sweep(hyper)
