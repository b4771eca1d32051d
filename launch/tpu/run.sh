#!/usr/bin/env bash
# Runs launch.train on every worker of the slice at once (one process per host; jax finds the
# other hosts by itself through `--distributed on`).
# Usage: launch/tpu/run.sh --config configs/toy.py:tiny --workdir /gcs/runs/toy [--config.x=y]
# The workdir must be the same shared directory on every worker, e.g. a bucket mounted with
# gcsfuse at /gcs on all of them (launch/tpu/mount_bucket.sh). Output: ~/train_<worker>.log.
source "$(dirname "$0")/common.sh"
args=""
for a in "$@"; do args+=" $(printf '%q' "$a")"; done
on_all_workers "cd $REMOTE_DIR && source ~/venv/bin/activate && \
  nohup python -m launch.train --distributed on $args > ~/train.log 2>&1 &
  echo started on \$(hostname)"
