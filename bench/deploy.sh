#!/usr/bin/env bash
# Deployment shapes of smtpcore-sink under the same smtp-source load, side by side:
#   workers  --workers 1 vs --workers 2 (SO_REUSEPORT) vs --workers 2 --worker-socket shared
#   haproxy  direct vs through HAProxy (TCP mode, send-proxy-v2, sink --proxy-protocol v2)
# For each: messages/s (wall clock of the whole smtp-source run) and the server's CPU per
# message from the server processes' own accounting (on-CPU time in
# /proc/PID/task/*/schedstat of the sink and its workers, and of HAProxy when it is in the
# path), read before and after the load. Asserts nothing. Usage: bench/deploy.sh [MESSAGES] [SESSIONS] [SIZE] [BUILD_DIR]
# (default 4000 20 1024 build/release; without BUILD_DIR it builds the release tools).
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS=${1:-4000}
SESS=${2:-20}
SIZE=${3:-1024}
BUILD=${4:-}
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
# cpu_ns PID...: CPU time used so far (ns, from /proc/PID/task/*/schedstat) by the
# processes, their threads and their children still running.
cpu_ns() {
  local p all=()
  for p in "$@"; do all+=("$p"); all+=($(pgrep -P "$p" || true)); done
  for p in "${all[@]}"; do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
    awk '{ s += $1 } END { printf "%.0f\n", s }'
}
# load PORT PID...: runs smtp-source at PORT ($SHAPE: -d for many messages per
# connection, empty for one connection per message); prints "MSG_PER_S CPU_US_PER_MSG".
SHAPE=-d
load() {
  local port=$1; shift
  local c0 c1 t0 t1
  c0=$(cpu_ns "$@")
  t0=$(date +%s.%N)
  timeout 600 smtp-source $SHAPE -s "$SESS" -m "$MSGS" -l "$SIZE" -M bench.example.org \
    -f from@example.org -t to@example.com "127.0.0.1:$port"
  t1=$(date +%s.%N)
  c1=$(cpu_ns "$@")
  /usr/bin/python3 -c "print('%.0f %.1f' % ($MSGS / ($t1 - $t0), ($c1 - $c0) / 1e3 / $MSGS))"
}
# measure LABEL PORT PID...: warm-up, then two runs; keeps the better rate.
measure() {
  local label=$1 port=$2; shift 2
  load "$port" "$@" >/dev/null
  local a b
  a=$(load "$port" "$@"); b=$(load "$port" "$@")
  /usr/bin/python3 - "$label" "$a" "$b" <<'EOF'
import sys
label, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
best = max((a, b), key=lambda x: float(x[0]))
cpu = min(float(a[1]), float(b[1]))
print("%-44s %8s msg/s %8.1f us CPU/msg" % (label, best[0], cpu))
EOF
}

echo "smtp-source: $MSGS messages of $SIZE bytes, $SESS sessions, 127.0.0.1; $(nproc) CPUs"
echo "workers (server CPU = sink supervisor + workers); -d: many messages per connection, conn/msg: one connection per message:"
for SHAPE in -d ""; do
  sfx=" (-d)"; [ -z "$SHAPE" ] && sfx=" (conn/msg)"
  start_sink w1; measure "smtpcore-sink --workers 1$sfx" "$SPORT" "$SPID" | tee "$tmp/w1$SHAPE"; stop "$SPID"
  start_sink w2 --workers 2
  measure "smtpcore-sink --workers 2 (reuseport)$sfx" "$SPORT" "$SPID" | tee "$tmp/w2$SHAPE"; stop "$SPID"
  start_sink w2s --workers 2 --worker-socket shared
  measure "smtpcore-sink --workers 2 shared socket$sfx" "$SPORT" "$SPID" | tee "$tmp/w2s$SHAPE"; stop "$SPID"
done
SHAPE=-d
rate() { awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "msg/s") print $i}' "$1"; }
cpu() { awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "us") print $i}' "$1"; }
for sh in -d ""; do
  /usr/bin/python3 -c "print('workers 2/1 ${sh:-conn/msg}: %.2fx msg/s, CPU/msg %.2fx; shared/reuseport: %.2fx msg/s' % ($(rate "$tmp/w2$sh") / $(rate "$tmp/w1$sh"), $(cpu "$tmp/w2$sh") / $(cpu "$tmp/w1$sh"), $(rate "$tmp/w2s$sh") / $(rate "$tmp/w2$sh")))"
done

echo "haproxy (server CPU = sink; HAProxy's own CPU shown apart):"
if ! command -v haproxy >/dev/null; then
  echo "haproxy: n/a (not installed)"
  exit 0
fi
if ! "$SINK" --help | grep -q -- '--proxy-protocol'; then
  echo "haproxy: n/a (smtpcore-sink has no --proxy-protocol)"
  exit 0
fi
for SHAPE in -d ""; do
  sfx=" (-d)"; [ -z "$SHAPE" ] && sfx=" (conn/msg)"
  start_sink direct
  measure "direct to smtpcore-sink$sfx" "$SPORT" "$SPID" | tee "$tmp/direct$SHAPE"; stop "$SPID"
  start_sink behind --proxy-protocol v2
  front=$(free_port)
  sed -e "s|@DIR@|$tmp|g" -e "s|@FRONT_PORT@|$front|g" -e "s|@SINK1_PORT@|$SPORT|g" \
      -e "s|@PROXY@|send-proxy-v2|g" -e '/server sink2/d' tests/deploy/haproxy.cfg > "$tmp/haproxy.cfg"
  haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.log" 2>&1 &
  hpid=$!
  pids+=("$hpid")
  wait_port "$front"
  sleep 1 # first health check
  measure "through HAProxy (send-proxy-v2)$sfx" "$front" "$SPID" | tee "$tmp/behind$SHAPE"
  measure "  HAProxy's own CPU in that path$sfx" "$front" "$hpid"
  stop "$hpid"; stop "$SPID"
  /usr/bin/python3 -c "print('haproxy/direct ${SHAPE:-conn/msg}: %.2fx msg/s; sink CPU/msg %.2fx' % ($(rate "$tmp/behind$SHAPE") / $(rate "$tmp/direct$SHAPE"), $(cpu "$tmp/behind$SHAPE") / $(cpu "$tmp/direct$SHAPE")))"
done
