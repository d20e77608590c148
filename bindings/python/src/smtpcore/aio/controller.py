# SPDX-License-Identifier: MIT
"""Runs :func:`serve` in a background thread, for synchronous code and tests
(the counterpart of aiosmtpd's Controller).

>>> with smtpcore.aio.Controller(handler) as ctl:
...     with smtplib.SMTP(ctl.host, ctl.port) as s:
...         s.sendmail(...)
"""
from __future__ import annotations

import asyncio
import ipaddress
import threading
from typing import Any

from .server import serve

__all__ = ["Controller"]


class Controller:
    """Starts an SMTP server on its own event loop in a daemon thread.

    Arguments are those of :func:`serve`; ``port=0`` picks a free port, available as
    :attr:`port` once :meth:`start` returns.

    aiosmtpd's spelling is understood too, so porting changes only the import:
    ``hostname=`` is the address to bind when ``server_hostname=`` (the name in the
    greeting) is also given or when it is an IP address, and ``auth_require_tls=False``
    is ``allow_plaintext_auth=True``.
    """

    def __init__(self, handler: Any, host: str = "127.0.0.1", port: int = 0,
                 *, ready_timeout: float = 10.0, **serve_kwargs: Any) -> None:
        name = serve_kwargs.get("hostname")
        if "server_hostname" in serve_kwargs or (isinstance(name, str) and _is_ip(name)):
            host = serve_kwargs.pop("hostname", None) or host
            serve_kwargs["hostname"] = serve_kwargs.pop("server_hostname", None)
        if "auth_require_tls" in serve_kwargs:
            serve_kwargs["allow_plaintext_auth"] = not serve_kwargs.pop("auth_require_tls")
        self.handler = handler
        self.host = host
        self.port = port
        self.ready_timeout = ready_timeout
        self._kwargs = serve_kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> Controller:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="smtpcore-controller",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(self.ready_timeout):
            raise TimeoutError("the SMTP server did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            self._server = loop.run_until_complete(
                serve(self.handler, self.host, self.port, **self._kwargs))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001  (re-raised by start())
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stops listening, cancels open sessions and joins the thread."""
        if self._thread is None:
            return
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Controller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
