"""Flax modules that own the flow's parameters and build its distrax bijectors.

Each layer's `__call__` returns a `distrax.Bijector` made from its parameters
(pure: nothing is stored on the module). `Flow` composes the K steps with
`distrax.Chain`. Per step, in the data -> latent direction (the bijectors'
`inverse`): ActNorm, then the LU 1x1, then the conditional affine coupling. As
distrax's `Chain` applies its LAST bijector first in `forward` (latent -> data),
the chain is listed data side first: `[actnorm_0, conv_0, coupling_0, actnorm_1, ...]`.

Couplings (`Flow.coupling`):

* `'mlp'`: the coupling's network is an MLP over (x_a, frame context), frames independent given
  the context (the project's default, with one LSTM shared by all steps in the context network).
* `'lstm'`: MoGlow's coupling: each step's network is its own LSTM stack over the sequence of
  (x_a_t, context_t), so the coupling sees its own past inputs. Training runs every coupling's
  LSTM over the whole sequence (`seq_shape`); sampling advances one frame with `step_forward`,
  carrying every coupling's LSTM state.
"""

from __future__ import annotations

import functools
from typing import Any

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from flowvq_jax.models.flow import bijectors
from flowvq_jax.models.flow.conditioner import LSTMCarry, LSTMStack

Array = jax.Array


class ActNormLayer(nn.Module):
  """ActNorm parameters with Glow's data-dependent initialisation.

  When the module is initialised with `x` (the data arriving at this layer,
  `[N, D]`), `loc` and `log_scale` are set from that batch's (weighted) mean and
  standard deviation; the values are ordinary params, so they survive a reload.
  Without `x` they start at 0 (an identity map).
  """

  features: int
  eps: float = 1e-6

  @nn.compact
  def __call__(self, x: Array | None = None, weights: Array | None = None) -> bijectors.ActNorm:
    def stats():
      xf = jax.lax.stop_gradient(jnp.asarray(x, jnp.float32)).reshape(-1, self.features)
      w = jnp.ones(xf.shape[:1]) if weights is None else jnp.asarray(weights, jnp.float32).ravel()
      w = w / jnp.maximum(jnp.sum(w), 1e-6)
      mean = jnp.einsum("n,nd->d", w, xf)
      var = jnp.einsum("n,nd->d", w, jnp.square(xf - mean))
      return mean, 0.5 * jnp.log(var + self.eps)

    def init_loc(rng, shape):
      del rng
      return jnp.zeros(shape, jnp.float32) if x is None else stats()[0]

    def init_log_scale(rng, shape):
      del rng
      return jnp.zeros(shape, jnp.float32) if x is None else stats()[1]

    loc = self.param("loc", init_loc, (self.features,))
    log_scale = self.param("log_scale", init_log_scale, (self.features,))
    return bijectors.ActNorm(loc, log_scale)


@functools.lru_cache(maxsize=256)
def _lu_of_random_rotation(d: int, seed: int):
  """Glow's init: W0 = random rotation = P L U (scipy, float64), fixed by `seed`."""
  rs = np.random.RandomState(seed)
  q, _ = np.linalg.qr(rs.standard_normal((d, d)))
  p, lower, upper = scipy.linalg.lu(q)  # q = p @ lower @ upper.
  perm = np.argmax(p, axis=1)  # (P v)_i = v_{perm[i]}.
  s = np.diag(upper)
  return perm, np.sign(s), lower, upper, np.log(np.abs(s))


class InvertibleLinearLayer(nn.Module):
  """LU-parametrised invertible 1x1 (see `bijectors.LUInvertibleLinear`).

  The permutation P and the signs of the diagonal are fixed (not params): they
  are recomputed from `seed` as the LU factors of a random rotation, which also
  gives the initial values of the params `lower`, `upper` and `log_s`, so the
  flow starts as a rotation, as in Glow.
  """

  features: int
  seed: int = 0

  @nn.compact
  def __call__(self) -> bijectors.LUInvertibleLinear:
    perm, sign, lower0, upper0, log_s0 = _lu_of_random_rotation(self.features, self.seed)
    const = lambda v: lambda rng, shape: jnp.asarray(v, jnp.float32)
    lower = self.param("lower", const(lower0), lower0.shape)
    upper = self.param("upper", const(upper0), upper0.shape)
    log_s = self.param("log_s", const(log_s0), log_s0.shape)
    return bijectors.LUInvertibleLinear(perm, sign, lower, upper, log_s)


class ConditionerMLP(nn.Module):
  """MLP (x_a, context) -> (shift, h) with a zero-initialised output layer.

  Inputs `x_a [..., d_a]`, `context [..., C]`; outputs two `[..., out]` float32
  arrays. Hidden layers run in `dtype`, params are float32.
  """

  out: int
  hidden: int
  depth: int = 2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, xa: Array, context: Array) -> tuple[Array, Array]:
    h = jnp.concatenate([xa.astype(self.dtype), context.astype(self.dtype)], axis=-1)
    for i in range(self.depth):
      h = nn.relu(nn.Dense(self.hidden, dtype=self.dtype, name=f"hidden_{i}")(h))
    h = nn.Dense(
      2 * self.out,
      dtype=self.dtype,
      kernel_init=nn.initializers.zeros,
      bias_init=nn.initializers.zeros,
      name="out",
    )(h)
    h = h.astype(jnp.float32)
    return h[..., : self.out], h[..., self.out :]


class ConditionerLSTM(nn.Module):
  """MoGlow's coupling network: an LSTM stack over (x_a_t, context_t) along time, then a
  zero-initialised Dense -> (shift, h), each `[..., out]` float32.

  `__call__(xa [B, T, d_a], context [B, T, C])` runs the sequence from a zero state;
  `step(carry, xa [N, d_a], context [N, C])` advances one frame.
  """

  out: int
  hidden: int
  in_features: int
  num_layers: int = 2
  dtype: Any = jnp.float32

  def setup(self):
    self.lstm = LSTMStack(self.hidden, self.in_features, self.num_layers, self.dtype)
    self.head = nn.Dense(
      2 * self.out,
      dtype=self.dtype,
      kernel_init=nn.initializers.zeros,
      bias_init=nn.initializers.zeros,
      name="out",
    )

  def _split(self, h: Array) -> tuple[Array, Array]:
    h = self.head(h).astype(jnp.float32)
    return h[..., : self.out], h[..., self.out :]

  def __call__(self, xa: Array, context: Array) -> tuple[Array, Array]:
    inp = jnp.concatenate([xa.astype(jnp.float32), context.astype(jnp.float32)], axis=-1)
    return self._split(self.lstm(inp))

  def initial_carry(self, batch: int) -> LSTMCarry:
    return self.lstm.initial_carry(batch)

  def step(self, carry: LSTMCarry, xa: Array, context: Array):
    inp = jnp.concatenate([xa.astype(jnp.float32), context.astype(jnp.float32)], axis=-1)
    carry, h = self.lstm.step(carry, inp)
    return carry, self._split(h)


COUPLINGS = ("mlp", "lstm")


class CouplingLayer(nn.Module):
  """Builds a `ConditionalAffineCoupling` whose conditioner sees the frame context (`'mlp'`), or
  the sequence of (x_a, context) through its own LSTM (`'lstm'`, MoGlow)."""

  features: int
  hidden: int
  depth: int = 2
  scale_fn: str = "tanh"
  log_scale_bound: float = 2.0
  dtype: Any = jnp.float32
  kind: str = "mlp"
  context_features: int = 0  # 'lstm': the size C of the context.

  def setup(self):
    self.split = self.features // 2
    out = self.features - self.split
    if self.kind == "mlp":
      self.net = ConditionerMLP(out=out, hidden=self.hidden, depth=self.depth, dtype=self.dtype)
    elif self.kind == "lstm":
      self.net = ConditionerLSTM(
        out=out, hidden=self.hidden, in_features=self.split + self.context_features,
        num_layers=self.depth, dtype=self.dtype,
      )  # fmt: skip
    else:
      raise ValueError(f"Unknown coupling {self.kind!r}; choose one of {COUPLINGS}.")

  def _bijector(self, conditioner) -> bijectors.ConditionalAffineCoupling:
    return bijectors.ConditionalAffineCoupling(
      conditioner, split=self.split, scale_fn=self.scale_fn, bound=self.log_scale_bound
    )

  def __call__(
    self, context: Array, seq_shape: tuple[int, int] | None = None
  ) -> bijectors.ConditionalAffineCoupling:
    """`context [..., C]` must broadcast with the leading dims of the flow's input; for
    `'lstm'`, flattened frames `[B * T, C]` of sequences of `seq_shape = (B, T)`."""
    if self.kind == "mlp":
      return self._bijector(lambda xa: self.net(xa, context))
    if seq_shape is None:
      raise ValueError("An LSTM coupling needs the sequence shape (B, T) of its frames.")
    b, t = seq_shape

    def conditioner(xa):
      shift, h = self.net(xa.reshape(b, t, -1), context.reshape(b, t, -1))
      return shift.reshape(b * t, -1), h.reshape(b * t, -1)

    return self._bijector(conditioner)

  def initial_carry(self, batch: int) -> LSTMCarry:
    return self.net.initial_carry(batch) if self.kind == "lstm" else ()

  def step(self, carry: LSTMCarry, context: Array):
    """(`'lstm'`) the coupling of one frame `[N, D]` and a cell holding its new carry."""
    cell = [carry]

    def conditioner(xa):
      cell[0], out = self.net.step(carry, xa, context)
      return out

    return self._bijector(conditioner), cell


class Flow(nn.Module):
  """K Glow steps over `[..., D]` frames, conditioned on a per-frame context.

  `__call__(context, x_init=None, weights=None)` returns the `distrax.Chain`
  (forward: latent -> data). Pass `x_init` (data, `[..., D]`) when initialising:
  it is pushed through the steps one by one so each ActNorm initialises on the
  data that reaches it (and the conditioners create their params).
  """

  features: int
  num_steps: int
  hidden: int
  depth: int = 2
  scale_fn: str = "tanh"
  log_scale_bound: float = 2.0
  perm_seed: int = 0
  dtype: Any = jnp.float32
  coupling: str = "mlp"
  context_features: int = 0  # 'lstm' couplings: the size C of the context.

  def setup(self):
    if self.features < 2:
      raise ValueError(f"A coupling flow needs at least 2 dims, got features={self.features}.")
    self.actnorms = [ActNormLayer(self.features) for _ in range(self.num_steps)]
    self.convs = [
      InvertibleLinearLayer(self.features, seed=1000 * self.perm_seed + k)
      for k in range(self.num_steps)
    ]
    self.couplings = [
      CouplingLayer(
        self.features,
        self.hidden,
        self.depth,
        self.scale_fn,
        self.log_scale_bound,
        self.dtype,
        self.coupling,
        self.context_features,
      )
      for _ in range(self.num_steps)
    ]

  def __call__(
    self,
    context: Array,
    x_init: Array | None = None,
    weights: Array | None = None,
    seq_shape: tuple[int, int] | None = None,
  ) -> distrax.Chain:
    """The chain over frames `[..., D]`; LSTM couplings need `seq_shape = (B, T)` of the
    flattened frames `[B * T, D]`."""
    init = x_init is not None and self.is_initializing()
    h = x_init
    bijs = []
    for k in range(self.num_steps):
      actnorm = self.actnorms[k](h if init else None, weights)
      if init:
        h, _ = actnorm.inverse_and_log_det(h)
      conv = self.convs[k]()
      coupling = self.couplings[k](context, seq_shape)
      if init:
        h, _ = conv.inverse_and_log_det(h)
        h, _ = coupling.inverse_and_log_det(h)
      bijs += [actnorm, conv, coupling]
    return distrax.Chain(bijs)

  def initial_carry(self, batch: int) -> tuple[LSTMCarry, ...]:
    """Every coupling's zero LSTM state (empty for MLP couplings)."""
    return tuple(c.initial_carry(batch) for c in self.couplings)

  def step_forward(
    self, context: Array, z: Array, carries: tuple[LSTMCarry, ...]
  ) -> tuple[Array, tuple[LSTMCarry, ...]]:
    """One frame latent -> data, `z [N, D]` with context `[N, C]`: (x `[N, D]`, new carries).
    The same map as `__call__(context).forward` for MLP couplings."""
    h = jnp.asarray(z, jnp.float32)
    new = list(carries)
    for k in reversed(range(self.num_steps)):
      if self.coupling == "lstm":
        coupling, cell = self.couplings[k].step(carries[k], context)
        h = coupling.forward(h)
        new[k] = cell[0]
      else:
        h = self.couplings[k](context).forward(h)
      h = self.convs[k]().forward(h)
      h = self.actnorms[k]().forward(h)
    return h, tuple(new)
