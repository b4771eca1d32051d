"""Runs trainer jobs in a fresh process (other device counts, several processes, SIGKILL).

  PYTHONPATH=.:tests/train python tests/train/_train_worker.py '<json>'   (`worker_env` sets it)

JSON: {"runs": [{"workdir": str, "arg": "tiny,fsdp=true", "overrides": {...},
                 "faults": {...} (optional)}],
       "distributed": {"coordinator_address": str, "num_processes": int, "process_id": int}}
Prints one line `RESULT <json>` with the device count and each run's result.
"""

from __future__ import annotations

import json
import sys


def main():
  spec = json.loads(sys.argv[1])
  from flowvq_jax.train import trainer  # noqa: PLC0415

  dist = spec.get("distributed")
  if dist:
    trainer.initialize_distributed(**dist, mode="on")
  import jax  # noqa: PLC0415
  import ml_collections  # noqa: PLC0415

  from flowvq_jax.core import config as config_lib  # noqa: PLC0415

  results = []
  for run in spec["runs"]:
    config = config_lib.load_config(f"configs/toy.py:{run.get('arg', 'tiny')}")
    config_lib.apply_overrides(config, run.get("overrides", {}))
    if run.get("faults"):
      config.task = "train_faulty_task"
      config.faults = ml_collections.ConfigDict(run["faults"])
    results.append(trainer.train(config, run["workdir"]))
  out = {"devices": jax.device_count(), "results": results}
  if spec.get("report_shardings"):
    out["shardings"] = _param_shardings(spec["report_shardings"])
  print("RESULT " + json.dumps(out), flush=True)
  if dist:
    jax.distributed.shutdown()


def _param_shardings(arg):
  """{'layer/kernel': partition spec as a list} of the toy params under config `arg`."""
  import jax  # noqa: PLC0415

  from flowvq_jax.core import config as config_lib  # noqa: PLC0415
  from flowvq_jax.train import mesh, tasks  # noqa: PLC0415

  config = config_lib.load_config(f"configs/toy.py:{arg}")
  task = tasks.load(config.task)
  batch = {"x": jax.ShapeDtypeStruct((config.data.batch_size, config.data.dim), "float32")}
  shapes = jax.eval_shape(lambda r, b: task.init(r, b, config), jax.random.PRNGKey(0), batch)
  m = mesh.make_mesh(config.mesh)
  sh = mesh.tree_shardings(shapes, m, config.sharding)
  flat = jax.tree_util.tree_flatten_with_path(sh)[0]
  return {
    "/".join(k.key for k in path): list(s.spec) + [None] * (2 - len(s.spec)) for path, s in flat
  }


if __name__ == "__main__":
  main()
