#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-send --lmtp and smtpcore-probe against a real Dovecot LMTP server
# (dovecot_instance.sh: two users, alice and bob), over its unix socket and over TCP: one
# message to two users and an unknown one gives two delivered lines and one refusal, exit
# status 1 (partial); the mailbox files hold the body byte-identical after Dovecot's
# headers; a message for the unknown user alone fails with 3; the probe calls it LMTP
# (and reports what it finds about <LF>.<LF>).
source "$(dirname "$0")/lib.sh"
echo "l20: smtpcore-send --lmtp / smtpcore-probe -> Dovecot LMTP"
need dovecot || { finish; exit 1; }
[ "$(id -u)" -eq 0 ] || { fail "Dovecot LMTP needs root"; finish; exit 1; }
make_message "$WORK/msg.eml" l20
dv="$WORK/dovecot"
if ! "$LMTP_DIR/dovecot_instance.sh" start "$dv" >"$WORK/dv.info" 2>"$WORK/dv.err"; then
  fail "Dovecot did not start"; cat "$WORK/dv.err"; finish; exit 1
fi
trap '"$LMTP_DIR/dovecot_instance.sh" stop "$dv" >/dev/null 2>&1 || true; cleanup' EXIT
port=$(sed -n 's/^port //p' "$WORK/dv.info")
sock=$(sed -n 's/^socket //p' "$WORK/dv.info")

for target in "unix:$sock" "127.0.0.1:$port"; do
  out="$WORK/send.$RANDOM"
  expect_status 1 "send --lmtp to $target: two users and an unknown one (partial)" \
    timeout 30 "$SEND" --lmtp --from sender@example.com --to alice@example.com \
      --to nobody@example.com --to bob@example.com "$target" "$WORK/msg.eml" 2>"$out"
  if grep -q "^smtpcore-send: <alice@example.com> delivered: 250 2.0.0 <alice@example.com> .* Saved" "$out" &&
     grep -q "^smtpcore-send: <nobody@example.com> refused: 550 5.1.1 " "$out" &&
     grep -q "^smtpcore-send: <bob@example.com> delivered: 250 2.0.0 <bob@example.com> .* Saved" "$out" &&
     grep -q "^smtpcore-send: delivered to 2 of 3 recipients" "$out"; then
    ok "result lines: alice and bob delivered (250 ... Saved), nobody refused (550 5.1.1)"
  else
    fail "result lines"; cat "$out"
  fi
done

for user in alice bob; do
  n=0 same=0
  for f in "$dv/mail/$user/new"/*; do
    n=$((n + 1))
    same_body "$f" "$WORK/msg.eml" && same=$((same + 1))
  done
  check "$user's maildir: 2 files, body byte-identical after Dovecot's headers" \
    test "$n" -eq 2 -a "$same" -eq 2
done
check "nothing delivered for the unknown user" test ! -e "$dv/mail/nobody"

expect_status 3 "send --lmtp to the unknown user alone: permanent failure" \
  timeout 30 "$SEND" -q --lmtp --from sender@example.com --to nobody@example.com \
    "unix:$sock" "$WORK/msg.eml"

timeout 60 "$PROBE" --json --to alice@example.com "unix:$sock" >"$WORK/probe.json" 2>&1 || true
# Dovecot 2.3.19 (Debian 12) takes <LF>.<LF> as the end of the data: the bare-lf-dot check
# reports it, as it should. Everything else must pass; that verdict is printed, not judged.
if $PY -c '
import json, sys
d = json.load(open(sys.argv[1]))
names = {c["name"]: c for c in d["checks"]}
others = [c for n, c in names.items() if n != "bare-lf-dot" and c["result"] == "fail"]
ok = (d["protocol"] == "lmtp" and names["lmtp"]["result"] == "info"
      and names["lhlo"]["result"] == "pass" and names["pipelining"]["result"] == "pass"
      and names["dot-quit"]["result"] == "pass" and not others)
print("  note bare-lf-dot on Dovecot:", names["bare-lf-dot"]["result"], "-", names["bare-lf-dot"]["detail"])
sys.exit(0 if ok else 1)' "$WORK/probe.json"; then
  ok "smtpcore-probe: Dovecot recognised as an LMTP server (EHLO refused, LHLO 250); LMTP checks pass"
else
  fail "smtpcore-probe on Dovecot"; cat "$WORK/probe.json"
fi
finish
