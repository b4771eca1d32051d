"""`python -m launch.generate`: outputs, the time split, and one error line per bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from flowvq_jax import stages
from flowvq_jax.core import constants
from flowvq_jax.data import media
from flowvq_jax.world import SyntheticWorld
from launch import export as export_cli
from launch import generate as cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECONDS = 1.0


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("generate_cli")
  world = SyntheticWorld(seed=0, resolution=64)
  wav, _ = world.speech(1, "neutral", 1, SECONDS, seed=2)
  media.write_audio(root / "talk.mp3", wav)
  media.write_audio(root / "silence.wav", np.zeros(16_000, np.float32))
  (root / "broken.wav").write_bytes(b"RIFF....not really a wav file")
  Image.fromarray(world.render(3, np.zeros(64), np.zeros(6))).save(root / "face.png")
  Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(root / "blank.png")
  return root


def _argv(ckpts, files, out, *extra, audio="talk.mp3", image="face.png"):
  return ["--checkpoints", str(ckpts), "--audio", str(files / audio), "--image",
          str(files / image), "--out", str(out), "--crop", "none", "--quiet", *extra]  # fmt: skip


def test_generate_cli_writes_videos_coefficients_and_time_split(
  tiny_checkpoints, files, tmp_path, capsys
):
  out = tmp_path / "out"
  argv = _argv(tiny_checkpoints, files, out, "--num_samples", "2", "--emotion",
               "neutral:0-0.5,happy:0.5-", "--pose", "still", "--blink", "off", "--seed", "3",
               "--chunk_frames", "10")  # fmt: skip
  assert cli.main(argv) == 0
  stdout = capsys.readouterr().out
  assert "coefficients" in stdout and "rendering" in stdout and "encoding" in stdout
  t = round(SECONDS * constants.FPS)
  names = sorted(os.listdir(out))
  assert names == sorted(["talk_0.mp4", "talk_1.mp4", "talk_side_by_side.mp4", "talk_0_exp.npy",
                          "talk_1_exp.npy", "talk_0_pose.npy", "talk_1_pose.npy"])  # fmt: skip
  frames, fps = media.read_video(out / "talk_1.mp4")
  assert frames.shape[0] == t and fps == 25.0
  assert abs(media.load_audio(out / "talk_1.mp4").shape[0] / 16_000 - SECONDS) < 0.05
  assert np.load(out / "talk_0_exp.npy").shape == (t, 64)
  pose = np.load(out / "talk_0_pose.npy")
  np.testing.assert_allclose(pose, np.broadcast_to(pose[0], pose.shape))  # --pose still.
  side = media.video_info(out / "talk_side_by_side.mp4")
  assert side["width"] == 2 * frames.shape[2]

  # The saved pose file can be followed, and existing outputs need --overwrite.
  again = _argv(tiny_checkpoints, files, out, "--pose", str(out / "talk_0_pose.npy"))
  before = os.path.getmtime(out / "talk_0.mp4")
  assert cli.main(again) == 2
  assert "already exists" in capsys.readouterr().err
  assert os.path.getmtime(out / "talk_0.mp4") == before
  assert cli.main([*again, "--overwrite"]) == 0
  np.testing.assert_allclose(np.load(out / "talk_0_pose.npy"), pose, atol=1e-6)


def test_generate_cli_bad_inputs_give_one_error_line(tiny_checkpoints, files, tmp_path, capsys):
  out = tmp_path / "out"
  (tmp_path / "a_file").write_text("x")
  cases = [
    (_argv(tiny_checkpoints, files, out, "--emotion", "elated"), "Unknown emotion 'elated'"),
    (_argv(tiny_checkpoints, files, out, "--emotion", "happy:0-1;sad:1-2"), "Malformed emotion"),
    (_argv(tmp_path / "no_ckpts", files, out), "no_ckpts does not exist"),
    (_argv(tiny_checkpoints, files, tmp_path / "a_file" / "out"), "is not writable"),
    (_argv(tiny_checkpoints, files, out, audio="silence.wav"), "is silent"),
    (_argv(tiny_checkpoints, files, out, audio="broken.wav"), "broken.wav"),
    (_argv(tiny_checkpoints, files, out, audio="missing.wav"), "Audio file not found"),
    (_argv(tiny_checkpoints, files, out, image="blank.png")[:-3] + ["--quiet"], "--crop none"),
    (_argv(tiny_checkpoints, files, out, "--intensity", "7"), "intensity must be"),
    (_argv(tiny_checkpoints, files, out, "--pose", "wobbly"), "pose must be"),
    (_argv(tiny_checkpoints, files, out, "--emotion_ref", "world:x:happy"), "IDENTITY and SEED"),
    (_argv(tiny_checkpoints, files, out, "--blink", "sometimes"), "expected on or off"),
    (["--audio", "x.wav"], "the following arguments are required"),
  ]
  for argv, message in cases:
    assert cli.main(argv) == 2, message
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, (message, err)
  # No output was written by any failed run.
  assert not out.exists() or os.listdir(out) == []


def test_generate_cli_exit_code_in_a_subprocess(tmp_path):
  proc = subprocess.run(
    [sys.executable, "-m", "launch.generate", "--checkpoints", str(tmp_path), "--audio", "a.wav",
     "--image", "i.png", "--out", str(tmp_path / "o"), "--emotion", "neutral:0-2,happy"],
    cwd=REPO, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  assert proc.returncode == 2
  assert proc.stderr.strip().splitlines() == [
    "error: Malformed emotion schedule segment 'happy' in 'neutral:0-2,happy': expected "
    "EMOTION:START-END in seconds, e.g. 'neutral:0-2,happy:2-6'."
  ]


def test_generate_from_params_exports_equals_checkpoints(tiny_checkpoints, files, tmp_path):
  """Every stage replaced by its `launch.export` (no optimizer state, no critic): the same
  seed gives the same coefficients and frames."""
  exported = tmp_path / "exported"
  for stage in stages.STAGES:
    argv = ["--workdir", os.path.join(tiny_checkpoints, stage), "--out", str(exported / stage)]
    if stage == "vq_codebook":
      argv += ["--exclude", "params/disc"]
    assert export_cli.main(argv) == 0
  runs = []
  for name, ckpts in (("run", tiny_checkpoints), ("export", exported)):
    out = tmp_path / name
    argv = _argv(ckpts, files, out, "--seed", "3", "--pose", "still", "--blink", "off")
    assert cli.main(argv) == 0
    runs.append(out)
  for f in ("talk_0_exp.npy", "talk_0_pose.npy"):
    np.testing.assert_array_equal(np.load(runs[0] / f), np.load(runs[1] / f))
  a, b = (media.read_video(r / "talk_0.mp4")[0] for r in runs)
  np.testing.assert_array_equal(a, b)
