"""Speed of the whole generate path: audio file + face image -> mp4 (real-time factor).

  ckpts = bench_generate.build_checkpoints(DIR, quick=False)   # or any trained checkpoints dir
  row = bench_generate.run(ckpts, seconds=10.0)

`build_checkpoints` trains every stage of the `synthetic` configs (`tiny` with `quick`) for ONE
step into DIR with `flowvq_jax.stages` (in-memory world clips, few of them: the sizes of the
models, not their quality, set the speed); a finished DIR is reused as it is.

`run` loads the checkpoints with `flowvq_jax.inference.load` and times
`inference.generate_to_dir` on a synthetic-world speech wav file and a world face png (crop
'none'): reading and resampling the audio, log-mel, ExpFlow + PoseFlow sampling, rendering, and
streaming h264 + AAC into ffmpeg. The first call (which compiles the samplers and the renderer) is
reported apart from the best of `repeats` later calls. Fields: `seconds` (audio), `frames`,
`image_size`, `first_call_s`, `compile_s` (first minus best), `wall_s`, `rtf` (wall / audio
seconds; < 1 is faster than real time), the pipeline's own split (`inputs_s`, `coefficients_s`,
`rendering_s`, `encoding_s`) and peak memory over the timed calls.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import cv2
import numpy as np

from flowvq_jax import inference, stages
from flowvq_jax.apps import train_all
from flowvq_jax.bench import util as U
from flowvq_jax.core.constants import FPS, SAMPLE_RATE
from flowvq_jax.data import media
from flowvq_jax.world import SyntheticWorld

_STEP1 = {
  "train.steps": 1,
  "train.ckpt_every": 1,
  "train.eval_every": 1,
  "train.log_every": 1,
  "train.summaries_every": 0,
  "train.progress": False,
  "eval.num_batches": 1,
}
# Few in-memory clips for the VQ stages (their defaults render 256 clips of 3 s at 128 px).
_VQ_MEMORY = {
  "data.memory.identities": (1, 1, 1),
  "data.memory.clips_per_identity": 4,
  "data.memory.utterances": (2, 1, 1),
  "data.memory.seconds": 1.0,
}


def checkpoint_specs(directory: str, quick: bool = False):
  """The `flowvq_jax.stages` specs of the benchmark's checkpoints directory."""
  if quick:
    args = {s: "tiny" for s in stages.STAGES}
    overrides = {s: dict(_STEP1) for s in stages.STAGES}
  else:
    args = {
      "expflow": "synthetic",
      "poseflow": "synthetic",
      "vq_codebook": "synthetic,memory=true",
      "vq_query": "synthetic,memory=true",
    }
    flow = dict(_STEP1, **{"data.source": "memory"})
    vq = dict(_STEP1, **_VQ_MEMORY)
    overrides = {"expflow": flow, "poseflow": flow, "vq_codebook": vq, "vq_query": vq}
  return stages.stage_specs(directory, args, overrides)


def build_checkpoints(directory: str, quick: bool = False, log=print) -> str:
  """Trains (or finds trained) one-step checkpoints of every stage in `directory`."""
  train_all.train_stages(checkpoint_specs(directory, quick), log=log)
  return directory


def _inputs(tmp: str, seconds: float, image_size: int) -> tuple[str, str]:
  """A world speech wav of `seconds` and a world face png at `image_size` px."""
  world = SyntheticWorld(seed=0, resolution=image_size)
  clip = world.sample_clip(0, "happy", 3, 0.04, seed=0)
  wav, _ = world.speech(0, "happy", 3, seconds, seed=1)
  wav_path, png_path = os.path.join(tmp, "speech.wav"), os.path.join(tmp, "face.png")
  media.write_audio(wav_path, np.asarray(wav, np.float32), SAMPLE_RATE)
  cv2.imwrite(png_path, np.ascontiguousarray(clip.frames[0][..., ::-1]))
  return wav_path, png_path


def run(checkpoints: str, seconds: float = 10.0, repeats: int = 2) -> dict[str, Any]:
  """The generate-path row (module docstring) for `seconds` of audio."""
  t0 = time.perf_counter()
  talker = inference.load(checkpoints)
  load_s = time.perf_counter() - t0
  with tempfile.TemporaryDirectory() as tmp:
    wav, png = _inputs(tmp, seconds, talker.image_size)
    out = os.path.join(tmp, "out")

    def call():
      return inference.generate_to_dir(
        talker, wav, png, out, overwrite=True, emotion="happy", crop="none", seed=0
      )

    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    best, timings = float("inf"), {}
    with U.MemoryMeter() as mem:
      for _ in range(max(int(repeats), 1)):
        t0 = time.perf_counter()
        saved = call()
        wall = time.perf_counter() - t0
        if wall < best:
          best, timings = wall, dict(saved.timings)
    frames = int(saved.num_frames)
    size = os.path.getsize(saved.paths["video"][0])
  m = mem.result()
  audio_s = frames / FPS
  row = {
    "seconds": audio_s,
    "frames": frames,
    "image_size": int(talker.image_size),
    "load_s": load_s,
    "first_call_s": first,
    "compile_s": max(first - best, 0.0),
    "wall_s": best,
    "rtf": best / audio_s,
    "video_bytes": int(size),
    "peak_mem_mib": U.mib(m["peak_mem_bytes"]),
    "memory_source": m["memory_source"],
  }
  row.update({f"{k}_s": float(v) for k, v in timings.items()})
  return row
