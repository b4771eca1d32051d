"""Tiny fake MEAD and HDTF manual directories, in the real layouts and file formats.

Frames, audio and coefficients come from the synthetic world: h264 mp4 (ffmpeg), AAC
m4a, and Deep3DFaceRecon-style `.mat` files (`coeff`, N x 257) or `.npy` (N x 73).
"""

from __future__ import annotations

import os

import numpy as np
import scipy.io

from flowvq_jax.core import constants
from flowvq_jax.data import coeffs, media

RES = 64


def world_clip(identity: int, emotion: int, intensity: int, utterance: int, seconds: float = 1.0):
  from flowvq_jax.world import SyntheticWorld

  world = SyntheticWorld(seed=0, resolution=RES)
  seed = 1000 * identity + 10 * emotion + utterance
  return world.sample_clip(
    world.identity(identity), emotion, intensity, seconds, seed, utterance=utterance
  )


def _save_coeffs(path: str, exp: np.ndarray, pose: np.ndarray, fmt: str) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  if fmt == "mat":
    scipy.io.savemat(path + ".mat", {"coeff": coeffs.to_full(exp, pose).astype(np.float64)})
    return path + ".mat"
  np.save(path + ".npy", coeffs.to_compact(exp, pose))
  return path + ".npy"


# (speaker, emotion, level, utterance)
MEAD_CLIPS = (
  ("M001", "angry", 1, 1),
  ("M001", "angry", 2, 2),
  ("M001", "neutral", 1, 1),
  ("W002", "angry", 3, 2),
  ("W002", "neutral", 1, 2),
  ("W002", "sad", 1, 1),
)


def make_mead(root: str, clips=MEAD_CLIPS) -> dict[str, object]:
  """Writes a fake MEAD tree; returns {clip_id: world clip}."""
  out = {}
  for speaker, emotion, level, utt in clips:
    clip = world_clip(int(speaker[1:]), constants.emotion_index(emotion), level, utt, seconds=1.0)
    rel = os.path.join(speaker, "video", "front", emotion, f"level_{level}", f"{utt:03d}")
    media.write_video(os.path.join(root, rel + ".mp4"), clip.frames, fps=constants.FPS)
    audio = os.path.join(root, speaker, "audio", emotion, f"level_{level}", f"{utt:03d}.m4a")
    os.makedirs(os.path.dirname(audio), exist_ok=True)
    media.write_audio(audio, clip.audio)
    _save_coeffs(os.path.join(root, "coeffs", rel), clip.exp, clip.pose, "mat")
    out[f"{speaker}/{emotion}/level_{level}/{utt:03d}"] = clip
  return out


def make_hdtf(root: str) -> dict[str, object]:
  """Writes a fake HDTF tree: one 25 fps clip with .mat coefficients, one 30 fps clip with
  .npy coefficients at the native rate (the builder resamples both to 25 fps)."""
  out = {}
  for name, ident, fps, fmt in (("WDA_Alice_000", 3, 25, "mat"), ("RD_Bob_001", 4, 30, "npy")):
    clip = world_clip(ident, constants.NEUTRAL, 1, 5, seconds=1.0)
    t = clip.frames.shape[0]
    n = int(round(t * fps / constants.FPS))
    idx = np.minimum(np.floor(np.arange(n) * constants.FPS / fps + 0.5).astype(int), t - 1)
    sub = "videos" if fps == 25 else ""
    media.write_video(
      os.path.join(root, sub, name + ".mp4"), clip.frames[idx], fps=fps, audio=clip.audio
    )
    _save_coeffs(os.path.join(root, "coeffs", sub, name), clip.exp[idx], clip.pose[idx], fmt)
    out[f"{sub}/{name}".lstrip("/")] = clip
  return out
