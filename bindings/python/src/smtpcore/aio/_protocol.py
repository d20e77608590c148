# SPDX-License-Identifier: MIT
"""The plaintext fast path of :func:`smtpcore.aio.serve`: an asyncio BufferedProtocol.

Bytes are read with recv_into into one buffer per connection and handed to the engine
straight from it (no bytes object, no StreamReader, no task switch per read); events are
read from the engine's C struct without building event objects; the output of a whole
batch of events leaves in one transport.write. A handler coroutine is driven inline and
only becomes a task when it really suspends, so hooks that answer at once (and the
default hooks, which are not called at all) cost no event-loop round trip. STARTTLS and
implicit TLS use the stream runner in server.py instead.

An idle connection holds no read buffer (one buffer serves every connection of the
server, see ``SMTPServerProtocolRunner.read_buffer``) and one timer; the deadlines and the
connection cap are in _limits.py.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from .. import _proxy
from .. import server as sev
from .._ffi import ffi, lib
from ..enums import AuthMech, ShutdownReason
from ..errors import SMTPCoreError
from ..server import ServerConnection
from ..values import MailParams, RcptParams, _slice, decode_text
from ._limits import BUSY_REPLY, Clock

__all__ = ["ServerProtocol"]

log = logging.getLogger("smtpcore.aio.server")

_READ_SIZE = 65536
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


class ServerProtocol(asyncio.BufferedProtocol):
    """One plaintext SMTP connection (created by serve() for each accepted socket)."""

    # Slots: thousands of idle connections each keep one of these.
    __slots__ = ("runner", "handler", "hooks", "limits", "transport", "conn", "session",
                 "env", "end_rcpts", "body", "view", "cbuf", "pending", "busy",
                 "write_paused", "eof", "done", "admitted", "clock", "timer", "loop", "lmtp",
                 "auth_seen",
                 "_new_envelope")

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.handler = runner.handler
        self.hooks = runner.hooks
        self.limits = runner.limits
        self.transport: Any = None
        self.conn: ServerConnection | None = None
        self.session: Any = None
        self.env: Any = None
        self.end_rcpts: Any = None  # LMTP: recipients of the message being answered
        self.body = bytearray()
        # The read buffer is the runner's, shared by every connection of the server (see
        # get_buffer): an idle connection holds no buffer at all.
        view, self.cbuf = runner.read_buffer()
        self.view: memoryview = view
        self.pending: list[bytes] = []  # output of this batch, one write at the end
        self.busy = False       # a handler coroutine is running as a task
        self.write_paused = False
        self.eof = False
        self.done = False
        self.admitted = False
        self.auth_seen = 0  # failed AUTHs counted for the address (limits)
        self.clock: Clock | None = None
        self.timer: Any = None
        self.loop: Any = None
        self.lmtp = False

    # ---------------------------------------------------------------- transport events
    def connection_made(self, transport: Any) -> None:
        from .server import Envelope, Session
        self.transport = transport
        self.loop = asyncio.get_running_loop()
        if not self.limits.admit():
            # Over max_connections: answered without an engine session or handler call.
            self.done = True
            log.info("refusing a connection from %s: max_connections (%d) reached",
                     transport.get_extra_info("peername"), self.limits.max_connections)
            transport.write(BUSY_REPLY)
            self._linger()
            return
        self.admitted = True
        self.conn = ServerConnection(**self.runner.config)
        self.lmtp = self.conn.lmtp
        self.session = Session(peer=transport.get_extra_info("peername"))
        if self.runner.xclient_from and _proxy.peer_allowed(self.session.peer,
                                                            self.runner.xclient_from):
            self.conn.set_xclient_allowed(True)
        self.env = Envelope()
        self._new_envelope = Envelope
        self.clock = Clock(self.limits, self.loop.time())
        self._arm()
        self._process()

    def get_buffer(self, sizehint: int) -> memoryview:
        # A memoryview, not the bytearray: Python 3.11's SSL transport reads the rest of
        # a record into buf[offset:], which for a bytearray is a copy (data lost).
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.done:
            return
        self.clock.last_read = self.loop.time()  # type: ignore[union-attr]  # Clock.read
        try:
            self.conn._receive_into(self.cbuf, self.view, nbytes)  # type: ignore[union-attr]
        except SMTPCoreError:
            log.exception("engine refused input from %s", self.session.peer)
            self._abort()
            return
        if not self.busy:
            self._process()

    def eof_received(self) -> bool:
        if self.done:
            return False
        self.eof = True
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
        self.done = True
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
    def _arm(self) -> None:
        """(Re)schedules the timer for the next deadline of the clock."""
        due = self.clock.next_deadline()  # type: ignore[union-attr]
        if due is None:
            return
        if self.timer is not None:
            if self.timer.when() <= due[0]:
                return  # an earlier check is pending; it re-arms for the rest
            self.timer.cancel()
        self.timer = self.loop.call_at(due[0], self._check)

    def _check(self) -> None:
        self.timer = None
        if self.done or self.busy:
            return  # a running handler re-arms when it finishes
        due = self.clock.next_deadline()  # type: ignore[union-attr]
        if due is None:
            return
        if due[0] > self.loop.time():
            self.timer = self.loop.call_at(due[0], self._check)
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
            self.done = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self._linger()

    def _abort(self) -> None:
        if not self.done:
            self.done = True
            self.transport.abort()

    # ---------------------------------------------------------------- handler calls
    def _call(self, coro: Any, kind: type, then: Callable[[bool], None] | None,
              answer: bool = True) -> bool:
        """Runs a handler coroutine inline. Returns True when it finished (answer given,
        ``then`` called); False when it suspended: it goes on as a task, reading pauses,
        and the task resumes the event loop of this connection when it is done."""
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
        self.busy = True
        self.clock.pause(self.loop.time())  # type: ignore[union-attr]
        self._write_pending()
        self.transport.pause_reading()
        self.loop.create_task(self._finish(_Resume(coro, first), kind, then, answer))
        return False

    async def _finish(self, aw: _Resume, kind: type, then: Callable[[bool], None] | None,
                      answer: bool) -> None:
        try:
            result = await aw
            failed = False
        except Exception:  # noqa: BLE001
            log.exception("handler failed on %s", kind.__name__)
            result, failed = None, True
        self.busy = False
        if self.done:
            return
        self.clock.resume(self.loop.time())  # type: ignore[union-attr]
        if answer:
            ok = False
            if failed:
                self._fail()
            else:
                ok = self._answer(kind, result)
            if then is not None:
                then(ok)
        if not self.write_paused:
            self.transport.resume_reading()
        self._process()
        if not self.done:
            self._arm()

    def _write_pending(self) -> None:
        pending = self.pending
        if pending:
            data = b"".join(pending)
            pending.clear()
            if data:
                self.transport.write(data)

    def _fail(self) -> None:
        conn = self.conn
        try:
            conn.reject(451, "4.3.0", "Error processing request")  # type: ignore[union-attr]
        except SMTPCoreError:
            conn.reject(554)  # type: ignore[union-attr]

    def _answer(self, kind: type, result: Any) -> bool:
        from .server import _answer_kind
        conn = self.conn
        try:
            return _answer_kind(conn, kind, result,  # type: ignore[arg-type]
                                self.end_rcpts if kind is sev.MessageEnd else None)
        except (SMTPCoreError, ValueError, TypeError):
            log.exception("invalid handler result %r for %s", result, kind.__name__)
            conn.reject(451, "4.3.0", "Error processing request")  # type: ignore[union-attr]
            return False

    # ---------------------------------------------------------------- the event loop
    def _process(self) -> None:
        try:
            self._events()
        except SMTPCoreError:
            log.exception("engine error serving %s", self.session.peer)
            self._abort()

    def _events(self) -> None:
        conn = self.conn
        assert conn is not None
        ev = conn._ev
        hooks = self.hooks
        session = self.session
        Envelope = self._new_envelope
        pending = self.pending
        clock = self.clock
        assert clock is not None
        now = self.loop.time()
        while not self.done:
            t = conn._next_raw()
            if t == _BODY:
                d = ev.data
                clock.content_bytes += d.len  # Clock.content, inlined (hot)
                if hooks["handle_body"] is not None:
                    if not self._call(self.handler.handle_body(session, self.env,
                                                               ffi.buffer(d.ptr, d.len)[:]),
                                      sev.Body, None, answer=False):
                        return
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
                    return
                continue
            if t == _MAIL:
                address = decode_text(_slice(ev.address))
                mparams = MailParams._from_c(ev.mail)
                self.env = Envelope(mail_from=address, mail_params=mparams)
                self.body.clear()
                hook = hooks["handle_mail"]
                if hook is None:
                    conn.accept()
                    continue

                def started(ok: bool) -> None:
                    if not ok:
                        self.env = Envelope()
                if not self._call(hook(session, self.env, address, mparams), sev.Mail,
                                  started):
                    return
                continue
            if t == _END:
                env = self.env
                env.content = bytes(self.body)
                env.bdat = bool(ev.bdat)
                env.long_lines = bool(ev.long_lines)
                self.body.clear()
                self.env = Envelope()
                if not env.rcpt_tos:
                    # Defence in depth: the engine itself refuses BDAT without an accepted
                    # recipient (RFC 3030); a handler must never see such a message.
                    conn.reject(554, "5.5.1", "No valid recipients")
                    continue
                hook = hooks["handle_message"]
                if hook is None:
                    conn.accept()
                    continue
                self.end_rcpts = env.rcpt_tos if self.lmtp else None
                if not self._call(hook(session, env), sev.MessageEnd, None):
                    return
                continue
            if t == _DATA:
                self.body.clear()
                hook = hooks["handle_data"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session, self.env), sev.Data, None):
                    return
                continue
            if t == 0:
                out = conn._take_output()
                if out:
                    # A reply: the command it answers was complete, the next one's time
                    # starts (the deadline of one command line, see _limits.py).
                    clock.command_start = now  # Clock.command_done, inlined (hot)
                    # Draining may let the engine go on with queued input: keep going and
                    # write everything in one go when it is really idle.
                    pending.append(out)
                    continue
                if pending:
                    self.transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
                    pending.clear()
                if self.limits.auth_failure_limit:
                    self.auth_seen = self.limits.sync_auth_failures(
                        session, conn.auth_failures, self.auth_seen)
                if conn.want_close or (self.eof and not conn.pending_input):
                    self._close()
                    return
                # Message content or command lines next? (The engine knows: after the
                # 354, or inside a BDAT chunk.) It decides which deadline applies.
                inside = lib.smtpcore_server_in_message(conn._c) != 0
                if inside is (clock.content_start is None):
                    clock.in_message(inside, now)
                    self._arm()
                return
            if t == _ABORTED or t == _RSET:
                self.body.clear()
                self.env = Envelope()
                continue
            if t == _HELO:
                name = decode_text(_slice(ev.address))
                esmtp = bool(ev.esmtp)
                session.host_name = name
                session.esmtp = esmtp
                self.env = Envelope()
                hook = hooks["handle_helo"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session, name, esmtp), sev.Helo, None):
                    return
                continue
            if t == _CONNECT:
                hook = hooks["handle_connect"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session), sev.Connect, None):
                    return
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
                    return
                continue
            if t == _VRFY:
                arg = decode_text(_slice(ev.address))
                hook = hooks["handle_vrfy"]
                if hook is None:
                    conn.accept()
                    continue
                if not self._call(hook(session, arg), sev.Vrfy, None):
                    return
                continue
            if t == _STARTTLS:
                # Only reached when the engine was configured for TLS without a context
                # (serve() routes TLS listeners to the stream runner): end the session.
                self.pending.append(conn._take_output())
                self._write_pending()
                self._close()
                return
            if t == _PROXY:
                _proxy.from_header(session, conn.proxy_header)
                continue
            if t == _XCLIENT:
                e = conn._event()
                assert isinstance(e, sev.Xclient)
                _proxy.from_xclient(session, e.attrs or {})
                self.body.clear()
                self.env = Envelope()
                conn.accept()
                continue
            if t == _PROTOCOL_ERROR:
                e = conn._event()
                assert isinstance(e, sev.ProtocolError)
                log.debug("%s: %s (%s)", session.peer, e.violation.name, e.message)
                continue
            if ev.answer_required:
                conn.accept()


def default_hooks(handler: Any, base: type) -> dict[str, Any]:
    """The handler's hook methods, None for those it does not override (the base class
    behaviour, accept with the engine's default reply, is applied without a call)."""
    hooks: dict[str, Any] = {}
    for name in ("handle_connect", "handle_helo", "handle_mail", "handle_rcpt", "handle_data",
                 "handle_body", "handle_message", "handle_vrfy", "handle_close"):
        fn = getattr(handler, name)
        func = getattr(fn, "__func__", fn)
        hooks[name] = None if func is getattr(base, name) else fn
    return hooks
