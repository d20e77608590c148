#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A long fuzzing campaign measured in CPU time, not wall time.
#
# libFuzzer's -max_total_time counts wall seconds, which on a shared machine says little
# about how much fuzzing a target got. This runs each target (one job, one process) until
# the process has used CPU_SECONDS of CPU (user + system, read from /proc), then stops it
# with SIGINT so libFuzzer prints its final statistics, and writes one summary line per
# target. Targets run one after another in each of LANES parallel lanes.
#
#   fuzz/build.sh && CPU_SECONDS=1800 LANES=2 fuzz/campaign.sh server client ...
#   (no target names = every fuzz/*_fuzzer.c)
#
# Output in $CAMPAIGN_DIR (default build/fuzz-campaign/): <t>.log (libFuzzer's log),
# new_<t>/ (inputs found; merge them into fuzz/corpus/<t> with fuzz/update_corpus.sh or
# -merge=1), art_<t>/ (crashing inputs, if any), summary.tsv.
# The committed corpus is only read. Exit status 1 if any target reported a finding.
# Do not pause a running fuzzer (SIGSTOP) to free the CPU for a moment: libFuzzer's
# -timeout is wall-clock, so the unit in progress is then written out as a "timeout" or
# "slow-unit" artifact that replays in milliseconds (seen on 3 Dec 2026).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${FUZZ_OUT:-$ROOT/build/fuzz}
CPU_SECONDS=${CPU_SECONDS:-1800}
LANES=${LANES:-1}
DIR=${CAMPAIGN_DIR:-$ROOT/build/fuzz-campaign}
mkdir -p "$DIR"
CLK_TCK=$(getconf CLK_TCK)

if [ $# -gt 0 ]; then targets=("$@")
else mapfile -t targets < <(cd fuzz && ls ./*_fuzzer.c | sed 's|^\./||; s|_fuzzer\.c$||'); fi

# CPU seconds used so far by a process (fields 14 and 15 of /proc/PID/stat, in ticks).
cpu_of() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
  stat=${stat##*) }   # drop "pid (comm) ", comm may hold spaces
  # shellcheck disable=SC2086
  set -- $stat        # now $1 is field 3 (state): utime is $12, stime is $13
  echo $(( (${12} + ${13}) / CLK_TCK ))
}

run_one() {
  local t=$1 bin="$OUT/${1}_fuzzer" dict=() start pid cpu rc
  [ -x "$bin" ] || { echo "campaign: $bin missing (run fuzz/build.sh)" >&2; return 2; }
  [ -f "fuzz/${t}_fuzzer.dict" ] && dict=(-dict="$ROOT/fuzz/${t}_fuzzer.dict")
  mkdir -p "$DIR/new_$t" "$DIR/art_$t"
  start=$(date +%s)
  # The fuzzer runs from $DIR: libFuzzer writes fuzz-N.log files into its working directory.
  (cd "$DIR" && exec "$bin" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "${dict[@]}" -artifact_prefix="$DIR/art_$t/" "$DIR/new_$t" "$ROOT/fuzz/corpus/$t" \
      >"$DIR/$t.log" 2>&1) &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    cpu=$(cpu_of "$pid")
    if [ "$cpu" -ge "$CPU_SECONDS" ]; then kill -INT "$pid" 2>/dev/null || true; break; fi
    sleep 5
  done
  # Only the last reading before SIGINT is known; libFuzzer then needs a moment to exit.
  rc=0; wait "$pid" || rc=$?
  local wall=$(( $(date +%s) - start ))
  local execs speed
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$DIR/$t.log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$DIR/$t.log" | tail -1)
  local finding=none
  if [ -n "$(ls -A "$DIR/art_$t" 2>/dev/null)" ]; then finding="$(ls "$DIR/art_$t" | tr '\n' ' ')"; fi
  # libFuzzer exits 0 when interrupted after a clean run (72 on SIGINT in some versions).
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 72 ] && [ "$rc" -ne 130 ] && [ "$finding" = none ]; then
    finding="exit $rc"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${cpu:-?}" "$wall" "${execs:-?}" "${speed:-?}" \
    "$finding" | tee -a "$DIR/summary.tsv"
  [ "$finding" = none ]
}

[ -f "$DIR/summary.tsv" ] || printf 'target\tcpu_s\twall_s\texecutions\texec_per_s\tfinding\n' >"$DIR/summary.tsv"

status=0
lane() {
  local rc=0 t
  for t in "$@"; do run_one "$t" || rc=1; done
  return $rc
}
pids=()
for ((l = 0; l < LANES; l++)); do
  mine=()
  for ((i = l; i < ${#targets[@]}; i += LANES)); do mine+=("${targets[i]}"); done
  [ ${#mine[@]} -gt 0 ] || continue
  lane "${mine[@]}" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || status=1; done
column -t -s $'\t' "$DIR/summary.tsv"
exit $status
