#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Unix-domain sockets in the tools: smtpcore-sink --listen unix:PATH (mode, stale socket
# replaced, live socket and other files refused, file removed on exit), smtpcore-send and
# smtpcore-probe to unix:PATH.
source "$(dirname "$0")/lib.sh"
echo "l10: Unix-domain sockets (sink, send, probe)"
make_message "$WORK/msg.eml" l10
sock="$WORK/sink.sock"

start_unix_sink u1 "$sock" --maildir "$WORK/md"
check "socket file created with the default mode 0666" \
  test "$(stat -c '%F %a' "$sock")" = "socket 666"
expect_status 0 "smtpcore-send to unix:PATH, two recipients" \
  timeout 30 "$SEND" -q --from sender@example.com --to one@example.com --to two@example.com \
    "unix:$sock" "$WORK/msg.eml" 2>/dev/null
if wait_count "$WORK/md/new" 1 5 && cmp -s "$(find "$WORK/md/new" -type f | head -1)" "$WORK/msg.eml"; then
  ok "stored file byte-identical to the message"
else
  fail "stored file differs or is missing"
fi
check "log line: peer=unix and both recipients" \
  grep -q "peer=unix .*to=<one@example.com>,<two@example.com> .*status=250" "$WORK/u1.log"

timeout 60 "$PROBE" --json "unix:$sock" >"$WORK/probe.json" 2>&1 || true
if $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["conformant"] and d["target"]==sys.argv[2] else 1)' \
     "$WORK/probe.json" "unix:$sock"; then
  ok "smtpcore-probe unix:PATH: conformant, target named"
else
  fail "smtpcore-probe unix:PATH"; cat "$WORK/probe.json"
fi

# A second sink on the same live socket must refuse to start and leave the first alone.
st=0
timeout 10 "$SINK" --listen "unix:$sock" >/dev/null 2>"$WORK/second.log" || st=$?
if [ "$st" -eq 1 ] && grep -q "another server is listening" "$WORK/second.log"; then
  ok "second sink on a live socket: exit 1, socket left alone"
else
  fail "second sink on a live socket: exit $st"; cat "$WORK/second.log"
fi
expect_status 0 "first sink still answers after that" \
  timeout 30 "$SEND" -q --from sender@example.com --to one@example.com "unix:$sock" "$WORK/msg.eml" 2>/dev/null

expect_status 0 "SIGTERM: sink exits 0" stop_pid "$SINK_PID"
check "socket file removed on exit" test ! -e "$sock"
expect_status 2 "smtpcore-send to a socket nobody listens on: exit 2 (temporary)" \
  timeout 30 "$SEND" -q --from sender@example.com --to one@example.com "unix:$sock" "$WORK/msg.eml" 2>/dev/null

# A stale socket (its server killed with SIGKILL) is replaced on the next start.
start_unix_sink u2 "$sock" --socket-mode 0600
kill -KILL "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
check "SIGKILL leaves the socket file behind" test -S "$sock"
start_unix_sink u3 "$sock" --socket-mode 0640
check "stale socket replaced; --socket-mode 0640 applied" \
  test "$(stat -c '%F %a' "$sock")" = "socket 640"
expect_status 0 "the new sink answers" \
  timeout 30 "$SEND" -q --from sender@example.com --to one@example.com "unix:$sock" "$WORK/msg.eml" 2>/dev/null
expect_status 0 "SIGTERM: second sink exits 0" stop_pid "$SINK_PID"

# --workers N share one unix: listener; the supervisor removes the file at the end.
start_unix_sink uw "$sock" --workers 2 --maildir "$WORK/mdw"
okw=1
for i in 1 2 3 4 5 6; do
  timeout 30 "$SEND" -q --from sender@example.com --to "w$i@example.com" "unix:$sock" "$WORK/msg.eml" || okw=0
done
check "--workers 2 on unix:PATH: six messages delivered" test "$okw" -eq 1
check "six files stored" wait_count "$WORK/mdw/new" 6 5
expect_status 0 "SIGTERM: supervisor exits 0" stop_pid "$SINK_PID"
check "socket file removed after the workers stopped" test ! -e "$sock"

# Something that is not a socket is never removed.
echo keep >"$WORK/plain"
st=0
timeout 10 "$SINK" --listen "unix:$WORK/plain" >/dev/null 2>"$WORK/plain.log" || st=$?
if [ "$st" -eq 1 ] && grep -q "not a socket" "$WORK/plain.log" && [ "$(cat "$WORK/plain")" = keep ]; then
  ok "a regular file at PATH: exit 1, file untouched"
else
  fail "regular file at PATH: exit $st"; cat "$WORK/plain.log"
fi
expect_status 2 "--socket-mode 999 is a usage error" "$SINK" --listen "unix:$sock" --socket-mode 999 2>/dev/null
long=$(printf 'x%.0s' $(seq 1 120))
expect_status 2 "a socket path longer than sun_path is a usage error" "$SINK" --listen "unix:/tmp/$long" 2>/dev/null
finish
