"""Glow bijectors as `distrax.Bijector`s acting on vectors (`event_ndims_in=1`).

Direction convention (distrax's): `forward` maps the latent side to the data side
(the sampling direction, `z -> x`); `inverse` maps data to latent (the density
direction, `x -> z`). A `distrax.Transformed(prior, chain)` therefore has the
flow's exact log-likelihood. All arithmetic is in float32, whatever the dtype of
the network that produced the parameters; log-dets have the input's batch shape
(`[...]` for inputs `[..., D]`).
"""

from __future__ import annotations

from collections.abc import Callable

import distrax
import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
# Full float32 products in the 1x1 (no TF32/bf16 passes on GPU/TPU): its forward uses products
# and its inverse triangular solves, which must agree for the flow to invert.
_HIGHEST = jax.lax.Precision.HIGHEST


def _f32(x) -> Array:
  return jnp.asarray(x, jnp.float32)


class ActNorm(distrax.Bijector):
  """Per-dimension affine map with learned location and log-scale.

  forward:  y = u * exp(log_scale) + loc
  inverse:  u = (y - loc) * exp(-log_scale)
  log|det J_forward| = sum_d log_scale_d  (inverse: the negative).

  `loc` and `log_scale` are `[D]`. The data-dependent initialisation (Glow) sets
  `loc = mean(y)`, `log_scale = log(std(y))` over the first batch, so the inverse
  maps that batch to zero mean and unit variance (`flowvq_jax.models.flow.layers`).
  """

  def __init__(self, loc: Array, log_scale: Array):
    super().__init__(event_ndims_in=1, is_constant_jacobian=True)
    self.loc = _f32(loc)
    self.log_scale = _f32(log_scale)

  def _log_det(self, batch_shape) -> Array:
    return jnp.broadcast_to(jnp.sum(self.log_scale), batch_shape)

  def forward_and_log_det(self, x: Array) -> tuple[Array, Array]:
    x = _f32(x)
    return x * jnp.exp(self.log_scale) + self.loc, self._log_det(x.shape[:-1])

  def inverse_and_log_det(self, y: Array) -> tuple[Array, Array]:
    y = _f32(y)
    return (y - self.loc) * jnp.exp(-self.log_scale), -self._log_det(y.shape[:-1])


class LUInvertibleLinear(distrax.Bijector):
  """Glow's invertible 1x1 convolution for vectors, LU-parametrised.

  W = P @ L @ (U + diag(sign * exp(log_s)))  with a fixed permutation P (given as
  `perm`, `(P u)_i = u_{perm[i]}`), a unit lower-triangular L (only the strictly
  lower part of `lower` is used), an upper-triangular U (only the strictly upper
  part of `upper` is used), fixed signs `sign` (+-1) and learned `log_s`.

  forward:  y = W u
  inverse:  u = W^-1 y, by two triangular solves (in float32) after undoing P
  log|det J_forward| = sum_d log_s_d  (inverse: the negative).

  The forward pass needs only matrix-vector products, so sampling never solves.
  """

  def __init__(self, perm, sign, lower: Array, upper: Array, log_s: Array):
    super().__init__(event_ndims_in=1, is_constant_jacobian=True)
    perm = np.asarray(perm)
    d = perm.shape[0]
    self.perm = perm
    self.inv_perm = np.argsort(perm)
    self.sign = _f32(sign)
    self.lower = jnp.tril(_f32(lower), -1) + jnp.eye(d, dtype=jnp.float32)
    self.log_s = _f32(log_s)
    self.upper = jnp.triu(_f32(upper), 1) + jnp.diag(self.sign * jnp.exp(self.log_s))

  def weight(self) -> Array:
    """The `[D, D]` matrix W (for tests and inspection)."""
    return jnp.matmul(self.lower, self.upper, precision=_HIGHEST)[self.perm]

  def _log_det(self, batch_shape) -> Array:
    return jnp.broadcast_to(jnp.sum(self.log_s), batch_shape)

  def forward_and_log_det(self, x: Array) -> tuple[Array, Array]:
    x = _f32(x)
    h = jnp.matmul(x, self.upper.T, precision=_HIGHEST)  # (U' u) for row vectors.
    h = jnp.matmul(h, self.lower.T, precision=_HIGHEST)  # L (U' u).
    y = h[..., self.perm]  # (P h)_i = h_{perm[i]}.
    return y, self._log_det(x.shape[:-1])

  def inverse_and_log_det(self, y: Array) -> tuple[Array, Array]:
    y = _f32(y)
    h = y[..., self.inv_perm]  # P^-1 y.
    flat = h.reshape(-1, h.shape[-1]).T  # [D, N] right-hand sides.
    a = jax.scipy.linalg.solve_triangular(self.lower, flat, lower=True, unit_diagonal=True)
    u = jax.scipy.linalg.solve_triangular(self.upper, a, lower=False)
    return u.T.reshape(h.shape), -self._log_det(y.shape[:-1])


def bounded_scale(h: Array, scale_fn: str, bound: float) -> Array:
  """Maps raw conditioner outputs `h` to the log of a bounded coupling scale.

  'tanh':    log s = bound * tanh(h / bound)         (|log s| <= bound)
  'sigmoid': s = sigmoid(h + 2) / sigmoid(2)          (MoGlow's sigmoid(h+2),
             normalised so that h = 0 gives s = 1; s in (0, 1.135))
  Both give s = 1 at h = 0, so a zero-initialised conditioner is the identity.
  """
  h = _f32(h)
  if scale_fn == "tanh":
    return bound * jnp.tanh(h / bound)
  if scale_fn == "sigmoid":
    return jax.nn.log_sigmoid(h + 2.0) - jax.nn.log_sigmoid(jnp.float32(2.0))
  raise ValueError(f"Unknown coupling scale_fn {scale_fn!r}; choose 'tanh' or 'sigmoid'.")


class ConditionalAffineCoupling(distrax.Bijector):
  """Affine coupling whose shift and scale come from (first half of u, context).

  Split u = [u_a, u_b] with u_a = u[..., :d_a]. `conditioner(u_a)` (which closes
  over the frame context) returns raw `(shift, h)`, each `[..., D - d_a]`;
  log s = bounded_scale(h) (see `bounded_scale`).

  forward:  y_a = u_a,  y_b = u_b * s(u_a) + shift(u_a)
  inverse:  u_a = y_a,  u_b = (y_b - shift(y_a)) / s(y_a)
  log|det J_forward| = sum log s(u_a)  (inverse: the negative).
  """

  def __init__(
    self,
    conditioner: Callable[[Array], tuple[Array, Array]],
    split: int,
    scale_fn: str = "tanh",
    bound: float = 2.0,
  ):
    super().__init__(event_ndims_in=1)
    self.conditioner = conditioner
    self.split = split
    self.scale_fn = scale_fn
    self.bound = bound

  def _params(self, xa: Array) -> tuple[Array, Array]:
    shift, h = self.conditioner(xa)
    return _f32(shift), bounded_scale(h, self.scale_fn, self.bound)

  def forward_and_log_det(self, x: Array) -> tuple[Array, Array]:
    x = _f32(x)
    xa, xb = x[..., : self.split], x[..., self.split :]
    shift, log_s = self._params(xa)
    yb = xb * jnp.exp(log_s) + shift
    return jnp.concatenate([xa, yb], axis=-1), jnp.sum(log_s, axis=-1)

  def inverse_and_log_det(self, y: Array) -> tuple[Array, Array]:
    y = _f32(y)
    ya, yb = y[..., : self.split], y[..., self.split :]
    shift, log_s = self._params(ya)
    xb = (yb - shift) * jnp.exp(-log_s)
    return jnp.concatenate([ya, xb], axis=-1), -jnp.sum(log_s, axis=-1)
