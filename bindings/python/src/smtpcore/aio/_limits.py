# SPDX-License-Identifier: MIT
"""What one client may hold of a server, for both connection runners of
:func:`smtpcore.aio.serve`: the connection cap, the deadlines of a session (idle, one
command line, one message body) and the slowing down of AUTH guessing.

The engine is sans-I/O and has no clock, so the deadlines live here: the runner tells
the :class:`Clock` of each connection when bytes arrive, when a command was complete and
when message content starts and ends, and asks it when the next deadline falls. When one
passes, the runner has the engine end the session (ServerConnection.shutdown: "421 4.4.2
<hostname> Error: timeout exceeded", Postfix's wording, whichever deadline it was; a
transaction in progress ends with MessageAborted) and drops the connection.
"""
from __future__ import annotations

import collections
import heapq
import time
from typing import Any

__all__ = ["ServerLimits", "Clock", "Deadlines", "BUSY_REPLY", "IDLE", "COMMAND", "CONTENT"]

#: What a connection over ``max_connections`` gets before it is closed (as smtpcore-sink).
BUSY_REPLY = b"421 4.7.0 Too many connections, try later\r\n"

#: Which deadline passed (for the log).
IDLE, COMMAND, CONTENT = "idle", "command", "content"

# Client addresses whose AUTH failures are remembered at most (oldest forgotten first):
# bounds the memory an address-scanning client can make the server spend.
_MAX_ADDRESSES = 10000


class ServerLimits:
    """The limits of one server (one :func:`serve` call) and the state they need."""

    __slots__ = ("timeout", "command_timeout", "content_timeout", "min_content_rate",
                 "max_connections", "auth_failure_delay", "auth_failure_limit",
                 "auth_failure_window", "active", "_failures", "uniform", "deadlines")

    def __init__(self, *, timeout: float | None, command_timeout: float | None,
                 content_timeout: float | None, min_content_rate: int,
                 max_connections: int, auth_failure_delay: float,
                 auth_failure_limit: int, auth_failure_window: float) -> None:
        for name, value in (("timeout", timeout), ("command_timeout", command_timeout),
                            ("content_timeout", content_timeout)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive (or None for no deadline)")
        for name, n in (("min_content_rate", min_content_rate),
                        ("max_connections", max_connections),
                        ("auth_failure_limit", auth_failure_limit)):
            if n < 0:
                raise ValueError(f"{name} must be 0 (off) or more")
        if auth_failure_delay < 0 or auth_failure_window <= 0:
            raise ValueError("auth_failure_delay must be >= 0 and auth_failure_window > 0")
        self.timeout = timeout
        self.command_timeout = timeout if command_timeout is None else command_timeout
        self.content_timeout = timeout if content_timeout is None else content_timeout
        self.min_content_rate = min_content_rate
        # One deadline for all three: a deadline then only ever moves later, so a timer
        # armed for the earliest one is never late (it re-arms for the rest when it
        # fires), and the runner need not look again each time a message starts or ends.
        self.uniform = self.command_timeout == self.content_timeout == timeout
        self.max_connections = max_connections
        self.auth_failure_delay = auth_failure_delay
        self.auth_failure_limit = auth_failure_limit
        self.auth_failure_window = auth_failure_window
        self.active = 0
        self._failures: collections.OrderedDict[Any, collections.deque[float]] = \
            collections.OrderedDict()
        # The connections' deadlines share one timer; they fire at most a sixteenth of
        # the shortest deadline late (and at most a second).
        spans = [t for t in (self.timeout, self.command_timeout, self.content_timeout)
                 if t is not None]
        self.deadlines = Deadlines(min(1.0, max(0.001, min(spans) / 16)) if spans else 1.0)

    # ------------------------------------------------------------ connection cap
    def admit(self) -> bool:
        """Counts a new connection; False when it is one too many (not counted then)."""
        if self.max_connections and self.active >= self.max_connections:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1

    # ------------------------------------------------------------ AUTH guessing
    def _recent(self, address: Any, now: float) -> collections.deque[float] | None:
        times = self._failures.get(address)
        if times is None:
            return None
        horizon = now - self.auth_failure_window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[address]
            return None
        return times

    def auth_blocked(self, address: Any) -> bool:
        """True when ``address`` failed AUTH ``auth_failure_limit`` times within the
        window (its next attempts are refused without asking the handler)."""
        if not self.auth_failure_limit:
            return False
        times = self._recent(address, time.monotonic())
        return times is not None and len(times) >= self.auth_failure_limit

    def auth_failed(self, address: Any) -> None:
        """Remembers one failed AUTH of ``address`` (when the per-address limit is on)."""
        if not self.auth_failure_limit:
            return
        now = time.monotonic()
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = collections.deque(
                maxlen=self.auth_failure_limit)
            while len(self._failures) > _MAX_ADDRESSES:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        times.append(now)

    def sync_auth_failures(self, session: Any, failures: int, seen: int) -> int:
        """Counts for the session's client address the failed AUTHs of the engine's
        count (``ServerConnection.auth_failures``: refusals by the handler and AUTHs the
        engine refused itself, bad base64, ``*``...) not counted yet (``seen`` of them
        were); returns the new count seen. As smtpcore-sink does after each round."""
        if failures > seen:
            host = peer_host(session)
            for _ in range(failures - seen):
                self.auth_failed(host)
        return failures


class _Bucket(set[Any]):
    """The connections filed for one check, and that check's key: every connection in
    it keeps this one int object as its ``due`` instead of an equal one of its own."""

    __slots__ = ("key",)
    key: int


class Deadlines:
    """One timer for the deadlines of every connection of a server.

    A connection's own TimerHandle (with the context it copies) is about 0.3 KiB that an
    idle connection keeps for its whole life (issue 15 row 9). Here a connection waits in
    the bucket of ``grain`` seconds its deadline falls in; one loop timer fires at the end
    of the earliest bucket and calls ``_deadline()`` of each connection in it, which looks
    at its clock again (reads move the idle deadline without touching the timer) and files
    itself again, or expires. A deadline so passes at most ``grain`` late, never early."""

    __slots__ = ("grain", "_buckets", "_keys", "_timer", "_armed", "_fired")

    def __init__(self, grain: float) -> None:
        self.grain = grain
        self._buckets: dict[int, _Bucket] = {}
        self._keys: list[int] = []  # a heap of the buckets' keys (emptied ones stay)
        self._timer: Any = None
        self._armed = -1            # the key the timer is set for (-1: none)
        self._fired = -1            # the last key fired: later filings go after it

    def add(self, conn: Any, when: float, loop: Any) -> int:
        """Files ``conn`` for a check after ``when``; returns its bucket's key (for
        :meth:`when` and :meth:`remove`)."""
        key = max(int(when // self.grain) + 1, self._fired + 1)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
            bucket.key = key
            heapq.heappush(self._keys, key)
        bucket.add(conn)
        if self._armed < 0 or key < self._armed:
            self._arm(key, loop)
        return bucket.key

    def when(self, key: int) -> float:
        """The time the bucket ``key`` is checked."""
        return key * self.grain

    def remove(self, conn: Any, key: int) -> None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.discard(conn)
            if not bucket:
                del self._buckets[key]  # its key leaves the heap when the timer fires

    def replace(self, old: Any, new: Any, key: int) -> None:
        """``new`` takes ``old``'s place in the bucket ``key`` (a connection whose object
        changed, see aio/_greeted.py)."""
        bucket = self._buckets.get(key)
        if bucket is not None and old in bucket:
            bucket.discard(old)
            bucket.add(new)

    def _arm(self, key: int, loop: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = key
        self._timer = loop.call_at(key * self.grain, self._fire, loop)

    def _fire(self, loop: Any) -> None:
        self._timer = None
        self._armed = -1
        keys, buckets = self._keys, self._buckets
        limit = loop.time() + 1e-6  # the loop may run a timer a clock tick early
        while keys and keys[0] * self.grain <= limit:
            key = heapq.heappop(keys)
            self._fired = key
            for conn in buckets.pop(key, ()):
                try:
                    conn._deadline()
                except Exception as exc:  # noqa: BLE001  (as the loop does for a callback)
                    loop.call_exception_handler({
                        "message": "deadline check failed", "exception": exc,
                        "protocol": conn})
        while keys and keys[0] not in buckets:
            heapq.heappop(keys)
        # Checks above may have armed the timer for a bucket they filed into; the
        # earliest bucket is what it must wait for.
        if keys and keys[0] != self._armed:
            self._arm(keys[0], loop)


def peer_host(session: Any) -> Any:
    """The client address AUTH failures are counted for (the IP without the port)."""
    peer = session.peer
    return peer[0] if isinstance(peer, tuple) and peer else peer


class Clock:
    """The deadlines of one connection (times are the event loop's clock)."""

    __slots__ = ("limits", "last_read", "command_start", "content_start", "content_bytes",
                 "paused")

    def __init__(self, limits: ServerLimits, now: float) -> None:
        self.limits = limits
        self.last_read = now
        self.command_start = now
        self.content_start: float | None = None
        self.content_bytes = 0
        self.paused: float | None = None

    def read(self, now: float) -> None:
        self.last_read = now

    def command_done(self, now: float) -> None:
        """A command was complete: the next one's time starts."""
        self.command_start = now

    def in_message(self, inside: bool, now: float) -> None:
        """Follows the engine's ServerConnection.in_message (message content is read:
        after the 354 to the final dot, or the octets of one BDAT chunk): the content
        deadline replaces the command deadline while it is True."""
        if inside:
            if self.content_start is None:
                self.content_start = now
                self.content_bytes = 0
        elif self.content_start is not None:
            self.content_start = None
            self.command_start = now

    def content(self, n: int) -> None:
        self.content_bytes += n

    def pause(self, now: float) -> None:
        """A handler runs: its time is not the client's (see :meth:`resume`)."""
        if self.paused is None:
            self.paused = now

    def resume(self, now: float) -> None:
        """The handler finished: every deadline moves by the time it took."""
        if self.paused is None:
            return
        shift = now - self.paused
        self.paused = None
        self.last_read += shift
        self.command_start += shift
        if self.content_start is not None:
            self.content_start += shift

    def next_deadline(self) -> tuple[float, str] | None:
        """(when, which) of the deadline that passes first, None when none applies (or
        while a handler runs)."""
        lim = self.limits
        if self.paused is not None:
            return None
        best: tuple[float, str] | None = None
        if lim.timeout is not None:
            best = (self.last_read + lim.timeout, IDLE)
        if self.content_start is None:
            if lim.command_timeout is not None:
                t = self.command_start + lim.command_timeout
                if best is None or t < best[0]:
                    best = (t, COMMAND)
        elif lim.content_timeout is not None:
            t = self.content_start + lim.content_timeout
            if lim.min_content_rate:
                t += self.content_bytes / lim.min_content_rate
            if best is None or t < best[0]:
                best = (t, CONTENT)
        return best
