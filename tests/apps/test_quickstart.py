"""Quickstart: the tiny preset on a copy of the shared tiny checkpoints (training is skipped)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from flowvq_jax import stages
from flowvq_jax.apps import page, quickstart
from flowvq_jax.core import constants
from launch import quickstart as cli

NAMES = list(constants.EMOTIONS) + ["diversity"]


@pytest.fixture(scope="module")
def done(tiny_checkpoints, tmp_path_factory):
  """A workdir on which `python -m launch.quickstart --preset tiny` ran once."""
  workdir = str(tmp_path_factory.mktemp("quickstart"))
  shutil.copytree(tiny_checkpoints, os.path.join(workdir, "checkpoints"))
  out = quickstart.run(workdir, "tiny", log=lambda _: None)
  return workdir, out


def test_preset_tiny_matches_the_shared_checkpoints(done):
  _, out = done
  assert out["did_work"]
  assert out["stages"] == {s: "already trained" for s in stages.STAGES}


def test_writes_videos_page_and_numbers(done):
  from flowvq_jax.data import media

  workdir, out = done
  videos = os.path.join(workdir, "videos")
  for name in NAMES:
    assert os.path.getsize(os.path.join(videos, name + ".mp4")) > 0
    with np.load(os.path.join(videos, name + ".npz")) as z:
      n = quickstart.PRESET_SETTINGS["tiny"].num_diversity if name == "diversity" else 1
      assert z["exp"].shape[0] == n and z["exp"].shape[2] == constants.EXP_DIM
      assert z["pose"].shape[:2] == z["exp"].shape[:2]
  # The diversity video shows its samples side by side.
  one = media.video_info(os.path.join(videos, "happy.mp4"))
  three = media.video_info(os.path.join(videos, "diversity.mp4"))
  assert (three["width"], three["height"]) == (3 * one["width"], one["height"])
  with open(os.path.join(workdir, "index.html")) as f:
    page = f.read()
  for name in NAMES:
    assert f'src="videos/{name}.mp4"' in page
  assert "lip_sync_r" in page and "emotion_accuracy" in page
  with open(os.path.join(workdir, "quickstart.json")) as f:
    nums = json.load(f)
  assert nums == json.loads(json.dumps(out["numbers"]))
  assert set(nums["videos"]) == set(NAMES)
  s = nums["summary"]
  # The summary aggregates the per-video numbers: accuracy over the emotion videos' samples,
  # lip sync as their mean.
  emo = [nums["videos"][e]["samples"][0] for e in constants.EMOTIONS if e in nums["videos"]]
  hits = [x["predicted_emotion"] == e for e, x in zip(constants.EMOTIONS, emo)]
  assert s["emotion_accuracy"] == pytest.approx(np.mean(hits))
  np.testing.assert_allclose(s["lip_sync_r"], np.mean([x["lip_sync_r"] for x in emo]))
  assert s["pose_std"] > 0.0  # three seeds give three different head motions
  assert os.path.exists(os.path.join(workdir, "videos", "strip.png"))


def test_rerun_does_no_work(done, capsys):
  workdir, _ = done
  files = [os.path.join(workdir, "videos", n + ".mp4") for n in NAMES]
  files += [os.path.join(workdir, f) for f in ("index.html", "quickstart.json")]
  before = {f: os.stat(f).st_mtime_ns for f in files}
  assert cli.main(["--workdir", workdir, "--preset", "tiny"]) == 0
  out = capsys.readouterr().out
  assert "nothing left to do" in out and "quickstart: lip_sync_r" in out
  assert {f: os.stat(f).st_mtime_ns for f in files} == before


def test_synthetic_preset_reads_datasets_built_in_the_workdir(tmp_path):
  specs = quickstart.stage_specs(str(tmp_path), "synthetic")
  assert [s.stage for s in specs] == list(stages.STAGES)
  for spec in specs:
    data = spec.config().data
    if spec.stage == "expflow":  # synthetic_wide: 48 identities generated in memory
      assert data.source == "memory" and tuple(data.memory.identities) == (48, 2, 2)
    else:
      assert data.source == "tfds" and data.data_dir == os.path.join(str(tmp_path), "data")
    assert spec.workdir == os.path.join(str(tmp_path), "checkpoints", spec.stage)
  assert specs[0].config().model.emotion_in_context


def test_fast_preset_hears_the_speech_corpus_or_says_what_is_missing(tmp_path, monkeypatch):
  """The `fast` flows read the speech corpus from the workdir; without its synthesizers they
  train on the world's speech only, and the note names what to install."""
  notes = []
  if shutil.which("espeak-ng") and shutil.which("flite") and shutil.which("text2wave"):
    specs = quickstart.stage_specs(str(tmp_path), "fast", notes.append)
    for spec in specs[:2]:
      data = spec.config().data
      assert data.source == "performed" and data.performed.corpus == "speech_corpus/small"
      assert data.data_dir == os.path.join(str(tmp_path), "data")
    assert notes == []
  monkeypatch.setenv("PATH", "/nonexistent")
  specs = quickstart.stage_specs(str(tmp_path), "fast", notes.append)
  for spec in specs[:2]:
    data = spec.config().data
    assert data.source == "performed" and data.performed.corpus == ""
  assert len(notes) == 2 and "apt-get install" in notes[0] and "world's speech only" in notes[0]
  assert quickstart.prepare_data(specs) == []  # nothing to build


def test_prepare_data_builds_each_dataset_once(tmp_path):
  from flowvq_jax.data import builders

  data = {"data.source": "tfds", "data.name": "synthetic_talking_faces/tiny",
          "data.data_dir": str(tmp_path / "data")}  # fmt: skip
  specs = [stages.StageSpec(s, "tiny", str(tmp_path / s), data) for s in ("expflow", "poseflow")]
  logs = []
  assert quickstart.prepare_data(specs, log=logs.append) == ["synthetic_talking_faces/tiny"]
  assert len(logs) == 1
  builder = builders.get_builder("synthetic_talking_faces/tiny", str(tmp_path / "data"))
  assert builder.is_prepared()
  stamp = os.stat(builder.data_dir).st_mtime_ns
  quickstart.prepare_data(specs, log=logs.append)  # reused, not rebuilt
  assert os.stat(builder.data_dir).st_mtime_ns == stamp


def test_bad_workdir_is_an_error(tmp_path, capsys):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  assert cli.main(["--workdir", str(blocker / "sub"), "--preset", "tiny"]) == 2
  err = capsys.readouterr().err
  assert err.startswith("error: ") and "not writable" in err
  assert cli.main(["--workdir", str(blocker), "--preset", "tiny"]) == 2
  assert "not a directory" in capsys.readouterr().err
  with pytest.raises(ValueError, match="Unknown preset"):
    quickstart.run(str(tmp_path / "w"), "huge")


def test_numbers_of_the_worlds_own_performance():
  """Fed the world's ground-truth performance of the audio, the lip-sync number is ~1 at lag 0;
  a late jaw is found at its lag."""
  from flowvq_jax.world import SyntheticWorld

  settings = quickstart.Settings(seconds=3.0, classifier_identities=1, classifier_steps=50)
  inputs = quickstart.heldout_inputs(32, settings.seconds)
  world = SyntheticWorld(seed=quickstart.WORLD_SEED, resolution=32)
  clip = world.perform(quickstart.HELDOUT_IDENTITY, inputs["audio"], 16_000, "happy", 3, seed=1)
  exp = np.asarray(clip.exp)[None]
  late = np.roll(exp, 3, axis=1)
  videos = {
    "happy": dict(video="happy.mp4", exp=exp, pose=np.asarray(clip.pose)[None], emotion="happy",
                  seed=0),
    "sad": dict(video="sad.mp4", exp=late, pose=np.asarray(clip.pose)[None], emotion="sad",
                seed=0),
  }  # fmt: skip
  nums = quickstart.numbers(videos, inputs, settings)
  happy, sad = nums["videos"]["happy"]["samples"][0], nums["videos"]["sad"]["samples"][0]
  assert happy["lip_sync_r"] > 0.99 and happy["lip_sync_lag"] == 0
  assert sad["lip_sync_lag"] == 3
  # The world's own happy performance of the held-out audio reads as happy.
  assert nums["videos"]["happy"]["world_predicted_emotion"] == "happy"


def test_pca_and_helpers():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(500, 5)) * np.array([5.0, 2.0, 0.1, 0.1, 0.1])
  xy = page.pca_2d(x @ np.linalg.qr(rng.normal(size=(5, 5)))[0])
  np.testing.assert_allclose(xy.std(0), [5.0, 2.0], rtol=0.1)
  frames = rng.integers(0, 255, (10, 4, 4, 3), dtype=np.uint8)
  big = quickstart.upscale(frames, 10)  # factor 3
  assert big.shape == (10, 12, 12, 3) and np.array_equal(big[:, ::3, ::3], frames)
  strip = quickstart.frame_strip(frames, 5)
  assert strip.shape == (4, 20, 3) and np.array_equal(strip[:, -4:], frames[-1])
