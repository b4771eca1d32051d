"""The command lines: launch.train flag errors, launch.sweep dry run and a one-point sweep."""

from __future__ import annotations

import json
import subprocess
import sys

from train_testutil import REPO, worker_env

from launch import sweep as sweep_cli
from launch import train as train_cli


def test_train_cli_errors_are_one_line(capsys, tmp_path):
  wd = str(tmp_path / "wd")
  cases = [
    (["--config", "configs/toy.py:tiyn", "--workdir", wd], "Unknown config variant 'tiyn'"),
    (
      ["--config", "configs/toy.py:tiny", "--workdir", wd, "--config.train.stpes=3"],
      "config.train has no field 'stpes'",
    ),
    (
      ["--config", "configs/toy.py:tiny", "--workdir", wd, "--config.optimizer.lr", "fast"],
      "'fast' is not a float",
    ),
    (
      ["--config", "configs/toy.py:tiny", "--workdir", wd, "--steps=3"],
      "Unrecognized argument '--steps=3'",
    ),
  ]
  for argv, message in cases:
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
  assert not (tmp_path / "wd").exists()


def test_train_cli_error_exit_code_in_a_subprocess():
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "launch.train",
      "--config",
      "configs/toy.py:nope",
      "--workdir",
      "/nonexistent/x",
    ],
    cwd=REPO,
    env=worker_env(),
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
    "error: Unknown config variant 'nope'; choose one of: default, tiny."
  ]


def test_sweep_dry_run_prints_one_command_per_point(capsys, tmp_path):
  dry_run = ["--config", "configs/toy.py:tiny", "--workdir_root", str(tmp_path), "--dry_run"]
  assert sweep_cli.main([*dry_run, "--config.train.steps=50"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert len(lines) == 6
  assert all(
    line.startswith("python -m launch.train --config configs/toy.py:tiny") for line in lines
  )
  assert "--config.optimizer.lr=0.01 --config.model.hidden=64" in lines[-1]
  assert all("--config.train.steps=50" in line for line in lines)
  assert sweep_cli.main([*dry_run, "--config.train.stpes=5"]) == 2
  assert "no field 'stpes'" in capsys.readouterr().err


def test_sweep_runs_points_and_writes_table(tmp_path):
  root = tmp_path / "sweep"
  cmd = [
    sys.executable,
    "-m",
    "launch.sweep",
    "--config",
    "configs/toy.py:tiny",
    "--workdir_root",
    str(root),
    "--points",
    "1",
    "--config.train.steps=4",
    "--config.train.progress=false",
    "--config.data.num_train=128",
  ]
  proc = subprocess.run(
    cmd, cwd=REPO, env=worker_env(), capture_output=True, text=True, timeout=300
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  rows = json.loads((root / "sweep.json").read_text())
  assert [r["name"] for r in rows] == ["01_lr=0.001,hidden=64"]
  assert rows[0]["status"] == "done" and rows[0]["step"] == 4
  assert rows[0]["metrics"]["val/loss"] > 0
  table = (root / "sweep.md").read_text()
  assert table.startswith("| point | status | step |") and "01_lr=0.001,hidden=64" in table
