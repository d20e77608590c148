#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Creates .venv (if missing or broken) from Debian's python3 with the system site packages
# (cffi, setuptools, pytest, hypothesis, aiosmtpd, uvloop come from apt: PyPI is not used)
# and installs this tree's bindings/python into it, offline. Used by the Python tests
# (scripts/test.d/20-python.sh) and by bench/run, so both always run the current code.
# Usage: scripts/python_env.sh   (prints where smtpcore was imported from)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-/usr/bin/python3}
ROOT=$PWD

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
  rm -rf .venv
  "$PY" -m venv --system-site-packages .venv
fi
# The build is out of tree (see smtpcore_build.py); keep it beside the venv. A stale
# egg-info could list files of an earlier layout; the build regenerates it.
export SMTPCORE_BUILD_DIR="$ROOT/.venv/smtpcore-build"
rm -rf bindings/python/src/smtpcore.egg-info "$SMTPCORE_BUILD_DIR/smtpcore.egg-info"
.venv/bin/pip install --no-build-isolation --no-deps --no-index --quiet --force-reinstall ./bindings/python
(cd /tmp && "$ROOT/.venv/bin/python" -c 'import smtpcore; print("smtpcore", smtpcore.__version__, "imported from", smtpcore.__file__)')
