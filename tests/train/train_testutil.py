"""Shared helpers for the trainer tests: small fast configs, worker subprocesses, readers."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import ml_collections
import numpy as np

from flowvq_jax import checkpoints
from flowvq_jax.core import config as config_lib
from flowvq_jax.train import metrics

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_train_worker.py")

# Small and fast; constant lr so a run stopped at step k and resumed matches one run.
FAST = {
  "data.num_train": "256",
  "data.num_val": "64",
  "data.batch_size": "16",
  "model.hidden": "32",
  "train.steps": "10",
  "train.log_every": "1",
  "train.eval_every": "1000",
  "train.ckpt_every": "4",
  "train.keep": "5",
  "train.progress": "false",
  "optimizer.schedule": "constant",
  "optimizer.warmup_steps": "0",
  "eval.num_batches": "2",
  "train.summaries_every": "0",
}


def config(arg: str = "tiny", **overrides) -> ml_collections.ConfigDict:
  c = config_lib.load_config(os.path.join(REPO, "configs", "toy.py") + ":" + arg)
  config_lib.apply_overrides(
    c, {**FAST, **{k.replace("__", "."): str(v) for k, v in overrides.items()}}
  )
  return c


def losses(workdir: str) -> dict[int, float]:
  """train/loss per step (the last row for a step wins, e.g. after a resume)."""
  out = {}
  for row in metrics.read_jsonl(os.path.join(workdir, "metrics.jsonl")):
    if "train/loss" in row:
      out[row["step"]] = row["train/loss"]
  return out


def params(workdir: str, step: int | None = None):
  return checkpoints.load_arrays(os.path.join(workdir, "checkpoints"), step)["params"]


def assert_trees_close(a, b, rtol=1e-5, atol=1e-6):
  import jax  # noqa: PLC0415

  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(la, lb):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# Workers share a persistent compilation cache: repeated runs of one config compile once.
_CACHE = tempfile.mkdtemp(prefix="flowvq_train_test_jit_")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


def worker_env(devices: int = 1) -> dict[str, str]:
  env = dict(os.environ)
  env["JAX_COMPILATION_CACHE_DIR"] = _CACHE
  env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  env["JAX_PLATFORMS"] = "cpu"
  # The repository root (`configs`, `launch`) and this folder (the test task modules).
  here = os.path.dirname(os.path.abspath(__file__))
  env["PYTHONPATH"] = os.pathsep.join([REPO, here, env.get("PYTHONPATH", "")])
  return env


def start_worker(spec: dict, devices: int = 1) -> subprocess.Popen:
  return subprocess.Popen(
    [sys.executable, WORKER, json.dumps(spec)],
    cwd=REPO,
    env=worker_env(devices),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def finish_worker(proc: subprocess.Popen, timeout: float = 180) -> dict:
  out, err = proc.communicate(timeout=timeout)
  if proc.returncode != 0:
    raise AssertionError(f"worker failed (rc={proc.returncode}):\n{err[-3000:]}")
  line = [s for s in out.splitlines() if s.startswith("RESULT ")][-1]
  return json.loads(line[len("RESULT ") :])


def run_worker(spec: dict, devices: int = 1) -> dict:
  return finish_worker(start_worker(spec, devices))


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]
