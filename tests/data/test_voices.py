"""Speech from other synthesizers, the speech corpus builder, augmentation, performed clips."""

from __future__ import annotations

import os
import shutil

import ml_collections
import numpy as np
import pytest

from configs import flow_common
from flowvq_jax.core.config import ConfigError
from flowvq_jax.data import augment, builders, performed, sources, voices
from flowvq_jax.data.builders import speech
from flowvq_jax.world import SyntheticWorld, mouth_from_audio

HAVE_ESPEAK = shutil.which("espeak-ng") is not None
needs_espeak = pytest.mark.skipif(
  not HAVE_ESPEAK, reason="espeak-ng is not installed (apt-get install espeak-ng; .ci/run does)"
)


def _world_wav(seconds=2.0, seed=1):
  return SyntheticWorld(0, 64).speech(3, "happy", 3, seconds, seed)[0]


# ------------------------------------------------------------------------------------------------
# Voices.


def test_splits_hold_out_voices_and_sentences():
  """Validation and test voices and sentences never occur in training; test holds out a whole
  synthesizer (festival)."""
  by = {s: voices.split_voices(s) for s in ("train", "validation", "test")}
  names = {s: {(v.synthesizer, v.voice) for v in vs} for s, vs in by.items()}
  assert not names["train"] & names["validation"]
  assert not names["train"] & names["test"]
  assert not names["validation"] & names["test"]
  assert "festival" not in {v.synthesizer for v in by["train"]}
  assert "festival" in {v.synthesizer for v in by["test"]}
  sents = {s: set(voices.split_sentences(s)) for s in by}
  assert not sents["train"] & (sents["validation"] | sents["test"])
  assert max(max(v) for v in sents.values()) < len(voices.SENTENCES)


def test_missing_program_names_it_and_its_package(monkeypatch):
  monkeypatch.setenv("PATH", "/nonexistent")
  with pytest.raises(voices.SynthesizerMissing, match=r"'flite'.*apt-get install flite"):
    voices.check_programs(["flite"])
  with pytest.raises(voices.SynthesizerMissing, match="text2wave.*festvox"):
    voices.synthesize(voices.Voice("festival", "kal_diphone"), "hello")
  with pytest.raises(ValueError, match="Unknown synthesizer 'sapi'"):
    voices.check_programs(["sapi"])


@needs_espeak
def test_espeak_voice_rate_and_mouth_law():
  """A faster rate gives shorter audio, and the mouth law opens the jaw on the speech."""
  text = voices.SENTENCES[0]
  slow = voices.synthesize(voices.Voice("espeak-ng", "en-us", 0.8, 0.5), text)
  fast = voices.synthesize(voices.Voice("espeak-ng", "en-us", 1.25, 0.5), text)
  assert slow.dtype == np.float32 and slow.ndim == 1
  assert fast.size < 0.85 * slow.size
  jaw = mouth_from_audio(slow, 16_000)[:, 0]
  assert jaw.max() > 0.5 and jaw.min() < 0.1  # speech and pauses


def test_corpus_builder_without_a_synthesizer_fails_before_writing(tmp_path, monkeypatch):
  monkeypatch.setenv("PATH", "/nonexistent")
  with pytest.raises(voices.SynthesizerMissing, match="espeak-ng"):
    builders.prepare("speech_corpus/tiny", tmp_path)
  assert not any(p.suffix == ".array_record" for p in tmp_path.rglob("*"))


@needs_espeak
def test_corpus_builder_round_trip(tmp_path):
  """The records are the planned voices and sentences, spoken (re-synthesis gives the same)."""
  b = builders.prepare("speech_corpus/tiny", tmp_path)
  src = builders.data_sources("speech_corpus/tiny", tmp_path)
  cfg = b.builder_config
  for k, split in enumerate(speech.SPLITS):
    plan = speech.utterance_plan(cfg, split)
    assert len(src[split]) == cfg.utterances[k] == len(plan)
    got = {(r["voice"].decode(), int(r["sentence"])) for r in src[split]}
    assert got == {(v.voice_id, s) for v, s in plan}
  rec = src["test"][0]
  voice = next(
    v for v, s in speech.utterance_plan(cfg, "test") if v.voice_id == rec["voice"].decode()
  )
  again = voices.synthesize(voice, rec["text"].decode())
  np.testing.assert_allclose(rec["audio"], again, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Augmentation.


def test_augmentations_keep_length_and_do_what_they_say():
  wav = _world_wav()
  rng = np.random.default_rng(0)
  for name, fn in augment.AUGMENTATIONS.items():
    out = fn(wav, np.random.default_rng(1))
    if name != "fast_1.25":
      assert out.shape == wav.shape, name
    assert out.dtype == np.float32 and np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
  noisy = augment.noise(wav, rng, 10.0, "white")
  resid = noisy - wav
  ratio = 20 * np.log10(augment._active_rms(wav) / np.sqrt(np.mean(resid**2)))
  assert abs(ratio - 10.0) < 0.5  # the SNR asked for
  quiet = augment.gain(wav, -20.0)
  np.testing.assert_allclose(quiet, wav * 0.1, rtol=1e-5)
  tel = augment.band(wav, 300.0, 3400.0)
  spec_in, spec_out = np.abs(np.fft.rfft(wav)), np.abs(np.fft.rfft(tel))
  f = np.fft.rfftfreq(wav.size, 1 / 16_000)
  assert spec_out[f > 5000].sum() < 0.01 * spec_in[f > 5000].sum()
  assert augment.speed(wav, 1.25).size == pytest.approx(wav.size / 1.25, abs=2)
  assert augment.stretch(wav, 0.8).size == pytest.approx(wav.size / 0.8, rel=0.01)
  mp3 = augment.codec(wav, "mp3", 32)
  assert mp3.shape == wav.shape and np.corrcoef(mp3, wav)[0, 1] > 0.9


def test_random_chain_is_seeded_and_follows_its_probabilities():
  wav = _world_wav(1.0)
  a, steps_a = augment.random_chain(wav, np.random.default_rng(3), augment.Augment())
  b, steps_b = augment.random_chain(wav, np.random.default_rng(3), augment.Augment())
  np.testing.assert_array_equal(a, b)
  assert steps_a == steps_b
  off = augment.Augment(p_speed=0, p_pitch=0, p_reverb=0, p_band=0, p_noise=0, p_gain=0)
  out, steps = augment.random_chain(wav, np.random.default_rng(0), off)
  assert steps == [] and np.array_equal(out, wav)
  with pytest.raises(ValueError, match="Unknown augmentation keys"):
    augment.Augment.from_config({"p_echo": 0.5})


# ------------------------------------------------------------------------------------------------
# Performed clips.


def _performed_cfg(corpus="", data_dir="/nonexistent"):
  return ml_collections.ConfigDict({
    "source": "performed",
    "data_dir": str(data_dir),
    "memory": {"world_seed": 0, "seconds": 1.2, "identities": (2, 1, 1), "clips_per_identity": 8,
               "utterances": (4, 2, 2)},
    "performed": {**flow_common.performed_block(corpus).to_dict(), "clips": 40, "eval_clips": 8,
                  "seconds": 1.2},
  })  # fmt: skip


def test_performed_clips_are_the_worlds_performance_of_their_audio():
  """Each clip is deterministic, its jaw follows the mouth law of its own (augmented) audio, and
  its labels are spread over emotions; some clips' prosody disagrees with their label."""
  cfg = _performed_cfg()
  src = sources.clip_source(cfg, "train", frames=False, audio=True)
  assert len(src) == 40
  c0 = src[5]
  np.testing.assert_array_equal(c0["exp"], src[5]["exp"])
  np.testing.assert_allclose(
    c0["exp"][:, 0], mouth_from_audio(c0["audio"], 16_000)[:, 0], atol=1e-6
  )
  assert c0["exp"].shape == (30, 64) and c0["mel"].shape == (120, 80)
  clips = [src[i] for i in range(40)]
  assert len({int(c["emotion"]) for c in clips}) >= 6
  kinds = {c["clip_id"].rsplit("_", 1)[-1] for c in clips}
  assert kinds == {"world", "mismatched"}
  stats = sources.train_stats(cfg)
  assert stats.exp_std.shape == (64,) and np.all(stats.exp_std > 0)


def test_performed_config_errors():
  cfg = _performed_cfg()
  cfg.performed.match_fraction = 1.5
  with pytest.raises(ConfigError, match="match_fraction"):
    performed.PerformedClips(cfg, "train")
  cfg = _performed_cfg(corpus="speech_corpus/tiny", data_dir="/nonexistent")
  with pytest.raises(
    ConfigError, match="data.performed.corpus: speech_corpus/tiny is not prepared"
  ):
    performed.PerformedClips(cfg, "train")


@needs_espeak
def test_performed_clips_hear_the_corpus(tmp_path):
  builders.prepare("speech_corpus/tiny", tmp_path)
  cfg = _performed_cfg("speech_corpus/tiny", tmp_path)
  cfg.performed.corpus_fraction = 1.0
  src = performed.PerformedClips(cfg, "validation")
  c = src[0]
  assert c["clip_id"].endswith("_corpus")
  np.testing.assert_allclose(c["exp"][:, 0], mouth_from_audio(c["audio"], 16_000)[:, 0], atol=1e-6)
  assert os.path.isdir(tmp_path / "speech_corpus")
