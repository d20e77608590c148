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
import inspect
import ssl
from typing import Any, Callable, Iterable

from .._batch import (
    Outgoing, SendResult, envelope_of, flatten_message, job_for_send, job_of,
)
from .._driver import CHALLENGE, READ, START_TLS, WRITE, ClientDriver, Op, T
from .._ffi import ffi
from .._transcript import Transcript
from ..client import ClientConnection
from ..enums import BodyType, Failure
from ..errors import (
    SendError, SMTPClientError, SMTPCoreError, SMTPTimeoutError, send_error, tls_error,
)
from ..values import Caps, Reply

__all__ = ["SMTPClient", "send_message", "SendResult", "SMTPClientError", "SendError",
           "envelope_of", "flatten_message"]


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
        # One timer for the waits for input, moved lazily (see arm): asyncio.timeout()
        # schedules and cancels a timer per wait, about 4 us per message of a batch.
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None

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

    def arm(self, timeout: float) -> None:
        """The wait for ``waiter`` ends with TimeoutError ``timeout`` seconds from now.
        The timer is not moved per wait: when it fires before the current deadline it
        sets itself again for the deadline."""
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + timeout
        t = self.timer
        if t is None or t.when() > self.deadline:  # none, or set for a longer timeout
            if t is not None:
                t.cancel()
            self.timer = loop.call_at(self.deadline, self._expire)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _expire(self) -> None:
        self.timer = None
        w = self.waiter
        if w is None or w.done():
            return  # no wait under way: the next one sets a timer again
        loop = asyncio.get_running_loop()
        if loop.time() < self.deadline:
            self.timer = loop.call_at(self.deadline, self._expire)
        else:
            w.set_exception(TimeoutError())

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.disarm()
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


class SMTPClient(ClientDriver):
    """One SMTP connection that can send several messages (asyncio).

    The options are those of the blocking :class:`smtpcore.SMTPClient`, described on
    their base class ``ClientDriver``; ``auth_callback`` may be a coroutine function here.
    The conversation is the driver's; this class is its I/O on an asyncio transport
    (:meth:`_drive`). One task at a time may use a client, like every method of it.
    """

    _reader: _ClientProtocol | None = None  # the protocol (reads feed the engine)
    _writer: Any = None  # the transport

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
        ssl_arg = self._tls() if self.implicit_tls else None
        self._start_transcript()
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
            await self._drive(self._wait_ready())
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
        if self._reader is not None:
            self._reader.disarm()
        if w is not None:
            if w.get_write_buffer_size():
                # Bytes still queued (a write that timed out, a peer that stopped
                # reading): a graceful close would wait for them to drain, for nothing.
                w.abort()
                return
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
            if self._writer is not None:
                await self._drive(self._quit())
        except (SMTPClientError, SMTPCoreError, OSError, asyncio.TimeoutError):
            pass
        finally:
            await self.close()

    # -- the I/O of the driver's steps
    async def _drive(self, op: Op[T]) -> T:
        """Runs a step of the driver, doing the I/O it asks for."""
        value: Any = None
        while True:
            try:
                kind, arg = op.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value = None
            if self._writer is None or self._reader is None:
                op.close()
                raise SMTPClientError("not connected")
            if kind == WRITE:
                await self._write(arg)
            elif kind == READ:
                value = await self._wait_input()
            elif kind == START_TLS:
                await self._drain()
                await self._start_tls()
            elif kind == CHALLENGE:
                # A mechanism the engine does not run itself: the host answers.
                if self.auth_callback is not None:
                    value = self.auth_callback(arg)
                    if inspect.isawaitable(value):
                        value = await value

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

    async def _wait_input(self) -> bool:
        """Returns once more input reached the engine (False), or at its end (True)."""
        proto = self._reader
        assert proto is not None
        if not proto.got and not proto.eof:
            proto.resume()
            waiter = proto.waiter = asyncio.get_running_loop().create_future()
            if self.timeout is not None:
                proto.arm(self.timeout)
            try:
                await waiter
            except TimeoutError as exc:
                raise SMTPTimeoutError("timed out waiting for the server") from exc
        proto.got = False
        if proto.error is not None:
            raise proto.error
        return proto.eof

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

    # -- transactions
    async def send_message(self, msg: email.message.Message, sender: str | None = None,
                           recipients: Iterable[str] | None = None, **kw: Any) -> SendResult:
        """Sends an :class:`email.message.EmailMessage`. Sender and recipients default to
        the headers (From/Sender; To, Cc, Bcc), as smtplib does; Bcc is not transmitted."""
        sender, rcpts, international = self._message(msg, sender, recipients)
        if self._conn is None:
            await self.connect()  # the server's 8BITMIME decides how 8-bit parts are encoded
        return await self.send(sender, rcpts, self._flatten(msg, international),
                               smtputf8=international, **kw)

    async def send(self, sender: str, recipients: Iterable[str], data: bytes, *,
                   smtputf8: bool = False, body: BodyType | None = None,
                   mail_options: dict[str, Any] | None = None,
                   rcpt_options: dict[str, Any] | None = None) -> SendResult:
        """Sends raw message bytes. Raises :class:`SendError` when no recipient got it."""
        job = job_for_send(sender, recipients, data, smtputf8, body, mail_options,
                           rcpt_options)
        if self._conn is None:
            await self.connect()
        result = (await self._drive(self._run([job])))[0]
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
        return await self._drive(self._run(self._jobs(items, jobs)))

    async def noop(self) -> Reply | None:
        """Sends NOOP; returns the reply."""
        return await self._drive(self._simple(ClientConnection.noop))

    async def rset(self) -> Reply | None:
        """Sends RSET; returns the reply."""
        return await self._drive(self._simple(ClientConnection.rset))


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


