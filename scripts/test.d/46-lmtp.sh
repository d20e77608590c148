#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# LMTP and Unix-domain sockets with real peers (Dovecot LMTP, Postfix smtp-sink -L /
# smtp-source -L / an lmtp: transport): builds the release tools (build/release, as
# scripts/test.sh configures it) and runs tests/lmtp/run.sh. Fails on any failure,
# including a peer that is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc 2>/dev/null || echo 2)" \
  --target smtpcore-sink smtpcore-send smtpcore-probe
SMTPCORE_BIN=build/release/tools tests/lmtp/run.sh
