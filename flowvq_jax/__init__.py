"""flowvq_jax: FlowVQTalker (CVPR 2024) in JAX/Flax.

Emotional talking faces from speech: normalizing flows with a Student's-t
mixture latent turn audio into 3DMM expression and pose coefficients, and a
vector-quantized image generator renders the frames.

Subpackages (data flows one way):
  world  -> synthetic talking-face world (offline ground truth)
  data   -> audio features, coefficient layout, TFDS builders, grain pipelines
  flow   -> ExpFlow / PoseFlow (FCG)
  vq     -> codebook autoencoder and code-query generator (VQIG)
  train  -> mesh, state, checkpoints, the generic trainer, per-stage tasks
  eval   -> metrics and report tables
"""

__version__ = "0.1.0"
