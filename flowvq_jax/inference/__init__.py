"""End to end: speech + a source face + an emotion -> talking-face frames, coefficients, video.

  from flowvq_jax import inference as pipeline
  talker = pipeline.load("checkpoints")  # the flowvq_jax.stages layout
  gen = pipeline.generate(talker, "speech.wav", "face.png", emotion="happy", num_samples=2)
  gen.frames  # uint8 [2, T, S, S, 3]; gen.exp [2, T, 64], gen.pose [2, T, 6] (denormalised)
  pipeline.save(gen, "out")  # sample_0.mp4 (h264 + AAC), sample_0_exp.npy, ..., side_by_side.mp4

  # Long audio: frames are rendered block by block and streamed into ffmpeg.
  result = pipeline.generate_to_dir(talker, "talk.mp3", "face.png", "out", emotion="sad")

How a generation runs (`prepare` then `render`):
  1. Audio: any file ffmpeg reads (or a float32 waveform at 16 kHz), mono, cut to whole 25 fps
     frames (T = n // 640); its 80-bin log-mel (`flowvq_jax.data.audio`).
  2. Source image: a path or uint8 array, cropped to the face (`crop='auto'`: the Haar cascade of
     `flowvq_jax.data.faces`; `'none'`: centre square; `'x,y,w,h'`: a fixed box) and resized to
     the renderer's S x S.
  3. Coefficients: ExpFlow samples normalised expression `[N, T, 64]` for the emotion (a name, an
     index, a per-frame `[T]` array, or a schedule `'neutral:0-2,happy:2-6'` in seconds) at
     `intensity`; with `emotion_ref` it samples around a reference clip's latents instead
     (emotion transfer). PoseFlow samples pose (`pose='sampled'`), or the pose is the training
     mean (`'still'`) or follows a coefficient file. Both flows run autoregressively in
     fixed-size chunks that carry their state (`flowvq_jax.models.flow.sampler.FlowSampler`), so any
     length runs one compiled program and there is no seam. The samples are denormalised with
     each flow's training statistics (`Generation.exp`, `.pose`) and renormalised with the
     renderer's. `blink=False` holds the synthetic world's blink dimension at its resting level.
  4. Frames: the stage-2 code-query renderer draws frame t from the coefficient window
     t-k..t+k (edge-padded at the clip's ends, never at block borders), in fixed-size batches.

Checkpoints (`flowvq_jax.stages`): DIR/{expflow,poseflow,vq_codebook,vq_query}, each a training
workdir. `load` reads each stage's latest checkpoint; the coefficient statistics of each stage's
training data are cached as `DIR/<stage>/coeff_stats.json` the first time, so later loads need
neither the dataset nor the time. See docs/generate.md.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import jax
import ml_collections
import numpy as np

from flowvq_jax import stages
from flowvq_jax.core import constants
from flowvq_jax.core.constants import EMOTIONS, EXP_DIM, FPS, POSE_DIM, SAMPLE_RATE, emotion_index
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import coeffs as coeffs_lib

STATS_FILE = "coeff_stats.json"
SILENCE_PEAK = 1e-3  # audio whose peak amplitude is below this is "silent" (-60 dBFS).
MAX_REFERENCE_FRAMES = 750  # emotion_ref: the first 30 s of a reference clip are encoded.
WORLD_REFERENCE_SECONDS = 4.0  # length of a `world:...` reference clip.
POSE_MODES = ("sampled", "still")
CROP_MODES = ("auto", "none")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".mp4", ".mov", ".mkv")
DEFAULT_CHUNK_FRAMES = 250  # frames rendered (and held) per block when streaming: 10 s.
_HINT = {
  "expflow": "python -m launch.train --config configs/expflow.py:... --workdir DIR/expflow",
  "poseflow": "python -m launch.train --config configs/poseflow.py:... --workdir DIR/poseflow",
  "vq_query": "python -m launch.train --config configs/vq_query.py:... --workdir DIR/vq_query",
}


# ------------------------------------------------------------------------------------------------
# Loading.


@dataclasses.dataclass(eq=False)
class Talker:
  """Every trained stage of a checkpoints directory, ready to generate.

  Attributes:
    exp_model, exp_params, exp_stats: ExpFlow (`CoefficientFlow`), its params and the
      `CoeffStats` of its training data (it samples coefficients normalised with them).
    pose_model, pose_params, pose_stats: the same for PoseFlow.
    generator, gen_params, stage1_params: the stage-2 `CodeQueryGenerator`, its params
      `{'query', 'fusion'}` and the frozen stage-1 autoencoder params.
    render_stats: the `CoeffStats` the renderer was trained with.
    image_size: S, the renderer's frame size in pixels.
    configs: each stage's resolved training config, by stage name.
    directory: the checkpoints directory.
    steps: the checkpoint step loaded, by stage name.
  """

  exp_model: Any
  exp_params: Any
  exp_stats: coeffs_lib.CoeffStats
  pose_model: Any
  pose_params: Any
  pose_stats: coeffs_lib.CoeffStats
  generator: Any
  gen_params: Any
  stage1_params: Any
  render_stats: coeffs_lib.CoeffStats
  image_size: int
  configs: dict[str, ml_collections.ConfigDict]
  directory: str = ""
  steps: dict[str, int] = dataclasses.field(default_factory=dict)
  flow_chunk: int = 64
  render_chunk: int = 16
  _cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

  @property
  def exp_sampler(self):
    """The (cached, compiled once) `FlowSampler` of ExpFlow."""
    return self._cached("exp_sampler", lambda: _flow_sampler(self.exp_model, self.flow_chunk))

  @property
  def pose_sampler(self):
    """The (cached) `FlowSampler` of PoseFlow."""
    return self._cached("pose_sampler", lambda: _flow_sampler(self.pose_model, self.flow_chunk))

  @property
  def renderer(self):
    """The (cached) `BatchRenderer` of the stage-2 generator."""
    from flowvq_jax.models.vq.renderer import BatchRenderer  # noqa: PLC0415

    return self._cached("renderer", lambda: BatchRenderer(self.generator, self.render_chunk))

  def _cached(self, name, make):
    if name not in self._cache:
      self._cache[name] = make()
    return self._cache[name]


def _flow_sampler(model, chunk):
  from flowvq_jax.models.flow.sampler import FlowSampler  # noqa: PLC0415

  return FlowSampler(model, chunk_size=chunk)


_LOADED: dict[tuple, Talker] = {}


def _stage_key(checkpoints: str) -> tuple:
  from flowvq_jax.train import checkpoint  # noqa: PLC0415

  key = [os.path.realpath(checkpoints)]
  for stage in stages.STAGES:
    wd = stages.stage_dir(checkpoints, stage)
    cfg = os.path.join(wd, "config.json")
    mtime = os.path.getmtime(cfg) if os.path.exists(cfg) else None
    key.append((stage, checkpoint.latest_step(os.path.join(wd, "checkpoints")), mtime))
  return tuple(key)


def load(checkpoints: str | os.PathLike, *, cache: bool = True) -> Talker:
  """Loads every stage of a checkpoints directory (the `flowvq_jax.stages` layout).

  Args:
    checkpoints: DIR holding expflow/, poseflow/, vq_codebook/ and vq_query/ training workdirs.
    cache: return the Talker already loaded from the same DIR in this process when no stage has
      a newer checkpoint (its compiled samplers and renderer are reused).

  Returns:
    a `Talker`.

  Raises:
    FileNotFoundError: naming the missing directory, stage, config or checkpoint.
    ValueError: a stage workdir trained the wrong task.
  """
  from flowvq_jax.train import checkpoint  # noqa: PLC0415
  from flowvq_jax.train.tasks import flow as flow_task  # noqa: PLC0415
  from flowvq_jax.train.tasks import vq_query as query_task  # noqa: PLC0415

  checkpoints = os.fspath(checkpoints)
  if not os.path.isdir(checkpoints):
    raise FileNotFoundError(
      f"Checkpoints directory {checkpoints} does not exist (train one with "
      "`python -m launch.quickstart` or flowvq_jax.stages.train_stages)."
    )
  for stage in stages.STAGES:
    wd = stages.stage_dir(checkpoints, stage)
    if not os.path.isdir(wd):
      raise FileNotFoundError(
        f"Checkpoints directory {checkpoints} has no {stage}/ stage (expected "
        f"{', '.join(s + '/' for s in stages.STAGES)}; see flowvq_jax/stages.py)."
      )
  key = _stage_key(checkpoints)
  if cache and key in _LOADED:
    return _LOADED[key]

  configs, steps = {}, {}
  flows = {}
  for stage, coeffs in (("expflow", "exp"), ("poseflow", "pose")):
    wd = stages.stage_dir(checkpoints, stage)
    config, arrays, step = checkpoint.load_run(wd, "flow", _HINT[stage])
    if config.data.coeffs != coeffs:
      raise ValueError(
        f"{wd} trained a flow over {config.data.coeffs!r} coefficients, not {coeffs!r}."
      )
    model = flow_task.model_of(config)
    stats = _cached_stats(wd, config, lambda c=config: flow_task.clip_source(c.data, "train")[1])
    flows[coeffs] = (model, _device(_params(config, arrays)), stats)
    configs[stage], steps[stage] = config, step

  wd = stages.stage_dir(checkpoints, "vq_query")
  config, arrays, step = checkpoint.load_run(wd, "vq_query", _HINT["vq_query"])
  stage1_dir = stages.stage_dir(checkpoints, "vq_codebook")
  with config.unlocked():
    # The stage-1 run next to it, not the absolute path stored at training time: a checkpoints
    # directory can be moved or copied.
    config.model.stage1_workdir = stage1_dir
  stage1_config = query_task.stage1_config(config)
  generator = query_task.make_generator(config, stage1_config.model)
  params = _params(config, arrays)
  gen_params = _device({k: params[k] for k in ("query", "fusion")})
  stage1_params = _device(query_task.frozen_stage1(config, arrays))
  render_stats = _cached_stats(wd, config, lambda: query_task.clip_source(config.data, "train")[1])
  configs["vq_query"], steps["vq_query"] = config, step
  configs["vq_codebook"] = stage1_config

  talker = Talker(
    exp_model=flows["exp"][0],
    exp_params=flows["exp"][1],
    exp_stats=flows["exp"][2],
    pose_model=flows["pose"][0],
    pose_params=flows["pose"][1],
    pose_stats=flows["pose"][2],
    generator=generator,
    gen_params=gen_params,
    stage1_params=stage1_params,
    render_stats=render_stats,
    image_size=int(generator.image_size),
    configs=configs,
    directory=checkpoints,
    steps=steps,
  )
  if cache:
    _LOADED[key] = talker
  return talker


def _params(config, arrays) -> Any:
  """The run's params (its EMA when the run evaluates with it)."""
  ema = arrays.get("ema_params")
  if config.get("eval", {}).get("use_ema", False) and ema:
    return ema
  return arrays["params"]


def _device(tree):
  return jax.tree.map(jax.numpy.asarray, tree)


def _cached_stats(workdir: str, config, compute) -> coeffs_lib.CoeffStats:
  """The run's train-split `CoeffStats`, from `workdir/coeff_stats.json` or computed and cached.

  Identity statistics when the run trained on unnormalised coefficients (`data.normalize`).
  """
  if not config.data.get("normalize", True):
    return coeffs_lib.CoeffStats.identity()
  path = os.path.join(workdir, STATS_FILE)
  if os.path.exists(path):
    return coeffs_lib.CoeffStats.load_json(path)
  try:
    stats = compute()
  except ValueError as e:  # e.g. the training dataset is not prepared on this machine.
    raise ValueError(
      f"{e} The coefficient statistics of {workdir}'s training data are needed once: prepare "
      f"that dataset here, or copy {STATS_FILE} from a machine where it was made into {workdir}."
    ) from None
  try:  # Atomic: parallel loads never read a half-written file.
    fd, tmp = tempfile.mkstemp(dir=workdir, suffix=".tmp")
    os.close(fd)
    stats.save_json(tmp)
    os.replace(tmp, path)
  except OSError:
    pass  # A read-only checkpoints directory: recomputed next time.
  return stats


# ------------------------------------------------------------------------------------------------
# Inputs.


def load_audio_input(audio: Any) -> np.ndarray:
  """A path (any format ffmpeg reads) or a float waveform `[n]` at 16 kHz -> float32 `[n]`.

  Raises:
    FileNotFoundError / ValueError: unreadable, too short (< one 25 fps frame) or silent audio.
  """
  from flowvq_jax.data import media  # noqa: PLC0415

  if isinstance(audio, (str, os.PathLike)):
    name = os.fspath(audio)
    wav = media.load_audio(name)
  else:
    name = "the audio waveform"
    wav = np.asarray(audio)
    if wav.ndim != 1 or not np.issubdtype(wav.dtype, np.floating):
      raise ValueError(
        f"audio must be a file path or a float waveform [n] at {SAMPLE_RATE} Hz, got "
        f"{wav.dtype} {wav.shape}."
      )
    wav = wav.astype(np.float32)
  if not np.all(np.isfinite(wav)):
    raise ValueError(f"Audio {name} contains NaN or inf samples.")
  if audio_lib.num_video_frames(wav.shape[0]) < 1:
    raise ValueError(
      f"Audio {name} is too short: {wav.shape[0]} samples at {SAMPLE_RATE} Hz, less than one "
      f"video frame ({constants.SAMPLES_PER_FRAME} samples)."
    )
  peak = float(np.max(np.abs(wav)))
  if peak < SILENCE_PEAK:
    raise ValueError(
      f"Audio {name} is silent (peak amplitude {peak:.2g} < {SILENCE_PEAK:g}): there is no "
      "speech to animate."
    )
  return wav


def _read_image(image: Any) -> tuple[np.ndarray, str]:
  if isinstance(image, (str, os.PathLike)):
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    name = os.fspath(image)
    if not os.path.isfile(name):
      raise FileNotFoundError(f"Image file not found: {name}")
    try:
      with Image.open(name) as im:
        return np.asarray(im.convert("RGB")), name
    except (UnidentifiedImageError, OSError) as e:
      raise ValueError(f"Could not read image {name}: {e}") from None
  x = np.asarray(image)
  if x.dtype != np.uint8:
    raise ValueError(f"image must be a file path or uint8 [H, W, 3] RGB, got dtype {x.dtype}.")
  if x.ndim == 2:
    x = np.repeat(x[..., None], 3, axis=-1)
  if x.ndim != 3 or x.shape[-1] not in (3, 4) or min(x.shape[:2]) < 2:
    raise ValueError(f"image must be uint8 [H, W, 3] RGB, got shape {x.shape}.")
  return np.ascontiguousarray(x[..., :3]), "the image"


def _crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
  """Crops `(x, y, w, h)`; parts outside the image are black (as `media.read_video` pads)."""
  x, y, w, h = box
  hh, ww = img.shape[:2]
  out = np.zeros((h, w, 3), np.uint8)
  x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, ww), min(y + h, hh)
  if x1 > x0 and y1 > y0:
    out[y0 - y : y1 - y, x0 - x : x1 - x] = img[y0:y1, x0:x1]
  return out


def prepare_image(image: Any, size: int, crop: str = "auto") -> np.ndarray:
  """The source face: a path or uint8 `[H, W, 3]` -> uint8 `[size, size, 3]`.

  Args:
    image: png/jpg path (any size) or uint8 RGB array.
    size: the renderer's frame size S.
    crop: 'auto' (Haar face detection; a square box 1.6x the face, as the datasets crop),
      'none' (a pre-aligned face: the centre square, resized), or 'x,y,w,h' (a box in pixels).

  Raises:
    ValueError: no face found with crop='auto' (the message suggests crop='none'), or a bad
      crop value or image.
  """
  import cv2  # noqa: PLC0415

  from flowvq_jax.data import faces  # noqa: PLC0415

  img, name = _read_image(image)
  h, w = img.shape[:2]
  crop = str(crop).strip().lower()
  if crop == "auto":
    try:
      box = faces.detect_face_box(img[None], num_probes=1, source=name)
    except ValueError as e:
      msg = str(e).split("; give a fixed crop box")[0]
      raise ValueError(
        f"{msg}. If the image is already an aligned face crop, use --crop none "
        "(crop='none'), or give a box with --crop x,y,w,h."
      ) from None
    img = _crop(img, box)
  elif crop == "none":
    side = min(h, w)
    img = img[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
  else:
    try:
      box = faces.parse_box(crop)
    except ValueError:
      raise ValueError(
        f"Unknown crop {crop!r}; use 'auto', 'none' or a box 'x,y,w,h' in pixels."
      ) from None
    img = _crop(img, box)
  if img.shape[:2] != (size, size):
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_CUBIC
    img = cv2.resize(img, (size, size), interpolation=interp)
  return np.ascontiguousarray(img)


_SEGMENT = re.compile(r"^\s*([A-Za-z]+|\d+)\s*:\s*([0-9.]+)\s*-\s*([0-9.]*)\s*$")


def parse_schedule(text: str) -> list[tuple[int, float, float | None]]:
  """`'neutral:0-2,happy:2-6'` -> `[(emotion index, start s, end s or None), ...]`.

  Segments are `EMOTION:START-END` in seconds, separated by commas, in time order and not
  overlapping; the last END may be left out (`happy:2-`: to the end). Before the first segment
  the first emotion holds, in gaps and after the last segment the previous one holds.

  Raises:
    ValueError: naming the bad segment.
  """
  segments: list[tuple[int, float, float | None]] = []
  parts = str(text).split(",")
  for i, part in enumerate(parts):
    m = _SEGMENT.match(part)
    if not m:
      raise ValueError(
        f"Malformed emotion schedule segment {part.strip()!r} in {text!r}: expected "
        "EMOTION:START-END in seconds, e.g. 'neutral:0-2,happy:2-6'."
      )
    name, start, end = m.groups()
    emo = emotion_index(int(name) if name.isdigit() else name)
    try:
      t0 = float(start)
      t1 = float(end) if end else None
    except ValueError:
      raise ValueError(f"Malformed times in emotion schedule segment {part.strip()!r}.") from None
    if t1 is None and i != len(parts) - 1:
      raise ValueError(f"Only the last schedule segment may leave out its end: {part.strip()!r}.")
    if t1 is not None and t1 <= t0:
      raise ValueError(f"Emotion schedule segment {part.strip()!r} ends before it starts.")
    if segments:
      prev_end = segments[-1][2]
      if t0 < segments[-1][1] or (prev_end is not None and t0 < prev_end - 1e-9):
        raise ValueError(
          f"Emotion schedule segments must be in time order without overlap: {part.strip()!r}."
        )
    segments.append((emo, t0, t1))
  if not segments:
    raise ValueError(f"Empty emotion schedule {text!r}.")
  return segments


def emotion_frames(emotion: Any, num_frames: int) -> np.ndarray:
  """An emotion (name, index, schedule string or per-frame `[T]` array) -> int32 `[T]`."""
  if isinstance(emotion, str) and (":" in emotion or "," in emotion):
    out = np.empty((num_frames,), np.int32)
    segments = parse_schedule(emotion)
    out[:] = segments[0][0]
    for emo, t0, _ in segments:
      out[min(int(round(t0 * FPS)), num_frames) :] = emo
    return out
  if isinstance(emotion, str):
    e = emotion.strip()
    return np.full((num_frames,), emotion_index(int(e) if e.isdigit() else e), np.int32)
  if isinstance(emotion, (int, np.integer)):
    return np.full((num_frames,), emotion_index(emotion), np.int32)
  arr = np.asarray(emotion)
  if arr.shape != (num_frames,):
    raise ValueError(
      f"A per-frame emotion must have shape [T]=({num_frames},), got {arr.shape}; or give a "
      "name, an index or a schedule 'neutral:0-2,happy:2-6'."
    )
  if arr.dtype.kind in "US":
    return np.array([emotion_index(str(e)) for e in arr], np.int32)
  return np.array([emotion_index(int(e)) for e in arr], np.int32)


def check_options(
  *, emotion: Any = "neutral", intensity: float = 3.0, emotion_ref: Any = None,
  pose: Any = "sampled", blink: bool = True, temperature: float = 1.0, num_samples: int = 1,
  seed: int = 0, fidelity: float = 0.5, crop: str = "auto",
) -> None:  # fmt: skip
  """Validates the generation options that need no model (cheap; the CLI runs it first).

  Raises:
    ValueError / FileNotFoundError: naming the bad option.
  """
  if isinstance(emotion, str):
    if ":" in emotion or "," in emotion:
      parse_schedule(emotion)
    else:
      emotion_index(int(emotion) if emotion.strip().isdigit() else emotion)
  elif isinstance(emotion, (int, np.integer)):
    emotion_index(emotion)
  if not np.isfinite(intensity) or not 0.0 <= float(intensity) <= 3.0:
    raise ValueError(f"intensity must be a level in [0, 3] (0 neutral, 3 full), got {intensity}.")
  if not np.isfinite(temperature) or float(temperature) < 0:
    raise ValueError(f"temperature must be >= 0, got {temperature}.")
  if int(num_samples) < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}.")
  if isinstance(seed, bool) or int(seed) != seed or int(seed) < 0:
    raise ValueError(f"seed must be an integer >= 0, got {seed!r}.")
  if not isinstance(blink, (bool, np.bool_)):
    raise ValueError(f"blink must be True or False, got {blink!r}.")
  if not 0.0 <= float(fidelity) <= 1.0:
    raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}.")
  if isinstance(pose, str) and pose not in POSE_MODES and not os.path.isfile(pose):
    raise ValueError(
      f"pose must be 'sampled', 'still' or a coefficient file; {pose!r} is neither (no such file)."
    )
  c = str(crop).strip().lower()
  if c not in CROP_MODES:
    from flowvq_jax.data import faces  # noqa: PLC0415

    try:
      faces.parse_box(c)
    except ValueError:
      raise ValueError(
        f"Unknown crop {crop!r}; use 'auto', 'none' or a box 'x,y,w,h' in pixels."
      ) from None
  if isinstance(emotion_ref, str):
    if emotion_ref.startswith("world:"):
      parse_world_ref(emotion_ref)
    elif not os.path.isfile(emotion_ref):
      raise FileNotFoundError(
        f"emotion_ref {emotion_ref!r} is neither a coefficient file nor a 'world:IDENTITY:EMOTION"
        "[:SEED]' clip."
      )


def read_coefficients(path: str, want: str) -> np.ndarray:
  """exp `[M, 64]` (`want='exp'`) or pose `[M, 6]` (`want='pose'`) from a coefficient file.

  Reads what `flowvq_jax.data.coeffs.load_coeffs` reads (`.npy` `[M, 257]` / `[M, 73]`, `.mat`)
  and the `.npy` files `save` writes (`*_exp.npy` `[M, 64]`, `*_pose.npy` `[M, 6]`).
  """
  width = EXP_DIM if want == "exp" else POSE_DIM
  if str(path).lower().endswith(".npy") and os.path.isfile(path):
    try:
      arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
      raise ValueError(f"Could not read coefficient file {path}: {e}") from None
    if arr.ndim == 2 and arr.shape[1] == width:
      out = arr.astype(np.float32)
      if out.shape[0] == 0 or not np.all(np.isfinite(out)):
        raise ValueError(f"Coefficient file {path} is empty or has NaN/inf values.")
      return out
    if arr.ndim == 2 and arr.shape[1] == (POSE_DIM if want == "exp" else EXP_DIM):
      raise ValueError(
        f"{path} holds {arr.shape[1]}-d coefficients; {want} needs {width} per frame (or a "
        f"full [M, {coeffs_lib.FULL_WIDTH}] / [M, {coeffs_lib.COMPACT_WIDTH}] file)."
      )
  exp, pose = coeffs_lib.load_coeffs(path)
  out = exp if want == "exp" else pose
  if out.shape[0] == 0 or not np.all(np.isfinite(out)):
    raise ValueError(f"Coefficient file {path} is empty or has NaN/inf values.")
  return out


def parse_world_ref(spec: str) -> tuple[int, int, int]:
  """`'world:IDENTITY:EMOTION[:SEED]'` -> (identity, emotion index, seed)."""
  parts = spec.split(":")
  if len(parts) not in (3, 4) or parts[0] != "world":
    raise ValueError(
      f"A synthetic-world reference is 'world:IDENTITY:EMOTION[:SEED]' (e.g. "
      f"'world:3:happy:7'), got {spec!r}."
    )
  try:
    identity = int(parts[1])
    seed = int(parts[3]) if len(parts) == 4 else 0
  except ValueError:
    raise ValueError(f"IDENTITY and SEED of {spec!r} must be integers >= 0.") from None
  if identity < 0 or seed < 0:
    raise ValueError(f"IDENTITY and SEED of {spec!r} must be integers >= 0.")
  e = parts[2]
  return identity, emotion_index(int(e) if e.isdigit() else e), seed


def _reference_audio(path: str) -> str | None:
  stem = os.path.splitext(path)[0]
  for suffix in ("", "_audio"):
    for ext in AUDIO_EXTENSIONS:
      cand = stem + suffix + ext
      if os.path.isfile(cand) and os.path.abspath(cand) != os.path.abspath(path):
        return cand
  return None


def reference_latent(
  talker: Talker, emotion_ref: Any, wav: np.ndarray, emotion: int
) -> tuple[np.ndarray, np.ndarray, str]:
  """Latent location and scale `[64]` of a reference clip, for emotion transfer.

  `emotion_ref`: a coefficient file (its audio: a same-stem audio/video file next to it, e.g.
  `clip.npy` + `clip.wav`, else the input audio `wav`), `'world:IDENTITY:EMOTION[:SEED]'` (a
  synthetic-world clip of WORLD_REFERENCE_SECONDS with its own speech, intensity 3), or raw
  expression coefficients `[M, 64]` (with the input audio). At most MAX_REFERENCE_FRAMES frames
  are used. The clip goes through ExpFlow (`flowvq_jax.models.flow.sampler.encode`); the mean and
  spread of its latents replace the emotion component when sampling.

  Returns:
    (loc, scale, description).
  """
  from flowvq_jax.models.flow import sampler as sampler_lib  # noqa: PLC0415

  ref_emotion = emotion
  if isinstance(emotion_ref, str) and emotion_ref.startswith("world:"):
    from flowvq_jax.world import SyntheticWorld  # noqa: PLC0415

    identity, ref_emotion, seed = parse_world_ref(emotion_ref)
    mem = talker.configs["expflow"].data.get("memory", {}) or {}
    world = SyntheticWorld(seed=int(mem.get("world_seed", 0)), resolution=64)
    clip = world.sample_clip(
      identity, ref_emotion, 3, WORLD_REFERENCE_SECONDS, seed, render_frames=False
    )
    exp, ref_wav, what = clip.exp, clip.audio, f"synthetic-world clip {emotion_ref}"
  elif isinstance(emotion_ref, (str, os.PathLike)):
    path = os.fspath(emotion_ref)
    exp = read_coefficients(path, "exp")
    audio_path = _reference_audio(path)
    if audio_path is not None:
      from flowvq_jax.data import media  # noqa: PLC0415

      ref_wav, what = media.load_audio(audio_path), f"{path} with the audio of {audio_path}"
    else:
      ref_wav, what = wav, f"{path} with the input audio"
  else:
    exp = np.asarray(emotion_ref, np.float32)
    if exp.ndim != 2 or exp.shape[1] != EXP_DIM or exp.shape[0] == 0:
      raise ValueError(f"emotion_ref coefficients must be [M, {EXP_DIM}], got {exp.shape}.")
    ref_wav, what = wav, "the given coefficients with the input audio"
  exp = np.asarray(exp, np.float32)[:MAX_REFERENCE_FRAMES]
  t = exp.shape[0]
  x = (exp - talker.exp_stats.exp_mean) / talker.exp_stats.exp_std
  mel = audio_lib.mel_windows(
    audio_lib.log_mel(audio_lib.fit_length(ref_wav, t), num_frames=t),
    talker.exp_model.audio_context,
  )
  emo = np.int32(ref_emotion) if talker.exp_model.emotion_in_context else None
  z = sampler_lib.encode(talker.exp_model, talker.exp_params, x, mel, emo)
  loc, scale = sampler_lib.reference_latent(np.asarray(z))
  return loc, scale, what


def _tile(x: np.ndarray, t: int) -> np.ndarray:
  """Loops (or trims) `[M, D]` to `[t, D]`."""
  reps = -(-t // x.shape[0])
  return np.tile(x, (reps, 1))[:t]


def hold_blink(exp: np.ndarray, window: int = 2 * FPS + 1) -> np.ndarray:
  """Removes blinks: the world's blink dim replaced by its rolling median (`window` frames).

  Blinks in the synthetic world are short closures (7 frames) from a resting lid level (0 =
  open; a slight droop for sad), so the median over 2 s is that resting level and follows
  emotion changes. `exp`: raw (denormalised) `[..., T, 64]` in the synthetic world's layout
  (`flowvq_jax.world.EXP_TABLE`); returns a copy.
  """
  import scipy.ndimage  # noqa: PLC0415

  from flowvq_jax.world import EXP_NAMES  # noqa: PLC0415

  dim = EXP_NAMES.index("blink")
  out = np.array(exp, np.float32, copy=True)
  col = out[..., dim]
  size = [1] * (col.ndim - 1) + [max(1, min(int(window), col.shape[-1]) | 1)]
  out[..., dim] = scipy.ndimage.median_filter(col, size=size, mode="nearest")
  return out


def _is_world_layout(config) -> bool:
  data = config.data
  return data.source == "memory" or str(data.get("name", "")).startswith("synthetic")


# ------------------------------------------------------------------------------------------------
# Generation.


@dataclasses.dataclass
class Prepared:
  """Everything but the frames: the inputs and the sampled coefficients of N samples.

  Attributes:
    audio: float32 `[T * 640]` at 16 kHz (cut to whole frames).
    source: uint8 `[S, S, 3]`, the cropped source face.
    exp: float32 `[N, T, 64]`, pose: float32 `[N, T, 6]`: denormalised coefficients.
    emotion: int32 `[T]` per-frame emotion index.
    fps: frames per second (25).
    timings: seconds per phase so far (`inputs`, `coefficients`).
    info: notes on the choices made (e.g. the emotion reference).
  """

  audio: np.ndarray
  source: np.ndarray
  exp: np.ndarray
  pose: np.ndarray
  emotion: np.ndarray
  fps: int
  timings: dict[str, float]
  info: dict[str, Any]

  @property
  def num_samples(self) -> int:
    return int(self.exp.shape[0])

  @property
  def num_frames(self) -> int:
    return int(self.exp.shape[1])


def sample_seeds(seed: int, num_samples: int) -> tuple[list[int], list[int]]:
  """Per-sample seeds of ExpFlow and PoseFlow: sample i depends on (seed, i) only, so sample
  i is the same whatever `num_samples` is."""
  exp, pose = [], []
  for i in range(int(num_samples)):
    a, b = np.random.SeedSequence([int(seed), i]).generate_state(2)
    exp.append(int(a) & 0x7FFFFFFF)
    pose.append(int(b) & 0x7FFFFFFF)
  return exp, pose


def prepare(
  talker: Talker,
  audio: Any,
  image: Any,
  *,
  emotion: Any = "neutral",
  intensity: float = 3.0,
  emotion_ref: Any = None,
  pose: Any = "sampled",
  blink: bool = True,
  temperature: float = 1.0,
  num_samples: int = 1,
  seed: int = 0,
  crop: str = "auto",
) -> Prepared:
  """Loads the inputs and samples the coefficients (see `generate` for the arguments)."""
  check_options(
    emotion=emotion, intensity=intensity, emotion_ref=emotion_ref, pose=pose, blink=blink,
    temperature=temperature, num_samples=num_samples, seed=seed, crop=crop,
  )  # fmt: skip
  if not blink and not _is_world_layout(talker.configs["expflow"]):
    raise ValueError(
      "blink=False holds the synthetic world's blink dimension (flowvq_jax.world.EXP_TABLE); "
      f"ExpFlow was trained on {talker.configs['expflow'].data.name}, whose coefficients have "
      "no blink dimension."
    )
  t0 = time.perf_counter()
  wav = load_audio_input(audio)
  t = audio_lib.num_video_frames(wav.shape[0])
  wav = audio_lib.fit_length(wav, t)
  source = prepare_image(image, talker.image_size, crop)
  emo = emotion_frames(emotion, t)
  pose_file = None
  if not (isinstance(pose, str) and pose in POSE_MODES):
    pose_file = (
      read_coefficients(os.fspath(pose), "pose")
      if isinstance(pose, (str, os.PathLike))
      else np.asarray(pose, np.float32)
    )
    if pose_file.ndim != 2 or pose_file.shape[1] != POSE_DIM or pose_file.shape[0] == 0:
      raise ValueError(f"pose coefficients must be [M, {POSE_DIM}], got {pose_file.shape}.")
  t1 = time.perf_counter()

  n = int(num_samples)
  exp_seeds, pose_seeds = sample_seeds(seed, n)
  info: dict[str, Any] = {"seeds": {"exp": exp_seeds, "pose": pose_seeds}}
  mel = audio_lib.log_mel(wav, num_frames=t)
  loc = scale = None
  if emotion_ref is not None:
    loc, scale, info["emotion_ref"] = reference_latent(talker, emotion_ref, wav, int(emo[0]))
  intensity = np.float32(intensity)
  temperature = float(temperature)
  exp_n = talker.exp_sampler(
    talker.exp_params, mel_frames=mel, emotion=emo, intensity=intensity,
    temperature=temperature, seed=exp_seeds, latent_loc=loc, latent_scale=scale,
  )  # fmt: skip
  exp = exp_n * talker.exp_stats.exp_std + talker.exp_stats.exp_mean
  if pose_file is not None:
    pose_raw = np.broadcast_to(_tile(pose_file, t), (n, t, POSE_DIM))
  elif pose == "still":
    pose_raw = np.broadcast_to(talker.render_stats.pose_mean, (n, t, POSE_DIM))
  else:
    pose_n = talker.pose_sampler(
      talker.pose_params, mel_frames=mel, emotion=emo, intensity=intensity,
      temperature=temperature, seed=pose_seeds,
    )  # fmt: skip
    pose_raw = pose_n * talker.pose_stats.pose_std + talker.pose_stats.pose_mean
  if not blink:
    exp = hold_blink(exp)
  t2 = time.perf_counter()
  return Prepared(
    audio=wav,
    source=source,
    exp=np.ascontiguousarray(exp, np.float32),
    pose=np.ascontiguousarray(pose_raw, np.float32),
    emotion=emo,
    fps=FPS,
    timings={"inputs": t1 - t0, "coefficients": t2 - t1},
    info=info,
  )


def render(
  talker: Talker,
  prepared: Prepared,
  *,
  fidelity: float = 0.5,
  chunk_frames: int | None = None,
  progress: bool = False,
) -> Iterator[np.ndarray]:
  """Renders the frames of `prepared` block by block.

  Frame t of every block is drawn from the coefficient window t-k..t+k of the WHOLE sequence
  (edge-padded only at the clip's ends), so the blocks join without a seam and the frames do
  not depend on `chunk_frames`.

  Args:
    fidelity: the fusion weight w in [0, 1] (0 = pure codebook, 1 = most source detail).
    chunk_frames: frames per block (None: all frames in one block). Host memory holds one
      block: `N * chunk_frames * S * S * 3` bytes.
    progress: a tqdm bar over frames on stderr.

  Yields:
    uint8 blocks `[N, c, S, S, 3]` (c <= chunk_frames), in time order. Adds the rendering
    seconds to `prepared.timings['rendering']`.
  """
  from flowvq_jax.models.vq.renderer import to_model_image  # noqa: PLC0415

  if not 0.0 <= float(fidelity) <= 1.0:
    raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}.")
  n, t = prepared.num_samples, prepared.num_frames
  block = t if chunk_frames is None else int(chunk_frames)
  if block < 1:
    raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}.")
  stats = talker.render_stats
  exp_n, pose_n = coeffs_lib.normalize(prepared.exp, prepared.pose, stats)
  coeffs = np.concatenate([exp_n, pose_n], axis=-1)  # [N, T, 70]
  if not np.all(np.isfinite(coeffs)):
    raise ValueError("The sampled coefficients contain NaN or inf; try a lower temperature.")
  renderer = talker.renderer
  k, c = talker.generator.window, renderer.chunk
  source = jax.numpy.asarray(to_model_image(prepared.source, talker.image_size))
  w = np.float32(fidelity)
  s = talker.image_size
  prepared.timings.setdefault("rendering", 0.0)
  bar = _progress(t * n, progress)
  try:
    for start in range(0, t, block):
      t0 = time.perf_counter()
      stop = min(start + block, t)
      idx = np.clip(np.arange(start, stop)[:, None] + np.arange(-k, k + 1)[None], 0, t - 1)
      windows = coeffs[:, idx].reshape(n * (stop - start), 2 * k + 1, -1)  # sample-major
      m = windows.shape[0]
      pad = -m % c
      if pad:
        windows = np.concatenate([windows, np.repeat(windows[-1:], pad, axis=0)], axis=0)
      outs = []
      for i in range(0, m + pad, c):
        win = windows[i : i + c]
        outs.append(
          renderer.chunk_fn(
            talker.gen_params, talker.stage1_params, source, win[..., :EXP_DIM],
            win[..., EXP_DIM:], w,
          )
        )  # fmt: skip
      frames = np.concatenate(jax.device_get(outs), axis=0)[:m].reshape(n, stop - start, s, s, 3)
      prepared.timings["rendering"] += time.perf_counter() - t0
      bar.update(n * (stop - start))
      yield frames
  finally:
    bar.close()


def _progress(total: int, enabled: bool):
  from tqdm.auto import tqdm  # noqa: PLC0415

  return tqdm(total=total, unit="frame", file=sys.stderr, disable=not enabled, leave=False)


@dataclasses.dataclass
class Generation:
  """The result of `generate`.

  Attributes:
    frames: uint8 `[N, T, S, S, 3]`.
    exp: float32 `[N, T, 64]`, pose: float32 `[N, T, 6]`: denormalised coefficients.
    audio: float32 `[T * 640]` at 16 kHz (the input audio, cut to whole frames).
    fps: 25.
    timings: seconds: `inputs`, `coefficients`, `rendering`, `encoding` (set by `save`).
    source: uint8 `[S, S, 3]`, the cropped source face.
    emotion: int32 `[T]` per-frame emotion index.
    info: notes (seeds used, the emotion reference).
  """

  frames: np.ndarray
  exp: np.ndarray
  pose: np.ndarray
  audio: np.ndarray
  fps: int
  timings: dict[str, float]
  source: np.ndarray | None = None
  emotion: np.ndarray | None = None
  info: dict[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def num_samples(self) -> int:
    return int(self.frames.shape[0])


def generate(
  talker: Talker,
  audio: Any,
  image: Any,
  *,
  emotion: Any = "neutral",
  intensity: float = 3.0,
  emotion_ref: Any = None,
  pose: Any = "sampled",
  blink: bool = True,
  temperature: float = 1.0,
  num_samples: int = 1,
  seed: int = 0,
  fidelity: float = 0.5,
  crop: str = "auto",
  progress: bool = False,
) -> Generation:
  """Generates N talking-face samples of one audio track and one source face, in memory.

  Args:
    talker: from `load`.
    audio: a file path (wav, mp3, m4a, flac, the audio track of an mp4; any rate, mono or
      stereo) or a float32 waveform `[n]` at 16 kHz.
    image: a png/jpg path (any size) or uint8 `[H, W, 3]` RGB.
    emotion: one of `flowvq_jax.core.constants.EMOTIONS` (or its index), a per-frame `[T]` array,
      or a schedule `'neutral:0-2,happy:2-6'` (seconds).
    intensity: emotion level in [0, 3], continuous (0 = neutral, 3 = full).
    emotion_ref: None, a coefficient file, `'world:IDENTITY:EMOTION[:SEED]'` or exp `[M, 64]`:
      sample around the reference clip's latents (emotion transfer; see `reference_latent`).
    pose: 'sampled' (PoseFlow), 'still' (the training mean pose), a coefficient file or pose
      `[M, 6]` to follow (looped or trimmed to the audio's length).
    blink: False holds the synthetic world's blink dim at its resting level (`hold_blink`).
    temperature: latent noise scale of both flows (0 = each component's mode).
    num_samples: N samples; sample i depends only on (seed, i).
    seed: random seed.
    fidelity: the renderer's fusion weight w in [0, 1].
    crop: 'auto', 'none' or 'x,y,w,h' (see `prepare_image`).
    progress: a tqdm bar over frames on stderr.

  Returns:
    a `Generation`. Every frame is held in memory: use `generate_to_dir` for long audio.

  Raises:
    ValueError / FileNotFoundError: naming the bad input (silent audio, no face, unknown
      emotion, malformed schedule, ...).
  """
  prep = prepare(
    talker, audio, image, emotion=emotion, intensity=intensity, emotion_ref=emotion_ref,
    pose=pose, blink=blink, temperature=temperature, num_samples=num_samples, seed=seed,
    crop=crop,
  )  # fmt: skip
  blocks = list(render(talker, prep, fidelity=fidelity, progress=progress))
  frames = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
  timings = {**prep.timings, "encoding": 0.0}
  return Generation(
    frames=frames, exp=prep.exp, pose=prep.pose, audio=prep.audio, fps=prep.fps, timings=timings,
    source=prep.source, emotion=prep.emotion, info=prep.info,
  )  # fmt: skip


# ------------------------------------------------------------------------------------------------
# Output files.


def output_paths(out_dir: str, num_samples: int, name: str = "sample") -> dict[str, Any]:
  """The files `save` / `generate_to_dir` write for N samples.

  Returns:
    `{'video': [DIR/NAME_i.mp4], 'exp': [DIR/NAME_i_exp.npy], 'pose': [DIR/NAME_i_pose.npy],
    'side_by_side': DIR/NAME_side_by_side.mp4 or None (N = 1)}`.
  """
  if not name or os.sep in name or name in (".", ".."):
    raise ValueError(f"Bad output name {name!r}: use a plain file name prefix.")
  n = int(num_samples)
  j = lambda f: os.path.join(out_dir, f)
  return {
    "video": [j(f"{name}_{i}.mp4") for i in range(n)],
    "exp": [j(f"{name}_{i}_exp.npy") for i in range(n)],
    "pose": [j(f"{name}_{i}_pose.npy") for i in range(n)],
    "side_by_side": j(f"{name}_side_by_side.mp4") if n > 1 else None,
  }


def _all_paths(paths: dict[str, Any]) -> list[str]:
  out = []
  for v in paths.values():
    out.extend(v if isinstance(v, list) else ([v] if v else []))
  return out


def check_output_dir(out_dir: str, paths: dict[str, Any], overwrite: bool = False) -> None:
  """Creates `out_dir` and checks it is writable and (unless `overwrite`) that none of `paths`
  exists. Run BEFORE any work, so a mistake costs nothing and no file is lost.

  Raises:
    FileExistsError: an output exists and overwrite is False (naming it).
    ValueError: `out_dir` is not a writable directory.
  """
  out_dir = os.fspath(out_dir)
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise ValueError(f"Output path {out_dir} exists and is not a directory.")
  try:
    os.makedirs(out_dir, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=out_dir, prefix=".write_test")
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"Output directory {out_dir} is not writable: {e.strerror or e}.") from None
  if not overwrite:
    existing = [p for p in _all_paths(paths) if os.path.exists(p)]
    if existing:
      more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
      raise FileExistsError(
        f"{existing[0]} already exists{more}; pass overwrite=True (--overwrite) to replace, or "
        "choose another output directory or name."
      )


def _side_by_side(frames: np.ndarray) -> np.ndarray:
  """`[N, t, S, S, 3]` -> `[t, S, N*S, 3]`."""
  n, t, s = frames.shape[:3]
  return np.ascontiguousarray(frames.transpose(1, 2, 0, 3, 4).reshape(t, s, n * s, 3))


class _Writers:
  """One `media.VideoWriter` per sample (+ the side-by-side), fed block by block."""

  def __init__(self, paths, n, s, audio, fps):
    from flowvq_jax.data import media  # noqa: PLC0415

    self.seconds = 0.0
    t0 = time.perf_counter()
    self.writers = []
    try:
      for p in paths["video"]:
        self.writers.append(media.VideoWriter(p, s, s, fps, audio))
      self.side = None
      if paths["side_by_side"]:
        self.side = media.VideoWriter(paths["side_by_side"], n * s, s, fps, audio)
    except BaseException:
      self.abort()
      raise
    self.seconds += time.perf_counter() - t0

  def write(self, frames):
    t0 = time.perf_counter()
    for w, f in zip(self.writers, frames):
      w.write(f)
    if self.side is not None:
      self.side.write(_side_by_side(frames))
    self.seconds += time.perf_counter() - t0

  def close(self):
    t0 = time.perf_counter()
    for w in [*self.writers, self.side]:
      if w is not None:
        w.close()
    self.seconds += time.perf_counter() - t0

  def abort(self):
    for w in [*self.writers, getattr(self, "side", None)]:
      if w is not None:
        w.abort()


def _save_coefficients(paths, exp, pose):
  for p, x in zip(paths["exp"], exp):
    np.save(p, np.asarray(x, np.float32))
  for p, x in zip(paths["pose"], pose):
    np.save(p, np.asarray(x, np.float32))


def save(
  gen: Generation, out_dir: str | os.PathLike, overwrite: bool = False, name: str = "sample"
) -> dict[str, Any]:
  """Writes a `Generation`: per sample an h264 mp4 with the audio as AAC and the coefficients
  (`NAME_i_exp.npy` `[T, 64]`, `NAME_i_pose.npy` `[T, 6]`, denormalised), plus
  `NAME_side_by_side.mp4` of all samples when there are several.

  Nothing is written when an output exists and `overwrite` is False. Sets
  `gen.timings['encoding']`.

  Returns:
    the paths (`output_paths`).

  Raises:
    FileExistsError, ValueError: see `check_output_dir`.
  """
  out_dir = os.fspath(out_dir)
  paths = output_paths(out_dir, gen.num_samples, name)
  check_output_dir(out_dir, paths, overwrite)
  n, _, s = gen.frames.shape[:3]
  writers = _Writers(paths, n, s, gen.audio, gen.fps)
  try:
    writers.write(gen.frames)
    writers.close()
  except BaseException:
    writers.abort()
    raise
  _save_coefficients(paths, gen.exp, gen.pose)
  gen.timings["encoding"] = writers.seconds
  return paths


@dataclasses.dataclass
class Saved:
  """The result of `generate_to_dir`: the files written and the coefficients (no frames).

  Attributes:
    paths: as `output_paths`.
    exp, pose: float32 `[N, T, 64]`, `[N, T, 6]` (denormalised).
    num_frames: T.
    fps: 25.
    timings: seconds: `inputs`, `coefficients`, `rendering`, `encoding`.
    info: notes (seeds used, the emotion reference).
  """

  paths: dict[str, Any]
  exp: np.ndarray
  pose: np.ndarray
  num_frames: int
  fps: int
  timings: dict[str, float]
  info: dict[str, Any]


def generate_to_dir(
  talker: Talker,
  audio: Any,
  image: Any,
  out_dir: str | os.PathLike,
  *,
  overwrite: bool = False,
  name: str = "sample",
  chunk_frames: int = DEFAULT_CHUNK_FRAMES,
  progress: bool = False,
  **options: Any,
) -> Saved:
  """`generate` + `save` for any length of audio, with bounded memory.

  Frames are rendered `chunk_frames` at a time and streamed into one ffmpeg process per video,
  so host memory holds one block (`N * chunk_frames * S * S * 3` bytes) besides the audio and the
  coefficients (a few MB per minute). The outputs are checked (writable, nothing overwritten
  without `overwrite`) before any work; videos appear at their path only once complete.

  Args:
    options: the keyword arguments of `generate` (emotion, intensity, emotion_ref, pose, blink,
      temperature, num_samples, seed, fidelity, crop).

  Returns:
    a `Saved`.
  """
  unknown = sorted(set(options) - set(_GENERATE_OPTIONS))
  if unknown:
    raise TypeError(f"Unknown generate option(s): {', '.join(unknown)}.")
  fidelity = float(options.pop("fidelity", 0.5))
  if not 0.0 <= fidelity <= 1.0:
    raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}.")
  out_dir = os.fspath(out_dir)
  paths = output_paths(out_dir, int(options.get("num_samples", 1)), name)
  check_output_dir(out_dir, paths, overwrite)
  prep = prepare(talker, audio, image, **options)
  s = talker.image_size
  writers = _Writers(paths, prep.num_samples, s, prep.audio, prep.fps)
  try:
    for frames in render(
      talker, prep, fidelity=fidelity, chunk_frames=chunk_frames, progress=progress
    ):
      writers.write(frames)
    writers.close()
  except BaseException:
    writers.abort()
    raise
  _save_coefficients(paths, prep.exp, prep.pose)
  timings = {**prep.timings, "encoding": writers.seconds}
  return Saved(
    paths=paths, exp=prep.exp, pose=prep.pose, num_frames=prep.num_frames, fps=prep.fps,
    timings=timings, info=prep.info,
  )  # fmt: skip


_GENERATE_OPTIONS = (
  "emotion", "intensity", "emotion_ref", "pose", "blink", "temperature", "num_samples", "seed",
  "fidelity", "crop",
)  # fmt: skip

__all__ = [
  "EMOTIONS",
  "Generation",
  "Prepared",
  "Saved",
  "Talker",
  "check_options",
  "check_output_dir",
  "emotion_frames",
  "generate",
  "generate_to_dir",
  "hold_blink",
  "load",
  "output_paths",
  "parse_schedule",
  "prepare",
  "prepare_image",
  "read_coefficients",
  "reference_latent",
  "render",
  "save",
]
