"""The end-to-end evaluation table (`launch.evaluate --checkpoints`) and `--ablation`."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from flowvq_jax.data import transforms
from flowvq_jax.eval import metrics, report, table, table_data
from launch import evaluate

FAST = ["--classifier_steps", "30", "--landmark_steps", "5", "--landmark_frames", "32"]


pytestmark = pytest.mark.usefixtures("fast_compiles")


@pytest.fixture(scope="module")
def world_data():
  return table_data.load_data("world:tiny", max_clips=4, train_frames=32)


def _finite_or_inf(v) -> bool:
  return isinstance(v, int | float) and not math.isnan(v)


def test_table_end_to_end_on_tiny_checkpoints(tiny_checkpoints, tmp_path, capsys):
  out = str(tmp_path / "eval")
  argv = ["--checkpoints", tiny_checkpoints, "--dataset", "world:tiny", "--out", out]
  rc = evaluate.main(argv + ["--max_clips", "1", "--seeds", "2", "--frame_stride", "4"] + FAST)
  assert rc == 0
  rows = report.load_json(os.path.join(out, "eval_table.json"))
  assert list(rows) == list(table.ROWS)
  for row in rows.values():
    assert list(row) == list(table.COLUMNS)  # every column, in every row
  gen = rows["generated"]
  computed = ["psnr", "ssim", "m_lmd", "f_lmd", "cpbd", "emotion_accuracy", "lip_sync_r",
              "lip_sync_lag", "diversity", "pose_diversity", "blinks_per_min"]  # fmt: skip
  for c in computed:
    assert metrics.is_computed(gen[c]) and np.isfinite(gen[c]), (c, gen[c])
  assert 0.0 <= gen["emotion_accuracy"] <= 1.0 and gen["diversity"] > 0
  # Without weights: FID / LPIPS / SyncNet say why, in the JSON and the markdown.
  assert "Inception" in gen["fid"].reason
  assert "LPIPS" in gen["lpips"].reason and "SyncNet" in gen["lse_c"].reason
  md = open(os.path.join(out, "eval_table.md")).read()
  assert all(c in md for c in table.COLUMNS) and "Inception-v3" in md and "n/a [" in md
  assert os.path.exists(os.path.join(out, "eval_details.json"))
  assert "psnr" in capsys.readouterr().out


def test_perfect_generator_scores_like_the_ground_truth(world_data):
  """Reference check of the aggregation: a generator that returns the real clip."""
  inst = table.build_instruments(world_data, 32, classifier_steps=300, landmark_steps=5)

  def perfect(clip, source, seed):
    del source, seed
    return {"frames": transforms.resize_frames(clip["frames"], 32), "exp": clip["exp"],
            "pose": clip["pose"]}  # fmt: skip

  def still(clip, source, seed):  # the source image and the real coefficients
    t = clip["exp"].shape[0]
    return {"frames": np.repeat(source[None], t, 0), "exp": clip["exp"], "pose": clip["pose"]}

  rows, details = table.score(world_data.test, perfect, inst, image_size=32, seeds=[0, 1])
  gen, gt = rows["generated"], rows["ground truth"]
  assert gen["psnr"] == math.inf and gen["ssim"] == pytest.approx(1.0, abs=1e-5)
  for c in ("m_lmd", "f_lmd", "cpbd", "emotion_accuracy", "lip_sync_r", "blinks_per_min"):
    assert gen[c] == pytest.approx(gt[c], rel=1e-5), c
  assert gt["emotion_accuracy"] >= 0.75  # 4 held-out clips of 4 emotions; chance is 1/8
  assert gt["lip_sync_r"] > 0.9 and gt["lip_sync_lag"] == 0  # the world's mouth follows the law
  assert gen["diversity"] == 0.0 and gen["pose_diversity"] == 0.0  # every seed is the same
  assert details["clips"] == 4 and details["frames_scored"] == 2 * sum(
    c["frames"].shape[0] - 1 for c in world_data.test
  )
  rows, _ = table.score(world_data.test, still, inst, image_size=32, seeds=[0])
  for c in ("psnr", "ssim", "m_lmd", "f_lmd"):
    assert rows["generated"][c] == pytest.approx(rows["source copy"][c], rel=1e-5), c
  assert isinstance(rows["generated"]["diversity"], metrics.NotComputed)  # one seed
  assert "seeds" in rows["generated"]["diversity"].reason


def test_missing_dlib_gives_a_reason(world_data, monkeypatch):
  import builtins

  real_import = builtins.__import__

  def no_dlib(name, *a, **k):
    if name == "dlib":
      raise ImportError("No module named 'dlib'")
    return real_import(name, *a, **k)

  monkeypatch.setattr(builtins, "__import__", no_dlib)
  inst = table.build_instruments(world_data, 32, landmarks="dlib", classifier_steps=1)
  assert inst.landmarks is None and "dlib" in inst.landmarks_info
  gen = lambda c, s, seed: {"frames": transforms.resize_frames(c["frames"], 32), "exp": c["exp"],
                            "pose": c["pose"]}  # fmt: skip
  rows, _ = table.score(world_data.test[:1], gen, inst, image_size=32, seeds=[0])
  assert "dlib" in rows["generated"]["m_lmd"].reason
  assert "pip install dlib" in rows["ground truth"]["f_lmd"].reason


@pytest.mark.parametrize(
  "argv, message",
  [
    (["--checkpoints", "{tmp}/nowhere", "--dataset", "world:tiny"], "does not exist"),
    (["--checkpoints", "{tmp}", "--dataset", "world:huge"], "Unknown world dataset"),
    (["--checkpoints", "{tmp}", "--dataset", "nosuch/tiny"], "Unknown dataset"),
    (
      [
        "--checkpoints",
        "{tmp}",
        "--dataset",
        "synthetic_talking_faces/tiny",
        "--data_dir",
        "{tmp}/empty",
      ],
      "is not prepared",
    ),  # fmt: skip
  ],
)
def test_bad_input_is_one_error_line(argv, message, tmp_path, capsys):
  argv = [a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--out", str(tmp_path / "o")]
  assert evaluate.main(argv) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


@pytest.mark.slow  # trains 4 sweep members (compile-dominated)
def test_ablation_tiny_trains_and_scores_both_stages_members(tiny_checkpoints, tmp_path):
  """Both stages' members through the CLI: both flow priors, the full code query and one switch
  off. The sweep lists themselves are checked in tests/train (test_sweep_is_the_*_ablation), the
  other switches train in tests/vq/test_query.py."""
  out = str(tmp_path / "abl")
  argv = ["--ablation", "--preset", "tiny", "--ablation_steps", "1", "--max_clips", "1",
          "--checkpoints", tiny_checkpoints, "--out", out, "--landmark_steps", "2",
          "--landmark_frames", "16", "--ablation_members=dropout 0.4,full,-W"]  # fmt: skip
  assert evaluate.main(argv) == 0
  rows = report.load_json(os.path.join(out, "ablation.json"))
  assert list(rows) == [
    "ExpFlow SMM, data dropout 0.4",
    "ExpFlow GMM, data dropout 0.4",
    "code query full",
    "code query -W",
  ]
  for name, row in rows.items():
    assert row["steps"] == 1
    keys = ("nll_nats_per_dim",) if row["stage"] == "expflow" else ("psnr", "ssim", "code_accuracy")
    for k in keys:
      assert _finite_or_inf(row[k]) and np.isfinite(row[k]), (name, k, row[k])
  assert rows["code query -W"]["W"] is False and rows["code query full"]["W"] is True
  # Every member really trained: its own workdir holds a checkpoint at the requested step.
  for stage, n in (("expflow", 2), ("vq_query", 2)):
    runs = sorted(os.listdir(os.path.join(out, "ablation", stage)))
    assert len(runs) == n
    for r in runs:
      assert os.listdir(os.path.join(out, "ablation", stage, r, "checkpoints")) == ["1"]
  assert "code query -W" in open(os.path.join(out, "ablation.md")).read()


def test_ablation_rows_average_seeds_and_show_spread():
  from flowvq_jax.eval import ablation  # noqa: PLC0415

  m = {
    "stage": "vq_query",
    "overrides": {f"model.{k}": k != "use_warp" for k in ablation.QUERY_SWITCHES},
  }
  scores = [
    dict(psnr=20.0, ssim=0.70, code_accuracy=0.5, code_accuracy_changed=0.1, l1=0.1, m_lmd=3.0,
         f_lmd=2.0),
    dict(psnr=22.0, ssim=0.74, code_accuracy=0.6, code_accuracy_changed=0.2, l1=0.2, m_lmd=5.0,
         f_lmd=4.0),
  ]  # fmt: skip
  per_seed = [dict(s, step=7) for s in scores]
  mean, std = ablation._mean_std(per_seed, "vq_query")
  np.testing.assert_allclose(std["psnr"], np.sqrt(2.0))  # sample std of (20, 22)
  row = ablation._member_row(m, per_seed, mean)
  assert list(row) == list(ablation.COLUMNS)
  assert row["seeds"] == 2 and row["steps"] == 7 and row["W"] is False and row["C"] is True
  np.testing.assert_allclose([row["psnr"], row["ssim"], row["m_lmd"]], [21.0, 0.72, 4.0])
  details = {"code query -W": {"mean": mean, "std": std}}
  shown = ablation.markdown_rows({"code query -W": row}, details)["code query -W"]
  assert shown["psnr"] == "21 ± 1.4" and shown["ssim"] == "0.72 ± 0.028"
  one = ablation._member_row(m, per_seed[:1], ablation._mean_std(per_seed[:1], "vq_query")[0])
  assert one["seeds"] == 1 and one["psnr"] == 20.0
  assert ablation.markdown_rows({"x": one}, {})["x"]["psnr"] == 20.0  # one seed: plain number


def test_fast_compile_leaves_no_unoptimised_program_behind():
  """`jax_disable_most_optimizations` is not in jit's cache key: what compiles inside
  `fast_compile(True)` must not serve later calls (tiny differences in the last bits)."""
  import jax  # noqa: PLC0415

  from flowvq_jax.eval import ablation  # noqa: PLC0415

  f = jax.jit(lambda x: x * 2.0 + 1.0)
  jax.config.update("jax_disable_most_optimizations", False)  # this module runs with it on
  try:
    with ablation.fast_compile(True):
      assert float(f(np.float32(1.0))) == 3.0 and f._cache_size() == 1
    assert f._cache_size() == 0  # recompiled, with the optimisations, on the next call
    f(np.float32(1.0))
    with ablation.fast_compile(False):  # a no-op: the optimised program stays
      f(np.float32(1.0))
    assert f._cache_size() == 1
  finally:
    jax.config.update("jax_disable_most_optimizations", True)
