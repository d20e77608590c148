#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A deliberately broken SMTP server that loses pipelined commands, like the one in the
003 seed (postfix-users, 2010: "FrontBridge RFC 2920 write-up").

It advertises PIPELINING, then handles each read of the socket as one batch: when a
batch holds more than two commands and one of them is QUIT, it answers the first
command, silently drops everything between it and the QUIT, answers the QUIT and
closes. So "MAIL, RCPT, RSET, QUIT" in one write gets "250" then "221", two replies
lost, exactly as in the seed. Everything else works: MAIL/RCPT/DATA groups, and
"." + QUIT at the end of a message (the seed says that pair was handled correctly).

With --tls-cert/--tls-key it also offers STARTTLS and has the CVE-2011-0411 defect:
commands that arrived in plaintext in the same read as STARTTLS are executed after
the TLS handshake, as if they had come through TLS.

Usage: broken_server.py [--port N] [--store DIR] [--tls-cert PEM --tls-key PEM]
Prints "listening on 127.0.0.1:PORT" once ready. With --store, each accepted message
is written to DIR/msg-N.eml (content as received, dot-unstuffed). Stops on SIGTERM.
Test use only: listens on 127.0.0.1.
"""
import argparse
import os
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading

BATCH_WAIT = 0.15  # seconds to collect the rest of a pipelined write into one batch
IDLE_TIMEOUT = 60


class Handler(socketserver.BaseRequestHandler):
    def send(self, line):
        self.request.sendall(line.encode() + b"\r\n")

    def read_batch(self):
        """One batch: what arrives in one read plus whatever follows within BATCH_WAIT."""
        r, _, _ = select.select([self.request], [], [], IDLE_TIMEOUT)
        if not r:
            return b""
        data = self.request.recv(65536)
        if not data:
            return b""
        while True:
            r, _, _ = select.select([self.request], [], [], BATCH_WAIT)
            if not r:
                return data
            more = self.request.recv(65536)
            if not more:
                return data
            data += more

    def handle(self):
        srv = self.server
        self.tls = False
        self.send("220 broken.example.net ESMTP broken-pipelining test server")
        buf = b""
        in_data = False
        body = bytearray()
        while True:
            chunk = self.read_batch()
            if not chunk:
                return
            buf += chunk
            lines = []
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                lines.append(line)
            # The defect: a batch of >2 commands containing QUIT loses the middle ones.
            if not in_data and len(lines) > 2:
                verbs = [l.split(b" ", 1)[0].upper() for l in lines]
                if b"QUIT" in verbs:
                    q = verbs.index(b"QUIT")
                    if q > 0:
                        lines = [lines[0], lines[q]]
            for line in lines:
                if in_data:
                    if line == b".":
                        in_data = False
                        srv.store(bytes(body))
                        body = bytearray()
                        self.send("250 2.0.0 Ok: queued")
                    else:
                        if line.startswith(b"."):
                            line = line[1:]
                        body += line + b"\r\n"
                    continue
                verb = line.split(b" ", 1)[0].upper()
                if verb == b"EHLO":
                    tls = b"250-STARTTLS\r\n" if srv.tls_ctx and not self.tls else b""
                    self.request.sendall(b"250-broken.example.net\r\n250-PIPELINING\r\n"
                                         b"250-SIZE 10485760\r\n250-8BITMIME\r\n" + tls +
                                         b"250 ENHANCEDSTATUSCODES\r\n")
                elif verb == b"STARTTLS" and srv.tls_ctx and not self.tls:
                    self.send("220 2.0.0 Ready to start TLS")
                    # The defect: the rest of this batch (plaintext) is not discarded.
                    self.request = srv.tls_ctx.wrap_socket(self.request, server_side=True)
                    self.tls = True
                elif verb == b"HELO":
                    self.send("250 broken.example.net")
                elif verb == b"MAIL":
                    self.send("250 2.1.0 Sender OK")
                elif verb == b"RCPT":
                    self.send("250 2.1.5 Recipient OK")
                elif verb == b"DATA":
                    in_data = True
                    self.send("354 Start mail input; end with <CRLF>.<CRLF>")
                elif verb == b"RSET":
                    self.send("250 2.0.0 Resetting")
                elif verb == b"NOOP":
                    self.send("250 2.0.0 OK")
                elif verb == b"QUIT":
                    self.send("221 2.0.0 Service closing transmission channel")
                    return
                else:
                    self.send("500 5.5.1 Unrecognized command")


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, store_dir, tls_ctx):
        super().__init__(addr, Handler)
        self.store_dir = store_dir
        self.tls_ctx = tls_ctx
        self.lock = threading.Lock()
        self.count = 0

    def store(self, data):
        with self.lock:
            self.count += 1
            n = self.count
        if self.store_dir:
            tmp = os.path.join(self.store_dir, ".msg-%d.tmp" % n)
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.store_dir, "msg-%d.eml" % n))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--store", default=None)
    ap.add_argument("--tls-cert", default=None)
    ap.add_argument("--tls-key", default=None)
    args = ap.parse_args()
    tls_ctx = None
    if args.tls_cert:
        tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.store:
        os.makedirs(args.store, exist_ok=True)
    srv = Server(("127.0.0.1", args.port), args.store, tls_ctx)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
