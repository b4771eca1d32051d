"""Device counts, processes and crashes: 1 vs 8 devices (data-parallel and fully sharded),
checkpoints moved between device counts, two processes with jax.distributed, SIGKILL."""

from __future__ import annotations

import os
import shutil

import numpy as np
from train_testutil import (
  FAST,
  assert_trees_close,
  config,
  finish_worker,
  free_port,
  losses,
  params,
  run_worker,
  start_worker,
)

from flowvq_jax.train import trainer


def _run(workdir, arg="tiny", steps=10, faults=None):
  run = {"workdir": str(workdir), "arg": arg, "overrides": {**FAST, "train.steps": str(steps)}}
  if faults:
    run["faults"] = faults
  return run


def _check_losses(workdir, ref_losses, rtol, first=1):
  got = losses(str(workdir))
  steps = range(first, 11)
  assert sorted(got) == list(steps)
  np.testing.assert_allclose([got[s] for s in steps], [ref_losses[s] for s in steps], rtol=rtol)


def _copy_checkpoint(src_workdir, step, dst_workdir):
  shutil.copytree(
    os.path.join(src_workdir, "checkpoints", str(step)),
    os.path.join(dst_workdir, "checkpoints", str(step)),
  )


def test_one_vs_eight_devices_and_checkpoints_across_device_counts(tmp_path, reference):
  ref_wd, ref_losses, ref_params = reference
  # The 1-device checkpoint at step 4 resumes on 8 devices (fully sharded).
  _copy_checkpoint(ref_wd, 4, tmp_path / "from1")
  out = run_worker(
    {
      "runs": [
        _run(tmp_path / "dp8"),
        _run(tmp_path / "fsdp8", arg="tiny,fsdp=true"),
        _run(tmp_path / "from1", arg="tiny,fsdp=true"),
      ],
      "report_shardings": "tiny,fsdp=true",
    },
    devices=8,
  )
  assert out["devices"] == 8
  # Under fsdp the big kernels really are split over the 8 devices.
  assert out["shardings"]["enc_1/kernel"] in (["fsdp", None], [None, "fsdp"])
  for name, first in (("dp8", 1), ("fsdp8", 1), ("from1", 5)):
    _check_losses(tmp_path / name, ref_losses, rtol=1e-4, first=first)
    assert_trees_close(params(str(tmp_path / name)), ref_params, rtol=1e-4, atol=1e-5)
  # The 8-device fully-sharded checkpoint at step 4 resumes here on 1 device.
  _copy_checkpoint(tmp_path / "fsdp8", 4, tmp_path / "from8")
  trainer.train(config(), str(tmp_path / "from8"))
  _check_losses(tmp_path / "from8", ref_losses, rtol=1e-4, first=5)
  assert_trees_close(params(str(tmp_path / "from8")), ref_params, rtol=1e-4, atol=1e-5)


def test_two_processes_train_preempt_checkpoint_and_resume(tmp_path, reference):
  _, ref_losses, ref_params = reference
  wd = tmp_path / "two"
  # Phase 1: process 1 gets SIGTERM after batch 4; jax's preemption sync makes both processes
  # save at the same step and stop. Phase 2: both resume to step 10.
  faults = {"sigterm_at": 4, "sigterm_process": 1, "sleep_after_sigterm": 0.3}
  for phase in (1, 2):
    port = free_port()
    run = _run(wd, arg="tiny,fsdp=true", faults=faults if phase == 1 else None)
    procs = [
      start_worker(
        {
          "runs": [run],
          "distributed": {
            "coordinator_address": f"127.0.0.1:{port}",
            "num_processes": 2,
            "process_id": i,
          },
        }
      )
      for i in range(2)
    ]
    outs = [finish_worker(p)["results"][0] for p in procs]
    if phase == 1:
      assert [o["status"] for o in outs] == ["preempted", "preempted"]
      stop = outs[0]["step"]
      assert outs[1]["step"] == stop and 4 <= stop < 10
      files = os.listdir(wd / "checkpoints" / str(stop) / "data")
      assert {"process_0-of-2.json", "process_1-of-2.json"} <= set(files)
    else:
      assert [(o["status"], o["step"]) for o in outs] == [("done", 10), ("done", 10)]
  # Each process read its half of every global batch: same losses as the 1-process run.
  _check_losses(wd, ref_losses, rtol=1e-4)
  assert_trees_close(params(str(wd)), ref_params, rtol=1e-4, atol=1e-5)


def test_sigkill_between_checkpoints_then_restart_matches(tmp_path, reference):
  _, ref_losses, ref_params = reference
  marker = str(tmp_path / "killed")
  proc = start_worker(
    {"runs": [_run(tmp_path / "run", faults={"sigkill_at": 7, "sigkill_marker": marker})]}
  )
  proc.communicate(timeout=180)
  assert proc.returncode == -9 and os.path.exists(marker)
  assert not os.path.exists(tmp_path / "run" / "checkpoints" / "10")
  out = run_worker(
    {"runs": [_run(tmp_path / "run", faults={"sigkill_at": 7, "sigkill_marker": marker})]}
  )
  assert out["results"][0]["step"] == 10
  assert_trees_close(params(str(tmp_path / "run")), ref_params, rtol=1e-6, atol=1e-7)
  _check_losses(tmp_path / "run", ref_losses, rtol=1e-6)


def test_two_processes_warm_start_from_one_process_run(tmp_path, reference):
  """`train.init_from` on 2 processes with FSDP-sharded params: each process places its shards of
  the 1-process reference run's params (lr 0 keeps them, so the run's checkpoint equals them)."""
  ref_wd, _, ref_params = reference
  wd = tmp_path / "warm"
  run = _run(wd, arg="tiny,fsdp=true", steps=2)
  run["overrides"].update({"train.init_from": ref_wd, "optimizer.lr": "0.0"})
  port = free_port()
  dist = {"coordinator_address": f"127.0.0.1:{port}", "num_processes": 2}
  procs = [start_worker({"runs": [run], "distributed": {**dist, "process_id": i}}) for i in (0, 1)]
  outs = [finish_worker(p)["results"][0] for p in procs]
  assert [(o["status"], o["step"]) for o in outs] == [("done", 2), ("done", 2)]
  assert_trees_close(params(str(wd)), ref_params, rtol=0, atol=0)
