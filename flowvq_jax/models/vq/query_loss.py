"""The stage-2 objective: cross-entropy on the stage-1 codes of the target frame, L1 and
perceptual terms on the rendered image, and an optional adversary (`query_loss`), with the code
targets (`target_indices`) and the tokens copying the source gets wrong (`changed_tokens`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from flowvq_jax.models.vq import losses
from flowvq_jax.models.vq.autoencoder import VQAutoencoder
from flowvq_jax.models.vq.query import CodeQueryGenerator, code_table

Array = jax.Array


def target_indices(generator: CodeQueryGenerator, stage1_params: Any, target: Array) -> Array:
  """Stage-1 code indices `[B, h, w]` of real target frames `[B, H, W, 3]` (no gradient)."""
  return generator.stage1.apply(
    {"params": jax.lax.stop_gradient(stage1_params)}, target, method=VQAutoencoder.encode_to_indices
  )


def changed_tokens(
  generator: CodeQueryGenerator,
  stage1_params: Any,
  out: dict[str, Any],
  source: Array,
  codes: Array,
) -> Array:
  """bool `[B, h, w]`: the tokens whose target code `codes [B, h, w]` differs from the source
  frame's stage-1 code, the ones copying the source gets wrong. Reads `out['source_indices']`
  (from `CodeQueryGenerator.apply` with `source_codes`), else encodes `source [B or 1, H, W, 3]`."""
  src = out.get("source_indices")
  if src is None:
    src = target_indices(generator, stage1_params, source)
  return jnp.broadcast_to(src, codes.shape) != codes


def query_loss(
  generator: CodeQueryGenerator,
  perceptual_fn: Callable[[Array, Array], Array] | None,
  loss_config: Any,
  params: Any,
  stage1_params: Any,
  batch: dict[str, Array],
  rng: Array | None = None,
  disc: Any = None,
  disc_params: Any = None,
) -> tuple[Array, dict[str, Any]]:
  """The stage-2 objective (float32), a pure function of `params`.

    L = ce_weight * CE(logits, c*) + feat_weight * ||features - sg[e_{c*}]||^2
        + l1_weight * L1(x_hat, x) + perceptual_weight * P(x_hat, x) + adv_weight * (-D(x_hat))

  c* are the stage-1 codes of the real target frame, e_{c*} their embeddings as the decoder sees
  them. CE is a weighted token mean: tokens whose target code differs from the source frame's
  code (`changed`, the ones copying cannot get right) weigh `changed_weight` (default 1: the
  plain mean), the others 1. x_hat is rendered with the straight-through code embedding; the
  decoder is skipped when the three image weights are all zero. Without the codebook the CE
  term is absent.

  Args:
    batch: `source [B, H, W, 3]`, `target [B, H, W, 3]` (both [-1, 1]), `exp [B, 2k+1, 64]`,
      `pose [B, 2k+1, 6]`, optional `target_indices [B, h, w]` (else computed here).
    rng: draws the per-example fidelity when `loss_config.random_fidelity`.
    disc, disc_params: the stage-1 PatchGAN and its params (needed when `adv_weight > 0`).

  Returns:
    `(loss, aux)`, aux holding `metrics` (float32 scalars: `loss`, `ce`, `feat_l2`, `l1`,
    `perceptual`, `g_loss`, `accuracy`, `accuracy_changed` (on the changed tokens),
    `changed_fraction`) and `image` (the rendering, or None).
  """
  lc = loss_config
  changed_weight = float(lc.get("changed_weight", 1.0))
  if not changed_weight > 0:
    raise ValueError(f"loss.changed_weight must be > 0 (1: plain mean CE), got {changed_weight}.")
  target = batch["target"].astype(jnp.float32)
  if "target_indices" in batch:
    codes = batch["target_indices"]
  else:
    codes = target_indices(generator, stage1_params, target)
  b = target.shape[0]
  if lc.random_fidelity and rng is not None:
    fidelity = jax.random.uniform(rng, (b,), jnp.float32)
  else:
    fidelity = jnp.full((b,), lc.fidelity, jnp.float32)
  adv = lc.adv_weight > 0 and disc is not None
  if lc.adv_weight > 0 and disc is None:
    raise ValueError("loss.adv_weight > 0 needs the discriminator (disc, disc_params).")
  render = lc.l1_weight > 0 or lc.perceptual_weight > 0 or adv
  out = generator.apply(
    params,
    stage1_params,
    batch["source"],
    batch["exp"],
    batch["pose"],
    fidelity=fidelity,
    mode="st",
    render=render,
  )
  zero = jnp.zeros((), jnp.float32)
  table = generator.stage1.apply(
    {"params": jax.lax.stop_gradient(stage1_params)}, method=code_table
  ).astype(jnp.float32)
  target_feat = jax.lax.stop_gradient(jnp.take(table, codes, axis=0))
  feat_l2 = jnp.mean(jnp.square(out["features"] - target_feat))
  changed = changed_tokens(generator, stage1_params, out, batch["source"], codes)
  changed = changed.astype(jnp.float32)
  if out["logits"] is not None:
    logp = jax.nn.log_softmax(out["logits"], axis=-1)
    nll = -jnp.take_along_axis(logp, codes[..., None], axis=-1)[..., 0]
    weights = 1.0 + (changed_weight - 1.0) * changed
    ce = jnp.sum(weights * nll) / jnp.sum(weights)
  else:
    ce = zero
  correct = (out["indices"] == codes).astype(jnp.float32)
  accuracy = jnp.mean(correct)
  accuracy_changed = jnp.sum(correct * changed) / jnp.maximum(jnp.sum(changed), 1.0)
  l1 = perc = g_loss = zero
  image = out.get("image")
  if render:
    l1 = losses.l1_loss(image, target)
    if lc.perceptual_weight > 0:
      if perceptual_fn is None:
        raise ValueError("loss.perceptual_weight > 0 needs a perceptual_fn.")
      perc = jnp.mean(perceptual_fn(image, target))
    if adv:
      g_loss = losses.hinge_g_loss(disc.apply({"params": disc_params}, image))
  loss = (
    lc.ce_weight * ce
    + lc.feat_weight * feat_l2
    + lc.l1_weight * l1
    + lc.perceptual_weight * perc
    + (lc.adv_weight * g_loss if adv else zero)
  )
  metrics = dict(
    loss=loss, ce=ce, feat_l2=feat_l2, l1=l1, perceptual=perc, g_loss=g_loss, accuracy=accuracy,
    accuracy_changed=accuracy_changed, changed_fraction=jnp.mean(changed),
  )  # fmt: skip
  return loss, {"metrics": metrics, "image": image}


# -- configs ---------------------------------------------------------------------------------

# stage-1 size, window, enc_ch, motion_dim, mapping_layers, flow (width, layers), embed_dim,
# num_layers, num_heads
