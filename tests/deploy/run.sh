#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Runs every deploy test (tests/deploy/t*.sh): the tools' PROXY/XCLIENT options, HAProxy
# and nginx's mail proxy in front of smtpcore-sink, a Python server behind HAProxy. All on
# 127.0.0.1, free ports, temp directories, every started process stopped.
# Usage: SMTPCORE_BIN=build/release/tools SMTPCORE_PY=.venv/bin/python tests/deploy/run.sh [t10 ...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${SMTPCORE_BIN:?set SMTPCORE_BIN to the directory of the smtpcore tools}"
export SMTPCORE_BIN=$(cd "$SMTPCORE_BIN" && pwd)
failed=()
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=($(cd "$here" && ls t[0-9]*_*.sh | sed 's/_.*//'))
for name in "${tests[@]}"; do
  script=$(ls "$here/${name}"_*.sh 2>/dev/null | head -1)
  [ -n "$script" ] || { echo "deploy: no test $name" >&2; failed+=("$name"); continue; }
  if ! timeout 600 bash "$script"; then failed+=("$(basename "$script" .sh)"); fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "deploy: FAILED: ${failed[*]}"
  exit 1
fi
echo "deploy: all passed"
