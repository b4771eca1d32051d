#!/usr/bin/env bash
# Deletes the TPU VM. Usage: launch/tpu/delete.sh
source "$(dirname "$0")/common.sh"
gcloud compute tpus tpu-vm delete "$TPU_NAME" --zone "$ZONE" "${GCLOUD_PROJECT_FLAG[@]}" --quiet
