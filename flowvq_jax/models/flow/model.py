"""`CoefficientFlow`: ExpFlow and PoseFlow of FlowVQTalker's coefficient generator.

One conditional Glow (K steps of ActNorm -> LU 1x1 -> affine coupling, see
`layers`) applied to every frame of a coefficient sequence `x [B, T, D]`, with
the frame context of `conditioner.ContextNet` (audio window, previous frames,
LSTM) and the latent prior of `prior.Prior`. ExpFlow (64 dims, Student's-t
mixture prior) and PoseFlow (6 dims, Gaussian prior) differ only in config:
`default_config(kind='exp' | 'pose', size=...)`.

Usage:

  cfg = default_config("exp", "synthetic")
  model = CoefficientFlow.from_config(cfg)
  # Initialise with a REAL batch: ActNorm sets itself from it (data init).
  params = model.init(rng, x, mel, emotion)["params"]
  metrics = model.apply({"params": params}, x, mel, emotion, intensity, train=True,
                        rngs={"dropout": key})
  loss = metrics["loss"]  # NLL in nats per dim, float32.

Inputs: `x [B, T, D]` coefficients (normalised), `mel [B, T, 2k+1, 4, 80]` the
log-mel windows of the video frames t-k..t+k (`flowvq_jax.data.audio.mel_windows`
builds them from a clip's `[4T, 80]` log-mel; the
flattened `[B, T, (2k+1)*4*80]` is accepted too), `emotion [B]` int (-1 =
unlabelled), `intensity [B]` float level (0..3, -1 or None = unknown), `mask
[B, T]` valid frames. Sampling lives in `flowvq_jax.models.flow.sampler`.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from flowvq_jax.core.constants import EXP_DIM, MELS_PER_FRAME, NEUTRAL, NUM_EMOTIONS, POSE_DIM
from flowvq_jax.models.flow.conditioner import ContextNet, LSTMCarry
from flowvq_jax.models.flow.layers import Flow
from flowvq_jax.models.flow.prior import Prior, intensity_to_weight

Array = jax.Array
MEL_BINS = 80
KINDS = ("exp", "pose")
SIZES = ("tiny", "synthetic", "moglow")


def default_config(kind: str = "exp", size: str = "synthetic") -> ml_collections.ConfigDict:
  """Model config of ExpFlow (`kind='exp'`) or PoseFlow (`kind='pose'`).

  Sizes:
    tiny:      2 steps, width 16, 1-layer LSTM of 16, audio +-1 frame; for tests.
    synthetic: 8 steps, coupling MLP 2x128, 1-layer LSTM of 128, audio +-4 frames,
               history 5, data dropout 0.4; the synthetic world's default.
    moglow:    MoGlow's sizes: 16 steps, coupling MLP 2x512, 2-layer LSTM of 512,
               history 5 frames, data dropout 0.4.
  `exp` has 64 dims and a Student's-t mixture prior (one component per emotion,
  learned df from 5); `pose` has 6 dims and a single Gaussian. Every key is a
  field of `CoefficientFlow` (`CoefficientFlow.from_config(cfg)`).
  """
  if kind not in KINDS:
    raise ValueError(f"Unknown flow kind {kind!r}; choose one of {KINDS}.")
  if size not in SIZES:
    raise ValueError(f"Unknown flow size {size!r}; choose one of {SIZES}.")
  c = ml_collections.ConfigDict()
  c.dim = EXP_DIM if kind == "exp" else POSE_DIM
  # Prior.
  c.prior = "smm" if kind == "exp" else "gaussian"
  c.num_components = NUM_EMOTIONS
  c.df = 5.0  # initial (or fixed) Student's-t degrees of freedom.
  c.learn_df = True
  # Flow.
  c.num_steps = {"tiny": 2, "synthetic": 8, "moglow": 16}[size]
  c.coupling_hidden = {"tiny": 16, "synthetic": 128, "moglow": 512}[size]
  c.coupling = "mlp"  # 'mlp' | 'lstm' (MoGlow: each coupling its own LSTM over (x_a, context)).
  c.coupling_depth = 2  # hidden layers of each coupling's MLP (LSTM layers for 'lstm').
  c.scale_fn = "tanh"  # 'tanh': log s = b*tanh(h/b); 'sigmoid': sigmoid(h+2)/sigmoid(2).
  c.log_scale_bound = 2.0  # b for 'tanh'.
  c.perm_seed = 0  # seeds the fixed permutations (and initial rotations) of the 1x1s.
  # Context.
  c.audio_context = 1 if size == "tiny" else 4  # k: video frames t-k..t+k of mel.
  c.mels_per_frame = MELS_PER_FRAME
  c.mel_bins = MEL_BINS
  c.audio_hidden = {"tiny": 8, "synthetic": 32, "moglow": 64}[size]
  c.audio_features = {"tiny": 16, "synthetic": 64, "moglow": 128}[size]
  c.audio_level = False  # also hear each mel frame's loudness (the LayerNorm removes it).
  c.history = 2 if size == "tiny" else 5  # tau previous frames.
  c.history_dropout = 0.4
  c.lstm_layers = 2 if size == "moglow" else 1
  c.lstm_width = {"tiny": 16, "synthetic": 128, "moglow": 512}[size]
  c.emotion_in_context = False
  c.intensity_in_context = False  # the context's emotion embedding scaled by the intensity.
  c.emotion_features = 16
  c.dtype = "float32"  # compute dtype ('bfloat16' on TPU/GPU); params stay float32.
  return c


def _concrete(x) -> np.ndarray | None:
  """numpy value of `x`, or None when traced under a JAX transformation."""
  if isinstance(x, jax.core.Tracer):
    return None
  return np.asarray(x)


class CoefficientFlow(nn.Module):
  """Conditional autoregressive Glow over per-frame coefficients (ExpFlow / PoseFlow).

  Fields are those of `default_config`. `dtype` is the compute dtype of the
  networks (params, log-dets and likelihoods stay float32).
  """

  dim: int = EXP_DIM
  prior: str = "smm"
  num_components: int = NUM_EMOTIONS
  df: float = 5.0
  learn_df: bool = True
  num_steps: int = 8
  coupling_hidden: int = 128
  coupling: str = "mlp"
  coupling_depth: int = 2
  scale_fn: str = "tanh"
  log_scale_bound: float = 2.0
  perm_seed: int = 0
  audio_context: int = 4
  mels_per_frame: int = MELS_PER_FRAME
  mel_bins: int = MEL_BINS
  audio_hidden: int = 32
  audio_features: int = 64
  audio_level: bool = False
  history: int = 5
  history_dropout: float = 0.4
  lstm_layers: int = 1
  lstm_width: int = 128
  emotion_in_context: bool = False
  intensity_in_context: bool = False
  emotion_features: int = 16
  dtype: Any = "float32"

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict | dict) -> CoefficientFlow:
    d = dict(config.to_dict() if hasattr(config, "to_dict") else config)
    unknown = sorted(set(d) - set(cls.__dataclass_fields__))
    if unknown:
      raise ValueError(f"Unknown CoefficientFlow config keys: {unknown}.")
    return cls(**d)

  def setup(self):
    dtype = jnp.dtype(self.dtype)
    if self.num_components != NUM_EMOTIONS and self.prior != "gaussian":
      raise ValueError(
        f"The mixture priors have one component per emotion ({NUM_EMOTIONS}),"
        f" got num_components={self.num_components}."
      )
    self.context = ContextNet(
      dim=self.dim,
      history=self.history,
      history_dropout=self.history_dropout,
      audio_hidden=self.audio_hidden,
      audio_features=self.audio_features,
      audio_level=self.audio_level,
      lstm_layers=self.lstm_layers,
      lstm_width=self.lstm_width,
      emotion_in_context=self.emotion_in_context,
      intensity_in_context=self.intensity_in_context,
      emotion_features=self.emotion_features,
      dtype=dtype,
    )
    self.flow = Flow(
      features=self.dim,
      num_steps=self.num_steps,
      hidden=self.coupling_hidden,
      depth=self.coupling_depth,
      scale_fn=self.scale_fn,
      log_scale_bound=self.log_scale_bound,
      perm_seed=self.perm_seed,
      dtype=dtype,
      coupling=self.coupling,
      context_features=self.context.features,
    )
    self.latent_prior = Prior(
      kind=self.prior,
      dim=self.dim,
      num_components=self.num_components,
      neutral=NEUTRAL,
      df=self.df,
      learn_df=self.learn_df,
    )

  # ----------------------------------------------------------------- checks.
  @property
  def window(self) -> int:
    """Video frames per mel window, 2k+1."""
    return 2 * self.audio_context + 1

  @property
  def mel_shape(self) -> tuple[int, int, int]:
    """Per-frame mel window shape `(2k+1, 4, 80)`."""
    return (self.window, self.mels_per_frame, self.mel_bins)

  def check_mel(self, mel: Array, lead: tuple[int, ...]) -> Array:
    """Validates `mel` against leading dims `lead` and returns `[*lead, 2k+1, 4, 80]`."""
    shape = tuple(mel.shape)
    flat = int(np.prod(self.mel_shape))
    if shape == (*lead, flat):
      return jnp.reshape(mel, (*lead, *self.mel_shape))
    if shape != (*lead, *self.mel_shape):
      raise ValueError(
        f"mel must have shape {(*lead, *self.mel_shape)} (or flattened {(*lead, flat)}):"
        f" mel windows of 2k+1={self.window} video frames x {self.mels_per_frame} mel frames"
        f" x {self.mel_bins} bins; got {shape}."
      )
    return mel

  def check_emotion(self, emotion, allow_unlabelled: bool = True) -> None:
    """Raises ValueError for emotion labels outside -1 (if allowed) .. NUM_EMOTIONS-1."""
    e = _concrete(emotion)
    if e is None or e.size == 0:
      return
    if not np.issubdtype(e.dtype, np.integer):
      raise ValueError(f"Emotion labels must be integers, got dtype {e.dtype}.")
    lo = -1 if allow_unlabelled else 0
    if e.min() < lo or e.max() >= NUM_EMOTIONS:
      bad = e[(e < lo) | (e >= NUM_EMOTIONS)].ravel()[0]
      raise ValueError(
        f"Unknown emotion index {bad}; valid are {lo}..{NUM_EMOTIONS - 1}"
        + (" (-1 = unlabelled)." if allow_unlabelled else ".")
      )

  def _check_batch(self, x, mel, emotion, intensity, mask):
    if x.ndim != 3 or x.shape[-1] != self.dim:
      raise ValueError(f"x must have shape [B, T, {self.dim}], got {tuple(x.shape)}.")
    b, t, _ = x.shape
    mel = self.check_mel(mel, (b, t))
    if emotion is not None:
      if tuple(jnp.shape(emotion)) != (b,):
        raise ValueError(f"emotion must have shape [B]=({b},), got {tuple(jnp.shape(emotion))}.")
      self.check_emotion(emotion)
    if intensity is not None and tuple(jnp.shape(intensity)) not in ((b,), (b, t)):
      raise ValueError(
        f"intensity must have shape [B]=({b},) or [B, T]=({b}, {t}),"
        f" got {tuple(jnp.shape(intensity))}."
      )
    if mask is not None and tuple(jnp.shape(mask)) != (b, t):
      raise ValueError(f"mask must have shape [B, T]=({b}, {t}), got {tuple(jnp.shape(mask))}.")
    return mel

  # --------------------------------------------------------------- training.
  def _encode(self, x, mel, emotion, mask, train, intensity=None):
    b, t, d = x.shape
    weight = None if intensity is None else intensity_to_weight(intensity)
    ctx = self.context(x, mel, emotion, train=train, weight=weight)
    flat_x = jnp.asarray(x, jnp.float32).reshape(b * t, d)
    weights = None if mask is None else jnp.asarray(mask, jnp.float32).reshape(-1)
    chain = self.flow(ctx.reshape(b * t, -1), x_init=flat_x, weights=weights, seq_shape=(b, t))
    z, log_det = chain.inverse_and_log_det(flat_x)
    return z.reshape(b, t, d), log_det.reshape(b, t)

  def log_prob(
    self,
    x: Array,
    mel: Array,
    emotion: Array,
    intensity: Array | None = None,
    mask: Array | None = None,
    train: bool = False,
  ) -> dict[str, Array]:
    """Exact log-likelihood of each clip, and its parts.

    Returns:
      dict of float32 `[B]` arrays: `log_prob` = `log_prior` + `log_det` (sums over
      valid frames and dims, nats) and `frames` (valid frames per clip).
    """
    mel = self._check_batch(x, mel, emotion, intensity, mask)
    z, log_det = self._encode(x, mel, emotion, mask, train, intensity)
    m = jnp.ones(x.shape[:2], jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)
    log_prior = self.latent_prior(z, emotion, intensity, m)
    log_det = jnp.sum(log_det * m, axis=1)
    return {
      "log_prob": log_prior + log_det,
      "log_prior": log_prior,
      "log_det": log_det,
      "frames": jnp.sum(m, axis=1),
    }

  def __call__(
    self,
    x: Array,
    mel: Array,
    emotion: Array,
    intensity: Array | None = None,
    mask: Array | None = None,
    train: bool = False,
  ) -> dict[str, Array]:
    """NLL metrics of a batch (the training loss is `loss`); all float32 scalars.

    Args:
      x: `[B, T, D]` coefficients.
      mel: `[B, T, 2k+1, 4, 80]` mel windows (or flattened).
      emotion: `[B]` int, -1 = unlabelled.
      intensity: `[B]` / `[B, T]` float levels, or None (unknown).
      mask: `[B, T]` valid frames, or None.
      train: history dropout on (needs `rngs={'dropout': key}`).

    Returns:
      `loss` (= `nll_nats_per_dim`), `nll_bits_per_dim`, `nll_bits_per_frame`,
      `log_prior_per_dim`, `log_det_per_dim` (nats; NLL = -(prior + log_det)).
    """
    parts = self.log_prob(x, mel, emotion, intensity, mask, train)
    frames = jnp.maximum(jnp.sum(parts["frames"]), 1.0)
    dims = frames * self.dim
    nats = -jnp.sum(parts["log_prob"]) / dims
    return {
      "loss": nats,
      "nll_nats_per_dim": nats,
      "nll_bits_per_dim": nats / math.log(2.0),
      "nll_bits_per_frame": -jnp.sum(parts["log_prob"]) / frames / math.log(2.0),
      "log_prior_per_dim": jnp.sum(parts["log_prior"]) / dims,
      "log_det_per_dim": jnp.sum(parts["log_det"]) / dims,
    }

  def encode(
    self, x: Array, mel: Array, emotion: Array | None = None, mask: Array | None = None
  ) -> Array:
    """Latents of a (reference) sequence, teacher-forced: `x [B, T, D]` -> `z [B, T, D]`."""
    mel = self._check_batch(x, mel, emotion, None, mask)
    if self.emotion_in_context and emotion is None:
      raise ValueError("This flow has emotion_in_context=True: encode needs `emotion`.")
    return self._encode(x, mel, emotion, mask, train=False)[0]

  # --------------------------------------------------------------- sampling.
  def encode_audio(self, mel: Array) -> Array:
    """`mel [..., 2k+1, 4, 80]` -> `[..., A]`, all frames in parallel."""
    return self.context.audio_features_of(mel)

  def initial_carry(self, batch: int) -> tuple:
    """State before frame 0: zero LSTM carry and zero history `[N, tau, D]`, and for LSTM
    couplings every coupling's zero LSTM carry."""
    carry = self.context.initial_carry(batch)
    if self.coupling == "lstm":
      return (*carry, self.flow.initial_carry(batch))
    return carry

  def prior_params(self, emotion: Array, intensity: Array) -> dict[str, Array]:
    """Latent component of emotion `[...]` at intensity level `[...]` (see `prior`)."""
    return self.latent_prior.component_params(emotion, intensity_to_weight(intensity))

  def decode_step(
    self,
    carry: tuple[LSTMCarry, Array],
    audio: Array,
    z: Array,
    emotion: Array | None = None,
    weight: Array | None = None,
  ) -> tuple[tuple[LSTMCarry, Array], Array]:
    """One autoregressive frame: latent `z [N, D]` + `audio [N, A]` -> `x [N, D]`.

    `carry` is (LSTM carry, history `[N, tau, D]`[, coupling carries]); the new history
    appends x.
    `emotion [N]` and the intensity weight `weight [N]` enter the context when the config says
    so.
    """
    lstm_carry, history, *flow_carry = carry
    lstm_carry, ctx = self.context.step(lstm_carry, history, audio, emotion, weight)
    if self.coupling == "lstm":
      x, new = self.flow.step_forward(ctx, z, flow_carry[0])
      flow_carry = [new]
    else:
      x = self.flow(ctx).forward(z)
    if self.history > 0:
      history = jnp.concatenate([history[:, 1:], x[:, None].astype(jnp.float32)], axis=1)
    return (lstm_carry, history, *flow_carry), x
