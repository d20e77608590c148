#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every test of smtpcore: release build + unit tests, ASan/UBSan build + unit tests,
# Doxygen with warnings as errors, bindings, interop with real peers, fuzz smoke.
# Installs what it needs first (scripts/setup.sh). Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=$(nproc 2>/dev/null || echo 2)
export PYTHON="${PYTHON:-/usr/bin/python3}"

step() { printf '\n==== %s ====\n' "$*"; }

step "setup"
scripts/setup.sh

step "doxygen (warnings are errors)"
mkdir -p build/doxygen
SMTPCORE_DOXYGEN_OUT=build/doxygen doxygen docs/Doxyfile

step "release build (gcc) + unit tests"
cmake --preset release >/dev/null
cmake --build --preset release -j"$JOBS"
ctest --preset release -j"$JOBS"

step "clang build (warnings are errors)"
cmake --preset clang >/dev/null
cmake --build --preset clang -j"$JOBS"

step "ASan + UBSan build + unit tests"
cmake --preset dev >/dev/null
cmake --build --preset dev -j"$JOBS"
ASAN_OPTIONS=detect_leaks=1 ctest --preset dev -j"$JOBS"

# Further suites (bindings, interop, fuzz smoke) register themselves here.
for suite in scripts/test.d/*.sh; do
  [ -e "$suite" ] || continue
  step "$(basename "$suite" .sh)"
  bash "$suite"
done

step "all tests passed"
