#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# nginx's mail proxy (protocol smtp; smtp_auth none; xclient on) in front of
# smtpcore-sink --xclient-from 127.0.0.1, its auth_http answered by a content_by_lua_block
# in the same nginx. Messages arrive byte-identical; the sink logs the client nginx named
# in XCLIENT (nginx sends ADDR and NAME, no PORT) with the HELO the client gave, not
# nginx's own; a route refused in Lua never reaches the sink; and a sink that does not
# trust nginx's address refuses its XCLIENT, so nothing is delivered under a false name.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t20: nginx mail proxy (XCLIENT, auth_http in Lua) -> smtpcore-sink"
need nginx swaks || { finish; exit 1; }
[ -f /usr/lib/nginx/modules/ngx_mail_module.so ] || { fail "libnginx-mod-mail not installed"; finish; exit 1; }
[ -f /usr/share/nginx/modules/ngx_http_lua_module.so ] || { fail "libnginx-mod-http-lua not installed"; finish; exit 1; }

make_message "$WORK/msg.eml" nginx
head -c -2 "$WORK/msg.eml" > "$WORK/msg.swaks"

# start_nginx NAME SINK_PORT: nginx in front of the sink; SMTP_PORT, NGINX_DIR.
start_nginx() {
  NGINX_DIR="$WORK/$1"
  mkdir -p "$NGINX_DIR"
  SMTP_PORT=$(free_port)
  local auth
  auth=$(free_port)
  fill "$DEPLOY_DIR/nginx-mail.conf" "$NGINX_DIR/nginx.conf" "DIR=$NGINX_DIR" \
    "AUTH_PORT=$auth" "SINK_PORT=$2" "SMTP_PORT=$SMTP_PORT"
  nginx -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_DIR/error.log" \
    >"$NGINX_DIR/stdout.log" 2>&1 &
  BG_PIDS+=("$!")
  NGINX_PID=$!
  wait_port "$SMTP_PORT" && wait_port "$auth"
}
sw() { timeout 30 swaks --server "127.0.0.1:$SMTP_PORT" --from sender@example.com \
         --helo client.example.org "$@" >"$WORK/swaks.out" 2>&1; }

start_sink sink20 --xclient-from 127.0.0.1,::1 --maildir "$WORK/md20"
start_nginx ng1 "$SINK_PORT"

expect_status 0 "swaks through nginx" sw --to one@example.com --data "$WORK/msg.swaks"
expect_status 0 "swaks --pipeline through nginx" sw --pipeline --to two@example.com --data "$WORK/msg.swaks"
out=$(timeout 30 "$PY" "$DEPLOY_DIR/port_client.py" 127.0.0.1 "$SMTP_PORT" "$WORK/msg.eml" py.example.org) \
  && ok "smtplib through nginx" || fail "smtplib through nginx: $out"
check "3 messages stored" wait_count "$WORK/md20/new" 3 10
same=0
for f in "$WORK"/md20/new/*; do cmp -s "$f" "$WORK/msg.eml" && same=$((same + 1)); done
check "all 3 byte-identical to the message sent" test "$same" -eq 3

grep ' status=' "$WORK/sink20.log" > "$WORK/tx20.log" || true
check "3 transaction log lines" test "$(wc -l < "$WORK/tx20.log")" -eq 3
check "each names the client from XCLIENT, nginx as via=" \
  test "$(grep -c ' peer=127\.0\.0\.1 proxy=xclient via=127\.0\.0\.1:[0-9]* ' "$WORK/tx20.log")" -eq 3
check "the client's HELO is logged, not nginx's own EHLO" \
  test "$(grep -c ' helo=client\.example\.org ' "$WORK/tx20.log")" -eq 2 -a \
       "$(grep -c ' helo=py\.example\.org ' "$WORK/tx20.log")" -eq 1
check "the envelope reached the sink" grep -q 'from=<sender@example.com> nrcpt=1 to=<two@example.com>' "$WORK/tx20.log"
check "the Lua route saw the client" grep -q 'route 127.0.0.1 from MAIL FROM:<sender@example.com>' "$NGINX_DIR/error.log"

# A recipient the Lua route refuses: nginx answers for it, the sink never sees it.
sw --to blocked@example.com --data "$WORK/msg.swaks" || true
check "refused route answered 550 5.7.1 by nginx" grep -q '<\*\* *550 5.7.1' "$WORK/swaks.out"
check "nothing more stored" test "$(count_files "$WORK/md20/new")" -eq 3
stop_pid "$NGINX_PID" || true
expect_status 0 "sink stops cleanly" stop_pid "$SINK_PID"

# The trust model: a sink that does not list nginx's address neither offers nor accepts
# XCLIENT, so nginx cannot deliver under the client's name.
start_sink sink20d --xclient-from 192.0.2.0/24 --maildir "$WORK/md20d" --verbose
start_nginx ng2 "$SINK_PORT"
sw --to one@example.com --data "$WORK/msg.swaks" || true
check "nginx's XCLIENT refused by a sink that does not trust it" \
  grep -q 'protocol error: XCLIENT.*reply 550$' "$WORK/sink20d.log"
check "the client was not served" grep -q '<\*\* *[45][0-9][0-9]' "$WORK/swaks.out"
check "nothing stored" test "$(count_files "$WORK/md20d/new")" -eq 0
stop_pid "$NGINX_PID" || true
expect_status 0 "sink stops cleanly" stop_pid "$SINK_PID"
finish
