"""The frame context of the flow: audio window + coefficient history -> LSTM.

For video frame t the context network sees

* the log-mel window of the video frames t-k..t+k: `[2k+1, 4, 80]` (4 mel
  frames of 80 bins per video frame), normalised over the whole window
  (LayerNorm, so any log-mel scale works), each mel frame projected by a shared
  Dense, then the window flattened and projected to `audio_features`;
* the previous `history` (tau) frames of coefficients, oldest first, flattened
  to `[tau * D]` and zero-padded before the first frame. In training each
  frame's whole history is zeroed with probability `history_dropout` (MoGlow's
  data dropout; no rescaling, zeros mean "unknown"); the audio is never dropped;
* optionally an emotion embedding (`emotion_in_context`; label -1 has its own
  "unknown" row); with `intensity_in_context` it is interpolated from the neutral row by the
  intensity weight a (the prior's `intensity_to_weight`), `emb(neutral) + a (emb(e) -
  emb(neutral))`, so the conditioner, like the prior, hears how strong the emotion is.

These are concatenated and fed to a stack of LSTMs over time (MoGlow uses 2
layers of width 512), which carries the recurrent state. The context handed to
every coupling of frame t is `[lstm_output_t, audio_features_t]`. With
`lstm_layers=0` there is no shared LSTM: the context is the concatenated inputs
themselves (MoGlow's layout, where every coupling has its own LSTM,
`layers.ConditionerLSTM`). The LSTM sees
only the conditioning (audio and past frames), never the frame being modelled,
so training evaluates all frames in parallel except for the LSTM's scan, and
sampling advances one frame at a time with `step`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from flowvq_jax.core.constants import NEUTRAL, NUM_EMOTIONS

Array = jax.Array
LSTMCarry = tuple[tuple[Array, Array], ...]  # per layer (c, h), each [N, H], float32.


class LSTMStack(nn.Module):
  """`num_layers` LSTMs of width `features`; float32 state, matmuls in `dtype`.

  `__call__(xs [B, T, F]) -> [B, T, H]` runs from a zero state (input projections of
  all frames at once, a `lax.scan` for the recurrence); `step(carry, x [N, F])`
  advances one frame. Both use the same params.
  """

  features: int
  in_features: int
  num_layers: int = 1
  dtype: Any = jnp.float32

  def setup(self):
    h = self.features

    def bias_init(rng, shape):
      del rng
      return jnp.zeros(shape, jnp.float32).at[h : 2 * h].set(1.0)  # forget-gate bias 1.

    params = []
    for layer in range(self.num_layers):
      fin = self.in_features if layer == 0 else h
      wi = self.param(f"wi_{layer}", nn.initializers.lecun_normal(), (fin, 4 * h))
      wh = self.param(f"wh_{layer}", nn.initializers.orthogonal(), (h, 4 * h))
      b = self.param(f"b_{layer}", bias_init, (4 * h,))
      params.append((wi, wh, b))
    self.layers = params

  def _cell(self, wh, carry, gates_in):
    c, h = carry
    gates = gates_in + jnp.dot(h.astype(self.dtype), wh.astype(self.dtype)).astype(jnp.float32)
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return c, h

  def _in_proj(self, x, wi, b):
    return jnp.dot(x.astype(self.dtype), wi.astype(self.dtype)).astype(jnp.float32) + b

  def initial_carry(self, batch: int) -> LSTMCarry:
    z = jnp.zeros((batch, self.features), jnp.float32)
    return tuple((z, z) for _ in range(self.num_layers))

  def __call__(self, xs: Array) -> Array:
    h = xs
    for wi, wh, b in self.layers:
      gates_in = jnp.swapaxes(self._in_proj(h, wi, b), 0, 1)  # [T, B, 4H]
      z = jnp.zeros((xs.shape[0], self.features), jnp.float32)

      def body(carry, g, wh=wh):
        carry = self._cell(wh, carry, g)
        return carry, carry[1]

      _, hs = jax.lax.scan(body, (z, z), gates_in)
      h = jnp.swapaxes(hs, 0, 1)
    return h

  def step(self, carry: LSTMCarry, x: Array) -> tuple[LSTMCarry, Array]:
    new = []
    h = x
    for layer, (wi, wh, b) in enumerate(self.layers):
      c_l = self._cell(wh, carry[layer], self._in_proj(h, wi, b))
      new.append(c_l)
      h = c_l[1]
    return tuple(new), h


LEVEL_OFFSET, LEVEL_SCALE = 9.0, 3.0  # a mel frame's mean log-mel: -14 (silence) to about -4.
# Speech-band energy: log of the summed mel power of bins 2..61 (about 80 Hz to 4 kHz of the 80
# Slaney bins up to 8 kHz), about -10 (silence) to 6.
SPEECH_BINS = slice(2, 62)
BAND_OFFSET, BAND_SCALE = 0.0, 5.0


class AudioEncoder(nn.Module):
  """Mel window `[..., 2k+1, M, 80]` -> `[..., features]` (see module docstring).

  With `level`, two loudness features of each mel frame, which the LayerNorm removes, are
  appended to that frame's normalised bins: its mean log-mel, `(mean + 9) / 3`, and the log of
  its speech-band power (bins `SPEECH_BINS`), `/ 5`. How far the mouth opens depends on how loud
  the speech is.
  """

  hidden: int
  features: int
  dtype: Any = jnp.float32
  level: bool = False

  @nn.compact
  def __call__(self, mel: Array) -> Array:
    lead = mel.shape[:-3]
    frames = mel.shape[-3] * mel.shape[-2]
    x = mel.reshape(*lead, -1).astype(jnp.float32)
    x = nn.LayerNorm(name="norm")(x).astype(self.dtype)
    x = x.reshape(*lead, frames, mel.shape[-1])
    if self.level:
      raw = mel.reshape(*lead, frames, mel.shape[-1]).astype(jnp.float32)
      level = (jnp.mean(raw, axis=-1) + LEVEL_OFFSET) / LEVEL_SCALE
      band = (jax.nn.logsumexp(raw[..., SPEECH_BINS], axis=-1) + BAND_OFFSET) / BAND_SCALE
      x = jnp.concatenate([x, jnp.stack([level, band], -1).astype(self.dtype)], axis=-1)
    x = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype, name="per_mel")(x))
    x = x.reshape(*lead, -1)
    x = nn.gelu(nn.Dense(self.features, dtype=self.dtype, name="window")(x))
    return x


def history_windows(x: Array, tau: int) -> Array:
  """`x [B, T, D]` -> `[B, T, tau * D]`: frames t-tau..t-1 (oldest first), zeros before 0."""
  b, t, d = x.shape
  if tau == 0:
    return jnp.zeros((b, t, 0), x.dtype)
  padded = jnp.concatenate([jnp.zeros((b, tau, d), x.dtype), x], axis=1)
  return jnp.concatenate([padded[:, j : j + t] for j in range(tau)], axis=-1)


class ContextNet(nn.Module):
  """Audio window + history (+ emotion) -> LSTM -> per-frame context `[..., C]`."""

  dim: int
  history: int = 5
  history_dropout: float = 0.4
  audio_hidden: int = 32
  audio_features: int = 64
  lstm_layers: int = 1
  lstm_width: int = 128
  emotion_in_context: bool = False
  intensity_in_context: bool = False
  emotion_features: int = 16
  audio_level: bool = False
  dtype: Any = jnp.float32

  def setup(self):
    self.audio = AudioEncoder(self.audio_hidden, self.audio_features, self.dtype, self.audio_level)
    in_features = self.audio_features + self.history * self.dim
    if self.emotion_in_context:
      in_features += self.emotion_features
    self.in_features = in_features
    if self.lstm_layers > 0:
      self.lstm = LSTMStack(self.lstm_width, in_features, self.lstm_layers, self.dtype)
    if self.emotion_in_context:
      self.emotion_embed = nn.Embed(NUM_EMOTIONS + 1, self.emotion_features)

  @property
  def features(self) -> int:
    """Size C of the context handed to the couplings."""
    if self.lstm_layers == 0:
      emotion = self.emotion_features if self.emotion_in_context else 0
      return self.audio_features + self.history * self.dim + emotion
    return self.lstm_width + self.audio_features

  def audio_features_of(self, mel: Array) -> Array:
    """`mel [..., 2k+1, 4, 80]` -> `[..., audio_features]` (parallel over frames)."""
    return self.audio(mel)

  def _inputs(
    self, audio: Array, hist: Array, emotion: Array | None, weight: Array | None = None
  ) -> Array:
    parts = [audio.astype(jnp.float32), hist.astype(jnp.float32)]
    if self.emotion_in_context:
      idx = jnp.where(emotion < 0, NUM_EMOTIONS, emotion)
      emb = self.emotion_embed(idx).astype(jnp.float32)
      if self.intensity_in_context and weight is not None:
        neutral = self.emotion_embed(jnp.full_like(idx, NEUTRAL)).astype(jnp.float32)
        a = jnp.where(emotion < 0, 1.0, jnp.asarray(weight, jnp.float32))[..., None]
        emb = neutral + a * (emb - neutral)
      parts.append(emb)
    return jnp.concatenate(parts, axis=-1)

  def __call__(
    self,
    x: Array,
    mel: Array,
    emotion: Array | None = None,
    train: bool = False,
    weight: Array | None = None,
  ) -> Array:
    """Teacher-forced context of every frame.

    Args:
      x: coefficients `[B, T, D]` (their history is the conditioning).
      mel: mel windows `[B, T, 2k+1, 4, 80]`.
      emotion: `[B]` int labels (-1 = unknown); used if `emotion_in_context`.
      weight: intensity weight a, `[B]` or `[B, T]` (None: 1); used if `intensity_in_context`.
      train: apply history dropout (needs the 'dropout' rng).

    Returns:
      `[B, T, C]` float32 context.
    """
    b, t, _ = x.shape
    audio = self.audio_features_of(mel)
    hist = history_windows(jnp.asarray(x, jnp.float32), self.history)
    if train and self.history_dropout > 0 and self.history > 0:
      keep = jax.random.bernoulli(self.make_rng("dropout"), 1.0 - self.history_dropout, (b, t, 1))
      hist = hist * keep
    emo = a = None
    if self.emotion_in_context:
      emo = jnp.broadcast_to(jnp.asarray(emotion, jnp.int32).reshape(b, -1), (b, t))
      if weight is not None:
        a = jnp.broadcast_to(jnp.asarray(weight, jnp.float32).reshape(b, -1), (b, t))
    inputs = self._inputs(audio, hist, emo, a)
    if self.lstm_layers == 0:
      return inputs
    hs = self.lstm(inputs)
    return jnp.concatenate([hs, audio.astype(jnp.float32)], axis=-1)

  def initial_carry(self, batch: int) -> tuple[LSTMCarry, Array]:
    """Zero LSTM state and zero history `[N, tau, D]` (the state before frame 0)."""
    lstm = self.lstm.initial_carry(batch) if self.lstm_layers > 0 else ()
    return lstm, jnp.zeros((batch, self.history, self.dim), jnp.float32)

  def step(
    self,
    lstm_carry: LSTMCarry,
    history: Array,
    audio: Array,
    emotion: Array | None = None,
    weight: Array | None = None,
  ) -> tuple[LSTMCarry, Array]:
    """One frame: `history [N, tau, D]`, `audio [N, A]` (and emotion, intensity weight `[N]`)
    -> (new LSTM carry, context `[N, C]`)."""
    hist = history.reshape(history.shape[0], -1)
    inputs = self._inputs(audio, hist, emotion, weight)
    if self.lstm_layers == 0:
      return lstm_carry, inputs
    lstm_carry, h = self.lstm.step(lstm_carry, inputs)
    return lstm_carry, jnp.concatenate([h, audio.astype(jnp.float32)], axis=-1)
