"""Generation: inputs -> coefficients (`prepare`) -> frames (`render`), in memory (`generate`) or
streamed into video files (`generate_to_dir`).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import jax
import numpy as np
from tqdm.auto import tqdm

from flowvq_jax.core.constants import EXP_DIM, FPS, POSE_DIM
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data import media, world_clips
from flowvq_jax.inference import outputs
from flowvq_jax.inference.inputs import (
  POSE_MODES,
  check_options,
  emotion_frames,
  hold_blink,
  is_world_layout,
  load_audio_input,
  parse_world_ref,
  prepare_image,
  read_coefficients,
  reference_audio,
  tile,
)
from flowvq_jax.inference.talker import Talker
from flowvq_jax.models.flow import sampler as sampler_lib
from flowvq_jax.models.vq.renderer import to_model_image

MAX_REFERENCE_FRAMES = 750  # emotion_ref: the first 30 s of a reference clip are encoded.
WORLD_REFERENCE_SECONDS = 4.0  # length of a `world:...` reference clip.
DEFAULT_CHUNK_FRAMES = 250  # frames rendered (and held) per block when streaming: 10 s.
# The options of `generate` / `prepare` and their defaults: `check_options`'s keyword arguments.
OPTION_DEFAULTS = {
  k: p.default for k, p in inspect.signature(check_options).parameters.items()
}
GENERATE_OPTIONS = tuple(OPTION_DEFAULTS)


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

  ref_emotion = emotion
  if isinstance(emotion_ref, str) and emotion_ref.startswith("world:"):
    identity, ref_emotion, seed = parse_world_ref(emotion_ref)
    mem = talker.configs["expflow"].data.get("memory", {}) or {}
    exp, ref_wav = world_clips.world_performance(
      int(mem.get("world_seed", 0)), identity, ref_emotion, WORLD_REFERENCE_SECONDS, seed
    )
    what = f"synthetic-world clip {emotion_ref}"
  elif isinstance(emotion_ref, (str, os.PathLike)):
    path = os.fspath(emotion_ref)
    exp = read_coefficients(path, "exp")
    audio_path = reference_audio(path)
    if audio_path is not None:

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


def prepare(talker: Talker, audio: Any, image: Any, **options: Any) -> Prepared:
  """Loads the inputs and samples the coefficients. `options`: the keyword arguments of
  `generate` (`fidelity` is the renderer's and ignored here), checked by `check_options`."""
  check_options(**options)
  o = {**OPTION_DEFAULTS, **options}
  emotion, intensity, emotion_ref, pose = o["emotion"], o["intensity"], o["emotion_ref"], o["pose"]
  blink, temperature, num_samples, seed = o["blink"], o["temperature"], o["num_samples"], o["seed"]
  crop = o["crop"]
  if not blink and not is_world_layout(talker.configs["expflow"]):
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
    pose_raw = np.broadcast_to(tile(pose_file, t), (n, t, POSE_DIM))
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


def save(
  gen: Generation, out_dir: str | os.PathLike, overwrite: bool = False, name: str = "sample"
) -> dict[str, Any]:
  """Writes a `Generation`: per sample an h264 mp4 with the audio as AAC and the coefficients
  (`NAME_i_exp.npy` `[T, 64]`, `NAME_i_pose.npy` `[T, 6]`, denormalised), plus
  `NAME_side_by_side.mp4` of all samples when there are several.

  Nothing is written when an output exists and `overwrite` is False. Sets
  `gen.timings['encoding']`.

  Returns:
    the paths (`outputs.output_paths`).

  Raises:
    FileExistsError, ValueError: see `check_output_dir`.
  """
  out_dir = os.fspath(out_dir)
  paths = outputs.output_paths(out_dir, gen.num_samples, name)
  outputs.check_output_dir(out_dir, paths, overwrite)
  n, _, s = gen.frames.shape[:3]
  writers = outputs.Writers(paths, n, s, gen.audio, gen.fps)
  try:
    writers.write(gen.frames)
    writers.close()
  except BaseException:
    writers.abort()
    raise
  outputs.save_coefficients(paths, gen.exp, gen.pose)
  gen.timings["encoding"] = writers.seconds
  return paths


@dataclasses.dataclass
class Saved:
  """The result of `generate_to_dir`: the files written and the coefficients (no frames).

  Attributes:
    paths: as `outputs.output_paths`.
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
  unknown = sorted(set(options) - set(GENERATE_OPTIONS))
  if unknown:
    raise TypeError(f"Unknown generate option(s): {', '.join(unknown)}.")
  fidelity = float(options.pop("fidelity", 0.5))
  if not 0.0 <= fidelity <= 1.0:
    raise ValueError(f"fidelity must lie in [0, 1], got {fidelity}.")
  out_dir = os.fspath(out_dir)
  paths = outputs.output_paths(out_dir, int(options.get("num_samples", 1)), name)
  outputs.check_output_dir(out_dir, paths, overwrite)
  prep = prepare(talker, audio, image, **options)
  s = talker.image_size
  writers = outputs.Writers(paths, prep.num_samples, s, prep.audio, prep.fps)
  try:
    for frames in render(
      talker, prep, fidelity=fidelity, chunk_frames=chunk_frames, progress=progress
    ):
      writers.write(frames)
    writers.close()
  except BaseException:
    writers.abort()
    raise
  outputs.save_coefficients(paths, prep.exp, prep.pose)
  timings = {**prep.timings, "encoding": writers.seconds}
  return Saved(
    paths=paths, exp=prep.exp, pose=prep.pose, num_frames=prep.num_frames, fps=prep.fps,
    timings=timings, info=prep.info,
  )  # fmt: skip
