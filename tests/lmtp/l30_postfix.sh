#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink --lmtp and smtpcore-send --lmtp with Postfix: smtp-source -L into the sink
# (unix: and TCP, one connection per message and many per connection, 5 recipients each),
# --lmtp-refuse seen from smtpcore-send (per-recipient codes, exit statuses, log line,
# what is stored), smtpcore-send --lmtp into smtp-sink -L (TCP and unix:), and a private
# Postfix whose lmtp: transport delivers to the sink.
source "$(dirname "$0")/lib.sh"
echo "l30: Postfix smtp-source -L / smtp-sink -L / lmtp: transport <-> smtpcore LMTP"
need smtp-source smtp-sink postconf || { finish; exit 1; }
make_message "$WORK/msg.eml" l30
src() { timeout 120 smtp-source -L -M client.example.org -f from@example.org -t to@example.com "$@"; }
sock="$WORK/sink.sock"

expect_status 2 "--lmtp-refuse without --lmtp is a usage error" \
  "$SINK" --lmtp-refuse a@example.com=550 2>/dev/null
expect_status 2 "--lmtp-refuse with a 2xx code is a usage error" \
  "$SINK" --lmtp --lmtp-refuse a@example.com=250 2>/dev/null
expect_status 2 "--lmtp-refuse with an enhanced code of another class is a usage error" \
  "$SINK" --lmtp --lmtp-refuse a@example.com=550/4.2.2 2>/dev/null

start_unix_sink s1 "$sock" --lmtp --maildir "$WORK/md1" \
  --lmtp-refuse defer@example.com=452 --lmtp-refuse gone@example.com=550/5.1.1
check "smtp-source -L over unix:: 200 messages, 5 sessions, 5 recipients each" \
  src -s 5 -m 200 -r 5 -l 1024 "unix:$sock"
check "200 files stored" wait_count "$WORK/md1/new" 200 10
n=$(grep -c "rcpt_status=250,250,250,250,250 " "$WORK/s1.log" || true)
check "200 log lines with five per-recipient 250s ($n)" test "$n" -eq 200
check "smtp-source -L -d over unix:: 100 messages, many per connection" \
  src -d -s 2 -m 100 -r 3 "unix:$sock"
check "300 files stored" wait_count "$WORK/md1/new" 300 10

out="$WORK/refuse.out"
expect_status 1 "send --lmtp: one stored, one deferred, one refused (partial)" \
  timeout 30 "$SEND" --lmtp --from a@example.org --to ok@example.com --to defer@example.com \
    --to GONE@example.com "unix:$sock" "$WORK/msg.eml" 2>"$out"
if grep -q "<ok@example.com> delivered: 250 " "$out" &&
   grep -q "<defer@example.com> deferred: 452 4.2.0 " "$out" &&
   grep -q "<GONE@example.com> refused: 550 5.1.1 " "$out"; then
  ok "per-recipient lines: 250, 452 4.2.0, 550 5.1.1 (rules match any case)"
else
  fail "per-recipient lines"; cat "$out"
fi
check "sink log: rcpt_status=250,452,550 and the file" \
  grep -q "to=<ok@example.com>,<defer@example.com>,<GONE@example.com> .*status=250 rcpt_status=250,452,550 file=" "$WORK/s1.log"
check "the message stored once (301 files)" wait_count "$WORK/md1/new" 301 10
expect_status 2 "send --lmtp: every recipient deferred or refused, one 4xx: exit 2" \
  timeout 30 "$SEND" -q --lmtp --from a@example.org --to defer@example.com \
    --to gone@example.com "unix:$sock" "$WORK/msg.eml"
expect_status 3 "send --lmtp: the only recipient refused: exit 3" \
  timeout 30 "$SEND" -q --lmtp --from a@example.org --to gone@example.com "unix:$sock" "$WORK/msg.eml"
sleep 0.5
check "nothing stored for messages every recipient refused (still 301 files)" \
  test "$(count_files "$WORK/md1/new")" -eq 301
check "no file left in tmp/" test "$(count_files "$WORK/md1/tmp")" -eq 0
expect_status 3 "send without --lmtp to the LMTP sink: EHLO and HELO refused with 5xx: permanent" \
  timeout 30 "$SEND" -q --from a@example.org --to x@example.com "unix:$sock" "$WORK/msg.eml"
# probe_lmtp DESCRIPTION TARGET: smtpcore-probe finds an LMTP server there, conformant.
probe_lmtp() {
  timeout 60 "$PROBE" --json "$2" >"$WORK/probe.$$.json" 2>&1 || true
  if $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
names = {c["name"]: c["result"] for c in d["checks"]}
sys.exit(0 if d["protocol"] == "lmtp" and d["conformant"] and names.get("lmtp") == "info"
         and names.get("lhlo") == "pass" and names.get("pipelining") == "pass" else 1)' "$WORK/probe.$$.json"; then
    ok "$1"
  else
    fail "$1"; cat "$WORK/probe.$$.json"
  fi
}
probe_lmtp "smtpcore-probe: the sink --lmtp found to be LMTP (EHLO/HELO refused, LHLO 250), conformant" "unix:$sock"
expect_status 0 "SIGTERM: sink exits 0" stop_pid "$SINK_PID"

start_sink s2 --lmtp --maildir "$WORK/md2" --quiet
check "smtp-source -L over TCP: 300 messages, 10 sessions, 2 recipients each" \
  src -s 10 -m 300 -r 2 -l 512 "127.0.0.1:$SINK_PORT"
check "300 files stored" wait_count "$WORK/md2/new" 300 10
expect_status 0 "SIGTERM: TCP sink exits 0" stop_pid "$SINK_PID"

# smtpcore-send --lmtp into smtp-sink -L (TCP, then a unix: socket).
start_smtp_sink ss -L -d "$WORK/ss.dump/%M%S."
out="$WORK/ss.out"
expect_status 0 "send --lmtp into smtp-sink -L (TCP), two recipients" \
  timeout 30 "$SEND" --lmtp --from a@example.org --to one@example.com --to two@example.com \
    "127.0.0.1:$SSINK_PORT" "$WORK/msg.eml" 2>"$out"
check "two delivered lines" test "$(grep -c " delivered: 250" "$out")" -eq 2
if wait_count "$WORK/ss.dump" 1 5 && grep -q "^X-Rcpt-Args: <two@example.com>" "$WORK/ss.dump"/* &&
   grep -q "^\.A line that starts with a dot" "$WORK/ss.dump"/*; then
  ok "smtp-sink -L dump: recipients and the unstuffed body"
else
  fail "smtp-sink -L dump"
fi
probe_lmtp "smtpcore-probe: smtp-sink -L found to be LMTP, conformant" "127.0.0.1:$SSINK_PORT"
stop_pid "$SSINK_PID" || true
mkdir -p "$WORK/ssu" && chown nobody "$WORK/ssu"
smtp-sink -u nobody -L "unix:$WORK/ssu/s" 10 >"$WORK/ssu.log" 2>&1 &
BG_PIDS+=("$!")
wait_socket "$WORK/ssu/s" || true
expect_status 0 "send --lmtp into smtp-sink -L on a unix: socket" \
  timeout 30 "$SEND" -q --lmtp --from a@example.org --to one@example.com "unix:$WORK/ssu/s" "$WORK/msg.eml"

# A private Postfix delivering with its lmtp(8) client to the sink (unix socket).
if [ "$(id -u)" -ne 0 ]; then
  fail "private Postfix needs root"
else
  psock="$WORK/pf-sink/lmtp.sock"
  mkdir -p "$WORK/pf-sink" && chmod 755 "$WORK/pf-sink"
  start_unix_sink s3 "$psock" --lmtp --maildir "$WORK/md3"
  pf="$WORK/pf30"
  PF_DIRS+=("$pf")
  if pfport=$("$INTEROP_DIR/postfix_instance.sh" start "$pf" "" "lmtp:unix:$psock" | sed -n 's/^port //p'); then
    check "smtp-source -> Postfix: 100 messages, 3 recipients each, for a remote domain" \
      timeout 120 smtp-source -M client.example.org -f from@example.org -t to@relay.example.net \
        -s 4 -m 100 -r 3 -l 1024 "127.0.0.1:$pfport"
    check "Postfix's lmtp client delivered them to the sink (100 files or more)" \
      wait_count "$WORK/md3/new" 100 60
    sleep 1
    if grep -q "relay=[^ ]*lmtp.sock.*status=sent" "$pf/maillog" &&
       ! grep -qE "status=(deferred|bounced)" "$pf/maillog"; then
      ok "Postfix log: sent over lmtp to the sink, nothing deferred or bounced"
    else
      fail "Postfix log"; grep -E "status=" "$pf/maillog" | tail -5
    fi
    n=$(grep -c "status=sent" "$pf/maillog" || true)
    check "Postfix: 300 recipients sent ($n)" test "$n" -eq 300
  else
    fail "private Postfix instance did not start"
  fi
  expect_status 0 "sink stops cleanly" stop_pid "$SINK_PID"
fi
finish
