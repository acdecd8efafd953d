#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --profile] [-- --help]
# Installs what is missing (etcd, Docker, busybox and npm dependencies via scripts/ensure-deps.sh; nginx
# and wrk from Debian here), builds the programs and the harness, runs every scenario on loopback and
# removes everything it started. The harness (bench/main.ts) does the measuring and its own cleanup;
# this wrapper is the backstop if the harness itself is killed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  # Debian starts nginx on port 80 after installing it unless policy-rc.d says no: we only want the binary.
  added_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  as_root apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$added_policy" = 1 ] && as_root rm -f /usr/sbin/policy-rc.d
fi
export PATH="$PATH:/usr/sbin"

work=$(mktemp -d "${TMPDIR:-/tmp}/sidekick-bench-XXXXXX")
export BENCH_WORK="$work"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Backstop: stop exactly the processes the harness recorded (pid + kernel start time), if still alive.
  ours() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)" = "$2" ]; }
  if [ -f "$work/pids" ]; then
    left=()
    while read -r pid start name; do
      if ours "$pid" "$start"; then left+=("$pid $start"); kill -TERM "$pid" 2>/dev/null && echo "bench: stopping leftover $name ($pid)" >&2; fi
    done <"$work/pids"
    if [ ${#left[@]} -gt 0 ]; then
      sleep 2
      for entry in "${left[@]}"; do
        set -- $entry
        if ours "$1" "$2"; then kill -KILL "$1" 2>/dev/null || true; fi
      done
    fi
  fi
  rm -rf "$work"
  if [ "${STARTED_DOCKERD:-0}" = 1 ] && [ -r /var/run/docker.pid ]; then
    kill -TERM "$(cat /var/run/docker.pid)" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Incremental builds (fast when nothing changed); tsc does not notice deleted outputs, so start over then.
[ -f dist/balancer/main.js ] && [ -f dist/sidekick/main.js ] || rm -f dist/.tsbuildinfo-bench
[ -f dist/bench/main.js ] || rm -f dist/bench/.tsbuildinfo
npx tsc -p tsconfig.build.json --incremental --tsBuildInfoFile dist/.tsbuildinfo-bench
npx tsc -p bench/tsconfig.json
node dist/bench/main.js "$@"
