"""TFDS builders: synthetic (tiny) round trip and splits; fake MEAD / HDTF in real layouts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import data_fakes as fakes
import ml_collections
import numpy as np
import pytest
import scipy.io

from flowvq_jax.core import constants
from flowvq_jax.data import audio, builders, coeffs, faces, media, pipeline
from flowvq_jax.data import sources as clip_sources
from flowvq_jax.data.builders import synthetic


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
  data_dir = tmp_path_factory.mktemp("tfds")
  builder = builders.prepare("synthetic_talking_faces/tiny", data_dir)
  return builder, builder.as_data_source()


def test_no_tensorflow_imported(tiny):
  """Reading a prepared dataset through the pipeline never imports TensorFlow."""
  builder, _ = tiny
  assert "tensorflow" not in sys.modules
  data_dir = builder.data_dir.split("/synthetic_talking_faces")[0]
  code = (
    "import sys\n"
    "from flowvq_jax.data import builders, pipeline\n"
    f"src = builders.data_sources('synthetic_talking_faces/tiny', {data_dir!r})\n"
    "batch = next(pipeline.train_iterator(src['train'], batch_size=2, window=8))\n"
    "assert batch['exp'].shape == (2, 8, 64)\n"
    "print('tensorflow' in sys.modules)\n"
  )
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip().splitlines()[-1] == "False"


def test_tiny_round_trip_equals_world(tiny):
  builder, sources = tiny
  cfg = builder.builder_config
  specs = {s.clip_id: s for split in synthetic.SPLITS for s in synthetic.clip_specs(cfg)[split]}
  world = synthetic.make_world(cfg)
  for split, index in (("train", 0), ("test", 3)):
    record = sources[split][index]
    spec = specs[record["clip_id"].decode()]
    clip = synthetic.sample(world, cfg, spec)
    t = clip.frames.shape[0]
    assert t == int(cfg.seconds * constants.FPS)
    assert record["frames"].shape == (t, cfg.resolution, cfg.resolution, 3)
    assert record["frames"].dtype == np.uint8
    np.testing.assert_array_equal(record["frames"], clip.frames)
    np.testing.assert_array_equal(record["exp"], clip.exp)
    np.testing.assert_array_equal(record["pose"], clip.pose)
    np.testing.assert_array_equal(record["landmarks"], clip.landmarks)
    np.testing.assert_array_equal(record["audio"], clip.audio)
    np.testing.assert_allclose(record["mel"], audio.log_mel(clip.audio, num_frames=t), atol=1e-5)
    assert record["mel"].shape == (4 * t, 80)
    for key in ("emotion", "intensity", "identity", "utterance"):
      assert int(record[key]) == int(getattr(clip, key)) == int(getattr(spec, key))


def test_tiny_splits_hold_out_identities_and_utterances(tiny):
  _, sources = tiny
  ids, utts, emotions = {}, {}, set()
  for split, source in sources.items():
    recs = [source[i] for i in range(len(source))]
    ids[split] = {int(r["identity"]) for r in recs}
    utts[split] = {int(r["utterance"]) for r in recs}
    emotions |= {int(r["emotion"]) for r in recs}
  assert set(sources) == {"train", "validation", "test"}
  assert len(sources["train"]) == 32 and len(sources["test"]) == 8
  assert not ids["train"] & ids["validation"] and not ids["train"] & ids["test"]
  assert not ids["validation"] & ids["test"]
  assert not utts["train"] & utts["test"] and not utts["train"] & utts["validation"]
  assert emotions == set(range(constants.NUM_EMOTIONS))


def test_tiny_stats_stored(tiny):
  builder, sources = tiny
  stats = builders.load_stats(builder)
  train = sources["train"]
  exp = np.concatenate([train[i]["exp"] for i in range(len(train))])
  pose = np.concatenate([train[i]["pose"] for i in range(len(train))])
  np.testing.assert_allclose(stats.exp_mean, exp.mean(0), atol=1e-5)
  np.testing.assert_allclose(stats.pose_std, np.maximum(pose.std(0), 1e-4), rtol=1e-3, atol=1e-6)
  on_disk = coeffs.CoeffStats.load_json(os.path.join(builder.data_dir, builders.STATS_FILE))
  np.testing.assert_array_equal(on_disk.exp_mean, stats.exp_mean)
  # A rebuilt builder object reads the stored data and statistics.
  again = builders.get_builder(
    "synthetic_talking_faces/tiny", builder.data_dir.split("/synthetic")[0]
  )
  assert again.is_prepared()
  np.testing.assert_array_equal(builders.load_stats(again).pose_mean, stats.pose_mean)


def test_tiny_feeds_the_pipeline(tiny):
  builder, sources = tiny
  it = pipeline.train_iterator(
    sources["train"],
    batch_size=4,
    window=16,
    stats=builders.load_stats(builder),
    with_frames=True,
  )
  batch = next(it)
  assert batch["exp"].shape == (4, 16, 64) and batch["frames"].shape == (4, 16, 64, 64, 3)
  assert batch["mel"].shape == (4, 16, 5, 4, 80)


def test_builder_name_errors(tmp_path):
  with pytest.raises(ValueError, match="Unknown dataset 'celeb'"):
    builders.get_builder("celeb/tiny", tmp_path)
  with pytest.raises(ValueError, match="Unknown config 'huge'.*tiny"):
    builders.get_builder("synthetic_talking_faces/huge", tmp_path)
  with pytest.raises(ValueError, match="Unknown config 'big'"):
    builders.get_builder("mead/big", tmp_path)
  with pytest.raises(ValueError, match="not prepared"):
    builders.data_sources("synthetic_talking_faces/small", tmp_path)
  b = builders.get_builder("mead/res64_crop10_m5_100_100", tmp_path)
  assert b.builder_config.crop == "10,-5,100,100" and b.builder_config.resolution == 64


@pytest.fixture(scope="module")
def fake_mead(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("mead"))
  return root, fakes.make_mead(root)


def _frames_close(got, want):
  assert got.shape == want.shape
  assert np.abs(got.astype(np.float32) - want).mean() < 6.0


def test_mead_builds_and_reads(fake_mead, tmp_path):
  root, clips = fake_mead
  builder = builders.prepare("mead/res64_full", tmp_path, manual_dir=root)
  sources = builder.as_data_source()
  assert set(sources) == {"train", "test"}  # Two speakers: one trains, one tests.
  records = {s: [src[i] for i in range(len(src))] for s, src in sources.items()}
  assert {r["speaker"].decode() for r in records["train"]} == {"M001"}
  assert {r["speaker"].decode() for r in records["test"]} == {"W002"}
  # Sentence 2 of angry and of neutral (the last of their emotion) are held out of train and
  # are all the test split holds; sad has one sentence, which stays out of test.
  sentence = lambda r: (constants.EMOTIONS[int(r["emotion"])], int(r["utterance"]))
  assert {sentence(r) for r in records["train"]} == {("angry", 1), ("neutral", 1)}
  assert {sentence(r) for r in records["test"]} == {("angry", 2), ("neutral", 2)}
  for r in records["train"] + records["test"]:
    clip = clips[r["clip_id"].decode()]
    t = clip.frames.shape[0]
    np.testing.assert_allclose(r["exp"], clip.exp, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(r["pose"], clip.pose, rtol=1e-6, atol=1e-6)
    _frames_close(r["frames"], clip.frames)
    assert r["audio"].shape == (t * 640,) and r["mel"].shape == (4 * t, 80)
    corr = np.corrcoef(r["audio"], clip.audio)[0, 1]
    assert corr > 0.9
    assert int(r["emotion"]) == int(clip.emotion) and int(r["intensity"]) == int(clip.intensity)
  assert builders.load_stats(builder).exp_mean.shape == (64,)


def test_hdtf_builds_and_resamples(tmp_path):
  root = str(tmp_path / "hdtf")
  clips = fakes.make_hdtf(root)
  builder = builders.prepare("hdtf/res64_full", tmp_path / "data", manual_dir=root)
  sources = builder.as_data_source()
  records = [r for src in sources.values() for r in (src[i] for i in range(len(src)))]
  assert {r["clip_id"].decode() for r in records} == set(clips)
  for r in records:
    clip = clips[r["clip_id"].decode()]
    np.testing.assert_allclose(r["exp"], clip.exp, rtol=1e-6, atol=1e-6)
    _frames_close(r["frames"], clip.frames)
    assert int(r["emotion"]) == constants.NEUTRAL
  assert {r["speaker"].decode() for r in records} == {"WDA_Alice", "RD_Bob"}


def _copy(src, dst):
  shutil.copytree(src, dst)
  return str(dst)


def test_bad_manual_directories(fake_mead, tmp_path):
  root, _ = fake_mead
  data = tmp_path / "data"
  with pytest.raises(ValueError, match="needs a manual directory"):
    builders.prepare("mead/res64_full", data)
  with pytest.raises(ValueError, match="does not exist"):
    builders.prepare("mead/res64_full", data, manual_dir=tmp_path / "nope")
  (tmp_path / "empty").mkdir()
  with pytest.raises(ValueError, match="No MEAD videos"):
    builders.prepare("mead/res64_full", data, manual_dir=tmp_path / "empty")
  with pytest.raises(ValueError, match=r"No HDTF videos \(\*\.mp4\)"):
    builders.prepare("hdtf/res64_full", data, manual_dir=tmp_path / "empty")

  no_audio = _copy(root, tmp_path / "no_audio")
  os.remove(os.path.join(no_audio, "M001", "audio", "angry", "level_2", "002.m4a"))
  with pytest.raises(ValueError, match=r"angry/level_2/002\.mp4 has no audio: expected"):
    builders.prepare("mead/res64_full", data, manual_dir=no_audio)

  no_coeffs = _copy(root, tmp_path / "no_coeffs")
  os.remove(
    os.path.join(no_coeffs, "coeffs", "W002", "video", "front", "sad", "level_1", "001.mat")
  )
  with pytest.raises(ValueError, match=r"1 video\(s\) have no coefficient file.*sad/level_1/001"):
    builders.prepare("mead/res64_full", data, manual_dir=no_coeffs)

  bad_emotion = _copy(root, tmp_path / "bad_emotion")
  os.rename(
    os.path.join(bad_emotion, "M001", "video", "front", "angry"),
    os.path.join(bad_emotion, "M001", "video", "front", "furious"),
  )
  with pytest.raises(ValueError, match="unknown emotion folder 'furious'"):
    builders.prepare("mead/res64_full", data, manual_dir=bad_emotion)


def _one_clip_dir(tmp_path, name, frames, coeff_array, audio_wav):
  root = tmp_path / name
  root.mkdir()
  media.write_video(root / "X_000.mp4", frames, audio=audio_wav)
  (root / "coeffs").mkdir()
  scipy.io.savemat(root / "coeffs" / "X_000.mat", {"coeff": coeff_array})
  return root


def test_bad_files_name_the_file(tmp_path):
  clip = fakes.world_clip(0, 0, 1, 1, seconds=1.0)
  t = clip.frames.shape[0]
  data = tmp_path / "data"
  wrong_width = _one_clip_dir(tmp_path, "w", clip.frames, np.zeros((t, 100)), clip.audio)
  with pytest.raises(ValueError, match=r"X_000\.mat.*width 100 is not supported"):
    builders.prepare("hdtf/res64_full", data, manual_dir=wrong_width)
  mismatch = _one_clip_dir(tmp_path, "m", clip.frames, np.zeros((t + 10, 257)), clip.audio)
  with pytest.raises(ValueError, match=rf"mismatch for .*X_000\.mp4.*{t + 10} rows.*{t} frames"):
    builders.prepare("hdtf/res64_full", data, manual_dir=mismatch)
  silent = _one_clip_dir(tmp_path, "s", clip.frames, np.zeros((t, 257)), None)
  with pytest.raises(ValueError, match=r"Audio of .*X_000\.mp4: No audio stream"):
    builders.prepare("hdtf/res64_full", data, manual_dir=silent)
  blank = _one_clip_dir(
    tmp_path, "b", np.full((t, 64, 64, 3), 128, np.uint8), np.zeros((t, 257)), clip.audio
  )
  if faces.haar_available():
    with pytest.raises(ValueError, match=r"No face found in .*X_000\.mp4"):
      builders.prepare("hdtf/res64", data, manual_dir=blank)
  else:
    with pytest.raises(ValueError, match=r"Haar face detection needs OpenCV 4\.x.*crop"):
      builders.prepare("hdtf/res64", data, manual_dir=blank)


def test_prepare_data_cli(tiny, tmp_path, capsys):
  from launch import prepare_data

  builder, _ = tiny
  data_dir = builder.data_dir.split("/synthetic_talking_faces")[0]
  assert (
    prepare_data.main(["--dataset", "synthetic_talking_faces/tiny", "--data_dir", data_dir]) == 0
  )
  out = capsys.readouterr().out
  assert "train" in out and "32 clips" in out and "build time" in out and "MiB" in out
  rc = prepare_data.main(
    ["--dataset", "mead/res64", "--data_dir", str(tmp_path), "--manual_dir", str(tmp_path / "x")]
  )
  err = capsys.readouterr().err.strip()
  assert rc == 2 and err.startswith("error: MEAD manual directory does not exist")
  assert len(err.splitlines()) == 1
  rc = prepare_data.main(["--dataset", "mead/res64", "--data_dir", str(tmp_path), "--crop", "1,2"])
  err = capsys.readouterr().err.strip()
  assert rc == 2 and "Crop box must be 'x,y,w,h'" in err


def test_in_memory_examples_match_the_records(tiny):
  _, sources = tiny
  cfg = synthetic.SyntheticConfig(
    name="one",
    resolution=64,
    seconds=0.4,
    identities=(1, 1, 1),
    clips_per_identity=1,
    utterances=(2, 1, 1),
  )
  (example,) = synthetic.examples(cfg, "test")
  assert example["frames"].shape == (10, 64, 64, 3) and example["mel"].shape == (40, 80)
  assert example["identity"] == 2 and example["utterance"] == 3
  records = {sources["test"][i]["clip_id"].decode(): sources["test"][i] for i in range(8)}
  mem = {e["clip_id"]: e for e in synthetic.examples("tiny", "test")[:2]}
  for clip_id, e in mem.items():
    for key in ("frames", "exp", "pose", "mel", "audio"):
      np.testing.assert_array_equal(records[clip_id][key], e[key])
  with pytest.raises(ValueError, match="Unknown split 'dev'"):
    synthetic.examples(cfg, "dev")


def test_split_items_hold_out_speakers_and_sentences():
  from flowvq_jax.data.builders import real

  items = [
    real.VideoItem(f"{s}.mp4", None, f"{s}.mat", f"S{s:02d}", e, 1, u, f"S{s:02d}/{e}/{u}")
    for s in range(20)
    for e in (0, 5)
    for u in range(1, 11)
  ]
  splits = real.split_items(items, real.RealConfig(name="x"), hold_out_utterances=True)
  spk = {k: {it.speaker for it in v} for k, v in splits.items()}
  assert spk["test"] == {"S18", "S19"} and spk["validation"] == {"S16", "S17"}
  assert len(spk["train"]) == 16
  sent = {k: {(it.emotion, it.utterance) for it in v} for k, v in splits.items()}
  assert sent["test"] == {(0, 10), (5, 10)}
  assert not sent["train"] & sent["test"] and not sent["validation"] & sent["test"]
  chosen = real.RealConfig(name="y", val_speakers=("S00",), test_speakers=("S01", "S02"))
  splits = real.split_items(items, chosen, hold_out_utterances=False)
  assert {it.speaker for it in splits["test"]} == {"S01", "S02"}
  assert {it.speaker for it in splits["validation"]} == {"S00"}
  assert len(splits["test"]) == 40
  with pytest.raises(ValueError, match=r"test_speakers \['S99'\] are not in the data"):
    real.split_items(items, real.RealConfig(name="z", test_speakers=("S99",)), False)


def test_sources_without_frames_give_the_same_coefficients(tiny):
  builder, full = tiny
  light = builders.sources(builder, with_frames=False)
  kw = dict(batch_size=4, window=8, seed=2, num_threads=0)
  a = next(pipeline.train_iterator(full["train"], **kw))
  b = next(pipeline.train_iterator(light["train"], **kw))
  for key in ("exp", "pose", "mel", "emotion", "clip", "start"):
    np.testing.assert_array_equal(a[key], b[key])
  with pytest.raises(ValueError, match="without decoding frames"):
    next(pipeline.train_iterator(light["train"], with_frames=True, **kw))


@pytest.mark.skipif(not faces.haar_available(), reason="needs OpenCV 4.x's Haar cascade")
def test_haar_crop_finds_the_world_face(tmp_path):
  from flowvq_jax.world import SyntheticWorld

  world = SyntheticWorld(seed=0, resolution=128)
  clip = world.sample_clip(world.identity(0), "happy", 2, 1.0, 3, utterance=1)
  t = clip.frames.shape[0]
  canvas = np.full((t, 192, 256, 3), 90, np.uint8)
  canvas[:, 40:168, 80:208] = clip.frames
  root = tmp_path / "hdtf"
  root.mkdir()
  media.write_video(root / "Y_000.mp4", canvas, audio=clip.audio)
  (root / "coeffs").mkdir()
  np.save(root / "coeffs" / "Y_000.npy", coeffs.to_full(clip.exp, clip.pose))
  probe, _ = media.read_video(root / "Y_000.mp4", fps=8)
  x, y, w, h = faces.detect_face_box(probe)
  assert abs(x - 80) <= 12 and abs(y - 40) <= 12 and abs(w - 128) <= 20 and w == h
  builder = builders.prepare("hdtf/res64", tmp_path / "data", manual_dir=root)
  record = builder.as_data_source()["train"][0]
  small = clip.frames.reshape(t, 64, 2, 64, 2, 3).mean((2, 4))
  assert record["frames"].shape == (t, 64, 64, 3)
  assert np.abs(record["frames"].astype(np.float32) - small).mean() < 20


def test_one_clip_source_reads_the_builders_records_and_the_same_clips_in_memory(tiny):
  """`data.sources.clip_source` over the prepared dataset and over in-memory world clips of the
  same layout gives the same clips (the one world clip -> example path), and what a stage leaves
  out is not decoded (TFDS) or not made (memory)."""
  builder, _ = tiny
  cfg = builder.builder_config
  data_dir = builder.data_dir.split("/synthetic_talking_faces")[0]
  mem = {k: getattr(cfg, k) for k in ("resolution", "seconds", "clips_per_identity", "world_seed")}
  mem.update(identities=tuple(cfg.identities), utterances=tuple(cfg.utterances), workers=0)
  as_tfds = ml_collections.ConfigDict(
    {"source": "tfds", "name": "synthetic_talking_faces/tiny", "data_dir": data_dir}
  )
  as_memory = ml_collections.ConfigDict({"source": "memory", "memory": mem})
  records = clip_sources.clip_source(as_tfds, "val")
  clips = clip_sources.clip_source(as_memory, "val")
  by_id = {r["clip_id"].decode(): r for r in (records[i] for i in range(len(records)))}
  assert sorted(by_id) == sorted(c["clip_id"] for c in clips)
  for c in clips[:2]:
    r = by_id[c["clip_id"]]
    for k in ("frames", "exp", "pose", "landmarks", "audio", "mel"):
      np.testing.assert_array_equal(r[k], c[k], err_msg=k)
    for k in ("emotion", "intensity", "identity", "utterance"):
      assert int(r[k]) == c[k], k
  # The flows' view: mel without frames or waveform.
  light = clip_sources.clip_source(as_tfds, "train", frames=False, audio=False, mel=True)[0]
  assert isinstance(light["frames"], bytes) and isinstance(light["audio"], bytes)
  assert light["mel"].dtype == np.float32 and light["mel"].shape[1] == audio.N_MELS
  bare = clip_sources.clip_source(as_memory, "train", frames=False, audio=False)[0]
  assert bare["frames"].shape[1:] == (0, 0, 3) and "mel" not in bare and "audio" not in bare
  stats = clip_sources.train_stats(as_memory)
  np.testing.assert_allclose(stats.exp_mean, builders.load_stats(builder).exp_mean, atol=1e-6)
