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
import copy
import email.message
import email.utils
import inspect
import socket
import ssl
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from io import BytesIO
from typing import Any, Callable, Iterable

from .. import client as cev
from .._ffi import ffi, lib
from ..client import _FAILURES, ClientConnection, _violation
from ..enums import BodyType, Extension, Failure, TlsPolicy
from ..errors import InvalidStateError, SMTPCoreError, check
from ..values import Caps, Reply, _slice, address_literal, decode_text, encode_text

_SIZE = int(Extension.SIZE)
_EIGHTBIT = int(Extension.EIGHTBITMIME)
_T_STARTTLS = lib.SMTPCORE_CEV_STARTTLS
_T_CHALLENGE = lib.SMTPCORE_CEV_AUTH_CHALLENGE
_T_READY = lib.SMTPCORE_CEV_READY
_T_MAIL = lib.SMTPCORE_CEV_MAIL_RESULT
_T_RCPT = lib.SMTPCORE_CEV_RCPT_RESULT
_T_BODY = lib.SMTPCORE_CEV_SEND_BODY
_T_END = lib.SMTPCORE_CEV_MESSAGE_RESULT
_T_ERROR = lib.SMTPCORE_CEV_PROTOCOL_ERROR
_T_CLOSED = lib.SMTPCORE_CEV_CLOSED

__all__ = ["SMTPClient", "send_message", "SendResult", "SMTPClientError", "SendError"]


class SMTPClientError(Exception):
    """The conversation failed: connection lost, protocol error, TLS or AUTH failure."""

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message if reply is None else f"{message}: {reply}")
        self.reply = reply


@dataclass(slots=True)
class SendResult:
    """Outcome of one transaction."""

    sender: str
    recipients: dict[str, Reply | None] = field(default_factory=dict)
    """Every recipient with the server's reply to its RCPT, in submission order."""
    mail_reply: Reply | None = None
    reply: Reply | None = None
    """The final reply (to the end of data), or the reply that ended the transaction."""
    failure: Failure = Failure.SUCCESS
    message: str = ""

    @property
    def accepted(self) -> list[str]:
        return [r for r, rep in self.recipients.items() if rep is not None and rep.is_success]

    @property
    def refused(self) -> dict[str, Reply | None]:
        """Recipients the server refused (like smtplib's send_message result)."""
        return {r: rep for r, rep in self.recipients.items()
                if rep is None or not rep.is_success}

    @property
    def ok(self) -> bool:
        return self.failure == Failure.SUCCESS


class SendError(SMTPClientError):
    """The message was not delivered to any recipient; ``result`` has the details."""

    def __init__(self, result: SendResult) -> None:
        why = result.message or "message refused"
        super().__init__(why, result.reply)
        self.result = result


def _addresses(values: Iterable[str]) -> list[str]:
    return [a for _, a in email.utils.getaddresses(list(values)) if a]


def flatten_message(msg: email.message.Message, utf8: bool = False) -> bytes:
    """The bytes smtpcore sends for ``msg``: CRLF line ends, Bcc/Resent-Bcc removed."""
    m = copy.copy(msg)
    del m["Bcc"]
    del m["Resent-Bcc"]
    buf = BytesIO()
    policy = m.policy.clone(utf8=True) if utf8 else m.policy
    BytesGenerator(buf, policy=policy).flatten(m, linesep="\r\n")
    return buf.getvalue()


def envelope_of(msg: email.message.Message) -> tuple[str, list[str]]:
    """Sender and recipients the way smtplib.send_message picks them."""
    resent = msg.get_all("Resent-Date")
    if resent:
        prefix = "Resent-"
    else:
        prefix = ""
    sender_hdr = msg[prefix + "Sender"] or msg[prefix + "From"]
    sender = _addresses([sender_hdr])[0] if sender_hdr else ""
    rcpts = _addresses(v for h in ("To", "Cc", "Bcc")
                       for v in (msg.get_all(prefix + h) or []))
    return sender, rcpts


def _fail_locally(conn: ClientConnection, result: SendResult, exc: SMTPCoreError) -> None:
    """The engine refused the envelope before sending it: abort and raise SendError."""
    try:
        conn.rset()
    except SMTPCoreError:
        pass
    result.failure = Failure.LOCAL
    result.message = str(exc)
    raise SendError(result) from exc


def _queue_rcpts_and_data(conn: ClientConnection, rcpts: list[str],
                          rcpt_options: dict[str, Any] | None, result: SendResult) -> None:
    """Queues the RCPTs and DATA behind an accepted MAIL (shared by the asyncio and the
    blocking client); a refusal by the engine raises SendError."""
    try:
        if rcpt_options:
            for r in rcpts:
                conn.rcpt(r, **rcpt_options)
        else:
            c = conn._c
            for r in rcpts:
                # No parameter struct: NULL params (the engine's documented default).
                check(lib.smtpcore_client_rcpt(c, encode_text(r), ffi.NULL))
        conn.data()
    except SMTPCoreError as exc:
        _fail_locally(conn, result, exc)


def _default_helo() -> str:
    name = socket.getfqdn()
    if "." in name and not name.endswith("."):
        return name
    return address_literal("127.0.0.1")


class _ClientProtocol(asyncio.BufferedProtocol):
    """Reads with recv_into into one buffer and feeds the engine straight from it: no
    bytes object per read (asyncio's stream transport allocates 256 KiB for each, which
    costs page faults), no StreamReader. Wakes the client task through ``waiter``."""

    _LIMIT = 1 << 20  # input queued beyond the engine's buffer before reading pauses

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
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

    def get_buffer(self, sizehint: int) -> memoryview:
        # A memoryview, not the bytearray: Python 3.11's SSL transport reads the rest of
        # a record into buf[offset:], which for a bytearray is a copy (data lost).
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
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
        **config: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.helo_name = helo_name or _default_helo()
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

    async def connect(self) -> Caps:
        """Connects and waits until the session is ready (greeting, EHLO, STARTTLS, AUTH
        done). Returns the server's capabilities."""
        policy = {None: TlsPolicy.OPPORTUNISTIC, True: TlsPolicy.REQUIRED,
                  False: TlsPolicy.NEVER}[self.starttls]
        user, password, mech = self._auth
        self._conn = ClientConnection(
            self.helo_name, tls_policy=TlsPolicy.NEVER if self.implicit_tls else policy,
            tls_active=self.implicit_tls, username=user, password=password,
            auth_mechanism=mech, **self._config)
        ssl_arg = self._tls() if self.implicit_tls else None
        try:
            conn = self._conn
            loop = asyncio.get_running_loop()
            self._writer, self._reader = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _ClientProtocol(conn), self.host, self.port, ssl=ssl_arg,
                    server_hostname=self.server_hostname if ssl_arg else None),
                self.timeout)
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
                raise SMTPClientError("connection closed by the server")
            await self._wait_input()

    async def _write(self, data: bytes) -> None:
        """Writes; waits only while the transport is over its high-water mark."""
        self._writer.write(data)  # type: ignore[union-attr]
        proto = self._reader
        if proto is not None and proto.paused:
            await self._drain()

    async def _drain(self) -> None:
        proto = self._reader
        if proto is not None and proto.paused and not proto.lost.done():
            proto.drain = asyncio.get_running_loop().create_future()
            async with asyncio.timeout(self.timeout):
                await proto.drain
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
            async with asyncio.timeout(self.timeout):
                await proto.waiter
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
        self._writer = await asyncio.wait_for(
            loop.start_tls(self._writer, proto, self._tls(),
                           server_hostname=self.server_hostname),
            self.timeout)

    async def _wait_ready(self) -> None:
        while not self._ready:
            ev = await self._next()
            if isinstance(ev, cev.Ready):
                self.caps = ev.caps
                self._ready = True
            elif isinstance(ev, cev.Greeting):
                self.greeting = ev.reply
            elif isinstance(ev, cev.AuthResult) and not ev.ok:
                # The engine would carry on unauthenticated; with credentials configured
                # that is never what the caller wants (smtplib.login() raises too).
                raise SMTPClientError("authentication failed", ev.reply)
            elif isinstance(ev, (cev.ProtocolError, cev.Closed)):
                why = getattr(ev, "message", "") or ev.violation.description
                raise SMTPClientError(why, ev.reply)

    # -- transactions
    async def send_message(self, msg: email.message.Message, sender: str | None = None,
                           recipients: Iterable[str] | None = None, **kw: Any) -> SendResult:
        """Sends an :class:`email.message.EmailMessage`. Sender and recipients default to
        the headers (From/Sender; To, Cc, Bcc), as smtplib does; Bcc is not transmitted."""
        hdr_sender, hdr_rcpts = envelope_of(msg)
        sender = hdr_sender if sender is None else sender
        rcpts = hdr_rcpts if recipients is None else list(recipients)
        international = any(not a.isascii() for a in [sender, *rcpts])
        data = flatten_message(msg, utf8=international)
        return await self.send(sender, rcpts, data, smtputf8=international, **kw)

    async def send(self, sender: str, recipients: Iterable[str], data: bytes, *,
                   smtputf8: bool = False, body: BodyType | None = None,
                   mail_options: dict[str, Any] | None = None,
                   rcpt_options: dict[str, Any] | None = None) -> SendResult:
        """Sends raw message bytes. Raises :class:`SendError` when no recipient got it."""
        rcpts = list(recipients)
        if not rcpts:
            raise ValueError("no recipients")
        if self._conn is None:
            await self.connect()
        conn = self._conn
        assert conn is not None
        result = SendResult(sender, dict.fromkeys(rcpts))
        exts = int(self.caps.extensions)
        try:
            if not mail_options and body is None and (data.isascii() or not exts & _EIGHTBIT):
                # The common case: SIZE only, one reused parameter struct.
                size = len(data) if exts & _SIZE else None
                await self._when_idle(lambda: self._mail_size(conn, sender, size, smtputf8))
            else:
                opts = dict(mail_options or {})
                if body is not None:
                    opts["body"] = body
                await self._when_idle(lambda: conn.mail(sender, smtputf8=smtputf8,
                                                        **self._mail_opts(opts, data)))
        except SMTPCoreError as exc:
            _fail_locally(conn, result, exc)
        _queue_rcpts_and_data(conn, rcpts, rcpt_options, result)
        ev = conn._ev
        replies = result.recipients
        while True:
            # Raw event types from the C struct: no event objects on this path.
            t = conn._next_raw()
            if not t:
                t = await self._next_type()
            if t == _T_RCPT:
                i = ev.rcpt_index
                if i < len(rcpts):
                    replies[rcpts[i]] = conn._reply()
            elif t == _T_MAIL:
                result.mail_reply = conn._reply()
            elif t == _T_BODY:
                conn.send_body(data)
                conn.end_body()
            elif t == _T_END:
                result.reply = conn._reply()
                result.failure = _FAILURES.get(ev.failure, Failure.LOCAL)
                if ev.message.len:
                    result.message = decode_text(_slice(ev.message))
                break
            elif t == _T_READY:
                self.caps = Caps._from_c(ev.caps)
                self._ready = True
            elif t == _T_ERROR or t == _T_CLOSED:
                f = _FAILURES.get(ev.failure, Failure.LOCAL)
                result.failure = f if f != Failure.SUCCESS else Failure.LOCAL
                result.reply = conn._reply()
                result.message = (decode_text(_slice(ev.message))
                                  or _violation(ev.violation).description)
                raise SendError(result)
            elif t in (_T_STARTTLS, _T_CHALLENGE):
                await self._host_step(conn._event())
        if result.failure != Failure.SUCCESS:
            raise SendError(result)
        return result

    def _mail_size(self, conn: ClientConnection, sender: str, size: int | None,
                   smtputf8: bool) -> None:
        """MAIL FROM with only SIZE/SMTPUTF8, reusing one parameter struct."""
        p = self._mp
        p.has_size = 0 if size is None else 1
        p.size = size or 0
        p.smtputf8 = 1 if smtputf8 else 0
        check(lib.smtpcore_client_mail(conn._sess(), encode_text(sender), p))

    async def _next_type(self) -> int:
        """The type of the next event (its struct is in the connection), writing what
        the engine has and reading until there is one. STARTTLS and host-run AUTH steps
        are returned as their types too (the caller runs :meth:`_host_step`)."""
        conn = self._conn
        writer, reader = self._writer, self._reader
        if conn is None or writer is None or reader is None:
            raise SMTPClientError("not connected")
        while True:
            t = conn._next_raw()
            if t:
                return t
            out = conn.data_to_send()
            if out:
                await self._write(out)
                continue
            if self._eof:
                raise SMTPClientError("connection closed by the server")
            await self._wait_input()

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

    def _mail_opts(self, opts: dict[str, Any], data: bytes) -> dict[str, Any]:
        caps = self.caps
        opts = dict(opts)
        if Extension.SIZE in caps and "size" not in opts:
            opts["size"] = len(data)
        if "body" not in opts and Extension.EIGHTBITMIME in caps and not data.isascii():
            opts["body"] = BodyType.EIGHTBITMIME
        return opts

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
                    raise SMTPClientError(getattr(ev, "message", "") or "connection closed",
                                          ev.reply)

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
                raise SMTPClientError(ev.message or "connection closed", ev.reply)
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


