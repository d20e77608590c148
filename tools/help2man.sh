#!/bin/sh
# SPDX-License-Identifier: MIT
# Writes a man page (roff) for a tool from its --help text, so the two never disagree.
# The help texts already use man-page sections (NAME, SYNOPSIS, ...): each section title
# becomes .SH and its text is kept as laid out (no-fill), with roff's special characters
# escaped.  Usage: help2man.sh TOOL NAME VERSION OUT
set -eu
tool=$1 name=$2 version=$3 out=$4
upper=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
{
  printf '.TH %s 1 "" "smtpcore %s" "User Commands"\n' "$upper" "$version"
  "$tool" --help | sed \
    -e 's/\\/\\e/g' \
    -e "s/^\\([.']\\)/\\\\\\&\\1/" \
    -e 's/-/\\-/g' \
    -e 's/^\([A-Z].*\)$/.fi\n.SH "\1"\n.nf/'
  printf '.fi\n'
} >"$out.tmp"
mv "$out.tmp" "$out"
