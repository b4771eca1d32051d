"""Sweeps: expand a config's `get_sweep(hyper)` into `launch.train` commands, run them, and
tabulate final metrics (markdown + JSON)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from flowvq_jax.core import config as config_lib
from flowvq_jax.core.config import ConfigError
from flowvq_jax.train import hyper


def plan(
  config_spec: str,
  workdir_root: str,
  extra_flags: Sequence[str] = (),
  *,
  points: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
  """One `{'name', 'overrides', 'workdir', 'command'}` per sweep point.

  Every point's overrides are checked against the config first, so a typo fails before any run.
  """
  path, _ = config_lib.split_spec(config_spec)
  module = config_lib.load_module(path)
  if not hasattr(module, "get_sweep"):
    raise ConfigError(f"Config {path!r} defines no get_sweep(hyper).")
  sweep = module.get_sweep(hyper)
  base = config_lib.load_config(config_spec)
  extra = {}
  for flag in extra_flags:
    key, eq, value = flag[len("--config.") :].partition("=")
    if not eq:
      raise ConfigError(f"Sweep base flag {flag!r} needs the form --config.a.b=value.")
    extra[key] = value
  config_lib.apply_overrides(base.copy_and_resolve_references(), extra)
  indices = range(len(sweep)) if points is None else points
  out = []
  for i in indices:
    if not 0 <= i < len(sweep):
      raise ConfigError(f"Sweep point {i} does not exist; the sweep has {len(sweep)} points.")
    point = sweep[i]
    cfg = base.copy_and_resolve_references()
    config_lib.apply_overrides(cfg, {**extra, **point})
    name = f"{i:02d}_{hyper.point_name(point)}"
    workdir = os.path.join(workdir_root, name)
    command = [sys.executable, "-m", "launch.train", "--config", config_spec, "--workdir", workdir]
    command += [f"--config.{k}={v}" for k, v in extra.items()]
    command += [f"--config.{k}={_flag_value(v)}" for k, v in point.items()]
    out.append(
      {"index": i, "name": name, "overrides": point, "workdir": workdir, "command": command}
    )
  return out


def _flag_value(v: Any) -> str:
  return repr(v) if isinstance(v, (tuple, list, dict)) else str(v)


def shell_command(command: Sequence[str]) -> str:
  cmd = list(command)
  if cmd and cmd[0] == sys.executable:
    cmd[0] = "python"
  return " ".join(shlex.quote(c) for c in cmd)


def run(points: list[dict[str, Any]], workdir_root: str) -> list[dict[str, Any]]:
  """Runs each point's command (skipping finished ones) and writes sweep.md / sweep.json."""
  os.makedirs(workdir_root, exist_ok=True)
  rows = []
  for p in points:
    final = os.path.join(p["workdir"], "final_metrics.json")
    if not _finished(final):
      print(f"[sweep] {p['name']}: {shell_command(p['command'])}", flush=True)
      rc = subprocess.call(p["command"])
      if rc != 0 and not os.path.exists(final):
        rows.append(
          {
            "name": p["name"],
            "overrides": p["overrides"],
            "status": f"failed rc={rc}",
            "metrics": {},
          }
        )
        continue
    rows.append(_row(p, final))
  with open(os.path.join(workdir_root, "sweep.json"), "w") as f:
    json.dump(rows, f, indent=2)
  with open(os.path.join(workdir_root, "sweep.md"), "w") as f:
    f.write(markdown_table(rows) + "\n")
  return rows


def _finished(path: str) -> bool:
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return json.load(f).get("status") == "done"


def _row(p, final):
  with open(final) as f:
    res = json.load(f)
  metrics = {**res.get("eval", {})}
  if "train/loss" in res.get("train", {}):
    metrics["train/loss"] = res["train"]["train/loss"]
  if res.get("steps_per_sec"):
    metrics["steps_per_sec"] = res["steps_per_sec"]
  return {
    "name": p["name"],
    "overrides": p["overrides"],
    "status": res.get("status"),
    "step": res.get("step"),
    "metrics": metrics,
  }


def markdown_table(rows: list[dict[str, Any]]) -> str:
  """`| point | status | step | metric... |` with one row per sweep point."""
  keys = sorted({k for r in rows for k in r["metrics"]})
  head = "| point | status | step | " + " | ".join(keys) + " |"
  sep = "|" + "---|" * (3 + len(keys))
  lines = [head, sep]
  for r in rows:
    vals = [f"{r['metrics'][k]:.4g}" if k in r["metrics"] else "" for k in keys]
    lines.append(
      f"| {r['name']} | {r['status']} | {r.get('step', '')} | " + " | ".join(vals) + " |"
    )
  return "\n".join(lines)
