"""`python -m launch.benchmark`: every section in quick mode, the report files, bad input."""

from __future__ import annotations

import json
import math
import os

import jax
import numpy as np
import pytest

from flowvq_jax.bench import suite as bench
from flowvq_jax.bench import util as bench_util
from launch import benchmark

# Quick mode only exercises the code: its many short programs compile several-fold faster this way.
pytestmark = pytest.mark.usefixtures("fast_compiles")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, tiny_checkpoints):
  out = str(tmp_path_factory.mktemp("bench") / "bench.json")
  argv = ["--what", "all", "--quick", "--repeats", "1", "--out", out]
  rc = benchmark.main(argv + ["--checkpoints", tiny_checkpoints])
  with open(out) as f:
    return rc, out, json.load(f)


def _positive(x) -> bool:
  return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.mark.slow  # the quick run compiles every stage's step, samplers, renderers
def test_all_quick_writes_every_section(quick_run):
  rc, _, res = quick_run
  assert rc == 0
  assert set(bench.ALL) <= set(res)
  assert res["meta"]["quick"] is True and res["meta"]["backend"] == jax.default_backend()
  train = {r["stage"]: r for r in res["train"]}
  stages = {"expflow", "poseflow", "vq_codebook", "vq_query"}
  assert set(train) == stages | {"vq_codebook (no critic)"}
  for r in train.values():
    for k in ("compile_s", "step_s", "examples_per_s", "flops", "xla_mib"):
      assert _positive(r[k]), (r["stage"], k, r[k])
    assert r["peak_mem_mib"] >= 0 and r["memory_source"]
  free, full = train["vq_codebook (no critic)"], train["vq_codebook"]
  assert free["params"] == full["params"] and free["flops"] < full["flops"]  # no critic in it
  feed = {r["stage"]: r for r in res["input"]}
  assert set(feed) == stages
  for r in feed.values():  # a batch of the stage's own shape, produced at a measured rate
    assert _positive(r["batches_per_s"]) and _positive(r["mib_per_batch"]), r
    assert r["batch"].split("x")[0] == train[r["stage"]]["batch"].split("x")[0]
  assert {r["kind"] for r in res["sample"]} == {"exp", "pose"}
  for r in res["sample"]:
    assert _positive(r["sample_s"]) and _positive(r["rtf"]) and _positive(r["flops"])
  for r in res["render"]:
    assert _positive(r["fps"]) and _positive(r["render_s"]) and _positive(r["flops"])
  (moglow,) = res["moglow"]
  assert moglow["params"] > 10_000_000  # the full moglow_size count even in quick mode
  assert _positive(moglow["train_step_s"]) and _positive(moglow["sample_s"])
  taming = res["taming"]
  assert taming["params_total"] == sum(
    taming[f"params_{k}"] for k in ("encoder", "quantizer", "decoder", "discriminator")
  )
  assert taming["params_total"] > 50_000_000 and _positive(taming["step_s"])
  gen = res["generate"]
  for k in ("wall_s", "rtf", "coefficients_s", "rendering_s", "encoding_s"):
    assert _positive(gen[k]), (k, gen[k])
  assert gen["frames"] == round(gen["seconds"] * 25)


@pytest.mark.slow
def test_peak_share_on_cpu_says_so(quick_run):
  _, _, res = quick_run
  if jax.default_backend() != "cpu":
    pytest.skip("CPU-only check")
  shares = [r["peak_share"] for r in res["train"] + res["sample"] + res["render"]]
  assert shares and all(s == "n/a (CPU)" for s in shares)


@pytest.mark.slow
def test_growth_table_and_plot(quick_run):
  _, out, res = quick_run
  growth = res["growth"]
  assert growth["png"] == bench.png_path(out)
  with open(growth["png"], "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  lengths = [r["frames"] for r in growth["length"]]
  assert lengths == sorted(lengths) and len(lengths) >= 3
  assert [r["batch"] for r in growth["batch"]] == [1, 2]
  for r in growth["length"] + growth["batch"]:
    assert _positive(r["sample_s"]) and r["peak_mem_mib"] >= 0


@pytest.mark.slow
def test_scan_and_python_loop_sample_the_same_sequence(quick_run):
  _, _, res = quick_run
  r = res["scan_vs_loop"]
  assert _positive(r["scan_s"]) and _positive(r["loop_s"])
  assert r["loop_over_scan"] == pytest.approx(r["loop_s"] / r["scan_s"])
  assert r["max_abs_diff"] < 1e-4  # same params, audio and noise: the same coefficients


@pytest.mark.slow
def test_report_has_a_table_per_section(quick_run):
  _, _, res = quick_run
  text = bench.report(res)
  for name in bench.ALL:
    assert f"### {name}" in text
  assert "| stage | config | params |" in text


@pytest.mark.parametrize("what", ["trian", "train,bogus", " , "])
def test_bad_what_exits_2_with_a_clear_error(tmp_path, capsys, what):
  out = str(tmp_path / "b.json")
  assert benchmark.main(["--what", what, "--out", out]) == 2
  err = capsys.readouterr().err
  assert "error:" in err and "scan_vs_loop" in err
  assert not os.path.exists(out)


def test_parse_sections_orders_and_expands_all():
  assert bench.parse_sections("render,train") == ["train", "render"]
  assert bench.parse_sections("all") == list(bench.ALL)
  assert "flow" not in bench.parse_sections("all")
  assert bench.parse_sections("all,flow") == list(bench.SECTIONS)


def test_peak_flops_table():
  assert bench_util.peak_flops("NVIDIA H100 80GB HBM3") == 989e12
  assert bench_util.peak_flops("NVIDIA H100 PCIe") == 756e12
  assert bench_util.peak_flops("TPU v5 lite") == 197e12
  assert bench_util.peak_flops("TPU v4") == 275e12
  assert bench_util.peak_flops("TPU v5") == 459e12  # v5p
  assert bench_util.peak_flops("NVIDIA L40S") == 362e12
  assert bench_util.peak_flops("NVIDIA L4") == 121e12
  assert bench_util.peak_flops("Some New Chip") is None


def test_memory_meter_sees_an_allocation():
  with bench_util.MemoryMeter() as m:
    x = np.ones(8 * 2**20)  # 64 MiB, touched
    x[::512] += 1.0
  r = m.result()
  if "VmHWM" in r["memory_source"]:
    assert r["peak_mem_bytes"] >= 48 * 2**20
  else:
    assert r["peak_mem_bytes"] >= 0
  del x


def test_flop_count_of_a_convolution_is_the_textbook_count():
  """`flop_count` compiles for the host CPU (the path `xla_cost` takes on accelerators); it and
  `xla_cost` of the compiled call both give 2 * outputs * kernel taps * input channels for a
  convolution, + 2 * M * N * K."""
  x = jax.ShapeDtypeStruct((2, 16, 16, 8), np.float32)
  k = np.ones((3, 3, 8, 4), np.float32)
  m = np.ones((4, 5), np.float32)

  @jax.jit
  def f(x, k, m):
    y = jax.lax.conv_general_dilated(
      x, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return y @ m

  expected = 2 * (2 * 14 * 14 * 4) * 9 * 8 + 2 * (2 * 14 * 14 * 5) * 4
  host = bench_util.flop_count(f, x, k, m)
  assert host == pytest.approx(expected, rel=0.01)
  compiled = f.lower(x, k, m).compile()
  assert bench_util.xla_cost(compiled)["flops"] == pytest.approx(host)
  assert bench_util.xla_cost(compiled, f, (x, k, m))["flops"] == pytest.approx(host)
  on_device = jax.device_put(k, jax.devices()[0])  # arrays on any device are moved to the host
  assert bench_util.flop_count(f, x, on_device, m) == pytest.approx(host)
