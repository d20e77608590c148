#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink options seen from the wire: --require-helo, --max-size, --max-conn,
# --timeout, --bare-lf, --hostname; --help texts of the three tools.
source "$(dirname "$0")/lib.sh"
echo "t45: smtpcore-sink options"
talk() { timeout 30 "$PY" "$INTEROP_DIR/smtp_talk.py" "$@"; }
# has OUTPUT-FILE LINE-REGEX DESCRIPTION
has() { if grep -qE "$2" "$1"; then ok "$3"; else fail "$3"; sed 's/^/      /' "$1"; fi; }

start_sink s45a --quiet
talk "$SINK_PORT" 'MAIL FROM:<a@example.com>\r\n' 'QUIT\r\n' >"$WORK/a.out"
has "$WORK/a.out" "^1 250$" "default: MAIL without HELO accepted (HELO optional)"
talk "$SINK_PORT" 'EHLO x\r\n' 'MAIL FROM:<a@example.com>\nRCPT TO:<b@example.com>\r\n' 'QUIT\r\n' >"$WORK/a2.out"
has "$WORK/a2.out" "^2 500" "bare LF ending a command: 500 (--bare-lf reject, the default)"
stop_pid "$SINK_PID" || true

start_sink s45b --require-helo --hostname mx.example.org --quiet
talk "$SINK_PORT" 'MAIL FROM:<a@example.com>\r\n' 'HELO client.example.org\r\n' \
  'MAIL FROM:<a@example.com>\r\n' 'QUIT\r\n' >"$WORK/b.out"
has "$WORK/b.out" "^1 503$" "--require-helo: MAIL before HELO gets 503"
has "$WORK/b.out" "^3 250$" "--require-helo: MAIL after HELO gets 250"
"$PY" - "$SINK_PORT" >"$WORK/b3.out" <<'PYEOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(2)
print(s.recv(1000).decode().strip())
PYEOF
has "$WORK/b3.out" "^220 mx\.example\.org " "--hostname in the greeting"
stop_pid "$SINK_PID" || true

start_sink s45c --max-size 1K --maildir "$WORK/md45c" --quiet
big=$(head -c 3000 /dev/zero | tr '\0' 'x')
talk "$SINK_PORT" 'EHLO x\r\n' 'MAIL FROM:<a@example.com> SIZE=5000\r\n' \
  'MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n' \
  "Subject: big\\r\\n\\r\\n$big\\r\\n.\\r\\n" 'QUIT\r\n' >"$WORK/c.out"
has "$WORK/c.out" "^2 552$" "--max-size 1K: MAIL SIZE=5000 refused with 552"
has "$WORK/c.out" "^4 552$" "--max-size 1K: 3 KB of data refused with 552 at the end"
check "--max-size: nothing stored" test "$(count_files "$WORK/md45c/new")" -eq 0
stop_pid "$SINK_PID" || true

start_sink s45d --max-conn 2 --timeout 2 --quiet
"$PY" - "$SINK_PORT" >"$WORK/d.out" <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
for c in conns:
    c.settimeout(2)
    print("c", c.recv(1000)[:3].decode())
third = socket.create_connection(("127.0.0.1", port)); third.settimeout(2)
print("third", third.recv(1000)[:3].decode())
# idle: the sink closes after --timeout 2 (checked about once a second) with 421
conns[0].settimeout(10)
t0 = time.time()
data = conns[0].recv(1000)
print("idle", data[:3].decode(), "after %.0f s" % (time.time() - t0))
PYEOF
has "$WORK/d.out" "^third 421$" "--max-conn 2: third connection gets 421"
has "$WORK/d.out" "^idle 421 after [2-9] s$" "--timeout 2: idle session closed with 421"
stop_pid "$SINK_PID" || true

start_sink s45e --bare-lf accept --maildir "$WORK/md45e" --quiet
talk "$SINK_PORT" 'EHLO x\n' 'MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n' \
  'Subject: lf\r\n\r\none\ntwo\r\n.\r\n' 'QUIT\r\n' >"$WORK/e.out"
has "$WORK/e.out" "^1 250$" "--bare-lf accept: EHLO ended by a bare LF accepted"
has "$WORK/e.out" "^3 250$" "--bare-lf accept: message with a bare LF stored"
f=$(find "$WORK/md45e/new" -type f | head -1)
[ -n "$f" ] && cmp -s "$f" <(printf 'Subject: lf\r\n\r\none\ntwo\r\n') && ok "bare LF kept as content, byte for byte" \
  || fail "stored content with bare LF"
stop_pid "$SINK_PID" || true

for t in sink send probe; do
  out=$("$SMTPCORE_BIN/smtpcore-$t" --help) && echo "$out" | grep -q "^SYNOPSIS" && echo "$out" | grep -q "^EXIT STATUS" \
    && ok "smtpcore-$t --help: man-page sections" || fail "smtpcore-$t --help"
done
expect_status 2 "sink: unknown option is a usage error" "$SINK" --bogus
expect_status 2 "sink: --listen twice is a usage error, not a silent replacement" \
  timeout 10 "$SINK" --listen 127.0.0.1:0 --listen 127.0.0.1:0
out=$(timeout 10 "$SINK" --listen 127.0.0.1:0 --listen 127.0.0.1:0 2>&1 || true)
grep -q "given twice" <<<"$out" && ok "sink: ... and says why" || fail "sink: --listen twice: no reason given: $out"
finish
