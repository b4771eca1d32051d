"""The renderer of the synthetic world: (identity, exp, pose) -> uint8 frames.

Vectorised numpy over frames and pixels: frames are rendered in chunks; every feature (face, hair,
ears, brows, eyes, nose, lips, teeth, wrinkles, ...) is a signed distance in face units evaluated
only inside its own pixel box (one box per frame, all boxes of a chunk the same size, so a
feature costs one set of array operations per chunk), turned into coverage with a one-pixel
linear ramp (anti-aliased edges) and alpha-composited. The backdrop and the static torso are
cached per identity and resolution. Layers, back to front: background and torso, chin shadow,
back hair, ears, face (shaded, skin detail map), front hair, cheeks, wrinkles and folds, brows,
eyes, nose, beard, mouth (lips, cavity, tongue, lower and upper teeth rows).

A pixel's value does not depend on the box it was computed in (features vanish inside their
boxes), so a frame renders to the same bytes alone or inside any batch.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.ndimage

from flowvq_jax.world import geometry as geo
from flowvq_jax.world.identity import BEARDS, BG_PATTERNS, HAIR_STYLES, Identity

_SCLERA = np.array((0.95, 0.93, 0.9), np.float32)
_LASH = np.array((0.1, 0.07, 0.06), np.float32)
_CAVITY = np.array((0.28, 0.06, 0.07), np.float32)
_TONGUE = np.array((0.78, 0.36, 0.38), np.float32)
_TEETH = np.array((0.97, 0.95, 0.88), np.float32)
_WHITE = np.array((1.0, 1.0, 1.0), np.float32)
_GUM = np.array((0.82, 0.42, 0.46), np.float32)
_BLACK = np.array((0.03, 0.02, 0.02), np.float32)
_CHUNK_PIXELS = 1 << 20  # frames per chunk = this / resolution**2 (bounds temporary memory).

TEX_U0, TEX_V0, TEX_STEP = -1.2, -1.45, 0.012  # skin detail map: origin and texel (face units).
TEX_SHAPE = (275, 200)  # [v, u] texels.


def _clip(a, lo, hi):
  """np.clip without its Python-level overhead."""
  if lo is None:
    return np.minimum(a, hi)
  if hi is None:
    return np.maximum(a, lo)
  return np.minimum(np.maximum(a, lo), hi)


def _c(color) -> np.ndarray:
  return np.asarray(color, np.float32)


@functools.lru_cache(maxsize=8)
def _axis(res: int) -> np.ndarray:
  return np.arange(res, dtype=np.float32) + 0.5


class _Region:
  """A pixel box per selected frame of a chunk (their union, shared by all), with face coordinates.

  Attributes:
    u, v: [n, h, w] float32 face coordinates of the pixel centres.
    p: per-frame parameters, each [n, 1, 1] float32 (`region.p["fw"]`).
    frames: [n] chunk indices of the selected frames.
  """

  def __init__(self, batch: _Batch, frames: np.ndarray, y0: int, y1: int, x0: int, x1: int):
    self.batch, self.frames = batch, frames
    t = batch.t
    ys = _axis(batch.res)[y0:y1][None, :, None]
    xs = _axis(batch.res)[x0:x1][None, None, :]
    ax, ay, a0 = t["ax"][frames], t["ay"][frames], t["a0"][frames]
    bx, by, b0 = t["bx"][frames], t["by"][frames], t["b0"][frames]
    self.u = ax * xs + a0 + ay * ys
    self.v = bx * xs + b0 + by * ys
    self.s = t["s"][frames]
    self.p = _Params(batch.p, frames)
    n = frames.size
    self._contiguous = n == frames[-1] - frames[0] + 1
    if self._contiguous:
      self._key = (
        slice(None),
        slice(int(frames[0]), int(frames[-1]) + 1),
        slice(y0, y1),
        slice(x0, x1),
      )
    else:
      self._key = (slice(None), frames, slice(y0, y1), slice(x0, x1))
    self.sub = None

  def cov(self, d: np.ndarray) -> np.ndarray:
    """Coverage of a signed distance d (face units, negative inside): one-pixel ramp."""
    a = d * (-self.s)
    a += 0.5
    np.maximum(a, 0.0, out=a)
    return np.minimum(a, 1.0, out=a)

  def line(self, dist: np.ndarray, width_px) -> np.ndarray:
    """Coverage of a line `width_px` pixels wide at unsigned distance `dist` (face units)."""
    a = dist * (-self.s)
    a += 0.5 + 0.5 * width_px
    np.maximum(a, 0.0, out=a)
    return np.minimum(a, 1.0, out=a)

  def paint(self, alpha: np.ndarray, color: np.ndarray, shade=None):
    """Composites `color` (RGB, optionally times a shade [n, h, w]) with alpha [n, h, w]."""
    if self.sub is None:
      self.batch.commit()
      # Planar [3, n, h, w] pixels: a view for a run of frames, else a copy written back later.
      self.sub = self.batch.imgs[self._key]
      self.batch.open = self
    for c in range(3):
      ch = self.sub[c]
      target = color[c] if shade is None else shade * color[c]
      ch += alpha * (target - ch)

  def commit(self):
    if self.sub is not None:
      if not self._contiguous:
        self.batch.imgs[self._key] = self.sub
      self.sub = None


class _Params:
  def __init__(self, p: dict, frames: np.ndarray):
    self._p, self._frames, self._cache = p, frames, {}

  def __getitem__(self, name: str) -> np.ndarray:
    out = self._cache.get(name)
    if out is None:
      out = self._cache[name] = self._p[name][self._frames]
    return out


class _Batch:
  """A chunk of k frames: planar images float32 [3, k, H, W] and their face-unit <-> pixel maps."""

  def __init__(self, imgs: np.ndarray, g: dict, res: int):
    self.imgs, self.res, self.g = imgs, res, g
    self.k = imgs.shape[1]
    self.open = None
    s, c, sn = g["s"], g["cos"], g["sin"]
    ax, ay, bx, by = c / s, sn / s, -sn / s, c / s
    t = {
      "s": s,
      "ax": ax,
      "ay": ay,
      "a0": -(ax * g["cx"] + ay * g["cy"]),
      "bx": bx,
      "by": by,
      "b0": -(bx * g["cx"] + by * g["cy"]),
    }
    self.t = {k: np.asarray(v, np.float32).reshape(-1, 1, 1) for k, v in t.items()}
    self.p = {k: np.asarray(v, np.float32).reshape(-1, 1, 1) for k, v in g.items()}

  def region(self, u0, u1, v0, v1, sel=None) -> _Region | None:
    """The pixel box covering the face-unit box [u0, u1] x [v0, v1] (scalars or [k]) in every
    selected frame (bool [k] `sel`, default all); None when it is off-screen in all of them."""
    g, res = self.g, self.res
    frames = np.arange(self.k) if sel is None else np.nonzero(sel)[0]
    if frames.size == 0:
      return None
    b = [np.broadcast_to(np.asarray(x, np.float64), (self.k,))[frames] for x in (u0, u1, v0, v1)]
    s, c, sn = g["s"][frames], g["cos"][frames], g["sin"][frames]
    cx, cy = g["cx"][frames], g["cy"][frames]
    us = np.stack([b[0], b[1], b[0], b[1]])
    vs = np.stack([b[2], b[2], b[3], b[3]])
    xs = cx + s * (us * c - vs * sn)
    ys = cy + s * (us * sn + vs * c)
    x0, x1 = max(int(np.floor(xs.min())) - 1, 0), min(int(np.floor(xs.max())) + 2, res)
    y0, y1 = max(int(np.floor(ys.min())) - 1, 0), min(int(np.floor(ys.max())) + 2, res)
    if x0 >= x1 or y0 >= y1:
      return None
    return _Region(self, frames, y0, y1, x0, x1)

  def commit(self):
    if self.open is not None:
      self.open.commit()
      self.open = None


@functools.lru_cache(maxsize=64)
def background(ident: Identity, res: int) -> np.ndarray:
  """[3, res, res] float32 (planar) static layer of an identity: backdrop and torso (cached)."""
  a = _axis(res) / res
  x, y = a[None, :], a[:, None]
  c1, c2 = _c(ident.bg1), _c(ident.bg2)
  pat = BG_PATTERNS[ident.bg_pattern]
  f = ident.bg_freq
  if pat == "gradient":
    m = np.broadcast_to(y * 0.8 + 0.2 * x, (res, res))
  elif pat == "stripes":
    m = 0.5 + 0.5 * np.sin(2 * np.pi * f * (x + 0.3 * y))
    m = _clip((m - 0.5) * 3 + 0.5, 0, 1)
  elif pat == "dots":
    fx, fy = (x * f) % 1 - 0.5, (y * f) % 1 - 0.5
    d = np.sqrt(fx * fx + fy * fy) - 0.22
    m = _clip(0.5 - d * res / f, 0, 1)
  elif pat == "checker":
    m = ((np.floor(x * f * 0.7) + np.floor(y * f * 0.7)) % 2).astype(np.float32)
    m = np.broadcast_to(0.2 + 0.6 * m, (res, res))
  else:  # rings
    r = np.sqrt((x - 0.5) ** 2 + (y - 0.4) ** 2)
    m = 0.5 + 0.5 * np.cos(2 * np.pi * f * r)
  m = np.asarray(m, np.float32)[..., None]
  vignette = (1.0 - 0.25 * ((x - 0.5) ** 2 + (y - 0.5) ** 2))[..., None]
  out = ((1 - m) * c1 + m * c2) * vignette
  out = np.ascontiguousarray(np.moveaxis(out, -1, 0)[:, None], dtype=np.float32)
  # The torso (shoulders, neck) is static: the head moves over it.
  rest = {
    "s": np.array([geo.SCALE * res]),
    "cx": np.array([0.5 * res]),
    "cy": np.array([geo.CENTER_Y * res]),
    "cos": np.ones(1),
    "sin": np.zeros(1),
  }
  batch = _Batch(out, rest, res)
  _draw_body(batch, ident, _c(ident.skin))
  batch.commit()
  out = out[:, 0]
  out.setflags(write=False)
  return out


@functools.lru_cache(maxsize=64)
def skin_detail(ident: Identity, res: int) -> np.ndarray:
  """[275, 200] float32 skin darkening map in face units (pores, freckles, moles), cached.

  Blurred to the pixel size of `res` so nearest-texel lookups do not shimmer.
  """
  rng = np.random.default_rng([ident.world_seed & 0xFFFFFFFF, ident.index, 0x7E])
  nv, nu = TEX_SHAPE
  tex = scipy.ndimage.gaussian_filter(rng.standard_normal((nv, nu)), 2.0) * 0.05
  uu = TEX_U0 + TEX_STEP * (np.arange(nu) + 0.5)
  vv = TEX_V0 + TEX_STEP * (np.arange(nv) + 0.5)
  blobs = []
  for _ in range(int(ident.freckles * 90)):  # freckles across the nose and cheeks.
    blobs.append((rng.normal(0, 0.38), rng.normal(0.22, 0.12), rng.uniform(0.01, 0.018), 0.2))
  for _ in range(ident.moles):
    u = rng.uniform(0.35, 0.75) * rng.choice([-1, 1])
    blobs.append((u, rng.uniform(0.1, 1.0), 0.018, 0.55))
  for bu, bv, r, dark in blobs:
    du, dv = (uu - bu) / r, (vv - bv) / r
    tex += dark * np.exp(-(dv[:, None] ** 2 + du[None, :] ** 2))
  texels_per_px = 1.0 / (geo.SCALE * res * TEX_STEP)
  tex = scipy.ndimage.gaussian_filter(tex, max(0.5, 0.6 * texels_per_px))
  out = np.clip(tex, -0.15, 0.6).astype(np.float32)
  out.setflags(write=False)
  return out


def _face_sdf(p, u: np.ndarray, v: np.ndarray):
  """Signed distance (approx., face units) to the face outline, normalised radius, u / width."""
  vn = v / np.where(v < 0, p["fht"], p["fhb"])
  w = p["fw"] * (1 - p["taper"] * _clip(vn, 0, None) ** 2)
  w = w * (1 - geo.YAW_WIDTH * p["yaw"] * np.sign(u))  # near half wider, far half narrower.
  un = u / w
  r = np.sqrt(un * un + vn * vn)
  return (r - 1) * (0.9 * p["fw"]), r, un


def _draw_body(b: _Batch, ident: Identity, skin: np.ndarray):
  fb, fw = ident.face_bot, ident.face_w
  r = b.region(-2.6, 2.6, 0.3, 3.0)
  if r is None:
    return
  u, v = r.u, r.v
  # Neck.
  d_neck = np.maximum(np.abs(u) - 0.5 * fw - 0.04 * _clip(v - fb, 0, None), 0.3 - v)
  shade = _clip(0.62 + 0.35 * (v - fb), 0.62, 0.86) * (1 - 0.12 * (u / fw) ** 2)
  r.paint(r.cov(d_neck), skin, shade)
  # Shoulders with a round neckline.
  du, dv = u / 2.3, (v - (fb + 1.25)) / 0.8
  d_sh = (np.sqrt(du * du + dv * dv) - 1) * 0.8
  nu, nv = u / 0.46, (v - (fb + 0.5)) / 0.3
  d_neckline = (np.sqrt(nu * nu + nv * nv) - 1) * 0.3
  shirt_shade = 0.85 + 0.15 * _clip(1 - np.abs(u) / 2.3, 0, 1)
  r.paint(r.cov(np.maximum(d_sh, -d_neckline)), _c(ident.shirt_color), shirt_shade)


def _hair_shade(style: str, u: np.ndarray, v: np.ndarray, s: np.ndarray) -> np.ndarray:
  """Strand/curl brightness pattern; faded out where it would alias (period < ~3 pixels)."""
  if style == "curly":
    t = np.sin(u * 31 + 2.5 * np.sin(v * 23)) + np.sin(v * 29 + 2.5 * np.sin(u * 19))
    return 0.93 + (0.06 * _clip(0.2 * s / 3.0 - 0.5, 0, 1)) * t
  return 0.9 + (0.08 * _clip(0.114 * s / 3.0 - 0.5, 0, 1)) * np.sin(u * 55 + 6 * v * v)


def _draw_back_hair(b: _Batch, ident: Identity):
  style = HAIR_STYLES[ident.hair_style]
  hair = _c(ident.hair_color)
  fw, ft = ident.face_w, ident.face_top
  if style in ("bob", "long"):
    bottom = ident.face_bot * 0.7 if style == "bob" else ident.face_bot + 1.2
    aw = fw * (1.2 if style == "bob" else 1.28)
    top = -ft * 1.12 - 0.08
    r = b.region(-aw - 0.05, aw + 0.05, top - 0.05, bottom + 0.05)
    if r is None:
      return
    vc, ah = 0.5 * (top + bottom), 0.5 * (bottom - top)
    un, vn = r.u * (1 / aw), (r.v - vc) * (1 / ah)
    un2, vn2 = un * un, vn * vn
    d = (np.sqrt(np.sqrt(un2 * un2 + vn2 * vn2 * vn2)) - 1) * min(aw, ah)
    r.paint(r.cov(d), hair * 0.8, _hair_shade(style, r.u, r.v, r.s))
  elif style == "curly":
    r0, vc = 1.42 * fw, -0.35
    r = b.region(-r0 - 0.2, r0 + 0.2, vc - r0 - 0.2, vc + r0 + 0.2)
    if r is None:
      return
    u, dv = r.u, r.v - vc
    ang = np.arctan2(dv, u)
    d = np.sqrt(u * u + dv * dv) - r0 * (1 + 0.06 * np.sin(11 * ang)) - 0.1 * _clip(dv, 0, None)
    r.paint(r.cov(d), hair * 0.85, _hair_shade(style, u, r.v, r.s))


def _hairline(ident: Identity, style: str, u: np.ndarray) -> np.ndarray:
  """v of the lower edge of the front hair at u (face units)."""
  fw, ft = ident.face_w, ident.face_top
  side = _clip(np.abs(u) * (1 / fw) - 0.62, 0, None)
  down = 4.0 * side * side  # the hair comes down at the temples.
  un2 = (u * (1 / fw)) ** 2
  if style in ("bob", "long"):
    return -0.4 * ft + 0.025 * np.sin(u * 30) + 0.1 * un2 + down
  if style == "side_part":  # parted on one side, swept down across the forehead.
    sgn = 1.0 if ident.hair_part >= 0 else -1.0
    x = _clip((sgn * u + 0.75 * fw) * (1 / (1.5 * fw)), 0, 1)
    return -ft * (0.42 + 0.36 * x * np.sqrt(x)) + down
  if style == "curly":
    return -0.6 * ft + 0.05 * np.sin(u * 20) + down
  if style == "buzz":
    return -0.72 * ft + 0.06 * un2 + down
  return -0.64 * ft + 0.08 * un2 + down  # short


def _draw_front_hair(b: _Batch, ident: Identity, skin: np.ndarray):
  style = HAIR_STYLES[ident.hair_style]
  fw, ft = ident.face_w, ident.face_top
  aw, ah, vc = fw * 1.08, ft * 1.1 + 0.06, -0.02
  r = b.region(-aw - 0.08, aw + 0.08, vc - ah - 0.08, 0.4)
  if r is None:
    return
  u, v = r.u, r.v
  un, vn = u * (1 / aw), (v - vc) * (1 / ah)
  d_cap = (np.sqrt(un * un + vn * vn) - 1) * min(aw, ah)
  if style == "curly":
    d_cap -= 0.05 * (1 + np.sin(9 * un + 3 * vn))
  # Hair below the hairline only off the face (the sides of the head, above the ears).
  d_face = _face_sdf(r.p, u, v)[0]
  d_side = np.maximum(-d_face, v - (r.p["ey"] - 0.12))
  d = np.maximum(np.maximum(d_cap, np.minimum(v - _hairline(ident, style, u), d_side)), v - 0.15)
  hair = _c(ident.hair_color)
  if style == "buzz":
    hair = 0.55 * hair + 0.45 * skin * 0.8
  r.paint(r.cov(d), hair, _hair_shade(style, u, v, r.s))


def _soft_ellipse(b: _Batch, cu, cv, ru: float, rv: float, amount, color, sel=None):
  """Soft elliptic blob (alpha amount * (1 - r^2)^2); cu, cv, amount scalars or [k]."""
  r = b.region(
    np.asarray(cu) - ru, np.asarray(cu) + ru, np.asarray(cv) - rv, np.asarray(cv) + rv, sel
  )
  if r is None:
    return
  fr = r.frames
  cu_, cv_, am = (
    np.broadcast_to(np.asarray(x, np.float32), (b.k,))[fr].reshape(-1, 1, 1)
    for x in (cu, cv, amount)
  )
  du, dv = (r.u - cu_) * (1 / ru), (r.v - cv_) * (1 / rv)
  a = _clip(1 - (du * du + dv * dv), 0, None)
  r.paint((am * a) * a, color)


def _draw_ears(b: _Batch, skin: np.ndarray):
  g = b.g
  ev = g["ey"] + 0.1
  for side in (-1, 1):
    eu = side * (g["fw"] * (1 - geo.YAW_WIDTH * g["yaw"] * side) - 0.03) + g["ear_u"]
    r = b.region(eu - 0.16, eu + 0.16, ev - 0.28, ev + 0.28)
    if r is None:
      continue
    p = r.p
    eu = side * (p["fw"] * (1 - geo.YAW_WIDTH * p["yaw"] * side) - 0.03) + p["ear_u"]
    du = (r.u - eu) * (1 / 0.14)
    dv = (r.v - p["ey"] - 0.1) * (1 / 0.25)
    rr = np.sqrt(du * du + dv * dv)
    r.paint(r.cov((rr - 1) * 0.14), skin * 0.9)
    r.paint(r.line(np.abs(rr - 0.6) * 0.14, 1.0) * 0.5, skin * 0.7)


def _draw_face(b: _Batch, skin: np.ndarray, detail: np.ndarray):
  g = b.g
  fw = g["fw"] * (1 + geo.YAW_WIDTH * np.abs(g["yaw"]))
  r = b.region(-fw - 0.05, fw + 0.05, -g["fht"] - 0.05, g["fhb"] + 0.05)
  if r is None:
    return
  u, v, p = r.u, r.v, r.p
  d, rad, un = _face_sdf(p, u, v)
  r2 = rad * rad
  # Soft directional light from the upper left, darker rim, a little shadow under the nose line.
  shade = 1.07 - 0.22 * r2 * r2 - 0.06 * un - 0.03 * _clip(v - p["ny"], 0, None)
  iu = ((u - TEX_U0) * (1 / TEX_STEP)).astype(np.intp)
  iv = ((v - TEX_V0) * (1 / TEX_STEP)).astype(np.intp)
  np.clip(iu, 0, TEX_SHAPE[1] - 1, out=iu)
  np.clip(iv, 0, TEX_SHAPE[0] - 1, out=iv)
  shade *= 1 - detail[iv, iu]
  r.paint(r.cov(d), skin, shade)


def _draw_cheeks(b: _Batch, skin: np.ndarray):
  g = b.g
  amt = np.clip(0.1 + 0.3 * g["w_cheek"] + g["cheek_full"], 0.0, 0.6)
  hi = 0.25 * g["w_cheek"]
  blush = skin * np.array((1.02, 0.78, 0.78), np.float32)
  lift = 0.06 * g["w_cheek"]
  for side in (-1, 1):
    cu = side * 0.55 * g["fw"] + 0.35 * g["yaw"]
    _soft_ellipse(b, cu, g["ny"] - 0.05 - lift, 0.24, 0.16, amt, blush)
    # A highlight on the raised cheek.
    _soft_ellipse(b, cu, g["ny"] - 0.12 - lift, 0.13, 0.07, hi, skin * 1.12, sel=hi > 0.003)


def _line_family(w: np.ndarray, n: int) -> np.ndarray:
  """Distance (in units of the spacing) from w to the nearest of the lines w = 0, 1, .., n-1."""
  return np.abs(w - _clip(np.round(w), 0, n - 1))


def _draw_wrinkles(b: _Batch, skin: np.ndarray):
  g = b.g
  dark = skin * 0.62
  lw = np.maximum(1.0, 0.012 * b.t["s"])  # line width in pixels, [k, 1, 1].
  # Forehead lines (brow raise, inner brow raise): three arcs 0.085 apart.
  v_top = 0.5 * (g["b_in_v"] + g["b_out_v"]) - 0.2
  r = b.region(
    g["b_shift"] - 0.6, g["b_shift"] + 0.6, v_top - 0.3, v_top + 0.12, g["w_fore"] > 0.02
  )
  if r is not None:
    p = r.p
    x = (r.u - p["b_shift"]) * (1 / 0.55)
    x2 = x * x
    vt = 0.5 * (p["b_in_v"] + p["b_out_v"]) - 0.2
    dist = _line_family((vt + 0.06 * x2 - r.v) * (1 / 0.085), 3) * 0.085
    r.paint(r.line(dist, lw[r.frames]) * (_clip(1 - x2, 0, None) * (0.75 * p["w_fore"])), dark)
  # Frown lines (brow furrow): two vertical lines between the brows.
  v0 = g["b_in_v"] - 0.06
  r = b.region(g["bridge_u"] - 0.15, g["bridge_u"] + 0.15, v0 - 0.02, v0 + 0.2, g["w_frown"] > 0.02)
  if r is not None:
    p = r.p
    t = _clip((r.v - p["b_in_v"] + 0.06) * (1 / 0.17), 0, 1)
    fade = np.sqrt(_clip(t * (1 - t) * 4, 0, 1)) * (0.8 * p["w_frown"])
    dist = np.abs(np.abs(r.u - p["bridge_u"]) - (0.06 - 0.015 * t))
    r.paint(r.line(dist, lw[r.frames]) * fade, dark)
  # Nasolabial folds (smile, cheek raise, upper lip raise; stronger on the side of a one-sided
  # smile): from the nose wings curving out past the mouth corners.
  for side, cu, cvn in ((-1, "ml_u", "ml_v"), (1, "mr_u", "mr_v")):
    u0 = g["nx"] + side * (g["nw"] + 0.035)
    u1 = g[cu] + side * 0.07
    v0, v1 = g["ny"] - 0.02, g[cvn] + 0.1
    umin, umax = np.minimum(u0, u1) - 0.1, np.maximum(u0, u1) + 0.1
    r = b.region(umin, umax, v0 - 0.02, v1 + 0.02, g["w_naso"] > 0.02)
    if r is None:
      continue
    p = r.p
    u0 = p["nx"] + side * (p["nw"] + 0.035)
    u1 = p[cu] + side * 0.07
    v0, v1 = p["ny"] - 0.02, p[cvn] + 0.1
    t = _clip((r.v - v0) / (v1 - v0), 0, 1)
    st = np.sin(np.pi * t)
    curve = u0 + (u1 - u0) * t + side * 0.05 * st
    amt = p["w_naso"] * _clip(1.0 + 0.5 * side * p["naso_asym"], 0, 1.2)
    fade = np.sqrt(_clip(st, 0, 1)) * (0.7 * amt)
    r.paint(r.line(np.abs(r.u - curve), lw[r.frames]) * fade, dark)
  # Nose wrinkle lines across the bridge: three arcs 0.045 apart.
  bu = 0.5 * (g["bridge_u"] + g["nx"])
  v0 = g["ey"] + 0.04
  r = b.region(bu - 0.12, bu + 0.12, v0 - 0.02, v0 + 0.16, g["w_nose"] > 0.02)
  if r is not None:
    p = r.p
    x = (r.u - 0.5 * (p["bridge_u"] + p["nx"])) * (1 / 0.11)
    x2 = x * x
    dist = _line_family((r.v - p["ey"] - 0.04 - 0.03 * x2) * (1 / 0.045), 3) * 0.045
    r.paint(r.line(dist, lw[r.frames]) * (_clip(1 - x2, 0, None) * (0.8 * p["w_nose"])), dark)
  # Crow's feet at the outer eye corners (smile with cheek raise): three short rays.
  for side, exn, ewn in ((-1, "ex_l", "ew_l"), (1, "ex_r", "ew_r")):
    cu = g[exn] + side * (g[ewn] + 0.03)
    lo, hi = (cu - 0.1, cu + 0.02) if side < 0 else (cu - 0.02, cu + 0.1)
    r = b.region(lo, hi, g["ey"] - 0.08, g["ey"] + 0.08, g["w_crow"] > 0.02)
    if r is None:
      continue
    p = r.p
    du = (r.u - (p[exn] + side * (p[ewn] + 0.03))) * side
    fade = (
      _clip(du * (1 / 0.02), 0, 1) * _clip((0.09 - du) * (1 / 0.03), 0, 1) * (0.6 * p["w_crow"])
    )
    ray = (r.v - p["ey"]) / np.maximum(du, 1e-3)  # slope of the ray through the pixel.
    dist = _line_family((ray + 0.5) * 2.0, 3) * 0.5 * du
    r.paint(r.line(dist, lw[r.frames]) * fade, dark)
  # Chin crease (lip press, lip corner depress).
  vc = g["my"] + g["gap_lo"] + g["lip_lo"] + 0.08
  r = b.region(g["mx"] - 0.16, g["mx"] + 0.16, vc - 0.04, vc + 0.04, g["w_chin"] > 0.02)
  if r is not None:
    p = r.p
    x = (r.u - p["mx"]) * (1 / 0.14)
    x2 = x * x
    vcp = p["my"] + p["gap_lo"] + p["lip_lo"] + 0.08
    fade = _clip(1 - x2, 0, None) * (0.6 * p["w_chin"])
    r.paint(r.line(np.abs(r.v - vcp + 0.025 * x2), lw[r.frames]) * fade, dark)


def _draw_brows(b: _Batch, color: np.ndarray):
  g = b.g
  xi, xo, bs = g["b_in_u"], g["b_out_u"], g["b_shift"]
  vi, vo, arch = g["b_in_v"], g["b_out_v"], g["b_arch"]
  v0 = np.minimum(np.minimum(vi, vo), vi - arch) - 0.1
  v1 = np.maximum(vi, vo) + 0.08
  for side in (-1, 1):
    if side < 0:
      r = b.region(bs - xo - 0.06, bs - xi + 0.06, v0, v1)
    else:
      r = b.region(bs + xi - 0.06, bs + xo + 0.06, v0, v1)
    if r is None:
      continue
    p = r.p
    pxi, pvi, pvo, parch = p["b_in_u"], p["b_in_v"], p["b_out_v"], p["b_arch"]
    length = p["b_out_u"] - pxi
    x = (side * (r.u - p["b_shift"]) - pxi) / length
    xc = _clip(x, 0, 1)
    vcurve = pvi + (pvo - pvi) * xc - parch * 4 * xc * (1 - xc)
    slope = ((pvo - pvi) - parch * 4 * (1 - 2 * xc)) / length
    th = p["b_thick"] * (1.25 - 0.65 * xc)
    d = (np.abs(r.v - vcurve) - th) / np.sqrt(1 + slope * slope)
    d = np.maximum(d, np.maximum(-x, x - 1) * length)
    r.paint(r.cov(d) * 0.92, color)


def _draw_eyes(b: _Batch, ident: Identity, skin: np.ndarray):
  g = b.g
  iris_c = _c(ident.eye_color)
  for side, exn, ewn in ((-1, "ex_l", "ew_l"), (1, "ex_r", "ew_r")):
    ex, ew = g[exn], g[ewn]
    r = b.region(
      ex - ew - 0.05, ex + ew + 0.05, g["ey"] - 2.2 * g["h0"] - 0.06, g["ey"] + g["hl"] + 0.05
    )
    if r is None:
      continue
    p, u, v = r.p, r.u, r.v
    ex, ew, ey, h0, hu, hl = p[exn], p[ewn], p["ey"], p["h0"], p["hu"], p["hl"]
    x = (u - ex) / ew
    xc = _clip(x, -1, 1)
    q = _clip(1 - xc * xc, 0, None)
    sx = side * xc
    base = ey - 0.018 * sx  # outer corners slightly higher.
    up = base - hu * q * (1 - 0.15 * sx)
    lo = base + hl * q * (1 + 0.1 * sx)
    outside = (np.abs(x) - 1) * ew
    # Lid crease above the eye.
    crease = base - (h0 * (1.1 + 0.5 * p["lid_crease"]) + 0.02) * q
    # Upper lid skin (a little darker between lashes and crease), crease, under-eye line.
    band = _clip(1 - np.abs(v - 0.5 * (up + crease)) / (0.5 * np.abs(up - crease) + 1e-3), 0, 1)
    r.paint(band * (0.3 * q), skin * 0.8)
    r.paint(r.line(np.abs(v - crease), 1.0) * (0.35 * q), skin * 0.7)
    r.paint(r.line(np.abs(v - lo - 0.035 - 0.2 * hl), 1.0) * (0.15 * q), skin * 0.7)
    # Eye opening: sclera, iris, pupil, highlight (faded out as the lids meet).
    openness = _clip((hu + hl) * (1 / 0.004), 0, 1)
    a_open = r.cov(np.maximum(np.maximum(up - v, v - lo), outside)) * openness
    lid_shadow = _clip((v - up) / (0.5 * h0 + 1e-6), 0, 1)
    shade = (0.72 + 0.28 * lid_shadow) * (1 - 0.15 * xc * xc)
    r.paint(a_open, _SCLERA, shade)
    ir = p["iris_r"]
    du = u - (ex + p["gaze_x"] * ew)
    dv = v - (ey + 0.1 * h0 + p["gaze_y"] * h0)
    rr = np.sqrt(du * du + dv * dv)
    rn = rr / ir
    ishade = (1.15 - 0.55 * rn * rn) * (0.75 + 0.25 * lid_shadow)
    r.paint(r.cov(rr - ir) * a_open, iris_c, ishade)
    r.paint(r.cov(rr - 0.45 * ir) * a_open, _BLACK)
    du += 0.35 * ir
    dv += 0.35 * ir
    r.paint(r.cov(np.sqrt(du * du + dv * dv) - 0.2 * ir) * (0.9 * a_open), _WHITE)
    # Upper lid line with lashes (thicker at the outer corner), faint lower lid line.
    th = 0.01 + 0.012 * _clip(side * x, 0, 1)
    r.paint(r.cov(np.maximum(np.abs(v - up) - th, (np.abs(x) - 1.04) * ew)), _LASH)
    r.paint(r.cov(np.maximum(np.abs(v - lo) - 0.004, outside)) * 0.35, skin * 0.55)


def _draw_nose(b: _Batch, skin: np.ndarray):
  g = b.g
  # Side shadow along the bridge (light from the upper left).
  r = b.region(
    np.minimum(g["bridge_u"], g["nx"]) - 0.02,
    np.maximum(g["bridge_u"], g["nx"]) + 0.14,
    g["ey"] + 0.05,
    g["ny"] + 0.02,
  )
  if r is not None:
    p = r.p
    bu, ey, ny = p["bridge_u"], p["ey"], p["ny"]
    t = (r.v - ey) / (ny - ey)
    inside = (t >= 0.0) & (t <= 1.0)
    a = _clip(1 - np.abs(r.u - (bu + 0.05 + (p["nx"] - bu + 0.04) * t)) * (1 / 0.04), 0, 1)
    r.paint(np.where(inside, a * (0.25 * t), 0.0), skin * 0.7)
  r = b.region(g["nx"] - g["nw"] - 0.05, g["nx"] + g["nw"] + 0.05, g["ny"] - 0.1, g["ny"] + 0.1)
  if r is None:
    return
  p = r.p
  nx, ny, nw = p["nx"], p["ny"], p["nw"]
  ax = np.abs(r.u - nx)  # the nose is symmetric about its centre line.
  x2 = ax * ax / (nw * nw)
  # Tip highlight.
  dv = (r.v - ny + 0.01) * (1 / 0.05)
  r.paint(0.25 * _clip(1 - 4 * x2 - dv * dv, 0, None), skin * 1.15)
  # Wings: arcs around the nostrils.
  du, dv = ax - 0.78 * nw, r.v - ny
  rr = np.sqrt(du * du + dv * dv)
  mask = _clip(du * (1 / 0.02) + 0.5, 0, 1)
  r.paint(r.line(np.abs(rr - 0.055), 1.0) * mask * 0.55, skin * 0.6)
  # Nostrils.
  du, dv = (ax - 0.42 * nw) / (0.3 * nw), (r.v - ny - 0.035) * (1 / 0.018)
  r.paint(r.cov((np.sqrt(du * du + dv * dv) - 1) * 0.018) * 0.85, skin * 0.3)
  # Base line under the tip.
  a = r.line(np.abs(r.v - ny - 0.045 - 0.02 * x2), 1.0) * _clip(1 - x2, 0, None)
  r.paint(a * 0.35, skin * 0.55)


def _draw_beard(b: _Batch, ident: Identity, skin: np.ndarray):
  """Stubble on the jaw, chin and upper lip; optionally a moustache. Follows the jaw."""
  kind = BEARDS[ident.beard]
  if kind == "none":
    return
  g = b.g
  fw = g["fw"] * (1 + geo.YAW_WIDTH * np.abs(g["yaw"]))
  r = b.region(-fw - 0.02, fw + 0.02, g["ny"] - 0.25, g["fhb"] + 0.02)
  if r is not None:
    p = r.p
    d, _, un = _face_sdf(p, r.u, r.v)
    top = p["ny"] + 0.02 - 0.3 * un * un  # rises towards the sideburns.
    a = _clip((r.v - top) * (1 / 0.12), 0, 1) * r.cov(d + 0.015) * 0.22
    r.paint(a, 0.35 * _c(ident.hair_color) + 0.65 * skin * 0.7)
  if kind == "moustache":
    mw = 0.5 * (g["mr_u"] - g["ml_u"])
    vc = g["m_center_v"] - g["gap_up"] - 0.6 * g["lip_up"] - 0.04
    r = b.region(g["mx"] - mw - 0.08, g["mx"] + mw + 0.08, vc - 0.08, vc + 0.08)
    if r is None:
      return
    p = r.p
    mw = 0.5 * (p["mr_u"] - p["ml_u"]) + 0.05
    vc = p["m_center_v"] - p["gap_up"] - 0.6 * p["lip_up"] - 0.04
    x = (r.u - p["mx"]) / mw
    th = 0.035 * (1 - 0.5 * x * x) * (1 - 0.3 * np.exp(-((x * (1 / 0.12)) ** 2)))
    d = np.maximum(np.abs(r.v - vc - 0.03 * x * x) - th, (np.abs(x) - 1) * mw)
    r.paint(r.cov(d) * 0.95, _c(ident.hair_color) * 0.9)


def _draw_mouth(b: _Batch, ident: Identity):
  g = b.g
  top = np.minimum(np.minimum(g["ml_v"], g["mr_v"]), g["m_center_v"]) - g["gap_up"] - g["lip_up"]
  bottom = np.maximum(np.maximum(g["ml_v"], g["mr_v"]), g["m_center_v"]) + g["gap_lo"] + g["lip_lo"]
  r = b.region(g["ml_u"] - 0.05, g["mr_u"] + 0.05, top - 0.04, bottom + 0.04)
  if r is None:
    return
  p, u, v = r.p, r.u, r.v
  ul, ur = p["ml_u"], p["mr_u"]
  half = 0.5 * (ur - ul)
  x = (u - 0.5 * (ul + ur)) / half
  _, mid, iup, ilo, oup, olo = geo.mouth_curves(p, x)
  outside = (np.abs(x) - 1) * half
  lip = _c(ident.lip_color)
  # Lips: upper darker, lower lighter with a highlight.
  d_lips = np.maximum(np.maximum(oup - v, v - olo), outside)
  glow = _clip(1 - 4 * np.abs(v - 0.5 * (ilo + olo)) / (olo - ilo + 1e-3), 0, 1)
  lshade = np.where(v < mid, np.float32(0.82), 1.0 + 0.12 * glow)
  r.paint(r.cov(d_lips), lip, lshade)
  # Line between closed lips, darker mouth corners.
  r.paint(r.cov(np.maximum(np.abs(v - mid) - 0.004, outside)) * 0.8, lip * 0.4)
  dc, dm = (np.abs(x) - 1.0) * half * (1 / 0.03), (v - mid) * (1 / 0.02)
  r.paint(_clip(1 - dc * dc - dm * dm, 0, None) * 0.4, lip * 0.35)
  # Opening (faded out as the lips close): cavity, tongue, lower and upper teeth.
  sel = (g["gap_up"] + g["gap_lo"]) >= 1e-4
  if not sel.any():
    return
  openness = _clip((p["gap_up"] + p["gap_lo"]) * (1 / 0.003), 0, 1)
  a_open = r.cov(np.maximum(np.maximum(iup - v, v - ilo), outside)) * openness
  depth = _clip((v - iup) / (ilo - iup + 1e-3), 0, 1)
  r.paint(a_open, _CAVITY, 0.6 + 0.4 * depth)
  tv = p["m_center_v"] + p["gap_lo"] + 0.01
  du, dv = x * (1 / 0.62), (v - tv) / (0.06 + 0.25 * p["gap_lo"])
  rt = np.sqrt(du * du + dv * dv)
  r.paint(r.cov((rt - 1) * 0.05) * a_open, _TONGUE, 1.05 - 0.25 * rt)
  # Teeth: narrower towards the corners (the dental arch is curved).
  theta = np.arcsin(_clip(x * 0.92, -1, 1)) * (2 / np.pi)
  ts = 1 - 0.45 * x * x
  for upper, n in ((False, 4.0), (True, 3.2)):
    k = theta * n
    fr = k - np.floor(k)
    e = 2 * fr - 1
    if upper:  # lower edge of the upper row, rounded corners; scalloped gums above.
      gum = p["teeth_up"] - 0.1 + 0.018 * (1 - e * e)
      r.paint(r.cov(np.maximum(v - gum - 0.01, np.abs(theta) - 0.95)) * a_open, _GUM, ts)
      d = np.maximum(v - (p["teeth_up"] - 0.012 * e * e), gum - v)
      extent = np.abs(theta) - 0.9
    else:  # upper edge of the lower row; gums below.
      gum = p["teeth_lo"] + 0.085 - 0.015 * (1 - e * e)
      r.paint(r.cov(np.maximum(gum - 0.01 - v, np.abs(theta) - 0.8)) * a_open, _GUM * 0.9, ts)
      d = np.maximum((p["teeth_lo"] + 0.01 * e * e) - v, v - gum)
      extent = np.abs(theta) - 0.75
    d = np.maximum(d, extent * half)
    sep = np.minimum(fr, 1 - fr) * (half * r.s / n * (1 - x * x + 0.2))
    shade = ts * (0.7 + 0.3 * _clip(sep, 0, 1))
    r.paint(r.cov(d) * a_open, _TEETH if upper else _TEETH * 0.92, shade)


def render_frames(ident: Identity, g: dict, res: int) -> np.ndarray:
  """Renders every frame of a geometry dict (geometry.face_geometry). Returns uint8 [T, H, W, 3]."""
  n = len(g["s"])
  out = np.empty((n, res, res, 3), np.uint8)
  bg = background(ident, res)
  skin = _c(ident.skin)
  brow = _c(ident.brow_color)
  detail = skin_detail(ident, res)
  chunk = max(1, _CHUNK_PIXELS // (res * res))
  for t0 in range(0, n, chunk):
    t1 = min(n, t0 + chunk)
    imgs = np.empty((3, t1 - t0, res, res), np.float32)
    imgs[:] = bg[:, None]
    b = _Batch(imgs, {k: v[t0:t1] for k, v in g.items()}, res)
    _soft_ellipse(b, 0.0, b.g["fhb"] + 0.02, 0.55, 0.2, 0.45, skin * 0.45)  # chin shadow
    _draw_back_hair(b, ident)
    _draw_ears(b, skin)
    _draw_face(b, skin, detail)
    _draw_front_hair(b, ident, skin)
    _draw_cheeks(b, skin)
    _draw_wrinkles(b, skin)
    _draw_brows(b, brow)
    _draw_eyes(b, ident, skin)
    _draw_nose(b, skin)
    _draw_beard(b, ident, skin)
    _draw_mouth(b, ident)
    b.commit()
    imgs *= 255.0
    imgs += 0.5
    np.clip(imgs, 0.0, 255.0, out=imgs)
    out[t0:t1] = np.moveaxis(imgs, 0, -1)
  return out
