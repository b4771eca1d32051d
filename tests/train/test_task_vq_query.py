"""The stage-2 code-query task through the generic trainer, and its evaluation command.

A module-scoped stage-1 run (`configs/vq_codebook.py:tiny`, a few steps) is the frozen codebook
of one short `configs/vq_query.py:tiny` run shared by the tests: finite losses, stage 1 unchanged
(frozen), the data pairs, `launch.evaluate --stage query` writing JSON, markdown and PNG, and the
errors for a missing stage-1 run.
"""

from __future__ import annotations

import importlib.util
import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

from flowvq_jax import checkpoints
from flowvq_jax.core import config as config_lib
from flowvq_jax.core.config import ConfigError
from flowvq_jax.data import clip_layout, sources, transforms, world_clips
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.eval import query as query_eval
from flowvq_jax.eval import report
from flowvq_jax.models.vq import query_loss
from flowvq_jax.stages import vq_query as query_stage
from flowvq_jax.train import export, hyper, trainer
from flowvq_jax.train.metrics import read_jsonl
from flowvq_jax.train.tasks import vq_query as task
from launch import evaluate as evaluate_cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 4


def _config(name: str, arg: str):
  return config_lib.load_config(os.path.join(REPO, "configs", name) + ":" + arg)


def _cheap_run(config, wd):
  old = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", "unsafe_rbg")  # cheaper to compile
  try:
    trainer.train(config, wd)
  finally:
    jax.config.update("jax_default_prng_impl", old)


@pytest.fixture(scope="module")
def stage1(vq_codebook_run):
  """The session's tiny stage-1 run (tests/train/conftest.py), shared with the stage-1 tests."""
  return vq_codebook_run[0]


def query_config(stage1_wd: str):
  c = _config("vq_query.py", f"tiny,stage1={stage1_wd}")
  c.train.steps = STEPS
  c.train.log_every = 1
  c.train.eval_every = c.train.ckpt_every = c.train.summaries_every = STEPS
  return c


@pytest.fixture(scope="module")
def run(stage1, tmp_path_factory):
  wd = str(tmp_path_factory.mktemp("vq_query"))
  _cheap_run(query_config(stage1), wd)
  return wd, query_config(stage1)


def _leaves_equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_trains_with_finite_losses_and_frozen_stage1(stage1, run):
  wd, _ = run
  rows = [r for r in read_jsonl(os.path.join(wd, "metrics.jsonl")) if "train/ce" in r]
  assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
  for key in ("train/loss", "train/ce", "train/feat_l2", "train/l1", "train/accuracy"):
    assert np.isfinite([r[key] for r in rows]).all(), key
  assert all(r["train/skipped_total"] == 0 for r in rows)
  final = json.load(open(os.path.join(wd, "final_metrics.json")))
  for k in ("code_accuracy", "code_accuracy_changed", "l1", "psnr", "ssim"):
    assert np.isfinite(final["eval"][f"validation/{k}"]), k
  s1 = checkpoints.load_arrays(os.path.join(stage1, "checkpoints"))["params"]["ae"]
  state = checkpoints.load_arrays(os.path.join(wd, "checkpoints"), STEPS)
  assert _leaves_equal(state["extra"]["stage1"], s1)  # frozen: bit-identical after training
  assert set(state["params"]) == {"query", "fusion"}  # stage 1 is not an optimizer param
  assert np.isfinite(np.concatenate([np.ravel(x) for x in jax.tree.leaves(state["params"])])).all()
  assert os.listdir(os.path.join(wd, "tensorboard"))


def test_data_pairs_shapes_and_sharding(run):
  _, c = run
  one = task.make_data(c, "train", process_index=0, process_count=1, seed=3)
  two = [task.make_data(c, "train", process_index=i, process_count=2, seed=3) for i in range(2)]
  b1, b2 = next(one), [next(it) for it in two]
  k = 2 * c.model.window + 1
  assert b1["source"].shape == b1["target"].shape == (4, 32, 32, 3)
  assert b1["exp"].shape == (4, k, 64) and b1["pose"].shape == (4, k, 6)
  for key in b1:
    np.testing.assert_array_equal(b1[key], np.concatenate([b[key] for b in b2]))
  # Eval pairs: the source is frame 0, the targets the centres of equal segments of frames
  # 1..T-1 (never the source itself); a target's window is edge-padded at the clip start.
  assert task.eval_targets(75, 2).tolist() == [19, 56]
  assert task.eval_targets(10, 3).tolist() == [2, 5, 8] and task.eval_targets(1, 2).tolist() == [
    0,
    0,
  ]
  val = next(task.make_data(c, "validation", process_index=0, process_count=1, seed=0))
  clip = task.clip_source(c.data, "validation")[0]
  frames = np.asarray(clip["frames"])
  frame = lambda i: transforms.resize_frames(frames[[i]], 32)[0] / 127.5 - 1.0
  first, k = task.eval_targets(len(frames), c.data.frames_per_clip)[0], c.data.frames_per_clip
  assert first == 1 + (len(frames) - 1) // (2 * k) and 0 < first < c.model.window
  np.testing.assert_allclose(val["source"][0], frame(0), atol=1e-6)
  np.testing.assert_allclose(val["target"][0], frame(first), atol=1e-6)
  pad = c.model.window - first  # window positions before frame 0: copies of frame 0's row
  np.testing.assert_array_equal(val["exp"][0, :pad], val["exp"][:1, pad].repeat(pad, 0))


def test_evaluate_writes_json_markdown_and_grid(run, tmp_path, capsys):
  wd, c = run
  out = str(tmp_path / "eval")
  argv = ["--stage", "query", "--workdir", wd, "--out", out, "--batch_size", "8",
          "--landmark_steps", "5", "--max_clips", "2"]  # fmt: skip
  assert evaluate_cli.main(argv) == 0
  result = json.load(open(os.path.join(out, "query_eval.json")))
  assert result["step"] == STEPS and result["split"] == "test"
  assert result["num_frames"] == 2 * (round(c.data.memory.seconds * 25) - 1)  # all but source
  for k in ("psnr", "ssim", "code_accuracy", "m_lmd", "f_lmd", "l1", "psnr_copy_source",
            "psnr_stage1_recon", "m_lmd_real"):  # fmt: skip
    assert np.isfinite(result[k]), k
  assert 0.0 <= result["code_accuracy"] <= 1.0 and -1.0 <= result["ssim"] <= 1.0
  # Copying the source's codes, computed here from the stage-1 codes of the clips' frames.

  # The model's accuracy on the tokens whose code differs from the source's, pooled, from the
  # generator's own predictions.
  run_ = query_eval.load_run(wd)
  config, params, s1, stats = run_.config, run_.params, run_.stage1_params, run_.stats
  gen = run_.generator
  clips = task.clip_source(config.data, "test")
  same, hits, changed = [], 0, 0
  for clip in clips[:2]:
    frames = transforms.resize_frames(np.asarray(clip["frames"]).astype(np.uint8), c.image_size)
    codes = np.asarray(query_loss.target_indices(gen, s1, frames.astype(np.float32) / 127.5 - 1))
    same.append(np.mean(codes[1:] == codes[:1], axis=(1, 2)))
    exp_w, pose_w = task.clip_windows(clip, stats, config.model.window)
    src = frames[:1].astype(np.float32) / 127.5 - 1
    pred = gen.apply(params, s1, src, exp_w[1:], pose_w[1:], fidelity=1.0, render=False)
    moved = codes[1:] != codes[:1]
    hits += int(np.sum(moved & (np.asarray(pred["indices"]) == codes[1:])))
    changed += int(moved.sum())
  expected = np.mean(np.concatenate(same))
  assert abs(result["code_accuracy_copy_source"] - expected) < 1e-6, expected
  assert abs(result["changed_token_fraction"] - (1 - expected)) < 1e-6
  assert changed > 0 and abs(result["code_accuracy_changed"] - hits / changed) < 1e-6
  assert os.path.exists(os.path.join(out, "query_eval.md"))
  grid = np.asarray(Image.open(os.path.join(out, "query_grid.png")))
  assert grid.shape == (2 * 32, 3 * 32, 3)  # one row per clip: source | target | rendered
  assert "PSNR" in capsys.readouterr().out


def test_params_export_without_stage1_evaluates_like_the_workdir(stage1, run, tmp_path):
  """`launch.export --items params` leaves the frozen stage 1 out; it is read from the config."""

  wd, _ = run
  out = str(tmp_path / "export")
  export.export_run(wd, out, items=["params"])
  assert "extra" not in checkpoints.load_arrays(os.path.join(out, "checkpoints"))
  a, b = query_eval.load_run(out), query_eval.load_run(wd)
  assert a.step == b.step == STEPS
  assert _leaves_equal(a.params, b.params) and _leaves_equal(a.stage1_params, b.stage1_params)
  np.testing.assert_array_equal(a.stats.exp_mean, b.stats.exp_mean)  # the export copies them


def test_identities_seen_by_stage1_follow_the_world_layout(stage1):
  """The tiny stage 1 trains on identities 0-2 (layout (3, 1, 1)); stage 2's held-out faces are
  safe with the same layout, not with a smaller one."""
  assert clip_layout.split_identities((12, 2, 2)) == {
    "train": range(0, 12), "validation": range(12, 14), "test": range(14, 16)
  }  # fmt: skip
  c = query_config(stage1)
  assert query_stage.identities_seen_by_stage1(c) == []
  c.data.memory.identities = (1, 1, 1)
  assert query_stage.identities_seen_by_stage1(c) == [2]
  assert query_stage.identities_seen_by_stage1(c, "val") == [1]
  c.data.memory.world_seed = 1  # other faces
  assert query_stage.identities_seen_by_stage1(c) == []


def test_ablation_refuses_a_stage1_that_trained_on_its_test_identities(stage1, tmp_path, capsys):
  out = tmp_path / "abl"
  argv = ["--ablation", "--preset", "tiny", "--stages", "vq_query", "--stage1", stage1,
          "--out", str(out), "--query_override", "data.memory.identities=(1,1,1)"]  # fmt: skip
  assert evaluate_cli.main(argv) == 2
  err = capsys.readouterr().err
  assert "trained on 1 of the code-query members' test identities (2..2)" in err
  assert "--query_override data.memory.identities=(3,1,1)." in err
  assert not (out / "ablation" / "vq_query").exists()  # refused before any training
  assert evaluate_cli.main(argv[:-1] + ["data.memory.identities"]) == 2
  assert "is not KEY=VALUE" in capsys.readouterr().err


def test_ablation_members_trains_and_scores_only_the_named_ones(stage1, tmp_path, capsys):
  out = tmp_path / "abl"
  argv = ["--ablation", "--preset", "tiny", "--stages", "vq_query", "--out", str(out),
          "--ablation_steps", "1", "--max_clips", "1", "--landmark_steps", "2",
          "--landmark_frames", "16"]  # fmt: skip
  # An unknown name fails before anything trains, the preset's own stage 1 included.
  assert evaluate_cli.main(argv + ["--ablation_members=full,-X"]) == 2
  err = capsys.readouterr().err
  assert "--ablation_members -X names no member" in err and "code query -MHCA" in err
  assert not (out / "ablation").exists()
  argv += ["--stage1", stage1]
  assert evaluate_cli.main(argv + ["--ablation_members=-C"]) == 0
  rows = report.load_json(str(out / "ablation.json"))
  assert list(rows) == ["code query -C"] and rows["code query -C"]["C"] is False
  assert 0.0 <= rows["code query -C"]["code_accuracy_changed"] <= 1.0
  assert len(os.listdir(out / "ablation" / "vq_query")) == 1


def test_missing_stage1_workdir_is_a_clear_error(tmp_path):
  c = _config("vq_query.py", "tiny")
  with pytest.raises(ConfigError, match="model.stage1_workdir is not set"):
    query_stage.load_stage1(c)
  c.model.stage1_workdir = str(tmp_path / "nope")
  with pytest.raises(ConfigError, match="does not exist"):
    query_stage.load_stage1(c)
  empty = tmp_path / "empty"
  empty.mkdir()
  (empty / "config.json").write_text(json.dumps({"task": "vq_codebook", "model": {}}))
  c.model.stage1_workdir = str(empty)
  with pytest.raises(ConfigError, match="No checkpoints in"):
    query_stage.load_stage1(c)


def test_sweep_is_the_paper_ablation():

  spec = importlib.util.spec_from_file_location("vq_query_cfg", f"{REPO}/configs/vq_query.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)

  points = mod.get_sweep(hyper)
  off = [[k for k, v in p.items() if not v] for p in points]
  assert off == [[], ["model.use_warp"], ["model.use_mapping"], ["model.use_mhca"],
                 ["model.use_codebook"]]  # fmt: skip
  c = mod.get_config("tiny,warp=false,codebook=false")
  assert not c.model.use_warp and not c.model.use_codebook and c.model.use_mhca


def test_evaluation_renders_only_the_train_clips_it_uses(stage1, monkeypatch):
  """The in-memory train split is read without images for the statistics and for choosing the
  landmark regressor's frames; only the chosen clips are rendered. Reference: the same choice
  made on the whole rendered split (the former path), and statistics of the rendered clips."""
  c, n, seed = query_config(stage1), 8, 3
  rendered = world_clips.memory_clips(c.data.memory, "train", audio=False)
  size = int(c.image_size)
  rng = np.random.default_rng(seed)
  per_clip = -(-n // len(rendered))
  want_f, want_l = [], []
  for i in rng.permutation(len(rendered)):
    f = rendered[int(i)]["frames"]
    idx = np.sort(rng.choice(f.shape[0], min(per_clip, f.shape[0]), replace=False))
    want_f.append(transforms.resize_frames(f[idx], size))
    want_l.append(rendered[int(i)]["landmarks"][idx] * (size / f.shape[2]))
    if sum(x.shape[0] for x in want_f) >= n:
      break
  frames, lms = query_eval.regressor_data(c, n, seed)
  np.testing.assert_array_equal(frames, np.concatenate(want_f))
  np.testing.assert_array_equal(lms, np.concatenate(want_l))
  bare = world_clips.memory_clips(c.data.memory, "train", frames=False, audio=False)
  chosen = list(
    query_eval.choose_frames(len(bare), bare.__getitem__, lambda x: len(x["exp"]), n, seed)
  )
  assert len(chosen) == len(want_f) < len(rendered)  # not every clip is rendered
  stats = task.statistics(c)
  ref = coeffs_lib.compute_stats((x["exp"], x["pose"]) for x in rendered)
  for k, v in ref.to_dict().items():
    np.testing.assert_array_equal(stats.to_dict()[k], v, err_msg=k)
  assert bare[0]["frames"].shape == (rendered[0]["frames"].shape[0], 0, 0, 3)
  # A random-access source (the TFDS path) gives the same frames, each clip read once.
  reads = []

  class Source:
    def __len__(self):
      return len(rendered)

    def __getitem__(self, i):
      reads.append(i)
      return rendered[i]

  monkeypatch.setattr(sources, "clip_source", lambda data, split, **kw: Source())
  c.data.source = "tfds"
  tf_frames, tf_lms = query_eval.regressor_data(c, n, seed)
  np.testing.assert_array_equal(tf_frames, frames)
  np.testing.assert_array_equal(tf_lms, lms)
  assert sorted(reads) == sorted(set(reads)) and len(reads) == len(chosen)
