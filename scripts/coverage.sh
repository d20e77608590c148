#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Line and branch coverage of core/src by the unit tests plus the fuzz corpus replay.
# Builds the `coverage` preset (gcc --coverage -O0), runs every CTest (the Criterion
# tests, the guide examples and fuzz_replay_* over fuzz/corpus and fuzz/regressions),
# then prints gcovr's per-file table (lines and branches) and the totals.
#   COVERAGE_DIR=build/coverage   build directory (the preset's default)
#   COVERAGE_HTML=1               also write $COVERAGE_DIR/coverage/index.html
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${COVERAGE_DIR:-build/coverage}
JOBS=$(nproc 2>/dev/null || echo 2)

cmake --preset coverage -B "$DIR" >/dev/null
cmake --build "$DIR" -j"$JOBS"
# Counts from an earlier run would add up with this one.
find "$DIR" -name '*.gcda' -delete
ctest --test-dir "$DIR" -j"$JOBS" --output-on-failure

# Only the library counts. Its objects (one CMake object library shared by every test
# executable) hold all of core/src's counts, so gcovr reads just those: reading the test
# objects too trips gcovr 5.2's merge on static inline helpers from headers.
GCOVR=(gcovr --root . --filter 'core/src/' --exclude-unreachable-branches
       "$DIR/CMakeFiles/smtpcore_obj.dir")
echo
echo "== line coverage of core/src =="
"${GCOVR[@]}" --sort-percentage
echo "== branch coverage of core/src =="
"${GCOVR[@]}" --branches --sort-percentage --print-summary
if [ "${COVERAGE_HTML:-0}" = 1 ]; then
  mkdir -p "$DIR/coverage"
  "${GCOVR[@]}" --html-details "$DIR/coverage/index.html" >/dev/null
  echo "HTML report: $DIR/coverage/index.html"
fi
