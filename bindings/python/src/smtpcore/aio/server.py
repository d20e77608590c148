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
import logging
import ssl
from typing import Any, Callable, Iterable

from .. import _proxy
from .._ffi import ffi, lib
from ..enums import AuthMech, Extension, ShutdownReason, SyncPolicy
from ..errors import SMTPCoreError
from ..server import DEFAULT_EXTENSIONS, ServerConnection, _new_session, _server_config
from ._common import read_some, write_all
from ._dispatch import IDLE, SUSPENDED, Dispatcher, PumpArea
from ._handler import (
    HOOKS, CallableHandler, Envelope, Handler, MessageResult, Result, Session,
    overridden_hooks, wrap_partial,
)
from ._limits import BUSY_REPLY, ServerLimits
from ._policy import check_signatures, wrap_hooks
from ._greeted import GreetedProtocol
from ._protocol import _READ_SIZE
from .compat import AiosmtpdHandler, is_aiosmtpd_handler

__all__ = ["serve", "Handler", "Session", "Envelope", "Result", "MessageResult",
           "SMTPServerProtocolRunner"]

log = logging.getLogger("smtpcore.aio.server")

#: The engine's input buffer of serve()'s sessions when the caller passes none (the
#: engine's own default, 514 bytes, holds one command line): a message body of a few KiB
#: then reaches the engine in one receive instead of one per 512 bytes. Larger bought
#: nothing measurable (docs/python.md, "Benchmark"). An idle connection does not hold it:
#: both runners give the engine's buffers back while they wait for the peer.
INPUT_BUFFER_SIZE = 4096


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
        self.hooks = wrap_hooks(overridden_hooks(handler), handler, Handler, config,
                                auth_required, self.limits)
        self._read_buf: tuple[memoryview, Any] | None = None
        self._pump: PumpArea | None = None
        self._c_config: tuple[Any, list[Any]] | None = None
        # A plaintext connection is greeted by a GreetedProtocol (aio/_greeted.py) unless
        # the greeting needs the handler or per-connection state.
        self.greets_alone = (self.hooks["handle_connect"] is None and not xclient_from
                             and not config.get("proxy_protocol")
                             and not self.limits.auth_failure_limit)
        # The deadline that runs from the greeting: the idle or the command deadline,
        # whichever is shorter (None: neither).
        spans = [t for t in (self.limits.timeout, self.limits.command_timeout)
                 if t is not None]
        self.first_span: float | None = min(spans) if spans else None

    def new_session(self) -> Any:
        """A C session of this server's configuration (an ``smtpcore_server *`` for
        ServerConnection._adopt); the C configuration is made once, at the first."""
        if self._c_config is None:
            self._c_config = _server_config(**self.config)
        return _new_session(self._c_config[0])

    def pump_area(self) -> PumpArea:
        """The dispatchers' records and output area, one for all connections of this
        server (each run() empties it before it returns)."""
        if self._pump is None:
            self._pump = PumpArea(self.hooks, bool(self.limits.auth_failure_limit))
        return self._pump

    def read_buffer(self) -> tuple[memoryview, Any]:
        """The read buffer of the plaintext fast path (a memoryview and its cffi pointer),
        one for all connections of this server: the transport fills it with recv_into and
        calls buffer_updated at once, which hands the bytes to the engine (that copies
        what it cannot take yet) before the next read, so no connection keeps it."""
        if self._read_buf is None:
            buf = bytearray(_READ_SIZE)
            self._read_buf = (memoryview(buf), ffi.from_buffer(buf))
        return self._read_buf

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

    async def _run(self, conn: ServerConnection, session: Session,
                   reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The stream I/O loop around the :class:`Dispatcher` (TLS listeners)."""
        loop = asyncio.get_running_loop()
        d = Dispatcher(self)
        d.start(conn, session, loop.time())
        clock = d.clock
        assert clock is not None
        eof = False
        while True:
            state = d.run(loop.time())
            out = d.take_pending()
            if out:
                await write_all(writer, out, self.timeout)
            if state == SUSPENDED:
                clock.pause(loop.time())  # the handler's time is not the client's
                result, failed = await d.wait_hook()
                clock.resume(loop.time())
                d.finish(result, failed)
                continue
            if state != IDLE:  # STARTTLS: the 220 must be out before the handshake
                async with asyncio.timeout(self.timeout):
                    await writer.drain()
                if conn.want_close or self.tls_context is None:
                    return
                await asyncio.wait_for(writer.start_tls(self.tls_context), self.timeout)
                conn.tls_started()
                session.tls = True
                session.ssl_object = writer.get_extra_info("ssl_object")
                session.host_name = None
                d.new_transaction()
                continue
            if conn.want_close or eof:
                async with asyncio.timeout(self.timeout):
                    await writer.drain()
                return
            # Message content or command lines next? The engine decides which deadline
            # applies (see _limits.py).
            clock.in_message(conn.in_message, loop.time())
            due = clock.next_deadline()
            # Waiting for the peer between transactions: the engine's buffers go back
            # meanwhile (it refuses while anything still refers to them, and takes them
            # back itself). Inside one the next command comes soon.
            if d.env is None:
                lib.smtpcore_server_release_idle(conn._c, ffi.NULL)
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
    Other keyword arguments go to :class:`ServerConnection`; ``input_buffer_size``
    defaults to :data:`INPUT_BUFFER_SIZE` (4 KiB) here, not to the engine's 514 bytes.
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
    if is_aiosmtpd_handler(handler) or authenticator is not None:
        handler = AiosmtpdHandler(handler, hostname=hostname, authenticator=authenticator)
    if isinstance(handler, AiosmtpdHandler):
        overrides_auth = handler.offers_auth
    elif isinstance(handler, Handler):
        check_signatures(handler)
        overrides_auth = type(handler).handle_auth is not Handler.handle_auth
    elif any(hasattr(handler, n) for n in HOOKS):
        check_signatures(handler)
        overrides_auth = hasattr(handler, "handle_auth")
        handler = wrap_partial(handler)
    elif callable(handler):
        overrides_auth = False
        handler = CallableHandler(handler)
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
    if cfg.get("input_buffer_size") is None:
        cfg["input_buffer_size"] = max(INPUT_BUFFER_SIZE,
                                       int(cfg.get("max_command_line") or 512) + 2)
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
        # Plaintext: the BufferedProtocol fast path (see _protocol.py), each connection
        # greeted by a GreetedProtocol that keeps almost nothing until it reads (_greeted.py).
        loop = asyncio.get_running_loop()
        if path is not None:
            return await loop.create_unix_server(lambda: GreetedProtocol(runner), path)
        return await loop.create_server(lambda: GreetedProtocol(runner), host, port)
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
