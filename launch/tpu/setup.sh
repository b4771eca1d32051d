#!/usr/bin/env bash
# Copies this checkout to every worker and installs it with jax[tpu].
# Usage: launch/tpu/setup.sh            (run from anywhere inside the repository)
source "$(dirname "$0")/common.sh"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
archive="$(mktemp -d)/flowvq_jax.tar.gz"
git -C "$repo" archive --format=tar.gz -o "$archive" HEAD
gcloud compute tpus tpu-vm scp "$archive" "$TPU_NAME":/tmp/flowvq_jax.tar.gz \
  --zone "$ZONE" "${GCLOUD_PROJECT_FLAG[@]}" --worker=all
on_all_workers "set -e; rm -rf $REMOTE_DIR && mkdir -p $REMOTE_DIR && \
  tar -xzf /tmp/flowvq_jax.tar.gz -C $REMOTE_DIR && cd $REMOTE_DIR && \
  python3 -m venv ~/venv && source ~/venv/bin/activate && \
  pip install -q --upgrade pip && pip install -q -r requirements.txt 'jax[tpu]' && \
  python -c 'import jax; print(jax.process_index(), jax.local_device_count(), jax.device_count())'"
