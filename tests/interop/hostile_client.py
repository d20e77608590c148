#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Hostile and heavy clients for the sink's fault tests (t49). 127.0.0.1 only; every wait
is bounded.

  hostile_client.py flood PORT N            N connections at once; then a message on each
                                            greeted one. Prints "greet220=A greet421=B
                                            nogreet=C stored=D refused=E"
  hostile_client.py trickle PORT PHASE SECS one byte a second: PHASE "command" (a MAIL
                                            line) or "content" (after DATA's 354), for at
                                            most SECS. Prints "closed_after=S last=REPLY"
  hostile_client.py stall PORT SECS         DATA, part of the content, then silence.
                                            Prints "closed_after=S last=REPLY"
  hostile_client.py auth PORT N             N wrong AUTH PLAIN, each after the previous
                                            reply. Prints the reply codes and "eof"
  hostile_client.py authok PORT             one right AUTH PLAIN (user:secret); prints the code
"""
import base64
import socket
import sys
import time


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def read_reply(s, buf):
    """One whole reply (its last line); None at EOF. buf: leftover bytes (a list)."""
    data = buf[0]
    while True:
        while b"\r\n" in data:
            line, data = data.split(b"\r\n", 1)
            if len(line) < 4 or line[3:4] == b" ":
                buf[0] = data
                return line.decode("latin-1")
        try:
            chunk = s.recv(4096)
        except (ConnectionResetError, socket.timeout):
            chunk = b""
        if not chunk:
            buf[0] = data
            return None
        data += chunk


def cmd(s, buf, line):
    s.sendall(line.encode() + b"\r\n")
    return read_reply(s, buf)


def flood(port, n):
    socks = []
    for _ in range(n):
        try:
            socks.append(connect(port, 2.0))
        except OSError:
            pass
    counts = {"greet220": 0, "greet421": 0, "nogreet": 0, "stored": 0, "refused": 0}
    greeted = []
    for s in socks:
        buf = [b""]
        r = read_reply(s, buf)
        if r and r.startswith("220"):
            counts["greet220"] += 1
            greeted.append((s, buf))
        elif r and r.startswith("421"):
            counts["greet421"] += 1
        else:
            counts["nogreet"] += 1
    for s, buf in greeted:
        ok = (cmd(s, buf, "EHLO flood.example") or "").startswith("250")
        ok = ok and (cmd(s, buf, "MAIL FROM:<a@example.org>") or "").startswith("250")
        ok = ok and (cmd(s, buf, "RCPT TO:<b@example.org>") or "").startswith("250")
        ok = ok and (cmd(s, buf, "DATA") or "").startswith("354")
        end = cmd(s, buf, "Subject: flood\r\n\r\nhello\r\n.") if ok else None
        counts["stored" if end and end.startswith("250") else "refused"] += 1
    for s in socks:
        s.close()
    print(" ".join("%s=%d" % kv for kv in counts.items()))


def trickle(port, phase, secs):
    s = connect(port, 2.0)
    buf = [b""]
    read_reply(s, buf)
    cmd(s, buf, "EHLO slow.example")
    if phase == "content":
        cmd(s, buf, "MAIL FROM:<a@example.org>")
        cmd(s, buf, "RCPT TO:<b@example.org>")
        cmd(s, buf, "DATA")
        payload = b"Subject: slow\r\n\r\n" + b"x" * 200
    else:
        payload = b"MAIL FROM:<" + b"a" * 200 + b"@example.org>\r\n"
    start = time.monotonic()
    last = None
    s.settimeout(1.0)
    for b in payload:
        if time.monotonic() - start > secs:
            break
        try:
            s.sendall(bytes([b]))
        except OSError:
            break
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf[0] += chunk
            last = read_reply(s, buf) or last
            if last:
                s.settimeout(0.5)
                rest = read_reply(s, buf)  # EOF right after the 421
                if rest is None:
                    break
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    print("closed_after=%d last=%s" % (round(time.monotonic() - start),
                                       (last or "none").replace(" ", "_")[:40]))


def stall(port, secs):
    s = connect(port, 2.0)
    buf = [b""]
    read_reply(s, buf)
    for line in ("EHLO stall.example", "MAIL FROM:<a@example.org>", "RCPT TO:<b@example.org>",
                 "DATA"):
        cmd(s, buf, line)
    s.sendall(b"Subject: stalled\r\n\r\npart of the content")
    start = time.monotonic()
    s.settimeout(secs)
    last = read_reply(s, buf)
    print("closed_after=%d last=%s" % (round(time.monotonic() - start),
                                       (last or "none").replace(" ", "_")[:40]))


def auth(port, n, password=b"wrong"):
    s = connect(port, 10.0)
    buf = [b""]
    read_reply(s, buf)
    cmd(s, buf, "EHLO guess.example")
    codes = []
    for i in range(n):
        tok = base64.b64encode(b"\0user\0" + password + str(i).encode()).decode()
        try:
            r = cmd(s, buf, "AUTH PLAIN " + tok)
        except OSError:
            r = None
        if r is None:
            codes.append("eof")
            break
        codes.append(r[:3])
        if r.startswith("421"):
            codes.append("eof" if read_reply(s, buf) is None else "open")
            break
    print(" ".join(codes))


def authok(port):
    s = connect(port, 10.0)
    buf = [b""]
    read_reply(s, buf)
    cmd(s, buf, "EHLO guess.example")
    r = cmd(s, buf, "AUTH PLAIN " + base64.b64encode(b"\0user\0secret").decode())
    print((r or "eof").replace(" ", "_")[:60])


def main():
    what, port = sys.argv[1], int(sys.argv[2])
    if what == "flood":
        flood(port, int(sys.argv[3]))
    elif what == "trickle":
        trickle(port, sys.argv[3], float(sys.argv[4]))
    elif what == "stall":
        stall(port, float(sys.argv[3]))
    elif what == "auth":
        auth(port, int(sys.argv[3]))
    elif what == "authok":
        authok(port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
