#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Calls run one way (issue 16): no core/src file may call a function defined in a file
# that calls it, directly or around a longer loop. The graph comes from the objects of
# the static library: file A calls file B when A.o leaves undefined a symbol that B.o
# defines. tsort finds every loop; any loop fails the check.
#
#   scripts/check_layers.sh LIBSMTPCORE.a [NM]     check (exit 1 on a loop)
#   scripts/check_layers.sh --graph LIB [NM]       print the caller -> callee file graph
#
# Files still being split (their loops are printed, not failed) may be named in EXEMPT
# (SMTPCORE_LAYERS_EXEMPT): a pattern there must name only files whose loops stay among
# themselves. None is exempt now.
set -euo pipefail

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
