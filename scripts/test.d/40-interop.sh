#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop with real peers (Postfix smtp-source/smtp-sink/smtpd, swaks, a broken server):
# builds the release tools (build/release, as scripts/test.sh configures it) and runs
# tests/interop/run.sh. Fails on any failure, including a peer that is not installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc 2>/dev/null || echo 2)" \
  --target smtpcore-sink smtpcore-send smtpcore-probe
SMTPCORE_BIN=build/release/tools tests/interop/run.sh
