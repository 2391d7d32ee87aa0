#!/usr/bin/env bash
# Configures MinIO to POST object creations in the raw bucket to transform: a webhook target with an auth token and a
# queue_dir (delivery survives a transform outage, in order), and a bucket event filtered to batch objects.
# Usage: TRANSFORM_AUTH_TOKEN=... scripts/minio-notify.sh [--dry-run] <mc alias>
# Env: TRANSFORM_URL (default http://transform.crypto-pipeline.svc.cluster.local), RAW_BUCKET (crypto-raw),
#      TARGET_ID (crypto), QUEUE_DIR (/data/.notify-crypto: a folder on MinIO's persistent volume).
set -euo pipefail

dry_run=false
if [ "${1:-}" = "--dry-run" ]; then dry_run=true; shift; fi
alias_name="${1:?usage: scripts/minio-notify.sh [--dry-run] <mc alias>}"
: "${TRANSFORM_AUTH_TOKEN:?set TRANSFORM_AUTH_TOKEN (the value in the crypto-pipeline-secrets Secret)}"
url="${TRANSFORM_URL:-http://transform.crypto-pipeline.svc.cluster.local}"
bucket="${RAW_BUCKET:-crypto-raw}"
target="${TARGET_ID:-crypto}"
queue_dir="${QUEUE_DIR:-/data/.notify-crypto}"

run() {
  if $dry_run; then
    # Never print the token.
    printf '%s\n' "$*" | sed "s/${TRANSFORM_AUTH_TOKEN}/<TRANSFORM_AUTH_TOKEN>/g"
  else
    "$@"
  fi
}

run mc admin config set "$alias_name" "notify_webhook:$target" \
  endpoint="$url" auth_token="$TRANSFORM_AUTH_TOKEN" queue_dir="$queue_dir" queue_limit=100000
run mc admin service restart "$alias_name"
# --event put also fires for tagging and retention changes; transform ignores those by event name.
run mc event add "$alias_name/$bucket" "arn:minio:sqs::$target:webhook" --event put --prefix exchange= --suffix .json
run mc event list "$alias_name/$bucket"
