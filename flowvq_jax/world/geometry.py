"""Face geometry of the synthetic world: coefficients -> feature positions -> 68 landmarks.

The face lives in 2.5-D "face units": u to the image right, v down, the origin between the eyes'
height and the nose, the face half-width about 1. Every feature has a depth z; yaw and pitch move a
feature by (z sin(yaw), z sin(pitch)), so the nose slides more than the eyes and the outline stays
(a 2.5-D look); the near half of the outline widens and the far half narrows a little. Roll,
translation and scale (tz) then map face units to pixels:

  x = cx + s (u cos(roll) - v sin(roll)),  y = cy + s (u sin(roll) + v cos(roll)),
  s = 0.27 * resolution * (1 + tz),  cx = (0.5 + tx) * resolution,  cy = (0.45 + ty) * resolution.

The renderer and `landmarks` both read `face_geometry`, so landmarks match the pixels.
"""

from __future__ import annotations

import numpy as np

from flowvq_jax.core.constants import EXP_DIM, NUM_LANDMARKS, POSE_DIM
from flowvq_jax.world import tables as tb
from flowvq_jax.world.identity import Identity

SCALE = 0.27  # pixels per face unit / resolution.
CENTER_Y = 0.45  # vertical position of the face origin / resolution.

# Feature depths (face units) for the 2.5-D yaw/pitch shift.
Z_EYE, Z_BROW, Z_NOSE, Z_BRIDGE, Z_MOUTH, Z_EAR = 0.5, 0.55, 0.95, 0.7, 0.62, -0.25
# Yaw also widens the near half of the face outline and narrows the far half by this * sin(yaw).
YAW_WIDTH = 0.25

_F = {name: i for i, (name, _) in enumerate(tb.FINE_PARAMS)}


def check_coefficients(exp, pose) -> tuple[np.ndarray, np.ndarray, bool]:
  """Validates and batches `exp` [T, 64] / [64] and `pose` [T, 6] / [6].

  Returns:
    (exp [T, 64] float64, pose [T, 6] float64, single) where single says both were unbatched.

  Raises:
    ValueError: on a wrong shape, mismatched T, or non-finite values.
  """
  exp = np.asarray(exp, np.float64)
  pose = np.asarray(pose, np.float64)
  if exp.ndim not in (1, 2) or exp.shape[-1] != EXP_DIM:
    raise ValueError(f"exp must have shape [T, {EXP_DIM}] or [{EXP_DIM}], got {exp.shape}.")
  if pose.ndim not in (1, 2) or pose.shape[-1] != POSE_DIM:
    raise ValueError(f"pose must have shape [T, {POSE_DIM}] or [{POSE_DIM}], got {pose.shape}.")
  if exp.ndim != pose.ndim:
    raise ValueError(
      f"exp and pose must both be batched or both single frames, got {exp.shape} and {pose.shape}."
    )
  single = exp.ndim == 1
  exp, pose = np.atleast_2d(exp), np.atleast_2d(pose)
  if exp.shape[0] != pose.shape[0]:
    raise ValueError(f"exp has {exp.shape[0]} frames but pose has {pose.shape[0]}.")
  if not (np.all(np.isfinite(exp)) and np.all(np.isfinite(pose))):
    raise ValueError("exp and pose must be finite (found NaN or inf).")
  return exp, pose, single


def check_resolution(resolution) -> int:
  if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)):
    raise ValueError(f"resolution must be an int >= 32, got {resolution!r}.")
  if resolution < 32:
    raise ValueError(f"resolution must be >= 32, got {resolution}.")
  return int(resolution)


def face_geometry(ident: Identity, exp: np.ndarray, pose: np.ndarray, resolution: int) -> dict:
  """Feature positions for every frame.

  Args:
    ident: the identity.
    exp: [T, 64] expression coefficients (see tables.EXP_TABLE).
    pose: [T, 6] pose (pitch, yaw, roll, tx, ty, tz).
    resolution: output image size in pixels.

  Returns:
    dict of float64 arrays [T] (face units unless noted; `s`, `cx`, `cy` in pixels).
  """
  e = np.clip(exp, -3.0, 3.0)
  fine = e[:, tb.NUM_SEMANTIC :] @ tb.SHAPE_MODES.astype(np.float64)  # [T, P]
  fn = lambda name: fine[:, _F[name]]
  jaw = np.clip(e[:, tb.JAW], 0, 1.5)
  rnd = np.clip(e[:, tb.ROUND], -0.5, 1.5)
  wid = np.clip(e[:, tb.WIDTH], -0.5, 1.5)
  smile = np.clip(e[:, tb.SMILE], -0.5, 1.5)
  dep = np.clip(e[:, tb.DEPRESS], -0.5, 1.5)
  raise_ = np.clip(e[:, tb.BROW_RAISE], -1.5, 1.5)
  furrow = np.clip(e[:, tb.BROW_FURROW], -0.5, 1.5)
  blink = np.clip(e[:, tb.BLINK], 0, 1)
  widen = np.clip(e[:, tb.EYE_WIDEN], -0.5, 1.5)
  cheek = np.clip(e[:, tb.CHEEK_RAISE], -0.5, 1.5)
  nosew = np.clip(e[:, tb.NOSE_WRINKLE], 0, 1.5)
  inner = np.clip(e[:, tb.BROW_INNER], -0.5, 1.5)
  ulip = np.clip(e[:, tb.UPPER_LIP], -0.5, 1.5)
  press = np.clip(e[:, tb.LIP_PRESS], -0.5, 1.5)
  asym = np.clip(e[:, tb.SMILE_ASYM], -1.5, 1.5)
  part = np.clip(e[:, tb.LIPS_PART], -0.5, 1.5)

  pitch, yaw, roll = pose[:, 0], pose[:, 1], pose[:, 2]
  g = {}
  g["s"] = SCALE * resolution * np.maximum(1.0 + pose[:, 5], 0.2)
  g["cx"] = (0.5 + pose[:, 3]) * resolution
  g["cy"] = (CENTER_Y + pose[:, 4]) * resolution
  g["cos"], g["sin"] = np.cos(roll), np.sin(roll)
  sy, sp = np.sin(yaw), np.sin(pitch)
  g["yaw"] = sy
  g["pitch"] = sp
  cy_ = np.cos(yaw)

  # Outline.
  g["fw"] = ident.face_w + fn("face_w") + 0.02 * cheek
  g["fht"] = np.full_like(jaw, ident.face_top)
  g["fhb"] = ident.face_bot + fn("chin_dy") + 0.24 * jaw + 0.03 * part
  g["taper"] = np.clip(ident.jaw_taper - fn("jaw_w"), 0.0, 0.7)
  g["ear_u"] = Z_EAR * sy

  # Eyes.
  h0 = 0.085 * ident.eye_size * (1 + fn("eye_size"))
  eye_dx = (ident.eye_dx + fn("eye_dx")) * cy_
  g["ey"] = ident.eye_y + fn("eye_dy") + Z_EYE * sp
  g["ex_l"] = -eye_dx + Z_EYE * sy
  g["ex_r"] = eye_dx + Z_EYE * sy
  g["ew_l"] = ident.eye_w * (1 - 0.25 * sy)  # the far eye looks narrower.
  g["ew_r"] = ident.eye_w * (1 + 0.25 * sy)
  hl = 0.6 * h0 * (1 - 0.5 * np.clip(cheek, 0, None)) * (1 + 0.15 * widen)
  hu = h0 * (1 + 0.55 * widen - 0.15 * np.clip(cheek, 0, None) - 0.15 * furrow)
  g["hu"] = hu * (1 - blink) - hl * blink
  g["hl"] = hl
  g["h0"] = h0
  g["iris_r"] = 0.92 * 0.085 * ident.eye_size**0.5 * (1 + 0.5 * fn("eye_size"))
  g["gaze_x"] = np.clip(fn("gaze_x") + 0.15 * sy, -0.6, 0.6)
  g["gaze_y"] = np.clip(fn("gaze_y") + 0.1 * sp, -0.5, 0.5)
  g["lid_crease"] = 0.5 + 0.5 * np.clip(widen, 0, 1)

  # Brows: inner/outer ends (v), inner/outer u magnitudes, arch.
  by0 = g["ey"] + ident.brow_y + fn("brow_dy") + 0.03 * blink
  g["b_in_v"] = by0 - 0.11 * raise_ - 0.13 * inner + 0.075 * furrow + 0.025 * nosew
  g["b_out_v"] = by0 + 0.025 + fn("brow_tilt") - 0.09 * raise_ + 0.035 * inner
  g["b_in_u"] = 0.14 - 0.05 * furrow
  g["b_out_u"] = 0.6 + 0.01 * raise_
  g["b_arch"] = 0.05 + 0.025 * np.clip(raise_, 0, None) - 0.02 * furrow - 0.02 * inner
  g["b_thick"] = ident.brow_thick * (1 + fn("brow_thick"))
  g["b_shift"] = Z_BROW * sy

  # Nose.
  g["nx"] = fn("nose_dx") + Z_NOSE * sy
  g["ny"] = ident.nose_len + fn("nose_len") + Z_NOSE * sp - 0.02 * nosew
  g["nw"] = ident.nose_w + fn("nose_w") + 0.025 * nosew
  g["bridge_u"] = Z_BRIDGE * sy

  # Mouth.
  mx = fn("mouth_dx") + Z_MOUTH * sy
  my = ident.mouth_y + fn("mouth_dy") + Z_MOUTH * sp - 0.02 * ulip
  mw = (ident.mouth_w + fn("mouth_w")) * (
    1 - 0.3 * rnd + 0.22 * wid + 0.16 * smile + 0.06 * dep - 0.04 * press
  )
  mw = np.maximum(mw, 0.06) * cy_
  a_up = np.clip(asym, 0, None)
  a_dn = np.clip(-asym, 0, None)
  g["ml_u"] = mx - mw - 0.035 * a_dn
  g["mr_u"] = mx + mw + 0.035 * a_up
  corner = my - 0.1 * smile + 0.085 * dep
  g["ml_v"] = corner - 0.1 * a_dn + 0.01 * a_up
  g["mr_v"] = corner - 0.1 * a_up + 0.01 * a_dn
  g["m_center_v"] = my + 0.02 * smile - 0.015 * dep
  g["my"] = my
  g["mx"] = mx
  gap = np.clip(press, 0, None) * 0.02
  g["gap_up"] = np.clip(0.07 * jaw + 0.045 * part + 0.05 * np.clip(ulip, 0, None) - gap, 0, None)
  g["gap_lo"] = np.clip(0.27 * jaw + 0.065 * part + 0.03 * rnd * jaw - gap, 0, None)
  thick = 1 + 0.45 * rnd - 0.5 * np.clip(press, 0, None) - 0.15 * np.clip(smile, 0, None)
  g["lip_up"] = np.maximum((ident.lip_up + fn("lip_up")) * thick, 0.008)
  g["lip_lo"] = np.maximum((ident.lip_lo + fn("lip_lo")) * thick, 0.01)
  g["round"] = np.clip(rnd, 0, 1)
  g["teeth_up"] = g["m_center_v"] + 0.018  # lower edge of the upper teeth (not moved by the jaw).
  g["teeth_lo"] = g["m_center_v"] + g["gap_lo"] - 0.05  # upper edge of the lower teeth (jaw).

  # Texture amounts (0..1).
  c01 = lambda x: np.clip(x, 0, 1)
  g["w_fore"] = c01(0.9 * np.clip(raise_, 0, None) + 0.6 * inner)
  g["w_frown"] = c01(furrow)
  g["w_naso"] = c01(0.12 + 0.65 * smile + 0.45 * cheek + 0.45 * ulip + 0.25 * np.abs(asym))
  g["w_nose"] = c01(nosew)
  g["w_crow"] = c01(0.8 * cheek + 0.4 * smile - 0.3)
  g["w_cheek"] = c01(cheek)
  g["cheek_full"] = fn("cheek")
  g["w_chin"] = c01(0.7 * press + 0.3 * dep)
  g["naso_asym"] = asym
  return g


def frame_params(g: dict, t: int) -> dict:
  """The scalar parameters of frame t (python floats, for the per-frame code)."""
  return {k: float(v[t]) for k, v in g.items()}


def mouth_curves(f, x: np.ndarray):
  """Mouth curves at positions x in [-1, 1] (corner to corner).

  Args:
    f: per-frame parameters: python floats (`frame_params`) or arrays that broadcast against x.
    x: normalised positions along the mouth.

  Returns:
    (u, mid, inner_up, inner_lo, outer_up, outer_lo), each shaped like x (face units).
  """
  ul, ur, vl, vr = f["ml_u"], f["mr_u"], f["ml_v"], f["mr_v"]
  xc = np.clip(x, -1, 1)
  u = 0.5 * (ul + ur) + x * 0.5 * (ur - ul)
  base = vl * (1 - xc) * 0.5 + vr * (1 + xc) * 0.5
  bow = f["m_center_v"] - 0.5 * (vl + vr)
  q = np.clip(1 - xc * xc, 0, None)
  mid = base + bow * q
  prof = q ** (0.6 - 0.25 * f["round"])
  inner_up = mid - f["gap_up"] * prof
  inner_lo = mid + f["gap_lo"] * prof
  prof_l = q**0.4
  cupid = 1 - 0.3 * np.exp(-((xc / 0.16) ** 2))
  outer_up = inner_up - f["lip_up"] * prof_l * cupid
  outer_lo = inner_lo + f["lip_lo"] * prof_l
  return u, mid, inner_up, inner_lo, outer_up, outer_lo


def brow_curve(f: dict, side: int, xb: np.ndarray):
  """Brow centre line at positions xb in [0, 1] (inner end to outer end); side -1/+1 = image L/R.

  Returns:
    (u, v, thickness) shaped like xb.
  """
  xi, xo = f["b_in_u"], f["b_out_u"]
  u = side * (xi + (xo - xi) * xb) + f["b_shift"]
  v = f["b_in_v"] + (f["b_out_v"] - f["b_in_v"]) * xb - f["b_arch"] * 4 * xb * (1 - xb)
  th = f["b_thick"] * (1.25 - 0.65 * xb)
  return u, v, th


def eye_lids(f: dict, side: int, x: np.ndarray):
  """Upper and lower lid curves of one eye at x in [-1, 1] (image left corner to right corner).

  Returns:
    (u, upper_v, lower_v) shaped like x.
  """
  ex = f["ex_l"] if side < 0 else f["ex_r"]
  ew = f["ew_l"] if side < 0 else f["ew_r"]
  ey = f["ey"]
  xc = np.clip(x, -1, 1)
  u = ex + x * ew
  tilt = -0.018 * side * xc  # outer corners slightly higher.
  q = np.clip(1 - xc * xc, 0, None)
  # Upper lid peaks a little towards the inner corner, the lower lid towards the outer corner.
  up = ey + tilt - f["hu"] * q * (1 - 0.15 * side * xc)
  lo = ey + tilt + f["hl"] * q * (1 + 0.1 * side * xc)
  return u, up, lo


def jaw_line(f: dict, n: int = 17):
  """n points of the lower face outline, image left (ear level) around the chin to image right."""
  a = np.linspace(np.pi + 0.12, -0.12, n)
  sa = np.sin(a)
  v = np.where(sa > 0, f["fhb"], f["fht"]) * sa
  ca = np.cos(a)
  w = (
    f["fw"]
    * (1 - f["taper"] * np.clip(sa, 0, None) ** 2)
    * (1 - YAW_WIDTH * f["yaw"] * np.sign(ca))
  )
  return w * ca, v


def to_pixels(f: dict, u, v):
  """Face units -> pixel (x, y) for frame t."""
  s, c, sn = f["s"], f["cos"], f["sin"]
  return f["cx"] + s * (u * c - v * sn), f["cy"] + s * (u * sn + v * c)


def face_landmarks(f: dict) -> np.ndarray:
  """iBUG-layout landmarks (pixel x, y): [68, 2] for python-float params (`frame_params`),
  [T, 68, 2] for params shaped [T, 1]."""
  lead = np.shape(f["s"])[:-1]
  pts = np.zeros(lead + (NUM_LANDMARKS, 2))
  # 0..16 jaw line.
  pts[..., 0:17, 0], pts[..., 0:17, 1] = jaw_line(f)
  # 17..21 image-left brow, outer -> inner; 22..26 image-right brow, inner -> outer.
  xb = np.linspace(0.0, 1.0, 5)
  u, v, _ = brow_curve(f, -1, xb[::-1])
  pts[..., 17:22, 0], pts[..., 17:22, 1] = u, v
  u, v, _ = brow_curve(f, 1, xb)
  pts[..., 22:27, 0], pts[..., 22:27, 1] = u, v
  # 27..30 nose bridge -> tip; 31..35 nostril base, image left -> right.
  fr = np.linspace(0.0, 1.0, 4)
  ey = f["ey"]
  pts[..., 27:31, 0] = f["bridge_u"] + (f["nx"] - f["bridge_u"]) * fr
  pts[..., 27:31, 1] = ey + (f["ny"] - ey) * fr
  k = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
  pts[..., 31:36, 0] = f["nx"] + 0.75 * f["nw"] * k
  pts[..., 31:36, 1] = f["ny"] + 0.05 - 0.015 * np.abs(k) ** 2 + 0.012 * (k == 0)
  # 36..41 image-left eye: outer corner, upper x2, inner corner, lower x2 (clockwise).
  xs = np.array([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])
  for side, base in ((-1, 36), (1, 42)):
    u, up, lo = eye_lids(f, side, xs)
    pts[..., base : base + 6, 0] = u
    pts[..., base : base + 6, 1] = np.where(np.arange(6) < 4, up, lo)
  # 48..59 outer lips; 60..67 inner lips.
  xo = np.array([-1.0, -0.6, -0.25, 0.0, 0.25, 0.6, 1.0, 0.6, 0.25, 0.0, -0.25, -0.6])
  u, _, _, _, oup, olo = mouth_curves(f, xo)
  pts[..., 48:60, 0] = u
  pts[..., 48:60, 1] = np.where(np.arange(12) <= 6, oup, olo)
  xi = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 0.5, 0.0, -0.5])
  u, _, iup, ilo, _, _ = mouth_curves(f, xi)
  pts[..., 60:68, 0] = u
  pts[..., 60:68, 1] = np.where(np.arange(8) <= 4, iup, ilo)
  x, y = to_pixels(f, pts[..., 0], pts[..., 1])
  return np.stack([x, y], -1)


def all_landmarks(g: dict) -> np.ndarray:
  """[T, 68, 2] float32 landmarks for every frame of a geometry dict (vectorised over T)."""
  return face_landmarks({k: v[:, None] for k, v in g.items()}).astype(np.float32)
