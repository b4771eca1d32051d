"""Flow-based Coefficient Generator: ExpFlow and PoseFlow (conditional autoregressive Glows).

Modules: `bijectors` (distrax ActNorm, LU 1x1, conditional affine coupling), `layers` (the
Flax modules that own their params and build the `distrax.Chain`), `conditioner` (audio
window + history -> LSTM context), `prior` (Student's-t / Gaussian mixture, Gaussian),
`model` (`CoefficientFlow`, `default_config`), `sampler` (`FlowSampler`, `encode`,
`reference_latent`). Speed: `python -m flowvq_jax.bench.flow`. See docs/flow.md.
"""
