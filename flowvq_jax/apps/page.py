"""The quickstart's HTML page (`write_page`) and the notebook's display helpers (`video_html`,
`latent_points`, `pca_2d`)."""

from __future__ import annotations

import base64
import html
from typing import Any

import numpy as np

from flowvq_jax.core import constants
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.models.flow import sampler
from flowvq_jax.world import SyntheticWorld

WORLD_SEED = 0



def video_html(path: str, width: int = 256) -> str:
  """An HTML `<video>` with the mp4 inlined as base64 (for `IPython.display.HTML`)."""
  with open(path, "rb") as f:
    data = base64.b64encode(f.read()).decode("ascii")
  return (
    f'<video width="{int(width)}" controls loop style="image-rendering:pixelated">'
    f'<source src="data:video/mp4;base64,{data}" type="video/mp4"></video>'
  )


def latent_points(
  talker, identities=range(2), seconds: float = 2.0, every: int = 5, intensity: int = 3
) -> tuple[np.ndarray, np.ndarray]:
  """ExpFlow latents of world clips (every emotion, ground-truth expression), for a plot.

  Each clip's expression is normalised with the talker's statistics and pushed through the flow
  (`flow.sampler.encode`, with the clip's emotion and mel).

  Returns:
    (z float32 [N, 64]: every `every`-th frame of every clip, labels int32 [N]: emotion index).
  """
  world = SyntheticWorld(seed=WORLD_SEED, resolution=64)
  k = talker.exp_model.audio_context
  zs, labels = [], []
  for i in identities:
    for e in range(constants.NUM_EMOTIONS):
      inten = 1 if e == constants.NEUTRAL else intensity
      clip = world.sample_clip(i, e, inten, seconds, seed=i * 100 + e, render_frames=False)
      t = clip.exp.shape[0]
      mel = audio_lib.log_mel(np.asarray(clip.audio, np.float32), num_frames=t)
      x, _ = coeffs_lib.normalize(clip.exp, clip.pose, talker.exp_stats)
      z = sampler.encode(
        talker.exp_model, talker.exp_params, np.asarray(x, np.float32)[None],
        audio_lib.mel_windows(mel, k)[None], np.asarray([e], np.int32),
      )  # fmt: skip
      zs.append(np.asarray(z)[0, ::every])
      labels.append(np.full(zs[-1].shape[0], e, np.int32))
  return np.concatenate(zs).astype(np.float32), np.concatenate(labels)


def pca_2d(x: np.ndarray) -> np.ndarray:
  """Projection `[N, 2]` of `x [N, D]` on its two principal components (numpy SVD)."""
  x = np.asarray(x, np.float64)
  x = x - x.mean(0)
  _, _, vt = np.linalg.svd(x, full_matrices=False)
  return (x @ vt[:2].T).astype(np.float32)


# ------------------------------------------------------------------------------------------------
# The page.

_CSS = """body{font-family:sans-serif;margin:2em;max-width:1100px}
.grid{display:flex;flex-wrap:wrap;gap:1em}.cell{text-align:center}
video,img.src{width:192px;image-rendering:pixelated;background:#000}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}.note{color:#555;font-size:.9em}"""


def _fmt(x: Any) -> str:
  if x is None:
    return "n/a"
  if isinstance(x, float):
    return f"{x:.3f}"
  return html.escape(str(x))


def write_page(path: str, nums: dict[str, Any], meta: dict[str, Any]) -> None:
  """`index.html`: the videos (relative links into videos/) and the numbers."""
  s, vids = nums["summary"], nums["videos"]
  e = html.escape
  cells = []
  for name in constants.EMOTIONS:
    if name not in vids:
      continue
    v, smp = vids[name], vids[name]["samples"][0]
    cells.append(
      f'<div class="cell"><video src="videos/{e(v["video"])}" controls loop muted></video>'
      f"<br><b>{e(name)}</b><br>lip sync r {_fmt(smp['lip_sync_r'])}, lag "
      f"{smp['lip_sync_lag']}<br>classified: {_fmt(smp['predicted_emotion'])}</div>"
    )
  rows = "".join(f"<tr><th>{e(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in s.items())
  div = ""
  if "diversity" in vids:
    d = vids["diversity"]
    per = ", ".join(
      f"sample {x['sample']}: r {_fmt(x['lip_sync_r'])} ({_fmt(x['predicted_emotion'])})"
      for x in d["samples"]
    )
    div = (
      f"<h2>Diversity: {len(d['samples'])} samples of &ldquo;{e(d['emotion'])}&rdquo;</h2>"
      f'<video src="videos/{e(d["video"])}" controls loop muted style="width:576px"></video>'
      f'<p class="note">Same audio, image and emotion; samples 0-{len(d["samples"]) - 1} of '
      f"seed {d['samples'][0]['seed']}. {per}.</p>"
    )
  inp = nums["inputs"]
  stages_rows = "".join(
    f"<tr><th>{e(k)}</th><td style='text-align:left'>{e(str(v))}</td></tr>"
    for k, v in meta.get("stages", {}).items()
  )
  page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>flowvq_jax quickstart</title><style>{_CSS}</style></head><body>
<h1>flowvq_jax quickstart</h1>
<p>Preset <b>{e(meta.get("preset", ""))}</b>. Source: held-out identity {inp["identity"]} of the
synthetic world (never trained on), neutral face; audio: held-out sentence {inp["utterance"]}
({inp["seconds"]:.1f} s) in that identity's voice. Intensity {inp["intensity"]}, temperature
{inp["temperature"]}, renderer fidelity {inp["fidelity"]}.</p>
<img class="src" src="videos/source.png" alt="source image">
<h2>One video per emotion</h2><div class="grid">{"".join(cells)}</div>
{div}
<h2>Evaluation numbers</h2><table>{rows}</table>
<p class="note">lip_sync_r / lag: Pearson r (lag 0) and best lag in frames (+-10) of the generated
jaw-open coefficient against the world's mouth law of the audio (its ground-truth jaw opening),
mean / median over the emotion videos. emotion_accuracy: share of the emotion videos whose
generated expression coefficients the project's window classifier (trained on the world's
ground-truth expression of {nums["classifier"]["train_identities"]} training identities,
{nums["classifier"]["window"]}-frame windows) assigns to the requested emotion;
emotion_accuracy_world: the same classifier on the world's own performance of this audio (the
reference). exp_std_non_mouth / exp_std_jaw_open / pose_std: per-frame standard deviation across
the diversity samples, averaged over frames and dims. PSNR / SSIM are not shown: there is no
ground-truth video of new audio.</p>
<h2>Stages</h2><table>{stages_rows}</table>
<p class="note">Numbers: quickstart.json. Generated by <code>python -m launch.quickstart</code>.</p>
</body></html>
"""
  with open(path, "w") as f:
    f.write(page)


