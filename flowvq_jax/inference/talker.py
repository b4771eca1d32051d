"""Loading a checkpoints directory (the `flowvq_jax.stages` layout) into a `Talker`.

`load(DIR)` reads each stage's latest checkpoint and the normalisation statistics its training
wrote (`DIR/<stage>/coeff_stats.json`) through `flowvq_jax.stages`; it never opens a training
dataset, so a checkpoints directory copied alone to another machine generates.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import ml_collections

from flowvq_jax import checkpoints as ckpt_lib
from flowvq_jax import stages
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.models.flow.sampler import FlowSampler
from flowvq_jax.models.vq.renderer import BatchRenderer
from flowvq_jax.stages import flow as flow_stage
from flowvq_jax.stages import vq_query as query_stage


@dataclasses.dataclass(eq=False)
class Talker:
  """Every trained stage of a checkpoints directory, ready to generate.

  Attributes:
    exp_model, exp_params, exp_stats: ExpFlow (`CoefficientFlow`), its params and the
      `CoeffStats` of its training data (it samples coefficients normalised with them).
    pose_model, pose_params, pose_stats: the same for PoseFlow.
    generator, gen_params, stage1_params: the stage-2 `CodeQueryGenerator`, its params
      `{'query', 'fusion'}` and the frozen stage-1 autoencoder params.
    render_stats: the `CoeffStats` the renderer was trained with.
    image_size: S, the renderer's frame size in pixels.
    configs: each stage's resolved training config, by stage name.
    directory: the checkpoints directory.
    steps: the checkpoint step loaded, by stage name.
  """

  exp_model: Any
  exp_params: Any
  exp_stats: coeffs_lib.CoeffStats
  pose_model: Any
  pose_params: Any
  pose_stats: coeffs_lib.CoeffStats
  generator: Any
  gen_params: Any
  stage1_params: Any
  render_stats: coeffs_lib.CoeffStats
  image_size: int
  configs: dict[str, ml_collections.ConfigDict]
  directory: str = ""
  steps: dict[str, int] = dataclasses.field(default_factory=dict)
  flow_chunk: int = 64
  render_chunk: int = 16
  _cache: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

  @property
  def exp_sampler(self):
    """The (cached, compiled once) `FlowSampler` of ExpFlow."""
    return self._cached("exp_sampler", lambda: FlowSampler(self.exp_model, self.flow_chunk))

  @property
  def pose_sampler(self):
    """The (cached) `FlowSampler` of PoseFlow."""
    return self._cached("pose_sampler", lambda: FlowSampler(self.pose_model, self.flow_chunk))

  @property
  def renderer(self):
    """The (cached) `BatchRenderer` of the stage-2 generator."""
    return self._cached("renderer", lambda: BatchRenderer(self.generator, self.render_chunk))

  def _cached(self, name, make):
    if name not in self._cache:
      self._cache[name] = make()
    return self._cache[name]


_LOADED: dict[tuple, Talker] = {}


def _stage_key(checkpoints: str) -> tuple:
  key = [os.path.realpath(checkpoints)]
  for stage in stages.STAGES:
    wd = stages.stage_dir(checkpoints, stage)
    cfg = os.path.join(wd, "config.json")
    mtime = os.path.getmtime(cfg) if os.path.exists(cfg) else None
    key.append((stage, ckpt_lib.latest_step(os.path.join(wd, "checkpoints")), mtime))
  return tuple(key)


def load(checkpoints: str | os.PathLike, *, cache: bool = True) -> Talker:
  """Loads every stage of a checkpoints directory (the `flowvq_jax.stages` layout).

  Args:
    checkpoints: DIR holding expflow/, poseflow/, vq_codebook/ and vq_query/ training workdirs.
    cache: return the Talker already loaded from the same DIR in this process when no stage has
      a newer checkpoint (its compiled samplers and renderer are reused).

  Returns:
    a `Talker`.

  Raises:
    FileNotFoundError: naming the missing directory, stage, config, checkpoint or statistics.
    ValueError: a stage workdir trained the wrong task.
  """
  checkpoints = os.fspath(checkpoints)
  if not os.path.isdir(checkpoints):
    raise FileNotFoundError(
      f"Checkpoints directory {checkpoints} does not exist (train one with "
      "`python -m launch.quickstart` or flowvq_jax.apps.train_all.train_stages)."
    )
  for stage in stages.STAGES:
    wd = stages.stage_dir(checkpoints, stage)
    if not os.path.isdir(wd):
      raise FileNotFoundError(
        f"Checkpoints directory {checkpoints} has no {stage}/ stage (expected "
        f"{', '.join(s + '/' for s in stages.STAGES)}; see flowvq_jax/stages/__init__.py)."
      )
  key = _stage_key(checkpoints)
  if cache and key in _LOADED:
    return _LOADED[key]

  exp = flow_stage.load(stages.stage_dir(checkpoints, "expflow"), "exp")
  pose = flow_stage.load(stages.stage_dir(checkpoints, "poseflow"), "pose")
  # The stage-1 run next to it, not the absolute path stored at training time: a checkpoints
  # directory can be moved or copied.
  query = query_stage.load(
    stages.stage_dir(checkpoints, "vq_query"), stages.stage_dir(checkpoints, "vq_codebook")
  )
  talker = Talker(
    exp_model=exp.model,
    exp_params=_device(exp.params),
    exp_stats=exp.stats,
    pose_model=pose.model,
    pose_params=_device(pose.params),
    pose_stats=pose.stats,
    generator=query.generator,
    gen_params=_device(query.params),
    stage1_params=_device(query.stage1_params),
    render_stats=query.stats,
    image_size=int(query.generator.image_size),
    configs={
      "expflow": exp.config, "poseflow": pose.config, "vq_query": query.config,
      "vq_codebook": query.stage1_config,
    },
    directory=checkpoints,
    steps={"expflow": exp.step, "poseflow": pose.step, "vq_query": query.step},
  )  # fmt: skip
  if cache:
    _LOADED[key] = talker
  return talker


def _device(tree):
  return jax.tree.map(jax.numpy.asarray, tree)
