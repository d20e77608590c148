# SPDX-License-Identifier: MIT
"""Python-side input queue: the engine's buffers are bounded and may take only part of
what the host offers; the rest waits here and is offered again, so no byte is lost."""
from __future__ import annotations

from typing import Any, Callable

from ._ffi import ffi


class PendingInput:
    """Bytes not yet taken by a bounded C buffer, offered again by :meth:`feed`."""

    __slots__ = ("_data", "_off", "_cons")

    def __init__(self) -> None:
        self._data = b""
        self._off = 0
        self._cons: Any = None  # see _consumed

    @property
    def _consumed(self) -> Any:
        """The out-count of the receive calls, made at the first: many connections
        never feed through here (issue 15 row 9: idle connections are many)."""
        p = self._cons
        if p is None:
            p = self._cons = ffi.new("size_t *")
        return p

    def __len__(self) -> int:
        return len(self._data) - self._off

    def append(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._off >= len(self._data):
            self._data = bytes(data)
        else:
            self._data = self._data[self._off:] + bytes(data)
        self._off = 0

    def clear(self) -> None:
        self._data = b""
        self._off = 0

    def feed(self, fn: Callable[[Any, int, Any], int]) -> int:
        """Offers the pending bytes to ``fn(ptr, len, consumed_ptr)`` until it takes nothing
        more, and returns how many it took. ``fn`` raises on engine errors; the bytes it did
        not take stay queued."""
        total = 0
        data = self._data
        consumed = self._consumed if self._off < len(data) else None
        while self._off < len(data):
            with ffi.from_buffer(data) as buf:
                consumed[0] = 0
                fn(buf + self._off, len(data) - self._off, consumed)
                n = int(consumed[0])
            if n == 0:
                break
            self._off += n
            total += n
        if self._off >= len(data):
            self._data = b""
            self._off = 0
        return total
