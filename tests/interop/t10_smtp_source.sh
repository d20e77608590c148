#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Postfix smtp-source against smtpcore-sink: hundreds of messages over many sessions, a
# new connection per message and many messages per connection; then Postfix's own SMTP
# client (which pipelines MAIL/RCPT/DATA) relaying hundreds of messages to the sink.
source "$(dirname "$0")/lib.sh"
echo "t10: smtp-source -> smtpcore-sink"
need smtp-source postconf || { finish; exit 1; }

start_sink sink10 --maildir "$WORK/md10" --quiet
src() { timeout 120 smtp-source -M client.example.org -f from@example.org -t to@example.com "$@"; }

check "smtp-source: 300 messages, 10 sessions, one connection per message" \
  src -s 10 -m 300 -l 1024 "127.0.0.1:$SINK_PORT"
check "300 files stored" wait_count "$WORK/md10/new" 300 10

check "smtp-source -d: 300 messages, 5 sessions, many messages per connection" \
  src -d -s 5 -m 300 -l 2048 "127.0.0.1:$SINK_PORT"
check "600 files stored" wait_count "$WORK/md10/new" 600 10

check "smtp-source: 100 messages with 20 recipients each" \
  src -s 4 -m 100 -r 20 -l 512 "127.0.0.1:$SINK_PORT"
check "700 files stored" wait_count "$WORK/md10/new" 700 10
check "smtp-source: 500 messages over 100 concurrent sessions" \
  src -s 100 -m 500 -l 256 "127.0.0.1:$SINK_PORT"
check "1200 files stored" wait_count "$WORK/md10/new" 1200 10
n=$(count_files "$WORK/md10/new")
if [ "$n" -eq 1200 ]; then ok "exactly 1200 files"
else fail "$n files instead of 1200"; fi
check "no file left in tmp/" test "$(count_files "$WORK/md10/tmp")" -eq 0
expect_status 0 "sink stops cleanly on SIGTERM" stop_pid "$SINK_PID"

# Pipelining: smtp-source never pipelines (its man page says so), Postfix's smtp client
# does. smtp-source -> private Postfix smtpd -> Postfix smtp client -> smtpcore-sink.
if [ "$(id -u)" -ne 0 ]; then
  fail "private Postfix needs root"
else
  start_sink sink10p --maildir "$WORK/md10p" --quiet
  pf="$WORK/pf10"
  PF_DIRS+=("$pf")
  if pfport=$("$INTEROP_DIR/postfix_instance.sh" start "$pf" "" "127.0.0.1:$SINK_PORT" | sed -n 's/^port //p'); then
    check "smtp-source -> Postfix: 200 messages for a relayed domain" \
      timeout 120 smtp-source -M client.example.org -f from@example.org -t to@relay.example.net \
        -s 5 -m 200 -l 1024 "127.0.0.1:$pfport"
    check "Postfix's pipelining smtp client delivered 200 to the sink" \
      wait_count "$WORK/md10p/new" 200 60
    if grep -q "status=sent" "$pf/maillog" && ! grep -qE "status=(deferred|bounced)" "$pf/maillog"; then
      ok "Postfix log: all sent, nothing deferred or bounced"
    else
      fail "Postfix log shows deferrals or bounces"; grep -E "status=" "$pf/maillog" | tail -5
    fi
  else
    fail "private Postfix instance did not start"
  fi
  expect_status 0 "sink stops cleanly" stop_pid "$SINK_PID"
fi
finish
