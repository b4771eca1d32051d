#!/usr/bin/env bash
# The ExpFlow ablation on held-out voices (docs/fcg.md "On any voice"): each member of the `fast`
# variant (configs/expflow.py) is trained with SEEDS seeds and scored by
# `launch.evaluate --stage fcg_voices` at the CLI defaults (temperature 1, intensity 3); the table
# of means and spreads over seeds goes to $RUNS/ablation.md.
#
# Usage: [RUNS=runs/fcg_voices_ablation] [DATA=~/flowvq_data] [SEEDS="0 1"] [MEMBERS="..."] \
#          [SPLITS="validation test"] launch/fcg_voices_ablation.sh [--dry]
#   MEMBERS  names from the list below (default: all)
#   SPLITS   the splits each member is scored on: validation (to choose), test (to report)
#   --dry    print every command instead of running it
# A trained member is not trained again (launch.train resumes or stops at once), an evaluated
# one not evaluated again.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-runs/fcg_voices_ablation}
DATA=${DATA:-~/flowvq_data}
SEEDS=${SEEDS:-"0 1"}
SPLITS=${SPLITS:-"validation test"}
declare -A ARG=(
  [default]="fast"                                        # shared LSTM, emotion x intensity in context + SMM
  [per_coupling_lstm]="fast,coupling=lstm"                # MoGlow couplings (each its own LSTM)
  [prior_only]="fast,prior_only=true"                     # the emotion in the latent only (the paper)
  [gmm]="fast,prior=gmm"                                  # Gaussian mixture instead of Student's t
  [no_dropout]="fast,dropout=0.0"                         # no data dropout on the history
  [paper]="fast,coupling=lstm,prior_only=true"            # the paper's ExpFlow at the fast size
)
MEMBERS=${MEMBERS:-"default per_coupling_lstm prior_only gmm no_dropout paper"}
DRY=0
[[ "${1:-}" == "--dry" ]] && DRY=1

run() {
  if ((DRY)); then echo "$*"; else "$@"; fi
}

run python -m launch.prepare_data --dataset speech_corpus/small --data_dir "$DATA"
for m in $MEMBERS; do
  [[ -n "${ARG[$m]:-}" ]] || { echo "unknown member $m (choose: ${!ARG[*]})" >&2; exit 2; }
  for s in $SEEDS; do
    wd="$RUNS/$m/seed$s"
    run python -m launch.train --config "configs/expflow.py:${ARG[$m]}" --workdir "$wd" \
      --config.seed="$s" --config.data.data_dir="$DATA" --config.train.progress=false
    for split in $SPLITS; do
      if [[ -f "$wd/eval_$split/fcg_voices.json" ]]; then
        echo "[$m seed $s $split] evaluated"
        continue
      fi
      run python -m launch.evaluate --stage fcg_voices --expflow "$wd" --out "$wd/eval_$split" \
        --corpus speech_corpus/small --data_dir "$DATA" --split "$split" --conditions clean
    done
  done
done
for split in $SPLITS; do
  run python -m flowvq_jax.eval.fcg_voices --summarize "$RUNS" --split "$split"
done
