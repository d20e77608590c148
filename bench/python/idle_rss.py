#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Memory per idle connection: smtpcore.aio.serve vs aiosmtpd (prints numbers, asserts
nothing).

Each server runs in its own process on 127.0.0.1 (a free port). This process opens
--conns connections to it, reads each greeting and then leaves them idle; the server's
resident set (VmRSS from /proc/PID/status) is read before the first connection and once
all are established and quiet, and the difference divided by the number of connections
is the cost of one idle connection. Issue 15 row 9 wants smtpcore at most 0.25x of
aiosmtpd per connection. --rounds repeats each side (alternating) and keeps the smallest
difference, since other load on the machine only ever adds pages.

``--ehlo`` has each client send EHLO and read the whole reply before it goes quiet (not
row 9's state: a connection that has spoken keeps what serving commands needs).

With python3-uvloop installed, a third side runs smtpcore.aio.serve on uvloop
(``smtpcore-uvloop``; --no-uvloop leaves it out).

A last side, ``asyncio-floor``, is the least any asyncio server can hold per connection: a
bare Protocol that writes a greeting and keeps only its transport (no SMTP engine, no
session object, no timer). ``asyncio-floor / aiosmtpd`` is the lowest ratio row 9 can
reach with asyncio at all.

Usage: .venv/bin/python bench/python/idle_rss.py [--conns N] [--rounds R] [--only NAME]
           [--no-uvloop] [--ehlo]
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time

SMTPCORE = """
import asyncio, sys, smtpcore.aio
async def main():
    server = await smtpcore.aio.serve(lambda env: None, "127.0.0.1", 0, timeout=600,
                                      max_connections=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

SMTPCORE_UVLOOP = SMTPCORE.replace("asyncio.run(main())",
                                   "import uvloop\nuvloop.install()\nasyncio.run(main())")

# max_connections=0 (no cap) only exists where the cap does; older trees take the retry.
SMTPCORE_OLD = SMTPCORE.replace(",\n                                      max_connections=0", "")

FLOOR = """
import asyncio
class Bare(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 floor\\r\\n")
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Bare, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""

AIOSMTPD = """
import asyncio, sys
from aiosmtpd.smtp import SMTP
class H:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(H(), hostname="bench"), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def start(code: str) -> tuple[subprocess.Popen[bytes], int]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise RuntimeError("server did not start")
    return proc, int(line)


def ehlo(s: socket.socket) -> None:
    """EHLO, and its reply read to the last line (the floor's bare protocol sends none)."""
    s.sendall(b"EHLO client.example\r\n")
    got = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            return
        got += chunk
        lines = got.split(b"\r\n")
        if any(len(line) > 3 and line[3:4] == b" " for line in lines[:-1]):
            return


def measure(code: str, conns: int, after_ehlo: bool = False) -> tuple[int, int, int]:
    """(RSS before, RSS with all connections idle, connections that got a greeting)."""
    proc, port = start(code)
    socks: list[socket.socket] = []
    try:
        time.sleep(0.5)
        before = rss_kib(proc.pid)
        greeted = 0
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            if s.recv(512).startswith(b"220"):
                greeted += 1
                if after_ehlo:
                    ehlo(s)
        time.sleep(1.0)  # let the server settle (tasks, timers)
        return before, rss_kib(proc.pid), greeted
    finally:
        for s in socks:
            s.close()
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=("smtpcore", "aiosmtpd", "smtpcore-uvloop",
                                        "asyncio-floor"))
    ap.add_argument("--no-uvloop", action="store_true")
    ap.add_argument("--ehlo", action="store_true",
                    help="each client sends EHLO before it goes quiet (not row 9's state)")
    a = ap.parse_args()
    need = a.conns + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    smtpcore_code = SMTPCORE
    try:
        probe = start(SMTPCORE)[0]
        probe.terminate()
        probe.wait(10)
    except (RuntimeError, ValueError):
        smtpcore_code = SMTPCORE_OLD
    sides = {"smtpcore": smtpcore_code, "aiosmtpd": AIOSMTPD}
    if not a.no_uvloop and smtpcore_code is SMTPCORE:
        try:
            import uvloop  # noqa: F401  (only whether it is there)
            sides["smtpcore-uvloop"] = SMTPCORE_UVLOOP
        except ImportError:
            pass
    if not a.ehlo:
        sides["asyncio-floor"] = FLOOR  # it answers no EHLO
    best: dict[str, tuple[int, int, int]] = {}
    for _ in range(a.rounds):
        for name, code in sides.items():
            if a.only and name != a.only:
                continue
            r = measure(code, a.conns, a.ehlo)
            if name not in best or r[1] - r[0] < best[name][1] - best[name][0]:
                best[name] = r
    per: dict[str, float] = {}
    for name, (before, after, greeted) in best.items():
        per[name] = (after - before) / a.conns
        print(f"{name:15s} {a.conns} idle connections ({greeted} greeted): RSS "
              f"{before / 1024:.1f} -> {after / 1024:.1f} MiB, "
              f"{per[name]:.1f} KiB per connection")
    if "smtpcore" in per and per.get("aiosmtpd", 0) > 0:
        print(f"smtpcore / aiosmtpd per connection: {per['smtpcore'] / per['aiosmtpd']:.2f}x "
              f"(issue 15 row 9 target: <= 0.25x)")
        if "smtpcore-uvloop" in per:
            print(f"smtpcore-uvloop / aiosmtpd per connection: "
                  f"{per['smtpcore-uvloop'] / per['aiosmtpd']:.2f}x")
        if "asyncio-floor" in per:
            print(f"asyncio-floor / aiosmtpd per connection: "
                  f"{per['asyncio-floor'] / per['aiosmtpd']:.2f}x (no asyncio server goes lower)")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
