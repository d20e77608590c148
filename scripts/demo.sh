#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The first thing to run: builds smtpcore, starts smtpcore-sink on a free loopback port
# with a temporary maildir, sends one message to two recipients with smtpcore-send -v
# (MAIL, RCPT, RCPT and the data pipelined), shows the transcript and the stored file,
# then stops the sink and removes the temporary files.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/smtpcore-demo.XXXXXX)
sink_pid=""
cleanup() {
  if [ -n "$sink_pid" ] && kill -0 "$sink_pid" 2>/dev/null; then
    kill -TERM "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "setup (Debian packages) and release build"
scripts/setup.sh
# Only the three tools (and the library they link): the demo needs nothing else.
if ! { cmake --preset release && cmake --build --preset release -j"$(nproc 2>/dev/null || echo 2)" \
         --target smtpcore-sink smtpcore-send smtpcore-probe; } >"$tmp/build.log" 2>&1; then
  tail -40 "$tmp/build.log"
  echo "demo: build failed (full log above)" >&2
  exit 1
fi
bin=build/release/tools
echo "built $bin/smtpcore-sink, smtpcore-send, smtpcore-probe"

step "start smtpcore-sink (maildir $tmp/maildir)"
"$bin/smtpcore-sink" --listen 127.0.0.1:0 --maildir "$tmp/maildir" \
  >"$tmp/sink.out" 2>"$tmp/sink.log" &
sink_pid=$!
port=""
for _ in $(seq 1 50); do
  port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/sink.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/sink.log" >&2; echo "demo: sink did not start" >&2; exit 1; }
cat "$tmp/sink.out"

printf '%s\r\n' "From: Demo <demo@example.com>" "To: alice@example.com, bob@example.com" \
  "Subject: Hello from smtpcore" "" "Hi both," ".this line starts with a dot" "Bye." \
  > "$tmp/message.eml"

step "smtpcore-send -v (C: sent, S: received)"
"$bin/smtpcore-send" -v --from demo@example.com --to alice@example.com --to bob@example.com \
  "127.0.0.1:$port" "$tmp/message.eml"

step "stop the sink (SIGTERM); its log"
kill -TERM "$sink_pid"
wait "$sink_pid"
sink_pid=""
cat "$tmp/sink.log"

step "the stored file ($(ls "$tmp/maildir/new" | wc -l) in maildir/new)"
for f in "$tmp"/maildir/new/*; do
  echo "-- $(basename "$f")"
  cat "$f"
done
if cmp -s "$tmp"/maildir/new/* "$tmp/message.eml"; then
  echo "-- identical, byte for byte, to the message sent"
else
  echo "demo: stored file differs from the message sent" >&2
  exit 1
fi
