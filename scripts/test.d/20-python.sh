#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Python binding: (re)creates .venv from Debian's python3 (system site packages: cffi,
# setuptools, pytest, hypothesis, aiosmtpd), installs bindings/python offline, runs pytest
# (unit, property, interop with smtplib/aiosmtpd/swaks/Postfix, the 100k-session leak test),
# and type-checks the package with Debian's mypy in strict mode.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
  rm -rf .venv
  "$PY" -m venv --system-site-packages .venv
fi
# The build is out of tree (see smtpcore_build.py); keep it beside the venv. A stale
# egg-info could list files of an earlier layout; the build regenerates it.
export SMTPCORE_BUILD_DIR="$PWD/.venv/smtpcore-build"
rm -rf bindings/python/src/smtpcore.egg-info "$SMTPCORE_BUILD_DIR/smtpcore.egg-info"
.venv/bin/pip install --no-build-isolation --no-deps --no-index --quiet --force-reinstall ./bindings/python
ROOT=$PWD
(cd /tmp && "$ROOT/.venv/bin/python" -c 'import smtpcore; print("smtpcore", smtpcore.__version__, "imported from", smtpcore.__file__)')
# Strict typing of the package as users' type checkers see it (the cache stays in .venv).
(cd bindings/python/src && mypy --strict --cache-dir "$ROOT/.venv/mypy-cache" -p smtpcore)
.venv/bin/python -m pytest bindings/python/tests -q -p no:cacheprovider
