r"""ExpFlow on any voice: lip sync, emotion, intensity and diversity on held-out voices.

  python -m launch.evaluate --stage fcg_voices --expflow RUN --out DIR \
      [--corpus speech_corpus/small --data_dir DIR] [--split test] [--temperature 1] \
      [--intensity 3] [--seeds 3] [--per_source 6]

What a user with their own recording gets, at the CLI's defaults (temperature 1, intensity 3),
measured per *voice source* and per *recording condition* rather than on the world's own speech:

  sources      `world`: the world's synthesizer, held-out identities (voices) and sentences,
               spoken with the requested emotion's prosody; `espeak-ng`, `flite`, `festival`:
               the `--split` of the speech corpus (`flowvq_jax.data.voices`: voices, accents,
               rates, pitches and sentences never used in training; festival is never trained on),
               spoken without emotion, so only the requested label can carry it.
  conditions   every corpus utterance again through each of `augment.AUGMENTATIONS` (noise,
               reverb, telephone band, mp3, a quiet level, faster speech, higher pitch).

For every utterance, every emotion and `--seeds` samples, the generated `exp` (de-normalised
with the run's statistics) is scored against the world's own performances of the *same audio*
(`SyntheticWorld.perform`, `--references` seeds each), which are the ground truth for that file:

  lip_sync_r        Pearson r of the generated jaw-open with the mouth law of the same file
                    (`world.mouth_from_audio`), lag 0; `lip_sync_lag`: the median best lag
                    (target r >= 0.85 at lag 0)
  emotion_accuracy  the requested emotion recovered from the sample by a nearest-centroid
                    classifier on the clip mean of the semantic non-mouth dims, with one centroid
                    per (emotion, intensity) from world performances of training speech at all
                    intensities (`centroid_accuracy_world`: the same classifier on the world's own
                    performances of the evaluated audio) (target >= 0.90)
  amplitude_ratio   per emotion: the generated clip-mean offset from the world's neutral
                    performance of the same audio, projected on the emotion's expression
                    direction (`world.cues.EMOTION_EXP`, mouth dims excluded), over the world's
                    own offset at the same intensity (target 0.8-1.2 for every emotion;
                    `amplitude_ratio_min` / `_max` over emotions)
  diversity_ratio   std across samples of the semantic non-mouth dims over the same std across
                    the world's performances of the same audio and emotion (target 0.5-1.5)

It writes `DIR/fcg_voices.{json,md}` (one row per source and condition, plus `all held-out
voices`) and `DIR/fcg_voices_details.json` (per-emotion ratios and accuracies).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from flowvq_jax.core.constants import EMOTIONS, NEUTRAL, NUM_EMOTIONS, SAMPLE_RATE
from flowvq_jax.data import audio as audio_lib
from flowvq_jax.data import augment, clip_layout
from flowvq_jax.data import coeffs as coeffs_lib
from flowvq_jax.eval import metrics, report
from flowvq_jax.models.flow.sampler import FlowSampler
from flowvq_jax.stages import flow as flow_stage
from flowvq_jax.world import SyntheticWorld, cues, mouth_from_audio
from flowvq_jax.world import tables as tb

TARGETS = {
  "lip_sync_r": (">=", 0.85),
  "lip_sync_lag": ("==", 0),
  "emotion_accuracy": (">=", 0.90),
  "amplitude_ratio_min": (">=", 0.8),
  "amplitude_ratio_max": ("<=", 1.2),
  "diversity_ratio": ("in", (0.5, 1.5)),
}
# The semantic dims an emotion is read from: all but the three the mouth law sets.
EMOTION_DIMS = tuple(d for d in range(tb.NUM_SEMANTIC) if d not in tb.MOUTH_DIMS)
WORLD_LAYOUT = clip_layout.SIZES["small"]  # held-out world identities and sentences.

# An utterance: f(emotion index) -> 16 kHz waveform (the world's depends on the emotion).
Utterance = Callable[[int], np.ndarray]


# ------------------------------------------------------------------------------------------------
# The audio.


def world_utterances(split: str, count: int, intensity: int, world_seed: int = 0) -> list:
  """`count` utterances of the world's synthesizer from `split`'s identities and sentence pool
  (`clip_layout`'s `small` layout), each spoken with the requested emotion's prosody."""
  specs = clip_layout.clip_specs(
    WORLD_LAYOUT["identities"], WORLD_LAYOUT["clips_per_identity"], WORLD_LAYOUT["utterances"],
    world_seed,
  )[clip_layout.split_name(split)]  # fmt: skip
  world = SyntheticWorld(world_seed, 64)
  picks = [specs[int(i)] for i in np.linspace(0, len(specs) - 1, count)]
  level = max(1, min(3, int(round(intensity))))

  def make(spec):
    return lambda e: world.speech(spec.identity, e, level, 3.0, spec.seed, spec.utterance)[0]

  return [make(s) for s in picks]


def corpus_utterances(examples: Sequence[dict], count: int) -> dict[str, list]:
  """`{synthesizer: [utterance]}`: up to `count` per synthesizer, spread over its voices."""
  by_synth: dict[str, list] = {}
  for ex in examples:
    name = ex["synthesizer"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    by_synth.setdefault(name, []).append(np.asarray(ex["audio"], np.float32))
  out = {}
  for name, wavs in sorted(by_synth.items()):
    picks = np.linspace(0, len(wavs) - 1, min(count, len(wavs))).round().astype(int)
    out[name] = [(lambda e, w=wavs[i]: w) for i in sorted(set(picks.tolist()))]
  return out


# ------------------------------------------------------------------------------------------------
# The instruments.


def _clip_mean(exp: np.ndarray) -> np.ndarray:
  return np.asarray(exp, np.float64)[..., list(EMOTION_DIMS)].mean(axis=-2)


def fit_centroids(world_seed: int = 0, per_class: int = 12, seconds: float = 3.0) -> dict:
  """Nearest-centroid emotion classifier: one centroid per (emotion, intensity) of the clip
  means of world performances of *training* speech (train identities and sentences)."""
  specs = clip_layout.clip_specs(
    WORLD_LAYOUT["identities"], WORLD_LAYOUT["clips_per_identity"], WORLD_LAYOUT["utterances"],
    world_seed,
  )["train"]  # fmt: skip
  world = SyntheticWorld(world_seed, 64)
  rng = np.random.default_rng(world_seed)
  cents, labels = [], []
  for e in range(NUM_EMOTIONS):
    for k in (1,) if e == NEUTRAL else (1, 2, 3):
      means = []
      for j in range(per_class):
        s = specs[int(rng.integers(len(specs)))]
        wav, _ = world.speech(s.identity, e, k, seconds, s.seed + j, s.utterance)
        clip = world.perform(s.identity, wav, SAMPLE_RATE, e, k, s.seed + 7 * j,
                             render_frames=False)  # fmt: skip
        means.append(_clip_mean(clip.exp))
      cents.append(np.mean(means, axis=0))
      labels.append(e)
  return {"centroids": np.stack(cents), "labels": np.asarray(labels, np.int32)}


def predict_centroids(clf: dict, exp: np.ndarray) -> np.ndarray:
  """Emotion of each clip `[..., T, 64]` -> int `[...]`."""
  m = _clip_mean(exp)
  d = np.sum((m[..., None, :] - clf["centroids"]) ** 2, axis=-1)
  return clf["labels"][np.argmin(d, axis=-1)]


def emotion_direction(emotion: int) -> np.ndarray:
  """Unit vector over `EMOTION_DIMS` of the emotion's expression offsets (zero for neutral)."""
  v = cues.emotion_offset_vector(emotion)[list(EMOTION_DIMS)]
  n = np.linalg.norm(v)
  return v / n if n > 0 else v


def project(exp: np.ndarray, emotion: int) -> np.ndarray:
  """Clip mean of `exp [..., T, 64]` along the emotion's direction -> `[...]`."""
  return _clip_mean(exp) @ emotion_direction(emotion)


def world_references(
  wav: np.ndarray, emotion: int, intensity: int, seeds: int, world_seed: int = 0
):
  """`[R, T, 64]` exp of the world's performances of `wav` (`seeds` different non-verbal draws)."""
  world = SyntheticWorld(world_seed, 64)
  out = [
    world.perform(0, wav, SAMPLE_RATE, emotion, intensity, 10_000 + s, render_frames=False).exp
    for s in range(seeds)
  ]
  return np.stack(out)


# ------------------------------------------------------------------------------------------------
# Scoring.


def score_utterances(
  sample: Callable[[np.ndarray, int], np.ndarray],
  utterances: Sequence[Utterance],
  clf: dict,
  *,
  intensity: int = 3,
  references: int = 4,
  emotions: Sequence[int] = tuple(range(NUM_EMOTIONS)),
  transform: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
  seed: int = 0,
) -> dict[str, Any]:
  """Scores samples of every utterance x emotion (module docstring).

  Args:
    sample: (wav16 [n], emotion) -> de-normalised exp samples `[S, T, 64]`.
    utterances: the audio (a function of the emotion).
    clf: `fit_centroids`'s classifier.
    intensity: the requested level (1..3), also the world references'.
    references: world performances per (utterance, emotion).
    transform: a recording condition applied to each waveform (`augment.AUGMENTATIONS` values).

  Returns:
    the row's metrics and `per_emotion` details.
  """
  rng = np.random.default_rng(seed)
  lips, lags, correct, world_correct = [], [], [], []
  gen_off = {e: [] for e in emotions if e != NEUTRAL}
  ref_off = {e: [] for e in emotions if e != NEUTRAL}
  gen_std, ref_std = [], []
  acc_e = {e: [] for e in emotions}
  for utt in utterances:
    for e in emotions:
      wav = np.asarray(utt(e), np.float32)
      if transform is not None:
        wav = transform(wav, rng)
      t = audio_lib.num_video_frames(wav.size)
      wav = audio_lib.fit_length(wav, t)
      x = np.asarray(sample(wav, e), np.float64)[:, :t]  # [S, T, 64]
      ref = world_references(wav, e, intensity, references)  # [R, T, 64]
      law = mouth_from_audio(wav, SAMPLE_RATE)[:, 0]
      max_lag = min(10, t - 3)
      for s in range(x.shape[0]):
        ls = metrics.lip_sync(x[s, :, tb.JAW], law, max_lag)
        lips.append(ls["pearson_r"])
        lags.append(ls["best_lag"])
      pred = predict_centroids(clf, x)
      correct.extend((pred == e).tolist())
      acc_e[e].extend((pred == e).tolist())
      world_correct.extend((predict_centroids(clf, ref) == e).tolist())
      if e != NEUTRAL:
        neutral = world_references(wav, NEUTRAL, 1, references)
        base = project(neutral, e).mean()
        gen_off[e].append(project(x, e).mean() - base)
        ref_off[e].append(project(ref, e).mean() - base)
      dims = list(EMOTION_DIMS)
      gen_std.append(x[..., dims].std(axis=0).mean())
      ref_std.append(ref[..., dims].std(axis=0).mean())
  ratios = {EMOTIONS[e]: float(np.mean(gen_off[e]) / np.mean(ref_off[e])) for e in gen_off}
  lips_arr = np.asarray(lips)
  return {
    "lip_sync_r": float(np.nanmean(lips_arr)),
    "lip_sync_lag": int(np.median(lags)),
    "lag0_fraction": float(np.mean(np.asarray(lags) == 0)),
    "emotion_accuracy": float(np.mean(correct)),
    "centroid_accuracy_world": float(np.mean(world_correct)),
    "amplitude_ratio_min": min(ratios.values()) if ratios else float("nan"),
    "amplitude_ratio_max": max(ratios.values()) if ratios else float("nan"),
    "amplitude_ratio_mean": float(np.mean(list(ratios.values()))) if ratios else float("nan"),
    "diversity_ratio": float(np.mean(gen_std) / max(np.mean(ref_std), 1e-9)),
    "clips": len(utterances) * len(emotions),
    "per_emotion": {
      "amplitude_ratio": ratios,
      "accuracy": {EMOTIONS[e]: float(np.mean(v)) for e, v in acc_e.items() if v},
    },
  }


def met(name: str, value: Any) -> bool:
  """Whether `value` meets `TARGETS[name]`."""
  return report.meets(TARGETS[name], value)


def flow_sampler(run: flow_stage.FlowRun, seeds: int, temperature: float, intensity: float):
  """(wav16, emotion) -> de-normalised exp `[seeds, T, 64]` of an ExpFlow run, as
  `launch.generate` samples it."""
  sampler = FlowSampler(run.model, chunk_size=64)
  ident = coeffs_lib.CoeffStats.identity()

  def sample(wav: np.ndarray, emotion: int) -> np.ndarray:
    mel = audio_lib.log_mel(wav, num_frames=audio_lib.num_video_frames(wav.size))
    x = sampler(run.params, mel_frames=mel, emotion=int(emotion), intensity=float(intensity),
                temperature=float(temperature), seed=list(range(seeds)))  # fmt: skip
    exp, _ = coeffs_lib.denormalize(x, ident.pose_mean, run.stats)
    return np.asarray(exp)

  return sample


def evaluate(
  run: flow_stage.FlowRun,
  corpus: Sequence[dict] | None,
  *,
  split: str = "test",
  per_source: int = 6,
  seeds: int = 3,
  temperature: float = 1.0,
  intensity: float = 3.0,
  references: int = 4,
  conditions: Sequence[str] = tuple(augment.AUGMENTATIONS),
  log: Callable[[str], None] = print,
) -> dict[str, Any]:
  """Rows of the voice evaluation (module docstring); `corpus`: the examples of the speech
  corpus's `split` (None: the world's speech only)."""
  if run.config.data.coeffs != "exp":
    raise ValueError(
      f"--expflow must be an ExpFlow run; got data.coeffs {run.config.data.coeffs!r}."
    )
  if seeds < 2:
    raise ValueError(f"--seeds must be >= 2 to measure diversity, got {seeds}.")
  level = int(round(intensity))
  sample = flow_sampler(run, seeds, temperature, intensity)
  clf = fit_centroids()
  rows: dict[str, dict] = {}
  sources = {"world": world_utterances(split, per_source, level)}
  if corpus:
    sources.update(corpus_utterances(corpus, per_source))
  for name, utts in sources.items():
    t0 = time.perf_counter()
    rows[name] = score_utterances(sample, utts, clf, intensity=level, references=references)
    log(f"  {name}: {_line(rows[name])} ({time.perf_counter() - t0:.0f} s)")
  held_out = [u for name, utts in sources.items() if name != "world" for u in utts]
  if held_out:
    for cond in conditions:
      t0 = time.perf_counter()
      key = "all held-out voices" if cond == "clean" else f"held-out voices + {cond}"
      rows[key] = score_utterances(sample, held_out, clf, intensity=level, references=references,
                                   transform=augment.AUGMENTATIONS[cond])  # fmt: skip
      log(f"  {key}: {_line(rows[key])} ({time.perf_counter() - t0:.0f} s)")
  return rows


def _line(m: dict) -> str:
  return (
    f"lip sync r {m['lip_sync_r']:.3f} (lag {m['lip_sync_lag']}), emotion "
    f"{m['emotion_accuracy']:.3f}, amplitude {m['amplitude_ratio_min']:.2f}-"
    f"{m['amplitude_ratio_max']:.2f}, diversity {m['diversity_ratio']:.2f}"
  )


def run(args: argparse.Namespace) -> int:
  """`launch.evaluate --stage fcg_voices`."""
  t0 = time.perf_counter()
  if not os.path.isdir(args.expflow):
    raise FileNotFoundError(f"Workdir {args.expflow} (--expflow) does not exist.")
  exp_run = flow_stage.load(args.expflow, coeffs="exp")
  corpus = None
  if args.corpus:
    from flowvq_jax.data import builders  # noqa: PLC0415  (TFDS: only when a corpus is read)

    corpus = list(builders.data_sources(args.corpus, args.data_dir or "~/flowvq_data")[
      clip_layout.split_name(args.split)])  # fmt: skip
  print(
    f"ExpFlow {args.expflow} (step {exp_run.step}) on {args.split} voices, temperature "
    f"{args.temperature}, intensity {args.intensity}, {args.seeds} samples each:"
  )
  conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
  unknown = [c for c in conditions if c not in augment.AUGMENTATIONS]
  if unknown:
    raise ValueError(
      f"Unknown --conditions {unknown}; choose from {', '.join(augment.AUGMENTATIONS)}."
    )
  rows = evaluate(
    exp_run, corpus, split=args.split, per_source=args.per_source, seeds=args.seeds,
    temperature=args.temperature, intensity=args.intensity, references=args.references,
    conditions=conditions,
  )  # fmt: skip
  table = {}
  for name, m in rows.items():
    r = {k: v for k, v in m.items() if k != "per_emotion"}
    r["targets_missed"] = ", ".join(k for k in TARGETS if not met(k, m[k])) or "none"
    table[name] = r
  os.makedirs(args.out, exist_ok=True)
  report.write_report(table, os.path.join(args.out, "fcg_voices"), "ExpFlow on held-out voices")
  details = {
    "expflow": {"workdir": os.path.abspath(args.expflow), "step": exp_run.step},
    "split": args.split, "temperature": args.temperature, "intensity": args.intensity,
    "seeds": args.seeds, "per_source": args.per_source, "corpus": args.corpus,
    "per_emotion": {k: m["per_emotion"] for k, m in rows.items()},
    "targets": {k: list(v) if isinstance(v, tuple) else v for k, v in TARGETS.items()},
    "seconds": round(time.perf_counter() - t0, 1),
  }  # fmt: skip
  with open(os.path.join(args.out, "fcg_voices_details.json"), "w") as f:
    json.dump(report.to_jsonable(details), f, indent=2)
  print(report.to_markdown(table, row_label="voices"))
  print(f"  wrote {args.out}/fcg_voices.json/.md, fcg_voices_details.json ({details['seconds']} s)")
  return 0


# ------------------------------------------------------------------------------------------------
# The ablation table (launch/fcg_voices_ablation.sh).

SUMMARY_ROWS = ("all held-out voices", "world")
SUMMARY_METRICS = ("lip_sync_r", "lag0_fraction", "emotion_accuracy", "amplitude_ratio_min",
                   "amplitude_ratio_max", "diversity_ratio")  # fmt: skip


def summarize(root: str, split: str = "test") -> dict[str, dict[str, str]]:
  """`{member / row: {metric: 'mean +- std (n seeds)'}}` over `root/<member>/seed*/eval_<split>/
  fcg_voices.json`."""
  table: dict[str, dict[str, str]] = {}
  for member in sorted(os.listdir(root)):
    files = sorted(
      os.path.join(root, member, s, f"eval_{split}", "fcg_voices.json")
      for s in os.listdir(os.path.join(root, member))
      if s.startswith("seed")
    ) if os.path.isdir(os.path.join(root, member)) else []  # fmt: skip
    rows = [report.load_json(f) for f in files if os.path.exists(f)]
    if not rows:
      continue
    for row in SUMMARY_ROWS:
      cells = {}
      for m in SUMMARY_METRICS:
        v = np.asarray([float(r[row][m]) for r in rows if row in r])
        cells[m] = f"{v.mean():.3f} +- {v.std():.3f}" if v.size > 1 else f"{v.mean():.3f}"
      cells["seeds"] = str(len(rows))
      table[f"{member} / {row}"] = cells
  return table


def main(argv: Sequence[str] | None = None) -> int:
  """`python -m flowvq_jax.eval.fcg_voices --summarize ROOT [--split test]`."""
  parser = argparse.ArgumentParser(description="The fcg_voices ablation table.")
  parser.add_argument("--summarize", required=True, help="launch/fcg_voices_ablation.sh's RUNS")
  parser.add_argument("--split", default="test")
  args = parser.parse_args(argv)
  table = summarize(args.summarize, args.split)
  if not table:
    print(
      f"error: no evaluations under {args.summarize}/*/seed*/eval_{args.split}/", file=sys.stderr
    )
    return 2
  report.write_report(table, os.path.join(args.summarize, "ablation"), "fcg_voices ablation")
  print(report.to_markdown(table, row_label="member / voices"))
  print(f"  wrote {args.summarize}/ablation.json/.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
