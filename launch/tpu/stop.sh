#!/usr/bin/env bash
# Sends SIGTERM to the training processes: they agree on a step, checkpoint and exit.
source "$(dirname "$0")/common.sh"
on_all_workers "pkill -TERM -f 'python -m launch.train' || true"
