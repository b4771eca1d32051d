"""Stage-2 code query: shapes, ablation switches, a tiny fit, the chunked renderer, bad inputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq import discriminator as disc_lib
from flowvq_jax.models.vq import query as q
from flowvq_jax.models.vq import query_loss
from flowvq_jax.models.vq import renderer as renderer_lib
from flowvq_jax.models.vq.perceptual import make_perceptual_loss

SIZE = 32
WINDOW = 2  # frames each side: 5-frame windows keep the tests small.


pytestmark = pytest.mark.usefixtures("fast_compiles")


def fast_key(seed: int) -> jax.Array:
  return jax.random.key(seed, impl="unsafe_rbg")


def tiny_config(**model_overrides):
  """32 px, 8x8 tokens, a 32 x 8 codebook, one transformer layer."""
  cfg = q.default_config("tiny")
  cfg.stage1.update(num_codes=32, code_dim=8, lookup_dim=None, ch=8)
  cfg.model.update(window=WINDOW, num_layers=1, enc_ch=8, embed_dim=16, motion_dim=16)
  cfg.model.update(model_overrides)
  return cfg


def world(n: int, seed: int = 0):
  """Sources, targets and coefficient windows of a toy world.

  Each identity has a background and a disc colour (the source shows the disc centred); the
  target's disc is moved by the centre frame's pose translations (pose[3:5]) and sized by exp[0].
  """
  rng = np.random.default_rng(seed)
  t = 2 * WINDOW + 1
  yy, xx = np.mgrid[:SIZE, :SIZE] + 0.5
  exp = np.zeros((n, t, 64), np.float32)
  pose = np.zeros((n, t, 6), np.float32)
  exp[..., :4] = rng.uniform(-1, 1, (n, 1, 4))
  pose[..., 3:5] = rng.uniform(-1, 1, (n, 1, 2))
  src = np.empty((n, SIZE, SIZE, 3), np.float32)
  tgt = np.empty_like(src)
  for i in range(n):
    bg, fg = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 3)
    for img, (cx, cy), r in (
      (src[i], (SIZE / 2, SIZE / 2), SIZE / 5),
      (tgt[i], SIZE / 2 + SIZE / 4 * pose[i, WINDOW, 3:5], SIZE / 5 * (1 + 0.5 * exp[i, 0, 0])),
    ):
      img[:] = bg
      img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = fg
  return dict(
    source=jnp.asarray(src), target=jnp.asarray(tgt), exp=jnp.asarray(exp), pose=jnp.asarray(pose)
  )


@pytest.fixture(scope="module")
def stage1_params():
  cfg = tiny_config()
  model = ae.make_autoencoder(cfg.stage1)
  return jax.jit(model.init)(fast_key(0), jnp.zeros((1, SIZE, SIZE, 3)))["params"]


@pytest.fixture(scope="module")
def tiny(stage1_params):
  gen = q.CodeQueryGenerator.from_config(tiny_config())
  params = jax.jit(gen.init)(fast_key(1), stage1_params)
  return gen, params


def test_shapes_and_finiteness(tiny, stage1_params):
  gen, params = tiny
  batch = world(1)
  # One source for both rows (source batch 1), the same coefficients, fidelity 0 and 1.
  exp, pose = (jnp.concatenate([batch[k]] * 2) for k in ("exp", "pose"))
  run = jax.jit(lambda p, s, e, po: gen.apply(p, stage1_params, s, e, po, jnp.asarray([0.0, 1.0])))
  out = run(params, batch["source"], exp, pose)
  assert out["logits"].shape == (2, 8, 8, 32) and out["logits"].dtype == jnp.float32
  assert out["features"].shape == (2, 8, 8, 8)
  assert out["indices"].shape == (2, 8, 8) and out["indices"].dtype == jnp.int32
  assert out["flow"].shape == (2, 8, 8, 2)
  assert out["image"].shape == (2, SIZE, SIZE, 3)
  for v in (out["logits"], out["features"], out["image"]):
    assert np.all(np.isfinite(v))
  # An untrained warp predicts zero flow (identity); fidelity 0 is the codebook alone.
  np.testing.assert_allclose(out["flow"], 0.0)
  np.testing.assert_array_equal(out["indices"][0], out["indices"][1])
  assert not np.allclose(out["image"][0], out["image"][1], atol=1e-4)
  model = ae.make_autoencoder(tiny_config().stage1)
  pure = model.apply({"params": stage1_params}, out["indices"], method=model.decode_from_indices)
  np.testing.assert_allclose(out["image"][0], pure[0], atol=1e-4)


def train_steps(gen, params, stage1_params, batch, loss_cfg, steps, lr=3e-3, disc=None, dp=None):
  """`steps` Adam steps in one compiled scan; returns the metrics of the `steps + 1` evaluations
  (before each step and, last, after all of them)."""
  perceptual_fn, _ = make_perceptual_loss(None)
  tx = optax.adam(lr)

  def loss_fn(p, rng):
    return query_loss.query_loss(
      gen, perceptual_fn, loss_cfg, p, stage1_params, batch, rng=rng, disc=disc, disc_params=dp
    )

  @jax.jit
  def run(params):
    def step(carry, i):
      p, opt = carry
      (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(p, jax.random.key(i))
      updates, opt = tx.update(grads, opt, p)
      return (optax.apply_updates(p, updates), opt), aux["metrics"]

    # The update of the last evaluation is discarded: one loss graph serves all evaluations.
    _, metrics = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps + 1))
    return metrics

  metrics = run(params)
  return metrics, jax.tree.map(lambda m: m[-1], metrics)


@pytest.mark.parametrize("switch", ["use_warp", "use_mapping", "use_mhca", "use_codebook"])
def test_ablation_switch_builds_and_trains(stage1_params, switch):
  cfg = tiny_config(**{switch: False})
  gen = q.CodeQueryGenerator.from_config(cfg)
  params = jax.jit(gen.init)(fast_key(2), stage1_params)
  batch = world(2, seed=1)
  cfg.loss.random_fidelity = False
  disc = dp = None
  if switch == "use_mhca":  # the full objective once: perceptual fallback and PatchGAN too
    disc = disc_lib.PatchDiscriminator(ch=8, n_layers=1)
    dp = jax.jit(disc.init)(fast_key(3), batch["target"])["params"]
  elif switch == "use_codebook":  # features decoded directly: L1 on the rendering
    cfg.loss.update(perceptual_weight=0.0, adv_weight=0.0)
  else:  # W and phi act on the tokens: code losses only (no decoder, faster)
    cfg.loss.update(l1_weight=0.0, perceptual_weight=0.0, adv_weight=0.0)
  metrics, final = train_steps(gen, params, stage1_params, batch, cfg.loss, 2, disc=disc, dp=dp)
  for v in final.values():
    assert np.isfinite(v)
  assert np.all(np.isfinite(metrics["loss"]))
  if switch in ("use_mhca", "use_codebook"):
    assert float(final["l1"]) > 0.0
  if switch == "use_mhca":
    assert float(final["perceptual"]) > 0.0 and float(final["g_loss"]) != 0.0
  if switch == "use_codebook":
    assert "logits" not in params["query"] and float(final["ce"]) == 0.0
  else:
    assert float(final["ce"]) > 0.0
  assert float(final["loss"]) < float(metrics["loss"][0])


def test_code_accuracy_rises(tiny, stage1_params):
  gen, params = tiny
  batch = world(4, seed=2)
  batch["target_indices"] = query_loss.target_indices(gen, stage1_params, batch["target"])
  counts = np.bincount(np.asarray(batch["target_indices"]).ravel(), minlength=32)
  majority = counts.max() / counts.sum()
  assert (counts > 0).sum() >= 4, counts  # the random stage-1 model gives several codes
  loss_cfg = tiny_config().loss
  loss_cfg.update(l1_weight=0.0, perceptual_weight=0.0, adv_weight=0.0)
  # 150 steps run ~20x faster with XLA's optimisations (which cost a few more seconds to compile).
  jax.config.update("jax_disable_most_optimizations", False)
  try:
    metrics, final = train_steps(gen, params, stage1_params, batch, loss_cfg, 150)
  finally:
    jax.config.update("jax_disable_most_optimizations", True)
  start, end = float(metrics["accuracy"][0]), float(final["accuracy"])
  assert end > max(start, majority) + 0.1, (start, end, majority)
  assert float(final["ce"]) < 0.5 * float(metrics["ce"][0])


def test_source_codes_feed_the_source_frames_stage1_codes(tiny, stage1_params):
  gen, params = tiny
  assert gen.query.source_codes  # on by default
  batch = world(2, seed=3)
  model = ae.make_autoencoder(tiny_config().stage1)
  quantized, aux = model.apply({"params": stage1_params}, batch["source"], method=model.encode)
  latents, indices = gen.source_codes(stage1_params, batch["source"])
  assert latents.shape == (2, 8, 8, 8) and indices.shape == (2, 8, 8)
  np.testing.assert_allclose(latents, quantized, atol=1e-6)
  np.testing.assert_array_equal(indices, aux["indices"])
  # The token-level source features gain the code dimension, and the query reads them.
  enc_width = 8 * tuple(tiny_config().stage1.ch_mult)[-1]
  assert params["query"]["identity_proj"]["kernel"].shape[0] == enc_width + 8
  coeffs = jnp.concatenate([batch["exp"], batch["pose"]], axis=-1)
  query = jax.jit(lambda p, c: gen.query.apply({"params": p}, batch["source"], coeffs, c))
  base = query(params["query"], (latents, indices))["logits"]
  assert not np.allclose(base, query(params["query"], (0 * latents, indices))["logits"], atol=1e-4)
  # The copy gate (zero at init) adds its value to the logit of the source's code only.
  gate = {**params["query"]["copy_gate"], "bias": jnp.full(1, 3.0)}
  gated = {**params["query"], "copy_gate": gate}
  diff = query(gated, (latents, indices))["logits"] - base
  np.testing.assert_allclose(diff, 3.0 * jax.nn.one_hot(indices, 32), atol=1e-4)
  with pytest.raises(ValueError, match="source_codes must be"):
    gen.query.apply({"params": params["query"]}, batch["source"], coeffs, None)
  # A config written before the switch existed (no `source_codes` field) builds the model it
  # trained: without source codes, so its checkpoints still load.
  old = tiny_config()
  del old.model["source_codes"]
  old_gen = q.CodeQueryGenerator.from_config(old)
  assert not old_gen.query.source_codes
  assert old_gen.source_codes(stage1_params, batch["source"]) is None
  old_params = jax.jit(old_gen.init)(fast_key(1), stage1_params)
  assert old_params["query"]["identity_proj"]["kernel"].shape[0] == enc_width
  assert "copy_gate" not in old_params["query"]


def test_copy_warp_moves_the_copied_code_with_the_flow(tiny, stage1_params):
  gen, params = tiny
  warped = q.CodeQueryGenerator.from_config(tiny_config(copy_warp=True))
  same = jax.jit(warped.init)(fast_key(1), stage1_params)
  assert jax.tree.structure(same) == jax.tree.structure(params)  # no new parameters
  batch = world(2, seed=4)
  codes = gen.source_codes(stage1_params, batch["source"])
  coeffs = jnp.concatenate([batch["exp"], batch["pose"]], axis=-1)

  def logits(model, gate_bias, flow_x):
    p = dict(params["query"])
    p["copy_gate"] = {**p["copy_gate"], "bias": jnp.full(1, gate_bias)}
    p["warp_net"] = {**p["warp_net"], "out": {**p["warp_net"]["out"]}}
    p["warp_net"]["out"]["bias"] = jnp.array([flow_x, 0.0])  # the out conv's kernel is zero
    return model.query.apply({"params": p}, batch["source"], coeffs, codes)["logits"]

  # A zero flow (the init) is the in-place gate.
  np.testing.assert_allclose(logits(warped, 3.0, 0.0), logits(gen, 3.0, 0.0), atol=1e-5)
  # A flow of one token to the right: each token copies its right neighbour's code (the border
  # column clamps to itself); the in-place gate keeps copying the token's own code.
  shifted = jnp.concatenate([codes[1][:, :, 1:], codes[1][:, :, -1:]], axis=2)
  diff = logits(warped, 3.0, 1.0) - logits(warped, 0.0, 1.0)
  np.testing.assert_allclose(diff, 3.0 * jax.nn.one_hot(shifted, 32), atol=1e-4)
  diff = logits(gen, 3.0, 1.0) - logits(gen, 0.0, 1.0)
  np.testing.assert_allclose(diff, 3.0 * jax.nn.one_hot(codes[1], 32), atol=1e-4)
  with pytest.raises(ValueError, match="copy_warp .*needs model.source_codes"):
    q.CodeQueryGenerator.from_config(tiny_config(copy_warp=True, source_codes=False))


def test_changed_weight_reweights_the_tokens_copying_gets_wrong(tiny, stage1_params):
  gen, params = tiny
  batch = world(3, seed=5)
  out = gen.apply(params, stage1_params, batch["source"], batch["exp"], batch["pose"], render=False)
  target = np.asarray(query_loss.target_indices(gen, stage1_params, batch["target"]))
  source = np.asarray(query_loss.target_indices(gen, stage1_params, batch["source"]))
  np.testing.assert_array_equal(out["source_indices"], source)
  changed = target != source
  assert 0 < changed.mean() < 1, changed.mean()
  logp = np.asarray(jax.nn.log_softmax(out["logits"], axis=-1))
  nll = -np.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
  correct = np.asarray(out["indices"]) == target
  for weight in (1.0, 5.0):
    cfg = tiny_config().loss
    cfg.update(l1_weight=0.0, perceptual_weight=0.0, adv_weight=0.0, changed_weight=weight)
    _, aux = query_loss.query_loss(gen, None, cfg, params, stage1_params, batch)
    m = aux["metrics"]
    w = np.where(changed, weight, 1.0)
    np.testing.assert_allclose(m["ce"], (w * nll).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(m["changed_fraction"], changed.mean(), rtol=1e-6)
    np.testing.assert_allclose(m["accuracy_changed"], correct[changed].mean(), rtol=1e-6)
  np.testing.assert_allclose(m["accuracy"], correct.mean(), rtol=1e-6)
  cfg.changed_weight = 0.0
  with pytest.raises(ValueError, match="changed_weight must be > 0"):
    query_loss.query_loss(gen, None, cfg, params, stage1_params, batch)


def test_renderer_chunking_and_single_compile(tiny, stage1_params):
  gen, params = tiny
  rng = np.random.default_rng(0)
  src = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
  exp = rng.normal(size=(11, 64)).astype(np.float32)
  pose = 0.3 * rng.normal(size=(11, 6)).astype(np.float32)
  whole = renderer_lib.BatchRenderer(gen, chunk=11).render_frames(
    params, stage1_params, src, exp, pose, 0.7
  )
  chunked = renderer_lib.BatchRenderer(gen, chunk=4)
  frames = chunked.render_frames(params, stage1_params, src, exp, pose, 0.7)
  assert frames.shape == (11, SIZE, SIZE, 3) and frames.dtype == np.uint8
  assert np.abs(frames.astype(int) - whole.astype(int)).max() <= 1
  for t in (1, 5, 9):
    out = chunked.render_frames(params, stage1_params, src, exp[:t], pose[:t], 0.7)
    assert out.shape == (t, SIZE, SIZE, 3)
  assert chunked.num_compiles == 1
  # Frame t depends on its own window only: the first frames of a shorter clip whose window
  # does not reach the cut are identical.
  short = chunked.render_frames(params, stage1_params, src, exp[:9], pose[:9], 0.7)
  assert np.abs(short[:6].astype(int) - frames[:6].astype(int)).max() <= 1
  # The windows are edge-padded: frame 0 sees frame 0 repeated WINDOW times on its left.
  w = renderer_lib.coefficient_windows(exp, WINDOW)
  np.testing.assert_array_equal(w[0, :WINDOW], np.repeat(exp[:1], WINDOW, axis=0))
  np.testing.assert_array_equal(w[5], exp[5 - WINDOW : 5 + WINDOW + 1])


def test_bad_inputs_raise_clear_errors(tiny, stage1_params):
  gen, params = tiny
  b = world(1)
  with pytest.raises(ValueError, match="exp must be a coefficient window"):
    gen.apply(params, stage1_params, b["source"], b["exp"][..., :60], b["pose"])
  with pytest.raises(ValueError, match="pose must be a coefficient window"):
    gen.apply(params, stage1_params, b["source"], b["exp"], b["pose"][:, :3])
  with pytest.raises(ValueError, match="source must be images"):
    gen.apply(params, stage1_params, b["source"][:, :16], b["exp"], b["pose"])
  r = renderer_lib.BatchRenderer(gen, chunk=4)
  src = np.zeros((SIZE, SIZE, 3), np.uint8)
  with pytest.raises(ValueError, match="exp must be \\[T, 64\\]"):
    r.render_frames(params, stage1_params, src, np.zeros((5, 63)), np.zeros((5, 6)))
  with pytest.raises(ValueError, match="different lengths"):
    r.render_frames(params, stage1_params, src, np.zeros((5, 64)), np.zeros((4, 6)))
  with pytest.raises(ValueError, match="source_image must be \\[32, 32, 3\\]"):
    r.render_frames(params, stage1_params, src[:, :, 0], np.zeros((5, 64)), np.zeros((5, 6)))
  with pytest.raises(ValueError, match="lie in \\[-1, 1\\]"):
    r.render_frames(params, stage1_params, src + 255.0, np.zeros((5, 64)), np.zeros((5, 6)))
  with pytest.raises(ValueError, match="fidelity"):
    r.render_frames(params, stage1_params, src, np.zeros((5, 64)), np.zeros((5, 6)), 1.5)
  with pytest.raises(ValueError, match="Unknown stage-2 size"):
    q.default_config("huge")
  with pytest.raises(ValueError, match="multiple of num_heads"):
    q.CodeQueryGenerator.from_config(tiny_config(embed_dim=15))
  with pytest.raises(ValueError, match="Bad stage-2 model config"):
    q.CodeQueryGenerator.from_config(tiny_config(colour="red"))


def test_configs():
  for size, tokens, layers in [
    ("tiny", 8, 2),
    ("synthetic", 16, 4),
    ("mead", 16, 9),
    ("hdtf", 16, 9),
  ]:
    cfg = q.default_config(size)
    gen = q.CodeQueryGenerator.from_config(cfg)
    assert (gen.tokens, cfg.model.num_layers) == (tokens, layers)
  cfg = q.default_config("mead")
  assert (cfg.image_size, cfg.model.window, cfg.model.num_heads) == (256, 13, 8)
  assert (cfg.stage1.num_codes, cfg.stage1.code_dim) == (1024, 256)
