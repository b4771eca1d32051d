"""Entry points for the datasets: name -> TFDS builder, build, read back, statistics.

Datasets are named `<dataset>[/<config>]`:

  synthetic_talking_faces/tiny     (configs: tiny, small, full, and <size>_<64|128|256>)
  speech_corpus/small              (audio only: synthesizer voices; configs tiny, small)
  mead/res256, mead/res64_full     (real data; configs res<px>[_full|_crop<x>_<y>_<w>_<h>])
  hdtf/res256

Everything is stored as array_record files and read with `as_data_source()`, so
TensorFlow is never imported.
"""

from __future__ import annotations

import os
import re

import tensorflow_datasets as tfds

from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.data import faces
from flowvq_jax.data.builders import real, speech, synthetic

DATASETS: dict[str, type[tfds.core.GeneratorBasedBuilder]] = {
  "synthetic_talking_faces": synthetic.SyntheticTalkingFaces,
  "speech_corpus": speech.SpeechCorpus,
  "mead": real.Mead,
  "hdtf": real.Hdtf,
}
STATS_FILE = "coeff_stats.json"
_REAL_CONFIG = re.compile(r"^res(\d+)(?:_(full|crop(m?\d+)_(m?\d+)_(\d+)_(\d+)))?$")


def _real_config(config: str | None, crop: str | None) -> real.RealConfig:
  config = config or "res256"
  m = _REAL_CONFIG.match(config)
  if not m:
    raise ValueError(
      f"Unknown config {config!r} for a real dataset; use res<px> (e.g. res256), "
      "res<px>_full, or res<px>_crop<x>_<y>_<w>_<h>."
    )
  resolution = int(m.group(1))
  if crop is None:
    if m.group(2) == "full":
      crop = "full"
    elif m.group(2):
      crop = ",".join(g.replace("m", "-") for g in m.groups()[2:])
    else:
      crop = "haar"
  return real.make_config(resolution=resolution, crop=crop)


def get_builder(
  name: str, data_dir: str | os.PathLike, crop: str | None = None
) -> tfds.core.DatasetBuilder:
  """The TFDS builder for `<dataset>[/<config>]` rooted at `data_dir`.

  Args:
    name: e.g. "synthetic_talking_faces/tiny", "mead/res128".
    data_dir: where the prepared data lives (or will).
    crop: real datasets only: "haar", "full" or "x,y,w,h" overriding the config's crop.
  """
  dataset, _, config = name.partition("/")
  if dataset not in DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}.")
  cls = DATASETS[dataset]
  data_dir = os.fspath(data_dir)
  if dataset in ("synthetic_talking_faces", "speech_corpus"):
    if crop is not None:
      raise ValueError(f"crop applies to real datasets (mead, hdtf), not to {dataset}.")
    names = [c.name for c in cls.BUILDER_CONFIGS]
    config = config or cls.DEFAULT_CONFIG_NAME
    if config not in names:
      raise ValueError(
        f"Unknown config {config!r} of {dataset}; choose one of: {', '.join(names)}."
      )
    return cls(config=config, data_dir=data_dir, file_format="array_record")
  cfg = _real_config(config, crop)
  if cfg.crop == "haar" and cfg.name in [c.name for c in cls.BUILDER_CONFIGS]:
    cfg = cfg.name  # A predefined config: TFDS wants it by name.
  return cls(config=cfg, data_dir=data_dir, file_format="array_record")


def prepare(
  name: str,
  data_dir: str | os.PathLike,
  manual_dir: str | os.PathLike | None = None,
  crop: str | None = None,
) -> tfds.core.DatasetBuilder:
  """Builds `name` (once; a prepared dataset is reused) and returns its builder.

  The manual directory of a real dataset is checked before anything is built, so a
  missing or malformed directory fails fast with a ValueError naming the problem (a
  prepared dataset needs no manual directory).
  Also writes the normalisation statistics to `<builder.data_dir>/coeff_stats.json`.
  """
  builder = get_builder(name, data_dir, crop=crop)
  if isinstance(builder, (real.Mead, real.Hdtf)) and not builder.is_prepared():
    (real.scan_mead if isinstance(builder, real.Mead) else real.scan_hdtf)(manual_dir)
    if builder.builder_config.crop == "haar":
      faces.check_haar()
  config = tfds.download.DownloadConfig(
    manual_dir=os.fspath(manual_dir) if manual_dir is not None else None
  )
  builder.download_and_prepare(download_config=config, file_format="array_record")
  if isinstance(builder, speech.SpeechCorpus):
    return builder  # audio only: no coefficient statistics.
  stats_path = os.path.join(builder.data_dir, STATS_FILE)
  if not os.path.exists(stats_path):
    load_stats(builder).save_json(stats_path)
  return builder


def load_stats(builder: tfds.core.DatasetBuilder) -> coeffs_lib.CoeffStats:
  """Normalisation statistics of exp and pose over the train split of a prepared dataset."""
  meta = builder.info.metadata or {}
  if synthetic.STATS_KEY in meta:
    return coeffs_lib.CoeffStats.from_dict(meta[synthetic.STATS_KEY])
  path = os.path.join(builder.data_dir, STATS_FILE)
  if os.path.exists(path):
    return coeffs_lib.CoeffStats.load_json(path)
  raise ValueError(f"No normalisation statistics stored with {builder.data_dir}; rebuild it.")


def sources(builder: tfds.core.DatasetBuilder, with_frames: bool = True) -> dict:
  """`{split: random-access source}` of a prepared builder.

  With `with_frames=False` the video frames (and audio, landmarks) are left undecoded, which
  makes reading a clip several times faster for coefficient-only training (the flows).
  """
  decoders = None
  if not with_frames:
    skip = ("frames", "audio", "landmarks")
    decoders = {k: tfds.decode.SkipDecoding() for k in skip if k in builder.info.features}
  return builder.as_data_source(decoders=decoders)


def data_sources(
  name: str, data_dir: str | os.PathLike, crop: str | None = None, with_frames: bool = True
) -> dict:
  """`{split: random-access source}` of a prepared dataset, for `pipeline.make_dataset`."""
  builder = get_builder(name, data_dir, crop=crop)
  if not builder.is_prepared():
    raise ValueError(
      f"{name} is not prepared in {os.fspath(data_dir)}; run "
      f"`python -m launch.prepare_data --dataset {name} --data_dir {os.fspath(data_dir)}`."
    )
  return sources(builder, with_frames=with_frames)


def _dir_bytes(path: str) -> int:
  total = 0
  for dirpath, _, files in os.walk(path):
    total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
  return total


def describe(builder: tfds.core.DatasetBuilder) -> str:
  """A few lines on a prepared dataset: where it is, clips and frames per split, size."""
  lines = [f"{builder.name}/{builder.builder_config.name} at {builder.data_dir}"]
  for name, split in sorted(builder.info.splits.items()):
    lines.append(f"  {name:<10} {split.num_examples:>6} clips")
  lines.append(f"  size on disk: {_dir_bytes(os.fspath(builder.data_dir)) / 2**20:.1f} MiB")
  return "\n".join(lines)
