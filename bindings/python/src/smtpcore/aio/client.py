# SPDX-License-Identifier: MIT
"""asyncio SMTP client on top of :class:`smtpcore.ClientConnection`.

>>> result = await smtpcore.aio.send_message("127.0.0.1", 2525, msg)
>>> result.refused            # {} when every recipient was accepted

or, for several messages over one connection:

>>> async with smtpcore.aio.SMTPClient("127.0.0.1", 2525) as client:
...     await client.send_message(msg1)
...     await client.send_message(msg2)
"""
from __future__ import annotations

import asyncio
import email.message
import email.utils
import inspect
import socket
import ssl
from typing import Any, Callable, Iterable, Mapping

from .. import _proxy
from .. import client as cev
from .._batch import (
    Batch, Job, Outgoing, SendResult, envelope_of, flatten_message, job_for_send, job_of,
    seven_bit_jobs,
)
from .._ffi import ffi, lib
from ..client import ClientConnection
from ..enums import BodyType, Extension, Failure, Quirk, TlsPolicy
from .._transcript import Transcript
from ..errors import (
    InvalidStateError, SendError, SMTPAuthenticationError, SMTPClientError, SMTPCoreError,
    SMTPNotSupportedError, SMTPServerDisconnected, SMTPTimeoutError, send_error,
    session_error, tls_error,
)
from ..values import Caps, Reply, address_literal

_T_STARTTLS = lib.SMTPCORE_CEV_STARTTLS
_T_CHALLENGE = lib.SMTPCORE_CEV_AUTH_CHALLENGE
_T_READY = lib.SMTPCORE_CEV_READY

__all__ = ["SMTPClient", "send_message", "SendResult", "SMTPClientError", "SendError",
           "envelope_of", "flatten_message"]


def _default_helo(local_address: Any) -> str:
    """EHLO name when none is given (as smtplib): the host's FQDN if it has a dot, else
    the address literal of the connection's own local address (RFC 5321 4.1.4)."""
    name = socket.getfqdn()
    if "." in name and not name.endswith(".") and name != "localhost.localdomain":
        return name
    ip = local_address[0] if isinstance(local_address, tuple) and local_address else None
    if isinstance(ip, str):
        try:
            return address_literal(ip.split("%", 1)[0])
        except SMTPCoreError:
            pass
    return address_literal("127.0.0.1")


def auth_error(conn: ClientConnection, reply: Reply | None, tls: bool) -> SMTPClientError:
    """The exception for a failed AUTH step (the engine gives no reply when it could not
    even start: AUTH not offered, or no mechanism in common)."""
    if reply is not None:
        return SMTPAuthenticationError("authentication failed", reply)
    caps = conn.caps
    if Extension.AUTH not in caps:
        hint = "" if tls else (" (many servers offer AUTH only after STARTTLS; TLS is "
                               "not in use on this connection)")
        return SMTPNotSupportedError("credentials given but the server does not offer "
                                     "AUTH" + hint)
    offered = ", ".join(m.name or "" for m in type(caps.auth_mechs)
                        if m in caps.auth_mechs) or "none known"
    return SMTPNotSupportedError(f"no AUTH mechanism in common (the server offers: {offered})")


class _ClientProtocol(asyncio.BufferedProtocol):
    """Reads with recv_into into one buffer and feeds the engine straight from it: no
    bytes object per read (asyncio's stream transport allocates 256 KiB for each, which
    costs page faults), no StreamReader. Wakes the client task through ``waiter``."""

    _LIMIT = 1 << 20  # input queued beyond the engine's buffer before reading pauses

    def __init__(self, make_conn: Callable[[Any, Any], ClientConnection],
                 transcript: Transcript | None) -> None:
        self.make_conn = make_conn
        self.conn: ClientConnection = None  # type: ignore[assignment]  # connection_made
        self.transcript = transcript
        self.buf = bytearray(65536)
        self.view = memoryview(self.buf)
        self.cbuf = ffi.from_buffer(self.buf)
        self.transport: Any = None
        self.waiter: asyncio.Future[None] | None = None
        self.drain: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.got = False
        self.eof = False
        self.paused = False
        self.reading_paused = False
        self.error: BaseException | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        try:
            self.conn = self.make_conn(transport.get_extra_info("sockname"),
                                       transport.get_extra_info("peername"))
        except Exception as exc:  # noqa: BLE001  (bad options: connect() raises it)
            self.error = exc
            transport.abort()

    def get_buffer(self, sizehint: int) -> memoryview:
        # A memoryview, not the bytearray: Python 3.11's SSL transport reads the rest of
        # a record into buf[offset:], which for a bytearray is a copy (data lost).
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.transcript is not None:
            self.transcript.received(bytes(self.view[:nbytes]))
        try:
            self.conn._receive_into(self.cbuf, self.view, nbytes)
        except SMTPCoreError as exc:
            self.error = exc
        self.got = True
        if len(self.conn._in) > self._LIMIT and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def resume(self) -> None:
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake()
        self.paused = False
        d = self.drain
        if d is not None and not d.done():
            d.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        d = self.drain
        if d is not None and not d.done():
            d.set_result(None)

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


class SMTPClient:
    """One SMTP connection that can send several messages.

    ``starttls``: None = opportunistic (STARTTLS when offered; without ``tls_context`` the
    certificate is not verified, as opportunistic TLS cannot be), True = required
    (verified with ``tls_context`` or the system defaults), False = never.
    ``implicit_tls``: TLS from the first byte (port 465).
    ``auth_mechanism``: "PLAIN", "LOGIN", "XOAUTH2" (run by the engine), another name (each
    334 challenge goes to ``auth_callback(challenge: bytes) -> bytes | None``, which may be a
    coroutine; None cancels), or None for the best mechanism offered.
    ``port`` defaults to 25, as smtplib's, also with ``starttls=True`` (pass 587 for
    submission). ``helo_name``/``local_hostname``: the EHLO name (default: the FQDN if it
    has a dot, else the literal of the connection's local address). ``source_address``:
    ``(host, port)`` to bind before connecting. ``debuglevel=1`` prints the conversation
    to stderr (also logged to ``smtpcore.client`` at DEBUG; credentials redacted).
    ``allow_8bit``: send 8-bit data to a server without 8BITMIME anyway (RFC 6152 says not
    to; by default such a message fails locally). ``timeout`` bounds the connect, the TLS
    handshake and every wait for the server (:class:`~smtpcore.SMTPTimeoutError`).
    Failures raise :class:`~smtpcore.SMTPClientError` subclasses, which are smtplib's
    exceptions too.
    ``proxy``: "v1" or "v2" writes a PROXY header first, naming ``proxy_source``
    (``(address, port)``; default this connection's own end) as the client, as HAProxy
    does. ``xclient``: attributes (``{"ADDR": "192.0.2.1", "PORT": "4711"}``) sent with
    XCLIENT before anything else, as nginx's mail proxy does; the server must offer it
    (SMTPClientError otherwise, or when it refuses). See docs/deploy.md.
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
        auth_callback: Callable[[bytes], Any] | None = None,
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
        self._reader: _ClientProtocol | None = None  # the protocol (reads feed the engine)
        self._writer: Any = None  # the transport
        self._eof = False
        self._mp = ffi.new("smtpcore_mail_params *")  # zeroed: no parameters
        self._ready = False
        self.caps: Caps = Caps()
        self.greeting: Reply | None = None
        self.tls = False

    def _tls(self) -> ssl.SSLContext:
        if self.tls_context is not None:
            return self.tls_context
        if self.starttls is True or self.implicit_tls:
            self.tls_context = ssl.create_default_context()
        else:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.tls_context = ctx
        return self.tls_context

    # -- lifetime
    async def __aenter__(self) -> SMTPClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            await self.quit()
        else:
            await self.close()

    def set_debuglevel(self, level: int) -> None:
        """smtplib's switch: 1 or more prints the conversation to stderr (credentials
        redacted). Takes effect at the next connect()."""
        self.debuglevel = level

    def _new_conn(self, local_address: Any, peer_address: Any = None) -> ClientConnection:
        """The engine session, created once the local address is known (default EHLO,
        and the PROXY header's addresses)."""
        policy = {None: TlsPolicy.OPPORTUNISTIC, True: TlsPolicy.REQUIRED,
                  False: TlsPolicy.NEVER}[self.starttls]
        user, password, mech = self._auth
        if self.helo_name is None:
            self.helo_name = _default_helo(local_address)
        self._conn = ClientConnection(
            self.helo_name, tls_policy=TlsPolicy.NEVER if self.implicit_tls else policy,
            tls_active=self.implicit_tls, username=user, password=password,
            auth_mechanism=mech, **self._config,
            **_proxy.client_config(self.proxy, self.proxy_source, local_address, peer_address))
        return self._conn

    async def connect(self) -> Caps:
        """Connects and waits until the session is ready (greeting, EHLO, STARTTLS, AUTH
        done). Returns the server's capabilities."""
        ssl_arg = self._tls() if self.implicit_tls else None
        t = Transcript(self.debuglevel, f"{self.host}:{self.port}")
        self._transcript = t if t.enabled else None
        try:
            loop = asyncio.get_running_loop()
            try:
                factory = lambda: _ClientProtocol(self._new_conn, self._transcript)  # noqa: E731
                hostname = self.server_hostname if ssl_arg else None
                if self.host.startswith("unix:"):  # a Unix-domain socket (LMTP servers)
                    opening = loop.create_unix_connection(factory, self.host[5:], ssl=ssl_arg,
                                                          server_hostname=hostname)
                else:
                    opening = loop.create_connection(factory, self.host, self.port,
                                                     ssl=ssl_arg, server_hostname=hostname,
                                                     local_addr=self.source_address)
                self._writer, self._reader = await asyncio.wait_for(opening, self.timeout)
            except TimeoutError as exc:
                raise SMTPTimeoutError(
                    f"timed out connecting to {self.host}:{self.port}") from exc
            except ssl.SSLError as exc:
                raise tls_error(exc) from exc
            proto = self._reader
            if proto is not None and proto.error is not None:
                raise proto.error
            self.tls = self.implicit_tls
            await self._wait_ready()
        except BaseException:
            await self.close()
            raise
        return self.caps

    async def close(self) -> None:
        """Closes the connection without QUIT."""
        w = self._writer
        self._writer = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if w is not None:
            w.close()
            proto = self._reader
            if proto is not None and not proto.lost.done():
                try:
                    await asyncio.wait_for(asyncio.shield(proto.lost), 10)
                except (asyncio.TimeoutError, OSError, ssl.SSLError):
                    w.abort()

    async def quit(self) -> None:
        """Sends QUIT, waits for the end of the conversation, closes."""
        try:
            if self._conn is not None and not self._eof:
                self._conn.quit()
                while True:
                    ev = await self._next()
                    if isinstance(ev, cev.Closed):
                        break
        except (SMTPClientError, SMTPCoreError, OSError, asyncio.TimeoutError):
            pass
        finally:
            await self.close()

    # -- event pump
    async def _flush(self) -> None:
        assert self._conn is not None and self._writer is not None
        out = self._conn.data_to_send()
        while out:
            await self._write(out)
            out = self._conn.data_to_send()
        await self._drain()

    async def _next(self) -> cev.ClientEvent:
        """The next event, doing the I/O the engine asks for (and STARTTLS)."""
        conn = self._conn
        if conn is None or self._writer is None or self._reader is None:
            raise SMTPClientError("not connected")
        while True:
            ev = conn.next_event()
            if ev is not None:
                if isinstance(ev, cev.StartTLS):
                    await self._flush()
                    await self._start_tls()
                    conn.tls_started()
                    self.tls = True
                    continue
                if isinstance(ev, cev.AuthChallenge):
                    # A mechanism the engine does not run itself: the host answers.
                    answer = None
                    if self.auth_callback is not None:
                        answer = self.auth_callback(ev.challenge)
                        if inspect.isawaitable(answer):
                            answer = await answer
                    conn.auth_respond(answer)  # None cancels the exchange with "*"
                    continue
                return ev
            out = conn.data_to_send()
            if out:
                await self._write(out)
                continue
            if self._eof:
                raise SMTPServerDisconnected("connection closed by the server")
            await self._wait_input()

    async def _write(self, data: bytes) -> None:
        """Writes; waits only while the transport is over its high-water mark."""
        if self._transcript is not None:
            self._transcript.sent(data)
        self._writer.write(data)
        proto = self._reader
        if proto is not None and proto.paused:
            await self._drain()

    async def _drain(self) -> None:
        proto = self._reader
        if proto is not None and proto.paused and not proto.lost.done():
            proto.drain = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self.timeout):
                    await proto.drain
            except TimeoutError as exc:
                raise SMTPTimeoutError("timed out writing to the server") from exc
        if proto is not None and proto.error is not None:
            raise proto.error

    async def _wait_input(self) -> None:
        """Returns once more input reached the engine, or after delivering EOF."""
        proto = self._reader
        conn = self._conn
        assert proto is not None and conn is not None
        if not proto.got and not proto.eof:
            proto.resume()
            proto.waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self.timeout):
                    await proto.waiter
            except TimeoutError as exc:
                raise SMTPTimeoutError("timed out waiting for the server") from exc
        proto.got = False
        if proto.error is not None:
            raise proto.error
        if proto.eof:
            self._eof = True
            conn.receive_eof()

    async def _start_tls(self) -> None:
        loop = asyncio.get_running_loop()
        proto = self._reader
        assert proto is not None
        try:
            self._writer = await asyncio.wait_for(
                loop.start_tls(self._writer, proto, self._tls(),
                               server_hostname=self.server_hostname),
                self.timeout)
        except TimeoutError as exc:
            raise SMTPTimeoutError("timed out in the TLS handshake") from exc
        except ssl.SSLError as exc:
            raise tls_error(exc) from exc

    async def _wait_ready(self) -> None:
        xclient = self.xclient
        while not self._ready:
            ev = await self._next()
            if isinstance(ev, cev.Ready):
                if xclient is not None:
                    # Name the client first; the engine greets again, says EHLO again
                    # and the next Ready is the one for the client.
                    assert self._conn is not None
                    _proxy.send_xclient(self._conn, xclient)
                    xclient = None
                    continue
                self.caps = ev.caps
                self._ready = True
            elif isinstance(ev, cev.XclientResult) and not ev.ok:
                raise _proxy.xclient_refused(ev.reply)
            elif isinstance(ev, cev.Greeting):
                self.greeting = ev.reply
            elif isinstance(ev, cev.AuthResult) and not ev.ok:
                # The engine would carry on unauthenticated; with credentials configured
                # that is never what the caller wants (smtplib.login() raises too).
                assert self._conn is not None
                raise auth_error(self._conn, ev.reply, self.tls)
            elif isinstance(ev, (cev.ProtocolError, cev.Closed)):
                raise session_error(ev.violation, ev.message, ev.reply, self.greeting,
                                    self._ready)

    # -- transactions
    async def send_message(self, msg: email.message.Message, sender: str | None = None,
                           recipients: Iterable[str] | None = None, **kw: Any) -> SendResult:
        """Sends an :class:`email.message.EmailMessage`. Sender and recipients default to
        the headers (From/Sender; To, Cc, Bcc), as smtplib does; Bcc is not transmitted."""
        hdr_sender, hdr_rcpts = envelope_of(msg)
        sender = hdr_sender if sender is None else sender
        rcpts = hdr_rcpts if recipients is None else list(recipients)
        international = any(not a.isascii() for a in [sender, *rcpts])
        if self._conn is None:
            await self.connect()  # the server's 8BITMIME decides how 8-bit parts are encoded
        data = flatten_message(msg, international, Extension.EIGHTBITMIME not in self.caps)
        return await self.send(sender, rcpts, data, smtputf8=international, **kw)

    async def send(self, sender: str, recipients: Iterable[str], data: bytes, *,
                   smtputf8: bool = False, body: BodyType | None = None,
                   mail_options: dict[str, Any] | None = None,
                   rcpt_options: dict[str, Any] | None = None) -> SendResult:
        """Sends raw message bytes. Raises :class:`SendError` when no recipient got it."""
        job = job_for_send(sender, recipients, data, smtputf8, body, mail_options,
                           rcpt_options)
        result = (await self._run([job]))[0]
        if result.failure != Failure.SUCCESS:
            raise send_error(result)
        return result

    async def send_many(self, messages: Iterable[Outgoing]) -> list[SendResult]:
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
            await self.connect()
        if Extension.EIGHTBITMIME not in self.caps:
            jobs = seven_bit_jobs(items, jobs)
        return await self._run(jobs)

    async def _run(self, jobs: list[Job]) -> list[SendResult]:
        """Drives a :class:`Batch` (one transaction after the other; one client task
        at a time, like every method of this class)."""
        if self._conn is None:
            await self.connect()
        conn = self._conn
        assert conn is not None
        batch = Batch(conn, jobs, self._mp, int(self.caps.extensions), self.allow_8bit)
        batch.start()
        while batch.pending:
            # Raw event types from the C struct: no event objects on this path.
            t = conn._next_raw()
            if not t:
                t = await self._next_type(batch.start)
            if t == _T_STARTTLS or t == _T_CHALLENGE:
                await self._host_step(conn._event())
                continue
            if t == _T_READY:
                self.caps = Caps._from_c(conn._ev.caps)
                self._ready = True
            batch.on_event(t)
        return batch.results

    async def _next_type(self, idle: Callable[[], bool] | None = None) -> int:
        """The type of the next event (its struct is in the connection), writing what
        the engine has and reading until there is one. STARTTLS and host-run AUTH steps
        are returned as their types too (the caller runs :meth:`_host_step`). ``idle``
        runs when all output is written, before waiting for the server."""
        conn = self._conn
        writer, reader = self._writer, self._reader
        if conn is None or writer is None or reader is None:
            raise SMTPClientError("not connected")
        idled = False
        while True:
            t = conn._next_raw()
            if t:
                return t
            out = conn.data_to_send()
            if out:
                await self._write(out)
                continue
            if idle is not None and not idled:
                idled = True  # once per wait; True: it queued commands, write them first
                if idle():
                    continue
            if self._eof:
                raise SMTPServerDisconnected("connection closed by the server")
            await self._wait_input()
            idled = False

    async def _host_step(self, ev: cev.ClientEvent | None) -> None:
        """Runs a StartTLS or AuthChallenge event met on the fast path."""
        assert self._conn is not None and self._writer is not None
        conn = self._conn
        if isinstance(ev, cev.StartTLS):
            await self._flush()
            await self._start_tls()
            conn.tls_started()
            self.tls = True
        elif isinstance(ev, cev.AuthChallenge):
            answer = None
            if self.auth_callback is not None:
                answer = self.auth_callback(ev.challenge)
                if inspect.isawaitable(answer):
                    answer = await answer
            conn.auth_respond(answer)

    async def noop(self) -> Reply | None:
        """Sends NOOP; returns the reply."""
        return await self._simple(ClientConnection.noop)

    async def rset(self) -> Reply | None:
        """Sends RSET; returns the reply."""
        return await self._simple(ClientConnection.rset)

    async def _when_idle(self, start: Any) -> None:
        """Calls ``start()`` once the engine accepts a new command (it raises
        InvalidStateError until the previous exchange is over)."""
        while True:
            try:
                start()
                return
            except InvalidStateError:
                ev = await self._next()
                if isinstance(ev, cev.Ready):
                    self.caps = ev.caps
                elif isinstance(ev, (cev.ProtocolError, cev.Closed)):
                    raise session_error(ev.violation, ev.message, ev.reply, self.greeting,
                                        True) from None

    async def _simple(self, fn: Any) -> Reply | None:
        conn = self._conn
        if conn is None:
            raise SMTPClientError("not connected")
        await self._when_idle(lambda: fn(conn))
        reply = None
        while True:
            ev = await self._next()
            if isinstance(ev, cev.CommandReply):
                reply = ev.reply
                break
            if isinstance(ev, (cev.ProtocolError, cev.Closed)):
                raise session_error(ev.violation, ev.message, ev.reply, self.greeting, True)
        return reply


async def send_message(
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
    """Connects, sends one message, quits. Returns per-recipient results; raises
    :class:`SendError` if no recipient accepted it, :class:`SMTPClientError` when the
    conversation fails. Extra keywords go to :class:`SMTPClient`."""
    client = SMTPClient(host, port, starttls=starttls, tls_context=tls_context,
                        username=username, password=password, timeout=timeout, **kw)
    try:
        await client.connect()
        result = await client.send_message(msg, sender, recipients)
    except BaseException:
        await client.quit()
        raise
    await client.quit()
    return result


