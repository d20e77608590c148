#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore.aio.serve(proxy_protocol="v2") behind the HAProxy of t10 (send-proxy-v2,
# option smtpchk with check-send-proxy): the handler sees session.peer = the client's own
# address and port and session.proxy_peer = HAProxy's connection; messages byte-identical.
# Then serve(xclient_from=[...]) with XCLIENT played by smtplib, and refused for a client
# outside the list. Needs SMTPCORE_PY: a python with the smtpcore package.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t30: smtpcore.aio.serve() behind HAProxy (PROXY v2) and with XCLIENT"
need haproxy || { finish; exit 1; }
: "${SMTPCORE_PY:?set SMTPCORE_PY to a python that imports smtpcore}"

make_message "$WORK/msg.eml" python

# start_py NAME ARGS...: py_server.py storing into $WORK/NAME; PY_PORT, PY_PID.
start_py() {
  local name=$1; shift
  start_listener "$name" "$SMTPCORE_PY" "$DEPLOY_DIR/py_server.py" "$WORK/$name" "$@"
  PY_PORT=$LAST_PORT
  PY_PID=$LAST_PID
}
# field N KEY: a value from DIR/N.json
field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

start_py py2 --proxy-protocol v2
d="$WORK/hap"
mkdir -p "$d"
front=$(free_port)
fill "$DEPLOY_DIR/haproxy.cfg" "$d/haproxy.cfg.full" "DIR=$d" "FRONT_PORT=$front" \
  "SINK1_PORT=$PY_PORT" "SINK2_PORT=0" "PROXY=send-proxy-v2"
grep -v 'server sink2' "$d/haproxy.cfg.full" > "$d/haproxy.cfg"
start_haproxy "$d" "$d/haproxy.cfg"
if haproxy_up "$d" 1 20; then ok "Python server UP by option smtpchk with a v2 LOCAL check"
else fail "HAProxy health check of the Python server"; cat "$d/haproxy.log" "$WORK/py2.log"; fi

ports=()
for i in 1 2 3; do
  out=$(timeout 30 "$PY" "$DEPLOY_DIR/port_client.py" 127.0.0.1 "$front" "$WORK/msg.eml" "py$i.example.org") \
    || fail "smtplib $i through HAProxy: $out"
  ports+=("$(sed -n 's/^port //p' <<<"$out")")
done
check "3 messages handled" wait_count "$WORK/py2" 6 10
for i in 1 2 3; do
  # Messages may be handled in any order: find the one whose helo is py$i.
  j=$(grep -l "\"helo\": \"py$i.example.org\"" "$WORK"/py2/*.json | head -1)
  if [ -z "$j" ]; then fail "message $i not found"; continue; fi
  check "message $i: session.peer is the client (127.0.0.1:${ports[$((i - 1))]})" \
    test "$(field "$j" peer)" = "['127.0.0.1', ${ports[$((i - 1))]}]"
  pp=$(field "$j" proxy_peer)
  check "message $i: session.proxy_peer is HAProxy's connection ($pp)" \
    test "$pp" != None -a "$pp" != "['127.0.0.1', ${ports[$((i - 1))]}]"
  check "message $i: byte-identical" cmp -s "${j%.json}.eml" "$WORK/msg.eml"
done
stop_pid "$HAPROXY_PID" || true
expect_status 0 "Python server stops" stop_pid "$PY_PID"

# XCLIENT: allowed from 127.0.0.1, played by smtplib (port_client.py) as the proxy.
start_py pyx --xclient-from 127.0.0.1/32,::1
out=$(timeout 30 "$PY" "$DEPLOY_DIR/port_client.py" 127.0.0.1 "$PY_PORT" "$WORK/msg.eml" \
        proxy.example.org ADDR=192.0.2.7 PORT=4711) && ok "XCLIENT to serve(xclient_from=...)" \
  || fail "XCLIENT to serve(xclient_from=...): $out"
check "message stored" wait_count "$WORK/pyx" 2 10
check "session.peer is the XCLIENT client" test "$(field "$WORK/pyx/1.json" peer)" = "['192.0.2.7', 4711]"
check "session.proxy_peer is the sender's connection" \
  grep -q '"proxy_peer": \["127.0.0.1", [0-9]*\]' "$WORK/pyx/1.json"
check "byte-identical" cmp -s "$WORK/pyx/1.eml" "$WORK/msg.eml"
expect_status 0 "Python server stops" stop_pid "$PY_PID"

start_py pyn --xclient-from 192.0.2.0/24
out=$(timeout 30 "$PY" "$DEPLOY_DIR/port_client.py" 127.0.0.1 "$PY_PORT" "$WORK/msg.eml" \
        proxy.example.org ADDR=192.0.2.7) && fail "XCLIENT accepted outside xclient_from" \
  || ok "XCLIENT refused outside xclient_from"
check "... with 550 5.7.0" grep -q '^xclient 550 5\.7\.0' <<<"$out"
check "nothing stored" test "$(count_files "$WORK/pyn")" -eq 0
expect_status 0 "Python server stops" stop_pid "$PY_PID"
finish
