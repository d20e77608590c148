# SPDX-License-Identifier: MIT
"""The clients' debug transcript: every chunk sent and received, logged to the
``smtpcore.client`` logger at DEBUG (enable it with ``logging.basicConfig(level=
logging.DEBUG)``), or printed to stderr with ``debuglevel=1`` (smtplib's switch).

AUTH credentials are not shown: the argument of an AUTH command and every line the
client sends while the server is in a 334 exchange are replaced by ``<redacted>`` (they
are base64 of a password or token, which is not protection).
"""
from __future__ import annotations

import logging
import sys

__all__ = ["Transcript", "log"]

log = logging.getLogger("smtpcore.client")


class Transcript:
    """Writes the conversation of one client connection; ``enabled`` is checked by the
    caller before each call, so a disabled transcript costs one attribute test."""

    __slots__ = ("enabled", "debuglevel", "peer", "_in_auth")

    def __init__(self, debuglevel: int, peer: str) -> None:
        self.debuglevel = debuglevel
        self.peer = peer
        self.enabled = debuglevel > 0 or log.isEnabledFor(logging.DEBUG)
        self._in_auth = False

    def _emit(self, direction: str, data: bytes) -> None:
        for line in data.splitlines():
            text = line.decode("utf-8", "backslashreplace")
            msg = f"{self.peer} {direction} {text}"
            if self.debuglevel > 0:
                print(msg, file=sys.stderr)
            log.debug("%s", msg)

    def sent(self, data: bytes) -> None:
        lines = []
        for line in data.split(b"\r\n"):
            upper = line[:5].upper()
            if upper == b"AUTH ":
                parts = line.split(b" ", 2)
                if len(parts) > 2:
                    line = parts[0] + b" " + parts[1] + b" <redacted>"
            elif self._in_auth and line:
                line = b"<redacted>"
            lines.append(line)
        self._emit("C:", b"\r\n".join(lines))

    def received(self, data: bytes) -> None:
        # The client's next line answers a 334 challenge: hide it.
        last = data.rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
        self._in_auth = last[:4] == b"334 "
        self._emit("S:", data)
