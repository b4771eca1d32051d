"""Flax modules that own the flow's parameters and build its distrax bijectors.

Each layer's `__call__` returns a `distrax.Bijector` made from its parameters
(pure: nothing is stored on the module). `Flow` composes the K steps with
`distrax.Chain`. Per step, in the data -> latent direction (the bijectors'
`inverse`): ActNorm, then the LU 1x1, then the conditional affine coupling. As
distrax's `Chain` applies its LAST bijector first in `forward` (latent -> data),
the chain is listed data side first: `[actnorm_0, conv_0, coupling_0, actnorm_1, ...]`.
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


class CouplingLayer(nn.Module):
  """Builds a `ConditionalAffineCoupling` whose conditioner sees the frame context."""

  features: int
  hidden: int
  depth: int = 2
  scale_fn: str = "tanh"
  log_scale_bound: float = 2.0
  dtype: Any = jnp.float32

  def setup(self):
    self.split = self.features // 2
    self.net = ConditionerMLP(
      out=self.features - self.split, hidden=self.hidden, depth=self.depth, dtype=self.dtype
    )

  def __call__(self, context: Array) -> bijectors.ConditionalAffineCoupling:
    """`context [..., C]` must broadcast with the leading dims of the flow's input."""
    return bijectors.ConditionalAffineCoupling(
      lambda xa: self.net(xa, context),
      split=self.split,
      scale_fn=self.scale_fn,
      bound=self.log_scale_bound,
    )


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
      )
      for _ in range(self.num_steps)
    ]

  def __call__(
    self, context: Array, x_init: Array | None = None, weights: Array | None = None
  ) -> distrax.Chain:
    init = x_init is not None and self.is_initializing()
    h = x_init
    bijs = []
    for k in range(self.num_steps):
      actnorm = self.actnorms[k](h if init else None, weights)
      if init:
        h, _ = actnorm.inverse_and_log_det(h)
      conv = self.convs[k]()
      coupling = self.couplings[k](context)
      if init:
        h, _ = conv.inverse_and_log_det(h)
        h, _ = coupling.inverse_and_log_det(h)
      bijs += [actnorm, conv, coupling]
    return distrax.Chain(bijs)
