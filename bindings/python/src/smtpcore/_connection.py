# SPDX-License-Identifier: MIT
"""The plumbing both connection classes share: the C session's lifetime, input fed
through a :class:`PendingInput` (nothing the peer sent is lost when the engine's bounded
buffer is full), the end of input delivered after it, reading the engine's event struct,
and taking its output. :class:`smtpcore.ServerConnection` and
:class:`smtpcore.ClientConnection` add their role's events, answers and commands; the
role's C entry points are class attributes, so every line here exists once.
"""
from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from ._feed import PendingInput
from ._ffi import ffi, lib
from .enums import ErrorCode
from .errors import SessionClosedError, check

_Self = TypeVar("_Self", bound="_Connection")


class _Connection:
    """One engine session of either role (private base class)."""

    __slots__ = ("_c", "_free", "_evp", "_ev", "_in", "_outp", "_eof", "__weakref__")

    # The role's C functions (smtpcore_server_* or smtpcore_client_*).
    _C_RECEIVE: ClassVar[Any]
    _C_RECEIVE_EOF: ClassVar[Any]
    _C_NEXT_EVENT: ClassVar[Any]
    _C_OUTPUT: ClassVar[Any]
    _C_CONSUME: ClassVar[Any]

    def _start(self, session: Any, free: Any, event_ptr_type: str) -> None:
        """Takes ownership of the new C ``session`` (freed by ``free``);
        ``event_ptr_type`` is the role's ``const smtpcore_*_event **``."""
        # Freed by close() or __del__, not through ffi.gc(): its wrapper is a second
        # cdata object per connection (80 bytes that thousands of idle ones keep).
        self._free = free
        self._c: Any = session
        # One out-pointer per connection: next_event() points it at the event the C
        # session owns (valid until the next next_event call); _ev is what it pointed to
        # after the last call (NULL before the first).
        self._evp: Any = ffi.new(event_ptr_type)
        self._ev: Any = ffi.NULL
        self._in = PendingInput()
        self._outp: Any = None  # see _out
        self._eof = 0  # 0: open, 1: EOF seen but input still queued, 2: EOF delivered

    @property
    def _out(self) -> Any:
        """The out-pointer of the output calls, made at the first: a connection whose
        output goes another way (the server's pump) never needs one."""
        p = self._outp
        if p is None:
            p = self._outp = ffi.new("const char **")
        return p

    # -- lifetime
    def close(self) -> None:
        """Frees the C session now (later calls raise SessionClosedError)."""
        c = self._c
        if c is not None:
            self._c = None
            self._free(c)

    def __del__(self) -> None:
        try:
            c = self._c
        except AttributeError:  # the constructor failed before the session existed
            return
        if c is not None:
            self._c = None
            self._free(c)

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sess(self) -> Any:
        if self._c is None:
            raise SessionClosedError(ErrorCode.CLOSED, "the connection object was closed")
        return self._c

    # -- input
    def _offer(self, ptr: Any, n: int, consumed: Any) -> int:
        rc: int = self._C_RECEIVE(self._c, ptr, n, consumed)
        if rc == lib.SMTPCORE_ERR_CLOSED:
            # The session is over (QUIT or close): what the peer sent after it is void.
            self._in.clear()
            return rc
        return check(rc)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Queues bytes from the peer. Nothing is lost: what the engine's bounded buffer
        cannot take yet is kept and offered again by :meth:`next_event`."""
        self._sess()
        self._in.append(data)
        self._in.feed(self._offer)

    def _receive_into(self, cbuf: Any, view: memoryview, n: int) -> None:
        """receive_data() for bytes already in the host's read buffer ``view`` (``cbuf`` is
        ``ffi.from_buffer`` of it): no copy unless the engine leaves some bytes over."""
        if self._c is None:
            self._sess()
        if self._in._data:
            self._in.append(view[:n])
            self._in.feed(self._offer)
            return
        consumed = self._in._cons  # the property's value without its call, once made
        if consumed is None:
            consumed = self._in._consumed
        consumed[0] = 0
        rc = self._C_RECEIVE(self._c, cbuf, n, consumed)
        if rc:  # _offer's cases, written out: one call less per read
            if rc == lib.SMTPCORE_ERR_CLOSED:
                self._in.clear()
                return
            check(rc)
        k = int(consumed[0])
        if k < n:
            self._in.append(view[k:n])
            self._in.feed(self._offer)

    def receive_eof(self) -> None:
        """The peer closed its side (delivered to the engine after any queued input)."""
        self._sess()
        if self._eof == 0:
            self._eof = 1
        self._deliver_eof()

    def _deliver_eof(self) -> bool:
        if self._eof != 1:
            return False
        if len(self._in):
            self._in.feed(self._offer)
            if len(self._in):
                return False
        self._eof = 2
        check(self._C_RECEIVE_EOF(self._c))
        return True

    @property
    def pending_input(self) -> int:
        """Bytes received but not yet taken by the engine."""
        return len(self._in)

    # -- events
    def _next_raw(self) -> int:
        """Fast path for the batteries: points ``self._ev`` at the session's event (the C
        struct, valid until the next call) and returns its type, 0 when there is nothing to do (input needed,
        output to drain, or an answer awaited). No event object is built; the role's
        ``_event()`` converts the current struct when one is wanted. This is the one
        place that reads an event from the engine."""
        c = self._c
        if c is None:
            self._sess()
        evp = self._evp
        next_event = self._C_NEXT_EVENT
        while True:
            rc = next_event(c, evp)
            if rc:
                check(rc)
            ev = self._ev = evp[0]
            t: int = ev.type
            if t:
                return t
            fed = self._in.feed(self._offer) if self._in._data else 0
            if not fed and not self._deliver_eof():
                return 0

    # -- output
    def _take_output(self) -> bytes:
        """All pending output as one bytes object (one transport write per drain); b""
        once closed."""
        c = self._c
        if c is None:
            return b""
        out = self._out
        output = self._C_OUTPUT
        n = output(c, out)
        if n == 0:
            return b""
        data: bytes = ffi.buffer(out[0], n)[:]
        consume = self._C_CONSUME
        check(consume(c, n))
        n = output(c, out)
        while n:
            data += ffi.buffer(out[0], n)[:]
            check(consume(c, n))
            n = output(c, out)
        return data
