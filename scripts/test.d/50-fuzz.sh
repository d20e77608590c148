#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fuzz smoke: builds every fuzz/<name>_fuzzer.c with clang + libFuzzer + ASan + UBSan
# (fuzz/build.sh, the OSS-Fuzz build script), replays fuzz/regressions/<name>/, then runs
# each target for a short time on its committed corpus (fuzz/corpus/<name>/).
# Any crash, sanitizer report or violated invariant fails the step.
#   FUZZ_SECONDS=45   seconds per target (default 45; at most 60 is the budget)
#   FUZZ_TARGETS="command reply"   only these targets
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${FUZZ_OUT:-$ROOT/build/fuzz}
SECS=${FUZZ_SECONDS:-45}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

OUT=$OUT CC=${FUZZ_CC:-clang} fuzz/build.sh

targets=${FUZZ_TARGETS:-$(cd fuzz && ls ./*_fuzzer.c | sed 's|^\./||; s|_fuzzer\.c$||')}
failed=()
for t in $targets; do
  bin="$OUT/${t}_fuzzer"
  reg="fuzz/regressions/$t"
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
    echo "fuzz: $t: replaying regressions"
    if ! "$bin" -runs=0 "$reg"/* >"$WORK/$t.reg.log" 2>&1; then
      tail -40 "$WORK/$t.reg.log"; failed+=("$t(regressions)"); continue
    fi
  fi
  mkdir -p "$WORK/new_$t" "$WORK/art_$t"
  dict=()
  [ -f "fuzz/${t}_fuzzer.dict" ] && dict=(-dict="fuzz/${t}_fuzzer.dict")
  echo "fuzz: $t: ${SECS}s on fuzz/corpus/$t"
  # New inputs go to a scratch directory: the committed corpus is only read.
  if ! "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$WORK/art_$t/" "$WORK/new_$t" "fuzz/corpus/$t" \
      >"$WORK/$t.log" 2>&1; then
    tail -60 "$WORK/$t.log"
    for a in "$WORK/art_$t"/*; do
      [ -e "$a" ] || continue
      mkdir -p "$ROOT/build/fuzz-crashes/$t"; cp "$a" "$ROOT/build/fuzz-crashes/$t/"
      echo "fuzz: $t: crashing input kept in build/fuzz-crashes/$t/$(basename "$a")"
    done
    failed+=("$t")
    continue
  fi
  grep -E "stat::(number_of_executed_units|average_exec_per_sec)" "$WORK/$t.log" | tr '\n' ' '
  echo
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets clean"
