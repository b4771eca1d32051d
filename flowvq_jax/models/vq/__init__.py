"""VQ image generator: the stage-1 codebook autoencoder (VQGAN-style) and the stage-2 code query.

Modules: `quantizer`, `autoencoder` (with `default_config`), `discriminator`, `losses`,
`objective`, `perceptual`, `mapping` (phi, AdaIN), `warp`, `query` (the code-query generator),
`query_layers`, `query_loss`, `renderer` (jitted batch renderer). `convert_lpips` is a user-run
script that needs torch. See docs/vq.md and docs/vq_query.md.
"""
