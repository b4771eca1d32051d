"""flowvq_jax: FlowVQTalker (CVPR 2024) in JAX/Flax.

Emotional talking faces from speech: normalizing flows with a Student's-t mixture latent turn
audio into 3DMM expression and pose coefficients, and a vector-quantized image generator renders
the frames.

The house, in the order data flows (each room imports only rooms to its left; no cycles;
`tests/test_house.py` enforces it):

  core         constants, config parsing (`core.config`: get_config arguments, overrides)
  world        the synthetic talking-face world (offline ground truth)
  data         audio features, coefficient layout, media I/O, faces, TFDS builders, the one clip
               source (`data.sources`), world clips as examples, the one resize policy
  models       flow/ (ExpFlow, PoseFlow) and vq/ (codebook autoencoder, code-query generator)
  checkpoints  reading trained runs and exports: params, steps, normalisation statistics
  stages       per stage: config -> model; a trained run -> params + statistics
  train        the trainer, its state, mesh, optimizers, checkpoint writing, exports; tasks/
  inference    audio + face + emotion -> frames, coefficients, mp4 (never imports train/)
  eval         metrics, instruments (classifiers, landmark regressor), stage evaluations, the
               paper's table and ablations
  apps, bench  the quickstart and training every stage; every speed benchmark

`configs/` (ml_collections files, outside the package) import no training code; `launch/` holds
the command lines.
"""

__version__ = "0.1.0"
