#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink vs Postfix smtp-sink under the same smtp-source load, on 127.0.0.1.
# Usage: bench/sink_vs_postfix.sh [MESSAGES] [SESSIONS] [SIZE] [ROUNDS] [BUILD_DIR]
#        (default 20000 10 1024 5; without BUILD_DIR it builds the release tools in
#        build/release)
# Two load shapes: -d (many messages per connection) and one connection per message.
# smtp-source waits for every reply, and on two CPUs it is the ceiling of messages/s before
# a fast server is; so a third shape, "pipelined", loads both servers with the project's
# own generator, bench_loadgen (C, the smtpcore client engine: MAIL, RCPT and DATA
# pipelined, the next MAIL behind the final dot, one round trip per message), when it is
# built in BUILD_DIR/bench. Both servers start once; after a warm-up of each, every round runs each shape against
# both servers, interleaved (the order flips from round to round), and prints one line
# per run (bench/measure.py): messages/s, the server's CPU per message from its own
# accounting, the generator's CPU per message, and how busy each was (% of one core).
# Both servers discard the mail (smtp-sink never stores; smtpcore-sink runs without
# --maildir), so the numbers compare protocol handling, not disks. Asserts nothing.
# A third server runs in the same rounds when BUILD_DIR/bench/bench_floor_sink is built:
# the floor, smtpcore-sink's readiness loop with canned replies and no SMTP engine (see
# its header). Its CPU per message is what the load alone costs any server, so its ratio
# to smtp-sink is the lowest any server could reach here (bench/report.py shows it in
# row 6). The three run in an order that rotates from round to round.
# With LMTP=1 in the environment (bench/lmtp.sh) it compares smtpcore-sink --lmtp with
# smtp-sink -L under smtp-source -L, RCPTS recipients per message (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS=${1:-20000}
SESS=${2:-10}
SIZE=${3:-1024}
ROUNDS=${4:-5}
BUILD=${5:-}
LMTP=${LMTP:-0}
RCPTS=${RCPTS:-3}
if [ "$LMTP" = 1 ]; then ours_flag=(--lmtp); theirs_flag=(-L); src_flag=(-L -r "$RCPTS")
else ours_flag=(); theirs_flag=(); src_flag=(); fi

command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null ||
  { echo "bench: needs Postfix's smtp-source and smtp-sink (scripts/setup.sh)" >&2; exit 1; }
if [ -z "$BUILD" ]; then
  BUILD=build/release
  cmake --preset release >/dev/null
  cmake --build --preset release --target smtpcore-sink bench_loadgen bench_floor_sink >/dev/null
fi
SINK=$BUILD/tools/smtpcore-sink
LOADGEN=$BUILD/bench/bench_loadgen
[ -x "$LOADGEN" ] && [ "$LMTP" != 1 ] || LOADGEN=
FLOOR=$BUILD/bench/bench_floor_sink
[ -x "$FLOOR" ] && [ "$LMTP" != 1 ] || FLOOR=   # it speaks no LMTP
FLOOR_ARGS=(${FLOOR_ARGS:-})   # a variant of the floor (its options: bench/bench_floor_sink.c), for experiments
[ -x "$SINK" ] || { echo "bench: $SINK not built" >&2; exit 1; }

tmp=$(mktemp -d /tmp/smtpcore-bench.XXXXXX)
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
# start_sink NAME ARGS...: sets SPORT and SPID
start_sink() {
  local name=$1; shift
  "$SINK" "${ours_flag[@]+"${ours_flag[@]}"}" --listen 127.0.0.1:0 --quiet --max-conn 1000 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" &
  SPID=$!
  pids+=("$SPID")
  for _ in $(seq 1 100); do
    SPORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.out")
    [ -n "$SPORT" ] && return 0
    sleep 0.1
  done
  echo "bench: smtpcore-sink did not start: $(cat "$tmp/$name.log")" >&2
  return 1
}

# load PORT PID SHAPE [N]: one generator run, measured (one line, see bench/measure.py)
load() {
  local port=$1 pid=$2 shape=$3 n=${4:-$MSGS}
  if [ "$shape" = pipelined ]; then
    timeout 600 /usr/bin/python3 bench/measure.py --messages "$n" --server-pid "$pid" -- \
      "$LOADGEN" "127.0.0.1:$port" "$n" "$SESS" "$SIZE"
    return
  fi
  timeout 600 /usr/bin/python3 bench/measure.py --messages "$n" --server-pid "$pid" -- \
    smtp-source "${src_flag[@]+"${src_flag[@]}"}" $shape -s "$SESS" -m "$n" -l "$SIZE" -M bench.example.org \
    -f from@example.org -t to@example.com "127.0.0.1:$port"
}
SHAPES=(-d "")
[ -n "$LOADGEN" ] && SHAPES+=(pipelined)

start_sink sink; sport=$SPORT; spid=$SPID
pport=$(free_port)
user=$(id -un); [ "$(id -u)" -eq 0 ] && user=nobody
smtp-sink "${theirs_flag[@]+"${theirs_flag[@]}"}" -u "$user" -m 1000 "127.0.0.1:$pport" 256 >"$tmp/psink.log" 2>&1 &
ppid_=$!
pids+=("$ppid_")
wait_port "$sport"; wait_port "$pport"
WHO=(ours theirs)
if [ -n "$FLOOR" ]; then
  "$FLOOR" --listen 127.0.0.1:0 "${FLOOR_ARGS[@]+"${FLOOR_ARGS[@]}"}" >"$tmp/floor.out" 2>"$tmp/floor.log" &
  fpid=$!
  pids+=("$fpid")
  for _ in $(seq 1 100); do
    fport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/floor.out")
    [ -n "$fport" ] && break
    sleep 0.1
  done
  [ -n "$fport" ] || { echo "bench: bench_floor_sink did not start: $(cat "$tmp/floor.log")" >&2; exit 1; }
  WHO+=(floor)
fi

[ "$LMTP" = 1 ] && echo "LMTP: smtpcore-sink --lmtp vs smtp-sink -L, smtp-source -L -r $RCPTS"
echo "smtp-source: $MSGS messages of $SIZE bytes per run, $SESS sessions, 127.0.0.1," \
     "$ROUNDS rounds; $(nproc) CPUs"
for shape in "${SHAPES[@]}"; do   # warm-up: caches, the listen queues, the page cache of the tools
  load "$sport" "$spid" "$shape" $((MSGS / 10 + 1)) >/dev/null
  load "$pport" "$ppid_" "$shape" $((MSGS / 10 + 1)) >/dev/null
  [ -z "$FLOOR" ] || load "$fport" "$fpid" "$shape" $((MSGS / 10 + 1)) >/dev/null
done
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round =="
  for shape in "${SHAPES[@]}"; do
    name=${shape:-conn/msg}
    # Two servers: the order flips every round; three: it rotates (each one first,
    # second and last in turn).
    if [ ${#WHO[@]} -eq 2 ]; then
      if [ $((round % 2)) -eq 1 ]; then order="ours theirs"; else order="theirs ours"; fi
    else
      k=$(((round - 1) % 3)); order="${WHO[*]:k} ${WHO[*]:0:k}"
    fi
    for who in $order; do
      case $who in
        ours) printf '%-9s %-14s %s\n' "$name" smtpcore-sink "$(load "$sport" "$spid" "$shape")" ;;
        theirs) printf '%-9s %-14s %s\n' "$name" smtp-sink "$(load "$pport" "$ppid_" "$shape")" ;;
        floor) printf '%-9s %-14s %s\n' "$name" floor "$(load "$fport" "$fpid" "$shape")" ;;
      esac
    done
  done
done
echo "== end =="

[ "$LMTP" = 1 ] && exit 0
# For scale: the same sink storing every message (tmp/, fsync, rename, fsync of new/).
start_sink maildir --maildir "$tmp/maildir"
n=$((MSGS < 2000 ? MSGS : 2000))
m=$(load "$SPORT" "$SPID" -d "$n")
stored=$(find "$tmp/maildir/new" -type f | wc -l)
printf 'maildir   smtpcore-sink  %s (%s files, fsync per message; smtp-sink stores nothing)\n' \
  "$m" "$stored"
