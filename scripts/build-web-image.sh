#!/usr/bin/env bash
# Builds the demo/test web image (and its HEALTHCHECK variant) from scratch + static busybox.
# Usage: scripts/build-web-image.sh [tag] [health-tag]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tag=${1:-sidekick-demo/web:latest}
health=${2:-}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/web-image/Dockerfile" "$here/web-image/Dockerfile.health" "$here/web-image/serve" "$ctx/"
cp /bin/busybox "$ctx/busybox"
chmod +x "$ctx/serve"
DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null
if [ -n "$health" ]; then
  DOCKER_BUILDKIT=0 docker build -q --build-arg "BASE=$tag" -f "$ctx/Dockerfile.health" -t "$health" "$ctx" >/dev/null
fi
