"""VQ image generator: stage-1 codebook autoencoder (VQGAN-style), its losses and discriminator.

Modules: `quantizer`, `autoencoder` (with `default_config`), `discriminator`, `losses`,
`objective`, `perceptual`, `benchmark`. `convert_lpips` is a user-run script that needs torch.
See docs/vq.md.
"""
