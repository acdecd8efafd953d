#!/usr/bin/env bash
# npm run demo: etcd (embedded unless ETCD_ENDPOINTS is set) + balancer + sidekick + three web
# containers, a curl loop showing round-robin, then one scale up and one scale down.
# Ctrl-C (or the end, with DEMO_ONCE=1) removes everything it created.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-deps.sh

PORT=${DEMO_PORT:-8080}
ADMIN=${DEMO_ADMIN_PORT:-9090}
LABEL=sidekick.demo
work=$(mktemp -d)
pids=()

cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: cleaning up"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  ids=$(docker ps -aq --filter "label=$LABEL" 2>/dev/null || true)
  [ -n "$ids" ] && docker rm -f $ids >/dev/null 2>&1 || true
  rm -rf "$work"
  if [ "${STARTED_DOCKERD:-0}" = 1 ]; then pkill -TERM -x dockerd 2>/dev/null || true; fi
  echo "demo: done"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

npx tsc -p tsconfig.build.json

if [ -z "${ETCD_ENDPOINTS:-}" ]; then
  cport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  pport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  etcd --name demo --data-dir "$work/etcd" \
    --listen-client-urls "http://127.0.0.1:$cport" --advertise-client-urls "http://127.0.0.1:$cport" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "demo=http://127.0.0.1:$pport" --logger zap --log-level error >"$work/etcd.log" 2>&1 &
  pids+=($!)
  export ETCD_ENDPOINTS="http://127.0.0.1:$cport"
  for _ in $(seq 1 100); do curl -fs "$ETCD_ENDPOINTS/health" >/dev/null 2>&1 && break; sleep 0.1; done
  echo "demo: embedded etcd at $ETCD_ENDPOINTS (data in $work/etcd)"
else
  echo "demo: using etcd at $ETCD_ENDPOINTS"
fi

echo "demo: building the web image (scratch + busybox)"
bash scripts/build-web-image.sh sidekick-demo/web:latest

node dist/balancer/main.js --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN" --default-service web >"$work/balancer.log" 2>&1 &
pids+=($!)
node dist/sidekick/main.js --host-ip 127.0.0.1 --node demo --metrics 127.0.0.1:0 >"$work/sidekick.log" 2>&1 &
pids+=($!)

run_web() { docker run -d --name "$1" --hostname "$1" --label "$LABEL=1" --label sidekick.service=web -p 127.0.0.1::80 sidekick-demo/web:latest >/dev/null; }
for i in 1 2 3; do docker rm -f "demo-web-$i" >/dev/null 2>&1 || true; run_web "demo-web-$i"; done

for _ in $(seq 1 100); do
  [ "$(curl -s "http://127.0.0.1:$ADMIN/api/table" | grep -o '"instance"' | wc -l)" -ge 3 ] && break
  sleep 0.1
done

show() {
  echo "  \$ for i in \$(seq 1 $1); do curl -s http://127.0.0.1:$PORT/; done"
  for _ in $(seq 1 "$1"); do printf '    %s\n' "$(curl -s "http://127.0.0.1:$PORT/")"; done
}

cat <<TXT

demo: running
  proxy      http://127.0.0.1:$PORT/
  admin      http://127.0.0.1:$ADMIN/readyz  /metrics  /api/table
  registry   ETCDCTL_API=3 etcdctl --endpoints $ETCD_ENDPOINTS get --prefix /services
  logs       $work/{balancer,sidekick}.log

three web containers, round-robin:
TXT
show 6

echo
echo "scale up: docker run demo-web-4"
run_web demo-web-4
for _ in $(seq 1 50); do [ "$(curl -s "http://127.0.0.1:$ADMIN/api/table" | grep -o '"instance"' | wc -l)" -ge 4 ] && break; sleep 0.1; done
show 8

echo
echo "scale down: docker stop demo-web-1"
docker stop -t 1 demo-web-1 >/dev/null
show 6

if [ "${DEMO_ONCE:-0}" = 1 ] || [ ! -t 0 ]; then exit 0; fi
echo
echo "demo: press Ctrl-C to stop and remove everything"
while true; do sleep 3600; done
