# SPDX-License-Identifier: MIT
"""Blocking SMTP client on a plain socket (no asyncio), for scripts and threads.

>>> result = smtpcore.send_message_sync("127.0.0.1", 2525, msg)
>>> result.refused            # {} when every recipient was accepted

or, for several messages over one connection:

>>> with smtpcore.SMTPClient("127.0.0.1", 2525) as client:
...     client.send_message(msg1)
...     client.send(sender, [rcpt], raw_bytes)

Same options and result types as :class:`smtpcore.aio.SMTPClient`. The engine pipelines
MAIL, every RCPT and DATA in one write (PIPELINING) and the body with its final "." in
another, so a message costs two round trips where smtplib needs 3 + one per recipient.
"""
from __future__ import annotations

import email.message
import socket
import ssl
import struct
import sys
from typing import Any, Iterable

from ._batch import Outgoing, SendResult, job_for_send, job_of
from ._driver import CHALLENGE, READ, START_TLS, WRITE, ClientDriver, Op, T
from ._ffi import ffi
from .client import ClientConnection
from .enums import BodyType, Failure
from .errors import (
    SMTPClientError, SMTPCoreError, SMTPTimeoutError, send_error, tls_error,
)
from .values import Caps, Reply

__all__ = ["SMTPClient", "send_message_sync"]

_READ_SIZE = 65536
# Linux: the timeout is the kernel's (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking socket. A
# Python-level timeout makes every recv and send a poll() first and then the call: per
# message of a batch two system calls more, about 3 us of CPU (a bare sendall/recv_into
# loop into smtp-sink: 10.3 us per message blocking or with the kernel's timeout, 13.6
# with settimeout()).
_KERNEL_TIMEOUT = sys.platform.startswith("linux") and hasattr(socket, "SO_RCVTIMEO")


def _kernel_timeout(sock: socket.socket, timeout: float | None) -> bool:
    """Makes ``sock`` blocking with ``timeout`` enforced by the kernel on each receive and
    send (an expired one raises BlockingIOError). False, and ``sock`` unchanged, where
    that is not possible (then the socket keeps Python's timeout)."""
    if not _KERNEL_TIMEOUT or timeout is None or not timeout > 0 or timeout > 1e9:
        return False
    sec = int(timeout)
    usec = int((timeout - sec) * 1e6)
    if sec == 0 and usec == 0:
        return False  # a zero timeval means no timeout to the kernel
    tv = struct.pack("@ll", sec, usec)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
    except OSError:
        return False
    sock.settimeout(None)
    return True


def _python_timeout(sock: socket.socket, timeout: float | None) -> None:
    """Undoes :func:`_kernel_timeout` (before TLS, which needs Python's timeout)."""
    off = struct.pack("@ll", 0, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, off)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, off)
    sock.settimeout(timeout)


class SMTPClient(ClientDriver):
    """One SMTP connection that can send several messages (blocking I/O).

    The options are those of :class:`smtpcore.aio.SMTPClient`, described on their base
    class ``ClientDriver`` (``auth_callback`` must be a plain function here); ``timeout``
    bounds every connect, read and write, and the exceptions are the same. The conversation is the :class:`ClientDriver`'s; this class
    is its I/O on a socket (:meth:`_drive`).
    """

    _sock: socket.socket | None = None
    _kernel_timeout = False  # the plain socket's timeout is the kernel's (_kernel_timeout)
    _buf: bytearray
    _view: memoryview
    _cbuf: Any

    # -- lifetime
    def __enter__(self) -> SMTPClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.quit()
        else:
            self.close()

    def connect(self) -> Caps:
        """Connects and waits until the session is ready (greeting, EHLO, STARTTLS, AUTH
        done). Returns the server's capabilities."""
        self._start_transcript()
        try:
            try:
                sock = self._open_socket()
            except socket.timeout as exc:
                raise SMTPTimeoutError(
                    f"timed out connecting to {self.host}:{self.port}") from exc
            self._sock = sock
            self._buf = bytearray(_READ_SIZE)
            self._view = memoryview(self._buf)
            self._cbuf = ffi.from_buffer(self._buf)
            self._new_conn(sock.getsockname(), sock.getpeername())
            if self.implicit_tls:
                self._sock = self._wrap(sock)
                self.tls = True
            else:
                self._kernel_timeout = _kernel_timeout(sock, self.timeout)
            self._drive(self._wait_ready())
        except BaseException:
            self.close()
            raise
        return self.caps

    def _open_socket(self) -> socket.socket:
        """TCP to host:port, or the Unix-domain socket when host is "unix:PATH"."""
        if self.host.startswith("unix:"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.timeout)
                sock.connect(self.host[5:])
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((self.host, self.port), self.timeout,
                                        self.source_address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _wrap(self, sock: socket.socket) -> ssl.SSLSocket:
        if self._kernel_timeout:
            _python_timeout(sock, self.timeout)
            self._kernel_timeout = False
        try:
            return self._tls().wrap_socket(sock, server_hostname=self.server_hostname)
        except socket.timeout as exc:
            raise SMTPTimeoutError("timed out in the TLS handshake") from exc
        except ssl.SSLError as exc:
            raise tls_error(exc) from exc

    def close(self) -> None:
        """Closes the connection without QUIT."""
        sock, self._sock = self._sock, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if sock is not None:
            sock.close()

    def quit(self) -> None:
        """Sends QUIT, waits for the end of the conversation, closes."""
        try:
            if self._sock is not None:
                self._drive(self._quit())
        except (SMTPClientError, SMTPCoreError, OSError):
            pass
        finally:
            self.close()

    # -- the I/O of the driver's steps
    def _drive(self, op: Op[T]) -> T:
        """Runs a step of the driver, doing the I/O it asks for."""
        transcript = self._transcript
        conn, sock = self._conn, self._sock
        if conn is None or sock is None:
            op.close()
            raise SMTPClientError("not connected")
        send = op.send
        buf, view, cbuf = self._buf, self._view, self._cbuf
        value: Any = None
        while True:
            try:
                kind, arg = send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = None
            if kind == WRITE:
                if transcript is not None:
                    transcript.sent(arg)
                try:
                    sock.sendall(arg)
                except (socket.timeout, BlockingIOError) as exc:
                    raise SMTPTimeoutError("timed out writing to the server") from exc
            elif kind == READ:
                try:
                    n = sock.recv_into(buf)
                except (socket.timeout, BlockingIOError) as exc:
                    raise SMTPTimeoutError("timed out waiting for the server") from exc
                if transcript is not None:
                    transcript.received(buf[:n])
                if n:
                    conn._receive_into(cbuf, view, n)
                value = n == 0
            elif kind == START_TLS:
                sock = self._sock = self._wrap(sock)
            elif kind == CHALLENGE:
                if self.auth_callback is not None:
                    value = self.auth_callback(arg)

    # -- transactions
    def send_message(self, msg: email.message.Message, sender: str | None = None,
                     recipients: Iterable[str] | None = None, **kw: Any) -> SendResult:
        """Sends an :class:`email.message.EmailMessage`. Sender and recipients default to
        the headers (From/Sender; To, Cc, Bcc), as smtplib does; Bcc is not transmitted."""
        sender, rcpts, international = self._message(msg, sender, recipients)
        if self._conn is None:
            self.connect()  # the server's 8BITMIME decides how 8-bit parts are encoded
        return self.send(sender, rcpts, self._flatten(msg, international),
                         smtputf8=international, **kw)

    def send(self, sender: str, recipients: Iterable[str], data: bytes, *,
             smtputf8: bool = False, body: BodyType | None = None,
             mail_options: dict[str, Any] | None = None,
             rcpt_options: dict[str, Any] | None = None) -> SendResult:
        """Sends raw message bytes (any line ends; the engine makes them CRLF and
        dot-stuffs). Raises :class:`SendError` when no recipient got it."""
        job = job_for_send(sender, recipients, data, smtputf8, body, mail_options,
                           rcpt_options)
        if self._conn is None:
            self.connect()
        result = self._drive(self._run([job]))[0]
        if result.failure != Failure.SUCCESS:
            raise send_error(result)
        return result

    def send_many(self, messages: Iterable[Outgoing]) -> list[SendResult]:
        """Sends several messages, each an :class:`email.message.Message` (envelope from
        its headers, as :meth:`send_message`) or ``(sender, recipients, data)``.

        With PIPELINING each message's MAIL, RCPTs and DATA go out behind the previous
        message's final ".", so a message costs one round trip. Returns one
        :class:`SendResult` per message, in order; failures are in the results (nothing
        is raised for a refused message; a message the conversation ended before has
        ``failure`` set and ``message`` saying why)."""
        items = list(messages)
        jobs = [job_of(m) for m in items]
        if not jobs:
            return []
        if self._conn is None:
            self.connect()
        return self._drive(self._run(self._jobs(items, jobs)))

    def noop(self) -> Reply | None:
        """Sends NOOP; returns the reply."""
        return self._drive(self._simple(ClientConnection.noop))

    def rset(self) -> Reply | None:
        """Sends RSET; returns the reply."""
        return self._drive(self._simple(ClientConnection.rset))


def send_message_sync(
    host: str,
    port: int,
    msg: email.message.Message,
    *,
    sender: str | None = None,
    recipients: Iterable[str] | None = None,
    starttls: bool | None = None,
    tls_context: ssl.SSLContext | None = None,
    username: str | None = None,
    password: str | None = None,
    timeout: float | None = 60.0,
    **kw: Any,
) -> SendResult:
    """Blocking :func:`smtpcore.aio.send_message`: connects, sends one message, quits.
    Returns per-recipient results; raises :class:`SendError` if no recipient accepted it,
    :class:`SMTPClientError` when the conversation fails."""
    client = SMTPClient(host, port, starttls=starttls, tls_context=tls_context,
                        username=username, password=password, timeout=timeout, **kw)
    try:
        client.connect()
        result = client.send_message(msg, sender, recipients)
    except BaseException:
        client.quit()
        raise
    client.quit()
    return result
