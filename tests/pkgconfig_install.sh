#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `cmake --install BUILD --prefix P`, then pkg-config alone must find smtpcore under P and
# every examples/*.c must compile, link and run with nothing but its flags (issue 17: the
# .pc file used to name the configure-time prefix, /usr/local); and the tools' man pages
# are installed there with what their --help says.
# Usage: pkgconfig_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d /tmp/smtpcore-pc.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
pcdir=$(dirname "$(find "$prefix" -name smtpcore.pc | head -1)")
[ -n "$pcdir" ] || { echo "no smtpcore.pc installed under $prefix"; exit 1; }
flags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir" pkg-config --cflags --libs smtpcore)
echo "pkg-config --cflags --libs smtpcore: $flags"
case "$flags" in
  *"-I$prefix/include"*"-L$prefix/"*) ;;
  *) echo "the flags do not name the install prefix $prefix"; exit 1 ;;
esac
case "$flags" in *"/usr/local"*) echo "the flags still name /usr/local"; exit 1 ;; esac
libdir=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir" pkg-config --variable=libdir smtpcore)
n=0
for ex in "$src"/examples/*.c; do
  name=$(basename "$ex" .c)
  # shellcheck disable=SC2086
  cc -std=c11 -Wall -Wextra -Werror "$ex" -o "$work/$name" $flags
  LD_LIBRARY_PATH="$libdir" "$work/$name" >/dev/null
  n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "no examples found"; exit 1; }
echo "ok: $n examples built with pkg-config alone against $prefix"
# The tools' man pages are installed and say what --help says.
if [ -x "$build/tools/smtpcore-send" ]; then
  for t in smtpcore-sink smtpcore-send smtpcore-probe; do
    page=$(MANPATH="$prefix/share/man" MANWIDTH=200 man -P cat "$t" 2>/dev/null) ||
      { echo "man $t: no page under $prefix/share/man"; exit 1; }
    # Every option line of --help shows up in the page.
    "$build/tools/$t" --help | grep -o -- '--[a-z0-9-]*' | sort -u | while read -r opt; do
      grep -qF -- "$opt" <<<"$page" || { echo "man $t lacks $opt"; exit 1; }
    done
  done
  echo "ok: man pages of the three tools installed"
fi
