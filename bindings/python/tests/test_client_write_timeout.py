# SPDX-License-Identifier: MIT
"""A server that stops reading mid-message: the client's timeout bounds the wait to
write (the blocking client takes the kernel's SO_SNDTIMEO on Linux, see blocking.py),
and both clients end with the same SMTPTimeoutError instead of hanging."""
from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

import smtpcore
from smtpcore import aio

# Far more than loopback's socket buffers can hold (a few MiB each way), so the writer
# must wait for a reader that never comes.
BODY = (b"x" * 998 + b"\r\n") * (48 * 1024)


class StopsReading:
    """Answers up to 354, then reads nothing more and keeps the connection open until
    the client closes it or 30 s pass."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(30)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.sendall(b"220 test ESMTP\r\n")
            answers = {b"EHLO": b"250-test\r\n250 PIPELINING\r\n", b"MAIL": b"250 ok\r\n",
                       b"RCPT": b"250 ok\r\n", b"DATA": b"354 go\r\n"}
            buf = b""
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buf += chunk
                while b"\r\n" in buf:
                    line, buf = buf.split(b"\r\n", 1)
                    answer = answers.get(line[:4].upper())
                    if answer:
                        conn.sendall(answer)
                    if line[:4].upper() == b"DATA":
                        self.done.wait(30)  # stop reading: the client's writes back up
                        return

    def __enter__(self) -> "StopsReading":
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(35)
        self.listener.close()


def test_blocking_client_write_times_out() -> None:
    with StopsReading() as srv:
        started = time.monotonic()
        with pytest.raises(smtpcore.SMTPTimeoutError) as ei:
            with smtpcore.SMTPClient("127.0.0.1", srv.port, timeout=0.5) as client:
                client.send("a@example.org", ["b@example.org"], BODY)
        assert str(ei.value) == "timed out writing to the server"
        assert time.monotonic() - started < 20  # bounded by the timeout, not by the server


def test_asyncio_client_write_times_out() -> None:
    async def go() -> None:
        async with aio.SMTPClient("127.0.0.1", srv.port, timeout=0.5) as client:
            await client.send("a@example.org", ["b@example.org"], BODY)

    with StopsReading() as srv:
        started = time.monotonic()
        with pytest.raises(smtpcore.SMTPTimeoutError) as ei:
            asyncio.run(asyncio.wait_for(go(), 20))
        assert str(ei.value) == "timed out writing to the server"
        # close() drops what is still queued instead of waiting (10 s) for it to drain
        assert time.monotonic() - started < 8
