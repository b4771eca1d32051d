"""Runs trainer jobs in a fresh process (other device counts, several processes, SIGKILL).

  python tests/train/_train_worker.py '<json>'

JSON: {"runs": [{"workdir": str, "arg": "tiny,fsdp=true", "overrides": {...},
                 "faults": {...} (optional)}],
       "distributed": {"coordinator_address": str, "num_processes": int, "process_id": int}}
Prints one line `RESULT <json>` with the device count and each run's result.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
  spec = json.loads(sys.argv[1])
  from flowvq_jax.train import trainer  # noqa: PLC0415

  dist = spec.get("distributed")
  if dist:
    trainer.initialize_distributed(**dist, mode="on")
  import jax  # noqa: PLC0415
  import ml_collections  # noqa: PLC0415

  from flowvq_jax.train import config_util  # noqa: PLC0415

  results = []
  for run in spec["runs"]:
    config = config_util.load_config(f"configs/toy.py:{run.get('arg', 'tiny')}")
    config_util.apply_overrides(config, run.get("overrides", {}))
    if run.get("faults"):
      config.task = "train_faulty_task"
      config.faults = ml_collections.ConfigDict(run["faults"])
    results.append(trainer.train(config, run["workdir"]))
  print("RESULT " + json.dumps({"devices": jax.device_count(), "results": results}), flush=True)


if __name__ == "__main__":
  main()
