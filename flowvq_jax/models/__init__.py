"""The models: `flow` (ExpFlow / PoseFlow) and `vq` (codebook autoencoder, code-query generator).

Imports nothing from train/, eval/, inference/, apps/, bench/ or launch/."""
