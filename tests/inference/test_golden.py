"""Generation on the `tiny` checkpoints is pinned: the same checkpoints, audio, face and seed give
the coefficients and frames recorded in `golden_tiny_generate.npz`.

The file was written by the code before the package was restructured into its one-way layout
(core -> world/data -> models -> checkpoints/stages -> train | inference | eval -> apps), so this
test shows the restructuring changed nothing a user gets. Under the jax version that wrote it the
outputs are bit-identical; under another version XLA may round differently, so there the
coefficients must agree to float tolerance and the frames to a grey level.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from flowvq_jax import inference
from flowvq_jax.world import SyntheticWorld

GOLDEN = os.path.join(os.path.dirname(__file__), "golden_tiny_generate.npz")


def test_generate_matches_the_recorded_outputs(tiny_checkpoints):
  world = SyntheticWorld(seed=0, resolution=64)
  wav, _ = world.speech(0, "happy", 3, 1.2, seed=3)
  face = world.render(2, np.zeros(64), np.zeros(6))
  talker = inference.load(tiny_checkpoints)
  gen = inference.generate(
    talker, np.asarray(wav, np.float32), face, emotion="happy", num_samples=2, seed=1, crop="none"
  )
  ref = np.load(GOLDEN)
  assert gen.exp.shape == ref["exp"].shape and gen.frames.shape == ref["frames"].shape
  if str(ref["jax_version"]) == jax.__version__:
    np.testing.assert_array_equal(gen.exp, ref["exp"])
    np.testing.assert_array_equal(gen.pose, ref["pose"])
    np.testing.assert_array_equal(gen.frames, ref["frames"])
  else:
    np.testing.assert_allclose(gen.exp, ref["exp"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(gen.pose, ref["pose"], rtol=1e-3, atol=1e-3)
    diff = np.abs(gen.frames.astype(np.int32) - ref["frames"])
    assert diff.mean() < 0.5 and diff.max() <= 8, (diff.mean(), diff.max())
