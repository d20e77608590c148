#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Raw SMTP conversation for tests: writes each argument as one write and prints the
reply codes that came back for it.

Usage: smtp_talk.py PORT WRITE [WRITE ...]
Each WRITE may contain \\r, \\n escapes (Python string escapes). After the greeting and
after each write, replies are collected until 0.5 s pass without data (or EOF); one output
line per step: "greeting 220", "1 250 250 354", ... and "eof" when the server closed.
"""
import socket
import sys


def collect(sock, idle=0.5):
    sock.settimeout(idle)
    data = b""
    eof = False
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                eof = True
                break
            data += d
    except socket.timeout:
        pass
    except ConnectionResetError:
        eof = True
    codes = [l[:3].decode("latin-1") for l in data.split(b"\r\n")
             if len(l) >= 4 and l[3:4] == b" "]
    return codes, eof


def main():
    port = int(sys.argv[1])
    s = socket.create_connection(("127.0.0.1", port))
    codes, eof = collect(s, 2.0)
    print("greeting", *codes, *(["eof"] if eof else []))
    for i, w in enumerate(sys.argv[2:], 1):
        if eof:
            break
        try:
            s.sendall(w.encode("latin-1").decode("unicode_escape").encode("latin-1"))
        except OSError:
            print(i, "eof")
            break
        codes, eof = collect(s)
        print(i, *codes, *(["eof"] if eof else []))
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
