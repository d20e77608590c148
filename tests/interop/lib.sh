# SPDX-License-Identifier: MIT
# Helpers for the interop tests (sourced). Every test runs on 127.0.0.1, on free ports,
# inside one temp directory that is removed at exit, with every started process stopped.
# Needs: SMTPCORE_BIN (directory holding smtpcore-sink, -send, -probe).
set -euo pipefail

: "${SMTPCORE_BIN:?set SMTPCORE_BIN to the directory of the smtpcore tools}"
SINK="$SMTPCORE_BIN/smtpcore-sink"
SEND="$SMTPCORE_BIN/smtpcore-send"
PROBE="$SMTPCORE_BIN/smtpcore-probe"
INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3

WORK=$(mktemp -d /tmp/smtpcore-interop.XXXXXX)
chmod 755 "$WORK"
FAILS=0
PASSES=0
BG_PIDS=()
PF_DIRS=()

cleanup() {
  local p d
  for p in "${BG_PIDS[@]+"${BG_PIDS[@]}"}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${BG_PIDS[@]+"${BG_PIDS[@]}"}"; do
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  for d in "${PF_DIRS[@]+"${PF_DIRS[@]}"}"; do
    "$INTEROP_DIR/postfix_instance.sh" stop "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

ok()   { PASSES=$((PASSES + 1)); echo "  ok   $*"; }
fail() { FAILS=$((FAILS + 1)); echo "  FAIL $*"; }

# check DESCRIPTION COMMAND...: runs COMMAND, ok when it succeeds.
check() {
  local desc=$1; shift
  if "$@"; then ok "$desc"; else fail "$desc"; fi
}

# expect_status WANT DESCRIPTION COMMAND...: the command's exit status must be WANT.
expect_status() {
  local want=$1 desc=$2 st=0; shift 2
  "$@" || st=$?
  if [ "$st" -eq "$want" ]; then ok "$desc (exit $st)"; else fail "$desc: exit $st, want $want"; fi
}

need() {
  local p
  for p in "$@"; do
    if ! command -v "$p" >/dev/null 2>&1; then
      fail "peer '$p' not installed (run scripts/setup.sh): a skipped peer is a failure"
      return 1
    fi
  done
}

free_port() {
  $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1" >&2
  return 1
}

# start_listener NAME COMMAND...: runs a server that prints "listening on 127.0.0.1:PORT";
# sets LAST_PORT and LAST_PID; its stderr goes to $WORK/NAME.log.
start_listener() {
  local name=$1; shift
  # Create the files first: the background child opens them only after the fork, and a
  # busy machine lets the sed below run before that.
  : >"$WORK/$name.out"
  : >"$WORK/$name.log"
  "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  LAST_PID=$!
  BG_PIDS+=("$LAST_PID")
  for _ in $(seq 1 100); do
    LAST_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/$name.out")
    [ -n "$LAST_PORT" ] && return 0
    kill -0 "$LAST_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$WORK/$name.log" >&2
  return 1
}

# start_sink NAME ARGS...: smtpcore-sink on a free port; SINK_PORT, SINK_PID.
start_sink() {
  local name=$1; shift
  start_listener "$name" "$SINK" --listen 127.0.0.1:0 "$@"
  SINK_PORT=$LAST_PORT
  SINK_PID=$LAST_PID
}

# stop_pid PID: SIGTERM, wait (10 s at most); returns the exit status.
stop_pid() {
  local pid=$1 st=0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  wait "$pid" 2>/dev/null || st=$?
  return "$st"
}

# start_smtp_sink NAME ARGS...: Postfix smtp-sink on a free port; SSINK_PORT, SSINK_PID.
# It must drop root privileges (-u); dumps go to $WORK/NAME.dump/ when -d is used.
start_smtp_sink() {
  local name=$1; shift
  SSINK_PORT=$(free_port)
  mkdir -p "$WORK/$name.dump"
  chown nobody "$WORK/$name.dump" 2>/dev/null || true
  smtp-sink -u nobody "$@" "127.0.0.1:$SSINK_PORT" 64 >"$WORK/$name.log" 2>&1 &
  SSINK_PID=$!
  BG_PIDS+=("$SSINK_PID")
  wait_port "$SSINK_PORT"
}

count_files() { find "$1" -type f 2>/dev/null | wc -l; }

# wait_count DIR N [SECONDS]: until DIR holds N files.
wait_count() {
  local n
  for _ in $(seq 1 $(( ${3:-20} * 10 ))); do
    n=$(count_files "$1")
    [ "$n" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "$(count_files "$1") of $2 files in $1" >&2
  return 1
}

finish() {
  echo "  -- $PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
