#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails when a tracked source file (C, Python, shell, Lua) lacks the SPDX licence line
# near its top; generated files (they name their generator) are exempt.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=0
while IFS= read -r f; do
  case "$f" in
    fuzz/corpus/*|fuzz/regressions/*) continue ;;
    bindings/cdef/smtpcore_cdef.h|bindings/lua/lib/resty/smtpcore/cdef.lua|bindings/lua/lib/resty/smtpcore/enums.lua) continue ;;
  esac
  [ -f "$f" ] || continue
  if ! head -c 400 "$f" | grep -q 'SPDX-License-Identifier: MIT'; then
    echo "missing SPDX-License-Identifier: $f"
    missing=$((missing + 1))
  fi
done < <(git ls-files '*.c' '*.h' '*.h.in' '*.py' '*.pyi' '*.sh' '*.lua' bench/run .ci/run)
if [ "$missing" -gt 0 ]; then
  echo "$missing file(s) without the licence line"
  exit 1
fi
echo "spdx: every source file carries SPDX-License-Identifier: MIT"
