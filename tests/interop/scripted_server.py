#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An SMTP server whose replies come from the command line, to play refusals that real
peers send (Exim's multi-line replies, a 554 greeting, EHLO and HELO refused, AUTH
refused, recipients refused or deferred) to smtpcore-send and smtpcore-probe.

Each reply is "CODE TEXT", several lines separated by "|" ("250- 0 byte chunk|250 OK
id=1"; the separator after the code is added for every line but the last).
  --greeting R          the greeting (default "220 scripted.example.net ESMTP")
  --ehlo-ext KW         an EHLO keyword (repeatable; default PIPELINING, 8BITMIME, SIZE)
  --no-ext              EHLO with no keyword at all
  --reply VERB=R        the reply to VERB (EHLO, HELO, MAIL, DATA, AUTH, RSET, ...)
  --rcpt R              the reply to the next RCPT (repeatable, in order; then 250)
  --final R             the reply after the data (default "250 2.0.0 OK id=1")
  --log FILE            every line received, and "BODY <bytes> <8bit 0|1>" per message
A greeting or EHLO reply that is not 2xx ends the connection after QUIT (or EOF).
Prints "listening on 127.0.0.1:PORT". Test use only: listens on 127.0.0.1.
"""
import argparse
import signal
import socketserver
import sys
import threading

MAX_LINE = 4096


def wire(reply):
    parts = reply.split("|")
    out = b""
    for i, p in enumerate(parts):
        code, _, text = p.partition(" ")
        code = code.rstrip("-")
        sep = " " if i == len(parts) - 1 else "-"
        out += (code + sep + text).encode() + b"\r\n"
    return out


class Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def log(self, line):
        if self.server.args.log:
            with self.server.lock, open(self.server.args.log, "a", encoding="utf-8",
                                        errors="backslashreplace") as f:
                f.write(line + "\n")

    def handle(self):
        a = self.server.args
        rcpts = list(a.rcpt)
        self.wfile.write(wire(a.greeting))
        refused = not a.greeting.startswith("2")
        while True:
            raw = self.rfile.readline(MAX_LINE)
            if not raw:
                return
            line = raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")
            self.log(line)
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == "QUIT":
                self.wfile.write(wire(a.replies.get("QUIT", "221 2.0.0 bye")))
                return
            if refused:
                self.wfile.write(wire("503 5.5.1 refused already"))
                continue
            if verb == "EHLO":
                r = a.replies.get("EHLO")
                if r is None:
                    exts = [] if a.no_ext else (a.ehlo_ext or ["PIPELINING", "8BITMIME", "SIZE"])
                    r = "|".join(["250 scripted.example.net"] + ["250 " + e for e in exts])
                self.wfile.write(wire(r))
            elif verb == "RCPT":
                self.wfile.write(wire(rcpts.pop(0) if rcpts else "250 2.1.5 OK"))
            elif verb == "DATA":
                r = a.replies.get("DATA", "354 go ahead")
                self.wfile.write(wire(r))
                if r.startswith("354"):
                    body = b""
                    while True:
                        chunk = self.rfile.readline(1 << 20)
                        if not chunk or chunk == b".\r\n":
                            break
                        body += chunk
                    eight = int(any(b >= 0x80 for b in body))
                    self.log(f"BODY {len(body)} {eight}")
                    self.wfile.write(wire(a.final))
            else:
                default = {"HELO": "250 scripted.example.net", "MAIL": "250 2.1.0 OK",
                           "RSET": "250 2.0.0 OK", "NOOP": "250 2.0.0 OK",
                           "AUTH": "235 2.7.0 OK"}.get(verb, "502 5.5.2 not implemented")
                self.wfile.write(wire(a.replies.get(verb, default)))
            self.wfile.flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--greeting", default="220 scripted.example.net ESMTP")
    p.add_argument("--ehlo-ext", action="append", default=[])
    p.add_argument("--no-ext", action="store_true")
    p.add_argument("--reply", action="append", default=[])
    p.add_argument("--rcpt", action="append", default=[])
    p.add_argument("--final", default="250 2.0.0 OK id=1")
    p.add_argument("--log")
    a = p.parse_args()
    a.replies = {}
    for r in a.reply:
        verb, _, text = r.partition("=")
        a.replies[verb.upper()] = text
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.daemon_threads = True
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", a.port), Handler)
    srv.args = a
    srv.lock = threading.Lock()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    print(f"listening on 127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()
    srv.server_close()


if __name__ == "__main__":
    sys.exit(main())
