# SPDX-License-Identifier: MIT
"""The plaintext fast path of :func:`smtpcore.aio.serve`: an asyncio BufferedProtocol
around the :class:`~._dispatch.Dispatcher` (which reads the events and calls the hooks).

Bytes are read with recv_into into a buffer and handed to the engine straight from it (no
bytes object, no StreamReader, no task switch per read); the output of a whole batch of
events leaves in one transport.write; a hook that really suspends continues as a task
while reading pauses. STARTTLS and implicit TLS use the stream runner in server.py, around
the same dispatcher.

An idle connection holds no read buffer (one buffer serves every connection of the
server, see ``SMTPServerProtocolRunner.read_buffer``), no engine buffers (given back after
each read outside a transaction, see smtpcore_server_release_idle()) and no timer of its own (one timer serves
the deadlines of every connection, see ``Deadlines``); the deadlines and the connection
cap are in _limits.py. Until its first read a connection is not even one of these but a
GreetedProtocol (_greeted.py), which hands over to one (:meth:`ServerProtocol.adopt`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from .. import _proxy
from ..enums import ShutdownReason
from ..errors import SMTPCoreError
from ..server import MessageEnd, ServerConnection
from .._ffi import ffi
from ..values import _NO_MAIL_PARAMS, _NO_RCPT_PARAMS
from ._dispatch import (
    _BODY, _MAIL, _RCPT, IDLE, P_END, P_END_BDAT, P_END_LONG, P_EVENT, P_IN_MESSAGE, P_RELEASE,
    P_WANT_CLOSE, PUMP, READ, ACCEPTED, SUSPENDED, Dispatcher, _DONE, _ResumeInline,
)
from ._handler import Session, new_envelope
from ._limits import BUSY_REPLY

__all__ = ["ServerProtocol"]

log = logging.getLogger("smtpcore.aio.server")

_READ_SIZE = 65536
# A pump result whose only reason to stop was the end of a message (see PumpArea.end).
_END_ALONE = P_EVENT | P_END
_NULL = ffi.NULL


class ServerProtocol(Dispatcher, asyncio.BufferedProtocol):
    """One plaintext SMTP connection (created by serve() for each accepted socket): the
    transport side; the events and hooks are the :class:`Dispatcher`'s."""

    # Slots: thousands of idle connections each keep one of these.
    __slots__ = ("runner", "transport", "view", "cbuf", "busy", "write_paused", "eof", "done",
                 "hold", "admitted", "timer", "due", "loop")
    # Quiet until the next read: the pump gives the engine's buffers back when the
    # session is idle between transactions (the engine refuses while anything still
    # refers to them, and takes them back itself), so an idle connection holds none
    # after the greeting, EHLO or a message. Inside a transaction it keeps them: the
    # next command comes soon, and a release costs a free and a malloc (the pump asks
    # smtpcore_server_in_transaction()).
    PUMP_FLAGS = P_RELEASE

    def __init__(self, runner: Any) -> None:
        Dispatcher.__init__(self, runner)
        self.runner = runner
        self.transport: Any = None
        # The read buffer is the runner's, shared by every connection of the server (see
        # get_buffer): an idle connection holds no buffer at all.
        view, self.cbuf = runner.read_buffer()
        self.view: memoryview = view
        self.pump.read_buffer(self.cbuf)
        self.busy = False       # a handler coroutine is running as a task
        self.write_paused = False
        self.eof = False
        self.done = False
        # busy or eof or done, or input queued in the connection (which must go to
        # the engine before a new read): one test per read in buffer_updated, set with
        # each of them, and after _process() (the only place input is queued or fed).
        self.hold = False
        self.admitted = False
        self.timer: Any = None  # closing: the bound on writing the last output
        self.due: int | None = None  # the deadline check's bucket (limits.deadlines)
        self.loop: Any = None

    # ---------------------------------------------------------------- transport events
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        if not self.limits.admit():
            # Over max_connections: answered without an engine session or handler call.
            self.done = self.hold = True
            log.info("refusing a connection from %s: max_connections (%d) reached",
                     transport.get_extra_info("peername"), self.limits.max_connections)
            transport.write(BUSY_REPLY)
            self._linger()
            return
        self.admitted = True
        conn = ServerConnection(**self.runner.config)
        session = Session(peer=transport.get_extra_info("peername"))
        if self.runner.xclient_from and _proxy.peer_allowed(session.peer,
                                                            self.runner.xclient_from):
            conn.set_xclient_allowed(True)
        self.start(conn, session, self.loop.time())
        self._arm()
        self._process()

    def adopt(self, transport: Any, c: Any, since: float) -> None:
        """connection_made() for a connection that a GreetedProtocol admitted and greeted
        (_greeted.py): takes over its engine session ``c``; ``since``: the greeting's time.
        The caller files the deadline."""
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        self.admitted = True
        self.start(ServerConnection._adopt(c), Session(peer=transport.get_extra_info("peername")),
                   since)

    def get_buffer(self, sizehint: int) -> memoryview:
        # A memoryview, not the bytearray: Python 3.11's SSL transport reads the rest of
        # a record into buf[offset:], which for a bytearray is a copy (data lost).
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.hold:  # done, a hook running, after EOF or input queued: not common
            if not self.done:
                now = self.clock.last_read = self.pump.now()  # type: ignore[union-attr]
                self._read_slowly(now, nbytes)
            return
        pump = self.pump
        clock = self.clock
        now = clock.last_read = pump.now()  # type: ignore[union-attr]  # Clock.read
        c = self.conn._c  # type: ignore[union-attr]
        if c is None:
            self._read_slowly(now, nbytes)
            return
        # The common case whole, here: the engine takes the bytes straight from the
        # buffer, the pump answers what no hook waits for, the replies go out.
        st = READ(c, pump.area, nbytes)
        if st & pump.slow or st <= 0:
            # The end of a message alone (the last read of most transactions) is
            # answered here too; anything else goes to run_from().
            if st <= 0 or st & pump.end != _END_ALONE or self.lmtp:
                self._process(now, nbytes, st)
                return
            try:
                st = self._end_inline(now, st)
            except SMTPCoreError:
                log.exception("engine error serving %s", self.session.peer)
                self._abort()
                return
            if st is None:
                return
        n = st & 0xff00
        if n:
            info = pump.info
            t = info[0]
            # A record with ESMTP parameters has them in its type's upper bits.
            if n == 0x100 and (t == _RCPT or t == _MAIL):
                # One MAIL or RCPT without ESMTP parameters (the one record of most
                # reads), applied here as _records() would; its slice is the arena's
                # first. decode_text(), with the default codec's cheaper call first.
                data = pump.arena_bytes[0:info[2]]
                try:
                    address = data.decode()
                except UnicodeDecodeError:
                    address = data.decode("utf-8", "surrogateescape")
                if t == _RCPT:
                    env = self.env
                    env.rcpt_tos.append(address)
                    env.rcpt_params.append(_NO_RCPT_PARAMS)
                else:
                    self.env = new_envelope(address, _NO_MAIL_PARAMS)
                    body = self.body
                    if body:  # empty, except after a sequence the engine refuses
                        body.clear()
            else:
                self._records(n >> 8)
        if st >= 0x10000:
            clock.command_start = now  # type: ignore[union-attr]  # Clock.command_done
            self.transport.write(pump.out[0:st >> 16])
        # Clock.in_message, inlined (hot): content or command lines next (the engine
        # knows), which decides the deadline that applies.
        if st & P_IN_MESSAGE:
            if clock.content_start is None:  # type: ignore[union-attr]
                clock.content_start = now  # type: ignore[union-attr]
                clock.content_bytes = 0  # type: ignore[union-attr]
                if self.due is None or not self.limits.uniform:
                    self._arm()
        elif clock.content_start is not None:  # type: ignore[union-attr]
            clock.content_start = None  # type: ignore[union-attr]
            clock.command_start = now  # type: ignore[union-attr]
            if self.due is None or not self.limits.uniform:
                self._arm()

    def _end_inline(self, now: float, st: int) -> int | None:
        """buffer_updated's end of a message (``st``: the pump's result, its event the
        end): applies the records, lets handle_message answer, and pumps again for the
        reply (accepting in that same call when the hook accepted). Returns that pump
        result when the fast path can apply it, else None (a hook suspended, or the rest
        went to run_from()). This is _message_end() and _call() for the one case of a
        non-LMTP session, without their layers: once per message."""
        pump = self.pump
        info = pump.info
        body = self.body
        if st & 0xff00 == 0x100 and info[0] == _BODY and not body:
            # The whole content in this read (most messages): straight to bytes (the
            # one record's slice is the arena's first).
            k = info[2]
            self.clock.content_bytes += k  # type: ignore[union-attr]
            content = pump.arena_bytes[0:k]
        else:
            n = (st >> 8) & 0xff
            if n:
                self._records(n)
            content = bytes(body)
            body.clear()
        if st >= 0x10000:
            self.clock.command_start = now  # type: ignore[union-attr]  # Clock.command_done
            self.transport.write(pump.out[0:st >> 16])
        env = self.env
        env.content = content
        if st & (P_END_BDAT | P_END_LONG):  # new_envelope() set both False
            env.bdat = st & P_END_BDAT != 0
            env.long_lines = st & P_END_LONG != 0
        self.env = None
        conn = self.conn
        result: Any = None
        answered = False
        hook: Any = pump.end_envelope
        if hook is None:
            hook = self.hooks["handle_message"]
        if not env.rcpt_tos:
            # Defence in depth, as in _message_end().
            conn.reject(554, "5.5.1", "No valid recipients")  # type: ignore[union-attr]
            answered = True
        elif hook is not None:
            drv = pump.drv
            box = pump.box  # this driver's, even if the hook made the server a new one
            try:
                first = drv.send(hook(env) if hook is pump.end_envelope
                                 else hook(self.session, env))
            except BaseException as exc:
                pump.new_driver()  # this one ended with the hook
                if not isinstance(exc, Exception):
                    raise
                log.exception("handler failed on %s", "MessageEnd")
                self._fail()
                answered = True
            else:
                if first is not _DONE:
                    pump.new_driver()  # this one stays with the hook
                    self.suspended = (_ResumeInline(drv, first, box), MessageEnd,
                                      None, True)
                    self._suspend()
                    return None
                result = box[0]
        c = conn._c  # type: ignore[union-attr]
        if answered or (result is not None and result is not True):
            if not answered:
                self._answer(MessageEnd, result)
                c = conn._c  # type: ignore[union-attr]
            if c is None:
                self._process(now)  # raises inside and ends the session
                return None
            st = PUMP(c, pump.mask_release, pump.area, _NULL, 0)
        else:
            if c is None:
                self._answer(MessageEnd, result)  # raises: the session was closed
            st = ACCEPTED(c, pump.area)
        if st & pump.slow or st <= 0:
            self._process(now, 0, st)
            return None
        return st

    def _read_slowly(self, now: float, nbytes: int) -> None:
        """A read while a hook runs, after the engine refused input or the peer's EOF,
        or with input still queued: through the connection's own input queue."""
        try:
            self.conn._receive_into(self.cbuf, self.view, nbytes)  # type: ignore[union-attr]
        except SMTPCoreError:
            log.exception("engine refused input from %s", self.session.peer)
            self._abort()
            return
        if not self.busy:
            self._process(now)

    def eof_received(self) -> bool:
        if self.done:
            return False
        self.eof = self.hold = True
        try:
            self.conn.receive_eof()  # type: ignore[union-attr]
        except SMTPCoreError:
            self._abort()
            return False
        if not self.busy:
            self._process()
        return True  # keep the transport: the engine's last replies may still be written

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.session is not None:  # None: refused (max_connections)
            log.debug("connection from %s ended: %r", self.session.peer, exc)
        self.done = self.hold = True
        self._unfile()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.admitted:
            return
        self.admitted = False
        self.limits.release()
        if self.conn is not None:
            self.conn.close()
        if self.hooks["handle_close"] is not None:
            self.loop.create_task(self._close_hook())

    async def _close_hook(self) -> None:
        try:
            await self.handler.handle_close(self.session)
        except Exception:  # noqa: BLE001
            log.exception("handle_close failed")

    def pause_writing(self) -> None:
        self.write_paused = True
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self.busy and not self.done:
            self.transport.resume_reading()

    # ---------------------------------------------------------------- deadlines
    # The checks are filed with the server's one timer (limits.deadlines, _limits.py), not
    # a TimerHandle each: an idle connection keeps a bucket entry, not a handle.
    def _arm(self) -> None:
        """(Re)files the check for the next deadline of the clock."""
        due = self.clock.next_deadline()  # type: ignore[union-attr]
        if due is None:
            return
        deadlines = self.limits.deadlines
        if self.due is not None:
            if deadlines.when(self.due) <= due[0]:
                return  # an earlier check is pending; it files again for the rest
            deadlines.remove(self, self.due)
        self.due = deadlines.add(self, due[0], self.loop)

    def _unfile(self) -> None:
        if self.due is not None:
            self.limits.deadlines.remove(self, self.due)
            self.due = None

    def _deadline(self) -> None:
        """The check (called by limits.deadlines once the filed time has passed)."""
        self.due = None
        if self.done or self.busy:
            return  # a running handler re-arms when it finishes
        due = self.clock.next_deadline()  # type: ignore[union-attr]
        if due is None:
            return
        if due[0] > self.loop.time():
            self.due = self.limits.deadlines.add(self, due[0], self.loop)
            return
        self._expire(due[1])

    def _expire(self, which: str) -> None:
        """A deadline passed: the engine ends the session with 421 4.4.2 (a transaction
        in progress ends with MessageAborted), its output is written, then close."""
        log.info("closing the connection from %s: %s timeout", self.session.peer, which)
        if self.write_paused:
            self._abort()  # it does not read: the 421 could not reach it either
            return
        try:
            self.conn.shutdown(ShutdownReason.TIMEOUT)  # type: ignore[union-attr]
        except SMTPCoreError:  # already closing: nothing more to say
            self._close()
            return
        self._process()  # MessageAborted, Close, the 421 written, closed on want_close

    def _linger(self) -> None:
        """Closes once the output is written, but not later than ``timeout`` from now: a
        client that does not read would otherwise hold the connection for ever."""
        self.transport.close()
        t = self.limits.timeout
        if t is not None and self.transport.get_write_buffer_size():
            self.timer = self.loop.call_later(t, self.transport.abort)

    def _close(self) -> None:
        if not self.done:
            self.done = self.hold = True
            self._unfile()
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self._linger()

    def _abort(self) -> None:
        if not self.done:
            self.done = self.hold = True
            self._unfile()
            self.transport.abort()

    # ---------------------------------------------------------------- the event loop
    def _process(self, now: float | None = None, nbytes: int = 0, st: int | None = None) -> None:
        """Runs the dispatcher (on ``nbytes`` just read into the shared buffer, if any;
        ``st``: what the pump returned for them when buffer_updated called it) and does
        what it returns for: write, close, re-arm the deadline, or go on with a hook that
        suspended as a task (reading pauses)."""
        if self.done:
            return
        if now is None:
            now = self.loop.time()
        try:
            if st is not None:
                state = self.run_from(now, st, self.view, nbytes)
            elif nbytes:
                state = self.run(now, self.cbuf, self.view, nbytes)
            else:
                state = self.run(now)
        except SMTPCoreError:
            log.exception("engine error serving %s", self.session.peer)
            self._abort()
            return
        pending = self.pending
        if pending:
            self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
            pending.clear()
        if state == SUSPENDED:
            self._suspend()
            return
        if state != IDLE:
            # STARTTLS: only reached when the engine was configured for TLS without a
            # context (serve() routes TLS listeners to the stream runner): end the session.
            self._close()
            return
        bits = self.state
        queued = self.conn._in._data  # type: ignore[union-attr]
        if bits & P_WANT_CLOSE or (self.eof and not queued):
            self._close()
            return
        # Not done here: input the engine could not take yet keeps the next
        # reads on the slow path, behind it.
        self.hold = self.busy or self.eof or bool(queued)
        # Message content or command lines next? (The engine knows: after the 354, or
        # inside a BDAT chunk.) It decides which deadline applies.
        clock = self.clock
        assert clock is not None
        inside = bits & P_IN_MESSAGE != 0
        if inside is (clock.content_start is None):
            clock.in_message(inside, now)
            if self.due is None or not self.limits.uniform:
                self._arm()

    def _suspend(self) -> None:
        """A hook suspended: it goes on as a task, reading pauses until it returns."""
        self.busy = self.hold = True
        self.clock.pause(self.loop.time())  # type: ignore[union-attr]
        self.transport.pause_reading()
        self.loop.create_task(self._finish())

    async def _finish(self) -> None:
        result, failed = await self.wait_hook()
        self.busy = False
        self.hold = self.eof or self.done or bool(self.conn._in._data)  # type: ignore[union-attr]
        if self.done:
            return
        self.clock.resume(self.loop.time())  # type: ignore[union-attr]
        try:
            self.finish(result, failed)
        except SMTPCoreError:
            log.exception("engine error serving %s", self.session.peer)
            self._abort()
            return
        if not self.write_paused:
            self.transport.resume_reading()
        self._process()
        if not self.done:
            self._arm()
