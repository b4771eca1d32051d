"""Device mesh and shardings from config.

`config.mesh` maps axis names to sizes, one size may be -1 (all remaining devices), e.g.
`{'data': -1, 'fsdp': 1}` (pure data parallel) or `{'data': 1, 'fsdp': -1}` (fully sharded).
Batches are split over all mesh axes along their leading dim. Parameters (and optimizer
state, EMA) follow `config.sharding`:

  params: 'replicate' (data parallel) or 'fsdp' (shard the largest dim divisible by the
    `fsdp` axis size; leaves smaller than `min_size` elements stay replicated).
  rules: optional sequence of `(regex, spec)` applied first, in order; `regex` is searched in
    the leaf's '/'-joined path, `spec` a tuple of mesh-axis names / None per dim (e.g.
    `('.*embedding', (None, 'fsdp'))`). The first match wins.

Switching data-parallel <-> fully-sharded is therefore a config change only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from flowvq_jax.core.config import ConfigError


def make_mesh(axes: Mapping[str, int], devices: Sequence[Any] | None = None) -> Mesh:
  """Mesh with the named axes; one size may be -1 (filled with the remaining devices)."""
  devices = list(jax.devices() if devices is None else devices)
  names = tuple(axes.keys())
  sizes = [int(axes[n]) for n in names]
  if not names:
    raise ConfigError("config.mesh names no axes; use e.g. {'data': -1}.")
  if sizes.count(-1) > 1:
    raise ConfigError(f"config.mesh={dict(axes)} has more than one -1 size.")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if known <= 0 or len(devices) % known:
      raise ConfigError(
        f"config.mesh={dict(axes)}: {len(devices)} devices are not divisible by {known}."
      )
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ConfigError(
      f"config.mesh={dict(axes)} needs {math.prod(sizes)} devices but {len(devices)} exist."
    )
  try:
    arr = mesh_utils.create_device_mesh(sizes, devices=devices)
  except (ValueError, NotImplementedError, AssertionError):
    arr = np.asarray(devices, dtype=object).reshape(sizes)
  return Mesh(arr, names)


def batch_spec(mesh: Mesh) -> P:
  """Leading (batch) dim split over every mesh axis."""
  return P(tuple(mesh.axis_names))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, batch_spec(mesh))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def _path_str(path) -> str:
  parts = []
  for k in path:
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
    else:
      parts.append(str(k))
  return "/".join(parts)


def _fsdp_spec(shape: tuple[int, ...], axis: str, size: int, min_size: int) -> P:
  if size <= 1 or math.prod(shape) < max(min_size, 1) or not shape:
    return P()
  order = sorted(range(len(shape)), key=lambda i: -shape[i])
  for i in order:
    if shape[i] % size == 0:
      spec = [None] * len(shape)
      spec[i] = axis
      return P(*spec)
  return P()


def tree_shardings(tree: Any, mesh: Mesh, cfg: Mapping[str, Any] | None) -> Any:
  """NamedSharding for every array leaf of `tree` (arrays or ShapeDtypeStructs).

  Args:
    tree: pytree of arrays / `jax.ShapeDtypeStruct` (params, optimizer state, ...).
    mesh: the device mesh.
    cfg: `config.sharding` (fields `params`, `rules`, `min_size`, `fsdp_axis`).
  """
  cfg = dict(cfg or {})
  mode = cfg.get("params", "replicate") or "replicate"
  if mode not in ("replicate", "fsdp"):
    raise ConfigError(f"sharding.params={mode!r}; choose 'replicate' or 'fsdp'.")
  axis = cfg.get("fsdp_axis", "fsdp") or "fsdp"
  if mode == "fsdp" and axis not in mesh.shape:
    raise ConfigError(
      f"sharding.params='fsdp' needs a mesh axis {axis!r}; mesh has {tuple(mesh.axis_names)}."
    )
  size = mesh.shape.get(axis, 1)
  min_size = int(cfg.get("min_size", 0) or 0)
  rules = [(re.compile(r), P(*spec)) for r, spec in (cfg.get("rules") or ())]

  def one(path, leaf):
    shape = tuple(getattr(leaf, "shape", ()))
    name = _path_str(path)
    for rx, spec in rules:
      if rx.search(name):
        return NamedSharding(mesh, spec)
    if mode == "fsdp":
      return NamedSharding(mesh, _fsdp_spec(shape, axis, size, min_size))
    return NamedSharding(mesh, P())

  return jax.tree_util.tree_map_with_path(one, tree)
