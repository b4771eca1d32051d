"""Which clips a synthetic dataset holds: identities, emotions, utterances and seeds per split.

Kept free of TFDS so that in-memory sources (tests, notebooks, accelerator machines without
TFDS) lay out exactly the clips that the `synthetic_talking_faces` builder writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from flowvq_jax.core import constants
from flowvq_jax.core.config import ConfigError

SPLITS = ("train", "validation", "test")

# The sizes of `synthetic_talking_faces/<size>` (each also built at other resolutions).
SIZES = {
  "tiny": dict(resolution=64, seconds=2.0, identities=(4, 1, 1), clips_per_identity=8,
               utterances=(8, 4, 4)),
  "small": dict(resolution=128, seconds=3.0, identities=(12, 2, 2), clips_per_identity=16,
                utterances=(40, 8, 8)),
  "full": dict(resolution=256, seconds=4.0, identities=(32, 4, 4), clips_per_identity=24,
               utterances=(200, 20, 20)),
}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ClipSpec:
  """Everything that determines one synthetic clip."""

  split: str
  identity: int
  emotion: int
  intensity: int
  utterance: int
  seed: int
  clip_id: str


def split_identities(identities: Sequence[int]) -> dict[str, range]:
  """The world identity indices of each split: consecutive blocks of `identities` (train,
  validation, test), e.g. `(12, 2, 2)` -> train 0..11, validation 12..13, test 14..15."""
  ends = np.cumsum([int(n) for n in identities])
  starts = (0, *ends[:-1])
  return {split: range(int(a), int(b)) for split, a, b in zip(SPLITS, starts, ends)}


def clip_specs(
  identities: Sequence[int],
  clips_per_identity: int,
  utterances: Sequence[int],
  world_seed: int,
) -> dict[str, list[ClipSpec]]:
  """The clips of every split, deterministic given the counts.

  Args:
    identities: identities per split (train, validation, test); splits get disjoint,
      consecutive identity indices, so validation and test faces are never trained on.
    clips_per_identity: clips of each identity; emotions cycle through the eight, intensities
      through 1..3 (neutral is always 1).
    utterances: utterance pool size per split; the pools are disjoint (held-out sentences).
    world_seed: the world's seed, also mixed into each clip's seed.

  Returns:
    {split: [ClipSpec, ...]} for the three splits.
  """
  n_ids, n_utt = tuple(int(n) for n in identities), tuple(int(n) for n in utterances)
  if len(n_ids) != 3 or len(n_utt) != 3 or min(n_ids) < 1 or min(n_utt) < 1:
    raise ValueError(
      "identities and utterances need 3 positive counts (train, validation, test); "
      f"got {n_ids} and {n_utt}."
    )
  id_ranges = split_identities(n_ids)
  utt_offsets = np.cumsum((0,) + n_utt)
  specs = {}
  for s, split in enumerate(SPLITS):
    specs[split] = []
    for identity in id_ranges[split]:
      for k in range(int(clips_per_identity)):
        emotion = (k + identity) % constants.NUM_EMOTIONS
        intensity = 1 if emotion == constants.NEUTRAL else 1 + (k // constants.NUM_EMOTIONS) % 3
        utterance = int(utt_offsets[s] + (k * 7 + identity * 3) % n_utt[s])
        seed = int(np.random.SeedSequence([world_seed, s, identity, k]).generate_state(1)[0])
        clip_id = f"{split}/id{identity:04d}/{k:03d}_{constants.EMOTIONS[emotion]}_u{utterance:04d}"
        specs[split].append(
          ClipSpec(split, int(identity), emotion, intensity, utterance, seed, clip_id)
        )
  return specs


_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "eval": "validation"}


def split_name(split: str) -> str:
  """Canonical split name ('val' -> 'validation'); ConfigError naming the splits otherwise."""
  name = _SPLIT_ALIASES.get(split, split)
  if name not in SPLITS:
    raise ConfigError(f"Unknown split {split!r}; choose one of: {', '.join(SPLITS)} (or 'val').")
  return name
