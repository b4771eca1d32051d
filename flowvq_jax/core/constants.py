"""Constants shared by every part of the package: emotions, rates, coefficient sizes."""

from __future__ import annotations

# MEAD's eight emotions, in MEAD's order. An emotion's index is its position here.
EMOTIONS: tuple[str, ...] = (
  "angry",
  "contempt",
  "disgusted",
  "fear",
  "happy",
  "neutral",
  "sad",
  "surprised",
)
NUM_EMOTIONS = len(EMOTIONS)
NEUTRAL = EMOTIONS.index("neutral")

SAMPLE_RATE = 16_000  # Hz, audio everywhere in the package.
FPS = 25  # video frames per second.
HOP_LENGTH = 160  # 10 ms mel hop at 16 kHz.
MELS_PER_FRAME = 4  # video frame t <-> mel frames [4t, 4t + 4).
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 samples of audio per video frame.

EXP_DIM = 64  # Deep3DFaceRecon expression coefficients (beta).
POSE_DIM = 6  # 3 rotation angles (radians) + 3 translations.
NUM_LANDMARKS = 68


def emotion_index(emotion: str | int) -> int:
  """Returns the MEAD index of `emotion`, given as a name or an index.

  Raises:
    ValueError: naming the valid emotions, for an unknown name or an index out of range.
  """
  if isinstance(emotion, bool):
    raise ValueError(f"Emotion must be a name or an index, got {emotion!r}.")
  if isinstance(emotion, int) or (hasattr(emotion, "__index__") and not isinstance(emotion, str)):
    i = int(emotion)
    if 0 <= i < NUM_EMOTIONS:
      return i
    raise ValueError(
      f"Emotion index {i} is out of range 0..{NUM_EMOTIONS - 1} ({', '.join(EMOTIONS)})."
    )
  name = str(emotion).strip().lower()
  if name in EMOTIONS:
    return EMOTIONS.index(name)
  raise ValueError(f"Unknown emotion {emotion!r}; choose one of: {', '.join(EMOTIONS)}.")
