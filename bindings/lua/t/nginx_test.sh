#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real nginx (Debian's, with the Lua module) on 127.0.0.1 whose location handler sends
# mail through resty.smtpcore.client to three real sinks, then checks what they stored:
#   lua-sink  examples/lua/sink.lua (smtpcore's server engine): byte for byte, keepalive
#   smtp-sink Postfix's smtp-sink -d: the message at the end of its dump
#   tls-sink  aiosmtpd with STARTTLS required + AUTH: byte for byte, TLS and AUTH used
#   lmtp-sink Postfix's smtp-sink -L on a Unix socket: LMTP (lmtp = true, unix: host)
# The config is bindings/lua/t/nginx.conf (shown in docs/lua.md) with @NAME@ replaced.
# Needs SMTPCORE_LIB (path of libsmtpcore.so); run by scripts/test.d/30-lua.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."
REPO=$PWD
: "${SMTPCORE_LIB:?set SMTPCORE_LIB to the path of libsmtpcore.so}"
LIBDIR=$(dirname "$SMTPCORE_LIB")
export LUA_PATH="$REPO/bindings/lua/lib/?.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;;"

PREFIX=$(mktemp -d /tmp/smtpcore-nginx.XXXXXX)
PIDS=()
cleanup() {
  local rc=$?
  if [ -f "$PREFIX/nginx.pid" ]; then kill "$(cat "$PREFIX/nginx.pid")" 2>/dev/null || true; fi
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ $rc -ne 0 ]; then
    echo "---- nginx error.log ----"; cat "$PREFIX/error.log" 2>/dev/null || true
  fi
  rm -rf "$PREFIX"
  exit $rc
}
trap cleanup EXIT

fail() { echo "nginx test FAILED: $*" >&2; exit 1; }
free_port() {
  luajit -e 'local s=assert(require("socket").bind("127.0.0.1",0)); local _,p=s:getsockname(); s:close(); print(p)'
}
wait_file() { # path seconds
  local i
  for ((i = 0; i < $2 * 20; i++)); do [ -s "$1" ] && return 0; sleep 0.05; done
  fail "timed out waiting for $1"
}
wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 20; i++)); do
    luajit -e "local s=require('socket').connect('127.0.0.1',$1); os.exit(s and 0 or 1)" && return 0
    sleep 0.05
  done
  fail "nothing listens on port $1"
}
passed=0
check_eq() { # what got want
  if [ "$2" != "$3" ]; then
    printf 'nginx test: %s\n  got:  %q\n  want: %q\n' "$1" "$2" "$3" >&2
    exit 1
  fi
  passed=$((passed + 1))
}
check_file_eq() { # what file expected-file
  cmp -s "$2" "$3" || { echo "--- got:"; od -c "$2" | head -20; fail "$1: stored bytes differ"; }
  passed=$((passed + 1))
}

mkdir -p "$PREFIX/lua-sink" "$PREFIX/smtp-sink" "$PREFIX/tls-sink" "$PREFIX/lmtp-sink"
# smtp-sink drops to "nobody" and must reach its dump directory.
chmod 755 "$PREFIX"
chmod 777 "$PREFIX/smtp-sink" "$PREFIX/lmtp-sink"

# --- sinks ---
luajit examples/lua/sink.lua --dir "$PREFIX/lua-sink" --port-file "$PREFIX/lua-sink.port" \
  --idle-exit 120 2>"$PREFIX/lua-sink.log" &
PIDS+=($!)
SMTP_SINK_PORT=$(free_port)
SINK_USER=(); [ "$(id -u)" -eq 0 ] && SINK_USER=(-u nobody)  # root must name a user
/usr/sbin/smtp-sink "${SINK_USER[@]}" -d "$PREFIX/smtp-sink/%M." "127.0.0.1:$SMTP_SINK_PORT" 10 &
PIDS+=($!)
/usr/sbin/smtp-sink "${SINK_USER[@]}" -L -d "$PREFIX/lmtp-sink/%M." "unix:$PREFIX/lmtp-sink/lmtp.sock" 10 &
PIDS+=($!)
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$PREFIX/key.pem" -out "$PREFIX/ca.pem" \
  >/dev/null 2>&1
TLS_SINK_PORT=$(free_port)
"${PYTHON:-/usr/bin/python3}" bindings/lua/t/tls_sink.py "$PREFIX/tls-sink" "$TLS_SINK_PORT" \
  "$PREFIX/ca.pem" "$PREFIX/key.pem" 2>"$PREFIX/tls-sink.log" &
PIDS+=($!)
wait_file "$PREFIX/lua-sink.port" 10
LUA_SINK_PORT=$(cat "$PREFIX/lua-sink.port")
wait_port "$SMTP_SINK_PORT" 10
wait_file "$PREFIX/tls-sink/ready" 10
for ((i = 0; i < 200; i++)); do [ -S "$PREFIX/lmtp-sink/lmtp.sock" ] && break; sleep 0.05; done
[ -S "$PREFIX/lmtp-sink/lmtp.sock" ] || fail "smtp-sink -L made no socket"
chmod 666 "$PREFIX/lmtp-sink/lmtp.sock"  # nginx's workers are not root

# --- nginx ---
HTTP_PORT=$(free_port)
sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@REPO@|$REPO|g" -e "s|@LIBDIR@|$LIBDIR|g" \
    -e "s|@HTTP_PORT@|$HTTP_PORT|g" -e "s|@LUA_SINK_PORT@|$LUA_SINK_PORT|g" \
    -e "s|@SMTP_SINK_PORT@|$SMTP_SINK_PORT|g" -e "s|@TLS_SINK_PORT@|$TLS_SINK_PORT|g" \
    bindings/lua/t/nginx.conf > "$PREFIX/nginx.conf"
grep -q '@[A-Z_][A-Z_]*@' "$PREFIX/nginx.conf" && fail "unreplaced placeholder in nginx.conf"
# The library basename must be libsmtpcore.so in a cpath directory.
[ "$(basename "$SMTPCORE_LIB")" = libsmtpcore.so ] || fail "SMTPCORE_LIB must end in libsmtpcore.so"
nginx -p "$PREFIX" -c "$PREFIX/nginx.conf" -e "$PREFIX/error.log" &
PIDS+=($!)
wait_port "$HTTP_PORT" 10

post() { # url-path message-file -> response in $PREFIX/resp
  luajit bindings/lua/t/http_post.lua "http://127.0.0.1:$HTTP_PORT$1" "$2" > "$PREFIX/resp" \
    || fail "POST $1"
}

# The message: CRLF lines, a leading dot, 8-bit text, a long-ish body.
{
  printf 'From: Web <web@example.org>\r\nTo: Bob <bob@example.org>\r\n'
  printf 'Subject: from nginx via smtpcore\r\nMIME-Version: 1.0\r\n'
  printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
  printf 'Hello from a content_by_lua_block.\r\n.leading dot\r\n..two dots\r\n'
  printf 'caf\xc3\xa9\r\n'
  for i in $(seq 1 300); do printf 'line %04d of a body that needs several writes\r\n' "$i"; done
} > "$PREFIX/msg1"
printf 'Subject: second\r\n\r\nSecond message on the pooled connection.\r\n' > "$PREFIX/msg2"

# 1. Lua sink: per-recipient results and exact bytes.
post "/send/lua-sink?from=web@example.org&to=bob@example.org&to=reject-x@example.org&to=carol@example.org" "$PREFIX/msg1"
check_eq "lua-sink response" "$(cat "$PREFIX/resp")" "200
accepted 250 reused=false accepted=2/3
rcpt bob@example.org 250 success
rcpt reject-x@example.org 550 permanent
rcpt carol@example.org 250 success"
wait_file "$PREFIX/lua-sink/1.eml" 10
check_file_eq "lua-sink message 1" "$PREFIX/lua-sink/1.eml" "$PREFIX/msg1"
check_eq "lua-sink envelope 1" "$(cat "$PREFIX/lua-sink/1.env")" "MAIL FROM:<web@example.org>
RCPT TO:<bob@example.org>
RCPT TO:<carol@example.org>"

# 2. Same sink again: the pooled connection is reused (after a NOOP check).
post "/send/lua-sink?from=web@example.org&to=dave@example.org" "$PREFIX/msg2"
check_eq "lua-sink response 2" "$(head -2 "$PREFIX/resp")" "200
accepted 250 reused=true accepted=1/1"
wait_file "$PREFIX/lua-sink/2.eml" 10
check_file_eq "lua-sink message 2" "$PREFIX/lua-sink/2.eml" "$PREFIX/msg2"

# 2b. Three requests at once: each coroutine has its own connection, session and event
# struct (the module's private scratch buffers never live across a yield).
posters=()
for n in 1 2 3; do
  printf 'Subject: concurrent %s\r\n\r\nmessage number %s\r\n' "$n" "$n" > "$PREFIX/cmsg$n"
  luajit bindings/lua/t/http_post.lua \
    "http://127.0.0.1:$HTTP_PORT/send/lua-sink?from=web@example.org&to=c$n@example.org" \
    "$PREFIX/cmsg$n" > "$PREFIX/cresp$n" &
  posters+=($!)
done
for p in "${posters[@]}"; do wait "$p" || fail "concurrent POST"; done
for n in 1 2 3; do
  sed -n 2p "$PREFIX/cresp$n" | grep -q '^accepted 250 ' || fail "concurrent $n: $(cat "$PREFIX/cresp$n")"
done
for n in 3 4 5; do wait_file "$PREFIX/lua-sink/$n.eml" 10; done
got=$(cd "$PREFIX/lua-sink" && cat 3.eml 4.eml 5.eml | sort | md5sum)
want=$(cat "$PREFIX/cmsg1" "$PREFIX/cmsg2" "$PREFIX/cmsg3" | sort | md5sum)
check_eq "concurrent messages stored" "$got" "$want"

# 2c. Every recipient refused: the result names the recipients' 550 as the deciding reply
# (not the server's "no valid recipients" answer to DATA), at the top level.
post "/send/lua-sink?from=web@example.org&to=reject-a@example.org&to=reject-b@example.org" "$PREFIX/msg2"
check_eq "lua-sink refusal" "$(sed -e 1d -e 's/ reused=[a-z]*//' "$PREFIX/resp")" "refused 550 accepted=0/2
rcpt reject-a@example.org 550 permanent
rcpt reject-b@example.org 550 permanent
decided at rcpt: 550 5.1.1 No such user here (permanent)"

# 2d. The client builds the message (subject with umlauts, the body as text and as an
# attachment); Python's email package reads it back without a defect.
printf 'Gr\xc3\xbc\xc3\x9fe aus nginx\nzweite Zeile\n' > "$PREFIX/msg3"
post "/send/lua-sink?from=Web%20%3Cweb@example.org%3E&to=Bob%20%3Cbob@example.org%3E&subject=Gr%C3%BC%C3%9Fe%20%E2%80%93%20built" "$PREFIX/msg3"
check_eq "built message response" "$(sed -e 1d -e 's/ reused=[a-z]*//' "$PREFIX/resp")" "accepted 250 accepted=1/1
rcpt bob@example.org 250 success"
wait_file "$PREFIX/lua-sink/6.eml" 10
check_eq "built message envelope" "$(cat "$PREFIX/lua-sink/6.env")" "MAIL FROM:<web@example.org>
RCPT TO:<bob@example.org>"
"${PYTHON:-/usr/bin/python3}" bindings/lua/t/parse_message.py "$PREFIX/lua-sink/6.eml" > "$PREFIX/parsed"
check_eq "built message as Python reads it" "$(grep -E '^(defects|header Subject|addr|part|text)' "$PREFIX/parsed")" 'defects 0
addr From "Web" "web@example.org"
addr To "Bob" "bob@example.org"
header Subject "Grüße – built"
part 0 multipart/mixed
part 1 text/plain charset=utf-8 cte=quoted-printable
text 1 "Grüße aus nginx\nzweite Zeile\n"
part 2 text/plain charset=utf-8 cte=base64 disposition=attachment filename="request.txt"
text 2 "Grüße aus nginx\nzweite Zeile\n"'

# 3. Postfix smtp-sink: it stores LF lines after its own headers, plus an empty line.
post "/send/smtp-sink?from=web@example.org&to=bob@example.org" "$PREFIX/msg1"
check_eq "smtp-sink response" "$(head -2 "$PREFIX/resp")" "200
accepted 250 reused=false accepted=1/1"
for ((i = 0; i < 200; i++)); do
  dump=$(ls "$PREFIX/smtp-sink" | head -1)
  [ -n "$dump" ] && tail -c 1 "$PREFIX/smtp-sink/$dump" | od -c | grep -q '\\n' && break
  sleep 0.05
done
[ -n "$dump" ] || fail "smtp-sink stored nothing"
sed 's/\r$//' "$PREFIX/msg1" > "$PREFIX/msg1.lf"
printf '\n' >> "$PREFIX/msg1.lf"
size=$(stat -c %s "$PREFIX/msg1.lf")
tail -c "$size" "$PREFIX/smtp-sink/$dump" > "$PREFIX/dump.tail"
check_file_eq "smtp-sink dump tail" "$PREFIX/dump.tail" "$PREFIX/msg1.lf"
grep -q '^X-Rcpt-Args: <bob@example.org>$' "$PREFIX/smtp-sink/$dump" || fail "smtp-sink envelope"
# The message has 8-bit text: the client declared it.
grep -q '^X-Mail-Args: <web@example.org> BODY=8BITMIME$' "$PREFIX/smtp-sink/$dump" \
  || fail "BODY=8BITMIME not declared"

# 4. aiosmtpd: STARTTLS (verified against the test CA) and AUTH, then exact bytes.
post "/send/tls-sink?from=web@example.org&to=bob@example.org&to=carol@example.org" "$PREFIX/msg1"
check_eq "tls-sink response" "$(head -2 "$PREFIX/resp")" "200
accepted 250 reused=false accepted=2/2"
wait_file "$PREFIX/tls-sink/1.eml" 10
check_file_eq "tls-sink message" "$PREFIX/tls-sink/1.eml" "$PREFIX/msg1"
check_eq "tls-sink envelope" "$(cat "$PREFIX/tls-sink/1.env")" "MAIL FROM:<web@example.org>
RCPT TO:<bob@example.org>
RCPT TO:<carol@example.org>
tls=yes
auth=user"

# 4b. Again: the pooled TLS connection (cosocket pool keeps the TLS state) is reused.
post "/send/tls-sink?from=web@example.org&to=dave@example.org" "$PREFIX/msg2"
check_eq "tls-sink response 2" "$(head -2 "$PREFIX/resp")" "200
accepted 250 reused=true accepted=1/1"
wait_file "$PREFIX/tls-sink/2.eml" 10
check_file_eq "tls-sink message 2" "$PREFIX/tls-sink/2.eml" "$PREFIX/msg2"
check_eq "tls-sink envelope 2" "$(tail -2 "$PREFIX/tls-sink/2.env")" "tls=yes
auth=user"

# 4c. LMTP over a Unix-domain socket (ngx.socket.tcp connects to "unix:" paths): one
# reply per recipient after the data, and smtp-sink -L's dump holds the message.
post "/send/lmtp-sink?from=web@example.org&to=bob@example.org&to=carol@example.org" "$PREFIX/msg2"
check_eq "lmtp-sink response" "$(sed -e 's/ reused=[a-z]*//' "$PREFIX/resp")" "200
accepted 250 accepted=2/2
rcpt bob@example.org 250 success delivered 250
rcpt carol@example.org 250 success delivered 250"
for ((i = 0; i < 200; i++)); do
  ldump=$(ls "$PREFIX/lmtp-sink" | grep -v '^lmtp.sock$' | head -1)
  [ -n "$ldump" ] && grep -q 'pooled connection' "$PREFIX/lmtp-sink/$ldump" && break
  sleep 0.05
done
grep -q '^X-Rcpt-Args: <carol@example.org>$' "$PREFIX/lmtp-sink/$ldump" || fail "lmtp-sink dump"
passed=$((passed + 1))

# 5. A refused sender address is a clean 502 from the handler, nginx stays healthy.
post "/send/lua-sink?from=bad%0D%0ARSET&to=bob@example.org" "$PREFIX/msg2"
head -1 "$PREFIX/resp" | grep -q '^200$' && grep -q '^refused' "$PREFIX/resp" \
  || head -1 "$PREFIX/resp" | grep -q '^502$' || fail "injection attempt: $(cat "$PREFIX/resp")"
passed=$((passed + 1))

if grep -E '\[(warn|error|alert|crit|emerg)\]|lua entry thread aborted|runtime error' "$PREFIX/error.log"; then
  fail "warnings or errors in nginx error.log (the client must not make nginx complain)"
fi
passed=$((passed + 1))
echo "nginx test: $passed passed, 0 failed"
