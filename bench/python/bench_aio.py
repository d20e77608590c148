#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Side-by-side throughput of the Python batteries (prints numbers only, asserts nothing).

Server (rows 7a, 7a-uvloop): smtpcore.aio.serve vs aiosmtpd receiving the same load from
Postfix's smtp-source (C), each server in a process of its own, started fresh for each
run; smtpcore.aio also on uvloop's event loop when python3-uvloop is installed. Each line
has the messages/s, the server process's CPU per message from its own accounting, the
generator's CPU per message and how busy each was (bench/measure.py): a generator near
100% of a core is the ceiling, and then CPU per message is the comparison that counts.

Client (row 7b): smtpcore's clients vs smtplib sending the same messages to Postfix's
smtp-sink over one connection; the judged pair is the blocking batch
(smtpcore.SMTPClient.send_many, pre-flattened bytes) against smtplib.sendmail's loop with
the same bytes. The EmailMessage variants add the email package's flattening, which costs
both sides the same.

--rounds R rounds, each running every pair once, A and B interleaved (the order flips
from round to round); every round prints its own lines after "== round K ==", and
bench/report.py takes medians and ranges over them.

--floor adds ``python-floor`` (and ``python-floor-uvloop``) under the same load: a bare
asyncio.BufferedProtocol that answers every command line and each final dot with a canned
reply and parses nothing else, the least CPU per message any Python server on that loop
can use; aiosmtpd's CPU divided by it is the most a Python server can reach there (the
C smtpcore-sink, --sink-bin, is that bound for any server). bench/run passes it, and
bench/report.py shows each floor in its row (python-floor in 7a, python-floor-uvloop in
7u). --servers-only leaves out the clients, --clients-only the servers.

--base-python PATH adds ``smtpcore-base`` (and ``smtpcore-uvloop-base``): the same server
run by another interpreter, a venv with an earlier smtpcore installed, so that a change
is measured before and after in the same interleaved rounds (the smtpcore lines' figures
against the -base lines': the shared machine's load moves both alike).

Usage: .venv/bin/python bench/python/bench_aio.py [--messages N] [--server-messages N]
           [--sessions S] [--rounds R] [--no-uvloop] [--floor] [--base-python PATH]
           [--clients-only | --servers-only]
"""
from __future__ import annotations

import argparse
import asyncio
import email.message
import os
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from measure import cpu_ns  # noqa: E402  (bench/measure.py: the servers' CPU accounting)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"nothing listening on port {port}")


def tool(name: str) -> str:
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin")
    if not path:
        raise SystemExit(f"{name} not found (scripts/setup.sh installs postfix)")
    return path


# ------------------------------------------------------------------ server processes

def run_smtpcore_server(port: int, loop: str = "asyncio") -> None:
    import smtpcore.aio

    count = 0

    async def on_message(envelope):
        nonlocal count
        count += 1

    async def main():
        server = await smtpcore.aio.serve(on_message, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    run_loop = getattr(smtpcore.aio, "run", None)
    if run_loop is not None:
        run_loop(main(), loop=loop)
    elif loop == "uvloop":
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())


class _FloorProtocol(asyncio.BufferedProtocol):
    """python-floor: canned replies, one per command line and per final dot (smtp-source
    -d sends each command alone and the content in reads of its own)."""

    def __init__(self) -> None:
        self.buf = bytearray(65536)
        self.view = memoryview(self.buf)
        self.data = False
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # uvloop's transports are no asyncio.Transport
        transport.write(b"220 floor ESMTP\r\n")

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        assert self.transport is not None
        got = self.buf[:nbytes]
        if self.data:
            if got.endswith(b"\r\n.\r\n") or got == b".\r\n":
                self.data = False
                self.transport.write(b"250 2.0.0 Ok\r\n")
            return
        out = []
        for line in got.split(b"\r\n")[:-1]:
            verb = line[:4].upper()
            if verb == b"DATA":
                self.data = True
                out.append(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                out.append(b"221 2.0.0 Bye\r\n")
            else:
                out.append(b"250 2.0.0 Ok\r\n")
        self.transport.write(b"".join(out))


def run_floor_server(port: int, loop: str = "asyncio") -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_FloorProtocol,
                                                                "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    if loop == "uvloop":
        import uvloop
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())


def run_aiosmtpd_server(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Handler(), hostname="localhost"),
                                          "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


SINK_BIN = ""  # --sink-bin: smtpcore-sink, the C server under the same load (the floor)
LOADGEN_BIN = ""  # --loadgen-bin: bench_loadgen, the pipelined C generator
BASE_PYTHON = ""  # --base-python: the interpreter of the *-base servers


def bench_server(kind: str, messages: int, sessions: int, msgfile: str,
                 pipelined: bool = False) -> str:
    """One measured smtp-source -d run (pipelined: bench_loadgen, LOADGEN_BIN) into a fresh
    server process, after a short warm-up. Returns bench/measure.py's line: msg/s, server
    and generator CPU per message, busy."""
    port = free_port()
    if kind == "smtpcore-sink":  # the C floor: same engine, no Python
        argv = [SINK_BIN, "--listen", f"127.0.0.1:{port}", "--quiet", "--max-conn", "1000"]
    elif kind.endswith("-base"):  # the same server, the earlier package (--base-python)
        argv = [BASE_PYTHON, __file__, "--serve", kind[:-5], "--port", str(port)]
    else:
        argv = [sys.executable, __file__, "--serve", kind, "--port", str(port)]
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)

    def generate(n: int) -> tuple[float, float, float]:
        c0 = cpu_ns([child.pid])
        t0 = time.perf_counter()
        if pipelined:
            argv = [LOADGEN_BIN, f"127.0.0.1:{port}", str(n), str(sessions),
                    str(os.path.getsize(msgfile))]
        else:
            argv = [tool("smtp-source"), "-m", str(n), "-s", str(sessions), "-d", "-F",
                    msgfile, "-f", "a@example.com", "-t", "b@example.com", "-M",
                    "client.example.com", f"127.0.0.1:{port}"]
        gen = subprocess.Popen(argv)
        _, status, usage = os.wait4(gen.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv[0]} failed ({status})")
        return wall, (cpu_ns([child.pid]) - c0) / 1e9, usage.ru_utime + usage.ru_stime

    try:
        wait_listening(port)
        generate(max(messages // 10, 1))
        wall, server, gen = generate(messages)
    finally:
        child.terminate()
        child.wait(10)
    return (f"{messages / wall:.0f} msg/s {server / messages * 1e6:.1f} us server CPU/msg "
            f"{gen / messages * 1e6:.1f} us generator CPU/msg "
            f"{server / wall * 100:.0f}% server busy {gen / wall * 100:.0f}% generator busy")


# ------------------------------------------------------------------ clients

def make_message(i: int) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com, c@example.com"
    msg["Subject"] = f"bench {i}"
    msg.set_content("x" * 60 + "\n" + "Lorem ipsum dolor sit amet.\n" * 40)
    return msg


def timed(fn):
    """(messages/s, own CPU microseconds per message) of a client run."""
    def run(port: int, msgs: list) -> tuple[float, float]:
        c0, t0 = time.process_time(), time.perf_counter()
        fn(port, msgs)
        return (len(msgs) / (time.perf_counter() - t0),
                (time.process_time() - c0) / len(msgs) * 1e6)
    return run


@timed
def bench_smtplib(port: int, msgs: list) -> None:
    with smtplib.SMTP("127.0.0.1", port) as s:
        for m in msgs:
            s.send_message(m)


@timed
def bench_smtpcore_client(port: int, msgs: list) -> None:
    import smtpcore.aio

    async def main():
        async with smtpcore.aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                           starttls=False) as c:
            for m in msgs:
                await c.send_message(m)

    asyncio.run(main())


RCPTS = ["b@example.com", "c@example.com"]


@timed
def bench_smtplib_raw(port: int, raws: list) -> None:
    with smtplib.SMTP("127.0.0.1", port) as s:
        for r in raws:
            s.sendmail("a@example.com", RCPTS, r)


@timed
def bench_smtpcore_aio_many_raw(port: int, raws: list) -> None:
    import smtpcore.aio

    async def main():
        async with smtpcore.aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                           starttls=False) as c:
            results = await c.send_many([("a@example.com", RCPTS, r) for r in raws])
            assert all(r.ok for r in results)

    asyncio.run(main())


@timed
def bench_smtpcore_aio_many(port: int, msgs: list) -> None:
    import smtpcore.aio

    async def main():
        async with smtpcore.aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                           starttls=False) as c:
            results = await c.send_many(msgs)
            assert all(r.ok for r in results)

    asyncio.run(main())


@timed
def bench_smtpcore_sync_many_raw(port: int, raws: list) -> None:
    import smtpcore

    with smtpcore.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                             starttls=False) as c:
        results = c.send_many([("a@example.com", RCPTS, r) for r in raws])
        assert all(r.ok for r in results)


def start_sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    argv = [tool("smtp-sink"), f"127.0.0.1:{port}", "100"]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]
    sink = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return sink, port


def client_line(variant: str, who: str, result: tuple[float, float]) -> None:
    print(f"client {variant:<24} {who:<9} {result[0]:.1f} msg/s {result[1]:.1f} us CPU/msg",
          flush=True)


def have_uvloop() -> bool:
    try:
        import uvloop
        del uvloop  # only whether it imports
    except ImportError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000, help="per client run")
    ap.add_argument("--server-messages", type=int, default=5000, help="per server run")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-uvloop", action="store_true", help="leave out the uvloop server")
    ap.add_argument("--sink-bin", default="", metavar="PATH",
                    help="also load smtpcore-sink (C) the same way: the floor of CPU per "
                         "message that the kernel's share sets for any server")
    ap.add_argument("--loadgen-bin", default="", metavar="PATH",
                    help="also load smtpcore.aio (and on uvloop) and aiosmtpd with bench_loadgen (pipelined, "
                         "one round trip per message) beside smtp-source")
    which = ap.add_mutually_exclusive_group()
    which.add_argument("--clients-only", action="store_true",
                       help="only the client pairs (row 7b and the asyncio lines), no servers")
    which.add_argument("--servers-only", action="store_true",
                       help="only the server pairs (rows 7a, 7u and the floor), no clients")
    ap.add_argument("--floor", action="store_true",
                    help="also load python-floor (canned replies, no SMTP) the same way: "
                         "the least CPU per message of any Python server on the loop")
    ap.add_argument("--base-python", default="", metavar="PATH",
                    help="also run the smtpcore servers with this interpreter (a venv with "
                         "an earlier smtpcore): before/after in the same rounds")
    ap.add_argument("--serve", choices=["smtpcore", "smtpcore-uvloop", "aiosmtpd",
                                        "python-floor", "python-floor-uvloop"])
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.serve == "smtpcore":
        run_smtpcore_server(args.port)
        return
    if args.serve == "smtpcore-uvloop":
        run_smtpcore_server(args.port, "uvloop")
        return
    if args.serve == "aiosmtpd":
        run_aiosmtpd_server(args.port)
        return
    if args.serve in ("python-floor", "python-floor-uvloop"):
        run_floor_server(args.port, "uvloop" if args.serve.endswith("uvloop") else "asyncio")
        return

    servers = [] if args.clients_only else ["smtpcore", "aiosmtpd"]
    if args.sink_bin and not args.clients_only:
        global SINK_BIN
        SINK_BIN = args.sink_bin
        servers.append("smtpcore-sink")
    pipelined = ["smtpcore", "aiosmtpd"] if args.loadgen_bin and not args.clients_only else []
    if args.loadgen_bin:
        global LOADGEN_BIN
        LOADGEN_BIN = args.loadgen_bin
    if not args.no_uvloop and not args.clients_only:
        if have_uvloop():
            servers.append("smtpcore-uvloop")
            if pipelined:  # row 7u is generator-bound on smtp-source too
                pipelined.insert(1, "smtpcore-uvloop")
        else:
            print("server smtpcore-uvloop n/a (python3-uvloop not installed)")
    if args.base_python and not args.clients_only:
        global BASE_PYTHON
        BASE_PYTHON = args.base_python
        servers += [k + "-base" for k in servers if k.startswith("smtpcore") and
                    k != "smtpcore-sink"]
    if args.floor and not args.clients_only:
        servers.append("python-floor")
        if not args.no_uvloop and have_uvloop():
            servers.append("python-floor-uvloop")
    tmp = tempfile.mkdtemp(prefix="smtpcore-bench-")
    try:
        msgfile = os.path.join(tmp, "msg.txt")
        with open(msgfile, "wb") as f:
            f.write(make_message(0).as_bytes())
        msgs = [make_message(i) for i in range(args.messages)]
        from smtpcore.aio.client import flatten_message
        raws = [flatten_message(m) for m in msgs]
        clients = [  # (variant, who, function, input)
            ("batch-blocking-raw", "smtpcore", bench_smtpcore_sync_many_raw, raws),
            ("sendmail-raw", "smtplib", bench_smtplib_raw, raws),
            ("batch-asyncio-raw", "smtpcore", bench_smtpcore_aio_many_raw, raws),
            ("batch-asyncio-message", "smtpcore", bench_smtpcore_aio_many, msgs),
            ("send_message", "smtplib", bench_smtplib, msgs),
            ("loop-asyncio-message", "smtpcore", bench_smtpcore_client, msgs),
        ] if not args.servers_only else []
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; servers: "
              f"{args.server_messages} messages per run from smtp-source -d -s {args.sessions}; "
              f"clients: {args.messages} messages per run into smtp-sink; {args.rounds} rounds",
              flush=True)
        for rnd in range(1, args.rounds + 1):
            print(f"== round {rnd} ==", flush=True)
            flip = rnd % 2 == 0
            for kind in (servers[::-1] if flip else servers):
                line = bench_server(kind, args.server_messages, args.sessions, msgfile)
                print(f"server {kind:<16} {line}", flush=True)
            for kind in (pipelined[::-1] if flip else pipelined):
                line = bench_server(kind, args.server_messages, args.sessions, msgfile, True)
                print(f"pipelined {kind:<13} {line}", flush=True)
            if not clients:
                continue
            sink, port = start_sink()
            try:
                for variant, who, fn, data in (clients[::-1] if flip else clients):
                    client_line(variant, who, fn(port, data))
            finally:
                sink.terminate()
                sink.wait(10)
        print("== end ==")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
