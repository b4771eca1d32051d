"""Parameter counts and a forward+backward step time of the stage-1 model configs.

  python -m flowvq_jax.bench.vq --sizes tiny,synthetic,ffhq_mead,taming_faceshq --counts_only
  python -m flowvq_jax.bench.vq --sizes tiny,synthetic --batch 4 --steps 5
  python -m flowvq_jax.bench.vq --sizes synthetic,ffhq_mead --batch 8 --dtype bfloat16

Counts come from `jax.eval_shape` (nothing is allocated). The timed step is the gradient of
the full generator objective (`objective.generator_loss`: autoencoder, fallback perceptual loss,
discriminator, adaptive weight) with respect to the autoencoder params, jitted; the first call
(compilation) is reported separately from the mean of the following calls.
"""

from __future__ import annotations

import argparse
import logging
import time

import jax
import jax.numpy as jnp

from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq import objective
from flowvq_jax.models.vq.discriminator import make_discriminator
from flowvq_jax.models.vq.perceptual import make_perceptual_loss


def param_counts(size: str) -> dict[str, int]:
  """Scalars per part: encoder (+ quant_conv), quantizer, decoder (+ post_quant_conv), disc."""
  cfg = ae.default_config(size)
  model = ae.make_autoencoder(cfg.model)
  disc = make_discriminator(cfg.discriminator)
  x = jax.ShapeDtypeStruct((1, cfg.image_size, cfg.image_size, 3), jnp.float32)
  key = jax.random.key(0)
  p = jax.eval_shape(model.init, key, x)["params"]
  d = jax.eval_shape(disc.init, key, x)["params"]
  return {
    "encoder": ae.param_count(p["encoder"]) + ae.param_count(p["quant_conv"]),
    "quantizer": ae.param_count(p["quantizer"]),
    "decoder": ae.param_count(p["decoder"]) + ae.param_count(p["post_quant_conv"]),
    "discriminator": ae.param_count(d),
  }


def step_time(size: str, batch: int, steps: int, dtype: str = "float32") -> tuple[float, float]:
  """(compile + first step seconds, mean seconds of the next `steps` steps)."""
  cfg = ae.default_config(size)
  cfg.model.dtype = cfg.discriminator.dtype = dtype
  model = ae.make_autoencoder(cfg.model)
  disc = make_discriminator(cfg.discriminator)
  x = jax.random.uniform(
    jax.random.PRNGKey(0), (batch, cfg.image_size, cfg.image_size, 3), minval=-1.0, maxval=1.0
  )
  key = jax.random.key(0, impl="unsafe_rbg")
  variables = jax.jit(model.init)(key, x)
  disc_params = jax.jit(disc.init)(key, x)["params"]
  perceptual, _ = make_perceptual_loss(None)
  step = jnp.asarray(cfg.loss.disc_start)  # discriminator term on

  @jax.jit
  def grad_fn(params, x):
    return jax.grad(objective.generator_loss, argnums=4, has_aux=True)(
      model, disc, perceptual, cfg.loss, params, disc_params, x, step, variables.get("vq_stats")
    )[0]

  t = time.perf_counter()
  jax.block_until_ready(grad_fn(variables["params"], x))
  first = time.perf_counter() - t
  t = time.perf_counter()
  for _ in range(steps):
    jax.block_until_ready(grad_fn(variables["params"], x))
  return first, (time.perf_counter() - t) / max(steps, 1)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="tiny,synthetic")
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--dtype", default="float32", help="compute dtype: float32 | bfloat16")
  parser.add_argument("--counts_only", action="store_true")
  args = parser.parse_args()
  logging.getLogger().setLevel(logging.ERROR)  # the fallback-perceptual warning is expected here
  print(f"backend: {jax.default_backend()} ({jax.devices()[0].device_kind})")
  for size in args.sizes.split(","):
    counts = param_counts(size)
    total = sum(counts.values())
    parts = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    print(f"{size}: {parts}; total {total:,}")
    if not args.counts_only:
      first, mean = step_time(size, args.batch, args.steps, args.dtype)
      print(
        f"  fwd+bwd generator step, {args.dtype}, batch {args.batch}: first call {first:.1f} s, "
        f"then {mean * 1000:.0f} ms/step (mean of {args.steps})"
      )


if __name__ == "__main__":
  main()
