#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The tools' own PROXY/XCLIENT options: smtpcore-send --proxy v1|v2 (and --proxy-source)
# into smtpcore-sink --proxy-protocol v1|v2|any, a header of the wrong version refused
# without a greeting, XCLIENT (played by smtplib) into smtpcore-sink --xclient-from
# (allowed, refused, bad attribute), smtpcore-probe's xclient line, and option errors.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t05: smtpcore-send/-probe PROXY and XCLIENT options against smtpcore-sink"
make_message "$WORK/msg.eml" tools
snd() { timeout 30 "$SEND" --from a@example.org --to b@example.org --helo client.example.org "$@"; }
last_line() { grep ' status=' "$1" | tail -1; }

for v in v1 v2; do
  start_sink "pp$v" --proxy-protocol "$v" --maildir "$WORK/md$v"
  expect_status 0 "send --proxy $v to sink --proxy-protocol $v" \
    snd --proxy "$v" "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
  line=$(last_line "$WORK/pp$v.log")
  check "$v: logged with proxy=$v and via=" grep -q " proxy=$v via=127\.0\.0\.1:[0-9]* " <<<"$line"
  # send names its own end: peer= and via= are then the same address and port.
  peer=$(sed -n 's/.* peer=\([^ ]*\) .*/\1/p' <<<"$line"); via=$(sed -n 's/.* via=\([^ ]*\) .*/\1/p' <<<"$line")
  check "$v: the header's source is the sender's own end ($peer = $via)" test "$peer" = "$via"
  expect_status 0 "send --proxy $v --proxy-source 192.0.2.9:1234" \
    snd --proxy "$v" --proxy-source 192.0.2.9:1234 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
  check "$v: the sink logs the claimed client" \
    grep -q " peer=192\.0\.2\.9:1234 proxy=$v via=" <<<"$(last_line "$WORK/pp$v.log")"
  other=v2; [ "$v" = v2 ] && other=v1
  expect_status 2 "a $other header to a $v sink: no greeting, temporary failure" \
    snd --proxy "$other" --timeout 5 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
  check "$v: the refusal is logged" grep -q "PROXY header refused" "$WORK/pp$v.log"
  expect_status 2 "no header at all to a $v sink" snd --timeout 5 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
  check "$v: 2 messages stored, byte-identical" test "$(count_files "$WORK/md$v/new")" -eq 2 -a \
    -z "$(for f in "$WORK/md$v"/new/*; do cmp -s "$f" "$WORK/msg.eml" || echo x; done)"
  expect_status 0 "$v sink stops" stop_pid "$SINK_PID"
done

start_sink ppany --proxy-protocol any --maildir "$WORK/mdany"
expect_status 0 "send --proxy v1 to sink --proxy-protocol any" snd --proxy v1 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
expect_status 0 "send --proxy v2 to sink --proxy-protocol any" snd --proxy v2 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
check "any: one v1 and one v2 line" test "$(grep -c ' proxy=v1 ' "$WORK/ppany.log")" -eq 1 -a \
  "$(grep -c ' proxy=v2 ' "$WORK/ppany.log")" -eq 1
expect_status 0 "any sink stops" stop_pid "$SINK_PID"

# XCLIENT into the sink, played by smtplib (port_client.py); smtpcore-send --xclient is t06.
start_sink xc --xclient-from 10.0.0.0/8,127.0.0.1,::1 --maildir "$WORK/mdxc"
pc() { timeout 30 "$PY" "$DEPLOY_DIR/port_client.py" 127.0.0.1 "$SINK_PORT" "$WORK/msg.eml" "$@"; }
out=$(pc client.example.org ADDR=192.0.2.5 PORT=2500 LOGIN=alice) && ok "XCLIENT ADDR PORT LOGIN accepted" \
  || fail "XCLIENT ADDR PORT LOGIN: $out"
check "XCLIENT answered with a new 220 greeting" grep -q '^xclient 220 ' <<<"$out"
line=$(last_line "$WORK/xc.log")
check "xclient: the sink logs the client and its login" \
  grep -q ' peer=192\.0\.2\.5:2500 proxy=xclient via=127\.0\.0\.1:[0-9]* helo=client\.example\.org .*auth=alice ' <<<"$line"
out=$(pc client.example.org ADDR=IPV6:2001:db8::7 'NAME=[UNAVAILABLE]') && ok "XCLIENT ADDR=IPV6:... NAME=[UNAVAILABLE]" \
  || fail "XCLIENT IPv6: $out"
check "xclient: an IPv6 client without port" grep -q ' peer=\[2001:db8::7\] proxy=xclient ' <<<"$(last_line "$WORK/xc.log")"
out=$(pc client.example.org ADDR=192.0.2.5 BOGUS=1) && fail "XCLIENT with an unknown attribute accepted" \
  || ok "XCLIENT with an unknown attribute refused"
check "... with 501 5.5.4" grep -q '^xclient 501 5\.5\.4' <<<"$out"
check "xclient: 2 messages stored, byte-identical" test "$(count_files "$WORK/mdxc/new")" -eq 2 -a \
  -z "$(for f in "$WORK/mdxc"/new/*; do cmp -s "$f" "$WORK/msg.eml" || echo x; done)"
"$PROBE" "127.0.0.1:$SINK_PORT" >"$WORK/probe.out" 2>&1 || true
check "probe reports XCLIENT offered" grep -q '^xclient .*info.*offered to this client:' "$WORK/probe.out"
expect_status 0 "xclient sink stops" stop_pid "$SINK_PID"

start_sink noxc --xclient-from 192.0.2.0/24 --maildir "$WORK/mdno"
"$PROBE" "127.0.0.1:$SINK_PORT" >"$WORK/probe2.out" 2>&1 || true
check "probe reports XCLIENT not offered" grep -q '^xclient .*not offered' "$WORK/probe2.out"
before=$(count_files "$WORK/mdno/new") # the probe's own checks deliver messages
out=$(pc client.example.org ADDR=192.0.2.5) && fail "XCLIENT accepted from a client not allowed" \
  || ok "XCLIENT from a client not allowed is refused"
check "... with 550 5.7.0" grep -q '^xclient 550 5\.7\.0' <<<"$out"
check "nothing stored" test "$(count_files "$WORK/mdno/new")" -eq "$before"
expect_status 0 "sink stops" stop_pid "$SINK_PID"

expect_status 2 "--proxy-protocol v3 is a usage error" "$SINK" --proxy-protocol v3
expect_status 2 "--xclient-from 10.0.0.0/33 is a usage error" "$SINK" --xclient-from 10.0.0.0/33
expect_status 2 "--xclient-from with an empty entry is a usage error" "$SINK" --xclient-from 127.0.0.1,
expect_status 2 "--xclient-from host name is a usage error" "$SINK" --xclient-from localhost
expect_status 4 "send --proxy v3 is a usage error" "$SEND" --from a@b --to c@d --proxy v3 127.0.0.1:1
expect_status 4 "send --proxy-source without --proxy is a usage error" \
  "$SEND" --from a@b --to c@d --proxy-source 192.0.2.1:5 127.0.0.1:1
finish
