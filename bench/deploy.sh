#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Deployment shapes of smtpcore-sink under the same smtp-source load, side by side:
#   workers  --workers 1 vs --workers 2 (SO_REUSEPORT) vs --workers 2 --worker-socket shared
#   haproxy  direct vs through HAProxy (TCP mode, send-proxy-v2, sink --proxy-protocol v2)
# Every round measures each configuration once per load shape (-d: many messages per
# connection; conn/msg: one per connection), after a short warm-up, and prints one line
# per run (bench/measure.py): messages/s (wall clock of the smtp-source run), the server's
# CPU per message from the server processes' own accounting (the sink, its workers and,
# on the line of its own, HAProxy), the generator's CPU, and how busy each was.
# Asserts nothing.
# Usage: bench/deploy.sh [MESSAGES] [SESSIONS] [SIZE] [BUILD_DIR] [ROUNDS]
# (default 10000 20 1024 build/release 5; without BUILD_DIR it builds the release tools).
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS=${1:-10000}
SESS=${2:-20}
SIZE=${3:-1024}
BUILD=${4:-}
ROUNDS=${5:-5}
if [ -z "$BUILD" ]; then
  BUILD=build/release
  cmake --preset release >/dev/null
  cmake --build --preset release --target smtpcore-sink >/dev/null
fi
SINK=$BUILD/tools/smtpcore-sink
[ -x "$SINK" ] || { echo "bench/deploy: $SINK not built" >&2; exit 1; }
command -v smtp-source >/dev/null || { echo "bench/deploy: needs smtp-source" >&2; exit 1; }

tmp=$(mktemp -d /tmp/smtpcore-deploy-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]+"${pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# start_sink NAME ARGS...: SPORT, SPID
start_sink() {
  local name=$1; shift
  "$SINK" --listen 127.0.0.1:0 --quiet --max-conn 1000 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" &
  SPID=$!
  pids+=("$SPID")
  for _ in $(seq 1 100); do
    SPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.out")
    [ -n "$SPORT" ] && return 0
    sleep 0.1
  done
  echo "bench/deploy: $name did not start: $(cat "$tmp/$name.log")" >&2
  return 1
}
stop() { kill -TERM "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# measure LABEL PORT SHAPE PID...: a short warm-up, then one measured run (one line).
measure() {
  local label=$1 port=$2 shape=$3; shift 3
  local pidlist
  pidlist=$(IFS=,; echo "$*")
  gen() {
    timeout 600 /usr/bin/python3 bench/measure.py --messages "$1" --server-pid "$pidlist" -- \
      smtp-source $shape -s "$SESS" -m "$1" -l "$SIZE" -M bench.example.org \
      -f from@example.org -t to@example.com "127.0.0.1:$port"
  }
  gen $((MSGS / 10 + 1)) >/dev/null
  printf '%-48s %s\n' "$label" "$(gen "$MSGS")"
}

echo "smtp-source: $MSGS messages of $SIZE bytes, $SESS sessions, 127.0.0.1; $(nproc) CPUs; $ROUNDS rounds"
echo "workers: server CPU = sink supervisor + workers; haproxy: server CPU = the sink, HAProxy's own apart"
haproxy_ok=1
if ! command -v haproxy >/dev/null; then
  echo "haproxy: n/a (not installed)"; haproxy_ok=0
elif ! grep -q -- '--proxy-protocol' <<<"$("$SINK" --help)"; then
  echo "haproxy: n/a (smtpcore-sink has no --proxy-protocol)"; haproxy_ok=0
fi
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round =="
  for SHAPE in -d ""; do
    sfx=" (-d)"; [ -z "$SHAPE" ] && sfx=" (conn/msg)"
    start_sink w1; measure "smtpcore-sink --workers 1$sfx" "$SPORT" "$SHAPE" "$SPID"; stop "$SPID"
    start_sink w2 --workers 2
    measure "smtpcore-sink --workers 2 (reuseport)$sfx" "$SPORT" "$SHAPE" "$SPID"; stop "$SPID"
    start_sink w2s --workers 2 --worker-socket shared
    measure "smtpcore-sink --workers 2 shared socket$sfx" "$SPORT" "$SHAPE" "$SPID"; stop "$SPID"
    [ $haproxy_ok = 1 ] || continue
    start_sink direct
    measure "direct to smtpcore-sink$sfx" "$SPORT" "$SHAPE" "$SPID"; stop "$SPID"
    start_sink behind --proxy-protocol v2
    front=$(free_port)
    sed -e "s|@DIR@|$tmp|g" -e "s|@FRONT_PORT@|$front|g" -e "s|@SINK1_PORT@|$SPORT|g" \
        -e "s|@PROXY@|send-proxy-v2|g" -e '/server sink2/d' tests/deploy/haproxy.cfg > "$tmp/haproxy.cfg"
    haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
    hpid=$!
    pids+=("$hpid")
    wait_port "$front"
    sleep 1 # first health check
    measure "through HAProxy (send-proxy-v2)$sfx" "$front" "$SHAPE" "$SPID"
    measure "  HAProxy's own CPU in that path$sfx" "$front" "$SHAPE" "$hpid"
    stop "$hpid"; stop "$SPID"
  done
done
echo "== end =="
