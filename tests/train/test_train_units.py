"""Pieces of the trainer: optimizer, mesh rules, config overrides, sweeps, writers, checkpoints."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_testutil import config

from flowvq_jax import checkpoints
from flowvq_jax.core import config as config_lib
from flowvq_jax.core.config import ConfigError
from flowvq_jax.train import checkpoint, hyper, mesh, metrics, optim, tasks
from flowvq_jax.train.tasks import toy


def test_schedule_warmup_then_cosine_to_end():
  sched = optim.make_schedule(
    {"lr": 1.0, "warmup_steps": 10, "schedule": "cosine", "end_lr_factor": 0.1}, total_steps=110
  )
  np.testing.assert_allclose(
    [sched(0), sched(5), sched(10), sched(60), sched(110)], [0.0, 0.5, 1.0, 0.55, 0.1], atol=1e-6
  )
  with pytest.raises(ConfigError, match="optimizer.schedule='cosin'"):
    optim.make_schedule({"lr": 1.0, "schedule": "cosin"}, 10)


def test_param_groups_get_their_own_learning_rate():
  tx, _ = optim.make_optimizer(
    {"name": "sgd", "lr": 1.0, "schedule": "constant", "groups": {"disc": {"lr": 0.1}}},
    total_steps=10,
  )
  params = {"gen": jnp.ones(3), "disc": jnp.ones(3)}
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["gen"], -1.0)
  np.testing.assert_allclose(updates["disc"], -0.1)
  tx, _ = optim.make_optimizer({"name": "sgd", "lr": 1.0, "groups": {"critic": {}}}, 10)
  with pytest.raises(ConfigError, match="names \\['critic'\\]"):
    tx.init(params)


def test_weight_decay_skips_vectors_and_grad_clip():
  tx, _ = optim.make_optimizer(
    {
      "name": "adamw",
      "lr": 0.1,
      "schedule": "constant",
      "weight_decay": 1.0,
      "grad_clip_norm": 1.0,
    },
    10,
  )
  params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
  zero = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  np.testing.assert_allclose(updates["w"], -0.1)  # decay only
  np.testing.assert_allclose(updates["b"], 0.0)


def test_fsdp_rule_shards_largest_divisible_dim_and_rules_win():
  spec = mesh._fsdp_spec
  assert spec((64, 256), "fsdp", 8, 0) == jax.sharding.PartitionSpec(None, "fsdp")
  assert spec((24, 10), "fsdp", 8, 0) == jax.sharding.PartitionSpec("fsdp", None)
  assert spec((3, 5), "fsdp", 8, 0) == jax.sharding.PartitionSpec()
  assert spec((64, 256), "fsdp", 8, 10**6) == jax.sharding.PartitionSpec()
  m = mesh.make_mesh({"data": -1, "fsdp": 1})
  tree = {"enc": {"kernel": jnp.zeros((4, 4))}, "emb": jnp.zeros((4, 4))}
  sh = mesh.tree_shardings(tree, m, {"params": "fsdp", "rules": [("emb", (None, "data"))]})
  assert sh["emb"].spec == jax.sharding.PartitionSpec(None, "data")
  assert sh["enc"]["kernel"].spec == jax.sharding.PartitionSpec()  # fsdp axis has size 1


def test_mesh_errors_are_clear():
  n = jax.device_count()
  with pytest.raises(ConfigError, match=f"needs {n + 1} devices but {n} exist"):
    mesh.make_mesh({"data": n + 1})
  with pytest.raises(ConfigError, match="more than one -1"):
    mesh.make_mesh({"data": -1, "fsdp": -1})
  with pytest.raises(ConfigError, match="sharding.params='zero3'"):
    mesh.tree_shardings({}, mesh.make_mesh({"data": -1}), {"params": "zero3"})


def test_overrides_are_typed_and_typos_name_the_field():
  c = config_lib.load_config("configs/toy.py:tiny,fsdp=true")
  assert c.sharding.params == "fsdp" and c.mesh.fsdp == -1
  config_lib.apply_overrides(
    c,
    {
      "train.steps": "7",
      "optimizer.lr": "1e-2",
      "train.progress": "no",
      "sharding.rules": "(('x', (None,)),)",
    },
  )
  assert (c.train.steps, c.optimizer.lr, c.train.progress) == (7, 0.01, False)
  assert c.sharding.rules == (("x", (None,)),)
  with pytest.raises(ConfigError, match="config.train has no field 'stesp'"):
    config_lib.apply_overrides(c, {"train.stesp": "1"})
  with pytest.raises(ConfigError, match="config has no field 'trian'"):
    config_lib.apply_overrides(c, {"trian.steps": "1"})
  with pytest.raises(ConfigError, match="'ten' is not an int"):
    config_lib.apply_overrides(c, {"train.steps": "ten"})
  with pytest.raises(ConfigError, match="Unknown config variant 'tinyy'"):
    config_lib.load_config("configs/toy.py:tinyy")
  with pytest.raises(ConfigError, match="does not exist"):
    config_lib.load_config("configs/nope.py:tiny")
  with pytest.raises(ConfigError, match="Unknown task 'nope'"):
    tasks.load("nope")


def test_hyper_sweeps():
  s = hyper.product([hyper.sweep("a", [1, 2]), hyper.sweep("b", ["x", "y"]), hyper.fixed("c", 0)])
  assert s == [
    {"a": 1, "b": "x", "c": 0},
    {"a": 1, "b": "y", "c": 0},
    {"a": 2, "b": "x", "c": 0},
    {"a": 2, "b": "y", "c": 0},
  ]
  assert hyper.zipit([hyper.sweep("a", [1, 2]), hyper.sweep("b", [3, 4])]) == [
    {"a": 1, "b": 3},
    {"a": 2, "b": 4},
  ]
  assert len(hyper.chainit([s, s])) == 8
  with pytest.raises(ValueError, match="equal length"):
    hyper.zipit([hyper.sweep("a", [1]), hyper.sweep("b", [3, 4])])
  assert hyper.point_name({"optimizer.lr": 0.01, "model.hidden": 32}) == "lr=0.01,hidden=32"


def test_metric_writer_outputs(tmp_path):
  rng = np.random.default_rng(0)
  w = metrics.MetricWriter(str(tmp_path), enabled=True)
  w.scalars(3, {"a": np.float32(1.5), "b": float("nan")})
  w.images(3, {"img": rng.random((3, 8, 8, 1))})
  w.videos(3, {"vid": rng.random((2, 4, 8, 8, 3))})
  w.close()
  assert metrics.read_jsonl(tmp_path / "metrics.jsonl") == [{"step": 3, "a": 1.5, "b": None}]
  grid = metrics.image_grid(np.ones((5, 2, 3, 1)))
  assert grid.shape == (4, 9, 3) and grid.dtype == np.uint8 and grid[0, 0, 0] == 255
  assert grid[2, 6, 0] == 0  # the empty sixth cell
  w = metrics.MetricWriter(str(tmp_path), enabled=True)
  with pytest.raises(ValueError, match=r"\[N, T, H, W, C\]"):
    w.videos(0, {"v": np.zeros((2, 8, 8, 3))})
  w.close()
  silent = metrics.MetricWriter(str(tmp_path / "other"), enabled=False)
  silent.scalars(0, {"a": 1.0})
  assert not (tmp_path / "other").exists()


def test_checkpointer_keeps_last_n_and_best(tmp_path):
  ck = checkpoint.Checkpointer(str(tmp_path), keep=2, best_metric="val/loss", best_mode="min")
  tree = {"w": jnp.arange(3.0), "step": jnp.zeros((), jnp.int32)}
  for step, loss in [(1, 0.5), (2, 0.1), (3, None), (4, 0.3), (5, None)]:
    ck.save(step, tree, {"next_index": step}, None if loss is None else {"val/loss": loss})
  ck.wait()
  assert ck.all_steps() == [2, 4, 5] and ck.best_step() == 2
  target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)
  state, data, meta = ck.restore(4, target)
  np.testing.assert_array_equal(state["w"], tree["w"])
  assert data == {"next_index": 4} and meta["metrics"] == {"val/loss": 0.3}
  ck.close()
  assert json.loads((tmp_path / "5" / "data" / "process_0-of-1.json").read_text()) == {
    "next_index": 5
  }
  np.testing.assert_array_equal(checkpoints.load_arrays(str(tmp_path))["w"], [0.0, 1.0, 2.0])


def test_checkpointer_takes_a_relative_directory(tmp_path, monkeypatch):
  """`--workdir runs/x` is relative; orbax writes arrays only under absolute paths."""
  monkeypatch.chdir(tmp_path)
  for async_save in (False, True):
    rel = f"runs/a{int(async_save)}/checkpoints"
    ck = checkpoint.Checkpointer(rel, async_save=async_save)
    ck.save(3, {"w": jnp.arange(4.0)}, {"next_index": 3})
    ck.wait()
    assert ck.all_steps() == [3]
    ck.close()
    assert (tmp_path / rel / "3" / "state").is_dir()
    np.testing.assert_array_equal(checkpoints.load_arrays(rel)["w"], [0.0, 1.0, 2.0, 3.0])


def test_toy_data_is_deterministic_and_split_by_process():
  c = config()
  full = toy.make_data
  it = full(c, "train", process_index=0, process_count=1, seed=0)
  halves = [full(c, "train", process_index=i, process_count=2, seed=0) for i in range(2)]
  for _ in range(3):
    whole = next(it)["x"]
    parts = np.concatenate([next(h)["x"] for h in halves])
    np.testing.assert_array_equal(whole, parts)
  assert whole.shape == (16, 16)
  with pytest.raises(ConfigError, match="not divisible by 3 processes"):
    full(c, "train", process_index=0, process_count=3, seed=0)


def test_distributed_initialization_needs_a_reason():
  from flowvq_jax.train import trainer

  assert trainer.initialize_distributed(mode="off") is False
  assert trainer.initialize_distributed(mode="auto") is False  # no address, SLURM or TPU pod
  with pytest.raises(ConfigError, match="--distributed='yes'"):
    trainer.initialize_distributed(mode="yes")
  with pytest.raises(ConfigError, match="needs --num_processes and --process_id"):
    trainer.initialize_distributed("127.0.0.1:1234", mode="auto")
