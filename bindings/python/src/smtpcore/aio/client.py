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
from ..client import ClientConnection
from ..enums import BodyType, Extension, Failure, TlsPolicy
from ..errors import InvalidStateError, SMTPCoreError
from ..values import Caps, Reply, address_literal
from ._common import read_some, write_all

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


def _default_helo() -> str:
    name = socket.getfqdn()
    if "." in name and not name.endswith("."):
        return name
    return address_literal("127.0.0.1")


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
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._eof = False
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
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.host, self.port, ssl=ssl_arg,
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
            try:
                await w.wait_closed()
            except (OSError, ssl.SSLError):
                pass

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
            await write_all(self._writer, out, self.timeout)
            out = self._conn.data_to_send()
        async with asyncio.timeout(self.timeout):
            await self._writer.drain()

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
                    await asyncio.wait_for(
                        self._writer.start_tls(self._tls(),
                                               server_hostname=self.server_hostname),
                        self.timeout)
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
                await write_all(self._writer, out, self.timeout)
                continue
            if self._eof:
                raise SMTPClientError("connection closed by the server")
            data = await read_some(self._reader, self.timeout)
            if data:
                conn.receive_data(data)
            else:
                self._eof = True
                conn.receive_eof()

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
        result = SendResult(sender, {r: None for r in rcpts})
        opts = dict(mail_options or {})
        if body is not None:
            opts["body"] = body
        try:
            await self._when_idle(lambda: conn.mail(sender, smtputf8=smtputf8,
                                                    **self._mail_opts(opts, data)))
            for r in rcpts:
                conn.rcpt(r, **(rcpt_options or {}))
            conn.data()
        except SMTPCoreError as exc:
            try:
                conn.rset()
            except SMTPCoreError:
                pass
            result.failure = Failure.LOCAL
            result.message = str(exc)
            raise SendError(result) from exc
        while True:
            ev = await self._next()
            if isinstance(ev, cev.RcptResult):
                if 0 <= ev.index < len(rcpts):
                    result.recipients[rcpts[ev.index]] = ev.reply
            elif isinstance(ev, cev.MailResult):
                result.mail_reply = ev.reply
            elif isinstance(ev, cev.SendBody):
                conn.send_body(data)
                conn.end_body()
            elif isinstance(ev, cev.MessageResult):
                result.reply = ev.reply
                result.failure = ev.failure
                result.message = ev.message
                break
            elif isinstance(ev, cev.Ready):
                self.caps = ev.caps
                self._ready = True
            elif isinstance(ev, (cev.ProtocolError, cev.Closed)):
                result.failure = ev.failure if ev.failure != Failure.SUCCESS else Failure.LOCAL
                result.reply = ev.reply
                result.message = ev.message or ev.violation.description
                raise SendError(result)
        if not result.ok:
            raise SendError(result)
        return result

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


