#!/usr/bin/env bash
# Both VQ stages at 128 px on many in-memory world identities, then both evaluations: the
# `synthetic_wide` variants of configs/vq_codebook.py and configs/vq_query.py (1000 training
# identities x 2 clips; 12000 and 6000 steps), the recipe behind the single-GPU numbers in
# docs/vq_codebook.md and docs/vq_query_results.md.
#
# Usage: [RUNS=runs/vq_wide] [STAGES="1 2"] [S1_STEPS=N] [S2_STEPS=N] [VAR=value ...] \
#          launch/vq_wide.sh [--dry]
#   RUNS       where the workdirs (s1, s2), the evaluations (s1_eval, s2_eval) and the stage-1
#              params export (s1_export) go
#   STAGES     which stages to train and evaluate: "1 2" (default), "1" or "2"
#   S1         the stage-1 run stage 2 reads: a workdir or a params export    default: $RUNS/s1
#   IDS        identities per split (train, validation, test)       default: the variant's (1000,4,48)
#   CLIPS      clips of 3 s per identity                            default: the variant's 2
#   WORKERS    processes rendering the world clips                  default: all cores
#   EVAL_STRIDE  evaluate every n-th test frame                     default: 2
#   S1_STEPS   stage-1 steps (default: the variant's 12000; batch 16 = 4 clips x 4 frames; no
#              discriminator)
#   S2_STEPS   stage-2 steps (default: the variant's 6000; batch 8; no adversary: the stage-1
#              critic is untrained)
#   S1_ARGS, S2_ARGS  more `launch.train` flags for a stage, e.g. continuing stage 1 from an
#              export (which cannot be resumed): S1_ARGS="--config.train.init_from=PATH"
#   S1_LIMIT, S2_LIMIT  wall-clock seconds for a stage's training (startup included), unset: no
#              limit; at the limit `timeout` sends SIGTERM, the trainer checkpoints and the
#              chain goes on (the same command again resumes the run)
#   EVAL       1 (default): evaluate each stage after training; 0: train only (and export), to
#              split the chain over calls: `EVAL=0 ... S2_LIMIT=T`, then the stage's
#              `launch.evaluate` command below on its own
# Stage 1 ends with `launch.export` of its autoencoder params (53 MB at 128 px, in parts of at
# most 15 MB, no optimizer state, no critic) to $RUNS/s1_export, so the stages can run on two
# machines: `STAGES=1` on the first, then `STAGES=2 S1=<the copied s1_export>` on the second.
# Compiled programs are cached in $RUNS/jax_cache (JAX_COMPILATION_CACHE_DIR, unless set), so a
# rerun on the same machine skips the compiles (minutes on a GPU with convolution autotuning).
# `--dry` runs every command at toy sizes (3 steps, 1 s clips, 4 training identities) to check
# the chain in a few minutes on a CPU. Stages that exist are resumed, not retrained.
set -euo pipefail
RUNS="${RUNS:-runs/vq_wide}"
IDS="${IDS:-}"
CLIPS="${CLIPS:-}"
WORKERS="${WORKERS:-}"
S1_STEPS="${S1_STEPS:-}"
S2_STEPS="${S2_STEPS:-}"
STAGES="${STAGES:-1 2}"
EVAL="${EVAL:-1}"
EVAL_STRIDE="${EVAL_STRIDE:-2}"
export JAX_COMPILATION_CACHE_DIR="${JAX_COMPILATION_CACHE_DIR:-$RUNS/jax_cache}"
EXTRA=()
EVAL_EXTRA=()
if [[ "${1:-}" == "--dry" ]]; then
  IDS="(4,1,1)"; CLIPS=1; S1_STEPS=3; S2_STEPS=3
  EXTRA=(--config.data.memory.seconds=1.0 --config.eval.num_batches=1)
  EVAL_EXTRA=(--landmark_steps 5)
fi
MEM=(${IDS:+--config.data.memory.identities=$IDS}
     ${CLIPS:+--config.data.memory.clips_per_identity=$CLIPS}
     ${WORKERS:+--config.data.memory.workers=$WORKERS})
S1_SET=(${S1_STEPS:+--config.train.steps=$S1_STEPS --config.loss.disc_start=$((S1_STEPS + 1))})
S2_SET=(${S2_STEPS:+--config.train.steps=$S2_STEPS})

# `train_within LIMIT ARGS...`: `python -m launch.train ARGS...`, sent SIGTERM after LIMIT seconds
# when LIMIT is not empty (the trainer then saves a checkpoint and exits: not a failure here).
train_within() {
  local limit="$1"
  shift
  if [[ -z "$limit" ]]; then
    python -m launch.train "$@"
  else
    timeout --signal=TERM "$limit" python -m launch.train "$@" || [[ $? -eq 124 ]]
  fi
}

S1="${S1:-$RUNS/s1}"
if [[ " $STAGES " == *" 1 "* ]]; then
  train_within "${S1_LIMIT:-}" --config configs/vq_codebook.py:synthetic_wide \
    --workdir "$S1" "${MEM[@]}" "${S1_SET[@]}" "${EXTRA[@]}" ${S1_ARGS:-}
  if [[ "$EVAL" != 0 ]]; then
    python -m launch.evaluate --stage vq --workdir "$S1" --out "$RUNS/s1_eval" --source memory \
      --batch_size 64 --frame_stride "$EVAL_STRIDE"
  fi
  rm -rf "$RUNS/s1_export"
  python -m launch.export --workdir "$S1" --out "$RUNS/s1_export" --exclude params/disc
fi
if [[ " $STAGES " == *" 2 "* ]]; then
  train_within "${S2_LIMIT:-}" --config "configs/vq_query.py:synthetic_wide,stage1=$S1" \
    --workdir "$RUNS/s2" "${MEM[@]}" "${S2_SET[@]}" "${EXTRA[@]}" ${S2_ARGS:-}
  if [[ "$EVAL" != 0 ]]; then
    python -m launch.evaluate --stage query --workdir "$RUNS/s2" --out "$RUNS/s2_eval" \
      --source memory --batch_size 64 --frame_stride "$EVAL_STRIDE" "${EVAL_EXTRA[@]}"
  fi
fi
