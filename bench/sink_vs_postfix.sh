#!/usr/bin/env bash
# smtpcore-sink vs Postfix smtp-sink under the same smtp-source load, on 127.0.0.1.
# Prints messages/s for each and the ratio; asserts nothing about speed.
# Usage: bench/sink_vs_postfix.sh [MESSAGES] [SESSIONS] [SIZE]   (default 5000 10 1024)
# Two load shapes: -d (many messages per connection) and one connection per message.
# Both servers discard the mail (smtp-sink never stores; smtpcore-sink runs without
# --maildir), so the numbers compare protocol handling, not disks. Builds the release
# tools first (build/release).
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS=${1:-5000}
SESS=${2:-10}
SIZE=${3:-1024}

command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null ||
  { echo "bench: needs Postfix's smtp-source and smtp-sink (scripts/setup.sh)" >&2; exit 1; }
cmake --preset release >/dev/null
cmake --build --preset release --target smtpcore-sink >/dev/null
SINK=build/release/tools/smtpcore-sink

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

# run PORT EXTRA-FLAGS: prints messages per second
run() {
  local port=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  timeout 600 smtp-source "$@" -s "$SESS" -m "$MSGS" -l "$SIZE" -M bench.example.org \
    -f from@example.org -t to@example.com "127.0.0.1:$port"
  t1=$(date +%s.%N)
  /usr/bin/python3 -c "import sys; print('%.0f' % ($MSGS / ($t1 - $t0)))"
}

"$SINK" --listen 127.0.0.1:0 --quiet --max-conn 1000 >"$tmp/sink.out" 2>"$tmp/sink.log" &
pids+=($!)
for _ in $(seq 1 50); do
  sport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/sink.out")
  [ -n "$sport" ] && break; sleep 0.1
done
pport=$(free_port)
user=$(id -un); [ "$(id -u)" -eq 0 ] && user=nobody
smtp-sink -u "$user" -m 1000 "127.0.0.1:$pport" 256 >"$tmp/psink.log" 2>&1 &
pids+=($!)
wait_port "$sport"; wait_port "$pport"

echo "smtp-source: $MSGS messages of $SIZE bytes, $SESS sessions, 127.0.0.1"
printf '%-34s %14s %14s %7s\n' "load" "smtpcore-sink" "smtp-sink" "ratio"
for shape in "-d" ""; do
  label="many messages per connection (-d)"
  [ -z "$shape" ] && label="one connection per message"
  # warm-up, then the measured runs (same order for both)
  run "$sport" $shape >/dev/null; run "$pport" $shape >/dev/null
  a=$(run "$sport" $shape)
  b=$(run "$pport" $shape)
  r=$(/usr/bin/python3 -c "print('%.2f' % ($a / $b))")
  printf '%-34s %10s msg/s %8s msg/s %6sx\n' "$label" "$a" "$b" "$r"
done
echo "(ratio = smtpcore-sink / smtp-sink; above 1 means smtpcore-sink is faster)"

# For scale: the same sink storing every message (tmp/, fsync, rename, fsync of new/).
"$SINK" --listen 127.0.0.1:0 --quiet --maildir "$tmp/maildir" >"$tmp/sinkmd.out" 2>"$tmp/sinkmd.log" &
pids+=($!)
for _ in $(seq 1 50); do
  mport=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/sinkmd.out")
  [ -n "$mport" ] && break; sleep 0.1
done
wait_port "$mport"
m=$(run "$mport" -d)
stored=$(find "$tmp/maildir/new" -type f | wc -l)
printf '%-34s %10s msg/s   (%s files, fsync per message; smtp-sink stores nothing)\n' \
  "smtpcore-sink --maildir, -d" "$m" "$stored"
