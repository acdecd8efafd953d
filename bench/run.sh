#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --profile] [-- --help]
# Installs what is missing (etcd, Docker, busybox and npm dependencies via scripts/ensure-deps.sh; nginx,
# wrk, HAProxy, Caddy and h2load from Debian here), builds the programs and the harness, runs every scenario on loopback and
# removes everything it started. The harness (bench/main.ts) does the measuring and its own cleanup;
# this wrapper is the backstop if the harness itself is killed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
command -v h2load >/dev/null 2>&1 || missing+=(nghttp2-client) # h2load: the HTTP/2 load of the https rows
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: installing ${missing[*]}" >&2
  # Debian starts nginx, HAProxy and Caddy as services after installing them unless policy-rc.d says no: we
  # only want the binaries.
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
  # Entries marked "group" lead their own process group (nginx, HAProxy, Caddy): the group is signalled,
  # and members left behind by a dead leader are found by their process group id.
  ours() { [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)" = "$2" ]; }
  members() { # pids whose process group is $1 (field 5 of /proc/<pid>/stat)
    local f
    for f in /proc/[0-9]*/stat; do
      [ "$(sed 's/.*) //' "$f" 2>/dev/null | cut -d' ' -f3)" = "$1" ] && { f=${f#/proc/}; echo "${f%/stat}"; }
    done
  }
  signal() { # signal pid start group
    if ours "$2" "$3"; then
      if [ "$4" = group ]; then kill "-$1" -- "-$2" 2>/dev/null; else kill "-$1" "$2" 2>/dev/null; fi
    elif [ "$4" = group ] && [ ! -e "/proc/$2" ] && [ -n "$(members "$2")" ]; then
      # The leader is gone, so while members live its pid is still their group id and cannot be reused.
      for m in $(members "$2"); do kill "-$1" "$m" 2>/dev/null; done
    else
      return 1
    fi
  }
  if [ -f "$work/pids" ]; then
    left=()
    while read -r pid start name group; do
      if signal TERM "$pid" "$start" "${group:-}"; then
        left+=("$pid $start ${group:-}")
        echo "bench: stopping leftover $name ($pid)" >&2
      fi
    done <"$work/pids"
    if [ ${#left[@]} -gt 0 ]; then
      sleep 2
      for entry in "${left[@]}"; do
        set -- $entry
        signal KILL "$1" "$2" "${3:-}" || true
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
