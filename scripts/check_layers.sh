#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Calls run one way (issue 16): no core/src file may call a function defined in a file
# that calls it, directly or around a longer loop. The graph comes from the objects of
# the static library: file A calls file B when A.o leaves undefined a symbol that B.o
# defines. tsort finds every loop; any loop fails the check.
#
#   scripts/check_layers.sh LIBSMTPCORE.a [NM]     check (exit 1 on a loop)
#   scripts/check_layers.sh --graph LIB [NM]       print the caller -> callee file graph
#   scripts/check_layers.sh --self-test CC AR [NM] the check fails on a made-up loop and
#                                                  passes once the loop is cut
#
# Files still being split (their loops are printed, not failed) may be named in EXEMPT
# (SMTPCORE_LAYERS_EXEMPT): a pattern there must name only files whose loops stay among
# themselves. None is exempt now.
set -euo pipefail

if [ "${1:-}" = "--self-test" ]; then
  cc=${2:?usage: check_layers.sh --self-test CC AR [NM]}
  ar=${3:?usage: check_layers.sh --self-test CC AR [NM]}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # top.c -> mid.c -> low.c, and low.c back into top.c: a loop of three files.
  printf 'int mid(int);\nint top(int x) { return x ? mid(x - 1) : 0; }\n' >"$tmp/top.c"
  printf 'int low(int);\nint mid(int x) { return low(x); }\n' >"$tmp/mid.c"
  printf 'int top(int);\nint low(int x) { return top(x); }\n' >"$tmp/low.c"
  printf 'int low(int x) { return x; }\n' >"$tmp/low_cut.c"
  for f in top mid low low_cut; do "$cc" -c -o "$tmp/$f.o" "$tmp/$f.c"; done
  "$ar" rcs "$tmp/loop.a" "$tmp/top.o" "$tmp/mid.o" "$tmp/low.o"
  "$ar" rcs "$tmp/cut.a" "$tmp/top.o" "$tmp/mid.o" "$tmp/low_cut.o"
  if SMTPCORE_LAYERS_EXEMPT='^$' bash "$0" "$tmp/loop.a" "${4:-nm}" >"$tmp/out" 2>&1; then
    echo "check_layers self-test: a loop top -> mid -> low -> top was not found" >&2
    cat "$tmp/out" >&2
    exit 1
  fi
  for f in top.o mid.o low.o; do
    grep -q "^  ${f%.o}" "$tmp/out" || { echo "self-test: ${f%.o} not named" >&2; cat "$tmp/out" >&2; exit 1; }
  done
  SMTPCORE_LAYERS_EXEMPT='^$' bash "$0" "$tmp/cut.a" "${4:-nm}" >/dev/null ||
    { echo "check_layers self-test: a graph without a loop failed" >&2; exit 1; }
  # An exempt pattern covering the loop reports it without failing.
  SMTPCORE_LAYERS_EXEMPT='^(top|mid|low)' bash "$0" "$tmp/loop.a" "${4:-nm}" >/dev/null ||
    { echo "check_layers self-test: an exempt loop failed" >&2; exit 1; }
  echo "check_layers self-test: a loop fails, the cut graph and an exempt loop pass"
  exit 0
fi

graph=0
if [ "${1:-}" = "--graph" ]; then
  graph=1
  shift
fi
lib=${1:?usage: check_layers.sh [--graph] LIBSMTPCORE.a [NM]}
nm=${2:-nm}

# '^$' exempts nothing (every file name has at least one character).
EXEMPT=${SMTPCORE_LAYERS_EXEMPT-'^$'}

edges=$("$nm" -A -g "$lib" | awk '
  { split($1, a, ":"); f = a[2]; sub(/\.o$/, "", f); sub(/\.obj$/, "", f)
    # GNU nm glues the address to the file name, llvm-nm does not: type and symbol are
    # the last two fields either way.
    t = $(NF - 1); if (t == "U") use[f " " $NF] = 1; else if (t ~ /^[A-TV-Z]$/) def[$NF] = f }
  END { for (k in use) { split(k, b, " "); d = def[b[2]]
          if (d != "" && d != b[1]) e[b[1] " " d] = 1 }
        for (x in e) print x }' | sort)

if [ -z "$edges" ]; then
  echo "check_layers: no calls between files found in $lib (is it the static library?)" >&2
  exit 1
fi
if [ "$graph" = 1 ]; then
  printf '%s\n' "$edges" | awk '{ print $1 " -> " $2 }'
  exit 0
fi

loops() { { tsort 2>&1 >/dev/null || true; } | sed -n 's/^tsort: \([^-:][^:]*\)$/\1/p'; }

exempt_edges=$(printf '%s\n' "$edges" | awk -v re="$EXEMPT" '$1 ~ re && $2 ~ re')
checked_edges=$(printf '%s\n' "$edges" | awk -v re="$EXEMPT" '!($1 ~ re && $2 ~ re)')

status=0
if ! printf '%s\n' "$checked_edges" | tsort >/dev/null 2>&1; then
  echo "check_layers: calls that run both ways (each group below is a loop):" >&2
  { printf '%s\n' "$checked_edges" | tsort 2>&1 >/dev/null || true; } | sed 's/^tsort: /  /' >&2
  status=1
fi
if [ -n "$exempt_edges" ] && ! printf '%s\n' "$exempt_edges" | tsort >/dev/null 2>&1; then
  n=$(printf '%s\n' "$exempt_edges" | loops | sort -u | wc -l)
  echo "check_layers: note: $n exempt file(s) ($EXEMPT) still in loops, not failed"
fi
[ "$status" = 0 ] && echo "check_layers: every call between the checked files runs one way"
exit "$status"
