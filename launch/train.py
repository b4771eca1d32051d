r"""Train one stage: `python -m launch.train --config CONFIG[:ARG] --workdir DIR [overrides]`.

  python -m launch.train --config configs/toy.py:tiny --workdir /tmp/toy \
      --config.train.steps=500 --config.optimizer.lr=1e-3

Multi-process: add `--coordinator_address host:port --num_processes N --process_id I`, or
`--distributed on` on a TPU slice / SLURM job (jax finds the cluster). A workdir resumes from
its latest checkpoint by itself. Exit codes: 0 done or preempted (checkpoint saved), 1 stopped
on non-finite values, 2 bad flags or config.
"""

from __future__ import annotations

import argparse
import logging
import sys

from flowvq_jax.core import config as config_lib
from flowvq_jax.core.config import ConfigError


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, dict[str, str]]:
  """Flags plus `{'a.b': 'value'}` from every `--config.a.b=value` / `--config.a.b value`."""
  parser = argparse.ArgumentParser(
    prog="python -m launch.train",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--config", required=True, help="config file[:arg], e.g. configs/toy.py:tiny")
  parser.add_argument("--workdir", required=True, help="run directory (resumed if it exists)")
  parser.add_argument("--coordinator_address", default=None)
  parser.add_argument("--num_processes", type=int, default=None)
  parser.add_argument("--process_id", type=int, default=None)
  parser.add_argument("--distributed", default="auto", choices=("auto", "on", "off"))
  parser.add_argument("--log_level", default="INFO")
  args, rest = parser.parse_known_args(argv)
  overrides: dict[str, str] = {}
  i = 0
  while i < len(rest):
    tok = rest[i]
    if not tok.startswith("--config."):
      raise ConfigError(
        f"Unrecognized argument {tok!r} (overrides look like --config.train.steps=100)."
      )
    key, eq, value = tok[len("--config.") :].partition("=")
    if not eq:
      if i + 1 >= len(rest):
        raise ConfigError(f"Override --config.{key} has no value.")
      value = rest[i + 1]
      i += 1
    overrides[key] = value
    i += 1
  return args, overrides


def main(argv: list[str] | None = None) -> int:
  argv = sys.argv[1:] if argv is None else argv
  try:
    args, overrides = parse_args(argv)
    config = config_lib.load_config(args.config)
    config_lib.apply_overrides(config, overrides)
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
  for noisy in ("absl", "orbax", "jax._src.xla_bridge"):
    logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
  from flowvq_jax.train import trainer  # noqa: PLC0415  (after the config checks: no JAX before)

  try:
    trainer.initialize_distributed(
      args.coordinator_address, args.num_processes, args.process_id, args.distributed
    )
    result = trainer.train(config, args.workdir)
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except trainer.NonFiniteError as e:
    print(f"error: {e}", file=sys.stderr)
    return 1
  print(
    f"{result['status']} at step {result['step']}: "
    + ", ".join(f"{k}={v:.4g}" for k, v in result["eval"].items())
  )
  return 0


if __name__ == "__main__":
  sys.exit(main())
