"""Data: audio features, media I/O, 3DMM coefficients, TFDS builders, grain pipelines.

  audio      log-mel features aligned with 25 fps video, per-frame mel context windows
  media      audio / video files through imageio-ffmpeg's ffmpeg
  coeffs     Deep3DFaceRecon coefficient layout, file loading, normalisation statistics
  synthetic  TFDS builder `synthetic_talking_faces` (clips of `flowvq_jax.world`)
  real       TFDS builders `mead` and `hdtf` (manual directories)
  faces      one crop box per video (Haar cascade, fixed box, whole frame)
  builders   dataset names -> builders; prepare, sources, statistics
  pipeline   grain input pipelines (windows, sharding, checkpointable iterators)

Import the submodules directly (`from flowvq_jax.data import pipeline`); this package
imports nothing so that light users (audio features) do not load TFDS or grain.
See docs/data.md.
"""
