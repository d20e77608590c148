#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-send into a real Postfix smtpd (private instance in a temp directory), checked
# byte for byte in the maildir Postfix delivers to; smtpcore-probe judges Postfix.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t30: smtpcore-send / smtpcore-probe -> private Postfix smtpd"
need postconf postfix || { finish; exit 1; }
if [ "$(id -u)" -ne 0 ]; then fail "private Postfix needs root"; finish; exit 1; fi

pf="$WORK/pf30"
PF_DIRS+=("$pf")
if ! pfport=$("$INTEROP_DIR/postfix_instance.sh" start "$pf" | sed -n 's/^port //p') || [ -z "$pfport" ]; then
  fail "private Postfix instance did not start"; finish; exit 1
fi
ok "private Postfix on 127.0.0.1:$pfport"

deliver() { # NAME WANT-TOTAL SEND-OPTIONS...
  local name=$1 total=$2; shift 2
  make_message "$WORK/$name.eml" "$name"
  local st=0
  timeout 30 "$SEND" -q --from sender@example.com --to one@example.com "$@" \
    "127.0.0.1:$pfport" "$WORK/$name.eml" || st=$?
  if [ "$st" -ne 0 ]; then fail "$name: smtpcore-send exit $st"; return; fi
  # 60 s: the first delivery of a fresh instance on a loaded CI machine has taken over 30.
  if ! "$INTEROP_DIR/postfix_instance.sh" wait "$pf" "$total" 60; then
    fail "$name: Postfix did not deliver"; return
  fi
  local f
  f=$(grep -l "Subject: smtpcore interop $name\$" "$pf"/mail/new/* 2>/dev/null | head -1)
  if [ -z "$f" ]; then fail "$name: delivered file not found"; return; fi
  if "$PY" "$INTEROP_DIR/strip_postfix.py" "$f" "$WORK/$name.eml"; then
    ok "$name: delivered byte for byte (after Postfix's own headers and LF line ends)"
  else
    fail "$name: delivered content differs"
  fi
}

deliver pf-pipelined 1
deliver pf-nopipe 2 --no-pipelining
deliver pf-splitquit 3 --quirk split-quit
deliver pf-helo 4 --quirk helo-only
deliver pf-nochunking 5 --quirk no-chunking

# Two recipients, one of them refused by Postfix (no such domain here): exit 1, partial.
make_message "$WORK/partial.eml" partial
expect_status 1 "one of two recipients refused by Postfix: partial" \
  timeout 30 "$SEND" -q --from sender@example.com --to one@example.com \
    --to someone@not-here.example.net "127.0.0.1:$pfport" "$WORK/partial.eml"

# smtpcore-probe judges the private Postfix conformant (it is configured with
# smtpd_forbid_bare_newline=yes; a stock 3.7 keeps it off and would be flagged).
out="$WORK/probe30.json"
st=0
timeout 60 "$PROBE" --json --to probe@example.com "127.0.0.1:$pfport" >"$out" || st=$?
if [ "$st" -eq 0 ] && grep -q '"conformant":true' "$out"; then
  ok "smtpcore-probe: Postfix smtpd conformant"
else
  fail "smtpcore-probe against Postfix: exit $st"; cat "$out"
fi

# The same Postfix with its stock bare-newline setting takes <LF>.<LF> as the end of data:
# the probe must see the smuggling exposure.
postconf -c "$pf/etc" -e "smtpd_forbid_bare_newline = no"
postfix -c "$pf/etc" reload >/dev/null 2>&1 || true
# smtpd processes started before the reload may serve a connection or two more with the
# old setting: give the new one a few tries.
for _ in 1 2 3 4 5; do
  sleep 1
  st=0
  timeout 60 "$PROBE" --json --to probe@example.com "127.0.0.1:$pfport" >"$out" || st=$?
  grep -q '"name":"bare-lf-dot","result":"fail"' "$out" && break
done
if [ "$st" -eq 1 ] && "$PY" -c '
import json,sys
d=json.load(open(sys.argv[1]))
c={x["name"]:x["result"] for x in d["checks"]}
sys.exit(0 if c["bare-lf-dot"]=="fail" and c["pipelining"]=="pass" else 1)' "$out"; then
  ok "smtpcore-probe: Postfix with smtpd_forbid_bare_newline=no flagged (bare-lf-dot fail)"
else
  fail "probe did not flag the bare-LF exposure (exit $st)"; cat "$out"
fi
finish
