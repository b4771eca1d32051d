#!/usr/bin/env bash
# Creates the TPU VM (pod slice). Usage: [ACCELERATOR=v4-32] launch/tpu/create.sh [--spot]
# Extra flags go to `gcloud compute tpus tpu-vm create` (e.g. --spot, --network ...).
source "$(dirname "$0")/common.sh"
gcloud compute tpus tpu-vm create "$TPU_NAME" --zone "$ZONE" "${GCLOUD_PROJECT_FLAG[@]}" \
  --accelerator-type "$ACCELERATOR" --version "$RUNTIME" "$@"
gcloud compute tpus tpu-vm describe "$TPU_NAME" --zone "$ZONE" "${GCLOUD_PROJECT_FLAG[@]}" \
  --format='value(state,acceleratorType)'
