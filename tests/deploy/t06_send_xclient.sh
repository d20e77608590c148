#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-send --xclient NAME=VALUE (the client engine's XCLIENT) into
# smtpcore-sink --xclient-from: accepted and logged, refused by a sink that does not
# trust the sender (exit 3, nothing sent), and option errors.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t06: smtpcore-send --xclient"
make_message "$WORK/msg.eml" send-xclient
snd() { timeout 30 "$SEND" --from a@example.org --to b@example.org --helo client.example.org "$@"; }
last_line() { grep ' status=' "$1" | tail -1; }

start_sink xc --xclient-from 127.0.0.1 --maildir "$WORK/mdxc"
expect_status 0 "send --xclient ADDR PORT LOGIN" \
  snd --xclient ADDR=192.0.2.5 --xclient PORT=2500 --xclient LOGIN=alice "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
check "the sink logs the client and its login" \
  grep -q ' peer=192\.0\.2\.5:2500 proxy=xclient via=127\.0\.0\.1:[0-9]* helo=client\.example\.org .*auth=alice ' \
  <<<"$(last_line "$WORK/xc.log")"
expect_status 0 "send --xclient ADDR=IPV6:2001:db8::7 NAME=[UNAVAILABLE]" \
  snd --xclient ADDR=IPV6:2001:db8::7 --xclient 'NAME=[UNAVAILABLE]' "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
check "an IPv6 client without port" grep -q ' peer=\[2001:db8::7\] proxy=xclient ' <<<"$(last_line "$WORK/xc.log")"
expect_status 3 "send --xclient with an attribute the server refuses (501): permanent failure" \
  snd --xclient BOGUS=1 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
check "2 messages stored, byte-identical" test "$(count_files "$WORK/mdxc/new")" -eq 2 -a \
  -z "$(for f in "$WORK/mdxc"/new/*; do cmp -s "$f" "$WORK/msg.eml" || echo x; done)"
expect_status 0 "sink stops" stop_pid "$SINK_PID"

start_sink noxc --xclient-from 192.0.2.0/24 --maildir "$WORK/mdno"
expect_status 3 "send --xclient to a sink that does not offer it to us: permanent failure" \
  snd --xclient ADDR=192.0.2.5 "127.0.0.1:$SINK_PORT" "$WORK/msg.eml"
check "nothing stored" test "$(count_files "$WORK/mdno/new")" -eq 0
expect_status 0 "sink stops" stop_pid "$SINK_PID"

expect_status 4 "send --xclient without = is a usage error" "$SEND" --from a@b --to c@d --xclient ADDR 127.0.0.1:1
finish
