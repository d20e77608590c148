#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Compares a message Postfix delivered (virtual(8) maildir file) with what was sent.

Usage: strip_postfix.py DELIVERED SENT
Postfix stores LF line ends and prepends Return-Path, X-Original-To, Delivered-To and
its Received header; those are removed, SENT's CRLFs become LFs, and the rest must be
byte-identical. Exit 0 when equal, 1 with a diff otherwise.
"""
import difflib
import sys

PREPENDED = (b"return-path:", b"x-original-to:", b"delivered-to:", b"received:")


def strip(data):
    lines = data.split(b"\n")
    i = 0
    in_prepended = False
    while i < len(lines):
        low = lines[i].lower()
        if low.startswith(PREPENDED):
            in_prepended = True
        elif in_prepended and lines[i][:1] in (b" ", b"\t"):
            pass  # continuation of a prepended header
        else:
            break
        i += 1
    return b"\n".join(lines[i:])


def main():
    delivered = open(sys.argv[1], "rb").read()
    sent = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
    got = strip(delivered)
    if got == sent:
        return 0
    for line in difflib.unified_diff(sent.decode("latin-1").splitlines(),
                                     got.decode("latin-1").splitlines(),
                                     "sent", "delivered", lineterm=""):
        print(line)
    return 1


if __name__ == "__main__":
    sys.exit(main())
