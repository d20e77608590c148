# SPDX-License-Identifier: MIT
# Helpers for the deploy tests (sourced): the interop helpers (temp dir, free ports,
# started processes stopped at exit) plus HAProxy and nginx started from the configs in
# this directory.
DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$DEPLOY_DIR/../interop/lib.sh"

# fill TEMPLATE OUT NAME=VALUE...: replaces @NAME@ placeholders; fails on one left over.
fill() {
  local tpl=$1 out=$2 kv args=()
  shift 2
  for kv in "$@"; do args+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${args[@]}" "$tpl" > "$out"
  if grep -q '@[A-Z0-9_]*@' "$out"; then
    echo "unreplaced placeholder in $out: $(grep -o '@[A-Z0-9_]*@' "$out" | head -1)" >&2
    return 1
  fi
}

# start_haproxy DIR CONFIG: haproxy in the foreground (-db), pid in HAPROXY_PID.
start_haproxy() {
  haproxy -db -f "$2" >"$1/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  BG_PIDS+=("$HAPROXY_PID")
}

# haproxy_up DIR N [SECONDS]: until N servers of the backend report UP on the runtime
# API socket (the smtpchk health checks passed).
haproxy_up() {
  local i n
  for i in $(seq 1 $(( ${3:-20} * 10 ))); do
    n=$("$PY" - "$1/haproxy.sock" <<'PYEOF' 2>/dev/null || true
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
up = 0
for line in data.decode().splitlines():
    f = line.split(",")
    if len(f) > 17 and f[1].startswith("sink") and f[17] == "UP":
        up += 1
print(up)
PYEOF
)
    [ "${n:-0}" -ge "$2" ] && return 0
    sleep 0.1
  done
  echo "haproxy: ${n:-0} of $2 servers UP" >&2
  return 1
}
