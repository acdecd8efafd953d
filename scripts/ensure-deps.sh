#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine (as root, or with sudo):
# etcd, etcdctl, Docker, static busybox for the test image, Chromium, systemd-analyze, docker-compose,
# openssl, curl, iproute2, and the npm dependencies.
# Then makes sure a Docker engine answers, starting dockerd if needed.
# Source it: it exports STARTED_DOCKERD=1 when it started dockerd, so the caller can stop it.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
{ [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q 'statically linked'; } || missing+=(busybox-static)
command -v file >/dev/null 2>&1 || missing+=(file)
[ -x /usr/bin/chromium ] || missing+=(chromium) # headless browser for the dashboard test (driven by playwright-core)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)       # verifies templates/*.service
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose) # validates templates/docker-compose.yml
command -v openssl >/dev/null 2>&1 || missing+=(openssl)               # test certificates for etcd TLS
command -v curl >/dev/null 2>&1 || missing+=(curl)                     # the demo's curl loop
command -v ip >/dev/null 2>&1 || missing+=(iproute2)                   # network namespaces in the fault suite
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# A node_modules that is a symlink belongs to another checkout (a git worktree): never reinstall through it.
if [ ! -L node_modules ] && { [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] || [ ! -d dist ]; }; then
  echo "ensure-deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

STARTED_DOCKERD=${STARTED_DOCKERD:-0}
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "ensure-deps: starting dockerd" >&2
  as_root sh -c 'nohup dockerd >/tmp/sidekick-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break
    sleep 0.5
  done
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || { echo "ensure-deps: dockerd did not start; see /tmp/sidekick-dockerd.log" >&2; exit 1; }
  STARTED_DOCKERD=1
fi
export STARTED_DOCKERD
