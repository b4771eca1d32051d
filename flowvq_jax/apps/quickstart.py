"""Quickstart: train every stage on the synthetic world, then talk with a face it never saw.

`python -m launch.quickstart --workdir DIR [--fast]` (a thin CLI over `run`) does, resumably:

1. **Data.** Preset `synthetic`: builds `synthetic_talking_faces/small_64` (the flows' data) and
   `synthetic_talking_faces/small` (128 px, the VQ stages' data) in `DIR/data` (once; the
   `data.data_dir` of every TFDS-reading stage points there). Presets `fast` / `tiny` generate the
   world's clips in memory instead.
2. **Training.** The four stages of `configs/presets.py PRESETS[preset]` into `DIR/checkpoints`
   (the layout `flowvq_jax.inference.load` reads). A finished stage is skipped, a started one
   resumes from its latest checkpoint.
3. **Generation.** A held-out identity of the world (`HELDOUT_IDENTITY`, beyond every training
   split) is rendered with a neutral face as the source image; the same identity's voice speaks a
   held-out sentence (`HELDOUT_UTTERANCE`, outside every split's utterance pool) as the audio.
   `flowvq_jax.inference.generate` turns them into one video per emotion
   (`DIR/videos/<emotion>.mp4`) and a video of `num_diversity` samples side by side for one
   emotion (`DIR/videos/diversity.mp4`);
   the coefficients go next to each video as `.npz`. Existing videos are not generated again.
4. **Numbers and page.** `DIR/quickstart.json` and `DIR/index.html` (`numbers`, `write_page`).

What the numbers are (there is no ground-truth video of new audio, so PSNR / SSIM do not apply):

* **Lip sync** per video: Pearson r and best lag (`eval.metrics.lip_sync`, lags +-10 frames) of
  the generated expression's jaw-open dim (exp[:, 0]) against the mouth law
  `world.mouth_from_audio(audio)[:, 0]`, the world's ground-truth jaw opening for any audio.
* **Emotion accuracy**: an `eval.classifier` window classifier (1 s windows of the 64 expression
  coefficients) is trained on the world's ground-truth expression of training identities; each
  generated video's emotion is the argmax of its windows' summed logits (as `clip_accuracy`). The
  same classifier on the world's own performance of the held-out audio by the held-out identity
  gives the reference (`emotion_accuracy_world`).
* **Diversity**: the per-frame standard deviation across the diversity samples, averaged over
  frames, for the non-mouth expression dims and for the pose; lip sync per sample shows that the
  mouth stays on the audio while the rest varies.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from flowvq_jax import inference, stages
from flowvq_jax.apps import page, train_all
from flowvq_jax.core import constants
from flowvq_jax.data import builders, media, voices
from flowvq_jax.eval import metrics
from flowvq_jax.eval.instruments import classifier as clf_lib
from flowvq_jax.world import SyntheticWorld, mouth_from_audio
from flowvq_jax.world.tables import MOUTH_DIMS

# Far beyond the identities / utterances of every split of every preset (those count from 0).
HELDOUT_IDENTITY = 10_000
HELDOUT_UTTERANCE = 1_000_000
WORLD_SEED = 0


@dataclasses.dataclass(frozen=True)
class Settings:
  """What the quickstart generates (the same for every preset unless given).

  Attributes:
    seconds: length of the held-out speech.
    intensity: emotion intensity (1..3) of every video.
    temperature: sampling temperature of the flows' latents.
    diversity_emotion: the emotion of the diversity video.
    num_diversity: samples in the diversity video.
    seed: generation seed (sample i of a video depends on (seed, i) only).
    classifier_identities: training identities of the emotion classifier.
    classifier_steps: its training steps.
    min_video_size: videos are upscaled (nearest) by an integer factor to at least this size.
    fidelity: the renderer's fusion weight of the source's features (`inference.generate`).
  """

  seconds: float = 4.0
  intensity: float = 3.0
  temperature: float = 0.7
  diversity_emotion: str = "happy"
  num_diversity: int = 3
  seed: int = 0
  classifier_identities: int = 6
  classifier_steps: int = 300
  min_video_size: int = 128
  fidelity: float = 0.5


PRESET_SETTINGS = {
  "synthetic": Settings(),
  # The short stage-2 run's fusion blurs the mouth: the codes alone (fidelity 0) show it.
  "fast": Settings(fidelity=0.0),
  "tiny": Settings(seconds=1.2, classifier_identities=1, classifier_steps=20, min_video_size=32),
}


def paths(workdir: str) -> dict[str, str]:
  """Where the quickstart writes in `workdir`."""
  return {
    "checkpoints": os.path.join(workdir, "checkpoints"),
    "data": os.path.join(workdir, "data"),
    "videos": os.path.join(workdir, "videos"),
    "page": os.path.join(workdir, "index.html"),
    "numbers": os.path.join(workdir, "quickstart.json"),
    "strip": os.path.join(workdir, "videos", "strip.png"),
  }


def check_workdir(workdir: str) -> str:
  """Creates `workdir` if needed and checks that it is a writable directory.

  Raises:
    ValueError: naming the problem (a file in the way, no permission).
  """
  workdir = os.path.abspath(os.path.expanduser(workdir))
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ValueError(f"--workdir {workdir} exists and is not a directory.")
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_test")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise ValueError(f"--workdir {workdir} is not writable: {e.strerror or e}.") from None
  return workdir


# ------------------------------------------------------------------------------------------------
# Data and training.


def _dataset_of(data) -> str | None:
  """The prepared dataset a stage's `data` block reads: a TFDS clip dataset or a speech corpus."""
  if data.source == "tfds":
    return str(data.name)
  if data.source == "performed" and data.performed.corpus:
    return str(data.performed.corpus)
  return None


def stage_specs(
  workdir: str, preset: str, log: Callable[[str], None] = print
) -> list[stages.StageSpec]:
  """The preset's stage runs in `DIR/checkpoints`; stages reading a prepared dataset read it from
  `DIR/data`. A speech corpus whose synthesizers are not installed is left out (the flows then
  hear the world's speech only), with a note saying what to install."""
  specs = stages.preset_specs(paths(workdir)["checkpoints"], preset)
  out = []
  for spec in specs:
    data = spec.config().data
    name = _dataset_of(data)
    if name is not None and data.source == "performed":
      synths = builders.get_builder(name, paths(workdir)["data"]).builder_config.synthesizers
      try:
        voices.check_programs(synths)
      except voices.SynthesizerMissing as e:
        log(f"[{spec.stage}] note: {e} Training on the world's speech only.")
        spec = dataclasses.replace(
          spec, overrides={**spec.overrides, "data.performed.corpus": ""}
        )
        name = None
    if name is not None:
      spec = dataclasses.replace(
        spec, overrides={**spec.overrides, "data.data_dir": paths(workdir)["data"]}
      )
    out.append(spec)
  return out


def prepare_data(specs: list[stages.StageSpec], log: Callable[[str], None] = print) -> list[str]:
  """Builds the datasets the stages read (once; a prepared one is reused)."""
  built = []
  for spec in specs:
    data = spec.config().data
    name = _dataset_of(data)
    if name is None or name in built:
      continue
    log(f"[data] {name} in {data.data_dir}")
    builders.prepare(name, data.data_dir)
    built.append(name)
  return built


def train(workdir: str, preset: str, log: Callable[[str], None] = print) -> dict[str, Any]:
  """Data + every stage of the preset (skips finished stages, resumes started ones)."""
  specs = stage_specs(workdir, preset, log)
  prepare_data(specs, log)
  return train_all.train_stages(specs, log=log)


# ------------------------------------------------------------------------------------------------
# Held-out inputs.


def heldout_inputs(resolution: int, seconds: float) -> dict[str, Any]:
  """A face and a sentence no stage trained on.

  Returns:
    {'image': uint8 [S, S, 3] (neutral face, frontal pose), 'audio': float32 [n] at 16 kHz,
     'identity', 'utterance'}.
  """
  world = SyntheticWorld(seed=WORLD_SEED, resolution=int(resolution))
  ident = world.identity(HELDOUT_IDENTITY)
  image = world.render(ident, np.zeros(constants.EXP_DIM), np.zeros(constants.POSE_DIM))
  audio, _ = world.speech(ident, "neutral", 1, float(seconds), seed=0, utterance=HELDOUT_UTTERANCE)
  return {
    "image": np.asarray(image, np.uint8),
    "audio": np.asarray(audio, np.float32),
    "identity": HELDOUT_IDENTITY,
    "utterance": HELDOUT_UTTERANCE,
  }


# ------------------------------------------------------------------------------------------------
# Generation.


def upscale(frames: np.ndarray, min_size: int) -> np.ndarray:
  """Nearest-neighbour upscaling of `[..., H, W, 3]` by the integer factor that reaches min_size."""
  k = max(1, -(-int(min_size) // int(frames.shape[-2])))
  if k == 1:
    return frames
  return np.repeat(np.repeat(frames, k, axis=-3), k, axis=-2)


def write_video(path: str, frames, audio, fps: float = constants.FPS, min_size: int = 128):
  """mp4 (h264 + AAC) of uint8 frames `[T, S, S, 3]`, upscaled to at least `min_size` px."""
  media.write_video(path, upscale(np.asarray(frames, np.uint8), min_size), fps=fps, audio=audio)


def video_names(settings: Settings) -> list[str]:
  """Base names of the videos in `DIR/videos`: one per emotion, then `diversity`."""
  del settings
  return list(constants.EMOTIONS) + ["diversity"]


def generate_videos(
  talker,
  inputs: dict[str, Any],
  out_dir: str,
  settings: Settings,
  log: Callable[[str], None] = print,
) -> dict[str, dict[str, Any]]:
  """One video per emotion plus the diversity video; existing ones are read back, not redone.

  Returns:
    {name: {'video': path, 'exp' [N, T, 64], 'pose' [N, T, 6], 'emotion', 'seed',
     'timings' (empty when read back), 'frames' (None when read back)}}.
  """
  os.makedirs(out_dir, exist_ok=True)
  out = {}
  for name in video_names(settings):
    video, coeffs = os.path.join(out_dir, name + ".mp4"), os.path.join(out_dir, name + ".npz")
    if name == "diversity":
      emotion, n = settings.diversity_emotion, settings.num_diversity
    else:
      emotion, n = name, 1
    if os.path.exists(video) and os.path.exists(coeffs):
      with np.load(coeffs) as z:
        out[name] = dict(video=video, exp=z["exp"], pose=z["pose"], timings={})
      out[name].update(emotion=emotion, seed=settings.seed, frames=None)
      log(f"[generate] {name}: exists, kept")
      continue
    t0 = time.perf_counter()
    gen = inference.generate(
      talker,
      inputs["audio"],
      inputs["image"],
      emotion=emotion,
      intensity=settings.intensity,
      temperature=settings.temperature,
      num_samples=n,
      seed=settings.seed,
      fidelity=settings.fidelity,
      crop="none",
    )
    frames = np.asarray(gen.frames)  # [N, T, S, S, 3]
    if n > 1:
      frames = np.concatenate(list(frames), axis=2)  # samples side by side: [T, S, N*S, 3]
    else:
      frames = frames[0]
    # Coefficients first: a video without its .npz is redone on the next run.
    write_video(video, frames, np.asarray(gen.audio), gen.fps, settings.min_video_size)
    np.savez(coeffs, exp=np.asarray(gen.exp), pose=np.asarray(gen.pose))
    timings = {k: float(v) for k, v in dict(gen.timings).items()}
    timings["total"] = time.perf_counter() - t0
    out[name] = dict(video=video, exp=np.asarray(gen.exp), pose=np.asarray(gen.pose))
    out[name].update(emotion=emotion, seed=settings.seed, timings=timings, frames=frames)
    log(f"[generate] {name}: {video} ({timings['total']:.1f} s)")
  return out


def frame_strip(frames: np.ndarray, num: int = 8) -> np.ndarray:
  """`num` evenly spaced frames of `[T, H, W, 3]` side by side: uint8 `[H, num * W, 3]`."""
  frames = np.asarray(frames, np.uint8)
  idx = np.linspace(0, frames.shape[0] - 1, min(num, frames.shape[0])).round().astype(int)
  return np.concatenate(list(frames[idx]), axis=1)


def write_strip(path: str, videos: dict[str, dict[str, Any]], num: int = 8, size: int = 64):
  """A PNG with one row per emotion video: `num` frames at the same instants, `size` px each."""
  rows = []
  for e in constants.EMOTIONS:
    frames, _ = media.read_video(videos[e]["video"], size=int(size))
    rows.append(frame_strip(frames, num))
  Image.fromarray(np.concatenate(rows, axis=0)).save(path, optimize=True)


# ------------------------------------------------------------------------------------------------
# Numbers.


def train_classifier(settings: Settings) -> dict:
  """The emotion classifier on the world's ground-truth expression of training identities."""
  windows, labels = clf_lib.world_windows(
    SyntheticWorld(seed=WORLD_SEED, resolution=64),
    identities=range(settings.classifier_identities),
    intensities=(1, 2, 3),
    seconds=3.0,
  )
  return clf_lib.train_emotion_classifier(windows, labels, steps=settings.classifier_steps, seed=0)


def _lip_sync(jaw: np.ndarray, law: np.ndarray) -> dict[str, float]:
  t = min(jaw.shape[0], law.shape[0])
  return metrics.lip_sync(jaw[:t], law[:t], max_lag=min(10, t - 3))


def _predict(clf: dict, exp: np.ndarray) -> int | None:
  """The classifier's emotion of a whole sequence `[T, 64]` (None when shorter than a window)."""
  win = int(clf["config"]["window"])
  if exp.shape[0] < win:
    return None
  return int(clf_lib.logits(clf, clf_lib.make_windows(exp, win)).sum(0).argmax())


def numbers(
  videos: dict[str, dict[str, Any]],
  inputs: dict[str, Any],
  settings: Settings,
  clf: dict | None = None,
) -> dict[str, Any]:
  """The page's evaluation numbers (see the module docstring)."""
  clf = clf if clf is not None else train_classifier(settings)
  law = np.asarray(mouth_from_audio(inputs["audio"], constants.SAMPLE_RATE))[:, 0]
  world = SyntheticWorld(seed=WORLD_SEED, resolution=64)
  per_video, hits, world_hits = {}, [], []
  for name, v in videos.items():
    exp, pose = np.asarray(v["exp"]), np.asarray(v["pose"])
    want = constants.emotion_index(v["emotion"])
    samples = []
    for s in range(exp.shape[0]):
      ls = _lip_sync(exp[s, :, 0], law)
      pred = _predict(clf, exp[s])
      samples.append(
        {
          "seed": int(v["seed"]),
          "sample": s,
          "lip_sync_r": float(ls["pearson_r"]),
          "lip_sync_lag": int(ls["best_lag"]),
          "predicted_emotion": None if pred is None else constants.EMOTIONS[pred],
        }
      )
      if name != "diversity" and pred is not None:
        hits.append(pred == want)
    entry = {"video": os.path.basename(v["video"]), "emotion": v["emotion"], "samples": samples}
    if v.get("timings"):
      entry["timings_s"] = v["timings"]
    if exp.shape[0] > 1:
      other = [d for d in range(exp.shape[-1]) if d not in MOUTH_DIMS]
      entry["diversity"] = {
        "exp_std_non_mouth": float(exp[:, :, other].std(0).mean()),
        "exp_std_jaw_open": float(exp[:, :, 0].std(0).mean()),
        "pose_std": float(pose.std(0).mean()),
      }
    if name != "diversity":
      clip = world.perform(
        HELDOUT_IDENTITY, inputs["audio"], constants.SAMPLE_RATE, want,
        int(round(settings.intensity)), seed=settings.seed, render_frames=False,
      )  # fmt: skip
      wpred = _predict(clf, np.asarray(clip.exp, np.float32))
      entry["world_predicted_emotion"] = None if wpred is None else constants.EMOTIONS[wpred]
      if wpred is not None:
        world_hits.append(wpred == want)
    per_video[name] = entry
  emo = [per_video[e]["samples"][0] for e in constants.EMOTIONS if e in per_video]
  summary = {
    "lip_sync_r": float(np.mean([s["lip_sync_r"] for s in emo])),
    "lip_sync_lag_median": int(np.median([s["lip_sync_lag"] for s in emo])),
    "emotion_accuracy": float(np.mean(hits)) if hits else None,
    "emotion_accuracy_world": float(np.mean(world_hits)) if world_hits else None,
  }
  if "diversity" in per_video:
    summary.update(per_video["diversity"].get("diversity", {}))
  return {
    "summary": summary,
    "videos": per_video,
    "inputs": {
      "identity": int(inputs["identity"]),
      "utterance": int(inputs["utterance"]),
      "seconds": float(inputs["audio"].shape[0] / constants.SAMPLE_RATE),
      "intensity": settings.intensity,
      "temperature": settings.temperature,
      "fidelity": settings.fidelity,
    },
    "classifier": {
      "train_identities": settings.classifier_identities,
      "steps": settings.classifier_steps,
      "window": int(clf["config"]["window"]),
    },
  }


# ------------------------------------------------------------------------------------------------
# Everything.


def is_done(workdir: str, settings: Settings) -> bool:
  """Whether the page, its numbers and every video exist."""
  p = paths(workdir)
  files = [p["page"], p["numbers"]] + [
    os.path.join(p["videos"], n + ext) for n in video_names(settings) for ext in (".mp4", ".npz")
  ]
  return all(os.path.exists(f) for f in files)


def run(
  workdir: str,
  preset: str = "synthetic",
  settings: Settings | None = None,
  log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """The whole quickstart (module docstring); re-running continues where it stopped.

  Returns:
    {'workdir', 'preset', 'page', 'numbers' (as in quickstart.json), 'stages' (per stage:
     'trained' / 'already trained'), 'wall_s' (per step), 'did_work' (False when nothing was left)}.
  """
  if preset not in stages.presets():
    raise ValueError(f"Unknown preset {preset!r}; choose one of: {', '.join(stages.presets())}.")
  settings = settings or PRESET_SETTINGS[preset]
  workdir = check_workdir(workdir)
  p = paths(workdir)
  wall = {}
  t0 = time.perf_counter()
  results = train(workdir, preset, log)
  wall["data_and_training"] = time.perf_counter() - t0
  status = {
    s: ("already trained" if r.get("status") == "already trained" else "trained")
    for s, r in results.items()
  }
  if all(v == "already trained" for v in status.values()) and is_done(workdir, settings):
    with open(p["numbers"]) as f:
      nums = json.load(f)
    log(f"[quickstart] nothing left to do: {p['page']}")
    return dict(workdir=workdir, preset=preset, page=p["page"], numbers=nums, stages=status,
                wall_s=wall, did_work=False)  # fmt: skip

  t1 = time.perf_counter()
  talker = inference.load(p["checkpoints"])
  inputs = heldout_inputs(talker.image_size, settings.seconds)
  os.makedirs(p["videos"], exist_ok=True)
  Image.fromarray(upscale(inputs["image"], settings.min_video_size)).save(
    os.path.join(p["videos"], "source.png")
  )
  videos = generate_videos(talker, inputs, p["videos"], settings, log)
  if not os.path.exists(p["strip"]) or any(v["frames"] is not None for v in videos.values()):
    write_strip(p["strip"], videos, size=max(64, int(talker.image_size)))
  wall["generation"] = time.perf_counter() - t1
  t2 = time.perf_counter()
  nums = numbers(videos, inputs, settings)
  wall["numbers"] = time.perf_counter() - t2
  nums["preset"] = preset
  nums["stages"] = {s: stages.stage_dir(p["checkpoints"], s) for s in stages.STAGES}
  nums["wall_s"] = wall
  meta = {"preset": preset, "stages": _stage_summary(stage_specs(workdir, preset, lambda _: None))}
  nums["stage_summary"] = meta["stages"]
  with open(p["numbers"], "w") as f:
    json.dump(nums, f, indent=2)
  page.write_page(p["page"], nums, meta)
  log(f"[quickstart] {p['page']}")
  return dict(workdir=workdir, preset=preset, page=p["page"], numbers=nums, stages=status,
              wall_s=wall, did_work=True)  # fmt: skip


def _stage_summary(specs: list[stages.StageSpec]) -> dict[str, str]:
  """Per stage: config, steps and (when written) the trainer's last evaluation."""
  out = {}
  for spec in specs:
    c = spec.config()
    text = f"configs/{spec.stage}.py:{spec.arg.split(',stage1=')[0]}"
    if spec.overrides:
      text += " + overrides"
    text += f", {int(c.train.steps)} steps"
    final = os.path.join(spec.workdir, "final_metrics.json")
    if os.path.exists(final):
      with open(final) as f:
        ev = json.load(f).get("eval") or {}
      want = ("nll_nats_per_dim", "psnr", "ssim", "code_accuracy")
      got = {k.split("/")[-1]: v for k, v in ev.items() if k.split("/")[-1] in want}
      if got:
        text += "; validation " + ", ".join(f"{k} {float(got[k]):.3f}" for k in want if k in got)
    out[spec.stage] = text
  return out
