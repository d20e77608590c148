#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink under faults and hostile clients (issue 18, item 3): descriptor limits
# (EMFILE), slowloris (command and content deadlines, 421 mid-DATA), AUTH guessing (per
# session limit, delay, per-address limit), failed stores (logged with their reason,
# counted at shutdown). Every wait is bounded; 127.0.0.1 only.
source "$(dirname "$0")/lib.sh"
echo "t49: smtpcore-sink faults"
HC() { timeout 60 "$PY" "$INTEROP_DIR/hostile_client.py" "$@"; }
# has OUTPUT-FILE LINE-REGEX DESCRIPTION
has() { if grep -qE -e "$2" "$1"; then ok "$3"; else fail "$3"; sed 's/^/      /' "$1"; fi; }
# cpu_ticks PID: user + system CPU time of PID in clock ticks
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

# --- descriptor limits: --max-conn fits ulimit -n; beyond it 421, never a busy loop
( ulimit -n 12; timeout 5 "$SINK" --listen 127.0.0.1:0 --maildir "$WORK/md49x" ) >"$WORK/x.out" 2>&1 \
  && st=0 || st=$?
check "ulimit -n 12: the sink refuses to start (exit 1)" test "$st" -eq 1
has "$WORK/x.out" "open file limit \(12\) leaves no descriptor" "ulimit -n 12: it says why"

for lim in 64 65; do
  args=(--maildir "$WORK/md49f$lim")
  [ "$lim" = 65 ] && args=()   # without --maildir: one descriptor per connection
  start_listener "f$lim" bash -c "ulimit -n $lim; exec \"\$0\" \"\$@\"" "$SINK" \
    --listen 127.0.0.1:0 "${args[@]}"
  has "$WORK/f$lim.log" "--max-conn lowered to [1-9][0-9]* \(open file limit $lim\)" \
    "ulimit -n $lim: --max-conn fitted to the limit"
  cap=$(sed -n 's/.*--max-conn lowered to \([0-9]*\).*/\1/p' "$WORK/f$lim.log")
  cap=${cap:-1000}
  check "ulimit -n $lim: room for at least 10 connections (--max-conn $cap)" test "$cap" -ge 10 \
    -a "$cap" -lt 1000
  t0=$(date +%s%N); c0=$(cpu_ticks "$LAST_PID")
  HC flood "$LAST_PORT" 70 >"$WORK/f$lim.res" || true
  sleep 1   # idle time counts too: a spinning loop would burn it
  t1=$(date +%s%N); c1=$(cpu_ticks "$LAST_PID")
  g220=0 g421=0 nog=70 stored=0 refused=0
  read -r g220 g421 nog stored refused < <(sed 's/[a-z0-9]*=//g' "$WORK/f$lim.res") || true
  check "ulimit -n $lim: $g220 connections served, the cap ($cap)" test "$g220" -eq "$cap"
  check "ulimit -n $lim: the $g421 beyond the cap got 421, none was left without a greeting" \
    test "$g421" -eq $((70 - cap)) -a "$nog" -eq 0
  check "ulimit -n $lim: every accepted message got 250 ($stored), none 451" \
    test "$stored" -eq "$cap" -a "$refused" -eq 0
  # sink CPU over the flood and the idle second after it, against the wall time
  pct=$(( (c1 - c0) * 1000000000 / TCK * 100 / (t1 - t0 + 1) ))
  check "ulimit -n $lim: the sink used ${pct}% CPU (< 30%: no accept loop)" test "$pct" -lt 30
  [ "$lim" = 64 ] && check "ulimit -n 64: $cap messages stored" \
    test "$(count_files "$WORK/md49f64/new")" -eq "$cap"
  stop_pid "$LAST_PID" || true
done

# --- EMFILE while under the cap (another process took the descriptors): faked with an
# LD_PRELOAD shim, since the sink fits --max-conn to its own limit
# greeting PORT: the first reply line a new connection gets within 3 s ("none" if none)
greeting() {
  "$PY" - "$1" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
try:
    print(s.recv(512).split(b"\r\n")[0].decode() or "none")
except OSError:
    print("none")
PYEOF
}
FAULT_SO="$WORK/fault_accept.so"
if cc -shared -fPIC -O1 -o "$FAULT_SO" "$INTEROP_DIR/fault_accept.c" -ldl 2>"$WORK/fault_cc.log"; then
  # one failed accept: the spare descriptor takes the waiting client and answers 421
  start_listener e49a env LD_PRELOAD="$FAULT_SO" SC_FAULT_ACCEPT_EMFILE=1 "$SINK" \
    --listen 127.0.0.1:0
  g1=$(greeting "$LAST_PORT"); g2=$(greeting "$LAST_PORT"); g3=$(greeting "$LAST_PORT")
  check "EMFILE: the waiting client gets 421 4.3.2 through the spare descriptor ($g1)" \
    test "${g1:0:9}" = "421 4.3.2"
  check "EMFILE over: the next clients are greeted ($g2 / $g3)" \
    test "${g2:0:3}" = 220 -a "${g3:0:3}" = 220
  check "EMFILE: logged once for the episode" \
    test "$(grep -c "accept: Too many open files" "$WORK/e49a.log")" -eq 1
  check "EMFILE: its end logged once" \
    test "$(grep -c "descriptors available again" "$WORK/e49a.log")" -eq 1
  stop_pid "$LAST_PID" || true
  # no descriptor at all, for good: the listener rests between tries, no busy loop
  start_listener e49b env LD_PRELOAD="$FAULT_SO" SC_FAULT_ACCEPT_EMFILE=1000000000 "$SINK" \
    --listen 127.0.0.1:0
  t0=$(date +%s%N); c0=$(cpu_ticks "$LAST_PID")
  g1=$(greeting "$LAST_PORT")
  t1=$(date +%s%N); c1=$(cpu_ticks "$LAST_PID")
  check "EMFILE for good: the client waits without a greeting ($g1)" test "$g1" = none
  pct=$(( (c1 - c0) * 1000000000 / TCK * 100 / (t1 - t0 + 1) ))
  check "EMFILE for good: the sink used ${pct}% CPU over 3 s (< 30%: no accept loop)" \
    test "$pct" -lt 30
  check "EMFILE for good: logged once, not once per try" \
    test "$(grep -c "accept: Too many open files" "$WORK/e49b.log")" -eq 1
  stop_pid "$LAST_PID" || true
else
  fail "the accept4 shim did not build"; sed 's/^/      /' "$WORK/fault_cc.log"
fi

# --- slowloris: deadlines per command line and per message, 421 on the way out
start_sink s49t --timeout 3 --verbose --maildir "$WORK/md49t"
HC trickle "$SINK_PORT" command 15 >"$WORK/t1.res" || true
has "$WORK/t1.res" "last=421_4.4.2" "1 byte/s command line: 421 4.4.2 timeout exceeded"
after=99; read -r after < <(sed 's/closed_after=\([0-9]*\).*/\1/' "$WORK/t1.res") || true
check "1 byte/s command line: closed after ${after}s (--timeout 3: at most 5)" test "$after" -le 5
HC trickle "$SINK_PORT" content 15 >"$WORK/t2.res" || true
has "$WORK/t2.res" "last=421_4.4.2" "1 byte/s message content: 421 4.4.2 mid-DATA"
after=99; read -r after < <(sed 's/closed_after=\([0-9]*\).*/\1/' "$WORK/t2.res") || true
check "1 byte/s message content: closed after ${after}s (at most 5)" test "$after" -le 5
HC stall "$SINK_PORT" 15 >"$WORK/t3.res" || true
has "$WORK/t3.res" "last=421_4.4.2" "silence mid-DATA: 421 4.4.2 (not a silent close)"
check "nothing stored from the slow clients" test "$(count_files "$WORK/md49t/new")" -eq 0
has "$WORK/s49t.log" "command-timeout: closing with 421" "--verbose logs the command deadline"
has "$WORK/s49t.log" "status=421 .*reason=content-timeout" "the cut message is logged (content)"
has "$WORK/s49t.log" "(idle|content)-timeout: closing with 421" "--verbose logs the stall"
stop_pid "$SINK_PID" || true

# a message that flows is not cut by the content deadline (1 MB, --timeout 2)
start_sink s49r --timeout 2 --maildir "$WORK/md49r" --quiet
head -c 1000000 /dev/zero | tr '\0' 'x' | fold -w 76 | sed 's/$/\r/' >"$WORK/big.eml"
timeout 60 "$SEND" --server "127.0.0.1:$SINK_PORT" --from a@example.org --to b@example.org \
  --data "$WORK/big.eml" >"$WORK/r.out" 2>&1 && st=0 || st=$?
check "a 1 MB message at full speed is stored" test "$st" -eq 0 -a \
  "$(count_files "$WORK/md49r/new")" -eq 1
stop_pid "$SINK_PID" || true

# --- AUTH guessing
printf 'user:secret\n' >"$WORK/auth49"
start_sink s49a --auth-file "$WORK/auth49" --auth-plaintext --auth-failure-delay 0.3
t0=$(date +%s%N)
HC auth "$SINK_PORT" 100 >"$WORK/a1.res" || true
t1=$(date +%s%N)
has "$WORK/a1.res" "^535 535 535 421 eof$" "100 wrong passwords: 3 x 535, then 421 and close"
check "each failure waited --auth-failure-delay ($(( (t1 - t0) / 1000000 )) ms >= 900)" \
  test $(( (t1 - t0) / 1000000 )) -ge 900
has "$WORK/s49a.log" "closed after 3 failed authentications" "the close is logged"
HC authok "$SINK_PORT" >"$WORK/a2.res" || true
has "$WORK/a2.res" "^235" "the right password still works (no per-address limit by default)"
stop_pid "$SINK_PID" || true

start_sink s49b --auth-file "$WORK/auth49" --auth-plaintext --auth-failure-delay 0 \
  --max-auth-failures-per-address 5 --auth-failure-window 600
for i in 1 2; do HC auth "$SINK_PORT" 3 >"$WORK/b$i.res" || true; done
has "$WORK/b1.res" "^535 535 535$" "connection 1: three failures"
HC authok "$SINK_PORT" >"$WORK/b3.res" || true
has "$WORK/b3.res" "^421_4.7.0_localhost_Error:_too_many_failed_authentic" \
  "after 6 failures from 127.0.0.1 even the right password gets 421 4.7.0"
stop_pid "$SINK_PID" || true
expect_status 2 "--auth-failure-delay takes seconds" "$SINK" --auth-failure-delay soon

# --- a failed store is logged with its reason and counted at shutdown
start_sink s49s --maildir "$WORK/md49s"
rm -rf "$WORK/md49s/tmp" && : >"$WORK/md49s/tmp"   # no file can be created any more
timeout 30 "$PY" "$INTEROP_DIR/smtp_talk.py" "$SINK_PORT" 'EHLO x\r\n' \
  'MAIL FROM:<a@example.com>\r\n' 'RCPT TO:<b@example.com>\r\n' 'DATA\r\n' 'QUIT\r\n' \
  >"$WORK/s.out"
has "$WORK/s.out" "^4 451" "DATA gets 451 when no message file can be created"
stop_pid "$SINK_PID" || true
has "$WORK/s49s.log" "status=451 .*reason=maildir-create:Not-a-directory" \
  "the 451 is logged with its reason (errno)"
has "$WORK/s49s.log" "stopped: 1 connections, 0 messages stored, 1 refused, 1 of them with 451" \
  "the shutdown summary counts it"

finish
