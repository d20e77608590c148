#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Deployment behind real proxies (issue 13): HAProxy (send-proxy, send-proxy-v2, smtpchk)
# and nginx's mail proxy (XCLIENT, auth_http in Lua) in front of smtpcore-sink and of a
# Python smtpcore.aio server; the tools' --proxy/--xclient options. Builds the release
# tools, installs the Python binding into .venv as 20-python.sh does, runs tests/deploy.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc 2>/dev/null || echo 2)" \
  --target smtpcore-sink smtpcore-send smtpcore-probe
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.prefix != sys.base_prefix else 1)' 2>/dev/null; then
  rm -rf .venv
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
rm -rf bindings/python/src/smtpcore.egg-info
.venv/bin/pip install --no-build-isolation --no-deps --no-index --quiet --force-reinstall ./bindings/python
SMTPCORE_BIN=build/release/tools SMTPCORE_PY=$PWD/.venv/bin/python tests/deploy/run.sh
