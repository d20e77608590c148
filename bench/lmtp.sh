#!/usr/bin/env bash
# smtpcore-sink --lmtp vs Postfix smtp-sink -L under the same smtp-source -L load, side by
# side on 127.0.0.1: messages/s (wall clock of the whole smtp-source run) and the server's
# CPU per message from the server process's own accounting (on-CPU time in
# /proc/PID/task/*/schedstat, read before and after the load). Both servers discard the
# mail (no --maildir; smtp-sink never stores), so this compares LMTP handling: LHLO, the
# envelope, the data and one reply per recipient after it. Two shapes: -d (many messages
# per connection) and one connection per message; RCPTS recipients per message.
# Asserts nothing. Usage: bench/lmtp.sh [MESSAGES] [SESSIONS] [SIZE] [RCPTS] [BUILD_DIR]
# (default 4000 10 1024 3 build/release; without BUILD_DIR it builds the release tools).
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS=${1:-4000}
SESS=${2:-10}
SIZE=${3:-1024}
RCPTS=${4:-3}
BUILD=${5:-}
if [ -z "$BUILD" ]; then
  BUILD=build/release
  cmake --preset release >/dev/null
  cmake --build --preset release --target smtpcore-sink >/dev/null
fi
SINK=$BUILD/tools/smtpcore-sink
[ -x "$SINK" ] || { echo "bench/lmtp: $SINK not built" >&2; exit 1; }
command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null ||
  { echo "bench/lmtp: needs Postfix's smtp-source and smtp-sink (scripts/setup.sh)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/smtpcore-lmtp-bench.XXXXXX)
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
# cpu_ns PID: on-CPU time so far (ns) of the process and its threads.
cpu_ns() {
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
# load PORT PID: one smtp-source -L run ($SHAPE); prints "MSG_PER_S CPU_US_PER_MSG".
SHAPE=-d
load() {
  local port=$1 pid=$2 c0 c1 t0 t1
  c0=$(cpu_ns "$pid")
  t0=$(date +%s.%N)
  timeout 600 smtp-source -L $SHAPE -s "$SESS" -m "$MSGS" -l "$SIZE" -r "$RCPTS" \
    -M bench.example.org -f from@example.org -t to@example.com "127.0.0.1:$port"
  t1=$(date +%s.%N)
  c1=$(cpu_ns "$pid")
  /usr/bin/python3 -c "print('%.0f %.1f' % ($MSGS / ($t1 - $t0), ($c1 - $c0) / 1e3 / $MSGS))"
}
# measure LABEL PORT PID: warm-up, then two runs; the better rate and the lower CPU.
measure() {
  local label=$1 port=$2 pid=$3 a b
  load "$port" "$pid" >/dev/null
  a=$(load "$port" "$pid"); b=$(load "$port" "$pid")
  /usr/bin/python3 - "$label" "$a" "$b" <<'PYEOF'
import sys
label, a, b = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
best = max((a, b), key=lambda x: float(x[0]))
cpu = min(float(a[1]), float(b[1]))
print("%-34s %8s msg/s %8.1f us CPU/msg" % (label, best[0], cpu))
PYEOF
}

"$SINK" --lmtp --listen 127.0.0.1:0 --quiet --max-conn 1000 >"$tmp/sink.out" 2>"$tmp/sink.log" &
spid=$!
pids+=("$spid")
for _ in $(seq 1 100); do
  sport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/sink.out")
  [ -n "$sport" ] && break; sleep 0.1
done
[ -n "${sport:-}" ] || { echo "bench/lmtp: smtpcore-sink --lmtp did not start: $(cat "$tmp/sink.log")" >&2; exit 1; }
pport=$(free_port)
user=$(id -un); [ "$(id -u)" -eq 0 ] && user=nobody
smtp-sink -L -u "$user" -m 1000 "127.0.0.1:$pport" 256 >"$tmp/psink.log" 2>&1 &
ppid_=$!
pids+=("$ppid_")
wait_port "$sport"; wait_port "$pport"

echo "smtp-source -L: $MSGS messages of $SIZE bytes, $RCPTS recipients each, $SESS sessions, 127.0.0.1; $(nproc) CPUs"
for SHAPE in -d ""; do
  sfx=" (-d)"; [ -z "$SHAPE" ] && sfx=" (conn/msg)"
  measure "smtpcore-sink --lmtp$sfx" "$sport" "$spid" | tee "$tmp/ours$SHAPE"
  measure "smtp-sink -L$sfx" "$pport" "$ppid_" | tee "$tmp/theirs$SHAPE"
done
rate() { awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "msg/s") print $i}' "$1"; }
cpu() { awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "us") print $i}' "$1"; }
for sh in -d ""; do
  /usr/bin/python3 -c "print('lmtp ${sh:-conn/msg}: msg/s ratio %.2f, server CPU/msg ratio %.2f (smtpcore-sink / smtp-sink)' % ($(rate "$tmp/ours$sh") / $(rate "$tmp/theirs$sh"), $(cpu "$tmp/ours$sh") / $(cpu "$tmp/theirs$sh")))"
done
