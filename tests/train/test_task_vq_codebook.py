"""The stage-1 codebook task through the generic trainer, and its evaluation command.

One 30-step run of `configs/vq_codebook.py:tiny` (32 px, in-memory world clips) is shared by the
tests: reconstruction loss falls, the discriminator group stays fixed before `loss.disc_start`
and trains after, and `launch.evaluate --stage vq` writes its JSON and PNG for the workdir.
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
import pytest
from conftest import VQ_DISC_START as DISC_START
from conftest import VQ_STEPS as STEPS
from PIL import Image

from flowvq_jax import checkpoints
from flowvq_jax.train.metrics import read_jsonl
from flowvq_jax.train.tasks import vq_codebook as task
from launch import evaluate as evaluate_cli


@pytest.fixture(scope="module")
def run(vq_codebook_run):
  """The session's finished tiny stage-1 run (tests/train/conftest.py): (workdir, config)."""
  return vq_codebook_run


def _params(wd, step):
  return checkpoints.load_arrays(os.path.join(wd, "checkpoints"), step)["params"]


def _equal(a, b):
  return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_reconstruction_loss_falls(run):
  wd, _ = run
  rows = [r for r in read_jsonl(os.path.join(wd, "metrics.jsonl")) if "train/l1" in r]
  l1 = {r["step"]: r["train/l1"] for r in rows}
  assert sorted(l1) == list(range(5, STEPS + 1, 5))
  assert np.isfinite(list(l1.values())).all()
  start, end = l1[5], np.mean([l1[STEPS - 5], l1[STEPS]])
  assert end < 0.75 * start, l1
  final = json.load(open(os.path.join(wd, "final_metrics.json")))
  for k in ("l1", "psnr", "ssim", "usage", "perplexity"):
    assert np.isfinite(final["eval"][f"validation/{k}"]), k
  assert os.listdir(os.path.join(wd, "tensorboard"))  # scalars and the reconstruction grid


def test_discriminator_trains_only_from_its_start_step(run):
  wd, _ = run
  p10, p20, p30 = (_params(wd, s) for s in (10, 20, 30))
  assert not _equal(p10["ae"], p20["ae"])  # the autoencoder trains from step 0
  assert _equal(p10["disc"], p20["disc"])  # updates 0..19: zero discriminator loss
  assert not _equal(p20["disc"], p30["disc"])  # updates 20..29: hinge loss on
  rows = {r["step"]: r for r in read_jsonl(os.path.join(wd, "metrics.jsonl")) if "train/l1" in r}
  assert rows[DISC_START]["train/disc_factor"] == 0.0 and rows[STEPS]["train/disc_factor"] == 1.0
  extra = checkpoints.load_arrays(os.path.join(wd, "checkpoints"), STEPS)["extra"]
  assert int(extra["step"]) == STEPS


def test_data_global_batch_independent_of_process_count_and_resumes(run):
  _, c = run
  one = task.make_data(c, "train", process_index=0, process_count=1, seed=3)
  two = [task.make_data(c, "train", process_index=i, process_count=2, seed=3) for i in range(2)]
  b1, b2 = next(one), [next(it) for it in two]
  assert b1["image"].shape == (8, 32, 32, 3) and b1["image"].dtype == np.float32
  assert -1.0 <= b1["image"].min() and b1["image"].max() <= 1.0
  np.testing.assert_array_equal(b1["image"], np.concatenate([b["image"] for b in b2]))
  state = one.get_state()
  want = next(one)
  again = task.make_data(c, "train", process_index=0, process_count=1, seed=3)
  again.set_state(state)
  np.testing.assert_array_equal(next(again)["image"], want["image"])


def test_evaluate_writes_json_and_grid(run, tmp_path, capsys):
  wd, c = run
  out = str(tmp_path / "eval")
  rc = evaluate_cli.main(["--stage", "vq", "--workdir", wd, "--out", out, "--batch_size", "8"])
  assert rc == 0
  result = json.load(open(os.path.join(out, "vq_eval.json")))
  assert result["step"] == STEPS and result["split"] == "test"
  n_test = c.data.memory.identities[2] * c.data.memory.clips_per_identity
  assert result["num_frames"] == n_test * round(c.data.memory.seconds * 25)
  assert 0.0 < result["code_usage"] <= 1.0 and 1.0 <= result["perplexity"] <= 64.0
  assert -1.0 <= result["ssim"] <= 1.0 and np.isfinite(result["psnr"])
  assert set(result["targets_met"]) == {"psnr", "ssim", "code_usage"}
  grid = np.asarray(Image.open(os.path.join(out, "vq_grid.png")))
  assert grid.shape == (64, 32 * n_test, 3)  # inputs above reconstructions, one column per clip
  assert os.listdir(os.path.join(out, "tensorboard"))
  assert "PSNR" in capsys.readouterr().out


def test_evaluate_per_identity_adds_up(run, tmp_path, capsys):
  """The per-identity rows partition the frames, and their frame-weighted means are the means."""
  wd, c = run
  out = str(tmp_path / "eval_train")
  argv = ["--stage", "vq", "--workdir", wd, "--out", out, "--split", "train", "--batch_size", "8"]
  assert evaluate_cli.main(argv + ["--frame_stride", "2"]) == 0
  result = json.load(open(os.path.join(out, "vq_eval.json")))
  rows = result["per_identity"]
  assert sorted(rows) == [str(i) for i in range(c.data.memory.identities[0])]
  frames = np.array([r["frames"] for r in rows.values()])
  assert frames.sum() == result["num_frames"]
  for key in ("psnr", "ssim"):
    weighted = np.sum(frames * np.array([r[key] for r in rows.values()])) / frames.sum()
    np.testing.assert_allclose(weighted, result[key], rtol=1e-5)
  assert "per identity (3)" in capsys.readouterr().out


def test_evaluate_missing_workdir_or_checkpoint(tmp_path, capsys):
  missing = str(tmp_path / "nope")
  assert evaluate_cli.main(["--stage", "vq", "--workdir", missing, "--out", str(tmp_path)]) == 2
  err = capsys.readouterr().err.strip()
  assert err == f"error: Workdir {missing} does not exist."
  wd = tmp_path / "empty"
  wd.mkdir()
  (wd / "config.json").write_text(json.dumps({"task": "vq_codebook"}))
  assert evaluate_cli.main(["--stage", "vq", "--workdir", str(wd), "--out", str(tmp_path)]) == 2
  err = capsys.readouterr().err.strip()
  assert err.startswith("error: No checkpoints in") and "\n" not in err
