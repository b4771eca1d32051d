"""End to end: speech + a source face + an emotion -> talking-face frames, coefficients, video.

  from flowvq_jax import inference
  talker = inference.load("checkpoints")  # the flowvq_jax.stages layout
  gen = inference.generate(talker, "speech.wav", "face.png", emotion="happy", num_samples=2)
  gen.frames  # uint8 [2, T, S, S, 3]; gen.exp [2, T, 64], gen.pose [2, T, 6] (denormalised)
  inference.save(gen, "out")  # sample_0.mp4 (h264 + AAC), sample_0_exp.npy, ..., side_by_side.mp4

  # Long audio: frames are rendered block by block and streamed into ffmpeg.
  result = inference.generate_to_dir(talker, "talk.mp3", "face.png", "out", emotion="sad")

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
workdir. `load` reads each stage's latest checkpoint and the normalisation statistics its training
wrote (`DIR/<stage>/coeff_stats.json`); it never opens a dataset. See docs/generate.md.

Modules: `talker` (loading), `inputs` (audio, face, emotions, coefficient files, option checks),
`generate` (prepare, render, generate, save, generate_to_dir), `outputs` (files and writers).
This package imports nothing from `flowvq_jax.train` or `flowvq_jax.world`.
"""

from flowvq_jax.core.constants import EMOTIONS
from flowvq_jax.inference.generate import (
  DEFAULT_CHUNK_FRAMES,
  GENERATE_OPTIONS,
  Generation,
  Prepared,
  Saved,
  generate,
  generate_to_dir,
  prepare,
  reference_latent,
  render,
  sample_seeds,
  save,
)
from flowvq_jax.inference.inputs import (
  check_options,
  emotion_frames,
  hold_blink,
  load_audio_input,
  parse_schedule,
  parse_world_ref,
  prepare_image,
  read_coefficients,
)
from flowvq_jax.inference.outputs import check_output_dir, output_paths
from flowvq_jax.inference.talker import Talker, load

__all__ = [
  "DEFAULT_CHUNK_FRAMES",
  "EMOTIONS",
  "GENERATE_OPTIONS",
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
  "load_audio_input",
  "output_paths",
  "parse_schedule",
  "parse_world_ref",
  "prepare",
  "prepare_image",
  "read_coefficients",
  "reference_latent",
  "render",
  "sample_seeds",
  "save",
]
