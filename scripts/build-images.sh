#!/usr/bin/env bash
# Builds the container images with no registry (Dockerfiles in docker/, legacy builder):
#   sidekick-local/node-base:<node major>     scratch + the host's own node (stripped), the shared
#                                              libraries `ldd node` lists, a non-root user app (10001)
#   sidekick-local/sidekick:latest, :<version> node-base + production dependencies + dist/ (multi-stage)
#   sidekick-local/balancer:latest, :<version>
#   sidekick-local/etcd:latest, :<etcd version> scratch + the host's etcd and etcdctl (for the compose file)
#   sidekick-demo/web:latest                   scripts/build-web-image.sh (for the compose file)
# Usage: scripts/build-images.sh [sidekick] [balancer] [etcd] [web]   (default: all four)
# node-base is built first whenever sidekick or balancer is asked for. IMAGE_PREFIX replaces
# "sidekick-local". Needs docker, node and npm, the static /bin/busybox (build stage only) and, for
# the etcd image, etcd and etcdctl. Prints each image's size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=0
prefix=${IMAGE_PREFIX:-sidekick-local}
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(sidekick balancer etcd web)
for w in "${want[@]}"; do
  case $w in sidekick | balancer | etcd | web) ;; *) echo "build-images: unknown image '$w' (sidekick, balancer, etcd, web)" >&2; exit 2 ;; esac
done
wants() { local w; for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

work=$(mktemp -d)
# Every image built here carries the label sidekick.build (the programs' build stage by its
# Dockerfile, the rest by `build`). The build stage is left untagged, and so is an earlier image
# once its tag moves to a new build: remove ours, and only ours, whatever happens.
cleanup() {
  rm -rf "$work"
  docker image prune -f --filter label=sidekick.build >/dev/null 2>&1 || true
}
trap cleanup EXIT
built=()
log() { echo "build-images: $*" >&2; }

# build TAG DOCKERFILE CONTEXT [docker build args...]: quiet unless it fails.
build() {
  local tag=$1 file=$2 ctx=$3
  shift 3
  log "building $tag"
  if ! docker build --force-rm -f "$file" -t "$tag" --label sidekick.build=image "$@" "$ctx" >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    log "building $tag failed"
    exit 1
  fi
  built+=("$tag")
}

# copy_with_libs SRC DEST ROOTFS [strip]: the binary at DEST and every shared library ldd lists
# (including the dynamic loader) at the path ldd prints, symlinks resolved.
copy_with_libs() {
  local src=$1 dest=$2 root=$3 lib
  install -D -m 0755 "$src" "$root$dest"
  if [ "${4:-}" = strip ] && command -v strip >/dev/null 2>&1; then
    strip --strip-all "$root$dest" 2>/dev/null || install -m 0755 "$src" "$root$dest"
  fi
  for lib in $( (ldd "$src" 2>/dev/null || true) | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

# make_etc ROOTFS: /etc/passwd and /etc/group with root and the non-root user app (10001), an
# nsswitch.conf for glibc, and a world-writable /tmp.
make_etc() {
  local root=$1
  install -d -m 0755 "$root/etc"
  install -d -m 1777 "$root/tmp"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' 'app:x:10001:10001:app:/home/app:/sbin/nologin' 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'app:x:10001:' 'nogroup:x:65534:' >"$root/etc/group"
  printf '%s\n' 'passwd: files' 'group: files' 'hosts: files dns' >"$root/etc/nsswitch.conf"
  chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/nsswitch.conf"
}

if wants sidekick || wants balancer; then
  # 1. The Node base, from the host's node.
  node_bin=$(readlink -f "$(command -v node)")
  node_major=$(node -p 'process.versions.node.split(".")[0]')
  base="$prefix/node-base:$node_major"
  ctx="$work/node-base"
  install -d -m 0755 "$ctx/home"
  copy_with_libs "$node_bin" /usr/local/bin/node "$ctx/rootfs" strip
  make_etc "$ctx/rootfs"
  build "$base" docker/node-base.Dockerfile "$ctx" --label "org.opencontainers.image.version=$(node --version)"

  # 2. The programs' context: dist/ from tsc, production dependencies installed from the lock file
  #    on the host (the base has no npm), and busybox for the build stage's pruning.
  if ldd /bin/busybox >/dev/null 2>&1; then
    log "/bin/busybox must be statically linked (Debian: busybox-static)"
    exit 1
  fi
  version=$(node -p 'require("./package.json").version')
  ctx="$work/app"
  mkdir -p "$ctx/dist"
  log "compiling (tsc -p tsconfig.build.json)"
  npx tsc -p tsconfig.build.json
  cp package.json package-lock.json "$ctx/"
  # npm ci installs exactly the lock file's versions. Some npm versions write lock files that their
  # own `npm ci` rejects as out of sync (missing other platforms' optional packages): then
  # `npm install`, which still takes the locked versions, in the throw-away copy.
  log "installing production dependencies (npm ci --omit=dev --omit=optional)"
  npm_flags=(--omit=dev --omit=optional --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error)
  if ! (cd "$ctx" && npm ci "${npm_flags[@]}" 2>"$work/npm.log"); then
    grep -q EUSAGE "$work/npm.log" || { cat "$work/npm.log" >&2; exit 1; }
    log "npm ci: lock file out of sync with package.json; npm install from the lock file instead"
    (cd "$ctx" && npm install "${npm_flags[@]}") >&2
  fi
  cp -r dist/common dist/sidekick dist/balancer "$ctx/dist/"
  cp /bin/busybox "$ctx/busybox"
  for program in sidekick balancer; do
    wants "$program" || continue
    build "$prefix/$program:latest" "docker/$program.Dockerfile" "$ctx" --build-arg "NODE_BASE=$base" --label "org.opencontainers.image.version=$version"
    docker tag "$prefix/$program:latest" "$prefix/$program:$version"
  done
fi

if wants etcd; then
  for bin in etcd etcdctl; do
    command -v "$bin" >/dev/null 2>&1 || { log "$bin not found (Debian: etcd-server, etcd-client)"; exit 1; }
  done
  etcd_version=$(etcd --version | awk '/^etcd Version:/ { print $3 }')
  ctx="$work/etcd"
  install -d -m 0700 "$ctx/data"
  copy_with_libs "$(readlink -f "$(command -v etcd)")" /usr/local/bin/etcd "$ctx/rootfs"
  copy_with_libs "$(readlink -f "$(command -v etcdctl)")" /usr/local/bin/etcdctl "$ctx/rootfs"
  make_etc "$ctx/rootfs"
  build "$prefix/etcd:latest" docker/etcd.Dockerfile "$ctx" --label "org.opencontainers.image.version=$etcd_version"
  docker tag "$prefix/etcd:latest" "$prefix/etcd:$etcd_version"
fi

if wants web; then
  log "building sidekick-demo/web:latest"
  bash scripts/build-web-image.sh sidekick-demo/web:latest
  built+=(sidekick-demo/web:latest)
fi

for tag in "${built[@]}"; do
  size=$(docker image inspect -f '{{.Size}}' "$tag")
  printf '%-36s %6.1f MB\n' "$tag" "$(echo "$size" | awk '{ print $1 / 1000000 }')"
done
