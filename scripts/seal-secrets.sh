#!/usr/bin/env bash
# Turns the pipeline's secrets into a SealedSecret for the prod overlay (only the cluster's controller can open it).
# Values come from the environment (as under `sops exec-env .env 'scripts/seal-secrets.sh'`, like the seed) or from
# a git-ignored .env file. They never appear on a command line: kubectl reads them from a 0600 temporary file.
# Usage: scripts/seal-secrets.sh [--env-file .env] [--namespace crypto-pipeline] [--out knative/overlays/prod/sealed-secrets.yaml]
#        scripts/seal-secrets.sh --dev   # applies a plain Secret to the dev namespace instead (nothing written)
set -euo pipefail

env_file=""
namespace="crypto-pipeline"
out="knative/overlays/prod/sealed-secrets.yaml"
dev=false
while [ $# -gt 0 ]; do
  case "$1" in
    --env-file) env_file="$2"; shift 2 ;;
    --namespace) namespace="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --dev) dev=true; namespace="crypto-pipeline-dev"; shift ;;
    *) echo "unknown argument: $1" >&2; exit 64 ;;
  esac
done
if [ -n "$env_file" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$env_file"
  set +a
fi

# The status page reads PostgreSQL as its own read-only role (migration 002): its Service requires both keys.
keys=(MINIO_PASSWORD POSTGRESQL_PASSWORD TRANSFORM_AUTH_TOKEN STATUS_POSTGRESQL_USER STATUS_POSTGRESQL_PASSWORD)
tmp=$(mktemp)
chmod 600 "$tmp"
trap 'rm -f "$tmp"' EXIT
for k in "${keys[@]}"; do
  if [ -z "${!k:-}" ]; then echo "missing $k (set it in the environment or in the --env-file)" >&2; exit 65; fi
  printf '%s=%s\n' "$k" "${!k}" >> "$tmp"
done
if [ "${#TRANSFORM_AUTH_TOKEN}" -lt 16 ]; then echo "TRANSFORM_AUTH_TOKEN must be at least 16 characters" >&2; exit 65; fi

secret() {
  kubectl create secret generic crypto-pipeline-secrets --namespace "$namespace" --from-env-file="$tmp" \
    --dry-run=client -o yaml
}

if $dev; then
  secret | kubectl apply -f -
  echo "applied Secret crypto-pipeline-secrets to $namespace"
else
  command -v kubeseal >/dev/null || { echo "kubeseal is not installed (https://github.com/bitnami-labs/sealed-secrets)" >&2; exit 69; }
  secret | kubeseal --format yaml > "$out"
  echo "wrote $out: commit it, then kubectl apply -f $out (or list it in the overlay's resources)"
fi
