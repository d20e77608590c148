#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every interop test (tests/interop/t*.sh) against real peers on 127.0.0.1.
# Usage: SMTPCORE_BIN=build/release/tools tests/interop/run.sh [t10 t20 ...]
# Exit status: 0 when every test passed; a missing peer counts as a failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SMTPCORE_BIN:?set SMTPCORE_BIN to the directory of the smtpcore tools}"
export SMTPCORE_BIN=$(cd "$SMTPCORE_BIN" && pwd)
for t in smtpcore-sink smtpcore-send smtpcore-probe; do
  [ -x "$SMTPCORE_BIN/$t" ] || { echo "interop: $SMTPCORE_BIN/$t missing" >&2; exit 1; }
done
failed=()
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(cd "$here" && ls t[0-9]*_*.sh | sed 's/_.*//'))
for name in "${tests[@]}"; do
  script=$(ls "$here/${name}"_*.sh 2>/dev/null | head -1)
  [ -n "$script" ] || { echo "interop: no test $name" >&2; failed+=("$name"); continue; }
  if ! timeout 600 bash "$script"; then failed+=("$(basename "$script" .sh)"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "interop: FAILED: ${failed[*]}"
  exit 1
fi
echo "interop: all passed"
