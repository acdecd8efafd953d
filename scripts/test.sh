#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, starts dockerd if it is not running,
# runs the whole suite against a real etcd and a real Docker engine. Extra arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh
stop_dockerd() {
  if [ "${STARTED_DOCKERD:-0}" = 1 ] && [ "${KEEP_DOCKERD:-0}" != 1 ]; then
    pkill -TERM -x dockerd 2>/dev/null || true
  fi
}
trap stop_dockerd EXIT
npx vitest run "$@"
