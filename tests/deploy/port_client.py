#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Sends one message with smtplib and prints the client's own port (what a server behind
a proxy must log as the client's port, instead of the proxy's).

Usage: port_client.py HOST PORT MESSAGE_FILE [EHLO_NAME] [XCLIENT ATTRS...]
With XCLIENT attributes ("ADDR=192.0.2.1" "PORT=25" ...) it plays the proxy itself:
EHLO, XCLIENT (exits 3 when the reply is not 220), EHLO again, then the message.
Prints "port N" and, on success, "sent".
"""
import smtplib
import sys


def main() -> int:
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    helo = sys.argv[4] if len(sys.argv) > 4 else "client.example.org"
    xclient = sys.argv[5:]
    with open(path, "rb") as f:
        msg = f.read()
    with smtplib.SMTP(host, port, local_hostname=helo, timeout=20,
                      source_address=("127.0.0.1", 0)) as s:
        print("port", s.sock.getsockname()[1], flush=True)
        if xclient:
            s.ehlo()
            code, text = s.docmd("XCLIENT", " ".join(xclient))
            print("xclient", code, text.decode("latin-1"), flush=True)
            if code != 220:
                return 3
            s.ehlo_resp = s.helo_resp = None
            s.ehlo()
        s.sendmail("sender@example.com", ["one@example.com"], msg)
        print("sent", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
