# SPDX-License-Identifier: MIT
"""The one server dispatcher of :func:`smtpcore.aio.serve`: it reads the engine's events,
keeps the session's envelope and body, calls the handler's hooks and answers with their
results. It does no I/O: :meth:`Dispatcher.run` returns when the connection runner has
to act (write the output it collected, start TLS, or await a hook that suspended), so the
plaintext BufferedProtocol (_protocol.py) and the stream runner for TLS listeners
(server.py) are only their I/O loops around the same code.

Events are read from the engine's C struct without building event objects; hooks the
handler does not override are not called at all (the engine's default reply is given);
a hook coroutine runs inline and is handed to the runner only when it really suspends.
One C call per read (``pysc_server_pump``, a helper compiled into the extension beside
the engine, see smtpcore_build.py) feeds the bytes, answers the events no hook is
waiting for, records the ones whose content the envelope needs (with copies of their
slices) and collects the output; Python then applies the records and handles the one
event the pump stopped at, the same way as ever.
"""
from __future__ import annotations

import asyncio
import logging
import time
import types
from typing import Any, Callable, Generator

from .. import _proxy
from .. import server as sev
from .._ffi import ffi, lib
from ..enums import AuthMech
from ..errors import SMTPCoreError, check
from ..server import ServerConnection
from ..values import (
    _NO_MAIL_PARAMS, _NO_RCPT_PARAMS, MailParams, RcptParams, _slice, decode_text,
)
from ._handler import Session, answer, new_envelope
from ._limits import Clock

__all__ = ["Dispatcher", "PumpArea", "IDLE", "SUSPENDED", "STARTTLS", "P_IN_MESSAGE",
           "P_EVENT", "P_END", "P_END_BDAT", "P_END_LONG", "P_RELEASE", "P_SLOW", "P_ACCEPT", "P_WANT_CLOSE", "PUMP", "READ", "ACCEPTED", "SEV_END"]

log = logging.getLogger("smtpcore.aio.server")

#: What :meth:`Dispatcher.run` returns: nothing to do until more input arrives (write the
#: collected output first); a hook suspended (await :meth:`Dispatcher.wait_hook`, then
#: :meth:`Dispatcher.finish`); the engine's 220 to STARTTLS is collected, start TLS.
IDLE, SUSPENDED, STARTTLS = 0, 1, 2

_BODY = lib.SMTPCORE_SEV_BODY
_RCPT = lib.SMTPCORE_SEV_RCPT
_MAIL = lib.SMTPCORE_SEV_MAIL
_END = lib.SMTPCORE_SEV_MESSAGE_END
_DATA = lib.SMTPCORE_SEV_DATA
_ABORTED = lib.SMTPCORE_SEV_MESSAGE_ABORTED
_RSET = lib.SMTPCORE_SEV_RSET
_HELO = lib.SMTPCORE_SEV_HELO
_CONNECT = lib.SMTPCORE_SEV_CONNECT
_AUTH = lib.SMTPCORE_SEV_AUTH
_VRFY = lib.SMTPCORE_SEV_VRFY
_STARTTLS = lib.SMTPCORE_SEV_STARTTLS
_PROTOCOL_ERROR = lib.SMTPCORE_SEV_PROTOCOL_ERROR
_PROXY = lib.SMTPCORE_SEV_PROXY
_XCLIENT = lib.SMTPCORE_SEV_XCLIENT

#: The server pump: pysc_server_pump(session, mask, area, input, length), see
#: smtpcore_build.py; the area holds the recorded types and the event for the host.
PUMP = lib.pysc_server_pump
#: A read of the plaintext runner: pysc_server_read(session, area, length), the pump with
#: the area's read mask and read buffer (PumpArea.read_buffer).
READ = lib.pysc_server_read
#: pysc_server_accepted(session, area): the pump after the host accepted the event it
#: left (PumpArea.mask_accept, kept in the area).
ACCEPTED = lib.pysc_server_accepted
# What the pump returns (smtpcore_build.py): an event for the host is in the session's
# event struct; the output area is full (call again); the session's state at idle.
_P_EVENT, _P_FULL, P_IN_MESSAGE, P_WANT_CLOSE, _P_LEFT = 1, 2, 4, 8, 16
#: With the event bit: the event is the end of a message (the engine's bdat and
#: long_lines in the next two bits), so the host reads nothing of the event struct.
P_END, P_END_BDAT, P_END_LONG = 32, 64, 128
# The mask's flags sit below bit 30: a mask under 2**30 is one digit of a Python int,
# which cffi converts on its short path (smtpcore_build.py).
#: In the pump's mask: give the engine's buffers back when it is idle between
#: transactions (see _protocol.py; inside one the next command comes soon).
P_RELEASE = 1 << 29
#: In the pump's mask: accept the event the last call left for the host first (its hook
#: accepted): one call for the end of a message and its reply.
P_ACCEPT = 1 << 27
#: A pump result that needs more than applying its records and writing its output.
P_SLOW = _P_EVENT | _P_FULL | _P_LEFT
#: The pump's bit for an event left to the host.
P_EVENT = _P_EVENT
#: The end of a message (DATA's dot or BDAT LAST).
SEV_END = _END
# A record's flags (its fourth info field): ESMTP parameters (MAIL/RCPT), EHLO (HELO).
_P_PARAMS, _P_ESMTP = 1, 2
_ACCEPT = lib.smtpcore_server_accept
# Events the pump may take without the handler: informative, or answered by default.
_ALWAYS_AUTO = ((1 << _RSET) | (1 << _ABORTED) | (1 << lib.SMTPCORE_SEV_NOOP)
                | (1 << lib.SMTPCORE_SEV_QUIT) | (1 << lib.SMTPCORE_SEV_CLOSE)
                | (1 << lib.SMTPCORE_SEV_EXPN) | (1 << lib.SMTPCORE_SEV_HELP))
# An event type the pump may also take when the handler does not override its hook.
_HOOK_AUTO = {"handle_connect": _CONNECT, "handle_helo": _HELO, "handle_mail": _MAIL,
              "handle_rcpt": _RCPT, "handle_data": _DATA, "handle_body": _BODY,
              "handle_vrfy": _VRFY}
# The ones of those that _records() reads; the others are only answered.
# Not DATA: the body it would clear is empty then (MAIL, the end of a message, an
# abort, RSET and XCLIENT/STARTTLS all clear it, and content comes only after DATA or
# BDAT), so its read has nothing to apply (one _records() call less per message).
_KEEP = sum(1 << t for t in (_BODY, _RCPT, _MAIL, _RSET, _ABORTED, _HELO))


#: What an :func:`_inline` driver yields when the coroutine sent to it has returned.
_DONE: Any = object()


@types.coroutine
def _inline(box: list[Any]) -> Generator[Any, Any, None]:
    """Runs the hook coroutines sent to it inside itself, one at a time: ``yield from``
    takes a coroutine's return value (into ``box[0]``) without the StopIteration that
    ``coro.send(None)`` raises into its caller, whose traceback entry costs thousands of
    instructions (its line number is looked up from the start of the calling function).
    Yields _DONE once a coroutine has returned; anything else it yields is that
    coroutine suspending, and the driver then belongs to it (see :class:`_ResumeInline`)."""
    coro = yield _DONE
    while True:
        box[0] = yield from coro
        coro = yield _DONE


class _ResumeInline:
    """Awaitable continuing a hook coroutine that suspended (yielded ``first``) inside an
    :func:`_inline` driver ``drv``: the task that awaits this takes over from there, and
    returns the coroutine's value from ``box``."""

    __slots__ = ("drv", "first", "box")

    def __init__(self, drv: Any, first: Any, box: list[Any]) -> None:
        self.drv = drv
        self.first = first
        self.box = box

    def __await__(self) -> Any:
        drv, value = self.drv, self.first
        self.drv = self.first = None
        while value is not _DONE:
            try:
                sent = yield value
            except GeneratorExit:
                drv.close()
                raise
            except BaseException as exc:  # noqa: BLE001  (cancellation too: pass it in)
                value = drv.throw(exc)
            else:
                value = drv.send(sent)
        return self.box[0]


class PumpArea:
    """The pump's records and output area (one per server: run() empties it before it
    returns, so connections take turns) and the event types it may take itself."""

    __slots__ = ("area", "info", "recs", "arena", "arena_bytes", "out", "mask", "keep",
                 "mask_release", "mask_accept", "slow", "end", "end_envelope", "now", "drv",
                 "box", "rbuf")

    def __init__(self, hooks: dict[str, Any], auth_sync: bool = False) -> None:
        self.area = area = ffi.new("pysc_srv_area *")
        self.info = memoryview(ffi.buffer(self.area.info)).cast("q")
        self.recs = self.area.recs
        self.arena = memoryview(ffi.buffer(self.area.arena))
        # The same bytes as a cffi buffer, whose slices are bytes objects made in one
        # step (a memoryview slice, then bytes(), is two objects and a type call).
        self.arena_bytes = ffi.buffer(self.area.arena)
        self.out = ffi.buffer(self.area.out)
        mask = _ALWAYS_AUTO
        for name, t in _HOOK_AUTO.items():
            if hooks[name] is None:
                mask |= 1 << t
        self.mask = mask
        self.keep = area.keep = mask & _KEEP
        self.mask_release = mask | P_RELEASE
        self.mask_accept = mask | P_RELEASE | P_ACCEPT
        area.rmask = self.mask_release
        area.amask = self.mask_accept
        self.rbuf: Any = None
        # The bits of a pump result that the plaintext runner's fast path leaves to
        # run_from() (which also takes a result of 0): all of them when the AUTH
        # failures must be counted after each read (limits).
        self.slow = -1 if auth_sync else P_SLOW | P_WANT_CLOSE
        # The bits of a result with an event for the host that the fast path compares
        # with P_EVENT | P_END, the end of a message alone, which it answers itself
        # (nothing when AUTH failures are counted: then it never does).
        self.end = P_SLOW | P_WANT_CLOSE | P_END if not auth_sync else 0
        # handle_message of a CallableHandler around a coroutine function: that
        # function, called with the envelope alone (no adapter frame per message).
        self.end_envelope: Callable[[Any], Any] | None = getattr(
            hooks.get("handle_message"), "envelope_only", None)
        self.drv: Any = None
        self.box: list[Any] = [None]
        self.new_driver()
        # The loop's clock: asyncio's own loops' time() is time.monotonic() behind a
        # Python call; another loop's (uvloop's is C) is called as it is.
        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:  # made outside a loop (tests): asyncio's clock
            loop = None
        self.now: Callable[[], float] = (
            time.monotonic if loop is None or type(loop).time is asyncio.BaseEventLoop.time
            else loop.time)


    def read_buffer(self, cbuf: Any) -> None:
        """Makes ``cbuf`` (the plaintext runner's read buffer, one per server) READ's
        input; the runner keeps it alive."""
        if self.rbuf is not cbuf:
            self.rbuf = cbuf
            self.area.rbuf = cbuf

    def new_driver(self) -> None:
        """A fresh :func:`_inline` driver for the connections' hooks: the one they used
        stays with a hook that suspended in it, or ended with a hook that raised."""
        self.box = box = [None]
        self.drv = drv = _inline(box)
        drv.send(None)


class _Resume:
    """Awaitable continuing a coroutine that already yielded ``first`` (its first
    suspension happened inline, outside any task): the task that awaits this takes
    over exactly where the inline run stopped."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Any:
        coro, value = self.coro, self.first
        self.coro = self.first = None
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001  (cancellation too: pass it in)
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


class Dispatcher:
    """The handler side of one connection. The plaintext protocol class derives from it
    (one object per connection: idle connections are many); the stream runner makes one.
    :meth:`start` binds it to the engine session once the connection is admitted."""

    # The protocol subclass adds its own slots; these are the dispatcher's state.
    __slots__ = ("handler", "hooks", "limits", "conn", "session", "env", "end_rcpts", "body",
                 "pending", "clock", "lmtp", "auth_seen", "suspended", "pump", "state")
    #: Flags the runner adds to the pump's mask (P_RELEASE).
    PUMP_FLAGS = 0

    def __init__(self, runner: Any) -> None:
        self.handler = runner.handler
        self.hooks: dict[str, Any] = runner.hooks
        self.limits = runner.limits
        self.conn: ServerConnection | None = None
        self.session: Any = None
        self.env: Any = None
        self.end_rcpts: Any = None  # LMTP: recipients of the message being answered
        self.body = bytearray()
        self.pending: list[bytes] = []  # output collected by run(), for one write
        self.clock: Clock | None = None
        self.lmtp = False
        self.auth_seen = 0  # failed AUTHs counted for the address (limits)
        # (_Resume or _ResumeInline, the event's class, then, answer)
        self.suspended: tuple[Any, type, Callable[[bool], None] | None, bool] | None = None
        self.pump: PumpArea = runner.pump_area()
        self.state = 0  # the pump's P_* bits when run() last returned IDLE

    def start(self, conn: ServerConnection, session: Session, now: float) -> None:
        self.conn = conn
        self.session = session
        self.lmtp = conn.lmtp
        self.env = None
        self.clock = Clock(self.limits, now)

    def new_transaction(self) -> None:
        """Forgets the envelope and body (after STARTTLS, XCLIENT, RSET, an abort). The
        next envelope is made by MAIL: no event that hands one to a hook comes before an
        accepted MAIL, and an idle connection keeps none (issue 15 row 9)."""
        self.body.clear()
        self.env = None

    def take_pending(self) -> bytes:
        """The output collected by :meth:`run`, as one bytes object (b"" when none)."""
        pending = self.pending
        if not pending:
            return b""
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        return data

    # ---------------------------------------------------------------- hook calls
    def _call(self, coro: Any, kind: type, then: Callable[[bool], None] | None,
              answer: bool = True) -> bool:
        """Runs a hook coroutine inline. True when it finished (answer given, ``then``
        called); False when it suspended: :attr:`suspended` holds the rest for the
        runner, which awaits :meth:`wait_hook` and calls :meth:`finish`."""
        try:
            first = coro.send(None)
        except StopIteration as stop:
            if answer:
                ok = self._answer(kind, stop.value)
                if then is not None:
                    then(ok)
            return True
        except Exception:  # noqa: BLE001
            log.exception("handler failed on %s", kind.__name__)
            if answer:
                self._fail()
                if then is not None:
                    then(False)
            return True
        self.suspended = (_Resume(coro, first), kind, then, answer)
        return False

    async def wait_hook(self) -> tuple[Any, bool]:
        """Awaits the suspended hook: (its result, whether it raised)."""
        assert self.suspended is not None
        aw, kind = self.suspended[0], self.suspended[1]
        try:
            return await aw, False
        except Exception:  # noqa: BLE001
            log.exception("handler failed on %s", kind.__name__)
            return None, True

    def finish(self, result: Any, failed: bool) -> None:
        """Answers with the result of the hook that suspended (451 when it raised)."""
        assert self.suspended is not None
        _, kind, then, answer = self.suspended
        self.suspended = None
        if answer:
            ok = False
            if failed:
                self._fail()
            else:
                ok = self._answer(kind, result)
            if then is not None:
                then(ok)

    def _fail(self) -> None:
        conn = self.conn
        assert conn is not None
        try:
            conn.reject(451, "4.3.0", "Error processing request")
        except SMTPCoreError:
            conn.reject(554)

    def _answer(self, kind: type, result: Any) -> bool:
        conn = self.conn
        assert conn is not None
        try:
            if result is None or result is True:  # answer()'s first case, without the call
                c = conn._c
                if c is None:
                    conn.accept()  # raises: the session was closed
                rc = _ACCEPT(c)
                if rc:
                    check(rc)
                return True
            return answer(conn, kind, result, self.end_rcpts if kind is sev.MessageEnd else None)
        except (SMTPCoreError, ValueError, TypeError):
            log.exception("invalid handler result %r for %s", result, kind.__name__)
            conn.reject(451, "4.3.0", "Error processing request")
            return False

    # ---------------------------------------------------------------- the event loop
    def _records(self, n: int) -> None:
        """Applies the ``n`` events the pump took itself (and answered, when they awaited
        an answer) to the envelope and body, as the event loop below would have. Read
        through the pump's info table (type, offset and length of the main slice in the
        arena, flags); the whole event copy only for ESMTP parameters."""
        pump = self.pump
        info = pump.info
        arena = pump.arena_bytes  # the addresses' bytes, decoded at once
        # RCPT and MAIL first: a message's content that arrives in one read reaches
        # _end_inline() instead, so they are the common records.
        j = 0
        end = 4 * n
        while j < end:  # no range object and iterator for the one record of most reads
            t = info[j] & 0xff  # the flags (info[j + 3]) are in the upper bits too
            if t == _RCPT:
                env = self.env
                off = info[j + 1]
                env.rcpt_tos.append(arena[off:off + info[j + 2]].decode("utf-8",
                                                                        "surrogateescape"))
                env.rcpt_params.append(RcptParams._from_c(pump.recs[j >> 2].rcpt)
                                       if info[j + 3] & _P_PARAMS else _NO_RCPT_PARAMS)
            elif t == _MAIL:
                off = info[j + 1]
                self.env = new_envelope(arena[off:off + info[j + 2]].decode(
                                            "utf-8", "surrogateescape"),
                                        MailParams._from_c(pump.recs[j >> 2].mail)
                                        if info[j + 3] & _P_PARAMS else _NO_MAIL_PARAMS)
                self.body.clear()
            elif t == _BODY:
                off = info[j + 1]
                k = info[j + 2]
                self.clock.content_bytes += k  # type: ignore[union-attr]
                # Through the memoryview: a large body is not copied once more.
                self.body += pump.arena[off:off + k]
            elif t == _RSET or t == _ABORTED:
                self.new_transaction()
            elif t == _HELO:
                session = self.session
                off = info[j + 1]
                session.host_name = arena[off:off + info[j + 2]].decode(
                    "utf-8", "surrogateescape")
                session.esmtp = info[j + 3] & _P_ESMTP != 0
                self.env = None
            j += 4

    def _message_end(self, ev: Any) -> bool:
        """The end of a message (``ev``, the engine's event): the envelope gets the
        content, handle_message answers. False when the hook suspended (see _call)."""
        conn = self.conn
        assert conn is not None
        env = self.env
        env.content = bytes(self.body)
        env.bdat = bool(ev.bdat)
        env.long_lines = bool(ev.long_lines)
        self.body.clear()
        self.env = None
        if not env.rcpt_tos:
            # Defence in depth: the engine itself refuses BDAT without an accepted
            # recipient (RFC 3030); a handler must never see such a message.
            conn.reject(554, "5.5.1", "No valid recipients")
            return True
        hook = self.hooks["handle_message"]
        if hook is None:
            conn.accept()
            return True
        self.end_rcpts = env.rcpt_tos if self.lmtp else None
        return self._call(hook(self.session, env), sev.MessageEnd, None)

    def run(self, now: float, inp: Any = None, view: memoryview | None = None,
            n: int = 0) -> int:
        """Handles the engine's events until it needs input (IDLE), a hook suspended
        (SUSPENDED) or STARTTLS was accepted (STARTTLS); the output goes to
        :attr:`pending`. ``now`` is the loop's time (the clock's command deadline).
        ``inp``/``view``/``n``: bytes just read into a buffer (a cffi pointer and a
        memoryview of it) that the engine gets first; what it cannot take is kept."""
        conn = self.conn
        assert conn is not None
        c = conn._c
        if c is None:
            conn._sess()  # raises: the session was closed
        pump = self.pump
        mask = pump.mask | self.PUMP_FLAGS
        st = PUMP(c, mask, pump.area,
                  ffi.NULL if inp is None else inp, n)
        return self.run_from(now, st, view, n)

    def run_from(self, now: float, st: int, view: memoryview | None, n: int) -> int:
        """:meth:`run` after its first pump call, which returned ``st`` (a runner that
        made that call itself for its common case hands the rest over here)."""
        conn = self.conn
        assert conn is not None
        c = conn._c
        hooks = self.hooks
        session = self.session
        pending = self.pending
        clock = self.clock
        assert clock is not None
        pump = self.pump
        area, mask = pump.area, pump.mask | self.PUMP_FLAGS
        first = True
        while True:
            if first:
                first = False
            else:
                st = PUMP(c, mask, area, ffi.NULL, 0)
            if st < 0:
                check(st)
            if st & _P_LEFT:
                assert view is not None
                conn._in.append(view[area.in_used:n])
            n = 0
            if st & 0xff00:
                self._records((st >> 8) & 0xff)
            if st >= 0x10000:
                # A reply: the command it answers was complete, the next one's time
                # starts (the deadline of one command line, see _limits.py).
                clock.command_start = now  # Clock.command_done, inlined (hot)
                pending.append(pump.out[0:st >> 16])
            if not st & _P_EVENT:
                if st & _P_FULL:
                    continue
                # Idle: input the engine could not take before, then the end of input.
                if conn._in._data and conn._in.feed(conn._offer):
                    continue
                if conn._eof == 1 and conn._deliver_eof():
                    continue
                self.state = st
                if self.limits.auth_failure_limit:
                    self.auth_seen = self.limits.sync_auth_failures(
                        session, conn.auth_failures, self.auth_seen)
                return IDLE
            ev = conn._ev = area.ev  # an event for the handler (or one the pump had no room for)
            t = ev.type
            if t == _BODY:
                d = ev.data
                clock.content_bytes += d.len  # Clock.content, inlined (hot)
                if hooks["handle_body"] is not None:
                    if not self._call(self.handler.handle_body(session, self.env,
                                                               ffi.buffer(d.ptr, d.len)[:]),
                                      sev.Body, None, answer=False):
                        return SUSPENDED
                else:
                    self.body += ffi.buffer(d.ptr, d.len)
                continue
            if t == _RCPT:
                address = decode_text(_slice(ev.address))
                params = RcptParams._from_c(ev.rcpt)
                env = self.env
                hook = hooks["handle_rcpt"]
                if hook is None:
                    conn.accept()
                    env.rcpt_tos.append(address)
                    env.rcpt_params.append(params)
                    continue

                def added(ok: bool, env: Any = env, a: str = address, p: Any = params,
                          before: int = len(env.rcpt_tos)) -> None:
                    if ok:
                        if len(env.rcpt_tos) == before:  # the hook did not append it
                            env.rcpt_tos.append(a)
                        if len(env.rcpt_params) < len(env.rcpt_tos):
                            env.rcpt_params.append(p)
                if not self._call(hook(session, env, address, params), sev.Rcpt, added):
                    return SUSPENDED
                continue
            if t == _MAIL:
                address = decode_text(_slice(ev.address))
                mparams = MailParams._from_c(ev.mail)
                self.env = new_envelope(address, mparams)
                self.body.clear()
                hook = hooks["handle_mail"]
                if hook is None:
                    conn.accept()
                    continue

                def started(ok: bool) -> None:
                    if not ok:
                        self.env = None
                if not self._call(hook(session, self.env, address, mparams), sev.Mail,
                                  started):
                    return SUSPENDED
                continue
            if t == _END:
                if not self._message_end(ev):
                    return SUSPENDED
                continue
            if t == _DATA:
                self.body.clear()
                hook = hooks["handle_data"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session, self.env), sev.Data, None):
                    return SUSPENDED
                continue
            if t == _ABORTED or t == _RSET:
                self.new_transaction()
                continue
            if t == _HELO:
                name = decode_text(_slice(ev.address))
                esmtp = bool(ev.esmtp)
                session.host_name = name
                session.esmtp = esmtp
                self.env = None
                hook = hooks["handle_helo"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session, name, esmtp), sev.Helo, None):
                    return SUSPENDED
                continue
            if t == _CONNECT:
                hook = hooks["handle_connect"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session), sev.Connect, None):
                    return SUSPENDED
                continue
            if t == _AUTH:
                user = decode_text(_slice(ev.username))
                mech = AuthMech(ev.auth_mech)
                password = decode_text(_slice(ev.password))

                def authed(ok: bool, user: str = user) -> None:
                    if ok:
                        session.authenticated = user
                hook = hooks["handle_auth"]
                if not self._call(hook(session, mech, user, password), sev.Auth, authed):
                    return SUSPENDED
                continue
            if t == _VRFY:
                arg = decode_text(_slice(ev.address))
                hook = hooks["handle_vrfy"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session, arg), sev.Vrfy, None):
                    return SUSPENDED
                continue
            if t == _STARTTLS:
                pending.append(conn._take_output())  # the 220 goes out before the handshake
                return STARTTLS
            if t == _PROXY:
                _proxy.from_header(session, conn.proxy_header)
                continue
            if t == _XCLIENT:
                e = conn._event()
                assert isinstance(e, sev.Xclient)
                # Allowed by xclient_from; the engine checked the syntax. The session
                # starts over as after a new connection.
                _proxy.from_xclient(session, e.attrs or {})
                self.new_transaction()
                conn.accept()
                continue
            if t == _PROTOCOL_ERROR:
                e = conn._event()
                assert isinstance(e, sev.ProtocolError)
                log.debug("%s: %s (%s)", session.peer, e.violation.name, e.message)
                continue
            if ev.answer_required:
                conn.accept()
