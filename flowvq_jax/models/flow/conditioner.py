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
  "unknown" row).

These are concatenated and fed to a stack of LSTMs over time (MoGlow uses 2
layers of width 512), which carries the recurrent state. The context handed to
every coupling of frame t is `[lstm_output_t, audio_features_t]`. The LSTM sees
only the conditioning (audio and past frames), never the frame being modelled,
so training evaluates all frames in parallel except for the LSTM's scan, and
sampling advances one frame at a time with `step`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from flowvq_jax.core.constants import NUM_EMOTIONS

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


class AudioEncoder(nn.Module):
  """Mel window `[..., 2k+1, M, 80]` -> `[..., features]` (see module docstring)."""

  hidden: int
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, mel: Array) -> Array:
    lead = mel.shape[:-3]
    x = mel.reshape(*lead, -1).astype(jnp.float32)
    x = nn.LayerNorm(name="norm")(x).astype(self.dtype)
    x = x.reshape(*lead, mel.shape[-3] * mel.shape[-2], mel.shape[-1])
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
  emotion_features: int = 16
  dtype: Any = jnp.float32

  def setup(self):
    self.audio = AudioEncoder(self.audio_hidden, self.audio_features, self.dtype)
    in_features = self.audio_features + self.history * self.dim
    if self.emotion_in_context:
      in_features += self.emotion_features
    self.lstm = LSTMStack(self.lstm_width, in_features, self.lstm_layers, self.dtype)
    if self.emotion_in_context:
      self.emotion_embed = nn.Embed(NUM_EMOTIONS + 1, self.emotion_features)

  @property
  def features(self) -> int:
    """Size C of the context handed to the couplings."""
    return self.lstm_width + self.audio_features

  def audio_features_of(self, mel: Array) -> Array:
    """`mel [..., 2k+1, 4, 80]` -> `[..., audio_features]` (parallel over frames)."""
    return self.audio(mel)

  def _inputs(self, audio: Array, hist: Array, emotion: Array | None) -> Array:
    parts = [audio.astype(jnp.float32), hist.astype(jnp.float32)]
    if self.emotion_in_context:
      idx = jnp.where(emotion < 0, NUM_EMOTIONS, emotion)
      parts.append(self.emotion_embed(idx).astype(jnp.float32))
    return jnp.concatenate(parts, axis=-1)

  def __call__(
    self, x: Array, mel: Array, emotion: Array | None = None, train: bool = False
  ) -> Array:
    """Teacher-forced context of every frame.

    Args:
      x: coefficients `[B, T, D]` (their history is the conditioning).
      mel: mel windows `[B, T, 2k+1, 4, 80]`.
      emotion: `[B]` int labels (-1 = unknown); used if `emotion_in_context`.
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
    emo = None
    if self.emotion_in_context:
      emo = jnp.broadcast_to(jnp.asarray(emotion, jnp.int32).reshape(b, -1), (b, t))
    hs = self.lstm(self._inputs(audio, hist, emo))
    return jnp.concatenate([hs, audio.astype(jnp.float32)], axis=-1)

  def initial_carry(self, batch: int) -> tuple[LSTMCarry, Array]:
    """Zero LSTM state and zero history `[N, tau, D]` (the state before frame 0)."""
    return self.lstm.initial_carry(batch), jnp.zeros((batch, self.history, self.dim), jnp.float32)

  def step(
    self, lstm_carry: LSTMCarry, history: Array, audio: Array, emotion: Array | None = None
  ) -> tuple[LSTMCarry, Array]:
    """One frame: `history [N, tau, D]`, `audio [N, A]` -> (new LSTM carry, context `[N, C]`)."""
    hist = history.reshape(history.shape[0], -1)
    lstm_carry, h = self.lstm.step(lstm_carry, self._inputs(audio, hist, emotion))
    return lstm_carry, jnp.concatenate([h, audio.astype(jnp.float32)], axis=-1)
