#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-probe against smtpcore-sink (conformant) and against a server that loses
# pipelined commands (the 003 seed's): the probe must flag it, and smtpcore-send with
# --quirk split-quit must still deliver. smtpcore-send -> smtpcore-sink end to end.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t50: smtpcore-probe, broken server, smtpcore-send -> smtpcore-sink"

start_sink sink50 --maildir "$WORK/md50" --quiet
st=0; timeout 60 "$PROBE" "127.0.0.1:$SINK_PORT" >"$WORK/probe-sink.txt" || st=$?
if [ "$st" -eq 0 ] && grep -q "^verdict: conformant" "$WORK/probe-sink.txt"; then
  ok "probe: smtpcore-sink conformant"
else
  fail "probe against smtpcore-sink: exit $st"; cat "$WORK/probe-sink.txt"
fi
grep -q "^bare-lf-dot *pass" "$WORK/probe-sink.txt" && ok "probe: sink not exposed to bare-LF smuggling" \
  || fail "bare-lf-dot not pass"
timeout 60 "$PROBE" --json "127.0.0.1:$SINK_PORT" >"$WORK/probe-sink.json" || true
if "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["conformant"] and len(d["checks"])==8 else 1)' "$WORK/probe-sink.json"; then
  ok "probe --json: valid JSON, conformant, 8 checks (xclient among them)"
else
  fail "probe --json"; cat "$WORK/probe-sink.json"
fi
stop_pid "$SINK_PID" || true

# With STARTTLS: the upgrade works and plaintext injected behind STARTTLS is refused.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
  -days 1 -subj "/CN=localhost" >/dev/null 2>&1
start_sink sink50t --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" --quiet
st=0; timeout 60 "$PROBE" "127.0.0.1:$SINK_PORT" >"$WORK/probe-tls.txt" || st=$?
if [ "$st" -eq 0 ] && grep -q "^starttls *pass" "$WORK/probe-tls.txt" &&
   grep -q "^tls-injection *pass" "$WORK/probe-tls.txt"; then
  ok "probe: sink with STARTTLS conformant (handshake, EHLO again, injection refused)"
else
  fail "probe against the TLS sink: exit $st"; cat "$WORK/probe-tls.txt"
fi
stop_pid "$SINK_PID" || true

# smtpcore-send --tls-verify / --cafile: the chain must reach a trusted CA and the
# certificate must be for the host (here an IP address, so its IP subjectAltName).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/vkey.pem" -out "$WORK/vcert.pem" \
  -days 1 -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" >/dev/null 2>&1
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/okey.pem" -out "$WORK/ocert.pem" \
  -days 1 -subj "/CN=mx.example.net" -addext "subjectAltName=DNS:mx.example.net" >/dev/null 2>&1
printf 'Subject: verified\r\n\r\nhi\r\n' > "$WORK/v.eml"
start_sink sink50v --tls-cert "$WORK/vcert.pem" --tls-key "$WORK/vkey.pem" --quiet
expect_status 0 "send --cafile: certificate for 127.0.0.1 signed by the given CA" timeout 30 \
  "$SEND" -q --cafile "$WORK/vcert.pem" --from a@example.com --to b@example.com \
  "127.0.0.1:$SINK_PORT" "$WORK/v.eml"
expect_status 3 "send --tls-verify: self-signed, not in the system trust store" timeout 30 \
  "$SEND" -q --tls-verify --from a@example.com --to b@example.com "127.0.0.1:$SINK_PORT" "$WORK/v.eml"
expect_status 3 "send --cafile with another CA" timeout 30 "$SEND" -q --cafile "$WORK/ocert.pem" \
  --from a@example.com --to b@example.com "127.0.0.1:$SINK_PORT" "$WORK/v.eml"
stop_pid "$SINK_PID" || true
start_sink sink50o --tls-cert "$WORK/ocert.pem" --tls-key "$WORK/okey.pem" --quiet
st=0; timeout 30 "$SEND" --cafile "$WORK/ocert.pem" --from a@example.com --to b@example.com \
  "127.0.0.1:$SINK_PORT" "$WORK/v.eml" 2>"$WORK/v-mismatch.err" || st=$?
[ "$st" -eq 3 ] && grep -q "IP address mismatch" "$WORK/v-mismatch.err" \
  && ok "send --cafile: trusted certificate for another name refused (IP address mismatch)" \
  || { fail "host check (exit $st)"; cat "$WORK/v-mismatch.err"; }
expect_status 0 "send --tls-required (opportunistic, unverified) still delivers" timeout 30 \
  "$SEND" -q --tls-required --from a@example.com --to b@example.com "127.0.0.1:$SINK_PORT" "$WORK/v.eml"
stop_pid "$SINK_PID" || true

# The same sink with --bare-lf accept still ends data only at CRLF.CRLF.
start_sink sink50b --bare-lf accept --quiet
timeout 60 "$PROBE" "127.0.0.1:$SINK_PORT" >"$WORK/probe-sinkb.txt" || true
grep -q "^bare-lf-dot *pass.*250" "$WORK/probe-sinkb.txt" && ok "probe: --bare-lf accept takes <LF>.<LF> as content (one 250)" \
  || { fail "--bare-lf accept"; cat "$WORK/probe-sinkb.txt"; }
stop_pid "$SINK_PID" || true

start_listener broken "$PY" "$INTEROP_DIR/broken_server.py" --store "$WORK/broken-store" \
  --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
BPORT=$LAST_PORT
st=0; timeout 60 "$PROBE" --json "127.0.0.1:$BPORT" >"$WORK/probe-broken.json" || st=$?
if [ "$st" -eq 1 ] && "$PY" -c '
import json,sys
d=json.load(open(sys.argv[1]))
c={x["name"]:x["result"] for x in d["checks"]}
sys.exit(0 if not d["conformant"] and c["pipelining"]=="fail" and c["dot-quit"]=="pass"
         and c["tls-injection"]=="fail" and c["starttls"]=="pass" else 1)' "$WORK/probe-broken.json"; then
  ok "probe: broken server flagged (pipelining fail, tls-injection fail, dot-quit pass, exit 1)"
else
  fail "probe did not flag the broken server (exit $st)"; cat "$WORK/probe-broken.json"
fi
make_message "$WORK/split.eml" split
n0=$(count_files "$WORK/broken-store")
expect_status 0 "send --quirk split-quit to the broken server" \
  timeout 30 "$SEND" -q --quirk split-quit --from sender@example.com --to one@example.com \
    --to two@example.com "127.0.0.1:$BPORT" "$WORK/split.eml"
f=$(grep -l "smtpcore interop split" "$WORK"/broken-store/msg-*.eml 2>/dev/null | head -1 || true)
if [ -n "$f" ] && cmp -s "$f" "$WORK/split.eml"; then ok "broken server stored the message intact"
else fail "message not delivered intact to the broken server (had $n0 files)"; fi
make_message "$WORK/splittls.eml" splittls
expect_status 0 "send --tls-required --quirk split-quit to the broken server" \
  timeout 30 "$SEND" -q --tls-required --quirk split-quit --from sender@example.com \
    --to one@example.com "127.0.0.1:$BPORT" "$WORK/splittls.eml"
f=$(grep -l "smtpcore interop splittls" "$WORK"/broken-store/msg-*.eml 2>/dev/null | head -1 || true)
[ -n "$f" ] && cmp -s "$f" "$WORK/splittls.eml" && ok "stored intact after STARTTLS" || fail "TLS delivery to the broken server"

# smtpcore-send -> smtpcore-sink: content, recipients, exit codes
start_sink sink50c --maildir "$WORK/md50c" --max-rcpt 2
make_message "$WORK/e2e.eml" e2e
expect_status 0 "send -> sink, two recipients" timeout 30 "$SEND" -q --from sender@example.com \
  --to one@example.com --to two@example.com "127.0.0.1:$SINK_PORT" "$WORK/e2e.eml"
f=$(grep -lE "Subject: smtpcore interop e2e[[:cntrl:]]?$" "$WORK"/md50c/new/* 2>/dev/null | head -1 || true)
[ -n "$f" ] && cmp -s "$f" "$WORK/e2e.eml" && ok "stored file identical" || fail "stored file differs"
grep -q "nrcpt=2 to=<one@example.com>,<two@example.com>" "$WORK/sink50c.log" && ok "log line lists both recipients" \
  || fail "log line"
expect_status 1 "third recipient over --max-rcpt 2: partial" timeout 30 "$SEND" -q \
  --from sender@example.com --to a@example.com --to b@example.com --to c@example.com \
  "127.0.0.1:$SINK_PORT" "$WORK/e2e.eml"
printf 'Subject: LF only\n\nbody with LF line ends\n.leading dot\n' > "$WORK/lf.eml"
expect_status 0 "bare-LF input file: the client normalises to CRLF" timeout 30 "$SEND" -q \
  --from sender@example.com --to a@example.com "127.0.0.1:$SINK_PORT" "$WORK/lf.eml"
f=$(grep -l "Subject: LF only" "$WORK"/md50c/new/* | head -1 || true)
[ -n "$f" ] && cmp -s "$f" <(sed 's/$/\r/' "$WORK/lf.eml") && ok "stored with CRLF line ends" || fail "LF normalisation"
expect_status 4 "usage error: no --to" "$SEND" -q --from a@example.com "127.0.0.1:$SINK_PORT" "$WORK/lf.eml"
expect_status 4 "usage error: invalid --helo" "$SEND" -q --helo "this is Jupiter" --from a@example.com \
  --to b@example.com "127.0.0.1:$SINK_PORT" "$WORK/lf.eml"
expect_status 3 "--tls-required without STARTTLS offered" timeout 30 "$SEND" -q --tls-required \
  --from a@example.com --to b@example.com "127.0.0.1:$SINK_PORT" "$WORK/lf.eml"
stop_pid "$SINK_PID" || true
expect_status 2 "connection refused: temporary" "$SEND" -q --from a@example.com --to b@example.com \
  "127.0.0.1:$SINK_PORT" "$WORK/lf.eml"
finish
