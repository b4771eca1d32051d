"""Identities of the synthetic world: face shape, colours, hair, eyes, background and voice."""

from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

Color = tuple[float, float, float]

HAIR_STYLES = ("short", "bob", "long", "buzz", "curly", "side_part")
BG_PATTERNS = ("gradient", "stripes", "dots", "checker", "rings")
BEARDS = ("none", "stubble", "moustache")

_SKIN_TONES = np.array(
  [
    (0.98, 0.86, 0.76),
    (0.94, 0.77, 0.64),
    (0.86, 0.66, 0.50),
    (0.72, 0.52, 0.37),
    (0.56, 0.39, 0.27),
    (0.40, 0.27, 0.19),
  ]
)
_HAIR_COLORS = np.array(
  [
    (0.08, 0.06, 0.05),  # black
    (0.22, 0.14, 0.09),  # dark brown
    (0.42, 0.27, 0.15),  # brown
    (0.55, 0.25, 0.12),  # auburn
    (0.85, 0.70, 0.42),  # blonde
    (0.62, 0.60, 0.58),  # grey
  ]
)
_EYE_COLORS = np.array(
  [
    (0.30, 0.18, 0.08),  # brown
    (0.45, 0.35, 0.15),  # hazel
    (0.25, 0.45, 0.25),  # green
    (0.25, 0.45, 0.70),  # blue
    (0.45, 0.52, 0.58),  # grey
    (0.14, 0.09, 0.05),  # dark
  ]
)


@dataclasses.dataclass(frozen=True)
class Voice:
  """Parameters of an identity's voice for the speech synthesizer.

  Attributes:
    f0: mean fundamental frequency in Hz (about 95..140 low voices, 170..240 high voices).
    formant_scale: multiplies every formant frequency (vocal tract length; higher = shorter).
    breathiness: aspiration noise mixed into the glottal source, 0..1.
    tilt: glottal spectral tilt, 0 (bright) .. 1 (soft).
  """

  f0: float
  formant_scale: float
  breathiness: float
  tilt: float


@dataclasses.dataclass(frozen=True)
class Identity:
  """One synthetic person. Lengths are in face units (face half-width about 1), colours RGB 0..1.

  Reproducible from `(world_seed, index)` via `make_identity`.
  """

  index: int
  world_seed: int
  face_w: float  # face half-width.
  face_top: float  # forehead half-height (above the eye line).
  face_bot: float  # eye line to chin.
  jaw_taper: float  # 0 = round/square jaw, 0.5 = pointed chin.
  skin: Color
  hair_color: Color
  hair_style: int  # index into HAIR_STYLES.
  hair_part: float  # fringe / parting offset, -1..1.
  eye_color: Color
  eye_size: float  # eye opening scale.
  eye_dx: float  # half the distance between eye centres.
  eye_y: float  # eye line (v).
  eye_w: float  # eye half-width.
  brow_y: float  # brows above the eyes (v offset, negative = up).
  brow_thick: float
  brow_color: Color
  nose_len: float  # v of the nose tip.
  nose_w: float
  mouth_w: float  # mouth half-width.
  mouth_y: float  # v of the mouth line.
  lip_up: float  # upper lip thickness.
  lip_lo: float  # lower lip thickness.
  lip_color: Color
  bg1: Color
  bg2: Color
  bg_pattern: int  # index into BG_PATTERNS.
  bg_freq: float
  shirt_color: Color
  voice: Voice
  beard: int = 0  # index into BEARDS.
  freckles: float = 0.0  # freckle density 0..1.
  moles: int = 0  # number of moles / beauty marks.


def _lerp_palette(palette: np.ndarray, t: float) -> Color:
  x = t * (len(palette) - 1)
  i = min(int(x), len(palette) - 2)
  f = x - i
  c = (1 - f) * palette[i] + f * palette[i + 1]
  return tuple(float(v) for v in c)


def _hsv(h: float, s: float, v: float) -> Color:
  return tuple(float(c) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def make_identity(world_seed: int, index: int) -> Identity:
  """Samples identity `index` of the world with seed `world_seed` (deterministic).

  Raises:
    ValueError: if `index` is negative or not an integer.
  """
  if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
    raise ValueError(f"Identity index must be an int >= 0, got {index!r}.")
  if index < 0:
    raise ValueError(f"Identity index must be >= 0, got {index}.")
  rng = np.random.default_rng([int(world_seed) & 0xFFFFFFFF, int(index), 0x1D])
  u = rng.uniform
  skin = _lerp_palette(_SKIN_TONES, u(0, 1))
  hair_style = int(rng.integers(len(HAIR_STYLES)))
  hair_color = _lerp_palette(_HAIR_COLORS, rng.integers(len(_HAIR_COLORS)) / 5 + u(-0.04, 0.04))
  hair_color = tuple(float(np.clip(c, 0, 1)) for c in hair_color)
  brow_color = tuple(0.55 * h + 0.45 * h * s for h, s in zip(hair_color, skin))
  eye_color = tuple(float(c) for c in _EYE_COLORS[rng.integers(len(_EYE_COLORS))])
  # Lips: skin tone pulled towards a rose red.
  mix = u(0.35, 0.55)
  lip_color = tuple(float((1 - mix) * s * 0.85 + mix * r) for s, r in zip(skin, (0.72, 0.30, 0.32)))
  hue = u(0, 1)
  bg1 = _hsv(hue, u(0.15, 0.55), u(0.55, 0.9))
  bg2 = _hsv(hue + u(-0.15, 0.15), u(0.2, 0.6), u(0.3, 0.7))
  shirt = _hsv(u(0, 1), u(0.3, 0.8), u(0.25, 0.8))
  high = bool(rng.integers(2))
  voice = Voice(
    f0=float(u(175, 240) if high else u(95, 140)),
    formant_scale=float((1.12 if high else 1.0) * u(0.96, 1.04)),
    breathiness=float(u(0.02, 0.2)),
    tilt=float(u(0.2, 0.8)),
  )
  return Identity(
    index=int(index),
    world_seed=int(world_seed),
    face_w=float(u(0.86, 1.02)),
    face_top=float(u(1.12, 1.3)),
    face_bot=float(u(1.22, 1.42)),
    jaw_taper=float(u(0.12, 0.5)),
    skin=skin,
    hair_color=hair_color,
    hair_style=hair_style,
    hair_part=float(u(-1, 1)),
    eye_color=eye_color,
    eye_size=float(u(0.85, 1.2)),
    eye_dx=float(u(0.33, 0.42)),
    eye_y=float(u(-0.06, 0.04)),
    eye_w=float(u(0.16, 0.2)),
    brow_y=float(u(-0.26, -0.2)),
    brow_thick=float(u(0.025, 0.045)),
    brow_color=brow_color,
    nose_len=float(u(0.36, 0.46)),
    nose_w=float(u(0.12, 0.17)),
    mouth_w=float(u(0.27, 0.34)),
    mouth_y=float(u(0.72, 0.82)),
    lip_up=float(u(0.055, 0.08)),
    lip_lo=float(u(0.075, 0.105)),
    lip_color=lip_color,
    bg1=bg1,
    bg2=bg2,
    bg_pattern=int(rng.integers(len(BG_PATTERNS))),
    bg_freq=float(u(3, 9)),
    shirt_color=shirt,
    voice=voice,
    beard=0 if high else int(rng.choice(3, p=[0.55, 0.25, 0.2])),
    freckles=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.3 else 0.0,
    moles=int(rng.choice(3, p=[0.5, 0.35, 0.15])),
  )
