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
from typing import Any, Callable, Iterable, Mapping

from ._ffi import ffi, lib
from ._batch import Batch, Job, Outgoing, SendResult, job_for_send, job_of, seven_bit_jobs
from ._transcript import Transcript
from .aio.client import _default_helo, auth_error, envelope_of, flatten_message
from . import _proxy
from . import client as cev
from .client import ClientConnection
from .enums import BodyType, Extension, Failure, Quirk, TlsPolicy
from .errors import (
    InvalidStateError, SendError, SMTPClientError, SMTPCoreError, SMTPServerDisconnected,
    SMTPTimeoutError, send_error, session_error, tls_error,
)
from .values import Caps, Reply, _slice

__all__ = ["SMTPClient", "send_message_sync"]

_READ_SIZE = 65536
_T_GREETING = lib.SMTPCORE_CEV_GREETING
_T_STARTTLS = lib.SMTPCORE_CEV_STARTTLS
_T_CHALLENGE = lib.SMTPCORE_CEV_AUTH_CHALLENGE
_T_AUTH = lib.SMTPCORE_CEV_AUTH_RESULT
_T_READY = lib.SMTPCORE_CEV_READY
_T_REPLY = lib.SMTPCORE_CEV_REPLY
_T_ERROR = lib.SMTPCORE_CEV_PROTOCOL_ERROR
_T_CLOSED = lib.SMTPCORE_CEV_CLOSED
_T_XCLIENT = lib.SMTPCORE_CEV_XCLIENT_RESULT


class SMTPClient:
    """One SMTP connection that can send several messages (blocking I/O).

    The options are those of :class:`smtpcore.aio.SMTPClient` (``auth_callback`` must be
    a plain function here); ``timeout`` bounds every connect, read and write, and the
    exceptions are the same.
    """

    def __init__(
        self,
        host: str,
        port: int = 25,
        *,
        helo_name: str | None = None,
        starttls: bool | None = None,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        server_hostname: str | None = None,
        username: str | None = None,
        password: str | None = None,
        auth_mechanism: str | None = None,
        auth_callback: Callable[[bytes], bytes | None] | None = None,
        timeout: float | None = 60.0,
        local_hostname: str | None = None,
        source_address: tuple[str, int] | None = None,
        debuglevel: int = 0,
        allow_8bit: bool = False,
        proxy: str | None = None,
        proxy_source: tuple[str, int] | None = None,
        xclient: Mapping[str, str] | None = None,
        **config: Any,
    ) -> None:
        self.proxy = _proxy.check_client_options(proxy, xclient, implicit_tls)
        self.proxy_source = proxy_source
        self.xclient = dict(xclient) if xclient else None
        self.host = host
        self.port = port
        self.timeout = timeout
        self.helo_name = helo_name or local_hostname  # None: chosen at connect
        self.source_address = source_address
        self.debuglevel = debuglevel
        self._transcript: Transcript | None = None
        self.allow_8bit = allow_8bit
        send_8bit = getattr(Quirk, "SEND_8BIT", None)  # engines that check the body too
        if allow_8bit and send_8bit is not None:
            config["quirks"] = int(config.get("quirks") or 0) | int(send_8bit)
        self.starttls = starttls
        self.implicit_tls = implicit_tls
        self.server_hostname = server_hostname or host
        self.tls_context = tls_context
        self._auth = (username, password, auth_mechanism)
        self.auth_callback = auth_callback
        self._config = config
        self._conn: ClientConnection | None = None
        self._sock: socket.socket | None = None
        self._buf = bytearray(_READ_SIZE)
        self._view = memoryview(self._buf)
        self._cbuf = ffi.from_buffer(self._buf)
        self._mp = ffi.new("smtpcore_mail_params *")  # zeroed: no parameters
        self._eof = False
        self._ready = False
        self.caps: Caps = Caps()
        self.greeting: Reply | None = None
        self.tls = False

    def _tls(self) -> ssl.SSLContext:
        if self.tls_context is None:
            ctx = ssl.create_default_context()
            if not (self.starttls is True or self.implicit_tls):
                # Opportunistic STARTTLS cannot verify (as MTAs do): encrypt anyway.
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self.tls_context = ctx
        return self.tls_context

    # -- lifetime
    def __enter__(self) -> SMTPClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.quit()
        else:
            self.close()

    def set_debuglevel(self, level: int) -> None:
        """smtplib's switch: 1 or more prints the conversation to stderr (credentials
        redacted). Takes effect at the next connect()."""
        self.debuglevel = level

    def connect(self) -> Caps:
        """Connects and waits until the session is ready (greeting, EHLO, STARTTLS, AUTH
        done). Returns the server's capabilities."""
        policy = {None: TlsPolicy.OPPORTUNISTIC, True: TlsPolicy.REQUIRED,
                  False: TlsPolicy.NEVER}[self.starttls]
        user, password, mech = self._auth
        t = Transcript(self.debuglevel, f"{self.host}:{self.port}")
        self._transcript = t if t.enabled else None
        try:
            try:
                sock = self._open_socket()
            except socket.timeout as exc:
                raise SMTPTimeoutError(
                    f"timed out connecting to {self.host}:{self.port}") from exc
            self._sock = sock
            if self.helo_name is None:
                self.helo_name = _default_helo(sock.getsockname())
            self._conn = ClientConnection(
                self.helo_name, tls_policy=TlsPolicy.NEVER if self.implicit_tls else policy,
                tls_active=self.implicit_tls, username=user, password=password,
                auth_mechanism=mech, **self._config,
                **_proxy.client_config(self.proxy, self.proxy_source, sock.getsockname(),
                                       sock.getpeername()))
            if self.implicit_tls:
                self._sock = self._wrap(sock)
                self.tls = True
            self._wait_ready()
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
        try:
            return self._tls().wrap_socket(sock, server_hostname=self.server_hostname)
        except socket.timeout as exc:
            raise SMTPTimeoutError("timed out in the TLS handshake") from exc
        except ssl.SSLError as exc:
            raise tls_error(exc) from exc

    def _send(self, sock: socket.socket, data: bytes) -> None:
        if self._transcript is not None:
            self._transcript.sent(data)
        try:
            sock.sendall(data)
        except socket.timeout as exc:
            raise SMTPTimeoutError("timed out writing to the server") from exc

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
            if self._conn is not None and not self._eof:
                self._conn.quit()
                while self._next() != _T_CLOSED:
                    pass
        except (SMTPClientError, SMTPCoreError, OSError):
            pass
        finally:
            self.close()

    # -- event pump
    def _flush(self) -> None:
        conn, sock = self._conn, self._sock
        assert conn is not None and sock is not None
        out = conn.data_to_send()
        while out:
            self._send(sock, out)
            out = conn.data_to_send()

    def _next(self, idle: Callable[[], bool] | None = None) -> int:
        """The type of the next event (its struct is in the connection), doing the I/O
        the engine asks for, STARTTLS and host-run AUTH steps on the way. ``idle`` runs
        when all output is written, before waiting for the server; it returns True when
        it queued something (written before the wait)."""
        conn, sock = self._conn, self._sock
        if conn is None or sock is None:
            raise SMTPClientError("not connected")
        idled = False
        while True:
            t = conn._next_raw()
            if t:
                if t == _T_STARTTLS:
                    self._flush()
                    sock = self._sock = self._wrap(sock)
                    conn.tls_started()
                    self.tls = True
                    continue
                if t == _T_CHALLENGE:
                    challenge = _slice(conn._ev.data)
                    answer = None
                    if self.auth_callback is not None:
                        answer = self.auth_callback(challenge)
                    conn.auth_respond(answer)  # None cancels the exchange with "*"
                    continue
                return t
            out = conn.data_to_send()
            while out:  # writing raises no event: drain it all, then wait
                self._send(sock, out)
                out = conn.data_to_send()
            if idle is not None and not idled:
                idled = True  # once per wait
                if idle():
                    continue
            if self._eof:
                raise SMTPServerDisconnected("connection closed by the server")
            try:
                n = sock.recv_into(self._buf)
            except socket.timeout as exc:
                raise SMTPTimeoutError("timed out waiting for the server") from exc
            idled = False
            if self._transcript is not None:
                self._transcript.received(self._buf[:n])
            if n:
                conn._receive_into(self._cbuf, self._view, n)
            else:
                self._eof = True
                conn.receive_eof()

    def _failed(self) -> SMTPClientError:
        """The exception for the ProtocolError/Closed event in the connection's struct."""
        assert self._conn is not None
        ev = self._conn._event()
        assert isinstance(ev, (cev.ProtocolError, cev.Closed))
        return session_error(ev.violation, ev.message, ev.reply, self.greeting, self._ready)

    def _wait_ready(self) -> None:
        conn = self._conn
        assert conn is not None
        xclient = self.xclient
        while not self._ready:
            t = self._next()
            if t == _T_READY:
                if xclient is not None:
                    # Name the client first; the next Ready follows the new greeting.
                    _proxy.send_xclient(conn, xclient)
                    xclient = None
                    continue
                self.caps = Caps._from_c(conn._ev.caps)
                self._ready = True
            elif t == _T_XCLIENT and conn._ev.failure != lib.SMTPCORE_SUCCESS:
                raise _proxy.xclient_refused(conn._reply())
            elif t == _T_GREETING:
                self.greeting = conn._reply()
            elif t == _T_AUTH and conn._ev.failure != lib.SMTPCORE_SUCCESS:
                raise auth_error(conn, conn._reply(), self.tls)
            elif t in (_T_ERROR, _T_CLOSED):
                raise self._failed()

    # -- transactions
    def send_message(self, msg: email.message.Message, sender: str | None = None,
                     recipients: Iterable[str] | None = None, **kw: Any) -> SendResult:
        """Sends an :class:`email.message.EmailMessage`. Sender and recipients default to
        the headers (From/Sender; To, Cc, Bcc), as smtplib does; Bcc is not transmitted."""
        hdr_sender, hdr_rcpts = envelope_of(msg)
        sender = hdr_sender if sender is None else sender
        rcpts = hdr_rcpts if recipients is None else list(recipients)
        international = any(not a.isascii() for a in [sender, *rcpts])
        if self._conn is None:
            self.connect()  # the server's 8BITMIME decides how 8-bit parts are encoded
        data = flatten_message(msg, international, Extension.EIGHTBITMIME not in self.caps)
        return self.send(sender, rcpts, data, smtputf8=international, **kw)

    def send(self, sender: str, recipients: Iterable[str], data: bytes, *,
             smtputf8: bool = False, body: BodyType | None = None,
             mail_options: dict[str, Any] | None = None,
             rcpt_options: dict[str, Any] | None = None) -> SendResult:
        """Sends raw message bytes (any line ends; the engine makes them CRLF and
        dot-stuffs). Raises :class:`SendError` when no recipient got it."""
        job = job_for_send(sender, recipients, data, smtputf8, body, mail_options,
                           rcpt_options)
        result = self._run([job])[0]
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
        if Extension.EIGHTBITMIME not in self.caps:
            jobs = seven_bit_jobs(items, jobs)
        return self._run(jobs)

    def _run(self, jobs: list[Job]) -> list[SendResult]:
        if self._conn is None:
            self.connect()
        conn = self._conn
        assert conn is not None
        batch = Batch(conn, jobs, self._mp, int(self.caps.extensions), self.allow_8bit)
        batch.start()
        while batch.pending:
            # A large body reaches the engine while the output drains; the next message
            # may start behind its "." before the replies are awaited.
            t = conn._next_raw() or self._next(batch.start)
            if t == _T_READY:
                self.caps = Caps._from_c(conn._ev.caps)
                self._ready = True
            batch.on_event(t)
        return batch.results

    def noop(self) -> Reply | None:
        """Sends NOOP; returns the reply."""
        return self._simple(ClientConnection.noop)

    def rset(self) -> Reply | None:
        """Sends RSET; returns the reply."""
        return self._simple(ClientConnection.rset)

    def _when_idle(self, start: Any) -> None:
        """Calls ``start()`` once the engine accepts a new command (it raises
        InvalidStateError until the previous exchange is over)."""
        conn = self._conn
        assert conn is not None
        while True:
            try:
                start()
                return
            except InvalidStateError:
                t = self._next()
                if t == _T_READY:
                    self.caps = Caps._from_c(conn._ev.caps)
                elif t in (_T_ERROR, _T_CLOSED):
                    raise self._failed() from None

    def _simple(self, fn: Any) -> Reply | None:
        conn = self._conn
        if conn is None:
            raise SMTPClientError("not connected")
        self._when_idle(lambda: fn(conn))
        while True:
            t = self._next()
            if t == _T_REPLY:
                return conn._reply()
            if t in (_T_ERROR, _T_CLOSED):
                raise self._failed()


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
