#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# System calls per message of smtpcore-sink and Postfix smtp-sink under the same
# smtp-source load (strace -c -f on the server; the generator is not traced), in both load
# shapes: -d (many messages per connection) and one connection per message. strace slows
# the server down, so this counts calls; it does not time them. Asserts nothing.
# When BUILD_DIR/bench/bench_floor_sink is built, a third column counts the floor (the
# same readiness loop with canned replies and no SMTP engine): the calls the load forces
# on any server.
# Usage: bench/syscalls.sh [MESSAGES] [SESSIONS] [BUILD_DIR]   (default 2000 10 build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS=${1:-2000}
SESS=${2:-10}
BUILD=${3:-}
command -v strace >/dev/null || { echo "bench/syscalls: needs strace" >&2; exit 1; }
command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null ||
  { echo "bench/syscalls: needs Postfix's smtp-source and smtp-sink" >&2; exit 1; }
if [ -z "$BUILD" ]; then
  BUILD=build/release
  cmake --preset release >/dev/null
  cmake --build --preset release --target smtpcore-sink bench_floor_sink >/dev/null
fi
SINK=$BUILD/tools/smtpcore-sink
FLOOR=$BUILD/bench/bench_floor_sink
[ -x "$FLOOR" ] || FLOOR=
tmp=$(mktemp -d /tmp/smtpcore-syscalls.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_port() {
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# count NAME SHAPE CMD...: the server CMD (@ADDR@ stands for its address) under strace,
# loaded; its table into tmp/NAME
count() {
  local name=$1 shape=$2; shift 2
  local port a argv=()
  port=$(free_port)
  for a in "$@"; do argv+=("${a//@ADDR@/127.0.0.1:$port}"); done
  strace -c -f -o "$tmp/$name" "${argv[@]}" >/dev/null 2>&1 &
  local tpid=$!
  wait_port "$port"
  timeout 600 smtp-source $shape -s "$SESS" -m "$MSGS" -l 1024 -M bench.example.org \
    -f from@example.org -t to@example.com "127.0.0.1:$port"
  kill -TERM "$(pgrep -P "$tpid")" 2>/dev/null || true   # the server, not strace
  wait "$tpid" 2>/dev/null || true
}
user=$(id -un); [ "$(id -u)" -eq 0 ] && user=nobody
for shape in -d ""; do
  label=${shape:-conn/msg}
  count ours "$shape" "$SINK" --quiet --max-conn 1000 --listen @ADDR@
  count theirs "$shape" smtp-sink -u "$user" -m 1000 @ADDR@ 256
  : >"$tmp/floor"
  [ -z "$FLOOR" ] || count floor "$shape" "$FLOOR" --listen @ADDR@
  /usr/bin/python3 - "$tmp/ours" "$tmp/theirs" "$MSGS" "$label" "$tmp/floor" <<'EOF'
import re, sys
def table(path):
    out = {}
    for line in open(path):
        m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*(\w+)\s*$", line)
        if m and m.group(3) != "total":
            out[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
    return out
ours, theirs, n, label = table(sys.argv[1]), table(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
floor = table(sys.argv[5])  # empty when the floor is not built
cols = [("smtpcore-sink", ours, 14), ("smtp-sink", theirs, 10)]
if floor:
    cols.append(("floor", floor, 10))
busy = lambda t: {k: v for k, v in t.items() if v[0] >= n / 20}  # the per-message ones
names = sorted(set().union(*(busy(t) for _, t, _ in cols)),
               key=lambda k: -max(t.get(k, (0, 0))[0] for _, t, _ in cols))
print(f"{label}: system calls per message ({n} messages; failed ones in brackets)")
print(f"  {'call':<16}" + "".join(f" {h:>{w}}" for h, _, w in cols))
for k in names:
    cell = lambda t: (f"{t[k][0] / n:.2f}" + (f" ({t[k][1] / n:.2f})" if t[k][1] / n >= 0.005 else "")) if k in t else "-"
    print(f"  {k:<16}" + "".join(f" {cell(t):>{w}}" for _, t, w in cols))
total = lambda t: sum(v[0] for v in t.values()) / n
print(f"  {'all':<16}" + "".join(f" {total(t):>{w}.2f}" for _, t, w in cols))
EOF
done
