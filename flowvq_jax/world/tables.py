"""The coefficient tables of the synthetic world: what each expression and pose dim does.

Expression (`exp`, 64 dims, Deep3DFaceRecon-sized): dims 0..15 are semantic (each moves one named
part of the face, roughly like a FACS action unit); dims 16..63 are small shape modes, each a fixed
small mix of fine geometric offsets (eye spacing, gaze, mouth position, ...). Pose (6 dims): three
angles in radians and three translations.

Value ranges: semantic dims live in [0, 1] (brow_raise and smile_asym in [-1, 1]); shape modes are
about N(0, 0.3) in the world's clips and stay meaningful in [-2, 2].
"""

from __future__ import annotations

import numpy as np

from flowvq_jax.core.constants import EXP_DIM, POSE_DIM

# Semantic expression dims.
JAW = 0  # jaw open (the mouth law sets it).
ROUND = 1  # lip rounding / pucker.
WIDTH = 2  # lip width / stretch.
SMILE = 3  # lip corners up and out.
DEPRESS = 4  # lip corners down.
BROW_RAISE = 5  # whole brows up (negative: lowered).
BROW_FURROW = 6  # inner brows down and together.
BLINK = 7  # upper lids down (1 = closed).
EYE_WIDEN = 8  # upper lids up.
CHEEK_RAISE = 9  # cheeks up, lower lids pushed up.
NOSE_WRINKLE = 10  # nose wrinkle.
BROW_INNER = 11  # inner brow raise (sadness).
UPPER_LIP = 12  # upper lip raise (disgust).
LIP_PRESS = 13  # lips pressed thin.
SMILE_ASYM = 14  # one-sided lip corner (+: subject's left corner up, contempt).
LIPS_PART = 15  # lips part without jaw drop.
NUM_SEMANTIC = 16
# The dims the mouth law sets from the audio (`mouth_from_audio`); every other dim is free given
# the audio (emotion, blinks, shape): what "non-mouth" means in every metric.
MOUTH_DIMS = (JAW, ROUND, WIDTH)

_SEMANTIC = (
  (JAW, "jaw_open", "jaw drops, mouth opens (teeth and tongue show); set by the mouth law"),
  (ROUND, "lip_rounding", "lips pucker: mouth narrower and rounder, lips thicker"),
  (WIDTH, "lip_width", "mouth corners pulled outward (lip stretch)"),
  (SMILE, "smile", "lip corners up and out, mouth curve; nasolabial folds, crow's feet"),
  (DEPRESS, "lip_corner_depress", "lip corners pulled down"),
  (BROW_RAISE, "brow_raise", "both brows up (negative: lowered); forehead lines"),
  (BROW_FURROW, "brow_furrow", "inner brows down and together; vertical frown lines"),
  (BLINK, "blink", "upper eyelids close (1 = fully closed)"),
  (EYE_WIDEN, "eye_widen", "upper eyelids raised, more sclera shows"),
  (CHEEK_RAISE, "cheek_raise", "cheeks raised and rounder, lower lids pushed up; nasolabial folds"),
  (NOSE_WRINKLE, "nose_wrinkle", "wrinkle lines across the nose bridge, nostrils flare"),
  (BROW_INNER, "brow_inner_raise", "inner brow ends raised (sadness); central forehead lines"),
  (UPPER_LIP, "upper_lip_raise", "upper lip raised, upper teeth show; nasolabial folds"),
  (LIP_PRESS, "lip_press", "lips pressed together and thinner"),
  (SMILE_ASYM, "smile_asym", "one lip corner up (+: the subject's left, image right); contempt"),
  (LIPS_PART, "lips_part", "lips part without jaw drop (surprise, fear)"),
)

# Fine geometric offsets used by the shape modes: (name, face units per unit of coefficient).
# Face units: the face half-width is about 1.
FINE_PARAMS: tuple[tuple[str, float], ...] = (
  ("eye_dx", 0.025),  # eyes further apart.
  ("eye_dy", 0.02),  # eyes lower.
  ("eye_size", 0.08),  # relative eye opening scale.
  ("brow_dy", 0.025),  # brows lower.
  ("brow_tilt", 0.025),  # outer brow ends lower.
  ("brow_thick", 0.15),  # relative brow thickness.
  ("nose_dx", 0.02),  # nose towards image right.
  ("nose_len", 0.025),  # nose tip lower.
  ("nose_w", 0.02),  # nose wider.
  ("mouth_dx", 0.02),  # mouth towards image right.
  ("mouth_dy", 0.02),  # mouth lower.
  ("mouth_w", 0.025),  # mouth wider.
  ("lip_up", 0.012),  # thicker upper lip.
  ("lip_lo", 0.012),  # thicker lower lip.
  ("face_w", 0.025),  # wider face.
  ("chin_dy", 0.03),  # longer chin.
  ("jaw_w", 0.06),  # squarer jaw (less taper).
  ("gaze_x", 0.4),  # irises towards image right (fraction of the eye half-width).
  ("gaze_y", 0.3),  # irises down (fraction of the eye opening).
  ("cheek", 0.15),  # cheek fullness (shading).
)
FINE_INDEX = {name: i for i, (name, _) in enumerate(FINE_PARAMS)}
NUM_SHAPE_MODES = EXP_DIM - NUM_SEMANTIC


def _shape_mode_matrix() -> np.ndarray:
  """[48, P] fixed map from shape-mode coefficients to fine offsets (face units).

  Modes 0..P-1 move one fine parameter each; the others are fixed sparse mixes of two or three.
  """
  p = len(FINE_PARAMS)
  scale = np.array([s for _, s in FINE_PARAMS], np.float64)
  m = np.zeros((NUM_SHAPE_MODES, p))
  m[:p, :p] = np.eye(p)
  rng = np.random.default_rng(20240306)
  for k in range(p, NUM_SHAPE_MODES):
    idx = rng.choice(p, size=int(rng.integers(2, 4)), replace=False)
    m[k, idx] = rng.choice([-1.0, 1.0], size=len(idx)) * rng.uniform(0.5, 0.9, size=len(idx))
  return (m * scale).astype(np.float32)


SHAPE_MODES = _shape_mode_matrix()


def _shape_description(k: int) -> str:
  row = SHAPE_MODES[k]
  parts = [f"{FINE_PARAMS[j][0]} {row[j]:+.3f}" for j in np.nonzero(row)[0]]
  return "shape mode: " + ", ".join(parts)


EXP_TABLE: tuple[tuple[int, str, str, bool], ...] = tuple(
  (i, name, desc, True) for i, name, desc in _SEMANTIC
) + tuple(
  (NUM_SEMANTIC + k, f"shape_{k:02d}", _shape_description(k), False) for k in range(NUM_SHAPE_MODES)
)

POSE_TABLE: tuple[tuple[int, str, str, bool], ...] = (
  (0, "pitch", "head nod in radians, + = chin down (features move down)", True),
  (1, "yaw", "head turn in radians, + = face turns towards image right", True),
  (2, "roll", "in-plane tilt in radians, + = clockwise on screen", True),
  (3, "tx", "horizontal shift, fraction of the image width, + = right", True),
  (4, "ty", "vertical shift, fraction of the image height, + = down", True),
  (5, "tz", "towards the camera: the face scales by (1 + tz)", True),
)

EXP_NAMES = tuple(row[1] for row in EXP_TABLE)
POSE_NAMES = tuple(row[1] for row in POSE_TABLE)
assert len(EXP_TABLE) == EXP_DIM and len(POSE_TABLE) == POSE_DIM
