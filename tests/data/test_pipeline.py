"""grain pipelines: window contents, determinism, sharding, exact resume."""

from __future__ import annotations

import grain
import numpy as np
import pytest

from flowvq_jax.data import audio, coeffs, pipeline


def _source(lengths=(30, 40, 20, 50, 8, 33, 26, 45, 31, 22), with_frames=False):
  rng = np.random.default_rng(0)
  clips = []
  for i, t in enumerate(lengths):
    clip = {
      "exp": rng.normal(1.0, 2.0, (t, 64)).astype(np.float32),
      "pose": rng.normal(0.0, 0.3, (t, 6)).astype(np.float32),
      "mel": rng.normal(size=(4 * t, 80)).astype(np.float32),
      "emotion": i % 8,
      "intensity": 1 + i % 3,
      "identity": i % 4,
    }
    if with_frames:
      clip["frames"] = rng.integers(0, 255, (t, 8, 8, 3), dtype=np.uint8)
    clips.append(clip)
  return clips


def _equal_batches(a, b):
  assert a.keys() == b.keys()
  for k in a:
    np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_window_contents_match_the_source():
  src = _source(with_frames=True)
  stats = coeffs.compute_stats((c["exp"], c["pose"]) for c in src)
  it = pipeline.train_iterator(
    src, batch_size=3, window=10, mel_context=2, stats=stats, with_frames=True, seed=3
  )
  for _ in range(4):
    batch = next(it)
    assert batch["mel"].shape == (3, 10, 5, 4, 80)
    assert batch["frames"].shape == (3, 10, 8, 8, 3) and batch["frames"].dtype == np.uint8
    for b in range(3):
      clip = src[batch["clip"][b]]
      s = int(batch["start"][b])
      t = clip["exp"].shape[0]
      n = min(10, t)
      want_exp, want_pose = coeffs.normalize(clip["exp"], clip["pose"], stats)
      np.testing.assert_allclose(batch["exp"][b, :n], want_exp[s : s + n], rtol=1e-6)
      np.testing.assert_allclose(batch["pose"][b, :n], want_pose[s : s + n], rtol=1e-6)
      np.testing.assert_array_equal(batch["frames"][b, :n], clip["frames"][s : s + n])
      ctx = audio.mel_windows(clip["mel"], 2, start=s, length=n)
      np.testing.assert_array_equal(batch["mel"][b, :n], ctx)
      assert batch["emotion"][b] == clip["emotion"] and batch["identity"][b] == clip["identity"]
      np.testing.assert_array_equal(batch["mask"][b], np.arange(10) < n)


def test_short_clip_is_edge_padded_and_masked():
  src = [_source(lengths=(6,))[0]]
  batch = next(pipeline.train_iterator(src, batch_size=2, window=10))
  np.testing.assert_array_equal(batch["mask"][0], [1] * 6 + [0] * 4)
  np.testing.assert_array_equal(batch["exp"][0, 6:], np.repeat(src[0]["exp"][-1:], 4, 0))


def test_mel_computed_from_audio_when_absent():
  clip = _source(lengths=(12,))[0]
  wav = np.random.default_rng(1).normal(0, 0.1, 12 * 640).astype(np.float32)
  del clip["mel"]
  clip["audio"] = wav
  batch = next(pipeline.eval_iterator([clip], batch_size=1, window=12, mel_context=1))
  np.testing.assert_allclose(batch["mel"][0], audio.mel_windows(audio.log_mel(wav), 1), atol=1e-5)


def test_determinism_and_seed():
  src = _source()
  a = pipeline.train_iterator(src, batch_size=4, window=8, seed=7)
  b = pipeline.train_iterator(src, batch_size=4, window=8, seed=7)
  c = pipeline.train_iterator(src, batch_size=4, window=8, seed=8)
  starts_a, starts_c = [], []
  for _ in range(6):
    ba, bb, bc = next(a), next(b), next(c)
    _equal_batches(ba, bb)
    starts_a.append(np.stack([ba["clip"], ba["start"]]))
    starts_c.append(np.stack([bc["clip"], bc["start"]]))
  assert not np.array_equal(np.stack(starts_a), np.stack(starts_c))


def test_train_repeats_and_reshuffles_epochs():
  src = _source()
  it = pipeline.train_iterator(src, batch_size=5, window=8, seed=0)
  epochs = [np.concatenate([next(it)["clip"] for _ in range(2)]) for _ in range(3)]
  for e in epochs:
    assert sorted(e.tolist()) == list(range(10))
  assert not all(np.array_equal(epochs[0], e) for e in epochs[1:])


def test_sharding_is_disjoint_and_covers():
  src = _source()
  seen = []
  for i in range(3):
    opts = grain.sharding.ShardOptions(shard_index=i, shard_count=3, drop_remainder=False)
    clips = np.concatenate(
      [b["clip"] for b in pipeline.eval_iterator(src, batch_size=2, window=8, shard_options=opts)]
    )
    train = pipeline.train_iterator(src, batch_size=2, window=8, shard_options=opts)
    train_clips = {int(c) for _ in range(10) for c in next(train)["clip"]}
    assert train_clips == set(clips.tolist())
    seen.append(set(clips.tolist()))
  assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])
  assert set.union(*seen) == set(range(10))
  even = grain.sharding.ShardOptions(shard_index=2, shard_count=3, drop_remainder=True)
  n = sum(
    len(b["clip"]) for b in pipeline.eval_iterator(src, batch_size=2, window=8, shard_options=even)
  )
  assert n == 3
  with pytest.raises(ValueError, match="Shard 1 of 3 is empty"):
    opts = grain.sharding.ShardOptions(1, 3, drop_remainder=True)
    pipeline.make_dataset(src[:2], batch_size=2, window=8, shard_options=opts)


def test_eval_is_finite_and_deterministic():
  src = _source()
  first = list(pipeline.eval_iterator(src, batch_size=4, window=8))
  second = list(pipeline.eval_iterator(src, batch_size=4, window=8))
  assert [len(b["clip"]) for b in first] == [4, 4, 2]
  for a, b in zip(first, second):
    _equal_batches(a, b)
  np.testing.assert_array_equal(np.concatenate([b["clip"] for b in first]), np.arange(10))
  # Central windows.
  np.testing.assert_array_equal(first[0]["start"], [(30 - 8) // 2, (40 - 8) // 2, 6, 21])


@pytest.mark.parametrize("train", [True, False])
def test_resume_continues_exactly(train):
  src = _source()
  kw = dict(batch_size=3, window=8, mel_context=1, seed=5, train=train, num_threads=2)
  uninterrupted = iter(pipeline.make_dataset(src, **kw))
  reference = [next(uninterrupted) for _ in range(3)]

  it = iter(pipeline.make_dataset(src, **kw))
  for want in reference[:2]:
    _equal_batches(next(it), want)
  state = it.get_state()
  fresh = iter(pipeline.make_dataset(src, **kw))
  fresh.set_state(state)
  _equal_batches(next(fresh), reference[2])


def test_bad_sources():
  with pytest.raises(ValueError, match="empty"):
    pipeline.make_dataset([], batch_size=1, window=4)
  bad = _source(lengths=(10,))
  del bad[0]["pose"]
  with pytest.raises(ValueError, match=r"Clip 0 of the source lacks \['pose'\]"):
    next(pipeline.eval_iterator(bad, batch_size=1, window=4, num_threads=0))
  wrong_mel = _source(lengths=(10,))
  wrong_mel[0]["mel"] = wrong_mel[0]["mel"][:30]
  with pytest.raises(ValueError, match="mel has 30 frames"):
    next(pipeline.eval_iterator(wrong_mel, batch_size=1, window=4, num_threads=0))


def test_from_config():
  import ml_collections

  src = _source()
  stats = coeffs.compute_stats((c["exp"], c["pose"]) for c in src)
  cfg = ml_collections.ConfigDict(dict(batch_size=2, window=6, mel_context=1, seed=3))
  a = next(iter(pipeline.from_config(src, cfg, train=True, stats=stats)))
  b = next(pipeline.train_iterator(src, batch_size=2, window=6, mel_context=1, seed=3, stats=stats))
  _equal_batches(a, b)
  with pytest.raises(ValueError, match="no normalisation statistics"):
    pipeline.from_config(src, cfg, train=True)
  cfg.normalize = False
  raw = next(iter(pipeline.from_config(src, cfg, train=False)))
  np.testing.assert_array_equal(raw["exp"][0], src[0]["exp"][12:18])


def test_orbax_checkpoint_of_the_iterator(tmp_path):
  """The iterator state round-trips through orbax with grain's checkpoint handler."""
  import orbax.checkpoint as ocp

  src = _source()
  kw = dict(batch_size=3, window=8, seed=1, train=True)
  it = iter(pipeline.make_dataset(src, **kw))
  for _ in range(4):
    next(it)
  with ocp.CheckpointManager(tmp_path / "ckpt") as mngr:
    mngr.save(4, args=ocp.args.Composite(data=grain.checkpoint.CheckpointSave(it)))
    mngr.wait_until_finished()
  want = next(it)
  fresh = iter(pipeline.make_dataset(src, **kw))
  with ocp.CheckpointManager(tmp_path / "ckpt") as mngr:
    mngr.restore(4, args=ocp.args.Composite(data=grain.checkpoint.CheckpointRestore(fresh)))
  _equal_batches(next(fresh), want)
