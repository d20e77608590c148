# SPDX-License-Identifier: MIT
"""asyncio SMTP server on top of :class:`smtpcore.ServerConnection`.

>>> async def on_message(envelope):
...     print(envelope.mail_from, envelope.rcpt_tos, len(envelope.content))
>>> server = await smtpcore.aio.serve(on_message, "127.0.0.1", 2525)
>>> await server.serve_forever()

The handler is either a callable taking the :class:`Envelope` of each message, or an
object with any of the ``async def handle_*`` methods of :class:`Handler`. Handler
methods return ``None``/``True`` (accept with the engine's default reply), ``False``
(refuse with a default code), an ``int`` code, a ``"550 5.1.1 text"`` string or a
:class:`Response`. An exception in a handler answers 451 4.3.0 and is logged.

With ``serve(..., lmtp=True)`` the server speaks LMTP (RFC 2033), and ``handle_message``
may also return a dict from recipient address (as in ``envelope.rcpt_tos``) to any of
those results: each recipient gets its own reply after the data; recipients the dict
leaves out get the default acceptance. A result that is not a dict answers every
recipient alike.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence, Union

from .. import server as sev
from ..enums import AuthMech, Extension, ShutdownReason, SyncPolicy
from ..errors import SMTPCoreError
from ..server import DEFAULT_EXTENSIONS, ServerConnection
from ..values import MailParams, RcptParams
from ._common import CloseReply, Response, parse_response, read_some, write_all
from ._limits import BUSY_REPLY, Clock, ServerLimits
from ._policy import check_signatures, wrap_hooks
from .._ffi import ffi
from ._protocol import _READ_SIZE, ServerProtocol, default_hooks
from .. import _proxy

__all__ = ["serve", "Handler", "Session", "Envelope", "SMTPServerProtocolRunner"]

log = logging.getLogger("smtpcore.aio.server")

Result = Union[None, bool, int, str, Response]
#: What handle_message may return in LMTP mode: one Result for all, or per recipient.
MessageResult = Union[Result, Mapping[str, Result]]


@dataclass(slots=True)
class Session:
    """Per-connection state visible to handlers."""

    peer: Any = None
    """The client's address: the socket's getpeername(), or ``(address, port)`` from a
    PROXY header or XCLIENT when ``serve()`` was told to expect them (then the port may be
    None: nginx sends XCLIENT ADDR without PORT)."""
    proxy_peer: Any = None
    """The proxy's own address (the socket's peer) when a proxy named the client, else
    None."""
    proxy: str | None = None
    """How the client was named: "v1" or "v2" (PROXY header), "xclient", or None."""
    host_name: str | None = None
    """Argument of the last HELO/EHLO."""
    esmtp: bool = False
    tls: bool = False
    """True once STARTTLS completed (or for an implicit-TLS listener)."""
    authenticated: str | None = None
    """The user name of a successful AUTH."""
    ssl_object: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Free for the handler's own use."""


@dataclass(slots=True)
class Envelope:
    """One mail transaction."""

    mail_from: str | None = None
    """Reverse path without <> ("" for the null sender)."""
    mail_params: MailParams = field(default_factory=MailParams)
    rcpt_tos: list[str] = field(default_factory=list)
    """Accepted recipients, in order."""
    rcpt_params: list[RcptParams] = field(default_factory=list)
    content: bytes = b""
    """The message exactly as received (unstuffed, CRLF line ends), at handle_message."""
    bdat: bool = False
    long_lines: bool = False


class Handler:
    """Base class with the default behaviour of every hook (subclass what you need).

    Hooks that answer a command return ``None``/``True`` (accept with the engine's
    default reply), ``False`` (refuse with a default code), an ``int`` code, a
    ``"550 5.1.1 text"`` string or a :class:`Response`. Hooks a subclass does not
    override are not called at all (the engine answers). An exception in a hook answers
    451 4.3.0 and is logged. aiosmtpd handlers (``handle_DATA(server, session,
    envelope)`` etc.) need no subclass: :func:`serve` adapts them.
    """

    async def handle_connect(self, session: Session) -> Result:
        """A client connected; the greeting is due. None accepts (220 greeting); 554
        (or False) refuses the session, 421 defers it."""
        return None

    async def handle_helo(self, session: Session, name: str, esmtp: bool) -> Result:
        """HELO (``esmtp`` False) or EHLO with the client's ``name`` (also in
        ``session.host_name``). None accepts with the engine's reply, which for EHLO
        lists the keywords (see :meth:`ehlo_keywords`). A new HELO/EHLO drops the
        transaction in progress."""
        return None

    def ehlo_keywords(self, session: Session, keywords: list[str]) -> list[str]:
        """The EHLO keyword lines to announce, e.g. ``["PIPELINING", "SIZE 10240000",
        "8BITMIME", ...]`` as given (for this session: no STARTTLS after TLS, AUTH only
        where allowed). Override to add keywords (``keywords + ["XFOO"]``), reorder or
        hide some. This is what is *announced*; what the engine *accepts* is set by
        ``serve(extensions=...)``, so switch an extension off there, not here. A plain
        method or a coroutine; not called for HELO or when ``handle_helo`` refuses."""
        return keywords

    async def handle_auth(self, session: Session, mechanism: AuthMech, username: str,
                          password: str) -> Result:
        """AUTH with decoded credentials (``mechanism`` is an :class:`AuthMech`; for
        XOAUTH2 ``password`` is the bearer token). Return True to accept (235); the
        default refuses (535 5.7.8). On success ``session.authenticated`` is the user
        name. Overriding this method makes :func:`serve` offer AUTH PLAIN and LOGIN."""
        return False

    async def handle_mail(self, session: Session, envelope: Envelope, address: str,
                          params: MailParams) -> Result:
        """MAIL FROM:<address> ("" for the null sender) with its ESMTP ``params``; a
        new ``envelope`` (``mail_from`` already set). Refusing drops the envelope."""
        return None

    async def handle_rcpt(self, session: Session, envelope: Envelope, address: str,
                          params: RcptParams) -> Result:
        """RCPT TO:<address> with its ESMTP ``params``. When the hook accepts, the
        address is appended to ``envelope.rcpt_tos`` (and ``params`` to
        ``envelope.rcpt_params``) after it returns; a hook that appends it itself, as
        aiosmtpd's ``handle_RCPT`` must, is not doubled."""
        return None

    async def handle_data(self, session: Session, envelope: Envelope) -> Result:
        """The DATA command (or the first BDAT), *before* any content: accept (354) or
        refuse the transaction. The content arrives later in :meth:`handle_message`
        (aiosmtpd's ``handle_DATA`` corresponds to ``handle_message``, not to this)."""
        return None

    async def handle_body(self, session: Session, envelope: Envelope, data: bytes) -> None:
        """Override to stream the message: each slice of content (unstuffed) arrives here
        as it is received, and ``envelope.content`` stays empty. By default the slices are
        collected into ``envelope.content``."""
        return None

    async def handle_message(self, session: Session, envelope: Envelope) -> MessageResult:
        """The whole message is in ``envelope.content``. The default accepts it. In LMTP
        mode a dict ``{recipient: result}`` answers each recipient on its own."""
        return None

    async def handle_vrfy(self, session: Session, argument: str) -> Result:
        """VRFY <argument> (only when ``extensions`` include VRFY). None gives the
        engine's 252 (cannot verify, will try)."""
        return None

    async def handle_close(self, session: Session) -> None:
        """The connection is closed (whatever the reason); its result is ignored."""
        return None


class _CallableHandler(Handler):
    def __init__(self, fn: Callable[[Envelope], Any]) -> None:
        self._fn = fn

    async def handle_message(self, session: Session, envelope: Envelope) -> MessageResult:
        r = self._fn(envelope)
        if inspect.isawaitable(r):
            r = await r
        return r  # type: ignore[no-any-return]


_DEFAULT_REFUSAL = {
    sev.Connect: (554, "5.3.2", None),
    sev.Helo: (550, "5.7.1", None),
    sev.Auth: (535, "5.7.8", "Authentication credentials invalid"),
    sev.Mail: (550, "5.7.1", None),
    sev.Rcpt: (550, "5.1.1", None),
    sev.Data: (554, "5.5.0", None),
    sev.MessageEnd: (554, "5.6.0", "Message refused"),
    sev.Vrfy: (550, "5.1.1", None),
}


def _answer(conn: ServerConnection, ev: sev.ServerEvent, result: Result) -> bool:
    """Applies a handler result; returns True when the event was accepted."""
    return _answer_kind(conn, type(ev), result)


def _answer_kind(conn: ServerConnection, kind: type, result: Any,
                 rcpts: Sequence[str] | None = None) -> bool:
    """_answer for an event of class ``kind`` (the fast path builds no event object).
    ``rcpts``: the accepted recipients of an LMTP MessageEnd, for per-recipient answers."""
    if rcpts is not None and isinstance(result, Mapping):
        return _answer_rcpts(conn, rcpts, result)
    if result is None or result is True:
        conn.accept()
        return True
    if isinstance(result, CloseReply):
        conn.close_with(result.code, result.enhanced, result.text)
        return False
    if result is False:
        code, enh, text = _DEFAULT_REFUSAL.get(kind, (550, None, None))
        conn.reject(code, enh, text)
        return False
    if isinstance(result, int):
        result = Response(result)
    elif isinstance(result, str):
        result = parse_response(result)
    if not isinstance(result, Response):
        raise TypeError(f"handler returned {result!r}")
    conn.reply(result.code, result.enhanced, result.text)
    return result.code < 400


def _resolve(result: Result) -> tuple[int, str | None, str | None]:
    """A per-recipient LMTP result as (code, enhanced, text); None/True is 250."""
    if result is None or result is True:
        return 250, None, None
    if result is False:
        return _DEFAULT_REFUSAL[sev.MessageEnd]
    if isinstance(result, int):
        return result, None, None
    if isinstance(result, str):
        result = parse_response(result)
    if not isinstance(result, Response):
        raise TypeError(f"handler returned {result!r} for a recipient")
    return result.code, result.enhanced, result.text


def _answer_rcpts(conn: ServerConnection, rcpts: Sequence[str],
                  answers: Mapping[str, Result]) -> bool:
    """LMTP: one reply per recipient (RFC 2033 4.2) from a dict keyed by address; the
    engine sends them in RCPT order. Recipients not in the dict are accepted. Returns True
    when one recipient was accepted. Every answer is checked before the first is given,
    so a bad entry refuses the whole message (451) instead of answering half of it."""
    resolved = [_resolve(answers[r]) if r in answers else None for r in rcpts]
    any_ok = False
    for i, res in enumerate(resolved):
        if res is None:
            any_ok = True
            continue
        code, enh, text = res
        conn.reply_rcpt(i, code, enh, text)
        any_ok |= code < 400
    if conn.rcpt_unanswered:
        conn.accept()
    return any_ok


class SMTPServerProtocolRunner:
    """Runs one connection: reads, feeds the engine, calls the handler, writes."""

    def __init__(self, handler: Handler, config: dict[str, Any], tls_context: Any,
                 timeout: float | None, auth_required: bool = False,
                 limits: ServerLimits | None = None,
                 xclient_from: tuple[Any, ...] = ()) -> None:
        self.handler = handler
        self.xclient_from = xclient_from
        self.config = config
        self.tls_context = tls_context
        self.timeout = timeout
        self.limits = limits if limits is not None else ServerLimits(
            timeout=timeout, command_timeout=None, content_timeout=None,
            min_content_rate=0, max_connections=0, auth_failure_delay=0.0,
            auth_failure_limit=0, auth_failure_window=1.0)
        hook = handler.handle_body
        self.streams_body = getattr(hook, "__func__", hook) is not Handler.handle_body
        self.hooks = wrap_hooks(default_hooks(handler, Handler), handler, Handler, config,
                                auth_required, self.limits)
        self._read_buf: tuple[memoryview, Any] | None = None

    def read_buffer(self) -> tuple[memoryview, Any]:
        """The read buffer of the plaintext fast path (a memoryview and its cffi pointer),
        one for all connections of this server: the transport fills it with recv_into and
        calls buffer_updated at once, which hands the bytes to the engine (that copies
        what it cannot take yet) before the next read, so no connection keeps it."""
        if self._read_buf is None:
            buf = bytearray(_READ_SIZE)
            self._read_buf = (memoryview(buf), ffi.from_buffer(buf))
        return self._read_buf

    def _hook(self, name: str) -> Any:
        """The hook to call on the stream path (the handler's method, or the policy
        wrapping it; the base class default when neither)."""
        return self.hooks.get(name) or getattr(self.handler, name)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.limits.admit():
            # Over max_connections: answered without an engine session or handler call.
            log.info("refusing a connection from %s: max_connections (%d) reached",
                     writer.get_extra_info("peername"), self.limits.max_connections)
            writer.write(BUSY_REPLY)
            await self._close_writer(writer)
            return
        try:
            await self._serve(reader, writer)
        finally:
            self.limits.release()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConnection(**self.config)
        session = Session(peer=writer.get_extra_info("peername"),
                          tls=bool(self.config.get("tls_active")))
        if _proxy.peer_allowed(session.peer, self.xclient_from):
            conn.set_xclient_allowed(True)
        if session.tls:
            session.ssl_object = writer.get_extra_info("ssl_object")
        try:
            await self._run(conn, session, reader, writer)
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            # A write or handshake that did not finish in time: the client is not
            # reading, so nothing more can reach it (close() would wait for ever).
            log.debug("connection from %s ended: %r", session.peer, exc)
            writer.transport.abort()
        except ssl.SSLError as exc:
            log.info("TLS failure with %s: %s", session.peer, exc)
        except Exception:  # noqa: BLE001  (one broken connection must not kill the server)
            log.exception("error serving %s", session.peer)
        finally:
            conn.close()
            try:
                await self.handler.handle_close(session)
            except Exception:  # noqa: BLE001
                log.exception("handle_close failed")
            await self._close_writer(writer)

    async def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        """Closes once the output is written, but not later than ``timeout`` from now: a
        client that does not read would otherwise hold the connection for ever."""
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), self.timeout)
        except asyncio.TimeoutError:
            writer.transport.abort()
        except (ConnectionError, ssl.SSLError, OSError):
            pass

    async def _call(self, conn: ServerConnection, ev: sev.ServerEvent,
                    coro: Awaitable[Any], rcpts: Sequence[str] | None = None,
                    clock: Clock | None = None) -> bool:
        loop = asyncio.get_running_loop()
        if clock is not None:
            clock.pause(loop.time())
        try:
            return await self._answer_call(conn, ev, coro, rcpts)
        finally:
            if clock is not None:
                clock.resume(loop.time())

    async def _answer_call(self, conn: ServerConnection, ev: sev.ServerEvent,
                           coro: Awaitable[Any], rcpts: Sequence[str] | None) -> bool:
        try:
            result = await coro
        except Exception:  # noqa: BLE001
            log.exception("handler failed on %s", type(ev).__name__)
            try:
                conn.reject(451, "4.3.0", "Error processing request")
            except SMTPCoreError:
                conn.reject(554)
            return False
        try:
            return _answer_kind(conn, type(ev), result, rcpts)
        except (SMTPCoreError, ValueError, TypeError):
            log.exception("invalid handler result %r for %s", result, type(ev).__name__)
            conn.reject(451, "4.3.0", "Error processing request")
            return False

    async def _run(self, conn: ServerConnection, session: Session,
                   reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        h = self.handler
        env = Envelope()
        body = bytearray()
        eof = False
        loop = asyncio.get_running_loop()
        clock = Clock(self.limits, loop.time())

        async def call(ev: sev.ServerEvent, coro: Awaitable[Any],
                       rcpts: Sequence[str] | None = None) -> bool:
            return await self._call(conn, ev, coro, rcpts, clock)

        auth_seen = 0  # failed AUTHs counted for the address (limits)
        while True:
            ev = conn.next_event()
            if ev is None:
                if self.limits.auth_failure_limit:
                    auth_seen = self.limits.sync_auth_failures(session, conn.auth_failures,
                                                               auth_seen)
                out = conn.data_to_send()
                if out:
                    # A reply: the command it answers was complete, the next one's time
                    # starts (the deadline of one command line, see _limits.py).
                    clock.command_done(loop.time())
                    await write_all(writer, out, self.timeout)
                    continue
                if conn.want_close or eof:
                    async with asyncio.timeout(self.timeout):
                        await writer.drain()
                    return
                # Message content or command lines next? The engine decides which
                # deadline applies (see _limits.py).
                clock.in_message(conn.in_message, loop.time())
                due = clock.next_deadline()
                try:
                    data = await read_some(reader, None if due is None
                                           else max(due[0] - loop.time(), 0.0))
                except asyncio.TimeoutError:
                    assert due is not None
                    if self._expire(conn, session, due[1]):
                        continue  # MessageAborted, Close, the 421 written, closed
                    return
                clock.read(loop.time())
                if data:
                    conn.receive_data(data)
                else:
                    eof = True
                    conn.receive_eof()
                continue

            if isinstance(ev, sev.Body):
                clock.content(len(ev.data))
                if self.streams_body:
                    clock.pause(loop.time())
                    try:
                        await h.handle_body(session, env, ev.data)
                    finally:
                        clock.resume(loop.time())
                else:
                    body += ev.data
            elif isinstance(ev, sev.Rcpt):
                before = len(env.rcpt_tos)
                if await call(ev, h.handle_rcpt(session, env, ev.address, ev.params)):
                    if len(env.rcpt_tos) == before:  # not appended by the hook itself
                        env.rcpt_tos.append(ev.address)
                    if len(env.rcpt_params) < len(env.rcpt_tos):
                        env.rcpt_params.append(ev.params)
            elif isinstance(ev, sev.Mail):
                env = Envelope(mail_from=ev.address, mail_params=ev.params)
                body.clear()
                if not await call(ev, self._hook("handle_mail")(
                        session, env, ev.address, ev.params)):
                    env = Envelope()
            elif isinstance(ev, sev.MessageEnd):
                env.content = bytes(body)
                env.bdat = ev.bdat
                env.long_lines = ev.long_lines
                body.clear()
                if not env.rcpt_tos:
                    # Defence in depth: the engine itself refuses BDAT without an accepted
                    # recipient (RFC 3030); a handler must never see such a message.
                    conn.reject(554, "5.5.1", "No valid recipients")
                else:
                    await call(ev, h.handle_message(session, env),
                               env.rcpt_tos if conn.lmtp else None)
                env = Envelope()
            elif isinstance(ev, sev.Data):
                body.clear()
                await call(ev, h.handle_data(session, env))
            elif isinstance(ev, (sev.MessageAborted, sev.Rset)):
                body.clear()
                env = Envelope()
            elif isinstance(ev, sev.Helo):
                session.host_name = ev.name
                session.esmtp = ev.esmtp
                env = Envelope()
                await call(ev, self._hook("handle_helo")(session, ev.name, ev.esmtp))
            elif isinstance(ev, sev.Connect):
                await call(ev, h.handle_connect(session))
            elif isinstance(ev, sev.Auth):
                if await call(ev, self._hook("handle_auth")(session, ev.mechanism,
                                                            ev.username, ev.password)):
                    session.authenticated = ev.username
            elif isinstance(ev, sev.Vrfy):
                await call(ev, self._hook("handle_vrfy")(session, ev.argument))
            elif isinstance(ev, sev.StartTLS):
                out = conn.data_to_send()
                if out:
                    writer.write(out)
                async with asyncio.timeout(self.timeout):
                    await writer.drain()  # the 220 must be out before the handshake
                if conn.want_close or self.tls_context is None:
                    return
                await asyncio.wait_for(writer.start_tls(self.tls_context), self.timeout)
                conn.tls_started()
                session.tls = True
                session.ssl_object = writer.get_extra_info("ssl_object")
                session.host_name = None
                env = Envelope()
                body.clear()
            elif isinstance(ev, sev.Proxy):
                _proxy.from_header(session, conn.proxy_header)
            elif isinstance(ev, sev.Xclient):
                # Allowed by xclient_from; the engine checked the syntax. The session
                # starts over as after a new connection.
                _proxy.from_xclient(session, ev.attrs or {})
                env = Envelope()
                body.clear()
                conn.accept()
            elif isinstance(ev, sev.ProtocolError):
                log.debug("%s: %s (%s)", session.peer, ev.violation.name, ev.message)
            elif ev.answer_required:
                conn.accept()

    def _expire(self, conn: ServerConnection, session: Session, which: str) -> bool:
        """A deadline passed: the engine ends the session with 421 4.4.2 (a transaction
        in progress ends with MessageAborted). False when it was closing already."""
        log.info("closing the connection from %s: %s timeout", session.peer, which)
        try:
            conn.shutdown(ShutdownReason.TIMEOUT)
        except SMTPCoreError:
            return False
        return True


async def serve(
    handler: Handler | Callable[[Envelope], Any],
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    tls_context: ssl.SSLContext | None = None,
    implicit_tls: bool = False,
    hostname: str | None = None,
    auth_mechs: int | None = None,
    allow_plaintext_auth: bool = False,
    timeout: float | None = 300.0,
    max_message_size: int | None = None,
    extensions: int | None = None,
    auth_required: bool = False,
    authenticator: Callable[..., Any] | None = None,
    lmtp: bool = False,
    sync_policy: SyncPolicy = SyncPolicy.UNAUTH,
    max_connections: int = 1000,
    command_timeout: float | None = None,
    content_timeout: float | None = None,
    min_content_rate: int = 1024,
    auth_failure_delay: float = 1.0,
    max_auth_failures_per_address: int = 0,
    auth_failure_window: float = 600.0,
    proxy_protocol: str | None = None,
    xclient_from: Iterable[str] | str | None = None,
    **config: Any,
) -> asyncio.Server:
    """Starts an SMTP server; returns the listening :class:`asyncio.Server`.

    ``lmtp=True`` speaks LMTP (RFC 2033) instead: LHLO, and after the data one reply per
    recipient; ``handle_message`` may return a dict from recipient to result (see the
    module docstring). ``host="unix:PATH"`` listens on a Unix-domain socket (``port`` is
    then unused; an old socket file at PATH is replaced, and the file stays after close).

    ``tls_context`` enables STARTTLS (or TLS from the first byte with
    ``implicit_tls=True``, port 465 style). AUTH is offered (after TLS unless
    ``allow_plaintext_auth``) when the handler overrides ``handle_auth`` or
    ``auth_mechs`` is given. ``auth_required=True`` refuses MAIL and VRFY with
    530 5.7.0 until AUTH succeeded (as aiosmtpd's ``auth_required``). An aiosmtpd
    handler (``handle_DATA(server, session, envelope)``, ``handle_RCPT(...)``, ...) is
    adapted as it is, with aiosmtpd's ``authenticator`` (see :mod:`smtpcore.aio.compat`).
    Other keyword arguments go to :class:`ServerConnection`.
    Use port 0 for a free port: ``server.sockets[0].getsockname()[1]``.

    ``sync_policy`` defaults to :attr:`SyncPolicy.UNAUTH` (the engine's default is OFF):
    a client that has not authenticated and sends a command behind one that must end a
    pipelined group (DATA before its 354, EHLO, NOOP...) gets "554 5.5.0 Error: SMTP
    protocol synchronization" and is disconnected, as with Postfix's
    smtpd_forbid_unauth_pipelining. ``SyncPolicy.OFF`` restores the lenient behaviour.

    Limits against clients that hold connections or guess passwords (0 or None: off):

    - ``max_connections`` (default 1000, as smtpcore-sink's ``--max-conn``): a connection
      over it gets "421 4.7.0 Too many connections, try later" and is closed, without a
      handler call.
    - ``timeout`` (seconds, default 300): a client silent this long gets "421 4.4.2
      <hostname> Error: timeout exceeded" (:meth:`ServerConnection.shutdown`) and is
      closed; the other deadlines end a session the same way. ``command_timeout``
      (default: ``timeout``): one command line must be complete within this long of the
      previous reply, however slowly its bytes trickle in. ``content_timeout`` (default:
      ``timeout``) plus one second per ``min_content_rate`` bytes received (default
      1024): the time a message's content (DATA to the final dot, or one BDAT chunk)
      may take. A client sending one byte a second is thus closed after about
      ``timeout``; the 421 is sent mid-DATA too, and the transaction is lost. Time spent
      in a handler does not count. A client that does not read its replies is dropped
      at the deadline (its unsent output discarded).
    - ``max_auth_failures`` (the engine's, default 3): refused AUTH commands per session
      before "421 4.7.0 ... too many failed authentications" and close.
    - ``auth_failure_delay`` (seconds, default 1.0): each AUTH the handler refuses is
      answered only after this pause (other sessions go on meanwhile), as Postfix's
      error sleep. ``max_auth_failures_per_address`` failed AUTHs (the engine's
      ``auth_failures``, its own refusals included) from one client IP address within
      ``auth_failure_window`` seconds (default 600) make its next AUTH get "421 4.7.0
      <hostname> Error: too many failed authentications from ADDR, try later" and the
      close (as smtpcore-sink) without the handler being asked.

    Behind a proxy (docs/deploy.md): ``proxy_protocol="v1"|"v2"|"any"`` makes every
    connection start with a PROXY header (HAProxy ``send-proxy``/``send-proxy-v2``); one
    without a valid header is closed without a greeting. ``xclient_from`` lists the
    addresses or networks (``["127.0.0.1", "10.0.0.0/8"]``) whose connections are offered
    and may use XCLIENT (nginx's mail proxy); nobody by default. Either way
    ``session.peer`` becomes the client the proxy named and ``session.proxy_peer`` the
    proxy itself. Only a listener that nothing but the proxy can reach may use them.
    """
    from .compat import AiosmtpdHandler, is_aiosmtpd_handler
    if is_aiosmtpd_handler(handler) or authenticator is not None:
        handler = AiosmtpdHandler(handler, hostname=hostname, authenticator=authenticator)
    if isinstance(handler, AiosmtpdHandler):
        overrides_auth = handler.offers_auth
    elif isinstance(handler, Handler):
        check_signatures(handler)
        overrides_auth = type(handler).handle_auth is not Handler.handle_auth
    elif any(hasattr(handler, n) for n in _HOOKS):
        check_signatures(handler)
        overrides_auth = hasattr(handler, "handle_auth")
        handler = _wrap_partial(handler)
    elif callable(handler):
        overrides_auth = False
        handler = _CallableHandler(handler)
    else:
        raise TypeError("handler must be a Handler-like object or a callable")
    exts = int(DEFAULT_EXTENSIONS if extensions is None else extensions)
    if tls_context is not None and not implicit_tls:
        exts |= Extension.STARTTLS
    if auth_mechs is None and overrides_auth:
        auth_mechs = AuthMech.PLAIN | AuthMech.LOGIN
    if auth_mechs:
        exts |= Extension.AUTH
    cfg: dict[str, Any] = dict(config)
    mode = _proxy.proxy_mode(proxy_protocol)
    if mode is not None:
        cfg["proxy_protocol"] = mode
    nets = _proxy.parse_networks(xclient_from)
    cfg.update(extensions=exts, hostname=hostname, allow_plaintext_auth=allow_plaintext_auth,
               max_message_size=max_message_size, sync_policy=sync_policy)
    if lmtp:
        cfg["lmtp"] = True
    if auth_mechs:
        cfg["auth_mechs"] = int(auth_mechs)
    if isinstance(handler, AiosmtpdHandler):
        handler.config = cfg  # its EHLO responses list what the engine announces
    if implicit_tls:
        cfg["tls_active"] = True
    if auth_required and not auth_mechs:
        raise ValueError("auth_required=True but no AUTH is offered (override handle_auth, "
                         "or pass auth_mechs= or an authenticator)")
    limits = ServerLimits(timeout=timeout, command_timeout=command_timeout,
                          content_timeout=content_timeout, min_content_rate=min_content_rate,
                          max_connections=max_connections,
                          auth_failure_delay=auth_failure_delay,
                          auth_failure_limit=max_auth_failures_per_address,
                          auth_failure_window=auth_failure_window)
    runner = SMTPServerProtocolRunner(handler, cfg, None if implicit_tls else tls_context,
                                      timeout, auth_required, limits, nets)
    ServerConnection(**cfg).close()  # validate the configuration now, not per connection
    path = host[5:] if host is not None and host.startswith("unix:") else None
    if tls_context is None:
        # Plaintext: the BufferedProtocol fast path (see _protocol.py).
        loop = asyncio.get_running_loop()
        if path is not None:
            return await loop.create_unix_server(lambda: ServerProtocol(runner), path)
        return await loop.create_server(lambda: ServerProtocol(runner), host, port)
    # Implicit TLS: the handshake comes before the runner (and its deadlines); a client
    # that never completes it is dropped after ``timeout`` (asyncio's default: 60 s).
    tls: dict[str, Any] = {}
    if implicit_tls:
        tls["ssl"] = tls_context
        if timeout is not None:
            tls["ssl_handshake_timeout"] = timeout
    if path is not None:
        return await asyncio.start_unix_server(runner, path, **tls)
    return await asyncio.start_server(runner, host, port, **tls)


def _wrap_partial(obj: Any) -> Handler:
    """Adapts an object implementing only some handle_* coroutines (aiosmtpd style)."""
    class _Adapter(Handler):
        pass

    adapter = _Adapter()
    for name in _HOOKS:
        fn = getattr(obj, name, None)
        if fn is not None:
            setattr(adapter, name, fn)
    return adapter


_HOOKS = ("handle_connect", "handle_helo", "ehlo_keywords", "handle_auth", "handle_mail",
          "handle_rcpt", "handle_data", "handle_body", "handle_message", "handle_vrfy",
          "handle_close")
