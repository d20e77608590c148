# SPDX-License-Identifier: MIT
"""A scripted SMTP server in a thread, for client tests that need exact replies (refusals,
multi-line replies, silence) which no real server gives on demand.

``ScriptedServer(replies)`` listens on 127.0.0.1 (free port) and serves one connection:
it sends ``greeting`` (None: says nothing), then answers each command line with the
reply listed under its verb (upper case; a list gives one reply per occurrence, the
last repeating). "DATA" is followed by the message up to the lone ".", answered with
the "." entry. Everything received is kept in ``received``. Every wait is bounded.
"""
from __future__ import annotations

import socket
import threading
from typing import Union

Replies = dict[str, Union[bytes, list[bytes]]]

EHLO_PIPELINING = b"250-test.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


class ScriptedServer:
    def __init__(self, replies: Replies | None = None,
                 greeting: bytes | None = b"220 test ESMTP\r\n", timeout: float = 20.0) -> None:
        base: Replies = {"EHLO": EHLO_PIPELINING, "HELO": b"250 test.example\r\n",
                         "MAIL": b"250 2.1.0 Ok\r\n", "RCPT": b"250 2.1.5 Ok\r\n",
                         "DATA": b"354 go ahead\r\n", ".": b"250 2.0.0 Ok: queued as 1\r\n",
                         "RSET": b"250 2.0.0 Ok\r\n", "NOOP": b"250 2.0.0 Ok\r\n",
                         "QUIT": b"221 2.0.0 Bye\r\n"}
        base.update(replies or {})
        self.replies = base
        self.greeting = greeting
        self.timeout = timeout
        self.received: list[bytes] = []
        self.peer_local: tuple[str, int] | None = None
        self._counts: dict[str, int] = {}
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self._sock.settimeout(timeout)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _reply(self, verb: str) -> bytes:
        r = self.replies.get(verb, b"502 5.5.2 not implemented\r\n")
        if isinstance(r, list):
            n = self._counts.get(verb, 0)
            self._counts[verb] = n + 1
            return r[min(n, len(r) - 1)]
        return r

    def _serve(self) -> None:
        try:
            conn, peer = self._sock.accept()
        except OSError:
            return
        self.peer_local = peer
        conn.settimeout(self.timeout)
        with conn, conn.makefile("rb") as f:
            try:
                if self.greeting is None:
                    f.readline()  # silent: wait until the client gives up
                    return
                conn.sendall(self.greeting)
                if not self.greeting.startswith(b"220"):
                    f.readline()
                    return
                in_data = False
                for line in iter(f.readline, b""):
                    self.received.append(line)
                    if in_data:
                        if line == b".\r\n":
                            in_data = False
                            conn.sendall(self._reply("."))
                        continue
                    verb = line.split(b" ", 1)[0].strip().upper().decode("ascii", "replace")
                    verb = verb.split(":", 1)[0] if verb.startswith(("MAIL", "RCPT")) else verb
                    answer = self._reply(verb)
                    conn.sendall(answer)
                    if verb == "DATA" and answer.startswith(b"354"):
                        in_data = True
                    if verb == "QUIT" or answer.startswith(b"421"):
                        return
            except OSError:
                return

    def close(self) -> None:
        self._sock.close()
        self._thread.join(self.timeout)

    def __enter__(self) -> ScriptedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
