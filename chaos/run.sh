#!/usr/bin/env bash
# `npm run chaos`: installs what is missing, builds the programs and the harness, builds the web image
# under a chaos-only tag, runs the scenarios (CHAOS_ONLY=1,4 or CHAOS_FAST=1 to choose) and prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
stop_dockerd() {
  # Leave nothing running: stop the engine again if this script started it (KEEP_DOCKERD=1 keeps it).
  if [ "${STARTED_DOCKERD:-0}" = 1 ] && [ "${KEEP_DOCKERD:-0}" != 1 ]; then
    pkill -TERM -x dockerd 2>/dev/null || true
  fi
}
trap stop_dockerd EXIT
npx tsc -p tsconfig.build.json
npx tsc -p chaos/tsconfig.json
# The test helpers locate the programs as <their root>/dist/<name>/main.js; compiled under dist/chaos
# their root is dist/chaos, so point dist/chaos/dist back at dist.
ln -sfn .. dist/chaos/dist
export CHAOS_IMAGE=${CHAOS_IMAGE:-sidekick-chaos/web:latest}
bash scripts/build-web-image.sh "$CHAOS_IMAGE"
node dist/chaos/chaos/run.js
