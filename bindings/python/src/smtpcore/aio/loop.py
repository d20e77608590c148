# SPDX-License-Identifier: MIT
"""Choosing the event loop: the standard library's asyncio loop (the default) or uvloop.

uvloop (Debian ``python3-uvloop``, PyPI ``uvloop``) is an optional speed-up, never a
dependency: the servers and clients of :mod:`smtpcore.aio` run on any asyncio loop, and
only :func:`run` and ``python -m smtpcore --loop uvloop`` look for it. On uvloop the
server's Python work per message is the same, but the loop itself (readiness, transports,
callbacks) is C, which ``bench/run`` row 7u measures.
"""
from __future__ import annotations

import asyncio
from typing import Any, Callable, Coroutine, TypeVar

__all__ = ["LOOPS", "loop_factory", "run"]

T = TypeVar("T")

#: The names :func:`run` and :func:`loop_factory` accept.
LOOPS = ("asyncio", "uvloop")


def loop_factory(loop: str = "asyncio") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of the event loop named ``loop`` for :class:`asyncio.Runner`: ``None``
    for ``"asyncio"`` (the standard loop), ``uvloop.new_event_loop`` for ``"uvloop"``.

    Raises :class:`ValueError` for another name and :class:`RuntimeError` when uvloop is
    asked for but not installed."""
    if loop == "asyncio":
        return None
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            raise RuntimeError("loop='uvloop' needs the uvloop package (Debian: "
                               "python3-uvloop; PyPI: uvloop)") from exc
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    raise ValueError(f"unknown event loop {loop!r}: one of {', '.join(LOOPS)}")


def run(main: Coroutine[Any, Any, T], *, loop: str = "asyncio",
        debug: bool | None = None) -> T:
    """Runs the coroutine ``main`` to completion like :func:`asyncio.run`, on the event
    loop named ``loop`` (``"asyncio"`` or ``"uvloop"``, see :func:`loop_factory`), and
    returns its result::

        smtpcore.aio.run(main(), loop="uvloop")
    """
    try:
        factory = loop_factory(loop)
    except (ValueError, RuntimeError):
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(debug=debug, loop_factory=factory) as runner:
        return runner.run(main)
