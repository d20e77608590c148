# SPDX-License-Identifier: MIT
"""Shared bits of the asyncio layer."""
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

__all__ = ["Response", "CloseReply", "parse_response"]


@dataclass(frozen=True, slots=True)
class Response:
    """A reply a handler returns to answer a server event, e.g.
    ``Response(550, "No such user", "5.1.1")``. A 2xx/3xx code accepts, 4xx/5xx refuses."""

    code: int
    text: str | None = None
    enhanced: str | None = None

    def __str__(self) -> str:
        return " ".join(str(p) for p in (self.code, self.enhanced, self.text) if p)


class CloseReply(Response):
    """A handler result that ends the session with this reply (the engine's close_with:
    the answer to the pending event, then the connection closes)."""


_RESPONSE_RE = re.compile(r"^([2-5]\d\d)(?:[ -](\d\.\d{1,3}\.\d{1,3}))?(?:[ -](.*))?$", re.S)


def parse_response(text: str) -> Response:
    """Parses "550 5.1.1 No such user" (aiosmtpd-style handler results)."""
    m = _RESPONSE_RE.match(text.strip())
    if not m:
        raise ValueError(f"not an SMTP reply: {text!r}")
    return Response(int(m.group(1)), m.group(3) or None, m.group(2))


if hasattr(asyncio, "timeout"):  # Python >= 3.11: no extra task per read
    async def read_some(reader: asyncio.StreamReader, timeout: float | None) -> bytes:
        """One read of up to 64 KiB, bounded by ``timeout`` seconds (None: no bound)."""
        async with asyncio.timeout(timeout):
            return await reader.read(65536)
else:  # pragma: no cover
    async def read_some(reader: asyncio.StreamReader, timeout: float | None) -> bytes:
        return await asyncio.wait_for(reader.read(65536), timeout)


async def write_all(writer: asyncio.StreamWriter, data: bytes, timeout: float | None) -> None:
    """Writes and waits only while the transport is over its high-water mark."""
    writer.write(data)
    transport = writer.transport
    if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
        if hasattr(asyncio, "timeout"):
            async with asyncio.timeout(timeout):
                await writer.drain()
        else:  # pragma: no cover
            await asyncio.wait_for(writer.drain(), timeout)
