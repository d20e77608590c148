#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# smtpcore-sink --lmtp vs Postfix smtp-sink -L under the same smtp-source -L load, side by
# side on 127.0.0.1, RCPTS recipients per message (one reply per recipient after the
# data). The method is bench/sink_vs_postfix.sh's (it does the work): both servers start
# once, rounds of both shapes (-d, one connection per message) interleaved, one line per
# run with messages/s, server and generator CPU per message. Asserts nothing.
# Usage: bench/lmtp.sh [MESSAGES] [SESSIONS] [SIZE] [RCPTS] [ROUNDS] [BUILD_DIR]
# (default 10000 10 1024 3 5; without BUILD_DIR it builds the release tools).
set -euo pipefail
cd "$(dirname "$0")/.."
LMTP=1 RCPTS=${4:-3} exec bash bench/sink_vs_postfix.sh "${1:-10000}" "${2:-10}" "${3:-1024}" \
  "${5:-5}" "${6:-}"
