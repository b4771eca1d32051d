r"""The paper's ablations on the synthetic world: train every sweep member, evaluate, one table.

  python -m launch.evaluate --ablation --preset tiny --out OUT [--ablation_steps N] \
      [--checkpoints DIR | --stage1 RUN] [--data_dir DIR] [--max_clips N] \
      [--query_override KEY=VALUE ...]

Members (the `get_sweep` of the configs, expanded by `flowvq_jax.train.sweep.plan`):

  expflow   configs/expflow.py:<preset>: latent prior SMM vs GMM x data dropout 0.4 / 0 (4 runs),
            scored by the held-out NLL on the test split (`flowvq_jax.eval.fcg.heldout_nll`:
            nats and bits per dimension, no data dropout)
  vq_query  configs/vq_query.py:<preset>: full, -W, -phi, -MHCA, -C (5 runs) on one frozen stage-1
            codebook, scored on the test split's held-out identities by
            `flowvq_jax.eval.query.evaluate` (every frame but the source rendered from its
            ground-truth coefficients: PSNR, SSIM, code accuracy, L1, M-LMD, F-LMD with one landmark
            regressor trained on the train split and shared by all members)

Presets: `tiny` (the configs' tiny variants, in-memory world clips; seconds per member on a
CPU), `fast` (the quickstart's `--fast` stages: 32 px VQ stages, stage 1 on 96 identities; code
query for 2000 steps on 3 s clips, scored on 8 identities neither stage saw; about 2.5 minutes
per code-query member and seed on a 2-core CPU) and `synthetic` (the `synthetic` variants:
ExpFlow on the prepared `synthetic_talking_faces/small_64` in `--data_dir`, code query on
in-memory 128 px clips; hours). `--ablation_steps N` sets every member's training steps
(default: the preset's). The stage-1 codebook is `--stage1 RUN`, else `--checkpoints DIR`'s
`vq_codebook`, else trained here with the preset (and `--ablation_steps`). `--query_override
KEY=VALUE` (repeatable) sets a config field of every code-query member; a stage-1 run that
trained on the members' test identities (in-memory clips of another layout, e.g. a 1000-identity
codebook with the `synthetic` default (12, 2, 2)) is an error naming the override that fixes it.
`--ablation_seeds N` trains every member with seeds 0..N-1 (the codebook stays one run): the JSON
gives the mean, the markdown `mean ± std` (sample std). Runs live in
OUT/ablation/<stage>/<member>[_seed<s>] (seed 0 keeps the bare name); finished runs are reused,
interrupted ones resume. Writes OUT/ablation.json (means), OUT/ablation.md and
OUT/ablation_details.json (every seed's scores).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from typing import Any

import jax
import numpy as np

from flowvq_jax import checkpoints
from flowvq_jax import stages as stages_lib
from flowvq_jax.core import config as config_lib
from flowvq_jax.data import sources
from flowvq_jax.eval import fcg, report, table, table_data
from flowvq_jax.eval import query as query_eval
from flowvq_jax.eval.metrics import NotComputed
from flowvq_jax.stages import vq_query as query_stage
from flowvq_jax.train import sweep, trainer

# Code query in the `fast` preset: 3 s clips, 8 test identities (98-105) that the preset's
# stage 1 (trained on identities 0-95, configs/presets.py `_vq_fast`) never saw, and 2000 steps
# with a 100-step warmup (with the `tiny` config's 2 steps at lr 2e-3, one of two seeds of the
# full model stayed at chance code accuracy for all 2000 steps).
FAST_QUERY = {
  "data.memory.identities": (96, 2, 8),
  "data.memory.clips_per_identity": 2,
  "data.memory.seconds": 3.0,
  "train.steps": 2000,
  "optimizer.warmup_steps": 100,
}


def _fast_preset() -> dict[str, Any]:
  """The quickstart's `--fast` configs and overrides (`configs/presets.py PRESETS['fast']`)."""
  args, overrides = stages_lib.presets()["fast"]
  return {
    "fast_compile": False,
    **{k: args[k] for k in ("expflow", "vq_codebook", "vq_query")},
    "overrides": {
      "expflow": overrides["expflow"],
      "vq_codebook": overrides["vq_codebook"],
      "vq_query": {**overrides["vq_query"], **FAST_QUERY},
    },
  }


PRESETS = {
  "tiny": {"expflow": "tiny", "vq_codebook": "tiny", "vq_query": "tiny", "fast_compile": True},
  "fast": _fast_preset(),
  "synthetic": {
    "fast_compile": False,
    "expflow": "synthetic",
    "vq_codebook": "synthetic,memory=true",
    "vq_query": "synthetic,memory=true",
  },
}
QUERY_SWITCHES = {"use_warp": "W", "use_mapping": "phi", "use_mhca": "MHCA", "use_codebook": "C"}
COLUMNS = (
  "stage", "prior", "history_dropout", "W", "phi", "MHCA", "C", "steps", "seeds",
  "nll_nats_per_dim", "nll_bits_per_dim", "psnr", "ssim", "code_accuracy", "code_accuracy_changed",
  "l1", "m_lmd", "f_lmd",
)  # fmt: skip
FLOW_METRICS = ("nll_nats_per_dim", "nll_bits_per_dim")
QUERY_METRICS = ("psnr", "ssim", "code_accuracy", "code_accuracy_changed", "l1", "m_lmd", "f_lmd")
HIGHER_IS_BETTER = {
  "nll_nats_per_dim": False, "nll_bits_per_dim": False, "psnr": True, "ssim": True,
  "code_accuracy": True, "code_accuracy_changed": True, "l1": False, "m_lmd": False,
  "f_lmd": False,
}  # fmt: skip


def parse_overrides(items: list[str]) -> dict[str, str]:
  """`['a.b=1', ...]` -> `{'a.b': '1'}` (values parsed later against the config's types)."""
  out = {}
  for item in items:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
      raise ValueError(f"--query_override {item!r} is not KEY=VALUE.")
    out[key.strip()] = value.strip()
  return out


@contextlib.contextmanager
def fast_compile(enabled: bool):
  """`jax_disable_most_optimizations` while inside (tiny runs are dominated by XLA compiles).

  The flag is not part of jit's cache key: on the way out the caches are cleared, so nothing
  compiled inside runs later in the process."""
  old = bool(jax.config.values.get("jax_disable_most_optimizations", False))
  jax.config.update("jax_disable_most_optimizations", bool(enabled) or old)
  try:
    yield
  finally:
    jax.config.update("jax_disable_most_optimizations", old)
    if enabled and not old:
      jax.clear_caches()


def _config(spec: str, overrides: dict[str, Any]):
  cfg = config_lib.load_config(spec)
  config_lib.apply_overrides(cfg, overrides)
  return cfg


def _short_run(steps: int, config_steps: int, log_every: int) -> dict[str, Any]:
  """Overrides: `steps` (0: keep the config's), one checkpoint at the end, no trainer eval."""
  n = int(steps) or int(config_steps)
  return {
    "train.steps": n,
    "train.ckpt_every": n,
    "train.eval_every": n,
    "train.log_every": max(1, min(int(log_every), n)),
    "train.summaries_every": 0,
    "train.progress": False,
    "eval.num_batches": 0,  # the trainer's own evaluation is skipped: run_ablation scores
  }


def _train(spec: str, overrides: dict[str, Any], workdir: str, log) -> float:
  """Trains (or resumes, or skips when finished) one run; returns the seconds it took."""
  cfg = _config(spec, overrides)
  done = checkpoints.latest_step(os.path.join(workdir, "checkpoints"))
  if done is not None and done >= int(cfg.train.steps):
    log(f"[ablation] {workdir}: already trained ({done} steps)")
    return 0.0
  log(f"[ablation] training {spec} {overrides} -> {workdir}")
  t0 = time.perf_counter()
  trainer.train(cfg, workdir)
  return time.perf_counter() - t0


def _members(stage: str, spec: str, root: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
  """The sweep members of a config (`sweep.plan`), each with its full overrides."""
  flags = [f"--config.{k}={v}" for k, v in extra.items()]
  return [
    dict(p, stage=stage, spec=spec, all_overrides={**extra, **p["overrides"]})
    for p in sweep.plan(spec, os.path.join(root, stage), flags)
  ]


def _row_name(m: dict[str, Any]) -> str:
  o = m["overrides"]
  if m["stage"] == "expflow":
    return f"ExpFlow {str(o['model.prior']).upper()}, data dropout {o['model.history_dropout']}"
  off = [name for key, name in QUERY_SWITCHES.items() if not o.get(f"model.{key}", True)]
  return "code query " + ("full" if not off else " ".join(f"-{x}" for x in off))


def _select(members: list[dict[str, Any]], wanted: tuple[str, ...]) -> list[dict[str, Any]]:
  """The members whose row name is, or ends with, one of `wanted` (all when it is empty)."""
  if not wanted:
    return members
  names = [_row_name(m) for m in members]
  hit = lambda name, w: name == w or name.endswith(" " + w)
  unknown = [w for w in wanted if not any(hit(n, w) for n in names)]
  if unknown:
    raise ValueError(
      f"--ablation_members {','.join(unknown)} names no member; the members are: "
      f"{'; '.join(names)}."
    )
  return [m for m, n in zip(members, names) if any(hit(n, w) for w in wanted)]


def _metrics_of(stage: str) -> tuple[str, ...]:
  return FLOW_METRICS if stage == "expflow" else QUERY_METRICS


def _mean_std(per_seed: list[dict[str, Any]], stage: str):
  """`({metric: mean}, {metric: sample std (0 for one seed)})` over the seeds' scores."""

  keys = _metrics_of(stage)
  values = {k: np.asarray([float(r[k]) for r in per_seed]) for k in keys}
  std = {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}
  return {k: float(v.mean()) for k, v in values.items()}, std


def _member_row(m: dict[str, Any], per_seed: list[dict[str, Any]], mean: dict[str, float]):
  """One table row (`COLUMNS`): the member's switches and `mean`, its seeds' mean scores."""
  o = m["overrides"]
  row: dict[str, Any] = {"stage": m["stage"], "seeds": len(per_seed), "steps": per_seed[0]["step"]}
  if m["stage"] == "expflow":
    row.update(prior=str(o["model.prior"]), history_dropout=float(o["model.history_dropout"]))
    row.update({k: "" for k in QUERY_SWITCHES.values()})
    row.update({k: NotComputed("an image metric; this is a flow member") for k in QUERY_METRICS})
  else:
    row.update(prior="", history_dropout="")
    row.update({name: bool(o[f"model.{k}"]) for k, name in QUERY_SWITCHES.items()})
    why = NotComputed("a flow likelihood; this is a code-query member")
    row.update({k: why for k in FLOW_METRICS})
  row.update(mean)
  return {c: row[c] for c in COLUMNS}


def markdown_rows(rows: dict[str, dict[str, Any]], details: dict[str, Any]) -> dict[str, dict]:
  """Rows for the markdown table: with several seeds, each score as `mean ± std`."""
  shown = {}
  for name, row in rows.items():
    shown[name] = dict(row)
    if row["seeds"] > 1:
      d = details[name]
      shown[name].update({k: f"{d['mean'][k]:.4g} ± {d['std'][k]:.2g}" for k in d["mean"]})
  return shown


def run_ablation(out: str, *, preset: str = "tiny", **kwargs):
  """Trains and evaluates every member (module docstring).

  Returns `(rows, details)`: `{member: {column: value}}` (scores: the mean over seeds) and
  `{member: {'name', 'seeds': [per-seed scores, step, workdir, train_seconds], 'mean', 'std'}}`.
  Keyword arguments: steps (0: the preset's), stage1, checkpoints, data_dir, stages, max_clips,
  seeds, query_overrides (`{'key.path': value}` for every code-query member), wanted (row
  names, or their ends such as 'full' or '-C': only those members; empty: all), landmark_steps,
  landmark_frames, log. A stage-1 run that trained on the members' test identities is a
  ValueError before any training. The `tiny` preset compiles with most XLA
  optimizations off (`fast_compile`): its runs are dominated by compilation.
  """
  if preset not in PRESETS:
    raise ValueError(f"Unknown --preset {preset!r}; choose one of: {', '.join(PRESETS)}.")
  with fast_compile(PRESETS[preset]["fast_compile"]):
    return _run_ablation(out, preset=preset, **kwargs)


def _run_ablation(
  out: str,
  *,
  preset: str = "tiny",
  steps: int = 0,
  stage1: str | None = None,
  checkpoints: str | None = None,
  data_dir: str | None = None,
  stages: tuple[str, ...] = ("expflow", "vq_query"),
  max_clips: int = 0,
  seeds: int = 1,
  query_overrides: dict[str, Any] | None = None,
  wanted: tuple[str, ...] = (),
  landmark_steps: int = 400,
  landmark_frames: int = 2048,
  log=print,
) -> dict[str, dict[str, Any]]:
  """See `run_ablation`."""


  if preset not in PRESETS:
    raise ValueError(f"Unknown --preset {preset!r}; choose one of: {', '.join(PRESETS)}.")
  bad = [s for s in stages if s not in ("expflow", "vq_query")]
  if bad or not stages:
    raise ValueError(f"--stages must name expflow and/or vq_query, got {','.join(stages)!r}.")
  if steps < 0:
    raise ValueError(f"--ablation_steps must be >= 0, got {steps}.")
  if seeds < 1:
    raise ValueError(f"--ablation_seeds must be >= 1, got {seeds}.")
  root = os.path.join(out, "ablation")
  cdir = stages_lib.CONFIGS_DIR
  args = PRESETS[preset]
  preset_over = args.get("overrides", {})
  data_over = {"data.data_dir": data_dir} if data_dir else {}

  members = []
  if "expflow" in stages:
    spec = f"{cdir / 'expflow.py'}:{args['expflow']}"
    over = {**preset_over.get("expflow", {}), **data_over}
    base = _config(spec, over)
    if base.data.source == "tfds":  # fail before any training when the data is not prepared

      table_data.check_dataset(str(base.data.name), str(base.data.data_dir), hint="")
    extra = {**over, **_short_run(steps, base.train.steps, base.train.log_every)}
    members += _members("expflow", spec, root, extra)
  train_stage1 = None  # (spec, overrides) when this command trains the stage-1 codebook
  if "vq_query" in stages:
    if stage1 is None and checkpoints:
      stage1 = stages_lib.stage_dir(checkpoints, "vq_codebook")
    if stage1 is None:
      s1_spec = f"{cdir / 'vq_codebook.py'}:{args['vq_codebook']}"
      s1_over = preset_over.get("vq_codebook", {})
      s1_base = _config(s1_spec, s1_over)
      stage1 = os.path.join(root, "vq_codebook")
      short = _short_run(steps, s1_base.train.steps, s1_base.train.log_every)
      train_stage1 = (s1_spec, {**s1_over, **short})
    elif not os.path.isdir(stage1):
      raise FileNotFoundError(f"The stage-1 run {stage1} does not exist.")
    spec = f"{cdir / 'vq_query.py'}:{args['vq_query']},stage1={stage1}"
    over = {**preset_over.get("vq_query", {}), **(query_overrides or {})}
    base = _config(spec, over)
    extra = {**over, **_short_run(steps, base.train.steps, base.train.log_every)}
    members += _members("vq_query", spec, root, extra)
  members = _select(members, wanted)  # before any training: an unknown name is an error
  if any(m["stage"] == "vq_query" for m in members):
    if train_stage1 is not None:
      _train(*train_stage1, stage1, log)
    seen = query_stage.identities_seen_by_stage1(base, "test")
    if seen:  # before any member trains: the table would score faces the codebook trained on
      ids = query_stage.stage1_config(base).data.memory.identities
      s1_ids = "(" + ",".join(str(int(i)) for i in ids) + ")"  # one shell word
      raise ValueError(
        f"The stage-1 run {stage1} trained on {len(seen)} of the code-query members' test "
        f"identities ({seen[0]}..{seen[-1]}), so they would not be held out. Give the members "
        f"the stage-1 identity layout: --query_override data.memory.identities={s1_ids}."
      )

  rows: dict[str, dict[str, Any]] = {}
  regressor, details = None, {}
  for m in members:
    per_seed = []
    for seed in range(seeds):
      workdir = m["workdir"] + (f"_seed{seed}" if seed else "")
      overrides = {**m["all_overrides"], "seed": seed}
      seconds = _train(m["spec"], overrides, workdir, log)
      if m["stage"] == "expflow":
        run = fcg.load_run(workdir)
        step = run.step
        scores = {k: float(v) for k, v in fcg.heldout_nll(run, "test").items()}
      else:
        run = query_eval.load_run(workdir)
        cfg, step = run.config, run.step
        source = sources.clip_source(cfg.data, "test", audio=False)
        if regressor is None:
          regressor = query_eval.train_regressor(cfg, landmark_steps, landmark_frames)
        scores, _ = query_eval.evaluate(
          cfg, run.params, run.stage1_params, source, run.stats, regressor,
          max_clips=max_clips, fidelity=float(cfg.eval.get("fidelity", 1.0)), grid=1,
        )  # fmt: skip
      per_seed.append(dict(scores, seed=seed, step=step, workdir=workdir, train_seconds=seconds))
    mean, std = _mean_std(per_seed, m["stage"])
    row = _member_row(m, per_seed, mean)
    details[_row_name(m)] = {"name": m["name"], "seeds": per_seed, "mean": mean, "std": std}
    rows[_row_name(m)] = row
    if not all(np.isfinite(v) for v in row.values() if isinstance(v, float)):
      log(f"[ablation] warning: non-finite metric in {m['name']}: {row}")
  with open(os.path.join(out, "ablation_details.json"), "w") as f:

    json.dump(report.to_jsonable(details), f, indent=2)
  return rows, details


def run(args: argparse.Namespace) -> int:
  """`launch.evaluate --ablation ...`: trains, evaluates, writes OUT/ablation.{json,md}."""

  t0 = time.perf_counter()
  if args.checkpoints and not os.path.isdir(args.checkpoints):
    raise FileNotFoundError(f"--checkpoints {args.checkpoints} does not exist.")
  os.makedirs(args.out, exist_ok=True)
  stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
  rows, details = run_ablation(
    args.out, preset=args.preset, steps=args.ablation_steps, stage1=args.stage1,
    checkpoints=args.checkpoints, data_dir=args.data_dir, stages=stages,
    max_clips=args.max_clips, seeds=args.ablation_seeds,
    query_overrides=parse_overrides(args.query_override),
    wanted=tuple(w.strip() for w in args.ablation_members.split(",") if w.strip()),
    landmark_steps=args.landmark_steps,
    landmark_frames=args.landmark_frames,
  )  # fmt: skip
  steps = args.ablation_steps or "the preset's"
  title = (
    f"Ablations on the synthetic world (preset {args.preset}, {steps} training steps, "
    f"{args.ablation_seeds} seed{'s' if args.ablation_seeds > 1 else ''} per member)"
  )
  md = table.to_markdown(
    markdown_rows(rows, details), row_label="member", higher_is_better=HIGHER_IS_BETTER
  )
  paths = {
    "json": os.path.join(args.out, "ablation.json"),
    "md": os.path.join(args.out, "ablation.md"),
  }
  with open(paths["json"], "w", encoding="utf-8") as f:
    f.write(report.to_json(rows))
  with open(paths["md"], "w", encoding="utf-8") as f:
    f.write(f"# {title}\n\nScores on the test split; definitions: docs/evaluation.md.\n\n{md}")
  print(md)
  print(f"wrote {paths['json']}, {paths['md']} ({time.perf_counter() - t0:.0f} s)")
  return 0
