"""Autoregressive sampling of a `CoefficientFlow`, in fixed-size chunks.

`FlowSampler(model, chunk_size=64)` holds ONE jitted chunk function:

  (params, carry, mel [N, C, 2k+1, 4, 80], emotion [N, C], intensity [N, C],
   keys [N], start, temperature, latent overrides) -> (carry, x [N, C, D])

Inside it the C frames advance in a `lax.scan`: frame t draws its latent from
the prior component of (emotion_t, intensity_t), `z = loc + temperature *
scale * noise`, and inverts the flow given the context (audio window, history
of the previous tau generated frames, LSTM state). The carry (LSTM state and
history) passes from chunk to chunk, so any length is served by the same
compiled function: the Python loop in `FlowSampler.__call__` streams the audio
chunk by chunk from host memory (the last chunk is padded and cut), which keeps
device memory bounded for 10-minute audio. The noise of frame t of sample n
comes from `fold_in(key_n, t)` with the global frame index t, so the chunk size
does not change the result. Temperature 0 gives the component's location
(its mode) at every frame.

Emotion transfer: `encode` a reference clip to latents, `reference_latent` turns
them into a location (and spread), and `FlowSampler(..., latent_loc=...,
latent_scale=...)` samples around it instead of around an emotion component.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from flowvq_jax.core.constants import NUM_EMOTIONS, emotion_index
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.models.flow.model import CoefficientFlow
from flowvq_jax.models.flow.prior import intensity_to_weight, standard_noise

Array = jax.Array


def _emotion_array(emotion: Any) -> np.ndarray:
  """Names or ints (scalar or nested sequences) -> int32 numpy array, validated."""
  if isinstance(emotion, str):
    return np.asarray(emotion_index(emotion), np.int32)
  arr = np.asarray(emotion)
  if arr.dtype.kind in "US":
    return np.vectorize(emotion_index, otypes=[np.int32])(arr).astype(np.int32)
  if arr.dtype.kind == "O":
    return np.vectorize(emotion_index, otypes=[np.int32])(arr).astype(np.int32)
  if arr.dtype.kind not in "iu":
    raise ValueError(f"Emotions must be names or integer indices, got dtype {arr.dtype}.")
  if arr.size and (arr.min() < 0 or arr.max() >= NUM_EMOTIONS):
    bad = arr[(arr < 0) | (arr >= NUM_EMOTIONS)].ravel()[0]
    raise ValueError(
      f"Unknown emotion index {bad} for sampling; valid are 0..{NUM_EMOTIONS - 1}"
      " (use a name from flowvq_jax.core.constants.EMOTIONS or its index)."
    )
  return arr.astype(np.int32)


def _per_frame(name: str, value: np.ndarray, n: int, t: int) -> np.ndarray:
  """Scalar, [T], [N, 1] or [N, T] -> [N, T]."""
  v = np.asarray(value)
  if v.ndim == 0:
    return np.broadcast_to(v, (n, t))
  if v.ndim == 1 and v.shape[0] == t:
    return np.broadcast_to(v[None], (n, t))
  if v.ndim == 2 and v.shape[0] == n and v.shape[1] in (1, t):
    return np.broadcast_to(v, (n, t))
  raise ValueError(
    f"{name} must be a scalar, [T]=({t},), [N, 1]=({n}, 1) or [N, T]=({n}, {t}),"
    f" got shape {v.shape}."
  )


def _per_sample(name: str, value, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
  """None, [D] or [N, D] -> ([N, D] float32, use [N] bool)."""
  if value is None:
    return np.zeros((n, d), np.float32), np.zeros((n,), bool)
  v = np.asarray(value, np.float32)
  if v.shape == (d,):
    v = np.broadcast_to(v, (n, d))
  if v.shape != (n, d):
    raise ValueError(f"{name} must have shape [D]=({d},) or [N, D]=({n}, {d}), got {v.shape}.")
  return np.ascontiguousarray(v), np.ones((n,), bool)


def _pad_edge(a: np.ndarray, pad: int) -> np.ndarray:
  """Repeats the last frame (axis 1) `pad` times."""
  return np.concatenate([a, np.repeat(a[:, -1:], pad, axis=1)], axis=1)


class FlowSampler:
  """Chunked autoregressive sampler of a `CoefficientFlow` (see module docstring).

  Attributes:
    trace_count: how many times the chunk function was traced (compiled).
  """

  def __init__(self, model: CoefficientFlow, chunk_size: int = 64):
    if chunk_size < 1:
      raise ValueError(f"chunk_size must be >= 1, got {chunk_size}.")
    self.model = model
    self.chunk_size = int(chunk_size)
    self.trace_count = 0
    self.chunk_fn = jax.jit(self._chunk)

  # ------------------------------------------------------------- device side.
  def _chunk(
    self,
    params,
    carry,
    mel: Array,
    emotion: Array,
    intensity: Array,
    keys: Array,
    start: Array,
    temperature: Array,
    loc_override: Array,
    use_loc: Array,
    scale_override: Array,
    use_scale: Array,
  ):
    """One chunk of C frames for N samples; see the module docstring."""
    self.trace_count += 1  # Python side effect: runs once per trace.
    model = self.model
    variables = {"params": params}
    audio = model.apply(variables, mel, method=CoefficientFlow.encode_audio)  # [N, C, A]
    comp = model.apply(variables, emotion, intensity, method=CoefficientFlow.prior_params)
    kind, dim = model.prior, model.dim
    emotion_ctx = model.emotion_in_context
    weight = intensity_to_weight(intensity) if model.intensity_in_context else None

    def body(carry, inputs):
      audio_t, emotion_t, weight_t, comp_t, i = inputs
      frame_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, start + i)
      df = comp_t.get("df", jnp.zeros(emotion_t.shape, jnp.float32))
      noise = jax.vmap(lambda k, v: standard_noise(k, kind, v, dim))(frame_keys, df)
      loc = jnp.where(use_loc[:, None], loc_override, comp_t["loc"])
      scale = jnp.where(use_scale[:, None], scale_override, jnp.exp(comp_t["log_scale"]))
      z = loc + temperature * scale * noise
      carry, x = model.apply(
        variables,
        carry,
        audio_t,
        z,
        emotion_t if emotion_ctx else None,
        weight_t,
        method=CoefficientFlow.decode_step,
      )
      return carry, x

    time_major = lambda a: jnp.swapaxes(a, 0, 1)
    xs = (
      time_major(audio),
      time_major(emotion),
      None if weight is None else time_major(weight),
      jax.tree.map(time_major, comp),
      jnp.arange(emotion.shape[1], dtype=jnp.int32),
    )
    carry, x = jax.lax.scan(body, carry, xs)
    return carry, time_major(x)

  # --------------------------------------------------------------- host side.
  def __call__(
    self,
    params,
    mel: np.ndarray | None = None,
    emotion: Any = "neutral",
    intensity: Any = 3.0,
    temperature: float = 1.0,
    seed: int | Sequence[int] = 0,
    *,
    mel_frames: np.ndarray | None = None,
    latent_loc: np.ndarray | None = None,
    latent_scale: np.ndarray | None = None,
  ) -> np.ndarray:
    """Samples coefficient sequences.

    Args:
      params: the model's params.
      mel: mel windows `[T, 2k+1, 4, 80]` (shared by all samples) or
        `[N, T, 2k+1, 4, 80]`. Give either `mel` or `mel_frames`.
      emotion: name or index, scalar, per frame `[T]`, per sample `[N, 1]` or
        `[N, T]`.
      intensity: level 0..3 (float, 0 = neutral, 3 = full), same shapes as emotion.
      temperature: noise scale (0 = the component's location at every frame).
      seed: an int (returns `[T, D]`) or a sequence of N ints (returns `[N, T, D]`).
      mel_frames: the clip's log-mel `[4T, 80]` (`flowvq_jax.data.audio.log_mel`) or
        `[T, 4, 80]`; windows are then built chunk by chunk with
        `flowvq_jax.data.audio.mel_windows` (edge-padded), saving host memory on
        long audio.
      latent_loc: `[D]` or `[N, D]`: sample around this latent location (e.g.
        from `reference_latent`) instead of the emotion component's.
      latent_scale: `[D]` or `[N, D]`: latent scale to use instead of the
        component's.

    Returns:
      float32 numpy coefficients `[T, D]` or `[N, T, D]`.
    """
    model = self.model
    batched = not np.isscalar(seed) and np.ndim(seed) == 1
    seeds = [int(s) for s in (seed if batched else [seed])]
    n = len(seeds)
    if n == 0:
      raise ValueError("seed must be an int or a non-empty sequence of ints.")
    t, get_mel = self._mel_source(mel, mel_frames, n)
    if t < 1:
      raise ValueError("The audio has no video frames to sample (need at least 4 mel frames).")
    emotion = _per_frame("emotion", _emotion_array(emotion), n, t).astype(np.int32)
    intensity = _per_frame("intensity", np.asarray(intensity, np.float32), n, t)
    loc, use_loc = _per_sample("latent_loc", latent_loc, n, model.dim)
    scale, use_scale = _per_sample("latent_scale", latent_scale, n, model.dim)
    if use_scale.any() and not np.all(scale > 0):
      raise ValueError("latent_scale must be positive.")

    keys = jnp.stack([jax.random.key(s) for s in seeds])
    carry = model.apply({"params": params}, n, method=CoefficientFlow.initial_carry)
    temperature = jnp.float32(temperature)
    c = self.chunk_size
    outs = []
    for start in range(0, t, c):
      stop = min(start + c, t)
      pad = c - (stop - start)
      mel_c = get_mel(start, stop)
      e_c, i_c = emotion[:, start:stop], intensity[:, start:stop]
      if pad:
        mel_c, e_c, i_c = (_pad_edge(a, pad) for a in (mel_c, e_c, i_c))
      carry, x = self.chunk_fn(
        params,
        carry,
        mel_c,
        e_c,
        i_c,
        keys,
        jnp.int32(start),
        temperature,
        loc,
        use_loc,
        scale,
        use_scale,
      )
      outs.append(x[:, : stop - start])
    out = np.concatenate(jax.device_get(outs), axis=1).astype(np.float32)
    return out if batched else out[0]

  def _mel_source(self, mel, mel_frames, n):
    """Validates the audio input; returns (T, function (start, stop) -> [N, L, W, M, F])."""
    model = self.model
    w, m, f = model.mel_shape
    k = model.audio_context
    if (mel is None) == (mel_frames is None):
      raise ValueError("Give exactly one of `mel` (windows) or `mel_frames` (per-frame log-mel).")
    if mel is not None:
      mel = np.asarray(mel, np.float32)
      if mel.ndim == 4 and mel.shape[1:] == (w, m, f):
        return mel.shape[0], lambda a, b: np.broadcast_to(mel[None, a:b], (n, b - a, w, m, f))
      if mel.ndim == 5 and mel.shape[0] == n and mel.shape[2:] == (w, m, f):
        return mel.shape[1], lambda a, b: mel[:, a:b]
      raise ValueError(
        f"mel must be windows [T, {w}, {m}, {f}] or [N={n}, T, {w}, {m}, {f}]"
        f" (2k+1={w} video frames of {m} mel frames x {f} bins); got {mel.shape}."
        " Per-frame log-mel goes in `mel_frames`."
      )
    frames = np.asarray(mel_frames, np.float32)
    if frames.ndim == 3 and frames.shape[1:] == (m, f):
      frames = frames.reshape(-1, f)
    if frames.ndim != 2 or frames.shape[1] != f or frames.shape[0] % m:
      raise ValueError(
        f"mel_frames must be a clip's log-mel [{m}*T, {f}] (or [T, {m}, {f}]),"
        f" got {np.shape(mel_frames)}."
      )

    def windows(a, b):
      win = audio_lib.mel_windows(frames, k, start=a, length=b - a)
      return np.broadcast_to(win[None], (n, *win.shape))

    return frames.shape[0] // m, windows

  @property
  def num_compiles(self) -> int:
    """Entries in the chunk function's compilation cache."""
    return self.chunk_fn._cache_size()


def encode(
  model: CoefficientFlow,
  params,
  x: Array,
  mel: Array,
  emotion: Array | None = None,
  mask: Array | None = None,
) -> Array:
  """Latents `[B, T, D]` of reference coefficients `x [B, T, D]` (or `[T, D]` -> `[T, D]`)."""
  squeeze = np.ndim(x) == 2
  if squeeze:
    x, mel = x[None], mel[None]
    emotion = None if emotion is None else jnp.reshape(jnp.asarray(emotion), (1,))
    mask = None if mask is None else mask[None]
  z = _encode_jit(model, params, x, mel, emotion, mask)
  return z[0] if squeeze else z


@functools.partial(jax.jit, static_argnums=0)
def _encode_jit(model, params, x, mel, emotion, mask):
  return model.apply({"params": params}, x, mel, emotion, mask, method=CoefficientFlow.encode)


def reference_latent(z: Array, mask: Array | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Latent location and spread of a reference clip, for emotion transfer.

  Args:
    z: latents `[T, D]` or `[B, T, D]` from `encode`.
    mask: valid frames `[T]` / `[B, T]`, or None.

  Returns:
    (`loc [D]`, `scale [D]`): mean and standard deviation over all valid frames;
    pass them as `latent_loc` / `latent_scale` to `FlowSampler`.
  """
  z = np.asarray(z, np.float32)
  z = z.reshape(-1, z.shape[-1])
  w = np.ones(z.shape[0], np.float32) if mask is None else np.asarray(mask, np.float32).ravel()
  if w.shape[0] != z.shape[0] or w.sum() <= 0:
    raise ValueError("mask must match z's frames and select at least one frame.")
  loc = (w[:, None] * z).sum(0) / w.sum()
  var = (w[:, None] * np.square(z - loc)).sum(0) / w.sum()
  return loc, np.sqrt(var) + 1e-6
