#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# swaks against smtpcore-sink: plain, pipelining, STARTTLS (certificate made now), AUTH
# PLAIN/LOGIN (accepted and refused), AUTH hidden before TLS; stored files byte-identical.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t40: swaks -> smtpcore-sink"
need swaks openssl || { finish; exit 1; }
perl -MNet::SSLeay -e1 2>/dev/null || { fail "swaks needs Net::SSLeay (libnet-ssleay-perl) for STARTTLS"; finish; exit 1; }

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
  -days 1 -subj "/CN=localhost" >/dev/null 2>&1
printf 'alice:wonder land\nbob:builder\n' > "$WORK/users"
start_sink sink40 --maildir "$WORK/md40" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem" \
  --auth-file "$WORK/users"

# swaks ends the data with "\r\n.\r\n" whatever the file ends with; feed it the message
# without its last CRLF so what arrives is exactly the message.
swaks_data() { make_message "$WORK/$1.eml" "$1"; head -c -2 "$WORK/$1.eml" > "$WORK/$1.swaks"; }
sw() { timeout 30 swaks --server "127.0.0.1:$SINK_PORT" --from sender@example.com \
         --to one@example.com --helo client.example.org "$@" >"$WORK/swaks.out" 2>&1; }

# stored NAME: the newest stored file must equal the message sent.
n_stored=0
stored() {
  n_stored=$((n_stored + 1))
  if ! wait_count "$WORK/md40/new" "$n_stored" 5; then fail "$1: not stored"; return; fi
  local f
  f=$(grep -lE "Subject: smtpcore interop $1[[:cntrl:]]?$" "$WORK"/md40/new/* | head -1 || true)
  if [ -n "$f" ] && cmp -s "$f" "$WORK/$1.eml"; then ok "$1: stored file identical to the message sent"
  else fail "$1: stored file differs"; fi
}

swaks_data plain
expect_status 0 "swaks plain" sw --data "$WORK/plain.swaks"
stored plain

swaks_data pipe
expect_status 0 "swaks --pipeline" sw --pipeline --data "$WORK/pipe.swaks"
grep -q "PIPELINING" "$WORK/swaks.out" && ok "PIPELINING offered" || fail "PIPELINING not offered"
stored pipe

swaks_data tls
expect_status 0 "swaks STARTTLS" sw -tls --data "$WORK/tls.swaks"
grep -q "TLS started" "$WORK/swaks.out" && ok "TLS started" || { fail "no TLS"; cat "$WORK/swaks.out"; }
stored tls

swaks_data tlspipe
expect_status 0 "swaks STARTTLS + pipelining" sw -tls --pipeline --data "$WORK/tlspipe.swaks"
stored tlspipe

swaks_data plainauth
expect_status 0 "swaks STARTTLS + AUTH PLAIN (password with a space)" \
  sw -tls -a PLAIN -au alice -ap "wonder land" --data "$WORK/plainauth.swaks"
grep -q "^<~  235" "$WORK/swaks.out" && ok "235 after AUTH PLAIN" || fail "no 235"
stored plainauth

swaks_data loginauth
expect_status 0 "swaks STARTTLS + AUTH LOGIN" \
  sw -tls -a LOGIN -au bob -ap builder --data "$WORK/loginauth.swaks"
stored loginauth

st=0; sw -tls -a LOGIN -au bob -ap wrong --data "$WORK/plain.swaks" || st=$?
if [ "$st" -ne 0 ] && grep -q "^<~\* 535" "$WORK/swaks.out"; then ok "wrong password: 535 (swaks exit $st)"
else fail "wrong password not refused with 535"; cat "$WORK/swaks.out"; fi

st=0; sw -a PLAIN -au alice -ap "wonder land" --data "$WORK/plain.swaks" || st=$?
if [ "$st" -ne 0 ] && ! grep -q "250-AUTH" "$WORK/swaks.out"; then
  ok "AUTH not offered before STARTTLS (swaks exit $st)"
else
  fail "AUTH offered or accepted in plaintext"; cat "$WORK/swaks.out"
fi
expect_status 0 "sink stops cleanly" stop_pid "$SINK_PID"
check "log line per transaction with tls= and auth=" \
  grep -q "tls=TLSv1.[23]/.* auth=alice from=<sender@example.com> nrcpt=1" "$WORK/sink40.log"

# --auth-plaintext: AUTH on a plain connection
start_sink sink40b --maildir "$WORK/md40b" --auth-file "$WORK/users" --auth-plaintext --quiet
expect_status 0 "--auth-plaintext: AUTH LOGIN without TLS" \
  sw -a LOGIN -au bob -ap builder --data "$WORK/plain.swaks"
expect_status 0 "sink stops cleanly" stop_pid "$SINK_PID"
finish
