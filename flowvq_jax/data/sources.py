"""The one clip source: the clips of a split, from a prepared TFDS dataset or made in memory.

Every stage reads its data through `clip_source(data_cfg, split)`, with `data_cfg` a config's
`data` block:

  source     'tfds': a prepared dataset `name` in `data_dir` (`python -m launch.prepare_data`);
             'memory': synthetic-world clips generated in this process (`memory`: the sizes of a
             `synthetic_talking_faces` config, laid out by `flowvq_jax.data.clip_layout`, so the
             clips equal the records of a builder config of the same sizes;
             `flowvq_jax.data.world_clips`).
             'performed': any speech (a speech corpus's voices or the world's) performed by the
             world with a random emotion when read, with a random recording chain
             (`flowvq_jax.data.performed`; coefficients only, no frames).
  memory     world_seed, seconds, identities, clips_per_identity, utterances, and optionally
             resolution (default 64) and workers (processes rendering clips; < 0: all cores).
  performed  the 'performed' source's block (`flowvq_jax.data.performed`); its identities and
             world sentences come from `memory`.

A clip is the example dict the `synthetic_talking_faces` builder writes
(`world_clips.world_example`):

  frames uint8 [T, H, W, 3]   exp float32 [T, 64]   pose float32 [T, 6]
  landmarks float32 [T, 68, 2]   audio float32 [T * 640]   mel float32 [4T, 80]
  emotion, intensity, identity, utterance (int), clip_id (str)

`frames=False` leaves the frames and landmarks out (empty frames `[T, 0, 0, 3]` in memory,
undecoded from TFDS: a fraction of the time and memory, for the flows and for statistics);
`audio=False` leaves the waveform out and `mel=False` the log-mel (`mel` defaults to `audio`).
In-memory clips have both or neither (the mel is computed from the waveform).
"""

from __future__ import annotations

import os

from flowvq_jax.core.config import ConfigError
from flowvq_jax.data import clip_layout, performed, world_clips
from flowvq_jax.data import coeffs as coeffs_lib

SOURCES = ("memory", "tfds", "performed")
STATS_CLIPS = 512  # performed clips the statistics are computed over (the first of train).


def _builder(data_cfg):
  from flowvq_jax.data import builders  # noqa: PLC0415  (TFDS: imported only for 'tfds' sources)

  data_dir = os.path.expanduser(str(data_cfg.data_dir))
  builder = builders.get_builder(str(data_cfg.name), data_dir)
  if not builder.is_prepared():
    raise ConfigError(
      f"{data_cfg.name} is not prepared in {data_dir}; run `python -m launch.prepare_data "
      f"--dataset {data_cfg.name} --data_dir {data_dir}` (or use data.source='memory')."
    )
  return builder


def tfds_clips(data_cfg, split: str, *, frames: bool = True, audio: bool = True, mel=None):
  """A random-access split of a prepared TFDS dataset; what is left out is not decoded."""
  import tensorflow_datasets as tfds  # noqa: PLC0415  (TFDS: imported only for 'tfds' sources)

  builder = _builder(data_cfg)
  skip = () if frames else ("frames", "landmarks")
  skip += () if audio else ("audio",)
  skip += () if (audio if mel is None else mel) else ("mel",)
  decoders = {k: tfds.decode.SkipDecoding() for k in skip if k in builder.info.features}
  sources = builder.as_data_source(decoders=decoders or None)
  split = clip_layout.split_name(split)
  if split not in sources:
    raise ConfigError(f"{data_cfg.name} has no split {split!r} (has {sorted(sources)}).")
  return sources[split]


def clip_source(
  data_cfg, split: str, *, frames: bool = True, audio: bool = True, mel: bool | None = None
):
  """The clips of `split` of a config's `data` block (module docstring)."""
  if data_cfg.source == "memory":
    with_audio = audio or bool(mel)
    return world_clips.memory_clips(data_cfg.memory, split, frames=frames, audio=with_audio)
  if data_cfg.source == "tfds":
    return tfds_clips(data_cfg, split, frames=frames, audio=audio, mel=mel)
  if data_cfg.source == "performed":
    return performed.PerformedClips(data_cfg, split, audio=audio or bool(mel))
  raise ConfigError(f"data.source={data_cfg.source!r}; choose one of {SOURCES}.")


def train_stats(data_cfg, **clip_flags) -> coeffs_lib.CoeffStats:
  """Normalisation statistics of exp and pose over the train split of `data_cfg`: the builder's
  for TFDS, else computed over the in-memory clips or the first `STATS_CLIPS` performed ones (read
  with `clip_flags` of `clip_source`, so a caller that reads those clips anyway shares them;
  without frames by default)."""
  if data_cfg.source == "tfds":
    from flowvq_jax.data import builders  # noqa: PLC0415  (TFDS: imported only for 'tfds')

    return builders.load_stats(_builder(data_cfg))
  flags = {"frames": False, "audio": False, **clip_flags}
  train = clip_source(data_cfg, "train", **flags)
  if data_cfg.source == "performed":
    clips = train
    train = (clips[i] for i in range(min(len(clips), STATS_CLIPS)))
  return coeffs_lib.compute_stats((c["exp"], c["pose"]) for c in train)
