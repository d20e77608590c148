#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-send into Postfix smtp-sink: a plain delivery checked in smtp-sink's dump, then
# smtp-sink's fault switches, each checked through smtpcore-send's exit status and transcript.
source "$(dirname "$0")/lib.sh"
source "$INTEROP_DIR/message.sh"
echo "t20: smtpcore-send -> smtp-sink"
need smtp-sink || { finish; exit 1; }
make_message "$WORK/msg.eml" t20

send() { timeout 30 "$SEND" --from sender@example.com "$@"; }

start_smtp_sink plain -d "$WORK/plain.dump/%M%S."
expect_status 0 "plain delivery, two recipients" \
  send -q --to one@example.com --to two@example.com "127.0.0.1:$SSINK_PORT" "$WORK/msg.eml"
if wait_count "$WORK/plain.dump" 1 5; then
  d=$(find "$WORK/plain.dump" -type f | head -1)
  # the dump holds smtp-sink's X- headers, then the message as received (still CRLF)
  if grep -q "^X-Rcpt-Args: <one@example.com>" "$d" && grep -q "^X-Rcpt-Args: <two@example.com>" "$d" &&
     grep -q "^\.A line that starts with a dot" "$d" && grep -q "Subject: smtpcore interop t20" "$d"; then
    ok "smtp-sink dump has both recipients and the unstuffed body"
  else
    fail "smtp-sink dump content"; cat "$d"
  fi
else
  fail "smtp-sink dumped nothing"
fi
stop_pid "$SSINK_PID" || true

# case NAME SMTP-SINK-OPTIONS WANT-EXIT [TRANSCRIPT-REGEX]
fault() {
  local name=$1 opts=$2 want=$3 re=${4:-} out
  start_smtp_sink "$name" $opts
  out="$WORK/$name.transcript"
  local st=0
  send -v --to one@example.com "127.0.0.1:$SSINK_PORT" "$WORK/msg.eml" >"$out" 2>&1 || st=$?
  if [ "$st" -ne "$want" ]; then
    fail "smtp-sink $opts: exit $st, want $want"; sed 's/^/      /' "$out" | tail -15
  elif [ -n "$re" ] && ! grep -qE "$re" "$out"; then
    fail "smtp-sink $opts: transcript lacks /$re/"; sed 's/^/      /' "$out" | tail -15
  else
    ok "smtp-sink $opts: exit $st${re:+, transcript has /$re/}"
  fi
  stop_pid "$SSINK_PID" || true
}

fault ehlo5   "-f EHLO"    0 "^C: HELO "                  # EHLO refused: RSET + HELO fallback
fault noesmtp "-e"         0 "^C: HELO "                  # no ESMTP at all
fault nopipe  "-p"         0 "^S: 354"                    # no PIPELINING: one command at a time
fault rcpt4   "-r RCPT"    2 "^S: 450"                    # recipient refused, temporary
fault rcpt5   "-f RCPT"    3 "^S: 5[0-9][0-9]"            # recipient refused, permanent
fault mail4   "-r MAIL"    2 "^S: 450"
fault mail5   "-f MAIL"    3 "^S: 5[0-9][0-9]"
fault data5   "-f DATA"    3 "^S: 5[0-9][0-9]"
fault dot4    "-r ."       2 "^S: 450"                    # message refused after the data
fault dot5    "-f ."       3 "^S: 5[0-9][0-9]"
fault conn421 "-Q CONNECT" 2 "^S: 421"                    # 421 greeting
fault rcptdrop "-q RCPT"   2 ""                           # connection dropped after RCPT

# Without PIPELINING the client must wait for each reply: check the order in the transcript.
start_smtp_sink nopipe2 -p
send -v --to one@example.com "127.0.0.1:$SSINK_PORT" "$WORK/msg.eml" >"$WORK/np.t" 2>&1 || true
# awk: a reply arriving after more than one command means they were pipelined.
if awk '/^C: (MAIL|RCPT|DATA|BDAT)/{c++} /^S: [0-9]/{if(c>1)bad=1; c=0} END{exit bad}' "$WORK/np.t"; then
  ok "no PIPELINING offered: never two commands without a reply in between"
else
  fail "commands were pipelined though PIPELINING was not offered"; cat "$WORK/np.t"
fi
stop_pid "$SSINK_PID" || true

# --no-pipelining against a server that offers it
start_smtp_sink pipe2
send -v --no-pipelining --to one@example.com "127.0.0.1:$SSINK_PORT" "$WORK/msg.eml" >"$WORK/np2.t" 2>&1 || true
if awk '/^C: (MAIL|RCPT|DATA|BDAT)/{c++} /^S: [0-9]/{if(c>1)bad=1; c=0} END{exit bad}' "$WORK/np2.t"; then
  ok "--no-pipelining: one command per reply"
else
  fail "--no-pipelining still pipelined"; cat "$WORK/np2.t"
fi
stop_pid "$SSINK_PID" || true

# smtpcore-probe against smtp-sink: conformant as is; with -e (no ESMTP) the ehlo check
# fails while the other checks still run after HELO.
start_smtp_sink probe1
expect_status 0 "probe: smtp-sink conformant" timeout 60 "$PROBE" "127.0.0.1:$SSINK_PORT" >/dev/null
stop_pid "$SSINK_PID" || true
start_smtp_sink probe2 -e
st=0; timeout 60 "$PROBE" "127.0.0.1:$SSINK_PORT" >"$WORK/probe2.txt" || st=$?
if [ "$st" -eq 1 ] && grep -q "^ehlo *FAIL" "$WORK/probe2.txt" && grep -q "^dot-quit *pass" "$WORK/probe2.txt"; then
  ok "probe: smtp-sink -e flagged (ehlo FAIL), other checks run after HELO"
else
  fail "probe against smtp-sink -e (exit $st)"; cat "$WORK/probe2.txt"
fi
stop_pid "$SSINK_PID" || true
finish
