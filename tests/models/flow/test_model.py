"""CoefficientFlow: NLL metrics, masks, data dropout, dtypes, configs, bad inputs, learning."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import DIM, jitted, perturb, random_batch, tiny_config

from flowvq_jax.core.constants import EXP_DIM, NEUTRAL, POSE_DIM
from flowvq_jax.models.flow import model as model_lib
from flowvq_jax.models.flow.model import CoefficientFlow


def test_metrics_are_consistent_float32_scalars(tiny):
  model, params = tiny
  x, mel = random_batch(seed=1)
  emotion = np.array([0, 5, -1])
  both = jax.jit(
    lambda p, *a: (
      model.apply({"params": p}, *a),
      model.apply({"params": p}, *a, method=CoefficientFlow.log_prob),
    )
  )
  m, parts = both(params, x, mel, emotion, np.array([1.0, 3.0, -1.0]))
  for k, v in m.items():
    assert v.dtype == jnp.float32 and v.shape == () and np.isfinite(v), k
  assert m["loss"] == m["nll_nats_per_dim"]
  np.testing.assert_allclose(m["nll_bits_per_dim"], m["nll_nats_per_dim"] / math.log(2), rtol=1e-6)
  np.testing.assert_allclose(m["nll_bits_per_frame"], m["nll_bits_per_dim"] * DIM, rtol=1e-5)
  np.testing.assert_allclose(
    m["log_prior_per_dim"] + m["log_det_per_dim"], -m["nll_nats_per_dim"], rtol=1e-5
  )
  assert parts["log_prob"].shape == (3,)


def test_mask_equals_truncation(tiny):
  """The model is causal in x: masking the tail = scoring the truncated clips."""
  model, params = tiny
  x, mel = random_batch(seed=2)
  emotion = np.array([1, -1, 4])
  mask = np.ones(x.shape[:2], np.float32)
  mask[:, 7:] = 0
  lp = jitted(model, CoefficientFlow.log_prob)
  full = lp(params, x, mel, emotion, None, mask)
  trunc = lp(params, x[:, :7], mel[:, :7], emotion)
  np.testing.assert_allclose(full["log_prob"], trunc["log_prob"], rtol=1e-5, atol=1e-4)
  np.testing.assert_array_equal(full["frames"], [7, 7, 7])


def test_history_dropout_only_in_training(tiny):
  model, params = tiny
  x, mel = random_batch(seed=3)
  emotion = np.array([0, 1, 2])

  def runner(m):
    return jax.jit(
      lambda p, train, key: m.apply(
        {"params": p}, x, mel, emotion, train=train, rngs={"dropout": key}
      )["loss"],
      static_argnums=1,
    )

  run = runner(model)
  ev = run(params, False, jax.random.key(0))
  a, b = run(params, True, jax.random.key(0)), run(params, True, jax.random.key(1))
  assert ev == run(params, False, jax.random.key(1))
  assert a != ev and a != b
  # Rate 1 drops every frame's history: the key no longer matters.
  run_all = runner(CoefficientFlow.from_config(tiny_config(history_dropout=1.0)))
  assert run_all(params, True, jax.random.key(0)) == run_all(params, True, jax.random.key(1))
  assert run_all(params, True, jax.random.key(0)) != ev


def test_bf16_compute_keeps_float32_params_and_metrics(tiny):
  model = CoefficientFlow.from_config(tiny_config(dtype="bfloat16"))
  x, mel = random_batch(seed=4)
  shapes = jax.eval_shape(model.init, jax.random.key(0), x, mel, np.array([0, 1, 2]))
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(shapes))
  f32_model, params = tiny
  m = jitted(model)(params, x, mel, np.array([0, 1, 2]))
  f32 = jitted(f32_model)(params, x, mel, np.array([0, 1, 2]))
  assert m["loss"].dtype == jnp.float32
  np.testing.assert_allclose(m["loss"], f32["loss"], rtol=2e-2)


@pytest.mark.parametrize(
  "kind,size,dim,prior",
  [("exp", "synthetic", EXP_DIM, "smm"), ("pose", "moglow", POSE_DIM, "gaussian")],
)
def test_default_configs_build(kind, size, dim, prior):
  cfg = model_lib.default_config(kind, size)
  assert cfg.dim == dim and cfg.prior == prior
  model = CoefficientFlow.from_config(cfg)
  x = jnp.zeros((1, 2, dim))
  mel = jnp.zeros((1, 2, *model.mel_shape))
  shapes = jax.eval_shape(model.init, jax.random.key(0), x, mel, jnp.zeros((1,), jnp.int32))
  n = sum(np.prod(p.shape) for p in jax.tree.leaves(shapes))
  assert n > 10_000
  if size == "moglow":
    assert cfg.num_steps == 16 and cfg.lstm_layers == 2 and cfg.lstm_width == 512


def test_bad_configs():
  with pytest.raises(ValueError, match="kind"):
    model_lib.default_config("lips")
  with pytest.raises(ValueError, match="size"):
    model_lib.default_config("exp", "huge")
  with pytest.raises(ValueError, match="Unknown CoefficientFlow config keys"):
    CoefficientFlow.from_config({"dim": 6, "num_stepz": 3})


def test_bad_inputs_raise_clear_errors(tiny):
  model, params = tiny
  x, mel = random_batch(b=2, t=5)
  apply = lambda *a: model.apply({"params": params}, *a)
  with pytest.raises(ValueError, match=r"x must have shape \[B, T, 6\]"):
    apply(x[..., :5], mel, np.array([0, 1]))
  with pytest.raises(ValueError, match="mel must have shape"):
    apply(x, mel[:, :, :2], np.array([0, 1]))
  with pytest.raises(ValueError, match="mel must have shape"):
    apply(x, mel[:, :4], np.array([0, 1]))
  with pytest.raises(ValueError, match="Unknown emotion index 8"):
    apply(x, mel, np.array([0, 8]))
  with pytest.raises(ValueError, match="Unknown emotion index -2"):
    apply(x, mel, np.array([-2, 1]))
  with pytest.raises(ValueError, match="emotion must have shape"):
    apply(x, mel, np.array([0, 1, 2]))
  with pytest.raises(ValueError, match="intensity must have shape"):
    apply(x, mel, np.array([0, 1]), np.ones(3))
  # Under jit the shape checks still raise at trace time.
  with pytest.raises(ValueError, match="mel must have shape"):
    jitted(model)(params, x, mel[:, :, :2], np.array([0, 1]))
  # The flattened mel window is accepted.
  run = jitted(model)
  flat = run(params, x, mel.reshape(2, 5, -1), np.array([0, NEUTRAL]))
  np.testing.assert_allclose(flat["loss"], run(params, x, mel, np.array([0, NEUTRAL]))["loss"])


def _synthetic_task(n=24, t=16, seed=0):
  """Coefficients that depend on the audio window, the previous frame and the emotion."""
  rng = np.random.default_rng(seed)
  mel = rng.normal(size=(n, t, 3, 4, 80)).astype(np.float32)
  band = mel[:, :, 1, :, :78].reshape(n, t, 4, DIM, -1).mean(axis=(2, 4))  # [n, t, DIM]
  emotion = rng.integers(0, 8, size=n)
  offset = rng.normal(size=(8, DIM)) * 1.5
  x = np.zeros((n, t, DIM), np.float32)
  prev = np.zeros((n, DIM))
  for i in range(t):
    prev = 0.5 * prev + 6.0 * band[:, i] + offset[emotion] + 0.1 * rng.normal(size=(n, DIM))
    x[:, i] = prev
  return x, mel, emotion


def test_short_training_lowers_nll():
  model = CoefficientFlow.from_config(tiny_config(history_dropout=0.0))
  x, mel, emotion = _synthetic_task()
  params = jax.jit(model.init)(jax.random.key(0), x, mel, emotion)["params"]
  opt = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-2))
  state = opt.init(params)

  @jax.jit
  def step(params, state, x, mel, emotion):  # Data as arguments, not baked-in constants.
    loss_fn = lambda p: model.apply({"params": p}, x, mel, emotion)["loss"]
    loss, g = jax.value_and_grad(loss_fn)(params)
    updates, state = opt.update(g, state, params)
    return optax.apply_updates(params, updates), state, loss

  losses = []
  for _ in range(150):
    params, state, loss = step(params, state, x, mel, emotion)
    losses.append(float(loss))
  assert np.all(np.isfinite(losses))
  # The data has ~0.1 noise around a context-determined mean: far below the initial NLL.
  before, after = losses[0], np.mean(losses[-5:])
  assert after < before - 1.0, (before, after)


def test_emotion_in_context(tiny):
  # A Gaussian prior ignores the emotion: any effect comes through the context.
  model = CoefficientFlow.from_config(tiny_config(emotion_in_context=True, prior="gaussian"))
  x, mel = random_batch(seed=5)
  params = jax.jit(model.init)(jax.random.key(0), x, mel, np.array([0, 1, -1]))["params"]
  assert params["context"]["emotion_embed"]["embedding"].shape == (9, 16)  # 8 + unknown.
  params = perturb(params, jax.random.key(1))  # Zero-init couplings would ignore the context.
  lp = jitted(model, CoefficientFlow.log_prob)
  a = lp(params, x, mel, np.array([0, 1, -1]))["log_prob"]
  b = lp(params, x, mel, np.array([3, 1, -1]))["log_prob"]
  assert a[0] != b[0]
  np.testing.assert_allclose(a[1:], b[1:], rtol=1e-6)
  with pytest.raises(ValueError, match="encode needs `emotion`"):
    model.apply({"params": params}, x, mel, method=CoefficientFlow.encode)


def test_intensity_in_context_interpolates_the_emotion_embedding():
  """With `intensity_in_context`, intensity 0 is the neutral embedding (whatever the emotion)
  and 3 the emotion's own; the prior-only model ignores intensity in the context."""
  model = CoefficientFlow.from_config(
    tiny_config(emotion_in_context=True, intensity_in_context=True, prior="gaussian")
  )
  x, mel = random_batch(seed=6)
  params = jax.jit(model.init)(jax.random.key(0), x, mel, np.array([0, 1, 2]))["params"]
  params = perturb(params, jax.random.key(1))
  lp = jitted(model, CoefficientFlow.log_prob)
  at = lambda e, i: np.asarray(lp(params, x, mel, np.array(e), np.array(i, np.float32))["log_prob"])
  neutral = at([NEUTRAL] * 3, [3.0] * 3)
  np.testing.assert_allclose(at([0, 1, 2], [0.0] * 3), neutral, rtol=1e-6)
  full = at([0, 1, 2], [3.0] * 3)
  assert np.all(np.abs(full - neutral) > 1e-4)
  half = at([0, 1, 2], [1.5] * 3)
  assert np.all(np.abs(half - full) > 1e-5) and np.all(np.abs(half - neutral) > 1e-5)


def test_moglow_lstm_couplings_step_equals_sequence():
  """MoGlow couplings (each its own LSTM over (x_a, context), no shared LSTM): the frame-by-frame
  sampler's map inverts the teacher-forced encoder exactly, and the log-det is the Jacobian's."""
  model = CoefficientFlow.from_config(
    tiny_config(coupling="lstm", lstm_layers=0, history_dropout=0.0)
  )
  x, mel = random_batch(b=2, t=7, seed=7)
  emo = np.array([0, 4])
  params = jax.jit(model.init)(jax.random.key(0), x, mel, emo)["params"]
  params = perturb(params, jax.random.key(2))
  assert "lstm" not in params["context"] and "lstm" in params["flow"]["couplings_0"]["net"]
  z = model.apply({"params": params}, x, mel, emo, method=CoefficientFlow.encode)
  audio = model.apply({"params": params}, mel, method=CoefficientFlow.encode_audio)
  carry = model.apply({"params": params}, 2, method=CoefficientFlow.initial_carry)
  xs = []
  for t in range(x.shape[1]):
    carry, xt = model.apply({"params": params}, carry, audio[:, t], z[:, t],
                            method=CoefficientFlow.decode_step)  # fmt: skip
    xs.append(xt)
  np.testing.assert_allclose(np.stack(xs, 1), x, atol=2e-4)

  # The encoder's log-det of frame t is log|det dz_t / dx_t| (the past frames held fixed).
  def frame_latent(xt):
    xx = jnp.asarray(x).at[0, 3].set(xt)
    return model.apply({"params": params}, xx, mel, emo, method=CoefficientFlow.encode)[0, 3]

  jac = jax.jacfwd(frame_latent)(jnp.asarray(x[0, 3]))
  _, log_det = model.apply(
    {"params": params}, x, mel, emo, None, False, method=lambda m, *a: m._encode(*a)
  )
  np.testing.assert_allclose(log_det[0, 3], np.linalg.slogdet(np.asarray(jac))[1], atol=1e-3)


def test_audio_level_hears_loudness_that_the_layernorm_removes():
  """A louder recording (a constant added to the log-mel) gives the same audio features without
  `audio_level`, and different ones with it."""
  x, mel = random_batch(b=1, t=4, seed=8)
  for level in (False, True):
    model = CoefficientFlow.from_config(tiny_config(audio_level=level))
    params = jax.jit(model.init)(jax.random.key(0), x, mel, np.array([1]))["params"]
    enc = jitted(model, CoefficientFlow.encode_audio)
    quiet, loud = np.asarray(enc(params, mel)), np.asarray(enc(params, mel + 3.0))
    if level:
      assert np.abs(quiet - loud).max() > 1e-3
    else:
      np.testing.assert_allclose(quiet, loud, atol=1e-4)
