"""flowvq_jax.inference end to end on the tiny checkpoints: load, generate, save, streaming."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import scipy.io.wavfile
from PIL import Image

from flowvq_jax import checkpoints, inference
from flowvq_jax.core import constants
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data import faces, media, sources, world_clips
from flowvq_jax.world import EXP_NAMES, SyntheticWorld

SECONDS = 1.2  # 30 frames.
T = round(SECONDS * constants.FPS)


@pytest.fixture(scope="module")
def talker(tiny_checkpoints):
  return inference.load(tiny_checkpoints)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  """A world speech wav (1.2 s) and a world face png (64 px, pre-aligned)."""
  root = tmp_path_factory.mktemp("pipeline_inputs")
  world = SyntheticWorld(seed=0, resolution=64)
  wav, _ = world.speech(0, "happy", 3, SECONDS, seed=3)
  audio = str(root / "speech.wav")
  media.write_audio(audio, wav)
  image = str(root / "face.png")
  Image.fromarray(world.render(2, np.zeros(64), np.zeros(6))).save(image)
  return {"audio": audio, "image": image, "wav": np.asarray(wav, np.float32), "root": root}


def test_generate_save_round_trip(talker, inputs, tmp_path):
  s = talker.image_size
  gen = inference.generate(
    talker, inputs["audio"], inputs["image"], emotion="happy", num_samples=2, seed=1, crop="none"
  )
  assert gen.frames.shape == (2, T, s, s, 3) and gen.frames.dtype == np.uint8
  assert gen.exp.shape == (2, T, 64) and gen.pose.shape == (2, T, 6)
  assert np.all(np.isfinite(gen.exp)) and np.all(np.isfinite(gen.pose))
  assert gen.audio.shape == (T * constants.SAMPLES_PER_FRAME,) and gen.fps == constants.FPS
  assert set(gen.timings) >= {"coefficients", "rendering", "encoding"}
  assert not np.allclose(gen.exp[0], gen.exp[1])  # two different samples.
  # Sample i depends on (seed, i) only.
  one = inference.generate(talker, inputs["wav"], inputs["image"], emotion="happy", seed=1,
                          crop="none")  # fmt: skip
  np.testing.assert_allclose(one.exp[0], gen.exp[0], rtol=1e-5, atol=1e-5)
  # (Batched flow sampling differs from unbatched by float rounding: a pixel may move by 1.)
  assert np.abs(one.frames[0].astype(int) - gen.frames[0]).max() <= 2

  out = str(tmp_path / "out")
  paths = inference.save(gen, out)
  assert gen.timings["encoding"] > 0
  for i, video in enumerate(paths["video"]):
    info = media.video_info(video)
    assert (info["width"], info["height"], info["fps"]) == (s, s, 25.0)
    frames, _ = media.read_video(video)
    assert frames.shape == (T, s, s, 3)
    # h264 (yuv420p) is lossy at 32 px; the brightness follows the rendered frames.
    luma = lambda x: x.astype(np.float32).mean(-1).ravel()
    assert np.corrcoef(luma(frames), luma(gen.frames[i]))[0, 1] > 0.85
    wav = media.load_audio(video)
    assert abs(wav.shape[0] / constants.SAMPLE_RATE - SECONDS) < 0.05
    np.testing.assert_array_equal(np.load(paths["exp"][i]), gen.exp[i])
    np.testing.assert_array_equal(np.load(paths["pose"][i]), gen.pose[i])
  side = media.video_info(paths["side_by_side"])
  assert (side["width"], side["height"]) == (2 * s, s)

  # Nothing is overwritten without overwrite=True, and nothing is written at all.
  before = {p: os.path.getmtime(p) for p in paths["video"]}
  with pytest.raises(FileExistsError, match="already exists"):
    inference.save(gen, out)
  assert {p: os.path.getmtime(p) for p in paths["video"]} == before
  assert sorted(os.listdir(out)) == sorted(
    os.path.basename(p) for v in paths.values() for p in (v if isinstance(v, list) else [v]) if p
  )
  inference.save(gen, out, overwrite=True)


def test_streaming_blocks_equal_the_whole_and_the_files_match(talker, inputs, tmp_path):
  prep = inference.prepare(talker, inputs["audio"], inputs["image"], seed=4, crop="none")
  whole = list(inference.render(talker, prep, fidelity=0.3))
  assert len(whole) == 1
  blocks = list(inference.render(talker, prep, fidelity=0.3, chunk_frames=7))
  assert [b.shape[1] for b in blocks] == [7, 7, 7, 7, 2]  # host memory holds one block.
  np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole[0])

  # generate_to_dir (streamed in blocks of 8) writes the same videos as generate + save.
  opts = dict(seed=4, crop="none", fidelity=0.3)
  saved = inference.generate_to_dir(
    talker, inputs["audio"], inputs["image"], tmp_path / "a", chunk_frames=8, **opts
  )
  gen = inference.generate(talker, inputs["audio"], inputs["image"], **opts)
  ref = inference.save(gen, tmp_path / "b")
  assert saved.num_frames == T and set(saved.timings) >= {"coefficients", "rendering", "encoding"}
  np.testing.assert_allclose(saved.exp, gen.exp, rtol=1e-6, atol=1e-6)
  streamed, _ = media.read_video(saved.paths["video"][0])
  whole_file, _ = media.read_video(ref["video"][0])
  np.testing.assert_array_equal(streamed, whole_file)


def test_flow_chunks_carry_state(talker, inputs):
  """Coefficients of 3 s sampled in chunks of 16 frames equal those in chunks of 64."""
  wav, _ = SyntheticWorld(0, 64).speech(1, "sad", 2, 3.0, seed=5)
  small = dataclasses.replace(talker, flow_chunk=16, _cache={})
  kw = dict(pose="still", seed=2, crop="none", emotion="sad")
  a = inference.prepare(talker, wav, inputs["image"], **kw)
  b = inference.prepare(small, wav, inputs["image"], **kw)
  assert a.num_frames == 75
  np.testing.assert_allclose(a.exp, b.exp, rtol=1e-4, atol=1e-4)


def test_emotion_schedule_and_per_frame_emotion():
  e = inference.emotion_frames("neutral:0-0.4,happy:0.4-0.8,sad:1.0-", 30)
  idx = constants.emotion_index
  assert list(e[:10]) == [idx("neutral")] * 10
  assert list(e[10:25]) == [idx("happy")] * 15  # the gap 0.8-1.0 s keeps happy.
  assert list(e[25:]) == [idx("sad")] * 5
  assert list(inference.emotion_frames("angry", 3)) == [0, 0, 0]
  assert list(inference.emotion_frames(["fear", "sad"], 2)) == [idx("fear"), idx("sad")]
  bad = {
    "happy:2-1": "ends before it starts",
    "happy:0-2,sad:1-3": "without overlap",
    "happy:0-,sad:1-3": "Only the last",
    "happy:zero-2": "Malformed",
    "happy": None,
    "elated:0-2": "Unknown emotion 'elated'",
  }
  for text, message in bad.items():
    if message is None:
      inference.emotion_frames(text, 3)
      continue
    with pytest.raises(ValueError, match=message):
      inference.parse_schedule(text)


def test_pose_modes_blink_and_emotion_ref(talker, inputs, tmp_path):
  img = inputs["image"]
  base = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none")
  still = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none", pose="still")
  np.testing.assert_allclose(still.pose[0], np.broadcast_to(talker.render_stats.pose_mean, (T, 6)))
  np.testing.assert_array_equal(still.exp, base.exp)  # pose mode does not touch expression.
  track = np.random.default_rng(0).normal(size=(12, 6)).astype(np.float32)
  np.save(tmp_path / "track_pose.npy", track)
  follow = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none",
                            pose=str(tmp_path / "track_pose.npy"))  # fmt: skip
  np.testing.assert_array_equal(follow.pose[0], np.concatenate([track, track, track[:6]]))

  # blink off changes only the blink dim.
  off = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none", blink=False)
  b = EXP_NAMES.index("blink")
  keep = [d for d in range(64) if d != b]
  np.testing.assert_array_equal(off.exp[..., keep], base.exp[..., keep])
  np.testing.assert_allclose(off.exp[..., b], inference.hold_blink(base.exp)[..., b])

  # Emotion transfer from a world clip, and from a coefficient file with its audio beside it.
  world = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none",
                           emotion_ref="world:1:surprised:4")  # fmt: skip
  assert "world:1:surprised:4" in world.info["emotion_ref"]
  assert not np.allclose(world.exp, base.exp)
  clip = SyntheticWorld(0, 64).sample_clip(3, "angry", 3, 1.0, seed=2, render_frames=False)
  np.save(tmp_path / "ref.npy", coeffs_lib.to_compact(clip.exp, clip.pose))
  ref = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none",
                         emotion_ref=str(tmp_path / "ref.npy"))  # fmt: skip
  assert "with the input audio" in ref.info["emotion_ref"]
  media.write_audio(tmp_path / "ref.wav", clip.audio)
  ref2 = inference.prepare(talker, inputs["wav"], img, seed=7, crop="none",
                          emotion_ref=str(tmp_path / "ref.npy"))  # fmt: skip
  assert "ref.wav" in ref2.info["emotion_ref"]
  assert not np.allclose(ref.exp, ref2.exp)  # the reference's own audio moves its latents.
  loc, scale, _ = inference.reference_latent(talker, clip.exp, clip.audio, 0)
  assert loc.shape == scale.shape == (64,) and np.all(scale > 0)


def test_hold_blink_removes_blinks_and_keeps_the_resting_level():
  t = 200
  exp = np.zeros((1, t, 64), np.float32)
  b = EXP_NAMES.index("blink")
  exp[0, :, b] = 0.2  # a drooping lid at rest.
  for start in (20, 90, 150):
    exp[0, start : start + 7, b] = [0.5, 0.95, 1.0, 0.8, 0.5, 0.3, 0.2]
  exp[0, :, 3] = np.linspace(0, 1, t)
  out = inference.hold_blink(exp)
  np.testing.assert_allclose(out[0, :, b], 0.2)
  np.testing.assert_array_equal(out[..., 3], exp[..., 3])


def test_image_crops(talker):
  s = talker.image_size
  face = SyntheticWorld(0, 128).render(0, np.zeros(64), np.zeros(6))
  canvas = np.full((260, 340, 3), 90, np.uint8)
  canvas[70:198, 150:278] = face
  x, y, w, h = faces.detect_face_box(canvas[None], num_probes=1)
  assert abs(x - 150) < 12 and abs(y - 70) < 12 and abs(w - 128) < 16
  auto = inference.prepare_image(canvas, s, "auto")
  aligned = inference.prepare_image(face, s, "none")
  assert auto.shape == (s, s, 3) and np.corrcoef(auto.ravel(), aligned.ravel())[0, 1] > 0.9
  boxed = inference.prepare_image(canvas, s, "150,70,128,128")
  np.testing.assert_array_equal(boxed, aligned)
  with pytest.raises(ValueError, match="--crop none"):
    inference.prepare_image(np.full((200, 200, 3), 128, np.uint8), s, "auto")
  with pytest.raises(ValueError, match="Unknown crop"):
    inference.prepare_image(face, s, "tight")


def test_audio_inputs(tmp_path):
  sr = 44_100
  tone = 0.3 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)
  stereo = np.stack([tone, 0.5 * tone], axis=1).astype(np.float32)
  scipy.io.wavfile.write(tmp_path / "stereo.wav", sr, stereo)
  wav = inference.load_audio_input(str(tmp_path / "stereo.wav"))
  assert abs(wav.shape[0] - constants.SAMPLE_RATE) <= 2
  assert 0.15 < np.abs(wav).max() < 0.3  # averaged channels.
  media.write_audio(tmp_path / "speech.m4a", wav)
  assert inference.load_audio_input(str(tmp_path / "speech.m4a")).shape[0] >= 15_000
  media.write_video(tmp_path / "clip.mp4", np.zeros((25, 16, 16, 3), np.uint8), audio=wav)
  assert abs(inference.load_audio_input(str(tmp_path / "clip.mp4")).shape[0] - 16_000) < 1_100
  with pytest.raises(ValueError, match="silent"):
    inference.load_audio_input(np.zeros(16_000, np.float32))
  with pytest.raises(ValueError, match="too short"):
    inference.load_audio_input(0.5 * np.ones(100, np.float32))
  (tmp_path / "notes.wav").write_text("not audio")
  with pytest.raises(ValueError, match="notes.wav"):
    inference.load_audio_input(str(tmp_path / "notes.wav"))


def test_load_errors_and_a_copied_directory_generates_without_data(
  tiny_checkpoints, talker, inputs, tmp_path, monkeypatch
):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    inference.load(tmp_path / "nowhere")
  partial = tmp_path / "partial"
  shutil.copytree(os.path.join(tiny_checkpoints, "expflow"), partial / "expflow")
  with pytest.raises(FileNotFoundError, match="no poseflow/ stage"):
    inference.load(partial)

  # Training wrote each stage's statistics; loading never opens a dataset.
  for stage in ("expflow", "poseflow", "vq_query"):
    assert os.path.exists(os.path.join(tiny_checkpoints, stage, checkpoints.STATS_FILE))

  def no_data(*args, **kwargs):
    raise AssertionError("a dataset was opened")

  for name in ("clip_source", "tfds_clips", "train_stats"):
    monkeypatch.setattr(sources, name, no_data)
  monkeypatch.setattr(world_clips, "memory_clips", no_data)
  # A copied checkpoints directory whose vq_query config names a stage-1 path that is gone.
  moved = tmp_path / "moved"
  shutil.copytree(tiny_checkpoints, moved)
  cfg_path = moved / "vq_query" / "config.json"
  cfg = json.loads(cfg_path.read_text())
  cfg["model"]["stage1_workdir"] = str(tmp_path / "gone" / "vq_codebook")
  cfg_path.write_text(json.dumps(cfg))
  again = inference.load(moved, cache=False)
  assert again.image_size == talker.image_size
  np.testing.assert_array_equal(again.render_stats.exp_mean, talker.render_stats.exp_mean)
  kw = dict(emotion="sad", num_samples=1, seed=4, crop="none")
  gen = inference.generate(again, inputs["audio"], inputs["image"], **kw)
  ref = inference.generate(talker, inputs["audio"], inputs["image"], **kw)
  np.testing.assert_array_equal(gen.exp, ref.exp)
  np.testing.assert_array_equal(gen.frames, ref.frames)
  assert inference.load(tiny_checkpoints) is talker  # cached per directory and steps.

  # A run without its statistics file: a clear error that names the command that writes it.
  os.remove(moved / "poseflow" / checkpoints.STATS_FILE)
  with pytest.raises(FileNotFoundError, match="--write_stats"):
    inference.load(moved, cache=False)


def test_video_writer_keeps_an_existing_file_when_a_run_fails(tmp_path):
  path = tmp_path / "clip.mp4"
  path.write_bytes(b"an earlier result")
  with pytest.raises(RuntimeError), media.VideoWriter(path, 16, 16) as w:
    w.write(np.zeros((5, 16, 16, 3), np.uint8))
    raise RuntimeError("interrupted")
  assert path.read_bytes() == b"an earlier result" and os.listdir(tmp_path) == ["clip.mp4"]
  with pytest.raises(ValueError, match="uint8"), media.VideoWriter(tmp_path / "b.mp4", 16, 16) as w:
    w.write(np.zeros((1, 8, 8, 3), np.uint8))
  assert os.listdir(tmp_path) == ["clip.mp4"]
  with media.VideoWriter(path, 16, 16, fps=10) as w:
    for i in range(3):
      w.write(np.full((4, 16, 16, 3), 60 * i, np.uint8))
  frames, fps = media.read_video(path)
  assert frames.shape == (12, 16, 16, 3) and fps == 10.0
  np.testing.assert_allclose(frames[::4].mean(axis=(1, 2, 3)), [0, 60, 120], atol=3)
