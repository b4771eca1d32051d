#!/usr/bin/env bash
# Mounts a GCS bucket at /gcs on every worker (a shared workdir for checkpoints and metrics).
# Usage: launch/tpu/mount_bucket.sh BUCKET_NAME
source "$(dirname "$0")/common.sh"
bucket="${1:?usage: mount_bucket.sh BUCKET_NAME}"
on_all_workers "set -e; if ! command -v gcsfuse >/dev/null; then \
  export GCSFUSE_REPO=gcsfuse-\$(lsb_release -c -s); \
  echo \"deb [signed-by=/usr/share/keyrings/cloud.google.asc] https://packages.cloud.google.com/apt \$GCSFUSE_REPO main\" | sudo tee /etc/apt/sources.list.d/gcsfuse.list; \
  curl -s https://packages.cloud.google.com/apt/doc/apt-key.gpg | sudo tee /usr/share/keyrings/cloud.google.asc >/dev/null; \
  sudo apt-get update -q && sudo apt-get install -y -q gcsfuse; fi; \
  sudo mkdir -p /gcs && sudo chown \$USER /gcs && \
  (mountpoint -q /gcs || gcsfuse --implicit-dirs $bucket /gcs)"
