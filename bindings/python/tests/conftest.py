# SPDX-License-Identifier: MIT
"""Shared fixtures: free ports, a throwaway TLS certificate, real-peer tools, and a
helper running the asyncio server for a test."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

REPO = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_tool(name: str, *extra_dirs: str) -> str:
    """A peer that is missing is a failure, not a skip (the interop matrix is the point)."""
    path = shutil.which(name, path=os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", *extra_dirs]))
    if path is None:
        pytest.fail(f"{name} is not installed (scripts/setup.sh installs it)")
    return path


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate for localhost/127.0.0.1, made at test time."""
    openssl = require_tool("openssl")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


@pytest.fixture(scope="session")
def server_tls(tls_cert: tuple[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_cert)
    return ctx


@pytest.fixture(scope="session")
def client_tls(tls_cert: tuple[str, str]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=tls_cert[0])


@contextlib.asynccontextmanager
async def running_server(handler: Any, **kw: Any) -> AsyncIterator[int]:
    """Runs smtpcore.aio.serve on a free port for the body of the block; yields the port."""
    import smtpcore.aio
    server = await smtpcore.aio.serve(handler, "127.0.0.1", 0, **kw)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def run(coro: Any, timeout: float = 60.0) -> Any:
    """asyncio.run with a hard bound, so a hung peer fails the test instead of CI."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def run_process(*argv: str, timeout: float = 60.0, input: bytes | None = None,
                      env: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


class Collector:
    """A handler recording every accepted message (and optionally refusing some)."""

    def __init__(self, refuse_rcpt: tuple[str, ...] = (), credentials: dict[str, str] | None
                 = None) -> None:
        self.messages: list[Any] = []
        self.refuse_rcpt = refuse_rcpt
        self.credentials = credentials or {}
        self.sessions: list[Any] = []
        self.arrived = asyncio.Event() if sys.version_info >= (3, 10) else None

    async def handle_rcpt(self, session: Any, envelope: Any, address: str, params: Any) -> Any:
        if address in self.refuse_rcpt:
            return "550 5.1.1 No such user here"
        return None

    async def handle_auth(self, session: Any, mechanism: Any, username: str,
                          password: str) -> bool:
        return self.credentials.get(username) == password

    async def handle_message(self, session: Any, envelope: Any) -> None:
        self.messages.append(envelope)
        self.sessions.append((session.tls, session.authenticated))
        if self.arrived is not None:
            self.arrived.set()
