#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink --workers: several processes on one address (SO_REUSEPORT listeners, or
# one shared listener), every message stored once, connection ids unique across workers,
# SIGTERM forwarded with the single-process no-loss guarantees (t60), one summary with the
# totals, and a worker that dies is reported in the exit status.
source "$(dirname "$0")/lib.sh"
echo "t65: smtpcore-sink --workers"
need smtp-source || { finish; exit 1; }
src() { timeout 120 smtp-source -M client.example.org -f from@example.org -t to@example.com "$@"; }
pids_in() { find "$1" -type f -printf '%f\n' | sed 's/.*P\([0-9]*\)Q.*/\1/' | sort -u | wc -l; }

for mode in reuseport shared; do
  md="$WORK/md65$mode"
  start_sink "sink65$mode" --workers 2 --worker-socket "$mode" --maildir "$md"
  check "$mode: two worker processes under the supervisor" \
    test "$(pgrep -P "$SINK_PID" | wc -l)" -eq 2
  check "$mode: smtp-source, 200 messages over 8 sessions" \
    src -s 8 -m 200 -l 512 "127.0.0.1:$SINK_PORT"
  check "$mode: 200 files stored" wait_count "$md/new" 200 10
  if [ "$mode" = reuseport ]; then
    # The kernel hashes each connection to one of the listeners: with 200 connections
    # both get some (the chance that one gets none is 2^-199).
    check "reuseport: both workers stored messages" test "$(pids_in "$md/new")" -eq 2
  fi
  ids=$(grep -o ' id=[0-9]*' "$WORK/sink65$mode.log" | sort | uniq -d | wc -l)
  check "$mode: connection ids unique across workers" test "$ids" -eq 0
  check "$mode: 200 log lines with status=250" \
    test "$(grep -c 'status=250' "$WORK/sink65$mode.log")" -eq 200
  expect_status 0 "$mode: SIGTERM stops the supervisor and both workers" stop_pid "$SINK_PID"
  check "$mode: no worker left" test -z "$(pgrep -P "$SINK_PID")"
  if grep -q 'stopped: 200 connections, 200 messages stored, 0 refused (2 workers)' \
      "$WORK/sink65$mode.log"; then ok "$mode: one summary with the totals"
  else fail "$mode: summary"; tail -3 "$WORK/sink65$mode.log"; fi
  check "$mode: one summary line" test "$(grep -c 'stopped:' "$WORK/sink65$mode.log")" -eq 1
done

# Shutdown with a message in flight and an idle session, as t60 but with 3 workers (the
# two sessions may or may not share a worker; both outcomes must hold either way).
start_sink sink65s --workers 3 --maildir "$WORK/md65s" --grace 10
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
for _ in $(seq 1 150); do kill -0 "$SINK_PID" 2>/dev/null || break; sleep 0.1; done
wait "$SINK_PID" || st=$?
[ "$st" -eq 0 ] && ok "supervisor exited 0" || fail "supervisor exit $st"
check "message stored" test "$(count_files "$WORK/md65s/new")" -eq 1
check "nothing left in tmp/" test "$(count_files "$WORK/md65s/tmp")" -eq 0
grep -q 'messages stored.*(3 workers)' "$WORK/sink65s.log" && \
  grep -q 'stopped: 2 connections, 1 messages stored, 0 refused (3 workers)' "$WORK/sink65s.log" \
  && ok "summary counts the stored message" || { fail "summary"; tail -3 "$WORK/sink65s.log"; }

# A worker killed outright: the other keeps serving, the exit status says it.
start_sink sink65k --workers 2 --maildir "$WORK/md65k"
victim=$(pgrep -P "$SINK_PID" | head -1)
kill -KILL "$victim"
sleep 0.3
check "after a worker died: smtp-source, 20 messages" src -s 2 -m 20 "127.0.0.1:$SINK_PORT"
check "20 files stored by the survivor" wait_count "$WORK/md65k/new" 20 10
check "survivor alone stored them" test "$(pids_in "$WORK/md65k/new")" -eq 1
expect_status 1 "exit status 1 after a worker was lost" stop_pid "$SINK_PID"
grep -q "worker [01] (pid $victim) killed by signal 9" "$WORK/sink65k.log" \
  && ok "lost worker logged" || { fail "lost worker log"; cat "$WORK/sink65k.log"; }

# Start-up failure in the workers (unreadable certificate): no "listening on", exit 1.
expect_status 1 "start-up failure in the workers is exit 1" \
  "$SINK" --listen 127.0.0.1:0 --workers 2 --tls-cert /nonexistent --tls-key /nonexistent
expect_status 2 "--workers 0 is a usage error" "$SINK" --workers 0
expect_status 2 "--worker-socket bad is a usage error" "$SINK" --worker-socket bad
finish
