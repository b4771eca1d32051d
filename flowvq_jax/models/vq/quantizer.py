"""Vector quantizer with straight-through gradients and two guards against codebook collapse.

Given encoder outputs z `[..., D]` and a codebook e `[K, d]`, each vector is replaced by its
nearest code. The losses are those of VQ-VAE (van den Oord et al., 2017), with beta where the
paper puts it:

  codebook_loss   = mean || sg[z] - e ||^2        (moves the codes towards the encoder outputs)
  commitment_loss = mean || z - sg[e] ||^2        (keeps the encoder close to its codes)
  loss            = codebook_loss + beta * commitment_loss

`sg` is stop-gradient and the means run over every element (batch, positions and channels).
The taming-transformers VQGAN (`VectorQuantizer2`, legacy=True) puts beta on the *codebook*
term instead; that swap is not reproduced here.

The forward output is `z + sg[e - z]` (straight-through): its value is the code, and the
gradient of anything downstream flows to z unchanged.

Guards against collapse (config options, may be combined):

* `l2_normalize=True`: codes and encoder outputs are l2-normalised before the lookup, so the
  nearest code is the one of highest cosine similarity and every code stays on the unit sphere
  (improved VQGAN / ViT-VQGAN, Yu et al., 2022).
* `lookup_dim=d`: a factorised codebook. z `[..., D]` is projected to d dimensions (Dense), the
  lookup happens there, and the chosen code is projected back to D dimensions (Dense). A small
  d (8-32) makes the lookup well conditioned (ViT-VQGAN). With `lookup_dim=None` there is no
  projection and d = D.
* `use_ema=True`: the codebook is not a gradient-trained parameter but an exponential moving
  average of the encoder outputs assigned to each code (VQ-VAE-2), kept in the mutable
  collection `'vq_stats'` (`codebook [K, d]`, `ema_count [K]`, `ema_sum [K, d]`, `step []`).
  With `restart_dead_codes=True`, codes whose EMA count falls below `dead_code_threshold` are
  moved onto randomly chosen encoder outputs of the current batch (Jukebox / improved VQ-VAE
  practice). The codebook loss is then zero; only the commitment term trains the encoder.
  Restarts draw from the `'vq'` rng stream when the caller gives one, otherwise from a key
  derived from the `step` counter in `'vq_stats'` (deterministic, never silently the same).

Updates of `'vq_stats'` happen only when `train=True` and the collection is mutable:
`model.apply(variables, x, train=True, mutable=['vq_stats'])`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array


def _l2_normalize(x: Array, eps: float = 1e-6) -> Array:
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=-1, keepdims=True), eps * eps))


def codebook_usage(counts: Array) -> tuple[Array, Array]:
  """Usage statistics of per-code assignment counts.

  Args:
    counts: `[K]` number of vectors assigned to each code (any non-negative reals).

  Returns:
    `(usage, perplexity)`: the fraction of codes with a non-zero count, and
    `exp(-sum_k p_k log p_k)` with `p = counts / sum(counts)`. Perplexity equals the number of
    codes when they are used uniformly and 1 when a single code takes everything.
  """
  counts = counts.astype(jnp.float32)
  probs = counts / jnp.maximum(jnp.sum(counts), 1e-12)
  entropy = -jnp.sum(jnp.where(probs > 0, probs * jnp.log(jnp.where(probs > 0, probs, 1.0)), 0.0))
  usage = jnp.mean((counts > 0).astype(jnp.float32))
  return usage, jnp.exp(entropy)


class VectorQuantizer(nn.Module):
  """Nearest-neighbour vector quantizer.

  Attributes:
    num_codes: K, the number of codes.
    code_dim: D, the channel size of the inputs and outputs.
    beta: weight of the commitment term `||z - sg[e]||^2`.
    l2_normalize: cosine lookup on the unit sphere.
    lookup_dim: d of a factorised codebook (Dense D -> d before, d -> D after); None: d = D.
    use_ema: EMA codebook in `'vq_stats'` instead of a gradient-trained `params` codebook.
    ema_decay: decay of the EMA statistics.
    ema_eps: Laplace smoothing of the EMA counts.
    restart_dead_codes: with `use_ema`, move dead codes onto random batch vectors.
    dead_code_threshold: EMA count under which a code counts as dead.
    codebook_init: 'normal' (N(0, 1), or unit vectors when l2-normalised) or 'uniform'
      (U(-1/K, 1/K), taming's init).
    dtype: compute dtype of the projections; the lookup and the losses are float32.
  """

  num_codes: int = 1024
  code_dim: int = 256
  beta: float = 0.25
  l2_normalize: bool = False
  lookup_dim: int | None = None
  use_ema: bool = False
  ema_decay: float = 0.99
  ema_eps: float = 1e-5
  restart_dead_codes: bool = True
  dead_code_threshold: float = 1e-2
  codebook_init: str = "normal"
  dtype: Any = jnp.float32

  @property
  def _dim(self) -> int:
    return self.lookup_dim or self.code_dim

  def _init_codebook(self, key: Array, shape: tuple[int, int]) -> Array:
    if self.codebook_init == "normal":
      return jax.random.normal(key, shape, jnp.float32)
    if self.codebook_init == "uniform":
      k = self.num_codes
      return jax.random.uniform(key, shape, jnp.float32, -1.0 / k, 1.0 / k)
    raise ValueError(f"codebook_init must be 'normal' or 'uniform', got {self.codebook_init!r}.")

  def setup(self):
    if self.num_codes < 1 or self.code_dim < 1:
      raise ValueError(
        f"num_codes and code_dim must be >= 1, got {self.num_codes}, {self.code_dim}."
      )
    if self.use_ema and self.restart_dead_codes and not 0.0 <= self.dead_code_threshold < 1.0:
      raise ValueError(
        "dead_code_threshold must lie in [0, 1) (a restarted code gets EMA count 1), got "
        f"{self.dead_code_threshold}."
      )
    shape = (self.num_codes, self._dim)
    if self.lookup_dim:
      self.in_proj = nn.Dense(self.lookup_dim, dtype=self.dtype, name="in_proj")
      self.out_proj = nn.Dense(self.code_dim, dtype=self.dtype, name="out_proj")
    if self.use_ema:
      self.ema_codebook = self.variable(
        "vq_stats", "codebook", lambda: self._init_codebook(self.make_rng("params"), shape)
      )
      self.ema_count = self.variable("vq_stats", "ema_count", jnp.ones, (self.num_codes,))
      self.ema_sum = self.variable("vq_stats", "ema_sum", lambda: self.ema_codebook.value)
      self.step = self.variable("vq_stats", "step", lambda: jnp.zeros((), jnp.int32))
    else:
      self.codebook = self.param("codebook", self._init_codebook, shape)

  def codes(self) -> Array:
    """The lookup-space codebook `[K, d]` (float32, unit norm when `l2_normalize`)."""
    e = self.ema_codebook.value if self.use_ema else self.codebook
    e = e.astype(jnp.float32)
    return _l2_normalize(e) if self.l2_normalize else e

  def _to_output(self, q: Array) -> Array:
    if self.lookup_dim:
      return self.out_proj(q.astype(self.dtype))
    return q.astype(self.dtype)

  def lookup(self, indices: Array) -> Array:
    """Code vectors of `indices` `[...]` (int) as the decoder sees them: `[..., D]`."""
    return self._to_output(jnp.take(self.codes(), indices, axis=0))

  def __call__(self, z: Array, train: bool = False) -> tuple[Array, dict[str, Array]]:
    """Quantizes z.

    Args:
      z: `[..., D]` encoder outputs.
      train: update the EMA codebook (only with `use_ema` and a mutable `'vq_stats'`).

    Returns:
      `(quantized [..., D], aux)`, aux holding float32 scalars `loss`, `codebook_loss`,
      `commitment_loss`, `usage` (fraction of codes used in this batch), `perplexity`,
      `num_dead` (codes restarted by this call), plus `indices [...]` (int32) and
      `counts [K]` (float32 per-code counts of this batch, to accumulate over many batches).
    """
    if z.shape[-1] != self.code_dim:
      raise ValueError(f"VectorQuantizer expects inputs [..., {self.code_dim}], got {z.shape}.")
    zl = self.in_proj(z) if self.lookup_dim else z
    zl = zl.astype(jnp.float32)
    if self.l2_normalize:
      zl = _l2_normalize(zl)
    e = self.codes()
    flat = zl.reshape(-1, zl.shape[-1])
    dist = (
      jnp.sum(flat * flat, axis=-1, keepdims=True)
      - 2.0 * jnp.dot(flat, e.T, precision=jax.lax.Precision.HIGHEST)
      + jnp.sum(e * e, axis=-1)[None, :]
    )
    flat_idx = jnp.argmin(dist, axis=-1).astype(jnp.int32)
    indices = flat_idx.reshape(zl.shape[:-1])
    selected = jnp.take(e, indices, axis=0)

    commitment = jnp.mean(jnp.square(zl - jax.lax.stop_gradient(selected)))
    if self.use_ema:
      codebook_loss = jnp.zeros((), jnp.float32)
    else:
      codebook_loss = jnp.mean(jnp.square(jax.lax.stop_gradient(zl) - selected))
    quantized = self._to_output(zl + jax.lax.stop_gradient(selected - zl))

    onehot = jax.nn.one_hot(flat_idx, self.num_codes, dtype=jnp.float32)
    counts = jnp.sum(onehot, axis=0)
    usage, perplexity = codebook_usage(counts)
    num_dead = jnp.zeros((), jnp.float32)
    if (
      self.use_ema
      and train
      and self.is_mutable_collection("vq_stats")
      and not self.is_initializing()
    ):
      num_dead = self._ema_update(jax.lax.stop_gradient(flat), onehot, counts)

    aux = {
      "loss": codebook_loss + self.beta * commitment,
      "codebook_loss": codebook_loss,
      "commitment_loss": commitment,
      "indices": indices,
      "counts": counts,
      "usage": usage,
      "perplexity": perplexity,
      "num_dead": num_dead,
    }
    return quantized, aux

  def _ema_update(self, flat: Array, onehot: Array, counts: Array) -> Array:
    """EMA codebook step with dead-code restarts; returns the number of restarted codes."""
    decay = self.ema_decay
    sums = jnp.dot(onehot.T, flat, precision=jax.lax.Precision.HIGHEST)
    ema_count = decay * self.ema_count.value + (1.0 - decay) * counts
    ema_sum = decay * self.ema_sum.value + (1.0 - decay) * sums
    total = jnp.sum(ema_count)
    smoothed = (ema_count + self.ema_eps) / (total + self.num_codes * self.ema_eps) * total
    codebook = ema_sum / smoothed[:, None]
    num_dead = jnp.zeros((), jnp.float32)
    if self.restart_dead_codes:
      if self.has_rng("vq"):
        key = self.make_rng("vq")
      else:
        key = jax.random.fold_in(jax.random.PRNGKey(0x5EED), self.step.value)
      pick = jax.random.randint(key, (self.num_codes,), 0, flat.shape[0])
      candidates = jnp.take(flat, pick, axis=0)
      dead = ema_count < self.dead_code_threshold
      codebook = jnp.where(dead[:, None], candidates, codebook)
      ema_sum = jnp.where(dead[:, None], candidates, ema_sum)
      ema_count = jnp.where(dead, 1.0, ema_count)
      num_dead = jnp.sum(dead.astype(jnp.float32))
    self.ema_count.value = ema_count
    self.ema_sum.value = ema_sum
    self.ema_codebook.value = codebook
    self.step.value = self.step.value + 1
    return num_dead
