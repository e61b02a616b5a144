#!/usr/bin/env bash
# Builds the worker image and the Flex Template, launches tokenmill on Dataflow, writes the report.
#
#   deploy/dataflow/launch.sh image      docker build + push deploy/Dockerfile
#   deploy/dataflow/launch.sh template   gcloud dataflow flex-template build (spec -> gs://)
#   deploy/dataflow/launch.sh run        gcloud dataflow flex-template run (returns once submitted)
#   deploy/dataflow/launch.sh report     tokenmill report --build OUTPUT (after the job has finished)
#
# Settings come from the environment: PROJECT, REGION, REPOSITORY (Artifact Registry, docker),
# BUCKET; for `run`: INPUT, OUTPUT, and optionally CONFIG, OVERRIDES (';'-separated key=value),
# MAX_WORKERS, MACHINE_TYPE. TAG names the image and template (default: the git commit).
# DRY_RUN=1 prints each command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/../.."

case "${1:-}" in
  image|template|run|report) ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${REPOSITORY:?set REPOSITORY}" "${BUCKET:?set BUCKET}"
TAG="${TAG:-$(git rev-parse --short HEAD 2>/dev/null || date +%Y%m%d-%H%M%S)}"
IMAGE="${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/tokenmill-worker:${TAG}"
TEMPLATE="gs://${BUCKET}/templates/tokenmill-${TAG}.json"

run() {
  if [ -n "${DRY_RUN:-}" ]; then printf '%q ' "$@"; echo; else "$@"; fi
}

case "$1" in
  image)
    run docker build --platform linux/amd64 -f deploy/Dockerfile --build-arg "EXTRAS=${EXTRAS:-}" -t "$IMAGE" .
    run docker push "$IMAGE"
    ;;
  template)
    run gcloud dataflow flex-template build "$TEMPLATE" --project "$PROJECT" \
      --image "$IMAGE" --sdk-language PYTHON --metadata-file deploy/dataflow/metadata.json
    ;;
  run)
    : "${INPUT:?set INPUT}" "${OUTPUT:?set OUTPUT}"
    # '^~^' makes '~' the separator between parameters, so values may hold commas.
    params="^~^input=${INPUT}~output=${OUTPUT}~config=${CONFIG:-default}~sdk_container_image=${IMAGE}"
    params+="~sdk_location=container"
    if [ -n "${OVERRIDES:-}" ]; then params+="~overrides=${OVERRIDES}"; fi
    run gcloud dataflow flex-template run "tokenmill-$(date +%Y%m%d-%H%M%S)" --project "$PROJECT" \
      --region "$REGION" --template-file-gcs-location "$TEMPLATE" \
      --temp-location "gs://${BUCKET}/tmp" --staging-location "gs://${BUCKET}/staging" \
      --max-workers "${MAX_WORKERS:-100}" --worker-machine-type "${MACHINE_TYPE:-n2-standard-4}" \
      --parameters "$params"
    ;;
  report)
    : "${OUTPUT:?set OUTPUT}"
    run tokenmill report --build "$OUTPUT"
    ;;
esac
