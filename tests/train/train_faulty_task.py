"""The toy task with injectable faults, for trainer tests.

`config.faults` (a ConfigDict added by the tests):
  nan_at: global batch indices whose inputs are replaced by NaN.
  sigterm_at: batch index at which the process sends itself SIGTERM (or -1).
  sigterm_process: only this process index does (-1: every process).
  sleep_after_sigterm: seconds to sleep per batch after that (default 0).
  sigkill_at: batch index at which the process SIGKILLs itself (or -1), once: only if the
    file `sigkill_marker` does not exist yet (it is created first).
"""

from __future__ import annotations

import os
import signal
import time

import jax
import numpy as np

from flowvq_jax.train.tasks import toy
from flowvq_jax.train.tasks.toy import eval_metrics, init, loss, summaries  # noqa: F401


class _FaultyIterator:
  def __init__(self, it, faults):
    self._it = it
    self._faults = faults

  def get_state(self):
    return self._it.get_state()

  def set_state(self, state):
    self._it.set_state(state)

  def __iter__(self):
    return self

  def __next__(self):
    k = self._it.get_state()["next_index"]
    batch = next(self._it)
    f = self._faults
    if k in tuple(f.get("nan_at", ())):
      batch = {"x": np.full_like(batch["x"], np.nan)}
    if k == f.get("sigterm_at", -1) and f.get("sigterm_process", -1) in (-1, jax.process_index()):
      os.kill(os.getpid(), signal.SIGTERM)
      self._slow = True
    if getattr(self, "_slow", False):  # give a multi-process preemption notice time to spread
      time.sleep(f.get("sleep_after_sigterm", 0.0))
    if k == f.get("sigkill_at", -1) and not os.path.exists(f.sigkill_marker):
      open(f.sigkill_marker, "w").close()
      os.kill(os.getpid(), signal.SIGKILL)
    return batch


def make_data(config, split, *, process_index, process_count, seed):
  it = toy.make_data(
    config, split, process_index=process_index, process_count=process_count, seed=seed
  )
  if split != "train" or "faults" not in config:
    return it
  return _FaultyIterator(it, config.faults)
