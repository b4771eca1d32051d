"""The synthetic talking-face world: identities, renderer, speech synthesizer, mouth law.

    from flowvq_jax.world import SyntheticWorld
    world = SyntheticWorld(seed=0, resolution=128)
    clip = world.sample_clip(identity=0, emotion="happy", intensity=3, seconds=2.0, seed=1)
    clip.audio, clip.frames, clip.exp, clip.pose, clip.landmarks

See docs/world.md for the coefficient tables, the mouth law and the emotion offsets.
"""

from __future__ import annotations

from flowvq_jax.world.cues import (
  BLINK_RATE,
  EMOTION_EXP,
  EMOTION_POSE,
  HEAD_AMPLITUDE,
  sample_nonverbal,
)
from flowvq_jax.world.identity import HAIR_STYLES, Identity, Voice, make_identity
from flowvq_jax.world.mouth import mouth_from_audio
from flowvq_jax.world.speech import EMOTION_PROSODY, INTENSITY_LEVEL, synthesize_speech
from flowvq_jax.world.tables import EXP_NAMES, EXP_TABLE, POSE_NAMES, POSE_TABLE
from flowvq_jax.world.world import EXTERNAL_UTTERANCE, Clip, SyntheticWorld, landmarks, render

__all__ = [
  "BLINK_RATE",
  "EMOTION_EXP",
  "EMOTION_POSE",
  "EMOTION_PROSODY",
  "EXP_NAMES",
  "EXP_TABLE",
  "EXTERNAL_UTTERANCE",
  "HAIR_STYLES",
  "HEAD_AMPLITUDE",
  "INTENSITY_LEVEL",
  "POSE_NAMES",
  "POSE_TABLE",
  "Clip",
  "Identity",
  "SyntheticWorld",
  "Voice",
  "landmarks",
  "make_identity",
  "mouth_from_audio",
  "render",
  "sample_nonverbal",
  "synthesize_speech",
]
