#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-send's verdicts and messages against servers that refuse (issue 17): AUTH
# refused or not offered, credentials hidden in -v, a 554 greeting, EHLO and HELO
# refused, the deciding reply quoted (450 then 554), Exim's multi-line replies, an 8-bit
# message to a server without 8BITMIME, SIZE after CRLF conversion, an empty message;
# then the swaks-style options into smtpcore-sink, and --version of the three tools.
source "$(dirname "$0")/lib.sh"
echo "t47: smtpcore-send errors, verdicts and swaks-style options"
SCRIPTED="$INTEROP_DIR/scripted_server.py"
printf 'Subject: t47\n\nhello\n' >"$WORK/msg.eml"

# serve NAME ARGS...: a scripted server; SRV_PORT, SRV_PID; its log in $WORK/NAME.cmds.
serve() {
  local name=$1; shift
  start_listener "$name" "$PY" "$SCRIPTED" --log "$WORK/$name.cmds" "$@"
  SRV_PORT=$LAST_PORT
  SRV_PID=$LAST_PID
  : >>"$WORK/$name.cmds"
}
# send NAME ARGS...: smtpcore-send to the last server; stderr in $WORK/NAME.err,
# stdout (the -v transcript) in $WORK/NAME.out, exit status in ST.
send() {
  local name=$1; shift
  ST=0
  timeout 30 "$SEND" --from a@example.org --to b@example.net "127.0.0.1:$SRV_PORT" "$@" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || ST=$?
}
has() { if grep -qF -- "$2" "$1"; then ok "$3"; else fail "$3"; cat "$1"; fi; }
hasnt() { if grep -qF -- "$2" "$1"; then fail "$3"; cat "$1"; else ok "$3"; fi; }
status() { if [ "$ST" -eq "$1" ]; then ok "$2 (exit $ST)"; else fail "$2: exit $ST, want $1"; fi; }

serve auth535 --ehlo-ext "AUTH PLAIN LOGIN" --reply "AUTH=535 5.7.8 Authentication credentials invalid"
send auth535 -v --auth user:bad "$WORK/msg.eml"
status 3 "AUTH refused with 535: permanent"
has "$WORK/auth535.err" "authentication failed: 535 5.7.8 Authentication credentials invalid" \
  "the reason quotes the 535"
hasnt "$WORK/auth535.cmds" "MAIL FROM" "nothing sent after the refused AUTH"
has "$WORK/auth535.out" "C: AUTH PLAIN [hidden]" "-v: the initial response is hidden"
hasnt "$WORK/auth535.out" "AHVzZXIAYmFk" "-v: no base64 credentials in the transcript"
send auth535s -v --show-auth --auth user:bad "$WORK/msg.eml"
has "$WORK/auth535s.out" "C: AUTH PLAIN AHVzZXIAYmFk" "--show-auth shows them"
stop_pid "$SRV_PID" || true

serve auth454 --ehlo-ext "AUTH LOGIN" --reply "AUTH=454 4.7.0 Temporary authentication failure"
send auth454 --auth user:pw "$WORK/msg.eml"
status 2 "AUTH refused with 454: temporary"
stop_pid "$SRV_PID" || true

serve noauth --ehlo-ext PIPELINING --ehlo-ext STARTTLS
send noauth --auth user:pw "$WORK/msg.eml"
status 3 "AUTH not offered (only after TLS): permanent"
has "$WORK/noauth.err" "does not offer AUTH before TLS" "the missing AUTH is explained"
has "$WORK/noauth.err" "--starttls" "and --starttls suggested"
stop_pid "$SRV_PID" || true

serve greet554 --greeting "554 5.7.1 go away"
send greet554 "$WORK/msg.eml"
status 3 "554 greeting: permanent"
has "$WORK/greet554.err" "refused the session at the greeting: 554 5.7.1 go away" \
  "the greeting's refusal is quoted"
stop_pid "$SRV_PID" || true

serve helo550 --reply "EHLO=550 5.7.1 not welcome" --reply "HELO=550 5.7.1 not welcome"
send helo550 "$WORK/msg.eml"
status 3 "EHLO and HELO refused with 550: permanent"
has "$WORK/helo550.err" "550 5.7.1 not welcome" "the HELO refusal is quoted"
stop_pid "$SRV_PID" || true

serve defer --rcpt "450 4.2.0 <b@example.net>: Recipient address rejected: Greylisted" \
  --reply "DATA=554 5.5.1 Error: no valid recipients"
send defer "$WORK/msg.eml"
status 2 "450 then 554 no valid recipients: temporary"
has "$WORK/defer.err" "temporary failure: 450 4.2.0 <b@example.net>: Recipient address rejected: Greylisted" \
  "the reason quotes the 450 that decided it"
stop_pid "$SRV_PID" || true

serve exim --final "250- 0 byte chunk, total 169|250 OK id=1tJx0a-000ABC-1z"
send exim "$WORK/msg.eml"
status 0 "Exim-style multi-line 250"
has "$WORK/exim.err" "OK id=1tJx0a-000ABC-1z" "the last line (queue id) is shown"
stop_pid "$SRV_PID" || true

serve eximref --rcpt "550 relay not permitted" \
  --reply "DATA=503-All RCPT commands were rejected with this error:|503-550 relay not permitted|503 Valid RCPT command must precede DATA"
send eximref "$WORK/msg.eml"
status 3 "Exim: every recipient refused"
has "$WORK/eximref.err" "permanent failure: 550 relay not permitted" "the RCPT refusal decides, not the 503"
stop_pid "$SRV_PID" || true

printf 'Subject: caf\xc3\xa9\n\ncaf\xc3\xa9\n' >"$WORK/8bit.eml"
serve no8bit --ehlo-ext PIPELINING --ehlo-ext SIZE
send no8bit "$WORK/8bit.eml"
status 3 "8-bit message to a server without 8BITMIME: refused"
has "$WORK/no8bit.err" "does not offer 8BITMIME" "the refusal says why"
hasnt "$WORK/no8bit.cmds" "MAIL FROM" "nothing sent"
send no8bit2 --send-8bit "$WORK/8bit.eml"
status 0 "--send-8bit sends it as is"
has "$WORK/no8bit.cmds" "BODY 25 1" "the 8-bit body arrived whole"
hasnt "$WORK/no8bit.cmds" "BODY=8BITMIME" "no BODY=8BITMIME to a server without it"
stop_pid "$SRV_PID" || true

serve size
send size "$WORK/msg.eml"
size=$(sed -n 's/^MAIL FROM:<a@example.org> SIZE=\([0-9]*\).*/\1/p' "$WORK/size.cmds")
got=$(sed -n 's/^BODY \([0-9]*\) .*/\1/p' "$WORK/size.cmds")
if [ -n "$size" ] && [ "$size" = "$got" ]; then ok "SIZE=$size is what was sent (CRLF line ends)"
else fail "SIZE=$size declared, $got sent"; cat "$WORK/size.cmds"; fi
ST=0; timeout 30 "$SEND" --from a@example.org --to b@example.net "127.0.0.1:$SRV_PORT" \
  </dev/null 2>"$WORK/empty.err" || ST=$?
status 4 "an empty message is refused"
has "$WORK/empty.err" "the message is empty" "and says so"
stop_pid "$SRV_PID" || true

# smtpcore-probe: a refused default recipient makes the message checks inconclusive, not
# FAIL; a 554 greeting is a greeting that refused, not "unreachable".
serve probe550 --rcpt "550 relay not permitted"
ST=0; timeout 60 "$PROBE" "127.0.0.1:$SRV_PORT" >"$WORK/probe550.txt" 2>&1 || ST=$?
status 3 "probe: refused recipient: inconclusive"
if grep -Eq '^dot-quit +inconclusive +could not run: RCPT refused: 550 relay not permitted \(use --to' "$WORK/probe550.txt" &&
   grep -Eq '^bare-lf-dot +inconclusive' "$WORK/probe550.txt" &&
   grep -q '^verdict: inconclusive (.*use --to)' "$WORK/probe550.txt" && ! grep -q 'FAIL\|NOT conformant' "$WORK/probe550.txt"; then
  ok "probe: dot-quit and bare-lf-dot inconclusive, use --to"
else fail "probe output"; cat "$WORK/probe550.txt"; fi
stop_pid "$SRV_PID" || true
serve probe554 --greeting "554 5.7.1 go away"
ST=0; timeout 60 "$PROBE" "127.0.0.1:$SRV_PORT" >"$WORK/probe554.txt" 2>&1 || ST=$?
status 2 "probe: 554 greeting"
if grep -Eq '^greeting +FAIL +the server greeted with a refusal: 554 5.7.1 go away' "$WORK/probe554.txt" &&
   grep -q '^verdict: refused at the greeting' "$WORK/probe554.txt"; then
  ok "probe: a greeting that refused is reported as such"
else fail "probe 554 output"; cat "$WORK/probe554.txt"; fi
stop_pid "$SRV_PID" || true

# swaks-style options into smtpcore-sink: -f/-t, --server/--port, lists and <addr>,
# --ehlo, --header replacing the built Subject, --body.
start_sink sink47 --maildir "$WORK/md47" --quiet
ST=0; timeout 30 "$SEND" -f '<a@example.org>' -t 'b@example.net, Carol <c@example.net>' \
  --server 127.0.0.1 --port "$SINK_PORT" --ehlo client.example.org \
  --header "Subject: hi from t47" --header "X-Test: 1" --body "hello swaks users" -v \
  >"$WORK/swaks.out" 2>"$WORK/swaks.err" || ST=$?
status 0 "swaks-style options"
has "$WORK/swaks.out" "C: EHLO client.example.org" "--ehlo"
has "$WORK/swaks.out" "C: RCPT TO:<c@example.net>" "--to list with a display name"
has "$WORK/swaks.out" "C: MAIL FROM:<a@example.org>" "<addr> form"
f=$(find "$WORK/md47/new" -type f | head -1)
if [ -n "$f" ] && [ "$(grep -c '^Subject:' "$f")" -eq 1 ] && grep -q '^Subject: hi from t47' "$f" &&
   grep -q '^X-Test: 1' "$f" && grep -q '^hello swaks users' "$f" && grep -q '^Message-ID: <' "$f" &&
   grep -q '^Date: ' "$f"; then
  ok "--header/--body: the built message is stored"
else fail "built message"; cat "$f" 2>/dev/null; fi
stop_pid "$SINK_PID" || true

# The sink's log line says tls= as its --help does (VERSION/CIPHER, one word).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
  -days 1 -subj "/CN=localhost" >/dev/null 2>&1
start_sink sink47t --maildir "$WORK/md47t" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
ST=0; timeout 30 "$SEND" --from a@example.org --to b@example.net --starttls \
  "127.0.0.1:$SINK_PORT" "$WORK/msg.eml" 2>"$WORK/tls.err" || ST=$?
status 0 "send --starttls to the sink"
stop_pid "$SINK_PID" || true
"$SINK" --help >"$WORK/sink-help.txt"   # not piped into grep -q: SIGPIPE under pipefail
grep -q 'tls=no|VERSION/CIPHER' "$WORK/sink-help.txt" && ok "sink --help: tls=no|VERSION/CIPHER" \
  || fail "sink --help tls= format"
if grep -Eq ' tls=TLSv1\.[23]/[A-Z0-9_-]+ auth=' "$WORK/sink47t.log" "$WORK/sink47t.out"; then
  ok "sink log: tls=VERSION/CIPHER as documented"
else fail "sink log tls= format"; cat "$WORK/sink47t.log" "$WORK/sink47t.out"; fi

# docs/tools.md shows each tool's --help verbatim.
for t in "$SEND" "$SINK" "$PROBE"; do
  if "$t" --help | "$PY" -c 'import sys; sys.exit(0 if sys.stdin.read().rstrip("\n") in open(sys.argv[1]).read() else 1)' \
       "$INTEROP_DIR/../../docs/tools.md"; then
    ok "docs/tools.md has $(basename "$t") --help verbatim"
  else fail "docs/tools.md: $(basename "$t") --help differs"; fi
done

for t in "$SEND" "$SINK" "$PROBE"; do
  v=$("$t" --version 2>&1) || true
  if [[ "$v" =~ ^smtpcore-(send|sink|probe)\ [0-9]+\.[0-9]+\.[0-9]+\ \(libsmtpcore\ [0-9]+\.[0-9]+\.[0-9]+\)$ ]]; then
    ok "$(basename "$t") --version: $v"
  else fail "$(basename "$t") --version: '$v'"; fi
done
finish
