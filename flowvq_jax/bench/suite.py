"""The speed benchmark of `python -m launch.benchmark`: sections, report, growth plot.

  results = bench.run(["train", "sample"], out="bench.json", quick=False)
  print(bench.report(results))

Sections (`SECTIONS`; `all` is every one but `flow`, whose rows `sample` and `moglow` cover):

  train         one training step of each stage at its `synthetic` config (`bench_train`)
  input         each stage's train iterator alone, batches/s at the same configs (`bench_input`)
  sample        ExpFlow / PoseFlow sampling of 10 s of coefficients (`bench_flow.sample_rows`)
  scan_vs_loop  the chunked `lax.scan` sampler against a frame-by-frame Python loop
  growth        sampling time and memory against clip length (10 s - 10 min) and batch size,
                as tables and a PNG next to the JSON (`<stem>_growth.png`)
  render        stage-2 renderer frames/s at 128 and 256 px (`bench_render`)
  moglow        moglow_size ExpFlow / PoseFlow: params, training step 16 x 100, sampling 1 and 8
  taming        taming_faceshq VQGAN: parameter counts and the generator + discriminator step
                (one timed step after a warm-up)
  flow          the earlier flow table (`bench_flow.run`: synthetic and moglow_size)
  generate      the whole generate path for 10 s of audio: real-time factor (`bench_generate`)

(`taming`, the slowest on a CPU, runs last.)

`quick=True` shrinks every section to seconds of compute (tiny configs, short clips, the
`unsafe_rbg` PRNG, which compiles faster, for the duration of the run); for the
moglow and taming sections it keeps the exact parameter counts of the full-size configs
(`jax.eval_shape`) but times a `tiny` stand-in (`timed_config` says so). Results are written
to the JSON after every section.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax

from flowvq_jax.bench import flow as bench_flow
from flowvq_jax.bench import generate as bench_generate
from flowvq_jax.bench import inputs as bench_input
from flowvq_jax.bench import render as bench_render
from flowvq_jax.bench import train as bench_train
from flowvq_jax.bench import util as U
from flowvq_jax.bench import vq as vq_bench

SECTIONS = (
  "train",
  "input",
  "sample",
  "scan_vs_loop",
  "growth",
  "render",
  "moglow",
  "flow",
  "generate",
  "taming",
)
ALL = tuple(s for s in SECTIONS if s != "flow")


def parse_sections(what: str) -> list[str]:
  """`'train,sample'` / `'all'` -> sections in run order; ValueError naming unknown ones."""
  names = [w.strip() for w in str(what).split(",") if w.strip()]
  if not names:
    raise ValueError(f"--what is empty; choose from {', '.join(SECTIONS)} or all.")
  bad = [n for n in names if n != "all" and n not in SECTIONS]
  if bad:
    raise ValueError(
      f"Unknown benchmark section(s) {', '.join(repr(b) for b in bad)}; choose a comma list "
      f"of {', '.join(SECTIONS)}, or all."
    )
  chosen = set(ALL) if "all" in names else set()
  chosen.update(n for n in names if n != "all")
  return [s for s in SECTIONS if s in chosen]


def png_path(out: str) -> str:
  """The growth plot's path next to the JSON file `out`."""
  return os.path.splitext(out)[0] + "_growth.png"


def _json_safe(x: Any) -> Any:
  return json.loads(json.dumps(x, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _moglow(quick: bool, repeats: int) -> list[dict[str, Any]]:
  if not quick:
    return bench_flow.moglow_rows(False, repeats)
  exp = bench_train.time_step("expflow", "tiny", repeats)
  sample = bench_flow.time_sampling("exp", "tiny", 64, repeats=repeats)
  return [
    {
      "kind": "exp",
      "config": "moglow_size",
      "params": bench_flow.param_count("exp", "moglow_size"),
      "timed_config": "tiny (quick stand-in)",
      "frames": sample["frames"],
      "sample_s": sample["sample_s"],
      "compile_s": sample["compile_s"],
      "train_batch": exp["batch"],
      "train_step_s": exp["step_s"],
      "train_compile_s": exp["compile_s"],
      "train_flops": exp["flops"],
      "train_peak_share": exp["peak_share"],
    }
  ]


def _taming(quick: bool, repeats: int) -> dict[str, Any]:
  if not quick:
    return bench_train.taming(False, repeats)
  counts = vq_bench.param_counts("taming_faceshq")
  row = dict(bench_train.time_step("vq_codebook", "tiny", repeats))
  row.update(
    stage="vq_codebook (G + D step)",
    config="taming_faceshq",
    timed_config="tiny (quick stand-in)",
    params_total=int(sum(counts.values())),
    **{f"params_{k}": v for k, v in counts.items()},
  )
  return row


def _generate(quick: bool, repeats: int, checkpoints: str | None, build_dir: str | None, log):
  seconds = 2.0 if quick else 10.0
  if checkpoints:
    row = bench_generate.run(checkpoints, seconds, repeats)
    row["checkpoints"] = "given (--checkpoints)"
    return row
  if build_dir:
    t0 = time.perf_counter()
    bench_generate.build_checkpoints(build_dir, quick, log=log)
    build_s = time.perf_counter() - t0  # ~0 when build_dir was already complete
    row = bench_generate.run(build_dir, seconds, repeats)
    row["checkpoints"] = f"built: {'tiny' if quick else 'synthetic'} configs, 1 training step"
    row["build_s"] = build_s
    return row
  with tempfile.TemporaryDirectory() as tmp:
    return _generate(quick, repeats, None, tmp, log)


def run(
  sections: Sequence[str],
  out: str,
  *,
  quick: bool = False,
  repeats: int = 3,
  checkpoints: str | None = None,
  build_dir: str | None = None,
  log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Runs `sections` (see module docstring), writing the results to `out` after each one.

  Args:
    checkpoints: a trained checkpoints directory for `generate` (used as it is).
    build_dir: where `generate` builds (or reuses) its one-step checkpoints when `checkpoints`
      is None; None: a temporary directory.
  """
  d = os.path.dirname(out)
  if d:
    os.makedirs(d, exist_ok=True)
  results: dict[str, Any] = {
    "meta": {
      **U.device_info(),
      "sections": list(sections),
      "quick": bool(quick),
      "repeats": int(repeats),
      "started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
      "note": "wall-clock timings; on a shared CPU they are noisy",
    }
  }
  fns: dict[str, Callable[[], Any]] = {
    "train": lambda: bench_train.run(quick, repeats),
    "input": lambda: bench_input.run(quick),
    "sample": lambda: bench_flow.sample_rows(quick, repeats),
    "scan_vs_loop": lambda: bench_flow.scan_vs_loop(quick, repeats),
    "growth": lambda: bench_flow.growth_rows(quick, min(repeats, 2)),
    "render": lambda: bench_render.run(quick, min(repeats, 2)),
    "moglow": lambda: _moglow(quick, repeats),
    "taming": lambda: _taming(quick, 1),
    "flow": lambda: bench_flow.run(repeats=repeats, quick=quick),
    "generate": lambda: _generate(quick, min(repeats, 2), checkpoints, build_dir, log),
  }
  old_impl = jax.config.jax_default_prng_impl
  if quick:  # cheaper to compile; the quick numbers only exercise the code.
    jax.config.update("jax_default_prng_impl", "unsafe_rbg")
  try:
    _run_sections(sections, fns, results, out, log)
  finally:
    jax.config.update("jax_default_prng_impl", old_impl)
  return results


def _run_sections(sections, fns, results, out, log) -> None:
  for name in sections:
    if name not in fns:
      raise ValueError(f"Unknown benchmark section {name!r}; choose from {', '.join(SECTIONS)}.")
    log(f"[benchmark] {name} ...")
    t0 = time.perf_counter()
    value = fns[name]()
    if name == "growth":
      value["png"] = plot_growth(value, png_path(out))
    results[name] = _json_safe(value)
    results["meta"].setdefault("section_wall_s", {})[name] = time.perf_counter() - t0
    log(report({name: results[name]}))
    with open(out, "w") as f:
      json.dump(results, f, indent=2)


# ------------------------------------------------------------------------------------------------
# Report.

_COLS = {
  "train": ("stage", "config", "params", "batch", "compile_s", "step_s", "examples_per_s",
            "frames_per_s", "flops", "gflops_per_s", "peak_share", "xla_mib", "peak_mem_mib"),
  "input": ("stage", "config", "batch", "threads", "clips", "setup_s", "batches_per_s",
            "examples_per_s", "mib_per_batch"),
  "sample": ("kind", "config", "frames", "batch", "compile_s", "sample_s", "rtf", "frames_per_s",
             "flops", "gflops_per_s", "peak_share", "chunk_xla_mib", "peak_mem_mib"),
  "scan_vs_loop": ("kind", "config", "frames", "chunk_size", "scan_s", "loop_s", "loop_over_scan",
                   "loop_ms_per_frame", "max_abs_diff"),
  "growth": ("audio_s", "batch", "frames", "sample_s", "rtf", "frames_per_s", "chunk_xla_mib",
             "io_mib", "peak_mem_mib"),
  "render": ("config", "image_size", "tokens", "params", "frames", "chunk", "compile_s",
             "render_s", "fps", "flops", "gflops_per_s", "peak_share", "chunk_xla_mib",
             "peak_mem_mib"),
  "moglow": ("kind", "config", "timed_config", "params", "frames", "compile_s", "sample_s",
             "sample_s_batch8", "train_batch", "train_compile_s", "train_step_s", "train_flops",
             "train_peak_share"),
  "taming": ("config", "timed_config", "params_encoder", "params_quantizer", "params_decoder",
             "params_discriminator", "params_total", "batch", "compile_s", "step_s", "flops",
             "gflops_per_s", "peak_share", "xla_mib", "peak_mem_mib"),
  "flow": ("kind", "config", "params", "compile_s", "sample_s", "sample_s_batch8",
           "train_step_s"),
  "generate": ("seconds", "frames", "image_size", "checkpoints", "first_call_s", "compile_s",
               "wall_s", "rtf", "inputs_s", "coefficients_s", "rendering_s", "encoding_s",
               "peak_mem_mib"),
}  # fmt: skip


def report(results: dict[str, Any]) -> str:
  """Markdown tables of the sections in `results` (units: seconds, MiB, FLOPs)."""
  parts = []
  for name, value in results.items():
    if name == "meta" or name not in _COLS:
      continue
    cols = _COLS[name]
    parts.append(f"### {name}\n")
    if name == "growth":
      parts.append("By clip length (batch 1):\n\n" + U.markdown_table(value["length"], cols))
      parts.append("\nBy batch size:\n\n" + U.markdown_table(value["batch"], cols))
      if value.get("png"):
        parts.append(f"\nPlot: {value['png']}\n")
    else:
      rows = value if isinstance(value, list) else [value]
      parts.append(U.markdown_table(rows, cols))
    if name in ("train", "sample", "render", "generate") and rows_source(value):
      parts.append(f"\nMemory: {rows_source(value)}.\n")
    parts.append("")
  return "\n".join(parts)


def rows_source(value: Any) -> str:
  rows = value if isinstance(value, list) else [value]
  for r in rows:
    if isinstance(r, dict) and r.get("memory_source"):
      return str(r["memory_source"])
  return ""


def plot_growth(growth: dict[str, list[dict[str, Any]]], path: str) -> str:
  """Sampling time and peak memory against clip length and batch size (2 x 2 panels)."""
  import matplotlib  # noqa: PLC0415  (optional: a development dependency, for the plot only)

  matplotlib.use("Agg", force=False)
  import matplotlib.pyplot as plt  # noqa: PLC0415  (after choosing the Agg backend)

  fig, axes = plt.subplots(2, 2, figsize=(10, 7))
  for col, (key, xname, xlabel) in enumerate(
    (("length", "audio_s", "clip length (s), batch 1"), ("batch", "batch", "batch size"))
  ):
    rows = growth[key]
    x = [r[xname] for r in rows]
    for row_i, (yname, ylabel) in enumerate(
      (("sample_s", "sampling time (s)"), ("peak_mem_mib", "memory (MiB)"))
    ):
      ax = axes[row_i, col]
      y = [r.get(yname) or 0.0 for r in rows]
      ax.plot(x, y, "o-", label="measured" if yname == "peak_mem_mib" else None)
      if yname == "peak_mem_mib":
        io = [(r.get("io_mib") or 0.0) + (r.get("chunk_xla_mib") or 0.0) for r in rows]
        ax.plot(x, io, "s:", label="log-mel in + coefficients out + chunk program (computed)")
        ax.legend(fontsize=7)
      if yname == "sample_s" and x and x[0] > 0 and y[0] > 0:
        ax.plot(x, [y[0] * v / x[0] for v in x], "--", color="gray", label="linear from first")
        ax.legend()
      ax.set_xlabel(xlabel)
      ax.set_ylabel(ylabel)
      ax.grid(True, alpha=0.3)
  cfg = growth["length"][0]["config"] if growth["length"] else ""
  fig.suptitle(f"ExpFlow sampling growth ({cfg} config)")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
