"""ExpFlow / PoseFlow task: tiny configs train through the generic trainer; config errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from configs import expflow, poseflow
from flowvq_jax.core.config import ConfigError
from flowvq_jax.train import trainer
from flowvq_jax.train.tasks import flow as task

pytestmark = pytest.mark.usefixtures("fast_compiles")


def _losses(workdir):
  out = {}
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    for line in f:
      d = json.loads(line)
      if "train/loss" in d:
        out[d["step"]] = d["train/loss"]
  return out


@pytest.mark.parametrize("module", [expflow, poseflow], ids=["expflow", "poseflow"])
def test_tiny_config_trains_with_falling_nll(module, tmp_path):
  config = module.get_config("tiny")
  config.train.steps = 40
  config.train.log_every = 5
  config.train.eval_every = 40
  config.train.ckpt_every = 40
  result = trainer.train(config, str(tmp_path))
  losses = _losses(tmp_path)
  first = np.mean([losses[s] for s in (5, 10)])
  last = np.mean([losses[s] for s in (35, 40)])
  assert np.isfinite(last) and last < first - 0.2, losses
  assert result["status"] == "done"
  assert np.isfinite(result["eval"]["validation/nll_nats_per_dim"])
  assert "validation/nll_bits_per_dim" in result["eval"]


def test_batches_have_the_flow_layout():
  config = poseflow.get_config("tiny")
  it = task.make_data(config, "train", process_index=0, process_count=1, seed=0)
  b = next(it)
  n, t = config.data.batch_size, config.data.window
  k = config.model.audio_context
  assert b["x"].shape == (n, t, 6) and b["mel"].shape == (n, t, 2 * k + 1, 4, 80)
  assert b["emotion"].shape == (n,) and b["mask"].shape == (n, t)
  state = it.get_state()
  nxt = next(it)
  it2 = task.make_data(config, "train", process_index=0, process_count=1, seed=0)
  it2.set_state(state)
  np.testing.assert_array_equal(next(it2)["x"], nxt["x"])
  # Two processes read disjoint halves of each global batch.
  halves = [
    next(task.make_data(config, "validation", process_index=i, process_count=2, seed=0))
    for i in range(2)
  ]
  assert all(h["x"].shape[0] == n // 2 for h in halves)
  assert not np.allclose(halves[0]["x"], halves[1]["x"])


def test_unlabelled_data_has_emotion_minus_one():
  config = expflow.get_config("tiny")
  config.data.unlabelled = True
  b = next(task.make_data(config, "validation", process_index=0, process_count=1, seed=0))
  assert np.all(b["emotion"] == -1) and np.all(b["intensity"] < 0)


def test_config_arguments():
  assert expflow.get_config("tiny,prior=gmm").model.prior == "gmm"
  assert expflow.get_config("synthetic,dropout=0").model.history_dropout == 0.0
  assert poseflow.get_config("synthetic").model.prior == "gaussian"
  assert expflow.get_config("synthetic,emotion_context=true").model.emotion_in_context
  assert expflow.get_config("hdtf").data.unlabelled
  # synthetic_wide: the synthetic flow and emotion context on 48 in-memory training identities.
  wide, base = expflow.get_config("synthetic_wide"), expflow.get_config("synthetic")
  assert wide.model.emotion_in_context and wide.data.source == "memory"
  assert tuple(wide.data.memory.identities) == (48, 2, 2) and wide.train.steps == 1000
  assert wide.model.to_dict() == dict(base.model.to_dict(), emotion_in_context=True)
  m = expflow.get_config("moglow_size").model
  assert (m.num_steps, m.lstm_layers, m.lstm_width, m.history) == (16, 2, 512, 5)
  assert (2 * m.audio_context + 1) * m.mels_per_frame == 26 and m.mel_bins == 64
  bad = [
    (poseflow, "synthetic_wide", "synthetic_wide"),
    (expflow, "tiny,prior=student", "Unknown prior 'student'"),
    (poseflow, "tiny,dropout=1.5", "dropout must be in"),
    (poseflow, "moglow_size", "Unknown config variant"),
  ]
  for module, arg, match in bad:
    with pytest.raises(ConfigError, match=match):
      module.get_config(arg)
  with pytest.raises(ConfigError, match="benchmark-only"):
    task.make_data(expflow.get_config("moglow_size"), "train", process_index=0,
                   process_count=1, seed=0)  # fmt: skip


def test_sweep_is_the_fcg_ablation():
  from flowvq_jax.train import hyper

  points = expflow.get_sweep(hyper)
  got = {(p["model.prior"], p["model.history_dropout"]) for p in points}
  assert got == {("smm", 0.4), ("smm", 0.0), ("gmm", 0.4), ("gmm", 0.0)}
