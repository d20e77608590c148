#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# HAProxy (TCP mode, roundrobin, option smtpchk) in front of two smtpcore-sinks, one of
# them with --workers 2: once with send-proxy (v1) and once with send-proxy-v2. swaks,
# smtp-source and smtplib deliver through it; every message is stored byte-identical,
# every log line names the client's own address and port (not HAProxy's), and a client
# that bypasses HAProxy gets no greeting.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t10: HAProxy -> smtpcore-sink (PROXY protocol v1 and v2)"
need haproxy swaks smtp-source || { finish; exit 1; }

# The messages: the interop test message (for swaks and smtplib), and a file smtp-source
# sends as it is (-F: CRLF after each line, dot-stuffed; it adds one empty line).
make_message "$WORK/msg.eml" haproxy
head -c -2 "$WORK/msg.eml" > "$WORK/msg.swaks"
printf 'Subject: smtp-source via haproxy\nFrom: a@example.org\n\nbody\n.dot line\nlast\n' > "$WORK/src.txt"
{ sed 's/$/\r/' "$WORK/src.txt"; printf '\r\n'; } > "$WORK/src.eml"

# all_equal DIR FILE: every file in DIR has FILE's bytes.
all_equal() {
  local f
  for f in "$1"/*; do cmp -s "$f" "$2" || { echo "differs: $f" >&2; return 1; }; done
}

for v in v1 v2; do
  proxy=send-proxy; [ "$v" = v2 ] && proxy=send-proxy-v2
  d="$WORK/$v"
  mkdir -p "$d"
  start_sink "s1$v" --proxy-protocol "$v" --maildir "$d/md1"
  p1=$SINK_PORT; pid1=$SINK_PID
  start_sink "s2$v" --proxy-protocol "$v" --workers 2 --maildir "$d/md2"
  p2=$SINK_PORT; pid2=$SINK_PID
  front=$(free_port)
  fill "$DEPLOY_DIR/haproxy.cfg" "$d/haproxy.cfg" "DIR=$d" "FRONT_PORT=$front" \
    "SINK1_PORT=$p1" "SINK2_PORT=$p2" "PROXY=$proxy"
  start_haproxy "$d" "$d/haproxy.cfg"
  if ! haproxy_up "$d" 2 20; then
    fail "$v: HAProxy health checks (option smtpchk, $proxy) did not pass"
    cat "$d/haproxy.log"; cat "$WORK/s1$v.log"
    continue
  fi
  ok "$v: both sinks UP by option smtpchk with check-send-proxy"

  # swaks, 4 messages (roundrobin: both sinks get some).
  for i in 1 2 3 4; do
    timeout 30 swaks --server "127.0.0.1:$front" --from sender@example.com --to one@example.com \
      --helo client.example.org --data "$WORK/msg.swaks" >"$d/swaks$i.out" 2>&1 || \
      { fail "$v: swaks $i"; cat "$d/swaks$i.out"; }
  done
  # smtplib from a known port, twice: the log must show exactly that port.
  ports=()
  for i in 1 2; do
    out=$(timeout 30 "$PY" "$DEPLOY_DIR/port_client.py" 127.0.0.1 "$front" "$WORK/msg.eml" "py$i.example.org") || fail "$v: smtplib $i"
    ports+=("$(sed -n 's/^port //p' <<<"$out")")
  done
  # smtp-source: 40 messages over 4 sessions.
  check "$v: smtp-source, 40 messages through HAProxy" \
    timeout 120 smtp-source -F "$WORK/src.txt" -f from@example.org -t to@example.com \
      -s 4 -m 40 "127.0.0.1:$front"
  for _ in $(seq 1 200); do
    [ $(( $(count_files "$d/md1/new") + $(count_files "$d/md2/new") )) -ge 46 ] && break
    sleep 0.1
  done
  check "$v: 46 messages stored over the two sinks" \
    test $(( $(count_files "$d/md1/new") + $(count_files "$d/md2/new") )) -eq 46
  n1=$(count_files "$d/md1/new"); n2=$(count_files "$d/md2/new")
  check "$v: roundrobin fed both sinks ($n1 + $n2)" test "$n1" -gt 0 -a "$n2" -gt 0
  mkdir -p "$d/all.swaks" "$d/all.src"
  for f in "$d"/md1/new/* "$d"/md2/new/*; do
    if grep -q '^Subject: smtp-source via haproxy' "$f"; then cp "$f" "$d/all.src/"
    else cp "$f" "$d/all.swaks/"; fi
  done
  check "$v: 6 swaks/smtplib messages byte-identical" \
    test "$(count_files "$d/all.swaks")" -eq 6 -a -z "$(all_equal "$d/all.swaks" "$WORK/msg.eml" 2>&1)"
  check "$v: 40 smtp-source messages byte-identical" \
    test "$(count_files "$d/all.src")" -eq 40 -a -z "$(all_equal "$d/all.src" "$WORK/src.eml" 2>&1)"

  cat "$WORK/s1$v.log" "$WORK/s2$v.log" | grep ' status=' > "$d/tx.log" || true
  check "$v: 46 transaction log lines" test "$(wc -l < "$d/tx.log")" -eq 46
  check "$v: every one says proxy=$v and names HAProxy with via=" \
    test "$(grep -c " peer=127\.0\.0\.1:[0-9]* proxy=$v via=127\.0\.0\.1:[0-9]* " "$d/tx.log")" -eq 46
  # The client's port differs from the port HAProxy connected from on every line.
  same=$(sed -n 's/.* peer=127\.0\.0\.1:\([0-9]*\) proxy=[^ ]* via=127\.0\.0\.1:\([0-9]*\) .*/\1 \2/p' "$d/tx.log" \
         | awk '$1 == $2' | wc -l)
  check "$v: peer= is never HAProxy's own connection" test "$same" -eq 0
  for i in 0 1; do
    check "$v: smtplib client port ${ports[$i]} logged with its helo" \
      grep -q " peer=127\.0\.0\.1:${ports[$i]} proxy=$v via=[^ ]* helo=py$((i + 1))\.example\.org " "$d/tx.log"
  done
  # A client that bypasses HAProxy: no greeting, the sink says why.
  got=$(timeout 10 "$PY" -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"EHLO bypass.example.org\r\n")
data = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
except socket.timeout:
    data += b"TIMEOUT"
print(repr(data))' "$p1")
  check "$v: direct connection closed without a greeting" test "$got" = "b''"
  check "$v: the refused header is logged" grep -q "PROXY header refused" "$WORK/s1$v.log"

  stop_pid "$HAPROXY_PID" || true
  expect_status 0 "$v: sink1 stops cleanly" stop_pid "$pid1"
  expect_status 0 "$v: sink2 (2 workers) stops cleanly" stop_pid "$pid2"
done
finish
