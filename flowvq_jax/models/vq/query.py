"""Stage 2 of the VQ image generator: the code-query renderer.

Renders a target frame from a source image (identity) and the target frame's coefficients by
predicting, for every token, an index into the FROZEN stage-1 codebook:

  motion   m = phi(coefficient window [B, 2k+1, 70])              (MappingNet, `use_mapping`)
  source   F_0..F_L = SourceEncoder(source [B, H, W, 3])           (one map per decoder level)
           F_L <- [F_L, sg[E1(source)]]   the source's own stage-1 latents (`source_codes`)
  W        flow = FlowNet(F_L, m) [B, h, w, 2];  F'_l = warp(F_l, flow resized to level l)
  tokens   q = AdaIN(Dense(F'_L) + pos, m);  s = Dense(F_L) + pos  (identity tokens)
  MHCA     q = AdaIN(q + CrossAttention(q, s), m)                  (`use_mhca`; off: Dense([q, s]))
  head     q = TransformerBlock^n(q);  logits = Dense_K(LN q) [B, h, w, K]
           logits += Dense_1(LN q) * onehot(c_src)   copy gate on the source's code (`source_codes`;
                     with `copy_warp`, onehot(c_src) is warped by W's flow like the features)
           features = Dense_D(LN q) [B, h, w, D]                     (predicted code embeddings)
  render   z = e[argmax logits] (inference) or the straight-through code embedding (training);
           image = stage-1 decoder(z) with CFT fusion of F'_l at the decoder levels `fuse_levels`:
           d <- d + w * (d * scale(F'_l, d) + shift(F'_l, d))       (CodeFormer, fidelity w)

With `use_codebook=False` (the ablation without C) the decoder renders `features` directly.
With `use_warp=False` the flow is zero (F'_l = F_l). With `source_codes=True` the token-level
source features carry the source frame's quantized stage-1 latents `E1(source) [B, h, w, D]`
(frozen encoder and codebook, no gradient), and a per-token gate adds to the logit of the code
`c_src` the source frame has at that token. Tokens the motion leaves unchanged (background, hair,
clothes) can so name the source's code directly; without it the small source encoder has to
learn to predict the stage-1 codes of faces it has never seen. With `copy_warp` the
gate adds the source's one-hot codes bilinearly warped by the token-level flow,
`warp(onehot(c_src), flow)`, so a token can copy the code the motion brings to it (a zero flow,
as without W, gives the in-place gate); the copy logits then train the flow too.

Straight-through code embedding (training): with `p = softmax(logits)` and `y = onehot(argmax
logits)`, the decoder input is `(y + p - sg[p]) @ E` where `E [K, D]` are the codes as the
decoder sees them: its value is the hard code (what inference renders) and its gradient reaches
the logits through the soft embedding `p @ E`. The codebook and the decoder are frozen
(stop-gradient on the stage-1 params); only the query network and the fusion layers train.

Fidelity w in [0, 1] (a per-call knob, scalar or `[B]`): 0 renders the predicted codes alone,
1 adds the full learned residual of the warped source features. Training draws w ~ U(0, 1) per
example (`loss.random_fidelity`, needs an rng) or uses `loss.fidelity`.

Coefficients are passed as separate windows `exp [B, 2k+1, 64]` and `pose [B, 2k+1, 6]`
(frame t in the middle), in the data pipeline's normalisation. Images are NHWC in [-1, 1];
params float32, `dtype` sets the compute dtype; logits, losses and metrics are float32.

`default_config(size)` gives the model-level configs, `CodeQueryGenerator.from_config` builds
the model from the blocks of `query_layers.py`; `query_loss.py` is the objective, `renderer.py`
the jitted chunked batch renderer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from flowvq_jax.core.constants import EXP_DIM, POSE_DIM
from flowvq_jax.models.vq import autoencoder as ae
from flowvq_jax.models.vq.autoencoder import (
  Upsample,
  VQAutoencoder,
)
from flowvq_jax.models.vq.mapping import AdaIN, CentreFrameMapping, MappingNet
from flowvq_jax.models.vq.query_layers import CFT, MHCA, FlowNet, SourceEncoder, TransformerBlock
from flowvq_jax.models.vq.warp import resize_flow, warp

Array = jax.Array
COEFF_DIM = EXP_DIM + POSE_DIM


class CodeQuery(nn.Module):
  """Source image + coefficient windows -> code logits, code features, flow and fusion features.

  Attributes mirror `default_config(...).model` plus the stage-1 sizes (`num_codes`, `code_dim`,
  the number of levels `len(ch_mult)`).
  """

  num_codes: int
  code_dim: int
  num_levels: int
  enc_ch: int = 64
  enc_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
  motion_dim: int = 256
  mapping_layers: int = 3
  flow_width: int = 64
  flow_layers: int = 2
  warp_padding: str = "border"
  embed_dim: int = 512
  num_layers: int = 9
  num_heads: int = 8
  mlp_ratio: int = 2
  use_warp: bool = True
  use_mapping: bool = True
  use_mhca: bool = True
  use_codebook: bool = True
  source_codes: bool = False
  copy_warp: bool = False
  norm_groups: int = 32
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
    self, source: Array, coeffs: Array, source_codes: tuple[Array, Array] | None = None
  ) -> dict[str, Any]:
    """Args: source `[B or 1, H, W, 3]`, coeffs `[B, T, 70]`, source_codes `(latents [B or 1, h,
    w, D], indices [B or 1, h, w])`: the source's quantized stage-1 latents and code indices
    (required with `self.source_codes`, else ignored).

    Returns dict: `logits [B, h, w, K]` (float32; None without the codebook), `features
    [B, h, w, D]` (float32), `flow [B, h, w, 2]` (pixels of the token grid), `skips` (warped
    source features per level, finest first), `motion [B, M]`.
    """
    b = coeffs.shape[0]
    if self.use_mapping:
      motion = MappingNet(self.motion_dim, self.mapping_layers, self.dtype, name="phi")(coeffs)
    else:
      motion = CentreFrameMapping(self.motion_dim, self.dtype, name="phi_linear")(coeffs)
    feats = SourceEncoder(
      self.enc_ch, tuple(self.enc_ch_mult), self.norm_groups, self.dtype, name="source_encoder"
    )(source)
    if self.copy_warp and not self.source_codes:
      raise ValueError("copy_warp warps the source's codes by W's flow: it needs source_codes.")
    if self.source_codes:
      grid = feats[-1].shape[1:3]
      if source_codes is None or tuple(x.shape[1:3] for x in source_codes) != (grid, grid):
        got = None if source_codes is None else [x.shape for x in source_codes]
        raise ValueError(
          f"source_codes must be (latents [B, {grid[0]}, {grid[1]}, D], indices [B, {grid[0]}, "
          f"{grid[1]}]) at the token grid, got {got}."
        )
      latents, src_indices = source_codes
      feats[-1] = jnp.concatenate([feats[-1], latents.astype(self.dtype)], axis=-1)
    feats = [jnp.broadcast_to(f, (b, *f.shape[1:])) for f in feats]
    tok = feats[-1]
    _, h, w, _ = tok.shape
    if self.use_warp:
      flow = FlowNet(self.flow_width, self.flow_layers, self.dtype, name="warp_net")(tok, motion)
      skips = [warp(f, resize_flow(flow, f.shape[1], f.shape[2]), self.warp_padding) for f in feats]
    else:
      flow = jnp.zeros((b, h, w, 2), jnp.float32)
      skips = feats
    e = self.embed_dim
    pos = self.param("pos_embed", nn.initializers.normal(0.02), (h * w, e))
    target = nn.Dense(e, dtype=self.dtype, name="target_proj")(skips[-1].reshape(b, h * w, -1))
    target = AdaIN(dtype=self.dtype, name="target_adain")(target + pos, motion)
    identity = nn.Dense(e, dtype=self.dtype, name="identity_proj")(tok.reshape(b, h * w, -1))
    identity = identity + pos
    if self.use_mhca:
      x = MHCA(self.num_heads, self.dtype, name="mhca")(target, identity, motion)
    else:
      x = nn.Dense(e, dtype=self.dtype, name="concat_proj")(
        jnp.concatenate([target, identity], axis=-1)
      )
    for i in range(self.num_layers):
      x = TransformerBlock(self.num_heads, self.mlp_ratio, self.dtype, name=f"block{i}")(x)
    x = nn.LayerNorm(dtype=self.dtype, name="ln_out")(x)
    logits = None
    if self.use_codebook:
      logits = nn.Dense(self.num_codes, dtype=self.dtype, name="logits")(x)
      logits = logits.astype(jnp.float32).reshape(b, h, w, self.num_codes)
      if self.source_codes:
        zeros = nn.initializers.zeros
        gate = nn.Dense(1, kernel_init=zeros, dtype=self.dtype, name="copy_gate")(x)
        gate = gate.astype(jnp.float32).reshape(b, h, w, 1)
        src = jnp.broadcast_to(src_indices, (b, h, w))
        copy = jax.nn.one_hot(src, self.num_codes, dtype=jnp.float32)
        if self.copy_warp and self.use_warp:
          copy = warp(copy, flow, self.warp_padding)
        logits = logits + gate * copy
    features = nn.Dense(self.code_dim, dtype=self.dtype, name="features")(x)
    features = features.astype(jnp.float32).reshape(b, h, w, self.code_dim)
    return dict(logits=logits, features=features, flow=flow, skips=skips, motion=motion)


def _check_levels(fuse_levels: tuple[int, ...], num_levels: int) -> tuple[int, ...]:
  levels = tuple(int(i) for i in fuse_levels)
  bad = [i for i in levels if not 0 <= i < num_levels]
  if bad:
    raise ValueError(f"fuse_levels {levels} must lie in 0..{num_levels - 1} (decoder levels).")
  return levels


@dataclasses.dataclass(frozen=True)
class CodeQueryGenerator:
  """The whole stage-2 generator: `CodeQuery`, the CFT layers and the frozen stage-1 model.

  Params are `{'query': ..., 'fusion': {'level{l}': ...}}`; the stage-1 params are passed
  separately to every call and are never trained (stop-gradient).
  """

  query: CodeQuery
  stage1: VQAutoencoder
  image_size: int
  window: int
  fuse_levels: tuple[int, ...]

  @classmethod
  def from_config(cls, config: Any) -> CodeQueryGenerator:
    """From `default_config(...)` (needs `image_size`, `stage1`, `model`)."""
    m = config.model.to_dict() if hasattr(config.model, "to_dict") else dict(config.model)
    s1 = config.stage1.to_dict() if hasattr(config.stage1, "to_dict") else dict(config.stage1)
    dtype = ae.as_dtype(m.pop("dtype", "float32"))
    window = int(m.pop("window"))
    if window < 0:
      raise ValueError(f"model.window (frames each side) must be >= 0, got {window}.")
    fuse_levels = tuple(m.pop("fuse_levels"))
    s1["dtype"] = dtype
    stage1 = ae.make_autoencoder(s1)
    num_levels = len(stage1.ch_mult)
    m["enc_ch_mult"] = tuple(m.get("enc_ch_mult") or stage1.ch_mult)
    if len(m["enc_ch_mult"]) != num_levels:
      raise ValueError(
        f"model.enc_ch_mult {m['enc_ch_mult']} needs {num_levels} levels (stage-1 ch_mult)."
      )
    if m.get("copy_warp") and not m.get("source_codes"):
      raise ValueError("model.copy_warp warps the source's codes: it needs model.source_codes.")
    if m["embed_dim"] % m["num_heads"]:
      raise ValueError(
        f"embed_dim {m['embed_dim']} must be a multiple of num_heads {m['num_heads']}."
      )
    try:
      query = CodeQuery(
        num_codes=stage1.num_codes,
        code_dim=stage1.code_dim,
        num_levels=num_levels,
        norm_groups=stage1.norm_groups,
        dtype=dtype,
        **m,
      )
    except TypeError as e:
      raise ValueError(f"Bad stage-2 model config: {e}") from e
    ae.tokens_per_side(config.image_size, s1)
    return cls(
      query=query,
      stage1=stage1,
      image_size=int(config.image_size),
      window=window,
      fuse_levels=_check_levels(fuse_levels, num_levels),
    )

  @property
  def dtype(self) -> Any:
    return self.query.dtype

  @property
  def window_frames(self) -> int:
    """Frames per coefficient window, `2 * window + 1`."""
    return 2 * self.window + 1

  @property
  def tokens(self) -> int:
    """Tokens per side, `image_size / 2^(levels - 1)`."""
    return self.image_size // self.stage1.downsample_factor

  def _fusion(self, level: int) -> CFT:
    ch = self.stage1.ch * self.stage1.ch_mult[level]
    return CFT(ch, self.stage1.norm_groups, self.dtype, name=f"level{level}")

  # -- validation ----------------------------------------------------------------------------

  def check_inputs(self, source: Array, exp: Array, pose: Array) -> Array:
    """Validates shapes; returns the coefficient window `[B, T, 70]` (exp then pose)."""
    s = self.image_size
    if source.ndim != 4 or source.shape[1:] != (s, s, 3):
      raise ValueError(f"source must be images [B, {s}, {s}, 3] in [-1, 1], got {source.shape}.")
    t = self.window_frames
    for name, x, d in (("exp", exp, EXP_DIM), ("pose", pose, POSE_DIM)):
      if x.ndim != 3 or x.shape[1:] != (t, d):
        raise ValueError(
          f"{name} must be a coefficient window [B, {t}, {d}] (2 * window + 1 = {t} frames of "
          f"{d} coefficients), got {x.shape}."
        )
    if exp.shape[0] != pose.shape[0]:
      raise ValueError(f"exp and pose batch sizes differ: {exp.shape[0]} vs {pose.shape[0]}.")
    if source.shape[0] not in (1, exp.shape[0]):
      raise ValueError(
        f"source batch {source.shape[0]} must be 1 or the coefficient batch {exp.shape[0]}."
      )
    return jnp.concatenate([exp, pose], axis=-1)

  # -- init / apply --------------------------------------------------------------------------

  def init(self, rng: Array, stage1_params: Any, batch_size: int = 1) -> dict[str, Any]:
    """Fresh params `{'query', 'fusion'}` (float32)."""
    s, t = self.image_size, self.window_frames
    source = jnp.zeros((batch_size, s, s, 3), jnp.float32)
    coeffs = jnp.zeros((batch_size, t, COEFF_DIM), jnp.float32)
    k_query, k_fusion = jax.random.split(rng)
    codes = self.source_codes(stage1_params, source)
    out, variables = self.query.init_with_output(k_query, source, coeffs, codes)
    query_params = variables["params"]
    fusion_params = {}
    keys = dict(zip(self.fuse_levels, jax.random.split(k_fusion, max(len(self.fuse_levels), 1))))

    def fuse(level, enc, dec, w):
      module = self._fusion(level)
      fusion_params[f"level{level}"] = module.init(keys[level], enc, dec, w)["params"]
      return dec

    z = self.stage1.apply({"params": stage1_params}, out["features"], method=_post_quant)
    self._decode(stage1_params, z, out["skips"], jnp.ones(()), fuse)
    return {"query": query_params, "fusion": fusion_params}

  def source_codes(self, stage1_params: Any, source: Array) -> tuple[Array, Array] | None:
    """The source's stage-1 codes: `(latents [B, h, w, D] float32, indices [B, h, w] int32)`,
    quantized by the frozen stage-1 encoder (no gradient); None when the model does not use
    them (`source_codes=False`)."""
    if not self.query.source_codes:
      return None
    quantized, aux = self.stage1.apply(
      {"params": jax.lax.stop_gradient(stage1_params)}, source, method=VQAutoencoder.encode
    )
    latents = jax.lax.stop_gradient(quantized.astype(jnp.float32))
    return latents, aux["indices"].astype(jnp.int32)

  def _decode(
    self, stage1_params: Any, z: Array, skips: list[Array], w: Array, fuse: Callable
  ) -> Array:
    """The stage-1 decoder on `z` (after post_quant_conv), with `fuse` at `fuse_levels`."""
    model = self.stage1.bind({"params": stage1_params})
    dec = model.decoder
    h = dec.conv_in(z.astype(self.dtype))
    h = dec.mid_res1(dec.mid_attn(dec.mid_res0(h)))
    last = len(self.stage1.ch_mult) - 1
    for i, layers in enumerate(dec.blocks):
      level = last - i
      for layer in layers:
        if isinstance(layer, Upsample) and level in self.fuse_levels:
          h = fuse(level, skips[level], h, w)
        h = layer(h)
      if level == 0 and 0 in self.fuse_levels:
        h = fuse(0, skips[0], h, w)
    return dec.conv_out(nn.swish(dec.norm_out(h))).astype(jnp.float32)

  def apply(
    self,
    params: Any,
    stage1_params: Any,
    source: Array,
    exp: Array,
    pose: Array,
    fidelity: float | Array = 0.5,
    mode: str = "hard",
    render: bool = True,
  ) -> dict[str, Any]:
    """Runs the generator.

    Args:
      params: `{'query', 'fusion'}`.
      stage1_params: the frozen stage-1 autoencoder params.
      source: `[B or 1, H, W, 3]` in [-1, 1].
      exp: `[B, 2k+1, 64]`, pose: `[B, 2k+1, 6]` coefficient windows.
      fidelity: w in [0, 1], scalar or `[B]`.
      mode: 'hard' (argmax codes, inference) or 'st' (straight-through embedding, training).
      render: run the decoder (False: only the query network, e.g. for the CE loss).

    Returns:
      dict with `logits [B, h, w, K]` (None without codebook), `features [B, h, w, D]`,
      `indices [B, h, w]` (argmax, or nearest code of `features` without codebook), `flow
      [B, h, w, 2]`, `motion [B, M]`, with `source_codes` the source's stage-1 codes
      `source_indices [B, h, w]` and, when rendering, `image [B, H, W, 3]` (float32).
    """
    if mode not in ("hard", "st"):
      raise ValueError(f"mode must be 'hard' or 'st', got {mode!r}.")
    coeffs = self.check_inputs(source, exp, pose)
    stage1_params = jax.lax.stop_gradient(stage1_params)
    codes = self.source_codes(stage1_params, source)
    out = self.query.apply({"params": params["query"]}, source, coeffs, codes)
    table = self.stage1.apply({"params": stage1_params}, method=code_table)  # [K, D]
    table = table.astype(jnp.float32)
    if self.query.use_codebook:
      logits = out["logits"]
      indices = jnp.argmax(logits, axis=-1).astype(jnp.int32)
      hard = jax.nn.one_hot(indices, table.shape[0], dtype=jnp.float32)
      if mode == "st":
        soft = jax.nn.softmax(logits, axis=-1)
        hard = hard + soft - jax.lax.stop_gradient(soft)
      z = jnp.einsum("bhwk,kd->bhwd", hard, table, precision=jax.lax.Precision.HIGHEST)
    else:
      z = out["features"]
      indices = nearest_code(z, table)
    result = dict(
      logits=out["logits"],
      features=out["features"],
      indices=indices,
      flow=out["flow"],
      motion=out["motion"],
    )
    if codes is not None:
      result["source_indices"] = jnp.broadcast_to(codes[1], indices.shape)
    if render:
      z = self.stage1.apply({"params": stage1_params}, z, method=_post_quant)

      def fuse(level, enc, dec, w):
        p = params["fusion"][f"level{level}"]
        return self._fusion(level).apply({"params": p}, enc, dec, w)

      w = jnp.asarray(fidelity, jnp.float32)
      result["image"] = self._decode(stage1_params, z, out["skips"], w, fuse)
    return result


def _post_quant(model: VQAutoencoder, z: Array) -> Array:
  return model.post_quant_conv(z.astype(model.dtype))


def code_table(model: VQAutoencoder) -> Array:
  return model.quantizer.lookup(jnp.arange(model.num_codes))


def nearest_code(features: Array, table: Array) -> Array:
  """Index of the nearest row of `table [K, D]` (L2) for every `features [..., D]`; int32."""
  f = features.astype(jnp.float32)
  dist = (
    jnp.sum(f * f, axis=-1, keepdims=True)
    - 2.0 * jnp.einsum("...d,kd->...k", f, table, precision=jax.lax.Precision.HIGHEST)
    + jnp.sum(table * table, axis=-1)
  )
  return jnp.argmin(dist, axis=-1).astype(jnp.int32)


# Model sizes: the stage-1 autoencoder size and the `CodeQuery` fields that differ by size.
_SIZES = {
  "tiny": dict(stage1="tiny", window=6, enc_ch=16, motion_dim=32, mapping_layers=2,
               flow_width=16, flow_layers=1, embed_dim=32, num_layers=2, num_heads=2),
  "synthetic": dict(stage1="synthetic", window=13, enc_ch=32, motion_dim=128, mapping_layers=3,
                    flow_width=64, flow_layers=2, embed_dim=256, num_layers=4, num_heads=8),
  "mead": dict(stage1="ffhq_mead", window=13, enc_ch=64, motion_dim=256, mapping_layers=3,
               flow_width=128, flow_layers=2, embed_dim=512, num_layers=9, num_heads=8),
}  # fmt: skip
_SIZES["hdtf"] = _SIZES["mead"]


def default_config(size: str = "synthetic") -> ml_collections.ConfigDict:
  """Model-level config of stage 2: `image_size`, `stage1` (the frozen autoencoder's model
  config), `model` (the `CodeQuery` fields + `window`, `fuse_levels`, `dtype`) and `loss`.

  Sizes: 'tiny' (32 px, 8x8 tokens, for tests), 'synthetic' (128 px, 16x16 tokens), 'mead' and
  'hdtf' (256 px, 16x16 tokens, CodeFormer's 9 layers x 8 heads x 512, PIRender's 27-frame
  window). See docs/vq_query.md.
  """
  if size not in _SIZES:
    raise ValueError(f"Unknown stage-2 size {size!r}; expected one of {sorted(_SIZES)}.")
  sizes = dict(_SIZES[size])
  stage1 = ae.default_config(sizes.pop("stage1"))
  levels = len(stage1.model.ch_mult)
  c = ml_collections.ConfigDict()
  c.image_size = stage1.image_size
  c.stage1 = stage1.model
  c.model = ml_collections.ConfigDict(
    dict(
      **sizes,
      enc_ch_mult=tuple(stage1.model.ch_mult),
      warp_padding="border",
      mlp_ratio=2,
      fuse_levels=tuple(range(levels - 1)),
      use_warp=True,
      use_mapping=True,
      use_mhca=True,
      use_codebook=True,
      source_codes=True,
      copy_warp=False,
      dtype="float32",
    )
  )
  c.loss = ml_collections.ConfigDict(
    dict(
      ce_weight=0.5,
      feat_weight=1.0,
      l1_weight=1.0,
      perceptual_weight=1.0,
      perceptual_weights=ml_collections.config_dict.placeholder(str),
      adv_weight=0.1,
      fidelity=1.0,
      random_fidelity=True,
      changed_weight=1.0,
    )
  )
  return c
