"""Speed of ExpFlow / PoseFlow: sampling 10 s of audio, compile time, training steps.

  python -m launch.benchmark --what flow --out flow_bench.json [--repeats 3]
  python -m flowvq_jax.bench.flow --variant synthetic --repeats 5   # sampling 10 s, exp + pose

For the `synthetic` and `moglow_size` configs (configs/expflow.py, configs/poseflow.py; the
PoseFlow of `moglow_size` is the same network over 6 dims with a Gaussian prior), with fresh
params on random audio:

  sample_s / compile_s      best of `repeats` compiled calls of `FlowSampler` for 250 frames
                            (10 s at 25 fps), and the first call minus that (trace + compile)
  params                    parameter count
  train_step_s              (moglow_size) best compiled train step (loss + grads + Adam) on a
                            batch of 16 x 100 frames, and its compile time
  sample_s_batch8           (moglow_size) 250 frames for 8 samples at once

Sections of `python -m launch.benchmark` (`flow_setup` caches one model + sampler per config,
so they share compiled programs):

  sample_rows     ExpFlow and PoseFlow sampling of 10 s (250 frames): compile, time, real-time
                  factor, XLA FLOPs (`sampling_flops`), memory: the chunk program's XLA memory
                  (`chunk_xla_mib`, constant in the clip length), the host input log-mel and
                  output coefficients (`io_mib`, computed), the measured peak growth
  scan_vs_loop    the `lax.scan` chunked `FlowSampler` against a frame-by-frame Python loop of
                  ONE jitted `decode_step` call per frame (how the PyTorch peers sample), same
                  params, audio and noise: both times, their ratio, the largest difference
  growth_rows     sampling time and peak memory against clip length and batch size

Timings depend on the machine and its load; the caller records where they were taken.
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from flowvq_jax import stages
from flowvq_jax.bench import util as U
from flowvq_jax.core import config as config_lib
from flowvq_jax.core.constants import FPS, MELS_PER_FRAME, POSE_DIM, emotion_index
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.models.flow.model import CoefficientFlow
from flowvq_jax.models.flow.prior import standard_noise
from flowvq_jax.models.flow.sampler import FlowSampler
from flowvq_jax.stages.flow import COEFFS as KINDS
from flowvq_jax.stages.flow import model_of
from flowvq_jax.train import optim
from flowvq_jax.train.tasks import flow as task


def _config(kind: str, variant: str):
  """`configs/expflow.py:VARIANT` (or poseflow.py); `moglow_size`'s PoseFlow is its ExpFlow over
  6 dims with a Gaussian prior."""
  name = "expflow" if (kind == "exp" or variant == "moglow_size") else "poseflow"
  c = config_lib.load_config(f"{stages.CONFIGS_DIR / name}.py:{variant}")
  if kind == "pose" and variant == "moglow_size":
    c.model.dim = POSE_DIM
    c.model.prior = "gaussian"
    c.data.coeffs = "pose"
  return c


def random_batch(model, batch: int, frames: int, rng: np.random.Generator) -> dict:
  return {
    "x": rng.normal(size=(batch, frames, model.dim)).astype(np.float32),
    "mel": rng.normal(size=(batch, frames, *model.mel_shape)).astype(np.float32),
    "emotion": (np.arange(batch) % 8).astype(np.int32),
    "intensity": np.full((batch,), 3.0, np.float32),
    "mask": np.ones((batch, frames), np.float32),
  }


def _best(fn, repeats: int) -> tuple[float, float]:
  """(first call seconds, best of `repeats` later calls)."""
  start = time.perf_counter()
  fn(0)
  first = time.perf_counter() - start
  runs = []
  for r in range(repeats):
    start = time.perf_counter()
    fn(r + 1)
    runs.append(time.perf_counter() - start)
  return first, min(runs)


def time_flow(
  kind: str,
  variant: str,
  frames: int = 10 * FPS,
  repeats: int = 3,
  train_step: bool = False,
  batch8: bool = False,
  seed: int = 0,
  train_shape: tuple[int, int] | None = None,
) -> dict[str, Any]:
  """Sampling (and optionally training-step) timings of one flow config (module docstring).

  `train_shape` (batch, frames) replaces the config's training batch; the training step reports
  `train_compile_s` (trace + lower + compile), `train_step_s`, XLA's `train_flops`,
  `train_gflops_per_s` and `train_peak_share` (`bench_util.peak_share`).
  """
  config = _config(kind, variant)
  model = model_of(config)
  rng = np.random.default_rng(seed)
  init_batch = random_batch(model, 2, 16, rng)
  params = jax.jit(lambda r, b: task.init(r, b, config))(jax.random.key(seed), init_batch)
  out: dict[str, Any] = {
    "kind": kind,
    "config": variant,
    "params": int(sum(p.size for p in jax.tree.leaves(params))),
    "frames": frames,
    "device": str(jax.devices()[0].device_kind),
  }
  sampler = FlowSampler(model, chunk_size=64)
  mel = rng.normal(size=(frames, *model.mel_shape)).astype(np.float32)

  def sample(n):
    def fn(s):
      seeds = s if n == 1 else [s * n + i for i in range(n)]
      return sampler(params, mel=mel, emotion="happy", temperature=1.0, seed=seeds)

    return fn

  first, best = _best(sample(1), repeats)
  out.update(sample_s=best, compile_s=first - best)
  if batch8:
    first8, best8 = _best(sample(8), repeats)
    out.update(sample_s_batch8=best8, compile_s_batch8=first8 - best8)
  if train_step:
    tx, _ = optim.make_optimizer(config.optimizer.to_dict(), 1000)
    b, t = train_shape or (int(config.data.batch_size), int(config.data.window))
    batch = random_batch(model, b, t, rng)
    opt_state = tx.init(params)

    @jax.jit
    def step(p, o, bt, key):
      (loss, _), g = jax.value_and_grad(task.loss, has_aux=True)(p, bt, key, config)
      u, o = tx.update(g, o, p)
      return optax.apply_updates(p, u), o, loss

    key = jax.random.key(seed)
    compiled, compile_t = U.compile_timed(step, params, opt_state, batch, key)
    cost = U.xla_cost(compiled, step, (params, opt_state, batch, key))
    best_t, _ = U.best_time(lambda: compiled(params, opt_state, batch, key)[2], repeats)
    flops = cost["flops"]
    out.update(
      train_batch=f"{b}x{t}",
      train_step_s=best_t,
      train_compile_s=compile_t,
      train_flops=flops,  # a lower bound: XLA counts the LSTM's scan body once
      train_gflops_per_s=None if flops is None else flops / best_t / 1e9,
      train_peak_share=U.peak_share(flops, best_t),
    )
  return out


def param_count(kind: str, variant: str) -> int:
  """Parameter count of a flow config (`jax.eval_shape`: nothing is computed)."""
  config = _config(kind, variant)
  batch = random_batch(model_of(config), 1, 2, np.random.default_rng(0))
  shapes = jax.eval_shape(lambda r, b: task.init(r, b, config), jax.random.key(0), batch)
  return int(sum(np.prod(p.shape) for p in jax.tree.leaves(shapes)))


def run(repeats: int = 3, quick: bool = False) -> list[dict[str, Any]]:
  """Every row: exp and pose of `synthetic` and `moglow_size` (the latter with training).

  With `quick`: exp and pose of `tiny`, 16 frames, no training step."""
  if quick:
    return [time_flow(kind, "tiny", 16, repeats) for kind in ("exp", "pose")]
  rows = []
  for variant in ("synthetic", "moglow_size"):
    big = variant == "moglow_size"
    for kind in ("exp", "pose"):
      rows.append(
        time_flow(kind, variant, repeats=repeats, train_step=big and kind == "exp", batch8=big)
      )
  return rows


def moglow_rows(quick: bool = False, repeats: int = 3) -> list[dict[str, Any]]:
  """moglow_size ExpFlow (params, training step 16 x 100, 10 s sampling of 1 and 8 sequences)
  and PoseFlow (sampling). With `quick`: ExpFlow only, 8 frames, training batch 1 x 4."""
  if quick:
    return [time_flow("exp", "moglow_size", 8, repeats, train_step=True, train_shape=(1, 4))]
  return [
    time_flow("exp", "moglow_size", repeats=repeats, train_step=True, batch8=True),
    time_flow("pose", "moglow_size", repeats=repeats, batch8=True),
  ]


# ------------------------------------------------------------------------------------------------
# launch.benchmark sections: sample, scan_vs_loop, growth.


@functools.lru_cache(maxsize=4)
def flow_setup(kind: str, variant: str, seed: int = 0):
  """`(model, params, FlowSampler)` of a config with fresh params (cached per process)."""
  config = _config(kind, variant)
  model = model_of(config)
  batch = random_batch(model, 2, 16, np.random.default_rng(seed))
  params = jax.jit(lambda r, b: task.init(r, b, config))(jax.random.key(seed), batch)
  return model, params, FlowSampler(model, chunk_size=64)


def random_mel_frames(frames: int, seed: int = 0) -> np.ndarray:
  """Random log-mel `[4T, 80]` of a T-frame clip (the sampler's `mel_frames` input)."""
  rng = np.random.default_rng(seed)
  return rng.normal(size=(MELS_PER_FRAME * frames, 80)).astype(np.float32)


def _chunk_cost(sampler, params, n: int) -> dict[str, Any]:
  """XLA cost (`bench_util.xla_cost`) of one chunk call for `n` samples."""
  model = sampler.model
  c = sampler.chunk_size
  carry = model.apply({"params": params}, n, method=type(model).initial_carry)
  args = (
    params,
    carry,
    jnp.zeros((n, c, *model.mel_shape), jnp.float32),
    jnp.zeros((n, c), jnp.int32),
    jnp.full((n, c), 3.0, jnp.float32),
    jnp.stack([jax.random.key(i) for i in range(n)]),
    jnp.int32(0),
    jnp.float32(1.0),
    jnp.zeros((n, model.dim), jnp.float32),
    jnp.zeros((n,), bool),
    jnp.ones((n, model.dim), jnp.float32),
    jnp.zeros((n,), bool),
  )
  compiled, _ = U.compile_timed(sampler.chunk_fn, *args)
  return U.xla_cost(compiled, sampler.chunk_fn, args)


@functools.lru_cache(maxsize=8)
def _loop_sampler(model):
  return LoopSampler(model)


def sampling_flops(model, params, frames: int, n: int) -> float | None:
  """XLA's FLOPs of sampling `frames` frames for `n` samples.

  XLA's cost analysis counts the body of a while loop (a `lax.scan`) ONCE, whatever its trip
  count, so the chunked sampler's own count misses all frames but one per chunk. This counts the
  same maths without a loop: the audio encoder and prior over all frames
  (`LoopSampler.prepare`) plus `frames` times one frame (`LoopSampler.frame`).
  """
  loop = _loop_sampler(model)
  sds = lambda shape, dtype: jax.ShapeDtypeStruct(shape, dtype)
  mel = sds((n, frames, *model.mel_shape), jnp.float32)
  emo = sds((n, frames), jnp.int32)
  inten = sds((n, frames), jnp.float32)
  prep = U.flop_count(loop.prepare, params, mel, emo, inten)
  audio, comp = jax.eval_shape(loop.prepare, params, mel, emo, inten)
  carry = jax.eval_shape(
    lambda p: model.apply({"params": p}, n, method=type(model).initial_carry), params
  )
  keys = jax.eval_shape(lambda: jnp.stack([jax.random.key(i) for i in range(n)]))
  i32, f32 = sds((), jnp.int32), sds((), jnp.float32)
  frame = U.flop_count(loop.frame, params, carry, audio, comp, emo, keys, i32, f32)
  if prep is None or frame is None:
    return None
  return prep + frames * frame


def time_sampling(
  kind: str, variant: str, frames: int, batch: int = 1, repeats: int = 3, seed: int = 0
) -> dict[str, Any]:
  """Sampling `frames` frames for `batch` samples from random log-mel `mel_frames`."""
  model, params, sampler = flow_setup(kind, variant)
  mel = random_mel_frames(frames, seed)
  seeds = [seed + i for i in range(batch)]
  fn = lambda: sampler(params, mel_frames=mel, emotion="happy", temperature=1.0, seed=seeds)
  start = time.perf_counter()
  U.block(fn())  # compiles for a new batch size
  first = time.perf_counter() - start
  with U.MemoryMeter() as mem:  # over the compiled calls only
    best = min(U.best_time(fn, repeats))
  cost = _chunk_cost(sampler, params, batch)
  flops = sampling_flops(model, params, frames, batch)
  return {
    "kind": kind,
    "config": variant,
    "frames": frames,
    "audio_s": frames / FPS,
    "batch": batch,
    "compile_s": max(first - best, 0.0),
    "sample_s": best,
    "rtf": best / (frames / FPS),
    "frames_per_s": batch * frames / best,
    "flops": flops,
    "gflops_per_s": None if flops is None else flops / best / 1e9,
    "peak_share": U.peak_share(flops, best),
    "chunk_xla_mib": U.mib(cost["xla_bytes"]),
    "io_mib": U.mib(mel.nbytes + batch * frames * model.dim * 4),
    "peak_mem_mib": U.mib(mem.result()["peak_mem_bytes"]),
    "memory_source": mem.result()["memory_source"],
  }


def sample_rows(quick: bool = False, repeats: int = 3) -> list[dict[str, Any]]:
  """ExpFlow and PoseFlow sampling of 10 s (`synthetic`; `tiny` and 2.56 s with `quick`)."""
  variant, frames = ("tiny", 64) if quick else ("synthetic", 10 * FPS)
  return [time_sampling(kind, variant, frames, repeats=repeats) for kind in ("exp", "pose")]


class LoopSampler:
  """Frame-by-frame sampling from Python: one jitted `decode_step` call per frame.

  The same maths and noise as `FlowSampler` (frame t's noise from `fold_in(key, t)`), so both
  give the same sequence; only the control flow differs (the PyTorch peers' way).
  """

  def __init__(self, model):
    self.model = model
    kind, dim = model.prior, model.dim

    def prepare(params, mel, emotion, intensity):
      v = {"params": params}
      audio = model.apply(v, mel, method=CoefficientFlow.encode_audio)  # [N, T, A]
      comp = model.apply(v, emotion, intensity, method=CoefficientFlow.prior_params)
      return audio, comp

    def frame(params, carry, audio, comp, emotion, keys, t, temperature):
      comp_t = jax.tree.map(lambda a: a[:, t], comp)
      emotion_t = emotion[:, t]
      df = comp_t.get("df", jnp.zeros(emotion_t.shape, jnp.float32))
      frame_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, t)
      noise = jax.vmap(lambda k, v: standard_noise(k, kind, v, dim))(frame_keys, df)
      z = comp_t["loc"] + temperature * jnp.exp(comp_t["log_scale"]) * noise
      return model.apply(
        {"params": params},
        carry,
        audio[:, t],
        z,
        emotion_t if model.emotion_in_context else None,
        method=CoefficientFlow.decode_step,
      )

    self.prepare = jax.jit(prepare)
    self.frame = jax.jit(frame)

  def __call__(self, params, mel, emotion: int, intensity: float, temperature: float, seeds):
    """`mel [N, T, 2k+1, 4, 80]` -> `[N, T, D]` (numpy)."""
    n, t = mel.shape[:2]
    emo = jnp.full((n, t), emotion, jnp.int32)
    audio, comp = self.prepare(params, mel, emo, jnp.full((n, t), intensity, jnp.float32))
    carry = self.model.apply({"params": params}, n, method=CoefficientFlow.initial_carry)
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    temp = jnp.float32(temperature)
    xs = []
    for i in range(t):
      carry, x = self.frame(params, carry, audio, comp, emo, keys, jnp.int32(i), temp)
      xs.append(x)
    return np.stack(jax.device_get(xs), axis=1)


def scan_vs_loop(quick: bool = False, repeats: int = 3, seed: int = 0) -> dict[str, Any]:
  """The chunked `lax.scan` sampler against `LoopSampler` (ExpFlow `synthetic`, 10 s)."""
  variant, frames = ("tiny", 64) if quick else ("synthetic", 10 * FPS)
  model, params, sampler = flow_setup("exp", variant)
  mel = audio_lib.mel_windows(random_mel_frames(frames, seed), model.audio_context)[None]
  loop = LoopSampler(model)
  kw = dict(emotion=emotion_index("happy"), intensity=3.0, temperature=1.0, seeds=[seed])
  scan_fn = lambda: sampler(
    params, mel=mel, emotion=kw["emotion"], intensity=3.0, temperature=1.0, seed=[seed]
  )
  scan_s, scan_first = U.best_time(scan_fn, repeats)
  loop_s, loop_first = U.best_time(lambda: loop(params, mel, **kw), repeats)
  diff = float(np.max(np.abs(scan_fn() - loop(params, mel, **kw))))
  return {
    "kind": "exp",
    "config": variant,
    "frames": frames,
    "chunk_size": sampler.chunk_size,
    "scan_s": scan_s,
    "loop_s": loop_s,
    "loop_over_scan": loop_s / scan_s,
    "scan_first_call_s": scan_first,
    "loop_first_call_s": loop_first,
    "loop_ms_per_frame": 1e3 * loop_s / frames,
    "max_abs_diff": diff,
  }


GROWTH_SECONDS = (10, 30, 60, 180, 600)
GROWTH_BATCHES = (1, 2, 4, 8)


def growth_rows(quick: bool = False, repeats: int = 2) -> dict[str, list[dict[str, Any]]]:
  """ExpFlow sampling time / peak memory against clip length (batch 1) and batch size (10 s).

  Full: `synthetic`, 10 s to 10 min, batches 1-8 (one timed call per point beyond 1 min).
  Quick: `tiny`, 1.28 to 5.12 s, batches 1 and 2.
  """
  if quick:
    variant, seconds, batches, base = "tiny", (1.28, 2.56, 5.12), (1, 2), 2.56
  else:
    variant, seconds, batches, base = "synthetic", GROWTH_SECONDS, GROWTH_BATCHES, 10
  length = []
  for s in seconds:
    r = 1 if s > 60 else repeats
    length.append(time_sampling("exp", variant, int(round(s * FPS)), 1, r))
  batch = [time_sampling("exp", variant, int(round(base * FPS)), b, repeats) for b in batches]
  return {"length": length, "batch": batch}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
  """Prints ExpFlow and PoseFlow sampling rows (`time_sampling`) for one config variant."""
  parser = argparse.ArgumentParser(description="Sampling speed of ExpFlow and PoseFlow.")
  parser.add_argument("--variant", default="synthetic", help="tiny, synthetic, moglow_size, ...")
  parser.add_argument("--frames", type=int, default=10 * FPS)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(argv)
  rows = [time_sampling(k, args.variant, args.frames, repeats=args.repeats) for k in KINDS]
  for r in rows:
    params = sum(int(np.size(p)) for p in jax.tree.leaves(flow_setup(r["kind"], args.variant)[1]))
    print(
      f"{r['kind']:5} {args.variant:12} {params:>10,} params  {r['frames']} frames: compile "
      f"{r['compile_s']:.2f} s, sample {r['sample_s']:.3f} s (RTF {r['rtf']:.4f}) on "
      f"{jax.devices()[0].device_kind}"
    )
  return rows


if __name__ == "__main__":
  main()
