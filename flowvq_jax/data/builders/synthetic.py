"""TFDS builder `synthetic_talking_faces`: clips of the synthetic world, with ground truth.

Configs are named `<size>` or `<size>_<resolution>`:

  size   default px  clip length  identities (train/val/test)  clips per identity
  tiny   64          2 s          4 / 1 / 1                    8 (one per emotion)
  small  128         3 s          12 / 2 / 2                   16
  full   256         4 s          32 / 4 / 4                   24

e.g. `tiny` (64 px), `tiny_128`, `small` (128 px), `small_64`, `full` (256 px), `full_128`.

Splits hold out both identities and utterances: validation and test identities never
appear in train, and each split draws its sentences (`utterance`) from its own disjoint
pool. Emotions cycle through the 8 MEAD emotions; intensity cycles 1..3 (neutral: 1).
Every clip is reproducible from its `ClipSpec` (`clip_specs(config)`), so a record can
be compared with the world's clip.

Features of a clip of T frames: frames uint8 [T, H, W, 3], exp float32 [T, 64],
pose float32 [T, 6], landmarks float32 [T, 68, 2], audio float32 [T * 640] (16 kHz),
mel float32 [4T, 80], emotion (ClassLabel of `constants.EMOTIONS`), intensity,
identity, utterance (int32), clip_id (text). Normalisation statistics of exp and pose
over the train split are stored in the builder's metadata (`builders.load_stats`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import tensorflow_datasets as tfds

from flowvq_jax.data import clip_layout, world_clips
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data.builders import base as tfds_base
from flowvq_jax.world import SyntheticWorld

SPLITS = clip_layout.SPLITS
ClipSpec = clip_layout.ClipSpec
STATS_KEY = "coeff_stats"


@dataclasses.dataclass(eq=False)
class SyntheticConfig(tfds.core.BuilderConfig):
  """Size of a synthetic dataset. Counts are per split (train, validation, test)."""

  resolution: int = 64
  seconds: float = 2.0
  identities: tuple[int, int, int] = (4, 1, 1)
  clips_per_identity: int = 8
  utterances: tuple[int, int, int] = (8, 4, 4)
  world_seed: int = 0


_SIZES = clip_layout.SIZES
RESOLUTIONS = (64, 128, 256)


def _configs() -> list[SyntheticConfig]:
  out = []
  for size, kw in _SIZES.items():
    desc = (
      f"{size}: {sum(kw['identities'])} identities, {kw['clips_per_identity']} clips of "
      f"{kw['seconds']} s each"
    )
    out.append(SyntheticConfig(name=size, description=f"{desc}, {kw['resolution']} px.", **kw))
    for res in RESOLUTIONS:
      out.append(
        SyntheticConfig(
          name=f"{size}_{res}", description=f"{desc}, {res} px.", **{**kw, "resolution": res}
        )
      )
  return out


def clip_specs(config: SyntheticConfig) -> dict[str, list[ClipSpec]]:
  """The clips of every split, deterministic given the config (see `clip_layout.clip_specs`)."""
  return clip_layout.clip_specs(
    config.identities, config.clips_per_identity, config.utterances, config.world_seed
  )


def make_world(config: SyntheticConfig):
  return SyntheticWorld(seed=config.world_seed, resolution=config.resolution)


def sample(world, config: SyntheticConfig, spec: ClipSpec):
  """The world's clip for `spec`."""
  return world.sample_clip(
    world.identity(spec.identity),
    spec.emotion,
    spec.intensity,
    config.seconds,
    spec.seed,
    utterance=spec.utterance,
  )


def get_config(config: str | SyntheticConfig) -> SyntheticConfig:
  """A config by name (`tiny`, `small_64`, ...) or the config itself."""
  if isinstance(config, SyntheticConfig):
    return config
  by_name = {c.name: c for c in SyntheticTalkingFaces.BUILDER_CONFIGS}
  if config not in by_name:
    raise ValueError(f"Unknown synthetic config {config!r}; choose one of: {', '.join(by_name)}.")
  return by_name[config]


def examples(config: str | SyntheticConfig, split: str = "train") -> list[dict]:
  """The clips of one split as in-memory example dicts, without TFDS or disk.

  The same records the builder writes (same layout, same values), ready for
  `pipeline.make_dataset`. Meant for small configs, notebooks and tests.
  """
  cfg = get_config(config)
  if split not in SPLITS:
    raise ValueError(f"Unknown split {split!r}; choose one of: {', '.join(SPLITS)}.")
  world = make_world(cfg)
  specs = clip_specs(cfg)[split]
  return [world_clips.world_example(sample(world, cfg, s), s.clip_id) for s in specs]


class SyntheticTalkingFaces(tfds_base.Builder):
  """Talking-face clips rendered by `flowvq_jax.world`, with exact coefficients."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "First release."}
  BUILDER_CONFIGS = _configs()
  DEFAULT_CONFIG_NAME = "tiny"

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    return tfds.core.DatasetInfo(
      builder=self,
      description=__doc__,
      features=tfds_base.clip_features(cfg.resolution, landmarks=True, speaker=False),
      metadata=tfds.core.MetadataDict(),
    )

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split: str) -> Iterator[tuple[str, dict]]:
    cfg = self.builder_config
    world = make_world(cfg)
    acc = coeffs_lib.StatsAccumulator() if split == "train" else None
    for spec in clip_specs(cfg)[split]:
      example = world_clips.world_example(sample(world, cfg, spec), spec.clip_id)
      if acc is not None:
        acc.add(example["exp"], example["pose"])
      yield spec.clip_id, example
    if acc is not None:
      self.info.metadata[STATS_KEY] = acc.result().to_dict()
