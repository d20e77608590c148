#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink hardening defaults (issue 18), seen from the wire: improper pipelining
# from unauthenticated clients (--forbid-pipelining).
source "$(dirname "$0")/lib.sh"
echo "t48: smtpcore-sink hardening"
talk() { timeout 30 "$PY" "$INTEROP_DIR/smtp_talk.py" "$@"; }
# has OUTPUT-FILE LINE-REGEX DESCRIPTION
has() { if grep -qE "$2" "$1"; then ok "$3"; else fail "$3"; sed 's/^/      /' "$1"; fi; }

# --- improper pipelining: the next message's MAIL, RCPT, DATA and content in one write
PIPED='MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nSubject: second\r\n\r\nsmuggled\r\n.\r\n'
FIRST='MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n'

start_sink s47a --maildir "$WORK/md47a" --quiet
talk "$SINK_PORT" 'EHLO x\r\n' "$FIRST" 'Subject: first\r\n\r\nok\r\n.\r\n' "$PIPED" 'QUIT\r\n' >"$WORK/a.out"
has "$WORK/a.out" "^3 250$" "default: a message sent after its 354 is stored"
has "$WORK/a.out" "^4 250 250 554 eof$" "default: DATA with content behind it gets 554 and the connection closes"
check "default: only the first message stored" test "$(count_files "$WORK/md47a/new")" -eq 1
talk "$SINK_PORT" 'EHLO x\r\nMAIL FROM:<a@example.com>\r\n' >"$WORK/a2.out"
has "$WORK/a2.out" "^1 554 eof$" "default: a command behind EHLO gets 554 and close"
talk "$SINK_PORT" 'EHLO x\r\n' "$FIRST" 'x\r\n.\r\nQUIT\r\n' >"$WORK/a3.out"
has "$WORK/a3.out" "^3 250 221 eof$" "default: QUIT behind the final dot is fine"
stop_pid "$SINK_PID" || true

start_sink s47b --maildir "$WORK/md47b" --forbid-pipelining off --quiet
talk "$SINK_PORT" 'EHLO x\r\n' "$PIPED" 'QUIT\r\n' >"$WORK/b.out"
has "$WORK/b.out" "^2 250 250 354 250$" "--forbid-pipelining off: the pipelined message is served"
check "--forbid-pipelining off: it is stored" test "$(count_files "$WORK/md47b/new")" -eq 1
stop_pid "$SINK_PID" || true

printf 'user:secret\n' >"$WORK/auth47"
start_sink s47c --maildir "$WORK/md47c" --auth-file "$WORK/auth47" --auth-plaintext --quiet
talk "$SINK_PORT" 'EHLO x\r\n' 'AUTH PLAIN AHVzZXIAc2VjcmV0\r\n' "$PIPED" 'QUIT\r\n' >"$WORK/c.out"
has "$WORK/c.out" "^2 235$" "AUTH PLAIN accepted"
has "$WORK/c.out" "^3 250 250 354 250$" "default: an authenticated client keeps today's behaviour"
stop_pid "$SINK_PID" || true

start_sink s47d --maildir "$WORK/md47d" --auth-file "$WORK/auth47" --auth-plaintext \
  --forbid-pipelining all --quiet
talk "$SINK_PORT" 'EHLO x\r\n' 'AUTH PLAIN AHVzZXIAc2VjcmV0\r\n' "$PIPED" >"$WORK/d.out"
has "$WORK/d.out" "^3 250 250 554 eof$" "--forbid-pipelining all: authenticated clients too"
stop_pid "$SINK_PID" || true
expect_status 2 "--forbid-pipelining takes unauth|all|off" "$SINK" --forbid-pipelining maybe

# --- NUL in message content: refused by default (550 5.6.0), --nul accept stores it
start_sink s48n --maildir "$WORK/md48n" --quiet
talk "$SINK_PORT" 'EHLO x\r\n' "$FIRST" 'hello\x00world\r\n.\r\n' 'QUIT\r\n' >"$WORK/n.out"
has "$WORK/n.out" "^3 550$" "default: a message with a NUL byte is refused with 550"
check "default: nothing stored" test "$(count_files "$WORK/md48n/new")" -eq 0
stop_pid "$SINK_PID" || true
start_sink s48m --maildir "$WORK/md48m" --nul accept --quiet
talk "$SINK_PORT" 'EHLO x\r\n' "$FIRST" 'hello\x00world\r\n.\r\n' 'QUIT\r\n' >"$WORK/m.out"
has "$WORK/m.out" "^3 250$" "--nul accept: stored"
f=$(find "$WORK/md48m/new" -type f | head -1)
[ -n "$f" ] && cmp -s "$f" <(printf 'hello\0world\r\n') && ok "--nul accept: NUL kept byte for byte" \
  || fail "stored content with NUL"
stop_pid "$SINK_PID" || true

finish
