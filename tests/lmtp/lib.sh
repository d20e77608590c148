# SPDX-License-Identifier: MIT
# Helpers for the LMTP and Unix-socket tests (sourced): the interop helpers, plus servers
# that listen on Unix-domain sockets inside the test's temp directory.
# shellcheck source=../interop/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../interop/lib.sh"
source "$INTEROP_DIR/message.sh"
LMTP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# start_unix_sink NAME PATH ARGS...: smtpcore-sink on unix:PATH; SINK_PID. Waits for its
# "listening on unix:PATH" line (10 s at most).
start_unix_sink() {
  local name=$1 path=$2; shift 2
  : >"$WORK/$name.out"
  : >"$WORK/$name.log"
  "$SINK" --listen "unix:$path" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  SINK_PID=$!
  BG_PIDS+=("$SINK_PID")
  for _ in $(seq 1 100); do
    grep -qx "listening on unix:$path" "$WORK/$name.out" && return 0
    kill -0 "$SINK_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "$name did not start:" >&2
  cat "$WORK/$name.log" >&2
  return 1
}

# wait_socket PATH: until a Unix-domain socket accepts connections at PATH (10 s at most).
wait_socket() {
  for _ in $(seq 1 100); do
    if $PY -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "nothing listens on unix:$1" >&2
  return 1
}

# same_body A B: the two files hold the same bytes after their header blocks (everything
# from the first empty line on; CRLF and LF line ends compare equal).
same_body() {
  $PY - "$1" "$2" <<'PYEOF'
import sys
def body(p):
    data = open(p, 'rb').read().replace(b'\r\n', b'\n')
    i = data.find(b'\n\n')
    return data[i:] if i >= 0 else None
a, b = body(sys.argv[1]), body(sys.argv[2])
sys.exit(0 if a is not None and a == b else 1)
PYEOF
}
