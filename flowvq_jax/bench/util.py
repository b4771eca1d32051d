"""Shared measuring tools of the speed benchmarks (`python -m launch.benchmark`).

  jitted = jax.jit(fn)
  compiled, compile_s = compile_timed(jitted, *args)          # trace + lower + XLA compile
  cost = xla_cost(compiled, jitted, args)  # {'flops', 'xla_bytes'} of ONE call (FLOPs: CPU count)
  best, first = best_time(lambda: compiled(*args), repeats)  # seconds, after compilation
  with MemoryMeter() as mem: ...  # mem.result(): peak memory over the block

Peak memory: on accelerators, the device's `memory_stats()['peak_bytes_in_use']` (a process-wide
high-water mark: the value after the block, and its growth during it); on CPU, the growth of the
process's peak resident set over the block: Linux `VmHWM`, reset to the current RSS before the
block through `/proc/self/clear_refs`, where the kernel allows it, else `getrusage` `ru_maxrss`
(which cannot be reset, so it shows only new highs). `memory_source` names which.

FLOP/s share: achieved FLOP/s over the device's dense bfloat16 peak (`PEAK_FLOPS`, from the
vendors' data sheets; float32 runs therefore show a lower bound); 'n/a (CPU)' on CPU.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

# Dense bfloat16 peak FLOP/s per device, matched as a case-insensitive substring of
# `device_kind` (first match wins, so longer names come first).
PEAK_FLOPS: tuple[tuple[str, float], ...] = (
  ("TPU v6 lite", 918e12),
  ("TPU v6e", 918e12),
  ("TPU v5 lite", 197e12),
  ("TPU v5e", 197e12),
  ("TPU v5", 459e12),  # v5p reports "TPU v5"
  ("TPU v4", 275e12),
  ("TPU v3", 123e12),
  ("TPU v2", 45e12),
  ("H200", 989e12),
  ("H100 PCIe", 756e12),
  ("H100", 989e12),
  ("A100", 312e12),
  ("L40S", 362e12),
  ("L40", 181e12),
  ("L4", 121e12),
  ("V100", 125e12),  # fp16 tensor cores (no bfloat16)
  ("T4", 65e12),  # fp16 tensor cores (no bfloat16)
)


def device_info() -> dict[str, Any]:
  """Backend, device kind and count, jax version, host CPU count."""
  d = jax.devices()[0]
  return {
    "backend": jax.default_backend(),
    "device_kind": str(d.device_kind),
    "device_count": jax.device_count(),
    "jax": jax.__version__,
    "python": sys.version.split()[0],
    "host_cpus": os.cpu_count(),
  }


def peak_flops(device_kind: str | None = None) -> float | None:
  """Dense bf16 peak FLOP/s of a device kind (default: the first device), None if unknown."""
  kind = (device_kind or str(jax.devices()[0].device_kind)).lower()
  for name, value in PEAK_FLOPS:
    if name.lower() in kind:
      return value
  return None


def peak_share(flops: float | None, seconds: float) -> float | str:
  """Achieved FLOP/s over the device's dense bf16 peak, or why there is none."""
  if jax.default_backend() == "cpu":
    return "n/a (CPU)"
  if not flops or seconds <= 0:
    return "n/a (no FLOP count)"
  peak = peak_flops()
  if peak is None:
    return f"n/a (unknown device {jax.devices()[0].device_kind!r})"
  return flops / seconds / peak


def compile_timed(jitted, *args, **kwargs) -> tuple[Any, float]:
  """`(compiled, seconds)` of `jitted.lower(*args, **kwargs).compile()`: trace, lower, compile."""
  start = time.perf_counter()
  compiled = jitted.lower(*args, **kwargs).compile()
  return compiled, time.perf_counter() - start


def xla_cost(compiled, jitted=None, args: tuple = ()) -> dict[str, float | None]:
  """XLA's FLOP count and memory (arguments + outputs + temporaries, bytes) of one call.

  With `jitted` (the function `compiled` came from) and its `args`, the FLOPs on an accelerator
  are `flop_count(jitted, *args)`, counted for the host CPU; on the CPU they are `compiled`'s.
  """
  if jitted is not None and jax.default_backend() != "cpu":
    return {**xla_cost(compiled), "flops": flop_count(jitted, *args)}
  flops = None
  try:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per computation
      cost = cost[0] if cost else None
    if cost and cost.get("flops") is not None and cost["flops"] >= 0:
      flops = float(cost["flops"])
  except Exception:  # noqa: BLE001 - not every backend implements it
    flops = None
  mem = None
  try:
    m = compiled.memory_analysis()
    if m is not None:
      mem = float(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes)
      mem -= float(getattr(m, "alias_size_in_bytes", 0))
  except Exception:  # noqa: BLE001
    mem = None
  return {"flops": flops, "xla_bytes": mem}


def flop_count(jitted, *args) -> float | None:
  """XLA's FLOP count of one call `jitted(*args)`, as compiled for the host CPU.

  On a GPU, XLA's cost analysis leaves out the convolutions it hands to cuDNN (custom calls):
  one 128 px frame of the stage-2 renderer counted 2.2 GFLOP on an H100 against 28.7 on the CPU
  (29.1 by hand from the jaxpr's convolutions and dots). So the count comes from a compile of
  the same program for the host CPU (compiled, not run). `args` may be arrays on any device or
  `jax.ShapeDtypeStruct`s. `xla_cost(compiled, jitted, args)` uses it on accelerators only.
  """
  cpu = jax.devices("cpu")[0]
  to_host = lambda x: jax.device_put(x, cpu) if isinstance(x, (jax.Array, np.ndarray)) else x
  with jax.default_device(cpu):
    return xla_cost(jitted.lower(*jax.tree.map(to_host, args)).compile())["flops"]


def block(x: Any) -> Any:
  return jax.block_until_ready(x)


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
  """`(best, first)` wall seconds of `1 + repeats` calls of `fn` (results blocked on)."""
  times = []
  for _ in range(1 + max(int(repeats), 1)):
    start = time.perf_counter()
    block(fn())
    times.append(time.perf_counter() - start)
  return min(times[1:]), times[0]


# ------------------------------------------------------------------------------------------------
# Memory.


def _status_kb(key: str) -> int | None:
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith(key + ":"):
          return int(line.split()[1])
  except OSError:
    pass
  return None


def _reset_peak_rss() -> bool:
  try:
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")
    return True
  except OSError:
    return False


def _device_stats() -> dict[str, Any] | None:
  try:
    return jax.devices()[0].memory_stats()
  except Exception:  # noqa: BLE001
    return None


class MemoryMeter(contextlib.AbstractContextManager):
  """Peak memory over a `with` block (module docstring); `result()` after the block."""

  def __enter__(self):
    self._dev0 = _device_stats()
    self._hwm = _reset_peak_rss() and _status_kb("VmHWM") is not None
    self._rss0 = _status_kb("VmRSS") if self._hwm else None
    self._maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return self

  def __exit__(self, *exc):
    self._dev1 = _device_stats()
    self._hwm1 = _status_kb("VmHWM") if self._hwm else None
    self._maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return False

  def result(self) -> dict[str, Any]:
    """`peak_mem_bytes` (growth of the peak over the block) and `memory_source`."""
    d0, d1 = self._dev0, self._dev1
    if d1 and "peak_bytes_in_use" in d1:
      before = (d0 or {}).get("peak_bytes_in_use", 0)
      return {
        "peak_mem_bytes": int(d1["peak_bytes_in_use"] - before),
        "device_peak_bytes": int(d1["peak_bytes_in_use"]),
        "memory_source": "device memory_stats peak_bytes_in_use (growth over the block)",
      }
    if self._hwm and self._hwm1 is not None and self._rss0 is not None:
      return {
        "peak_mem_bytes": int(max(self._hwm1 - self._rss0, 0) * 1024),
        "memory_source": "host peak RSS growth (VmHWM reset via /proc/self/clear_refs)",
      }
    return {
      "peak_mem_bytes": int(max(self._maxrss1 - self._maxrss0, 0) * 1024),
      "memory_source": "host getrusage ru_maxrss growth (new highs only)",
    }


# ------------------------------------------------------------------------------------------------
# Tables.


def _cell(v: Any) -> str:
  if isinstance(v, bool):
    return str(v)
  if isinstance(v, float):
    if v != v:
      return "nan"
    if abs(v) >= 1e5:
      return f"{v:.3g}"
    return f"{v:.4g}"
  if isinstance(v, int):
    return f"{v:,}"
  return "" if v is None else str(v)


def markdown_table(rows: list[dict[str, Any]], cols: tuple[str, ...]) -> str:
  """A markdown table of `rows` (dicts) over `cols` (missing cells are empty)."""
  lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
  for r in rows:
    lines.append("| " + " | ".join(_cell(r.get(c)) for c in cols) + " |")
  return "\n".join(lines) + "\n"


def mib(n: float | None) -> float | None:
  return None if n is None else n / 2**20
