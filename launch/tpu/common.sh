#!/usr/bin/env bash
# Settings shared by the TPU VM scripts. Override any of them in the environment.
#   TPU_NAME      name of the TPU VM (pod slice)            default: flowvq
#   ZONE          GCP zone                                   default: us-central2-b
#   ACCELERATOR   accelerator type (v4-8 is one host, v4-32 four hosts, v5litepod-16, ...)
#   RUNTIME       TPU VM software version                    default: tpu-ubuntu2204-base
#   PROJECT       GCP project (default: gcloud's configured project)
#   REMOTE_DIR    checkout directory on every worker         default: flowvq_jax
set -euo pipefail
TPU_NAME="${TPU_NAME:-flowvq}"
ZONE="${ZONE:-us-central2-b}"
ACCELERATOR="${ACCELERATOR:-v4-8}"
RUNTIME="${RUNTIME:-tpu-ubuntu2204-base}"
REMOTE_DIR="${REMOTE_DIR:-flowvq_jax}"
GCLOUD_PROJECT_FLAG=()
if [[ -n "${PROJECT:-}" ]]; then GCLOUD_PROJECT_FLAG=(--project "$PROJECT"); fi

# Runs a shell command on every worker of the slice at once.
on_all_workers() {
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" "${GCLOUD_PROJECT_FLAG[@]}" \
    --worker=all --command "$1"
}
