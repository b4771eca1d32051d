"""TFDS builders `mead` and `hdtf`: real talking-face videos from a manual directory.

Both read videos, audio and per-video Deep3DFaceRecon coefficients that the user has
placed in the manual directory (`--manual_dir`; see docs/data.md for how to make the
coefficients). Layouts (`<root>` is the manual directory):

  MEAD  video   <root>/<speaker>/video/front/<emotion>/level_<k>/<nnn>.mp4
        audio   <root>/<speaker>/audio/<emotion>/level_<k>/<nnn>.m4a
  HDTF  video   <root>/<name>.mp4 (any sub-folders; audio is the mp4's own track)
  both  coeffs  <root>/coeffs/<path of the video relative to root, extension .mat or .npy>

e.g. `<root>/coeffs/M003/video/front/angry/level_1/001.mat`, `<root>/coeffs/WDA_X_000.npy`.
Coefficient files are read by `coeffs.load_coeffs` (`[N, 257]` or `[N, 73]`). Their rows
are frames either at 25 fps (frames extracted with `ffmpeg -vf fps=25`) or at the
video's own frame rate; the builder resamples frames and coefficients to 25 fps.

Faces are cropped with one box per video (`config.crop`): "haar" (OpenCV's Haar
cascade), "full" (the whole frame) or "x,y,w,h" in source pixels; then resized to
`config.resolution`.

Splits hold out speakers: validation and test speakers never appear in train. For MEAD
the test split also holds out sentences: MEAD numbers sentences per emotion, so for every
emotion the last `test_utterance_fraction` of its sentence numbers are held out; test
clips use only held-out (emotion, number) sentences, which train and validation never use.
HDTF clips have no emotion labels (stored as neutral, intensity 1); their utterance id
is the trailing number of the file name (`WDA_BarackObama_000` -> speaker
`WDA_BarackObama`, utterance 0).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from flowvq_jax.core import constants
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data import faces, media
from flowvq_jax.data.builders import base as tfds_base

STATS_KEY = "coeff_stats"
COEFF_DIR = "coeffs"
COEFF_EXTS = (".mat", ".npy")
PROBE_FRAMES = 8  # Frames the Haar cascade runs on per video.


@dataclasses.dataclass(eq=False)
class RealConfig(tfds.core.BuilderConfig):
  """How a real dataset is cropped and split."""

  resolution: int = 256
  crop: str = "haar"  # "haar", "full" or "x,y,w,h" (source pixels).
  val_speakers: tuple[str, ...] = ()  # Empty: about 10% of the speakers, at least one.
  test_speakers: tuple[str, ...] = ()  # Empty: about 10% of the speakers, at least one.
  test_utterance_fraction: float = 0.1  # MEAD: share of utterance ids held out for test.
  max_frame_mismatch: int = 2  # Coefficient rows may differ from frames by this much.


def _configs() -> list[RealConfig]:
  return [
    RealConfig(name=f"res{r}", description=f"Haar-cascade face crops at {r} px.", resolution=r)
    for r in (256, 128, 64)
  ]


def make_config(resolution: int = 256, crop: str = "haar", **kwargs) -> RealConfig:
  """A config named after its settings, e.g. `res64_full` or `res256_crop10_20_300_300`."""
  if crop not in ("haar", "full"):
    box = faces.parse_box(crop)
    crop = ",".join(str(v) for v in box)
    tag = "crop" + "_".join(str(v).replace("-", "m") for v in box)
  else:
    tag = "" if crop == "haar" else "full"
  name = f"res{resolution}" + (f"_{tag}" if tag else "")
  return RealConfig(name=name, resolution=resolution, crop=crop, **kwargs)


@dataclasses.dataclass(frozen=True)
class VideoItem:
  """One clip found in the manual directory."""

  video: str
  audio: str | None  # None: the video's own audio track.
  coeffs: str
  speaker: str
  emotion: int
  intensity: int
  utterance: int
  clip_id: str


def _coeff_path(root: str, video: str) -> str | None:
  rel = os.path.splitext(os.path.relpath(video, root))[0]
  for ext in COEFF_EXTS:
    p = os.path.join(root, COEFF_DIR, rel + ext)
    if os.path.isfile(p):
      return p
  return None


def _check_root(root: str | os.PathLike | None, name: str) -> str:
  if root is None:
    raise ValueError(f"{name} needs a manual directory (--manual_dir) with the videos.")
  root = os.fspath(root)
  if not os.path.isdir(root):
    raise ValueError(f"{name} manual directory does not exist: {root}")
  return root


def _missing_coeffs_error(root: str, missing: list[str]) -> ValueError:
  rel = os.path.splitext(os.path.relpath(missing[0], root))[0]
  return ValueError(
    f"{len(missing)} video(s) have no coefficient file, e.g. {missing[0]}: expected "
    f"{os.path.join(root, COEFF_DIR, rel)}.mat or .npy (see docs/data.md)."
  )


_MEAD_RE = re.compile(r"^([^/]+)/video/front/([^/]+)/level_(\d+)/(\d+)\.mp4$")


def scan_mead(root: str | os.PathLike | None) -> list[VideoItem]:
  """Finds every MEAD clip under `root`; validates audio and coefficient files exist."""
  root = _check_root(root, "MEAD")
  items, missing_coeffs = [], []
  for speaker in sorted(os.listdir(root)):
    front = os.path.join(root, speaker, "video", "front")
    if speaker == COEFF_DIR or not os.path.isdir(front):
      continue
    for dirpath, _, files in sorted(os.walk(front)):
      for f in sorted(files):
        if not f.lower().endswith(".mp4"):
          continue
        video = os.path.join(dirpath, f)
        rel = os.path.relpath(video, root).replace(os.sep, "/")
        m = _MEAD_RE.match(rel)
        if not m:
          raise ValueError(
            f"MEAD video {video} is not at <speaker>/video/front/<emotion>/level_<k>/<nnn>.mp4."
          )
        spk, emotion, level, num = m.groups()
        if emotion.lower() not in constants.EMOTIONS:
          raise ValueError(
            f"MEAD video {video}: unknown emotion folder {emotion!r}; expected one of "
            f"{', '.join(constants.EMOTIONS)}."
          )
        audio = os.path.join(root, spk, "audio", emotion, f"level_{level}", f"{num}.m4a")
        if not os.path.isfile(audio):
          raise ValueError(f"MEAD video {video} has no audio: expected {audio}.")
        coeff = _coeff_path(root, video)
        if coeff is None:
          missing_coeffs.append(video)
          continue
        items.append(
          VideoItem(
            video=video,
            audio=audio,
            coeffs=coeff,
            speaker=spk,
            emotion=constants.emotion_index(emotion.lower()),
            intensity=int(level),
            utterance=int(num),
            clip_id=f"{spk}/{emotion}/level_{level}/{num}",
          )
        )
  if missing_coeffs:
    raise _missing_coeffs_error(root, missing_coeffs)
  if not items:
    raise ValueError(
      f"No MEAD videos in {root}: expected "
      "<speaker>/video/front/<emotion>/level_<k>/<nnn>.mp4 with audio at "
      "<speaker>/audio/<emotion>/level_<k>/<nnn>.m4a."
    )
  return items


_HDTF_RE = re.compile(r"^(.*?)(?:_(\d+))?$")


def scan_hdtf(root: str | os.PathLike | None) -> list[VideoItem]:
  """Finds every HDTF clip (`*.mp4`) under `root`; validates coefficient files exist."""
  root = _check_root(root, "HDTF")
  items, missing_coeffs = [], []
  coeff_root = os.path.join(root, COEFF_DIR)
  for dirpath, dirnames, files in sorted(os.walk(root)):
    dirnames.sort()
    if os.path.commonpath([dirpath, coeff_root]) == coeff_root:
      continue
    for f in sorted(files):
      if not f.lower().endswith(".mp4"):
        continue
      video = os.path.join(dirpath, f)
      coeff = _coeff_path(root, video)
      if coeff is None:
        missing_coeffs.append(video)
        continue
      speaker, num = _HDTF_RE.match(os.path.splitext(f)[0]).groups()
      rel = os.path.splitext(os.path.relpath(video, root))[0].replace(os.sep, "/")
      items.append(
        VideoItem(
          video=video,
          audio=None,
          coeffs=coeff,
          speaker=speaker,
          emotion=constants.NEUTRAL,
          intensity=1,
          utterance=int(num) if num else 0,
          clip_id=rel,
        )
      )
  if missing_coeffs:
    raise _missing_coeffs_error(root, missing_coeffs)
  if not items:
    raise ValueError(f"No HDTF videos (*.mp4) in {root}.")
  return items


def split_items(
  items: list[VideoItem], config: RealConfig, hold_out_utterances: bool
) -> dict[str, list[VideoItem]]:
  """Train / validation / test clips with disjoint speakers (and test-only utterances)."""
  speakers = sorted({it.speaker for it in items})
  for name, chosen in (
    ("val_speakers", config.val_speakers),
    ("test_speakers", config.test_speakers),
  ):
    unknown = sorted(set(chosen) - set(speakers))
    if unknown:
      raise ValueError(f"{name} {unknown} are not in the data (speakers: {speakers}).")
  test = list(config.test_speakers)
  val = list(config.val_speakers)
  rest = [s for s in speakers if s not in test and s not in val]
  n10 = max(1, round(0.1 * len(speakers)))
  if not test and len(rest) >= 2:
    test, rest = rest[-n10:], rest[:-n10]
  if not val and len(rest) >= 2:
    k = min(n10, len(rest) - 1)
    val, rest = rest[-k:], rest[:-k]
  if not rest:
    raise ValueError(
      f"No speakers left for training (speakers: {speakers}, val {val}, test {test})."
    )
  # MEAD numbers its sentences per emotion, so a sentence is (emotion, number): hold out the
  # last test_utterance_fraction of the numbers of every emotion.
  held = set()
  if hold_out_utterances and config.test_utterance_fraction > 0:
    for emotion in sorted({it.emotion for it in items}):
      utts = sorted({it.utterance for it in items if it.emotion == emotion})
      if len(utts) >= 2:
        k = min(len(utts) - 1, max(1, round(config.test_utterance_fraction * len(utts))))
        held |= {(emotion, u) for u in utts[-k:]}
  key = lambda it: (it.emotion, it.utterance)
  out = {
    "train": [it for it in items if it.speaker in rest and key(it) not in held],
    "validation": [it for it in items if it.speaker in val and key(it) not in held],
    "test": [it for it in items if it.speaker in test and (not held or key(it) in held)],
  }
  if not out["train"]:
    raise ValueError("The train split is empty: no clips of the training speakers remain.")
  return {k: v for k, v in out.items() if v}


def _align(n_rows: int, n_native: int, fps: float, item: VideoItem, tol: int) -> np.ndarray:
  """Row of the coefficient file for each 25 fps frame, or a ValueError."""
  n25 = int(np.floor(n_native * constants.FPS / fps + 1e-6))
  if abs(n_rows - n25) <= tol:
    return np.arange(min(n_rows, n25))
  if abs(n_rows - n_native) <= tol:
    rows = np.floor(np.arange(n25) * fps / constants.FPS + 0.5).astype(int)
    return np.minimum(rows, n_rows - 1)
  raise ValueError(
    f"Coefficient count mismatch for {item.video}: {item.coeffs} has {n_rows} rows but "
    f"the video has {n_native} frames at {fps:g} fps ({n25} at {constants.FPS} fps)."
  )


def load_item(item: VideoItem, config: RealConfig) -> dict:
  """Reads, crops and aligns one clip into an example dict."""
  info = media.video_info(item.video)
  fps = info["fps"]
  if config.crop == "haar":
    # About PROBE_FRAMES frames spread over the video, decoded at a low frame rate.
    probe_fps = min(fps, PROBE_FRAMES / max(info["duration"], 1e-3))
    probe, _ = media.read_video(item.video, fps=probe_fps)
    box = faces.detect_face_box(probe, num_probes=PROBE_FRAMES, source=item.video)
  elif config.crop == "full":
    box = None
  else:
    box = faces.parse_box(config.crop)
  frames, _ = media.read_video(item.video, crop_box=box, size=config.resolution)
  exp, pose = coeffs_lib.load_coeffs(item.coeffs)
  rows = _align(exp.shape[0], frames.shape[0], fps, item, config.max_frame_mismatch)
  t = rows.shape[0]
  # 25 fps frames: nearest source frame (the same rule as the rows of native-rate coeffs).
  src = np.minimum(np.floor(np.arange(t) * fps / constants.FPS + 0.5).astype(int), len(frames) - 1)
  frames = frames[src]
  try:
    wav = media.load_audio(item.audio or item.video)
  except ValueError as e:
    raise ValueError(f"Audio of {item.video}: {e}") from None
  wav = audio_lib.fit_length(wav, t)
  return {
    "frames": frames,
    "exp": exp[rows],
    "pose": pose[rows],
    "audio": wav,
    "mel": audio_lib.log_mel(wav, num_frames=t),
    "emotion": item.emotion,
    "intensity": item.intensity,
    "identity": 0,
    "utterance": item.utterance,
    "speaker": item.speaker,
    "clip_id": item.clip_id,
  }


class _RealBuilder(tfds_base.Builder, skip_registration=True):
  """Shared generation of the real datasets."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = _configs()
  DEFAULT_CONFIG_NAME = "res256"
  HOLD_OUT_UTTERANCES = False

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=self.__doc__,
      features=tfds_base.clip_features(
        self.builder_config.resolution, landmarks=False, speaker=True
      ),
      metadata=tfds.core.MetadataDict(),
    )

  def _scan(self, root) -> list[VideoItem]:
    raise NotImplementedError

  def _split_generators(self, dl_manager):
    items = self._scan(dl_manager.manual_dir)
    speakers = sorted({it.speaker for it in items})
    self.info.metadata["speakers"] = speakers
    splits = split_items(items, self.builder_config, self.HOLD_OUT_UTTERANCES)
    self.info.metadata["split_speakers"] = {
      k: sorted({it.speaker for it in v}) for k, v in splits.items()
    }
    ids = {s: i for i, s in enumerate(speakers)}
    return {k: self._generate_examples(k, v, ids) for k, v in splits.items()}

  def _generate_examples(self, split, items, ids) -> Iterator[tuple[str, dict]]:
    acc = coeffs_lib.StatsAccumulator() if split == "train" else None
    for item in items:
      example = load_item(item, self.builder_config)
      example["identity"] = ids[item.speaker]
      if acc is not None:
        acc.add(example["exp"], example["pose"])
      yield item.clip_id, example
    if acc is not None:
      self.info.metadata[STATS_KEY] = acc.result().to_dict()


class Mead(_RealBuilder):
  """MEAD (Wang et al., ECCV 2020): 8 emotions x 3 intensities, frontal view."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "Download MEAD (https://wywu.github.io/projects/MEAD/MEAD.html), extract each "
    "speaker's video.tar and audio.tar so that <manual_dir>/<speaker>/video/front/... and "
    "<manual_dir>/<speaker>/audio/... exist, and put Deep3DFaceRecon coefficients under "
    "<manual_dir>/coeffs/ mirroring the video paths (docs/data.md)."
  )
  HOLD_OUT_UTTERANCES = True

  def _scan(self, root) -> list[VideoItem]:
    return scan_mead(root)


class Hdtf(_RealBuilder):
  """HDTF (Zhang et al., CVPR 2021): high-resolution talking faces, no emotion labels."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "Download and trim the HDTF clips (https://github.com/MRzzm/HDTF) into mp4 files "
    "under <manual_dir>, and put Deep3DFaceRecon coefficients under <manual_dir>/coeffs/ "
    "mirroring the video paths (docs/data.md)."
  )

  def _scan(self, root) -> list[VideoItem]:
    return scan_hdtf(root)
