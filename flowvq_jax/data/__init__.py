"""Data: audio features, media I/O, 3DMM coefficients, TFDS builders, grain pipelines.

  audio      log-mel features aligned with 25 fps video, per-frame mel context windows
  media      audio / video files through imageio-ffmpeg's ffmpeg
  coeffs     Deep3DFaceRecon coefficient layout, file loading, normalisation statistics
  faces        one crop box per video (Haar cascade, fixed box, whole frame)
  builders/    TFDS builders (`synthetic_talking_faces`, `mead`, `hdtf`); names -> builders,
               prepare, sources, statistics
  clip_layout  which clips a synthetic dataset holds, per split
  world_clips  the one path from a world clip to an example; in-memory clips of a layout
  sources      the one clip source of every stage (prepared TFDS | in memory) and its statistics
  transforms   the one resize policy for face frames
  pipeline     grain input pipelines (windows, sharding, checkpointable iterators)

Import the submodules directly (`from flowvq_jax.data import pipeline`); this package
imports nothing so that light users (audio features) do not load TFDS or grain.
See docs/data.md.
"""
