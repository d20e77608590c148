#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Raw SMTP client for the shutdown test: stops in the middle of DATA until told to go on.

Usage: inflight_client.py PORT READY_FILE GO_FILE
Also opens an idle second connection. Creates READY_FILE once both sessions are set up
(one mid-DATA, one idle after EHLO), waits for GO_FILE (10 s at most), finishes the
message and prints what each session received afterwards, one reply code per line:
"msg <code>" lines for the DATA session, "idle <code>" for the idle one.
"""
import os
import socket
import sys
import time


def replies(sock, want, timeout=10.0):
    sock.settimeout(timeout)
    buf = b""
    out = []
    try:
        while len(out) < want:
            data = sock.recv(4096)
            if not data:
                break
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if len(line) >= 4 and line[3:4] == b" ":
                    out.append(line.decode("latin-1"))
    except socket.timeout:
        pass
    return out


def main():
    port, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    s = socket.create_connection(("127.0.0.1", port))
    replies(s, 1)
    s.sendall(b"EHLO inflight.example.org\r\n")
    replies(s, 1)
    s.sendall(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    r = replies(s, 3)
    assert r and r[-1].startswith("354"), r
    s.sendall(b"Subject: in flight at shutdown\r\n\r\nfirst half\r\n")
    idle = socket.create_connection(("127.0.0.1", port))
    replies(idle, 1)
    idle.sendall(b"EHLO idle.example.org\r\n")
    replies(idle, 1)
    open(ready, "w").close()
    for _ in range(100):
        if os.path.exists(go):
            break
        time.sleep(0.1)
    for line in replies(idle, 1, 5.0):
        print("idle", line[:3])
    s.sendall(b"second half\r\n.\r\n")
    for line in replies(s, 2, 5.0):
        print("msg", line[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
