"""Toy task: a small MLP autoencoder on deterministic synthetic vectors.

Data: `x = tanh(z @ A) + noise`, `z ~ N(0, I_latent)`, `A` fixed by `data.seed`; x has
`data.dim` dims on a `data.latent`-dim manifold, so an autoencoder with a `model.latent`-wide
bottleneck can reconstruct it. Arrays live in memory and are served through grain
(`MapDataset` -> shuffle per epoch -> batch -> this process's shard of every global batch), so
the iterator state is checkpointed like a real pipeline's.

Process `i` of `n` reads local batches `m = k*n + i` of size `B/n`, so global batch `k` is the
same examples in the same order whatever the process count.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import grain
import jax.numpy as jnp
import numpy as np

from flowvq_jax.core.config import ConfigError


def make_arrays(cfg: Any, split: str) -> np.ndarray:
  """float32 [N, dim] examples of `split` ('train' or 'val')."""
  rng = np.random.default_rng(int(cfg.seed))
  mix = rng.normal(size=(cfg.latent, cfg.dim)) / np.sqrt(cfg.latent) * 1.5
  n = {"train": cfg.num_train, "val": cfg.num_val}.get(split)
  if n is None:
    raise ConfigError(f"Toy data has splits 'train' and 'val'; got {split!r}.")
  rng = np.random.default_rng([int(cfg.seed), 1 if split == "train" else 2])
  z = rng.normal(size=(n, cfg.latent))
  x = np.tanh(z @ mix) + cfg.noise * rng.normal(size=(n, cfg.dim))
  return x.astype(np.float32)


def make_data(config, split: str, *, process_index: int, process_count: int, seed: int):
  """grain iterator of local batches `{'x': float32 [B/n, dim]}` (see module doc)."""
  cfg = config.data
  if cfg.batch_size % process_count:
    raise ConfigError(
      f"data.batch_size={cfg.batch_size} is not divisible by {process_count} processes."
    )
  local = cfg.batch_size // process_count
  ds = grain.MapDataset.source(make_arrays(cfg, split))
  if split == "train":
    ds = ds.seed(seed).shuffle().repeat()
  ds = ds.map(lambda x: {"x": x}).batch(local, drop_remainder=True)
  ds = ds[process_index::process_count]
  opts = grain.ReadOptions(
    num_threads=cfg.get("num_threads", 1), prefetch_buffer_size=cfg.get("prefetch", 2)
  )
  return iter(ds.to_iter_dataset(opts))


class AutoEncoder(nn.Module):
  """MLP autoencoder `[B, dim] -> [B, dim]` with dropout on the hidden layers."""

  dim: int
  hidden: int
  latent: int
  depth: int = 2
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, *, train: bool):
    h = x.astype(self.dtype)
    for i in range(self.depth):
      h = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype, name=f"enc_{i}")(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    code = nn.Dense(self.latent, dtype=self.dtype, name="code")(h)
    h = code
    for i in range(self.depth):
      h = nn.gelu(nn.Dense(self.hidden, dtype=self.dtype, name=f"dec_{i}")(h))
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(self.dim, dtype=self.dtype, name="out")(h).astype(jnp.float32)


def _model(config) -> AutoEncoder:
  m = config.model
  return AutoEncoder(
    dim=config.data.dim,
    hidden=m.hidden,
    latent=m.latent,
    depth=m.depth,
    dropout=m.dropout,
    dtype=jnp.dtype(m.get("dtype", "float32")),
  )


def init(rng, batch, config):
  return _model(config).init({"params": rng}, batch["x"], train=False)["params"]


def loss(params, batch, rng, config):
  """Mean squared reconstruction error (float32 [])."""
  y = _model(config).apply({"params": params}, batch["x"], train=True, rngs={"dropout": rng})
  mse = jnp.mean(jnp.square(y - batch["x"]))
  return mse, {"mse": mse}


def eval_metrics(params, batch, rng, config, *, extra=None):
  del rng, extra
  y = _model(config).apply({"params": params}, batch["x"], train=False)
  err = y - batch["x"]
  return {"loss": jnp.mean(jnp.square(err)), "mae": jnp.mean(jnp.abs(err))}


def summaries(params, batch, config, *, extra=None):
  """One image per example pair: input row over reconstruction row, values mapped to [0, 1]."""
  del extra
  x = batch["x"][:8]
  y = _model(config).apply({"params": params}, x, train=False)
  pair = jnp.stack([x, y], axis=1)  # [N, 2, dim]
  img = jnp.clip((pair + 1.5) / 3.0, 0.0, 1.0)
  img = jnp.repeat(jnp.repeat(img, 8, axis=1), 4, axis=2)[..., None]  # [N, 16, 4*dim, 1]
  return {"reconstruction": img}
