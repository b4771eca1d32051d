"""The renderer of the synthetic world: (identity, exp, pose) -> uint8 frames.

Vectorised numpy: every feature is a signed distance (face units) evaluated only inside its own
small pixel box, turned into coverage with a one-pixel linear ramp (anti-aliased edges) and
alpha-composited over a per-identity cached background. Layers, back to front: background,
shoulders, back hair, neck, ears, face (shaded), front hair, cheeks, wrinkles and folds, brows,
eyes, nose, mouth (lips, cavity, tongue, lower and upper teeth rows).
"""

from __future__ import annotations

import functools

import numpy as np

from flowvq_jax.world import geometry as geo
from flowvq_jax.world.identity import BEARDS, BG_PATTERNS, HAIR_STYLES, Identity

_SCLERA = np.array((0.95, 0.93, 0.9), np.float32)
_LASH = np.array((0.1, 0.07, 0.06), np.float32)
_CAVITY = np.array((0.28, 0.06, 0.07), np.float32)
_TONGUE = np.array((0.78, 0.36, 0.38), np.float32)
_TEETH = np.array((0.97, 0.95, 0.88), np.float32)
_WHITE = np.array((1.0, 1.0, 1.0), np.float32)
_BLACK = np.array((0.03, 0.02, 0.02), np.float32)


def _clip(a, lo, hi):
  """np.clip without its Python-level overhead (it matters for many small arrays)."""
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


@functools.lru_cache(maxsize=512)
def background(ident: Identity, res: int) -> np.ndarray:
  """[res, res, 3] float32 static layer of an identity: backdrop and torso (cached, read-only)."""
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
  out = np.ascontiguousarray(out, dtype=np.float32)
  # The torso (shoulders, neck) is static: the head moves over it.
  rest = {"s": geo.SCALE * res, "cx": 0.5 * res, "cy": geo.CENTER_Y * res, "cos": 1.0, "sin": 0.0}
  _draw_body(_Canvas(out, rest, res), ident, _c(ident.skin))
  out.setflags(write=False)
  return out


class _Canvas:
  """One frame being painted: float32 [H, W, 3] image plus the face-unit <-> pixel transform."""

  def __init__(self, img: np.ndarray, f: dict, res: int):
    self.img, self.f, self.res = img, f, res
    self.xs = _axis(res)
    self.s = f["s"]
    self.set_rotation(f["cos"], f["sin"])

  def set_rotation(self, c: float, sn: float):
    f, s = self.f, self.f["s"]
    self.c, self.sn = c, sn
    self.ax, self.ay = c / s, sn / s
    self.bx, self.by = -sn / s, c / s
    self.a0 = -(self.ax * f["cx"] + self.ay * f["cy"])
    self.b0 = -(self.bx * f["cx"] + self.by * f["cy"])

  def box(self, u0: float, u1: float, v0: float, v1: float):
    """Pixel slices covering the face-unit box [u0, u1] x [v0, v1], or None if off-screen."""
    f, s, c, sn = self.f, self.s, self.c, self.sn
    xs = [f["cx"] + s * (u * c - v * sn) for u in (u0, u1) for v in (v0, v1)]
    ys = [f["cy"] + s * (u * sn + v * c) for u in (u0, u1) for v in (v0, v1)]
    x0, x1 = max(int(min(xs)) - 1, 0), min(int(max(xs)) + 2, self.res)
    y0, y1 = max(int(min(ys)) - 1, 0), min(int(max(ys)) + 2, self.res)
    if x0 >= x1 or y0 >= y1:
      return None
    return (slice(y0, y1), slice(x0, x1))

  def uv(self, box):
    """(U, V) face coordinates [h, w] of the pixel centres in `box`."""
    xs, ys = self.xs[box[1]], self.xs[box[0]]
    u = (self.ax * xs + self.a0)[None, :] + (self.ay * ys)[:, None]
    v = (self.bx * xs + self.b0)[None, :] + (self.by * ys)[:, None]
    return u, v

  def cov(self, d: np.ndarray) -> np.ndarray:
    """Coverage of a signed distance d (face units, negative inside): one-pixel ramp."""
    a = d * (-self.s)
    a += 0.5
    np.maximum(a, 0.0, out=a)
    return np.minimum(a, 1.0, out=a)

  def paint(self, box, alpha: np.ndarray, color):
    sub = self.img[box]
    sub += alpha[..., None] * (color - sub)

  def line_alpha(self, dist: np.ndarray, width_px: float) -> np.ndarray:
    """Coverage of a line of `width_px` pixels at unsigned distance `dist` (face units)."""
    a = dist * (-self.s)
    a += 0.5 + 0.5 * width_px
    np.maximum(a, 0.0, out=a)
    return np.minimum(a, 1.0, out=a)


def _face_sdf(f: dict, u: np.ndarray, v: np.ndarray):
  """Signed distance (approx., face units) to the face outline, and the normalised radius."""
  vn = v / np.where(v < 0, f["fht"], f["fhb"])
  w = f["fw"] * (1 - f["taper"] * _clip(vn, 0, None) ** 2)
  un = u / w
  r = np.sqrt(un * un + vn * vn)
  return (r - 1) * (0.9 * f["fw"]), r, un


def _draw_body(cv: _Canvas, ident: Identity, skin: np.ndarray):
  fb = ident.face_bot
  box = cv.box(-2.6, 2.6, 0.3, 3.0)
  if box is not None:
    u, v = cv.uv(box)
    # Neck.
    d_neck = np.maximum(np.abs(u) - 0.5 * ident.face_w - 0.04 * _clip(v - fb, 0, None), 0.3 - v)
    shade = _clip(0.62 + 0.35 * (v - fb), 0.62, 0.86) * (1 - 0.12 * (u / ident.face_w) ** 2)
    shade = shade[..., None]
    cv.paint(box, cv.cov(d_neck), skin * shade)
    # Shoulders with a round neckline.
    du, dv = u / 2.3, (v - (fb + 1.25)) / 0.8
    d_sh = (np.sqrt(du * du + dv * dv) - 1) * 0.8
    nu, nv = u / 0.46, (v - (fb + 0.5)) / 0.3
    d_neckline = (np.sqrt(nu * nu + nv * nv) - 1) * 0.3
    d_shirt = np.maximum(d_sh, -d_neckline)
    shirt = _c(ident.shirt_color) * (0.85 + 0.15 * _clip(1 - np.abs(u) / 2.3, 0, 1))[..., None]
    cv.paint(box, cv.cov(d_shirt), shirt)


def _hair_shade(style: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  if style == "curly":
    t = np.sin(u * 31 + 2.5 * np.sin(v * 23)) + np.sin(v * 29 + 2.5 * np.sin(u * 19))
    return (0.93 + 0.06 * t)[..., None]
  return (0.9 + 0.08 * np.sin(u * 55 + 6 * v * v))[..., None]


def _draw_back_hair(cv: _Canvas, ident: Identity):
  f = cv.f
  style = HAIR_STYLES[ident.hair_style]
  hair = _c(ident.hair_color)
  fw, ft = ident.face_w, ident.face_top
  if style in ("bob", "long"):
    bottom = ident.face_bot * (0.7 if style == "bob" else 1.0) + (0.0 if style == "bob" else 1.2)
    aw = fw * (1.2 if style == "bob" else 1.28)
    top = -ft * 1.12 - 0.08
    box = cv.box(-aw - 0.05, aw + 0.05, top - 0.05, bottom + 0.05)
    if box is None:
      return
    u, v = cv.uv(box)
    vc, ah = 0.5 * (top + bottom), 0.5 * (bottom - top)
    un, vn = u / aw, (v - vc) / ah
    un2, vn2 = un * un, vn * vn
    d = (np.sqrt(np.sqrt(un2 * un2 + vn2 * vn2 * vn2)) - 1) * min(aw, ah)
    cv.paint(box, cv.cov(d), hair * 0.8 * _hair_shade(style, u, v))
  elif style == "curly":
    r0 = 1.42 * fw
    vc = -0.35
    box = cv.box(-r0 - 0.2, r0 + 0.2, vc - r0 - 0.2, vc + r0 + 0.2)
    if box is None:
      return
    u, v = cv.uv(box)
    dv = v - vc
    ang = np.arctan2(dv, u)
    r = np.sqrt(u * u + dv * dv)
    d = r - r0 * (1 + 0.06 * np.sin(11 * ang)) - 0.1 * _clip(dv, 0, None)
    cv.paint(box, cv.cov(d), hair * 0.85 * _hair_shade(style, u, v))
  del f


def _hairline(ident: Identity, style: str, u: np.ndarray) -> np.ndarray:
  """v of the lower edge of the front hair at u (face units)."""
  fw, ft = ident.face_w, ident.face_top
  side = _clip(np.abs(u) / fw - 0.62, 0, None)
  down = 4.0 * side * side  # the hair comes down at the temples.
  if style in ("bob", "long"):
    return -0.4 * ft + 0.025 * np.sin(u * 30) + 0.1 * (u / fw) ** 2 + down
  if style == "side_part":  # parted on one side, swept down across the forehead.
    sgn = 1.0 if ident.hair_part >= 0 else -1.0
    x = _clip((sgn * u + 0.75 * fw) / (1.5 * fw), 0, 1)
    return -ft * (0.42 + 0.36 * x * np.sqrt(x)) + down
  if style == "curly":
    return -0.6 * ft + 0.05 * np.sin(u * 20) + down
  if style == "buzz":
    return -0.72 * ft + 0.06 * (u / fw) ** 2 + down
  return -0.64 * ft + 0.08 * (u / fw) ** 2 + down  # short


def _draw_front_hair(cv: _Canvas, ident: Identity, skin: np.ndarray):
  style = HAIR_STYLES[ident.hair_style]
  fw, ft = ident.face_w, ident.face_top
  aw, ah, vc = fw * 1.08, ft * 1.1 + 0.06, -0.02
  box = cv.box(-aw - 0.08, aw + 0.08, vc - ah - 0.08, 0.4)
  if box is None:
    return
  u, v = cv.uv(box)
  un, vn = u / aw, (v - vc) / ah
  d_cap = (np.sqrt(un * un + vn * vn) - 1) * min(aw, ah)
  if style == "curly":
    d_cap -= 0.05 * (1 + np.sin(9 * un + 3 * vn))
  d = np.maximum(d_cap, v - _hairline(ident, style, u))
  d = np.maximum(d, v - 0.15)
  hair = _c(ident.hair_color)
  if style == "buzz":
    hair = 0.55 * hair + 0.45 * skin * 0.8
  cv.paint(box, cv.cov(d), hair * _hair_shade(style, u, v))


def _draw_ears(cv: _Canvas, f: dict, skin: np.ndarray):
  for side in (-1, 1):
    eu = side * (f["fw"] - 0.03) + f["ear_u"]
    ev = f["ey"] + 0.1
    box = cv.box(eu - 0.16, eu + 0.16, ev - 0.28, ev + 0.28)
    if box is None:
      continue
    u, v = cv.uv(box)
    du, dv = (u - eu) / 0.14, (v - ev) / 0.25
    r = np.sqrt(du * du + dv * dv)
    cv.paint(box, cv.cov((r - 1) * 0.14), skin * 0.9)
    ring = cv.line_alpha(np.abs(r - 0.6) * 0.14, 1.0) * 0.5
    cv.paint(box, ring, skin * 0.7)


def _draw_face(cv: _Canvas, f: dict, skin: np.ndarray):
  fw = f["fw"]
  box = cv.box(-fw - 0.05, fw + 0.05, -f["fht"] - 0.05, f["fhb"] + 0.05)
  if box is None:
    return
  u, v = cv.uv(box)
  d, r, un = _face_sdf(f, u, v)
  r2 = r * r
  # Soft directional light from the upper left, darker rim, a little shadow under the jaw line.
  shade = 1.07 - 0.22 * r2 * r2 - 0.06 * un - 0.03 * _clip(v - f["ny"], 0, None)
  cv.paint(box, cv.cov(d), skin * shade[..., None])


def _soft_ellipse(cv: _Canvas, cu, cv_, ru, rv, amount, color):
  if amount <= 0.003:
    return
  box = cv.box(cu - ru, cu + ru, cv_ - rv, cv_ + rv)
  if box is None:
    return
  u, v = cv.uv(box)
  du, dv = (u - cu) / ru, (v - cv_) / rv
  a = _clip(1 - (du * du + dv * dv), 0, None)
  cv.paint(box, (amount * a) * a, color)


def _draw_cheeks(cv: _Canvas, f: dict, skin: np.ndarray):
  amt = min(max(0.1 + 0.3 * f["w_cheek"] + f["cheek_full"], 0.0), 0.6)
  blush = skin * np.array((1.02, 0.78, 0.78), np.float32)
  lift = 0.06 * f["w_cheek"]
  for side in (-1, 1):
    cu = side * 0.55 * f["fw"] + 0.35 * f["yaw"]
    _soft_ellipse(cv, cu, f["ny"] - 0.05 - lift, 0.24, 0.16, amt, blush)
    # A highlight on the raised cheek.
    _soft_ellipse(cv, cu, f["ny"] - 0.12 - lift, 0.13, 0.07, 0.25 * f["w_cheek"], skin * 1.12)


def _draw_wrinkles(cv: _Canvas, f: dict, skin: np.ndarray):
  dark = skin * 0.62
  lw = max(1.0, 0.012 * cv.s)  # line width in pixels.
  # Forehead lines (brow raise, inner brow raise).
  a = f["w_fore"]
  if a > 0.02:
    v_top = 0.5 * (f["b_in_v"] + f["b_out_v"]) - 0.2
    box = cv.box(-0.6 + f["b_shift"], 0.6 + f["b_shift"], v_top - 0.3, v_top + 0.12)
    if box is not None:
      u, v = cv.uv(box)
      x = (u - f["b_shift"]) / 0.55
      fade = _clip(1 - x * x, 0, None) * (0.75 * a)
      total = 0
      for k in range(3):
        curve = v_top - 0.085 * k + 0.06 * x * x
        total = np.maximum(total, cv.line_alpha(np.abs(v - curve), lw))
      cv.paint(box, total * fade, dark)
  # Frown lines (brow furrow).
  a = f["w_frown"]
  if a > 0.02:
    v0 = f["b_in_v"] - 0.06
    box = cv.box(-0.15 + f["bridge_u"], 0.15 + f["bridge_u"], v0 - 0.02, v0 + 0.2)
    if box is not None:
      u, v = cv.uv(box)
      t = _clip((v - v0) / 0.17, 0, 1)
      fade = np.sqrt(_clip(t * (1 - t) * 4, 0, 1)) * (0.8 * a)
      total = 0
      for side in (-1, 1):
        curve = f["bridge_u"] + side * (0.045 + 0.015 * (1 - t))
        total = np.maximum(total, cv.line_alpha(np.abs(u - curve), lw))
      cv.paint(box, total * fade, dark)
  # Nasolabial folds (smile, cheek raise, upper lip raise).
  a = f["w_naso"]
  if a > 0.02:
    for side in (-1, 1):
      u0 = f["nx"] + side * (f["nw"] + 0.035)
      v0 = f["ny"] - 0.02
      cu = f["mr_u"] if side > 0 else f["ml_u"]
      cvv = f["mr_v"] if side > 0 else f["ml_v"]
      u1, v1 = cu + side * 0.07, cvv + 0.1
      box = cv.box(min(u0, u1) - 0.1, max(u0, u1) + 0.1, v0 - 0.02, v1 + 0.02)
      if box is None:
        continue
      u, v = cv.uv(box)
      t = _clip((v - v0) / (v1 - v0), 0, 1)
      curve = u0 + (u1 - u0) * t + side * 0.05 * np.sin(np.pi * t)
      fade = np.sqrt(_clip(np.sin(np.pi * t), 0, 1)) * (0.7 * a)
      amt = 1.0 + 0.5 * side * f["naso_asym"]
      cv.paint(box, cv.line_alpha(np.abs(u - curve), lw) * fade * min(amt, 1.2), dark)
  # Nose wrinkle lines across the bridge.
  a = f["w_nose"]
  if a > 0.02:
    bu = 0.5 * (f["bridge_u"] + f["nx"])
    v0 = f["ey"] + 0.04
    box = cv.box(bu - 0.12, bu + 0.12, v0 - 0.02, v0 + 0.16)
    if box is not None:
      u, v = cv.uv(box)
      x = (u - bu) / 0.11
      fade = _clip(1 - x * x, 0, None) * (0.8 * a)
      total = 0
      for k in range(3):
        curve = v0 + 0.045 * k + 0.03 * x * x
        total = np.maximum(total, cv.line_alpha(np.abs(v - curve), lw))
      cv.paint(box, total * fade, dark)
  # Crow's feet at the outer eye corners (smile with cheek raise).
  a = f["w_crow"]
  if a > 0.02:
    for side in (-1, 1):
      ex = f["ex_r"] if side > 0 else f["ex_l"]
      ew = f["ew_r"] if side > 0 else f["ew_l"]
      cu, cv0 = ex + side * (ew + 0.03), f["ey"]
      box = cv.box(cu - 0.02, cu + 0.1, cv0 - 0.08, cv0 + 0.08) if side > 0 else None
      if side < 0:
        box = cv.box(cu - 0.1, cu + 0.02, cv0 - 0.08, cv0 + 0.08)
      if box is None:
        continue
      u, v = cv.uv(box)
      du = (u - cu) * side
      fade = _clip(du / 0.02, 0, 1) * _clip((0.09 - du) / 0.03, 0, 1) * (0.6 * a)
      total = 0
      for slope in (-0.5, 0.0, 0.5):
        total = np.maximum(total, cv.line_alpha(np.abs(v - cv0 - slope * du), lw))
      cv.paint(box, total * fade, dark)
  # Chin crease (lip press, lip corner depress).
  a = f["w_chin"]
  if a > 0.02:
    vc = f["my"] + f["gap_lo"] + f["lip_lo"] + 0.08
    box = cv.box(f["mx"] - 0.16, f["mx"] + 0.16, vc - 0.04, vc + 0.04)
    if box is not None:
      u, v = cv.uv(box)
      x = (u - f["mx"]) / 0.14
      fade = _clip(1 - x * x, 0, None) * (0.6 * a)
      cv.paint(box, cv.line_alpha(np.abs(v - vc + 0.025 * x * x), lw) * fade, dark)


def _draw_beard(cv: _Canvas, f: dict, ident: Identity, skin: np.ndarray):
  """Stubble on the jaw, chin and upper lip; optionally a moustache. Follows the jaw."""
  kind = BEARDS[ident.beard]
  if kind == "none":
    return
  fw = f["fw"]
  box = cv.box(-fw - 0.02, fw + 0.02, f["ny"] - 0.25, f["fhb"] + 0.02)
  if box is None:
    return
  u, v = cv.uv(box)
  d, _, un = _face_sdf(f, u, v)
  top = f["ny"] + 0.02 - 0.3 * un * un  # rises towards the sideburns.
  a = _clip((v - top) / 0.1, 0, 1) * cv.cov(d + 0.015) * 0.33
  tint = 0.55 * _c(ident.hair_color) + 0.45 * skin * 0.6
  cv.paint(box, a, tint)
  if kind == "moustache":
    mx, mw = f["mx"], 0.5 * (f["mr_u"] - f["ml_u"])
    vc = f["m_center_v"] - f["gap_up"] - 0.6 * f["lip_up"] - 0.04
    box = cv.box(mx - mw - 0.08, mx + mw + 0.08, vc - 0.08, vc + 0.08)
    if box is None:
      return
    u, v = cv.uv(box)
    x = (u - mx) / (mw + 0.05)
    th = 0.035 * (1 - 0.5 * x * x) * (1 - 0.3 * np.exp(-((x / 0.12) ** 2)))
    d = np.maximum(np.abs(v - vc - 0.03 * x * x) - th, (np.abs(x) - 1) * (mw + 0.05))
    cv.paint(box, cv.cov(d) * 0.95, _c(ident.hair_color) * 0.9)


def _draw_brows(cv: _Canvas, f: dict, color: np.ndarray):
  xi, xo = f["b_in_u"], f["b_out_u"]
  length = xo - xi
  for side in (-1, 1):
    us = [side * xi + f["b_shift"], side * xo + f["b_shift"]]
    vs = [f["b_in_v"], f["b_out_v"], f["b_in_v"] - f["b_arch"] - 0.02]
    box = cv.box(min(us) - 0.06, max(us) + 0.06, min(vs) - 0.08, max(vs) + 0.08)
    if box is None:
      continue
    u, v = cv.uv(box)
    x = (side * (u - f["b_shift"]) - xi) / length
    xc = _clip(x, 0, 1)
    vcurve = f["b_in_v"] + (f["b_out_v"] - f["b_in_v"]) * xc - f["b_arch"] * 4 * xc * (1 - xc)
    slope = ((f["b_out_v"] - f["b_in_v"]) - f["b_arch"] * 4 * (1 - 2 * xc)) / length
    th = f["b_thick"] * (1.25 - 0.65 * xc)
    d = (np.abs(v - vcurve) - th) / np.sqrt(1 + slope * slope)
    d = np.maximum(d, np.maximum(-x, x - 1) * length)
    cv.paint(box, cv.cov(d) * 0.92, color)


def _draw_eyes(cv: _Canvas, f: dict, ident: Identity, skin: np.ndarray):
  iris_c = _c(ident.eye_color)
  for side in (-1, 1):
    ex = f["ex_r"] if side > 0 else f["ex_l"]
    ew = f["ew_r"] if side > 0 else f["ew_l"]
    ey, h0 = f["ey"], f["h0"]
    box = cv.box(ex - ew - 0.05, ex + ew + 0.05, ey - 2.2 * h0 - 0.06, ey + f["hl"] + 0.05)
    if box is None:
      continue
    u, v = cv.uv(box)
    x = (u - ex) / ew
    xc = _clip(x, -1, 1)
    q = _clip(1 - xc * xc, 0, None)
    tilt = -0.018 * side * xc
    up = ey + tilt - f["hu"] * q * (1 - 0.15 * side * xc)
    lo = ey + tilt + f["hl"] * q * (1 + 0.1 * side * xc)
    outside = (np.abs(x) - 1) * ew
    # Lid crease and a soft socket shadow above the eye.
    crease = ey + tilt - (h0 * (1.1 + 0.5 * f["lid_crease"]) + 0.02) * q
    cv.paint(box, cv.line_alpha(np.abs(v - crease), 1.0) * (0.35 * q), skin * 0.7)
    # Eye opening: sclera, iris, pupil, highlight.
    d_open = np.maximum(np.maximum(up - v, v - lo), outside)
    a_open = cv.cov(d_open)
    if f["hu"] + f["hl"] > 0.004:
      lid_shadow = _clip((v - up) / (0.5 * h0 + 1e-6), 0, 1)
      shade = (0.72 + 0.28 * lid_shadow) * (1 - 0.15 * xc * xc)
      cv.paint(box, a_open, _SCLERA * shade[..., None])
      ir = f["iris_r"]
      ix = ex + f["gaze_x"] * ew * 0.45
      iy = ey + 0.1 * h0 + f["gaze_y"] * h0
      du, dv = u - ix, v - iy
      rr = np.sqrt(du * du + dv * dv)
      rn = rr / ir
      ishade = (1.15 - 0.55 * rn * rn) * (0.75 + 0.25 * lid_shadow)
      cv.paint(box, cv.cov(rr - ir) * a_open, iris_c * ishade[..., None])
      cv.paint(box, cv.cov(rr - 0.45 * ir) * a_open, _BLACK)
      hx, hy = du + 0.35 * ir, dv + 0.35 * ir
      cv.paint(box, cv.cov(np.sqrt(hx * hx + hy * hy) - 0.2 * ir) * (0.9 * a_open), _WHITE)
    # Upper lid line with lashes (thicker at the outer corner), faint lower lid line.
    th = 0.01 + 0.012 * _clip(side * x, 0, 1)
    d_lash = np.maximum(np.abs(v - up) - th, (np.abs(x) - 1.04) * ew)
    cv.paint(box, cv.cov(d_lash), _LASH)
    d_low = np.maximum(np.abs(v - lo) - 0.004, outside)
    cv.paint(box, cv.cov(d_low) * 0.35, skin * 0.55)


def _draw_nose(cv: _Canvas, f: dict, skin: np.ndarray):
  nx, ny, nw = f["nx"], f["ny"], f["nw"]
  bu = f["bridge_u"]
  # Side shadow along the bridge (light from the upper left).
  box = cv.box(min(bu, nx) - 0.02, max(bu, nx) + 0.14, f["ey"] + 0.05, ny + 0.02)
  if box is not None:
    u, v = cv.uv(box)
    t = _clip((v - f["ey"]) / (ny - f["ey"]), 0, 1)
    cu = bu + (nx - bu) * t + 0.05 + 0.04 * t
    a = _clip(1 - np.abs(u - cu) / 0.04, 0, 1) * (0.25 * t)
    cv.paint(box, a, skin * 0.7)
  box = cv.box(nx - nw - 0.05, nx + nw + 0.05, ny - 0.1, ny + 0.1)
  if box is None:
    return
  u, v = cv.uv(box)
  x = (u - nx) / nw
  # Tip highlight.
  du, dv = (u - nx) / (0.5 * nw), (v - ny + 0.01) / 0.05
  hl = _clip(1 - du * du - dv * dv, 0, None)
  cv.paint(box, 0.25 * hl, skin * 1.15)
  # Wings: arcs around the nostrils.
  for side in (-1, 1):
    wu, wv = nx + side * 0.78 * nw, ny + 0.0
    du, dv = u - wu, v - wv
    r = np.sqrt(du * du + dv * dv)
    mask = _clip((side * du) / 0.02 + 0.5, 0, 1)
    cv.paint(box, cv.line_alpha(np.abs(r - 0.055), 1.0) * mask * 0.55, skin * 0.6)
  # Nostrils.
  for side in (-1, 1):
    du, dv = (u - nx - side * 0.42 * nw) / (0.3 * nw), (v - ny - 0.035) / 0.018
    d = (np.sqrt(du * du + dv * dv) - 1) * 0.018
    cv.paint(box, cv.cov(d) * 0.85, skin * 0.3)
  # Base line under the tip.
  base = ny + 0.045 + 0.02 * x * x
  a = cv.line_alpha(np.abs(v - base), 1.0) * _clip(1 - x * x, 0, None) * 0.35
  cv.paint(box, a, skin * 0.55)


def _draw_mouth(cv: _Canvas, f: dict, ident: Identity, skin: np.ndarray):
  ul, ur = f["ml_u"], f["mr_u"]
  half = 0.5 * (ur - ul)
  top = min(f["ml_v"], f["mr_v"], f["m_center_v"]) - f["gap_up"] - f["lip_up"] - 0.04
  bottom = max(f["ml_v"], f["mr_v"], f["m_center_v"]) + f["gap_lo"] + f["lip_lo"] + 0.04
  box = cv.box(ul - 0.05, ur + 0.05, top, bottom)
  if box is None:
    return
  u, v = cv.uv(box)
  x = (u - 0.5 * (ul + ur)) / half
  _, mid, iup, ilo, oup, olo = geo.mouth_curves(f, x)
  outside = (np.abs(x) - 1) * half
  lip = _c(ident.lip_color)
  # Lips: upper darker, lower lighter with a highlight.
  d_lips = np.maximum(np.maximum(oup - v, v - olo), outside)
  lshade = np.where(
    v < mid,
    0.82,
    1.0 + 0.12 * _clip(1 - 4 * np.abs(v - 0.5 * (ilo + olo)) / (olo - ilo + 1e-3), 0, 1),
  )
  cv.paint(box, cv.cov(d_lips), lip * lshade[..., None])
  # Line between closed lips.
  d_line = np.maximum(np.abs(v - mid) - 0.004, outside)
  cv.paint(box, cv.cov(d_line) * 0.8, lip * 0.4)
  if f["gap_up"] + f["gap_lo"] < 0.003:
    return
  d_open = np.maximum(np.maximum(iup - v, v - ilo), outside)
  a_open = cv.cov(d_open)
  depth = _clip((v - iup) / (ilo - iup + 1e-3), 0, 1)
  cv.paint(box, a_open, _CAVITY * (0.6 + 0.4 * depth)[..., None])
  # Tongue.
  tu, tv = 0.5 * (ul + ur), f["m_center_v"] + f["gap_lo"] + 0.01
  du, dv = (u - tu) / (0.62 * half), (v - tv) / (0.06 + 0.25 * f["gap_lo"])
  rt = np.sqrt(du * du + dv * dv)
  cv.paint(box, cv.cov((rt - 1) * 0.05) * a_open, _TONGUE * (1.05 - 0.25 * rt)[..., None])
  # Teeth: narrower towards the corners (the dental arch is curved).
  theta = np.arcsin(_clip(x * 0.92, -1, 1)) * (2 / np.pi)
  ts = (1 - 0.45 * x * x)[..., None]
  for row, n, edge in ((0, 4.0, f["teeth_lo"]), (1, 3.2, f["teeth_up"])):
    k = theta * n
    fr = k - np.floor(k)
    e = 2 * fr - 1
    if row == 1:  # upper row: lower edge, rounded corners
      d = v - (edge - 0.012 * e * e)
      extent = np.abs(theta) - 0.9
    else:  # lower row: upper edge
      d = (edge + 0.01 * e * e) - v
      extent = np.abs(theta) - 0.75
    d = np.maximum(d, extent * half)
    sep = np.minimum(fr, 1 - fr) * (half * cv.s / n * (1 - x * x + 0.2))
    shade = ts * (0.7 + 0.3 * _clip(sep, 0, 1))[..., None]
    tone = _TEETH if row == 1 else _TEETH * 0.92
    cv.paint(box, cv.cov(d) * a_open, tone * shade)


def render_frames(ident: Identity, g: dict, res: int) -> np.ndarray:
  """Renders every frame of a geometry dict. Returns uint8 [T, res, res, 3]."""
  n = len(g["s"])
  out = np.empty((n, res, res, 3), np.uint8)
  bg = background(ident, res)
  skin = _c(ident.skin)
  brow = _c(ident.brow_color)
  img = np.empty((res, res, 3), np.float32)
  for t in range(n):
    f = geo.frame_params(g, t)
    np.copyto(img, bg)
    cv = _Canvas(img, f, res)
    _soft_ellipse(cv, 0.0, f["fhb"] + 0.02, 0.55 * f["fw"], 0.2, 0.45, skin * 0.45)  # chin shadow
    _draw_back_hair(cv, ident)
    _draw_ears(cv, f, skin)
    _draw_face(cv, f, skin)
    _draw_front_hair(cv, ident, skin)
    _draw_cheeks(cv, f, skin)
    _draw_wrinkles(cv, f, skin)
    _draw_brows(cv, f, brow)
    _draw_eyes(cv, f, ident, skin)
    _draw_nose(cv, f, skin)
    _draw_beard(cv, f, ident, skin)
    _draw_mouth(cv, f, ident, skin)
    np.multiply(img, 255.0, out=img)
    img += 0.5
    np.clip(img, 0.0, 255.0, out=img)
    out[t] = img
  return out
