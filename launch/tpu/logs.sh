#!/usr/bin/env bash
# Shows the last lines of every worker's training log. Usage: launch/tpu/logs.sh [LINES]
source "$(dirname "$0")/common.sh"
on_all_workers "echo == \$(hostname); tail -n ${1:-20} ~/train.log"
