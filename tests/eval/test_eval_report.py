"""Report tables: NotComputed reasons in markdown, JSON round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from flowvq_jax.eval import metrics as M
from flowvq_jax.eval import report


def _results():
  return {
    "ours": {
      "ssim": np.float32(0.6891),
      "fid": M.fid(np.zeros((2, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.uint8)),
      "psnr": float("inf"),
      "best_lag": 2,
    },
    "baseline": {"ssim": 0.5, "m_lmd": 2.25},
  }


def test_markdown_shows_reasons_and_directions():
  md = report.to_markdown(_results())
  lines = md.strip().splitlines()
  assert lines[0] == "| method | ssim ↑ | fid ↓ | psnr ↑ | best_lag | m_lmd ↓ |"
  assert lines[1] == "|---|---|---|---|---|---|"
  ours = lines[2].split(" | ")
  assert ours[1] == "0.6891"
  assert ours[2].startswith("n/a (FID needs Inception-v3")
  assert ours[3] == "inf" and ours[4] == "2"
  assert lines[3] == "| baseline | 0.5 |  |  |  | 2.25 |"


def test_flat_results_and_pipe_escaping():
  md = report.to_markdown({"lse_c": M.NotComputed("a|b"), "x": 1.23456789}, digits=3)
  assert "n/a (a\\|b)" in md and "1.23" in md


def test_json_round_trip(tmp_path):
  paths = report.write_report(_results(), str(tmp_path / "sub" / "eval"), title="Eval")
  raw = json.loads(open(paths["json"]).read())
  assert raw["ours"]["fid"] == {"not_computed": _results()["ours"]["fid"].reason}
  assert raw["ours"]["psnr"] == "inf"
  back = report.load_json(paths["json"])
  assert isinstance(back["ours"]["fid"], M.NotComputed)
  assert back["ours"]["fid"] == _results()["ours"]["fid"]
  assert math.isinf(back["ours"]["psnr"])
  assert back["ours"]["ssim"] == pytest.approx(0.6891, rel=1e-6)
  md = open(paths["md"]).read()
  assert md.startswith("# Eval\n\n| method |")


def test_bad_results():
  with pytest.raises(ValueError, match="non-empty"):
    report.to_markdown({})
  with pytest.raises(ValueError, match="not a mix"):
    report.to_markdown({"a": {"x": 1.0}, "b": 2.0})
  with pytest.raises(TypeError, match="Cannot write"):
    report.to_json({"a": object()})
