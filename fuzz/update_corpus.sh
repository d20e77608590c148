#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Rebuilds the committed corpora: seeds from the transcript suites (make_corpus.py), plus
# the current fuzz/corpus/<target>/, plus any extra directories (e.g. the working corpus
# of a long run), minimised with libFuzzer's -merge=1 into a fresh fuzz/corpus/<target>/.
#   fuzz/update_corpus.sh [target ...]          all targets by default
#   EXTRA=/tmp/work fuzz/update_corpus.sh       also merge /tmp/work/<target>/
#   FUZZ_OUT=build/fuzz                         where fuzz/build.sh put the binaries
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${FUZZ_OUT:-build/fuzz}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$OUT/command_fuzzer" ] || OUT=$OUT fuzz/build.sh
/usr/bin/python3 fuzz/make_corpus.py "$TMP/seeds" >/dev/null
targets=${*:-$(cd fuzz && ls ./*_fuzzer.c | sed 's|^\./||; s|_fuzzer\.c$||')}
for t in $targets; do
  mkdir -p "$TMP/new_$t" "fuzz/corpus/$t"
  dirs=("fuzz/corpus/$t")
  [ -d "$TMP/seeds/$t" ] && dirs+=("$TMP/seeds/$t")
  [ -n "${EXTRA:-}" ] && [ -d "$EXTRA/$t" ] && dirs+=("$EXTRA/$t")
  # -use_counters=0: one input per set of covered edges, which keeps hundreds of files
  # rather than thousands for the same edge coverage.
  "$OUT/${t}_fuzzer" -merge=1 -use_counters=0 "$TMP/new_$t" "${dirs[@]}" >"$TMP/$t.log" 2>&1 ||
    { tail -20 "$TMP/$t.log"; exit 1; }
  rm -rf "fuzz/corpus/$t"
  mv "$TMP/new_$t" "fuzz/corpus/$t"
  echo "$t: $(ls "fuzz/corpus/$t" | wc -l) files, $(du -sk "fuzz/corpus/$t" | cut -f1) KiB"
done
