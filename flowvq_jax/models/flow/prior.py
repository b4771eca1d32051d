"""Latent priors of the coefficient flows: Student's-t mixture, Gaussian mixture, Gaussian.

`kind` (config choice):

* `'smm'`: one component per emotion (MEAD order, `flowvq_jax.core.constants`),
  each a product of independent Student's-t over the D dims with learned
  location `loc [K, D]`, log-scale `[K, D]` and degrees of freedom `df [K]`
  (learned, `df = df_min + softplus(raw)`, or fixed at `df` when `learn_df` is
  False). Matches `tfd.Independent(tfd.StudentT(df, loc, scale), 1)`.
* `'gmm'`: the same with Gaussian components (the paper's ablation).
* `'gaussian'`: a single diagonal Gaussian with learned location and scale (the
  PoseFlow default); the emotion is ignored.

Labelled clips (emotion e >= 0) are scored under component e; unlabelled clips
(e = -1, e.g. HDTF) under the mixture marginal over the whole clip (the clip has
one unknown emotion): `log sum_k w_k prod_t p_k(z_t)`, with learned mixture
weights `w = softmax(mix_logits)`.

Intensity: a component at intensity a in [0, 1] interpolates its parameters
from the neutral component: for theta in {loc, log scale, log df},
`theta(e, a) = theta_neutral + a * (theta_e - theta_neutral)`. `a = intensity / 3`
clipped to [0, 1] for MEAD's levels 1..3 (so level 3 is the component itself and
0 is neutral); a negative intensity means "unknown" and uses a = 1. Intensity
may vary per frame at sampling time; unlabelled clips use a = 1.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from flowvq_jax.core.constants import NEUTRAL, NUM_EMOTIONS

Array = jax.Array
PRIOR_KINDS = ("smm", "gmm", "gaussian")
MAX_INTENSITY = 3.0


def intensity_to_weight(intensity: Array | float | None, shape=()) -> Array:
  """Intensity (MEAD level 0..3, float, per clip or frame) -> interpolation weight a."""
  if intensity is None:
    return jnp.ones(shape, jnp.float32)
  i = jnp.asarray(intensity, jnp.float32)
  return jnp.where(i < 0, 1.0, jnp.clip(i / MAX_INTENSITY, 0.0, 1.0))


def student_t_log_prob(z: Array, loc: Array, log_scale: Array, df: Array) -> Array:
  """Sum over the last axis of univariate Student's-t log-densities (float32)."""
  df = df[..., None]
  u = (z - loc) * jnp.exp(-log_scale)
  lp = (
    jax.scipy.special.gammaln(0.5 * (df + 1.0))
    - jax.scipy.special.gammaln(0.5 * df)
    - 0.5 * jnp.log(df * math.pi)
    - log_scale
    - 0.5 * (df + 1.0) * jnp.log1p(jnp.square(u) / df)
  )
  return jnp.sum(lp, axis=-1)


def normal_log_prob(z: Array, loc: Array, log_scale: Array) -> Array:
  """Sum over the last axis of univariate normal log-densities (float32)."""
  u = (z - loc) * jnp.exp(-log_scale)
  return jnp.sum(-0.5 * jnp.square(u) - log_scale - 0.5 * math.log(2 * math.pi), axis=-1)


class Prior(nn.Module):
  """The flow's latent distribution (see module docstring)."""

  kind: str = "smm"
  dim: int = 64
  num_components: int = NUM_EMOTIONS
  neutral: int = NEUTRAL
  df: float = 5.0
  learn_df: bool = True
  df_min: float = 1.0

  def setup(self):
    if self.kind not in PRIOR_KINDS:
      raise ValueError(f"Unknown prior kind {self.kind!r}; choose one of {PRIOR_KINDS}.")
    if self.kind != "gaussian" and not 0 <= self.neutral < self.num_components:
      raise ValueError(f"Neutral component {self.neutral} not in 0..{self.num_components - 1}.")
    if self.kind == "smm" and self.df <= self.df_min and self.learn_df:
      raise ValueError(f"Initial df {self.df} must exceed df_min {self.df_min}.")
    k = self.num_mixture
    self.loc = self.param("loc", nn.initializers.zeros, (k, self.dim))
    self.log_scale = self.param("log_scale", nn.initializers.zeros, (k, self.dim))
    self.mix_logits = self.param("mix_logits", nn.initializers.zeros, (k,))
    if self.kind == "smm" and self.learn_df:
      raw0 = math.log(math.expm1(self.df - self.df_min))  # softplus^-1.
      self.raw_df = self.param("raw_df", nn.initializers.constant(raw0), (k,))

  @property
  def num_mixture(self) -> int:
    return 1 if self.kind == "gaussian" else self.num_components

  def dfs(self) -> Array:
    """`[K]` degrees of freedom (SMM only)."""
    if self.learn_df:
      return self.df_min + jax.nn.softplus(self.raw_df)
    return jnp.full((self.num_mixture,), self.df, jnp.float32)

  def component_params(self, emotion: Array, weight: Array) -> dict[str, Array]:
    """Parameters of component `emotion` at intensity weight a (`weight`).

    Args:
      emotion: int `[...]`, values in 0..K-1 (ignored by the 'gaussian' prior).
      weight: float `[...]` (broadcastable), a in [0, 1].

    Returns:
      dict with `loc [..., D]`, `log_scale [..., D]` and, for 'smm', `df [...]`.
    """
    emotion = jnp.asarray(emotion, jnp.int32)
    if self.kind == "gaussian":
      shape = emotion.shape
      out = {
        "loc": jnp.broadcast_to(self.loc[0], (*shape, self.dim)),
        "log_scale": jnp.broadcast_to(self.log_scale[0], (*shape, self.dim)),
      }
      return out
    a = jnp.broadcast_to(jnp.asarray(weight, jnp.float32), emotion.shape)
    e = jnp.clip(emotion, 0, self.num_mixture - 1)
    lerp = lambda t: t[self.neutral] + a[..., None] * (t[e] - t[self.neutral])
    out = {"loc": lerp(self.loc), "log_scale": lerp(self.log_scale)}
    if self.kind == "smm":
      log_df = jnp.log(self.dfs())[:, None]
      out["df"] = jnp.exp(lerp(log_df)[..., 0])
    return out

  def frame_log_prob(self, z: Array, params: dict[str, Array]) -> Array:
    """`z [..., D]` under per-frame component params -> `[...]`."""
    if self.kind == "smm":
      return student_t_log_prob(z, params["loc"], params["log_scale"], params["df"])
    return normal_log_prob(z, params["loc"], params["log_scale"])

  def components_log_prob(self, z: Array) -> Array:
    """`z [..., D]` under every component -> `[..., K]`."""
    zk = z[..., None, :]
    if self.kind == "smm":
      return student_t_log_prob(zk, self.loc, self.log_scale, self.dfs())
    return normal_log_prob(zk, self.loc, self.log_scale)

  def __call__(
    self,
    z: Array,
    emotion: Array,
    intensity: Array | None = None,
    mask: Array | None = None,
  ) -> Array:
    """Log-density of whole clips.

    Args:
      z: latents `[B, T, D]`.
      emotion: `[B]` int clip labels, -1 = unlabelled (mixture marginal).
      intensity: `[B]` or `[B, T]` float levels (see module docstring) or None.
      mask: `[B, T]` valid frames (1) or None.

    Returns:
      `[B]` float32: sum over valid frames and dims of log p(z | e, a), or the
      mixture marginal for unlabelled clips.
    """
    z = jnp.asarray(z, jnp.float32)
    b, t, _ = z.shape
    m = jnp.ones((b, t), jnp.float32) if mask is None else jnp.asarray(mask, jnp.float32)
    emotion = jnp.asarray(emotion, jnp.int32)
    e_bt = jnp.broadcast_to(emotion[:, None], (b, t))
    a = intensity_to_weight(intensity, (b,))
    a = jnp.broadcast_to(a[:, None] if a.ndim == 1 else a, (b, t))
    labelled = jnp.sum(self.frame_log_prob(z, self.component_params(e_bt, a)) * m, axis=1)
    if self.kind == "gaussian":
      return labelled
    per_comp = jnp.sum(self.components_log_prob(z) * m[..., None], axis=1)  # [B, K]
    marginal = jax.nn.logsumexp(per_comp + jax.nn.log_softmax(self.mix_logits), axis=-1)
    return jnp.where(emotion >= 0, labelled, marginal)


def standard_noise(key: Array, kind: str, df: Array | None, dim: int) -> Array:
  """Standardised noise of one frame of one sample, `[dim]` float32.

  Student's-t with `df` degrees of freedom for 'smm', N(0, 1) otherwise; the
  latent is then `loc + temperature * exp(log_scale) * noise`.
  """
  if kind == "smm":
    return jax.random.t(key, df, (dim,), jnp.float32)
  return jax.random.normal(key, (dim,), jnp.float32)
