"""Chunked autoregressive sampler: one compile, chunk-invariance, temperature, schedules."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DIM

from flowvq_jax.core.constants import EMOTIONS, NEUTRAL
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.models.flow import sampler as sampler_lib
from flowvq_jax.models.flow.model import CoefficientFlow

HAPPY = EMOTIONS.index("happy")


def _mel(t, seed=0):
  return np.random.default_rng(seed).normal(size=(4 * t, 80)).astype(np.float32)


def _windows(model, mel_frames):
  return audio_lib.mel_windows(mel_frames, model.audio_context)


@pytest.fixture(scope="module")
def sampler(tiny):
  model, _ = tiny
  return sampler_lib.FlowSampler(model, chunk_size=8)


def test_one_compile_serves_every_length(tiny, sampler):
  _, params = tiny
  for t in (3, 8, 13, 30):
    x = sampler(params, mel_frames=_mel(t), emotion="happy", seed=t)
    assert x.shape == (t, DIM) and x.dtype == np.float32 and np.isfinite(x).all()
  assert sampler.trace_count == 1
  assert sampler.num_compiles == 1


def test_chunking_does_not_change_samples(tiny, sampler):
  model, params = tiny
  mel = _windows(model, _mel(21, seed=1))
  emotion = np.where(np.arange(21) < 10, NEUTRAL, HAPPY)
  kw = dict(emotion=emotion, intensity=np.linspace(0, 3, 21), temperature=0.7, seed=5)
  small = sampler(params, mel, **kw)
  whole = sampler_lib.FlowSampler(model, chunk_size=32)(params, mel, **kw)
  np.testing.assert_allclose(small, whole, atol=1e-5, rtol=1e-5)


def test_temperature_zero_is_deterministic_and_seeds_differ(tiny, sampler):
  _, params = tiny
  mel = _mel(12, seed=2)
  a = sampler(params, mel_frames=mel, emotion="sad", temperature=0.0, seed=0)
  b = sampler(params, mel_frames=mel, emotion="sad", temperature=0.0, seed=1)
  np.testing.assert_array_equal(a, b)
  c = sampler(params, mel_frames=mel, emotion="sad", temperature=1.0, seed=0)
  d = sampler(params, mel_frames=mel, emotion="sad", temperature=1.0, seed=1)
  assert np.abs(c - d).min() > 0
  np.testing.assert_array_equal(c, sampler(params, mel_frames=mel, emotion=6, seed=0))


def test_temperature_zero_sample_encodes_to_component_location(tiny, sampler):
  """The sampling path (step by step) and the training path (teacher forced) agree."""
  model, params = tiny
  mel = _windows(model, _mel(11, seed=3))
  emotion = np.where(np.arange(11) < 5, HAPPY, 2)
  intensity = np.linspace(3, 1, 11).astype(np.float32)
  x = sampler(params, mel, emotion=emotion, intensity=intensity, temperature=0.0)
  z = sampler_lib.encode(model, params, x, mel)
  comp = model.apply({"params": params}, emotion, intensity, method=CoefficientFlow.prior_params)
  np.testing.assert_allclose(z, comp["loc"], atol=2e-4)
  # A custom latent location (emotion transfer) is honoured the same way.
  loc, scale = sampler_lib.reference_latent(z)
  np.testing.assert_allclose(loc, z.mean(0), rtol=1e-5)
  y = sampler(params, mel, emotion="neutral", temperature=0.0, latent_loc=loc)
  np.testing.assert_allclose(
    sampler_lib.encode(model, params, y, mel), np.tile(loc, (11, 1)), atol=2e-4
  )
  w = sampler(params, mel, temperature=0.5, latent_loc=loc, latent_scale=scale, seed=3)
  assert np.isfinite(w).all() and not np.allclose(w, y)


def test_emotion_schedule_changes_output_where_it_changes(tiny, sampler):
  _, params = tiny
  mel = _mel(16, seed=4)
  schedule = np.array(["neutral"] * 9 + ["happy"] * 7)
  base = sampler(params, mel_frames=mel, emotion="neutral", seed=2)
  switched = sampler(params, mel_frames=mel, emotion=schedule, seed=2)
  np.testing.assert_array_equal(switched[:9], base[:9])
  assert np.abs(switched[9:] - base[9:]).max() > 1e-3
  # Intensity 0 is the neutral component, whatever the emotion.
  np.testing.assert_allclose(
    sampler(params, mel_frames=mel, emotion="happy", intensity=0.0, seed=2), base, atol=1e-6
  )


def test_batch_of_samples_matches_single_samples(tiny, sampler):
  _, params = tiny
  mel = _mel(10, seed=5)
  emotion = np.array([[HAPPY], [NEUTRAL]])
  batch = sampler(params, mel_frames=mel, emotion=emotion, seed=[3, 4])
  assert batch.shape == (2, 10, DIM)
  one = sampler(params, mel_frames=mel, emotion=HAPPY, seed=3)
  two = sampler(params, mel_frames=mel, emotion=NEUTRAL, seed=4)
  np.testing.assert_allclose(batch[0], one, atol=1e-5)
  np.testing.assert_allclose(batch[1], two, atol=1e-5)
  # Per-sample audio windows [N, T, 2k+1, 4, 80].
  win = np.stack([_windows(sampler.model, mel)] * 2)
  np.testing.assert_array_equal(sampler(params, win, emotion=emotion, seed=[3, 4]), batch)


def test_mel_frames_equal_windows(tiny, sampler):
  model, params = tiny
  mel = _mel(9, seed=6)
  a = sampler(params, mel_frames=mel, seed=1)
  b = sampler(params, _windows(model, mel), seed=1)
  c = sampler(params, mel_frames=mel.reshape(9, 4, 80), seed=1)
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a, c)


def test_bad_inputs_raise_clear_errors(tiny, sampler):
  _, params = tiny
  mel = _mel(6)
  with pytest.raises(ValueError, match="Unknown emotion 'joyful'"):
    sampler(params, mel_frames=mel, emotion="joyful")
  with pytest.raises(ValueError, match="Unknown emotion index 8"):
    sampler(params, mel_frames=mel, emotion=8)
  with pytest.raises(ValueError, match="Unknown emotion index -1"):
    sampler(params, mel_frames=mel, emotion=[-1] * 6)
  with pytest.raises(ValueError, match="emotion must be"):
    sampler(params, mel_frames=mel, emotion=[1] * 7)
  with pytest.raises(ValueError, match="intensity must be"):
    sampler(params, mel_frames=mel, intensity=np.ones((2, 6)))
  with pytest.raises(ValueError, match="mel must be windows"):
    sampler(params, np.zeros((6, 5, 4, 80), np.float32))
  with pytest.raises(ValueError, match="mel_frames must be"):
    sampler(params, mel_frames=np.zeros((6, 81), np.float32))
  with pytest.raises(ValueError, match="no video frames"):
    sampler(params, mel_frames=np.zeros((0, 80), np.float32))
  with pytest.raises(ValueError, match="exactly one"):
    sampler(params)
  with pytest.raises(ValueError, match="latent_loc must have shape"):
    sampler(params, mel_frames=mel, latent_loc=np.zeros(DIM + 1))
  with pytest.raises(ValueError, match="chunk_size"):
    sampler_lib.FlowSampler(sampler.model, chunk_size=0)
