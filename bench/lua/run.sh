#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Events/s of a server session fed a pipelined stream: through the LuaJIT FFI binding vs
# the same loop in C. Prints both and the ratio; asserts only that both did the same work.
# Then the time resty.smtpcore.message takes to build three kinds of message.
# Usage: bench/lua/run.sh [BUILD_DIR] [--quick]   (BUILD_DIR holds libsmtpcore.so)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${1:-build/release}
QUICK=${2:-}
if [ ! -e "$BUILD/libsmtpcore.so" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSMTPCORE_BUILD_TESTS=OFF \
        -DSMTPCORE_BUILD_EXAMPLES=OFF -DSMTPCORE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$BUILD" --target smtpcore -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
OUT=$(mktemp -d /tmp/smtpcore-bench-lua.XXXXXX)
trap 'rm -rf "$OUT"' EXIT

cc -std=c11 -O2 -Wall -Wextra -Werror -Wconversion -Wsign-conversion -D_POSIX_C_SOURCE=200809L \
   -Icore/include -I"$BUILD/include" bench/lua/bench_ffi_c.c -L"$BUILD" -lsmtpcore \
   -Wl,-rpath,"$BUILD" -o "$OUT/bench_ffi_c"

# --quick is shorter (the test suite runs it to check that both sides did the same work); the
# ratio to judge is the full size, median of several runs (docs/performance.md, row 8). The
# full size runs about half a second per side (the method's runs of seconds, not a tenth of
# one as with 200 sessions, where warm-up counts). What still spreads single runs (0.81-0.95
# in five on an idle machine) is the trace layout each LuaJIT process ends up with, and on a
# busy machine its load, since the two sides run one after the other (docs/performance.md,
# row 8): judge the median, or callgrind's instructions per event.
if [ "$QUICK" = "--quick" ]; then ARGS=(1000 100 4096); else ARGS=(2000 1000 4096); fi
export SMTPCORE_LIB=$BUILD/libsmtpcore.so
export LUA_PATH="$ROOT/bindings/lua/lib/?.lua;/usr/share/lua/5.1/?.lua;;"

c_line=$("$OUT/bench_ffi_c" "${ARGS[@]}")
lua_line=$(luajit bench/lua/bench_ffi.lua "${ARGS[@]}")
echo "$c_line"
echo "$lua_line"
field() { sed -n "s|.*$1=\([0-9.]*\).*|\1|p" <<<"$2"; }
if [ "$(field events "$c_line")" != "$(field events "$lua_line")" ] ||
   [ "$(field body_bytes "$c_line")" != "$(field body_bytes "$lua_line")" ]; then
  echo "bench/lua: C and LuaJIT did different work" >&2
  exit 1
fi
awk -v c="$(field events/s "$c_line")" -v l="$(field events/s "$lua_line")" \
  'BEGIN { printf "LuaJIT/C events/s ratio: %.2f (transactions=%s sessions=%s chunk=%s)\n", l / c, ARGV[1], ARGV[2], ARGV[3] }' \
  "${ARGS[@]}"

# Building messages with resty.smtpcore.message (numbers only).
luajit bench/lua/bench_message.lua $QUICK
