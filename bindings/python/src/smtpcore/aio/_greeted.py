# SPDX-License-Identifier: MIT
"""A plaintext connection between its greeting and its first read (issue 15 row 9).

Most of the connections an SMTP server holds at a time are idle, and a connection that
was greeted and has sent nothing yet needs none of the server's per-connection objects:
no session for the handler, no connection wrapper, no clock, no queues. So
:func:`smtpcore.aio.serve` accepts each connection with a :class:`GreetedProtocol`: it
makes the engine session, has the engine's greeting written (the same pump call as every
read, which also gives the engine's buffers back) and files the connection's first
deadline, keeping only its transport, the session pointer and the deadline's key.

Whatever comes next (the first bytes, the end of input, a deadline, a stalled write)
turns it into a :class:`~._protocol.ServerProtocol` (``transport.set_protocol``), which
takes the session over and handles that event as it would have: the handler sees the
same session from its first hook on. A connection that needs the handler or more state
at the greeting (a ``handle_connect`` hook, a PROXY header first, XCLIENT networks, the
per-address AUTH limit) starts as a ServerProtocol at once.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from .._ffi import ffi, lib
from ..errors import SMTPCoreError
from ._dispatch import P_IN_MESSAGE, P_WANT_CLOSE, PUMP
from ._limits import COMMAND, IDLE
from ._protocol import ServerProtocol

__all__ = ["GreetedProtocol"]

log = logging.getLogger("smtpcore.aio.server")


class GreetedProtocol(asyncio.BufferedProtocol):
    """One accepted plaintext connection until it needs a :class:`ServerProtocol`."""

    # Thousands of idle connections each keep one of these (64 bytes).
    __slots__ = ("runner", "transport", "c", "due")

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.transport: Any = None
        self.c: Any = None           # the engine session, until a ServerProtocol adopts it
        self.due: int | None = None  # the deadline's bucket (limits.deadlines)

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        runner = self.runner
        if not runner.greets_alone or not runner.limits.admit():
            # Over max_connections too: the ServerProtocol answers it (admit() refuses it
            # again there, without counting it).
            self._become().connection_made(transport)
            return
        try:
            self.c = c = runner.new_session()
        except SMTPCoreError:
            log.exception("no session for a connection from %s",
                          transport.get_extra_info("peername"))
            runner.limits.release()
            transport.abort()
            return
        pump = runner.pump_area()
        st = PUMP(c, pump.mask_release, pump.area, ffi.NULL, 0)
        loop = asyncio.get_running_loop()
        now = loop.time()
        if st < 0 or st & (pump.slow | P_WANT_CLOSE | P_IN_MESSAGE | 0xff00):
            # Anything but a greeting to write: the protocol that handles everything.
            self._wake(now)._process(now, 0, st)
            return
        if st >= 0x10000:
            transport.write(pump.out[0:st >> 16])
            if self.c is None:
                return  # the write paused writing: a ServerProtocol took over and filed it
        span = runner.first_span
        if span is not None:
            self.due = runner.limits.deadlines.add(self, now + span, loop)

    def _become(self) -> ServerProtocol:
        """The ServerProtocol that handles the connection from now on (not yet bound)."""
        full = ServerProtocol(self.runner)
        self.transport.set_protocol(full)
        return full

    def _wake(self, since: float | None = None) -> ServerProtocol:
        """Hands the admitted connection and its session to a new ServerProtocol (with
        the deadline it had). The time of the greeting, which the command deadline counts
        from, is the filed check's less the deadline (``since``: known): up to one grain
        of the deadlines' timer later than the greeting, so a deadline is never early."""
        full = self._become()
        c, self.c = self.c, None
        due, self.due = self.due, None
        runner = self.runner
        if since is None:
            since = (asyncio.get_running_loop().time() if due is None
                     else runner.limits.deadlines.when(due) - runner.first_span)
        full.adopt(self.transport, c, since)
        if due is not None:
            runner.limits.deadlines.replace(self, full, due)
            full.due = due
        else:
            full._arm()
        return full

    # Every other event of the connection is the ServerProtocol's.
    def get_buffer(self, sizehint: int) -> memoryview:
        view: memoryview = self.runner.read_buffer()[0]
        return view

    def buffer_updated(self, nbytes: int) -> None:
        if self.c is None:
            return  # closed (connection_lost came first)
        self._wake().buffer_updated(nbytes)

    def eof_received(self) -> bool:
        if self.c is None:
            return False
        return self._wake().eof_received()

    def pause_writing(self) -> None:
        if self.c is not None:
            self._wake().pause_writing()

    def resume_writing(self) -> None:
        pass  # pause_writing() made the ServerProtocol that resumes

    def _deadline(self) -> None:
        """The first deadline passed without a byte from the client (called by
        limits.deadlines): the ServerProtocol ends the session with its 421."""
        self.due = None
        if self.c is None:
            return
        limits = self.runner.limits
        t = limits.timeout
        ct = limits.command_timeout
        # Clock.next_deadline's choice at the greeting: the idle deadline unless the
        # command deadline is shorter.
        which = COMMAND if t is None or (ct is not None and ct < t) else IDLE
        loop = asyncio.get_running_loop()
        self._wake(loop.time() - self.runner.first_span)._expire(which)

    def connection_lost(self, exc: Exception | None) -> None:
        c = self.c
        if c is None:
            return
        runner = self.runner
        if runner.hooks["handle_close"] is not None:
            # handle_close gets the session the handler would have seen.
            self._wake().connection_lost(exc)
            return
        if exc is not None:
            log.debug("connection from %s ended: %r", self.transport.get_extra_info("peername"),
                      exc)
        self.c = None
        if self.due is not None:
            runner.limits.deadlines.remove(self, self.due)
            self.due = None
        runner.limits.release()
        lib.smtpcore_server_del(c)

    def __del__(self) -> None:
        # A connection dropped without connection_lost (its loop closed) still frees
        # its session, as ServerConnection would.
        c = self.c
        if c is not None:
            self.c = None
            lib.smtpcore_server_del(c)
