"""TFDS builder `speech_corpus`: English sentences spoken by offline synthesizers' voices.

  python -m launch.prepare_data --dataset speech_corpus/small --data_dir ~/flowvq_data

Audio only: the flows learn from it through `SyntheticWorld.perform` (which performs any
waveform with any emotion; `flowvq_jax.data.performed`), and the voice evaluation
(`launch.evaluate --stage fcg_voices`) hears its held-out splits. Voices and sentences of the
splits are disjoint (`flowvq_jax.data.voices.split_voices` / `split_sentences`): validation and
test are voices, accents and rates never heard in training, and test holds out a whole
synthesizer (festival).

Configs:

  tiny    espeak-ng only: 6 / 2 / 2 utterances (tests; needs `apt-get install espeak-ng`)
  small   espeak-ng, flite and festival: 480 / 48 / 96 utterances (each split's sentences x
          voice settings drawn without replacement); 30 s to build on 2 cores, 79 MiB

A missing synthesizer program stops the build before anything is written, with a one-line error
naming the program and its Debian package. Features of an utterance: audio float32 [n] (16 kHz,
mono), synthesizer, voice (`Voice.voice_id`), text (str), sentence (int32).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from concurrent import futures

import numpy as np
import tensorflow_datasets as tfds

from flowvq_jax.data import voices
from flowvq_jax.data.builders import base as tfds_base

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(eq=False)
class SpeechConfig(tfds.core.BuilderConfig):
  """Utterances per split (train, validation, test) and the synthesizers used."""

  utterances: tuple[int, int, int] = (6, 2, 2)
  synthesizers: tuple[str, ...] = ("espeak-ng",)
  seed: int = 0


CONFIGS = (
  SpeechConfig(name="tiny", description="espeak-ng only, 6 / 2 / 2 utterances (tests)."),
  SpeechConfig(
    name="small",
    description="espeak-ng, flite and festival voices, 480 / 48 / 96 utterances.",
    utterances=(480, 48, 96),
    synthesizers=tuple(voices.SYNTHESIZERS),
  ),
)


def utterance_plan(config: SpeechConfig, split: str) -> list[tuple[voices.Voice, int]]:
  """(voice, sentence index) of every utterance of `split`: pairs drawn without replacement
  from the split's voices x sentences (seeded), balanced across synthesizers."""
  k = SPLITS.index(split)
  vs = voices.split_voices(split, config.synthesizers)
  sentences = voices.split_sentences(split)
  rng = np.random.default_rng([config.seed, k])
  by_synth: dict[str, list] = {}
  for v in vs:
    by_synth.setdefault(v.synthesizer, []).append(v)
  n = int(config.utterances[k])
  out = []
  names = sorted(by_synth)
  for j, name in enumerate(names):
    count = n // len(names) + (1 if j < n % len(names) else 0)
    pairs = [(v, s) for v in by_synth[name] for s in sentences]
    for i in rng.permutation(len(pairs))[:count]:
      out.append(pairs[int(i)])
  return out


class SpeechCorpus(tfds_base.Builder):
  """Speech of offline synthesizers (module docstring)."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = list(CONFIGS)
  DEFAULT_CONFIG_NAME = "tiny"

  def _info(self) -> tfds.core.DatasetInfo:
    f = tfds.features
    return tfds.core.DatasetInfo(
      builder=self,
      description=__doc__,
      features=f.FeaturesDict({
        "audio": f.Tensor(shape=(None,), dtype=np.float32, encoding=f.Encoding.BYTES),
        "synthesizer": f.Text(),
        "voice": f.Text(),
        "text": f.Text(),
        "sentence": f.Scalar(dtype=np.int32),
      }),
    )  # fmt: skip

  def _split_generators(self, dl_manager):
    del dl_manager
    voices.check_programs(self.builder_config.synthesizers)
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str) -> Iterator[tuple[str, dict]]:
    plan = utterance_plan(self.builder_config, split)

    def one(item):
      voice, s = item
      return voice, s, voices.synthesize(voice, voices.SENTENCES[s])

    # The synthesizers are separate processes: threads keep both cores busy.
    with futures.ThreadPoolExecutor(max_workers=4) as pool:
      for i, (voice, s, wav) in enumerate(pool.map(one, plan)):
        key = f"{split}/{i:05d}"
        yield (
          key,
          {
            "audio": wav,
            "synthesizer": voice.synthesizer,
            "voice": voice.voice_id,
            "text": voices.SENTENCES[s],
            "sentence": s,
          },
        )
