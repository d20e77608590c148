#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# LuaJIT binding: cdef drift checks, struct layout check, plain-LuaJIT unit and network
# tests (bindings/lua/t/run.lua), then a real nginx + lua module sending mail through
# resty.smtpcore.client to real sinks (bindings/lua/t/nginx_test.sh).
# Uses build/release/libsmtpcore.so when scripts/test.sh made it, else builds its own.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PY=${PYTHON:-/usr/bin/python3}

if [ -e build/release/libsmtpcore.so ] && [ -z "${SMTPCORE_LUA_OWN_BUILD:-}" ]; then
  BUILD=build/release
  cmake --build "$BUILD" --target smtpcore -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
else
  BUILD=build/lua
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSMTPCORE_BUILD_TESTS=OFF \
        -DSMTPCORE_BUILD_EXAMPLES=OFF -DSMTPCORE_BUILD_BENCH=OFF >/dev/null
  cmake --build "$BUILD" --target smtpcore -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
fi
export SMTPCORE_LIB=$ROOT/$BUILD/libsmtpcore.so
export SMTPCORE_ROOT=$ROOT
export LUA_PATH="$ROOT/bindings/lua/lib/?.lua;$ROOT/bindings/lua/t/?.lua;/usr/share/lua/5.1/?.lua;/usr/share/lua/5.1/?/init.lua;;"

echo "lua: cdef drift checks"
"$PY" scripts/gen_cdef.py --check
luajit bindings/lua/gen_cdef.lua --check

echo "lua: struct layout as the C compiler sees it"
WORK=$(mktemp -d /tmp/smtpcore-lua-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
luajit bindings/lua/t/layout.lua gen-c bindings/cdef/smtpcore_cdef.h > "$WORK/layout.c"
cc -std=c11 -Wall -Werror -Icore/include -I"$BUILD/include" "$WORK/layout.c" -o "$WORK/layout"
"$WORK/layout" > "$WORK/layout.txt"
export SMTPCORE_LAYOUT=$WORK/layout.txt

echo "lua: plain LuaJIT tests"
luajit bindings/lua/t/run.lua

# The in-memory tests again against the ASan+UBSan library that scripts/test.sh built
# (build/dev): memory errors behind the FFI (slices, offsets, double frees) and leaks of
# sessions that ffi.gc should free. The network tests spawn children, so they stay out.
ASAN_RT=$(gcc -print-file-name=libasan.so)
UBSAN_RT=$(gcc -print-file-name=libubsan.so)
ASAN_LIB=${SMTPCORE_LUA_ASAN_LIB:-$ROOT/build/dev/libsmtpcore.so}
if [ -e "$ASAN_LIB" ] && [ -e "$ASAN_RT" ] && [ "${ASAN_RT#/}" != "$ASAN_RT" ]; then
  echo "lua: in-memory tests under ASan + UBSan ($ASAN_LIB)"
  SMTPCORE_LIB=$ASAN_LIB LD_PRELOAD="$ASAN_RT $UBSAN_RT" \
    ASAN_OPTIONS=detect_leaks=1 \
    luajit bindings/lua/t/run.lua bindings/lua/t/test_binding.lua \
      bindings/lua/t/test_server.lua bindings/lua/t/test_client.lua bindings/lua/t/test_roundtrip.lua
else
  echo "lua: no build/dev ASan library; skipping the sanitizer pass"
fi

echo "lua: nginx + resty.smtpcore.client"
bash bindings/lua/t/nginx_test.sh

echo "lua: FFI benchmark (numbers only)"
bash bench/lua/run.sh "$BUILD" --quick
