#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink shutdown: SIGTERM while a message is in flight and another session idles.
# The idle session gets 421; the message in flight is stored and answered 250 (then 421);
# the sink exits 0 and leaves nothing in tmp/.
source "$(dirname "$0")/lib.sh"
echo "t60: smtpcore-sink SIGTERM with a message in flight"
start_sink sink60 --maildir "$WORK/md60" --grace 10
"$PY" "$INTEROP_DIR/inflight_client.py" "$SINK_PORT" "$WORK/ready" "$WORK/go" >"$WORK/inflight.out" 2>&1 &
cpid=$!
BG_PIDS+=("$cpid")
for _ in $(seq 1 100); do [ -e "$WORK/ready" ] && break; sleep 0.1; done
check "client mid-DATA" test -e "$WORK/ready"
kill -TERM "$SINK_PID"
sleep 0.5
touch "$WORK/go"
wait "$cpid" || true
grep -q "^idle 421" "$WORK/inflight.out" && ok "idle session got 421" || { fail "idle session"; cat "$WORK/inflight.out"; }
grep -q "^msg 250" "$WORK/inflight.out" && ok "message in flight answered 250" || { fail "message in flight"; cat "$WORK/inflight.out"; }
st=0
for _ in $(seq 1 100); do kill -0 "$SINK_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SINK_PID" || st=$?
[ "$st" -eq 0 ] && ok "sink exited 0" || fail "sink exit $st"
check "message stored" test "$(count_files "$WORK/md60/new")" -eq 1
check "nothing left in tmp/" test "$(count_files "$WORK/md60/tmp")" -eq 0
f=$(find "$WORK/md60/new" -type f | head -1)
if [ -n "$f" ] && cmp -s "$f" <(printf 'Subject: in flight at shutdown\r\n\r\nfirst half\r\nsecond half\r\n'); then
  ok "stored message complete"
else
  fail "stored message incomplete"
fi
finish
