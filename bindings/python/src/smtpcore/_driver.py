# SPDX-License-Identifier: MIT
"""The sans-I/O client driver both SMTP clients are built on: the options, the session
state (capabilities, greeting, TLS, readiness) and every conversation step (wait until
ready, a batch of messages, NOOP/RSET, QUIT, STARTTLS and host-run AUTH on the way) as
generators that *yield* what they need from the I/O and *return* their result:

- ``(WRITE, data)``: write these bytes (nothing is sent back);
- ``(READ, None)``: wait until the server sent more (feed it to the engine) and send back
  True at the end of input, else False;
- ``(START_TLS, None)``: everything written so far is out: do the TLS handshake;
- ``(CHALLENGE, challenge)``: a 334 challenge of a mechanism the engine does not run:
  send back the answer of ``auth_callback`` (None cancels).

:class:`smtpcore.SMTPClient` (a blocking socket) and :class:`smtpcore.aio.SMTPClient`
(an asyncio transport) derive from :class:`ClientDriver` and only run this loop with
their own I/O (``_drive``), so the conversation exists once.
"""
from __future__ import annotations

import email.message
import socket
import ssl
from typing import Any, Callable, Generator, Iterable, Mapping, TypeVar

from . import _proxy
from ._batch import (
    Batch, Job, Outgoing, SendResult, envelope_of, flatten_message, seven_bit_jobs,
)
from ._ffi import ffi, lib
from ._transcript import Transcript
from .client import ClientConnection, Closed, ProtocolError
from .enums import Extension, Quirk, TlsPolicy
from .errors import (
    InvalidStateError, SMTPAuthenticationError, SMTPClientError, SMTPCoreError,
    SMTPNotSupportedError, SMTPServerDisconnected, session_error,
)
from .values import Caps, Reply, _slice, address_literal

__all__ = ["ClientDriver", "Op", "WRITE", "READ", "START_TLS", "CHALLENGE", "default_helo",
           "auth_error"]

WRITE, READ, START_TLS, CHALLENGE = range(4)

T = TypeVar("T")
#: A conversation step: yields (request, argument), is sent the I/O's answer, returns T.
Op = Generator[tuple[int, Any], Any, T]

_T_GREETING = lib.SMTPCORE_CEV_GREETING
_T_STARTTLS = lib.SMTPCORE_CEV_STARTTLS
_T_CHALLENGE = lib.SMTPCORE_CEV_AUTH_CHALLENGE
_T_AUTH = lib.SMTPCORE_CEV_AUTH_RESULT
_T_READY = lib.SMTPCORE_CEV_READY
_T_REPLY = lib.SMTPCORE_CEV_REPLY
_T_ERROR = lib.SMTPCORE_CEV_PROTOCOL_ERROR
_T_CLOSED = lib.SMTPCORE_CEV_CLOSED
_T_XCLIENT = lib.SMTPCORE_CEV_XCLIENT_RESULT
_OUT_LIMIT = 1 << 18  # data_to_send's default limit
# What the batch's pump takes of the output at most (smtpcore_build.CLIENT_PUMP_OUT): a
# write that long may have left more in the engine.
_PUMP_OUT = 16384
_POLICY = {None: TlsPolicy.OPPORTUNISTIC, True: TlsPolicy.REQUIRED, False: TlsPolicy.NEVER}


def default_helo(local_address: Any) -> str:
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


class ClientDriver:
    """One SMTP connection that can send several messages, without its I/O.

    ``starttls``: None = opportunistic (STARTTLS when offered; without ``tls_context`` the
    certificate is not verified, as opportunistic TLS cannot be), True = required
    (verified with ``tls_context`` or the system defaults), False = never.
    ``implicit_tls``: TLS from the first byte (port 465).
    ``auth_mechanism``: "PLAIN", "LOGIN", "XOAUTH2" (run by the engine), another name (each
    334 challenge goes to ``auth_callback(challenge: bytes) -> bytes | None``; None
    cancels), or None for the best mechanism offered.
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
    Other keywords go to :class:`~smtpcore.ClientConnection`.
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
        self._eof = False
        self._mp = ffi.new("smtpcore_mail_params *")
        lib.smtpcore_mail_params_init(self._mp)  # no parameters; struct_size set
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

    def set_debuglevel(self, level: int) -> None:
        """smtplib's switch: 1 or more prints the conversation to stderr (credentials
        redacted). Takes effect at the next connect()."""
        self.debuglevel = level

    def _start_transcript(self) -> None:
        t = Transcript(self.debuglevel, f"{self.host}:{self.port}")
        self._transcript = t if t.enabled else None

    def _new_conn(self, local_address: Any, peer_address: Any = None) -> ClientConnection:
        """The engine session, created once the local address is known (default EHLO,
        and the PROXY header's addresses)."""
        user, password, mech = self._auth
        if self.helo_name is None:
            self.helo_name = default_helo(local_address)
        self._eof = False
        self._ready = False
        self._conn = ClientConnection(
            self.helo_name,
            tls_policy=TlsPolicy.NEVER if self.implicit_tls else _POLICY[self.starttls],
            tls_active=self.implicit_tls, username=user, password=password,
            auth_mechanism=mech, **self._config,
            **_proxy.client_config(self.proxy, self.proxy_source, local_address, peer_address))
        return self._conn

    def _failed(self) -> SMTPClientError:
        """The exception for the ProtocolError/Closed event in the connection's struct."""
        assert self._conn is not None
        ev = self._conn._event()
        assert isinstance(ev, (ProtocolError, Closed))
        return session_error(ev.violation, ev.message, ev.reply, self.greeting, self._ready)

    # ---------------------------------------------------------------- steps
    def _host_step(self, t: int) -> Op[None]:
        """STARTTLS (write what is queued, then the handshake) or a host-run AUTH step."""
        conn = self._conn
        assert conn is not None
        if t == _T_STARTTLS:
            out = conn.data_to_send()
            while out:
                yield WRITE, out
                out = conn.data_to_send()
            yield START_TLS, None
            conn.tls_started()
            self.tls = True
        else:
            answer = yield CHALLENGE, _slice(conn._ev.data)
            conn.auth_respond(answer)  # None cancels the exchange with "*"

    def _next(self, idle: Callable[[], bool] | None = None) -> Op[int]:
        """The type of the next event (its struct is in the connection), writing what
        the engine has and reading until there is one; STARTTLS and host-run AUTH steps
        are done on the way. ``idle`` runs when all output is written, before waiting for
        the server; it returns True when it queued something (written before the wait)."""
        conn = self._conn
        if conn is None:
            raise SMTPClientError("not connected")
        idled = False
        while True:
            t = conn._next_raw()
            if t:
                if t == _T_STARTTLS or t == _T_CHALLENGE:
                    yield from self._host_step(t)
                    continue
                return t
            out = conn.data_to_send()
            while out:  # writing raises no event: drain it all, then wait
                yield WRITE, out
                out = conn.data_to_send()
            if idle is not None and not idled:
                idled = True  # once per wait
                if idle():
                    continue
            if self._eof:
                raise SMTPServerDisconnected("connection closed by the server")
            eof = yield READ, None
            idled = False
            if eof:
                self._eof = True
                conn.receive_eof()

    def _wait_ready(self) -> Op[None]:
        """Greeting, EHLO, XCLIENT, STARTTLS and AUTH until the session is ready."""
        conn = self._conn
        assert conn is not None
        xclient = self.xclient
        while not self._ready:
            t = yield from self._next()
            if t == _T_READY:
                if xclient is not None:
                    # Name the client first; the engine greets again, says EHLO again
                    # and the next Ready is the one for the client.
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
                # The engine would carry on unauthenticated; with credentials configured
                # that is never what the caller wants (smtplib.login() raises too).
                raise auth_error(conn, conn._reply(), self.tls)
            elif t == _T_ERROR or t == _T_CLOSED:
                raise self._failed()

    def _run(self, jobs: list[Job]) -> Op[list[SendResult]]:
        """Drives a :class:`Batch` (one transaction after the other). The hot path of
        both clients: the wait of :meth:`_next` is written out here (no generator per
        wait); the batch files the common events itself (:meth:`Batch.drain`) and
        returns the others as raw types from the C struct, no event objects."""
        conn = self._conn
        assert conn is not None
        batch = Batch(conn, jobs, self._mp, int(self.caps.extensions), self.allow_8bit)
        batch.start()
        drain = batch.drain
        on_event = batch.on_event
        njobs = len(jobs)
        idled = False
        while batch.pending:
            t = drain()
            out = batch.out
            if out:  # taken by the pump: older than anything the engine has now
                batch.out = b""
                yield WRITE, out
                batch.file_late()  # while the server reads it
                more = (batch.more or len(out) >= _PUMP_OUT or conn._end
                        or conn._body._data)
                batch.more = False
            else:
                more = True
            if not t:
                # Write everything (a large body reaches the engine while the output
                # drains), let the batch queue the next message behind the last "."
                # once per wait, then wait for the server.
                out = conn.data_to_send() if more else b""
                while out:
                    yield WRITE, out
                    if len(out) < _OUT_LIMIT and not conn._end and not conn._body._data:
                        break  # data_to_send took all there was: nothing more to write
                    out = conn.data_to_send()
                if not idled:
                    idled = True
                    # start()'s own condition first: most waits have nothing to start
                    # (the pump queued the next message), and a call costs more.
                    if batch._next < njobs and (batch._body_given or not batch._active) \
                            and batch.start():
                        continue
                if self._eof:
                    raise SMTPServerDisconnected("connection closed by the server")
                eof = yield READ, None
                idled = False
                if eof:
                    self._eof = True
                    conn.receive_eof()
                continue
            if t == _T_STARTTLS or t == _T_CHALLENGE:
                yield from self._host_step(t)
                continue
            idled = False  # a new wait may call batch.start again
            if t == _T_READY:
                self.caps = Caps._from_c(conn._ev.caps)
                self._ready = True
            on_event(t)
        return batch.results

    def _simple(self, fn: Callable[[ClientConnection], None]) -> Op[Reply | None]:
        """NOOP or RSET (``fn``) once the engine accepts a command; returns the reply."""
        conn = self._conn
        if conn is None:
            raise SMTPClientError("not connected")
        while True:
            try:
                fn(conn)  # InvalidStateError until the previous exchange is over
                break
            except InvalidStateError:
                t = yield from self._next()
                if t == _T_READY:
                    self.caps = Caps._from_c(conn._ev.caps)
                elif t == _T_ERROR or t == _T_CLOSED:
                    raise self._failed() from None
        while True:
            t = yield from self._next()
            if t == _T_REPLY:
                return conn._reply()
            if t == _T_ERROR or t == _T_CLOSED:
                raise self._failed()

    def _quit(self) -> Op[None]:
        """QUIT, until the engine says the conversation is over."""
        conn = self._conn
        if conn is not None and not self._eof:
            conn.quit()
            while (yield from self._next()) != _T_CLOSED:
                pass

    # ---------------------------------------------------------------- messages
    def _message(self, msg: email.message.Message, sender: str | None,
                 recipients: Iterable[str] | None) -> tuple[str, list[str], bool]:
        """Sender and recipients of ``msg`` (the headers, as smtplib: From/Sender; To,
        Cc, Bcc) unless given, and whether they need SMTPUTF8."""
        hdr_sender, hdr_rcpts = envelope_of(msg)
        sender = hdr_sender if sender is None else sender
        rcpts = hdr_rcpts if recipients is None else list(recipients)
        return sender, rcpts, any(not a.isascii() for a in [sender, *rcpts])

    def _flatten(self, msg: email.message.Message, international: bool) -> bytes:
        """``msg`` as bytes for this server (connected: its 8BITMIME decides how 8-bit
        parts are encoded)."""
        return flatten_message(msg, international, Extension.EIGHTBITMIME not in self.caps)

    def _jobs(self, items: list[Outgoing], jobs: list[Job]) -> list[Job]:
        """The jobs of send_many for this server (connected: without 8BITMIME, messages
        are flattened with 7-bit transfer encodings)."""
        if Extension.EIGHTBITMIME not in self.caps:
            return seven_bit_jobs(items, jobs)
        return jobs

