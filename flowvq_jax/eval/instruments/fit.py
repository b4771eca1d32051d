"""The minibatch training loop the instruments share (emotion classifier, landmark regressor)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax


def fit_minibatches(
  loss_fn: Callable[[Any, jax.Array, jax.Array], jax.Array],
  params: Any,
  tx: optax.GradientTransformation,
  x: jax.Array,
  y: jax.Array,
  *,
  steps: int,
  batch_size: int,
  key: jax.Array,
) -> Any:
  """`steps` updates of `tx` on `loss_fn(params, x[idx], y[idx])`, each on a random minibatch of
  `min(batch_size, N)` rows (indices drawn with `fold_in(key, step)`). Returns the params on the
  host."""
  opt_state = tx.init(params)
  n, bs = x.shape[0], min(batch_size, x.shape[0])

  @jax.jit
  def step(params, opt_state, k):
    idx = jax.random.randint(k, (bs,), 0, n)
    loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  for i in range(steps):
    params, opt_state, _ = step(params, opt_state, jax.random.fold_in(key, i))
  return jax.device_get(params)
