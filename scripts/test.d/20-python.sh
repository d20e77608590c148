#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Python binding: (re)creates .venv and installs bindings/python offline (scripts/python_env.sh),
# runs pytest (unit, property, interop with smtplib/aiosmtpd/swaks/Postfix, the 100k-session leak test),
# and type-checks the package with Debian's mypy in strict mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/python_env.sh
ROOT=$PWD
# Strict typing of the package as users' type checkers see it (the cache stays in .venv).
(cd bindings/python/src && mypy --strict --cache-dir "$ROOT/.venv/mypy-cache" -p smtpcore)
.venv/bin/python -m pytest bindings/python/tests -q -p no:cacheprovider
