#!/usr/bin/env python3
"""Side-by-side throughput of the Python batteries (prints numbers only, asserts nothing).

Server: smtpcore.aio.serve vs aiosmtpd receiving the same load from Postfix's
smtp-source (C, so the load generator is not the bottleneck), each server in its own
process. Client: smtpcore.aio.SMTPClient vs smtplib sending the same messages to the same
Postfix smtp-sink, over one connection, then over 8 (asyncio tasks vs 8 threads).

Added lines (after the original three, which keep their format): the servers under two
smtp-source processes at once and how busy each server process was (a server that is
not near 100% of one core is not the bottleneck: the generator or the machine is); the
blocking smtpcore.SMTPClient; and both clients sending pre-flattened bytes
(smtplib.sendmail vs SMTPClient.send), which leaves out the email-package flattening
that costs both sides the same few hundred microseconds per EmailMessage.

Each side runs --rounds times, interleaved with the other, and the best round is shown
(the machine's other load only ever slows a round down). CPU time per message (the
server process's, or the client's own) is printed too: it is less sensitive to that load.

Usage: .venv/bin/python bench/python/bench_aio.py [--messages N] [--sessions S] [--rounds R]
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

def run_smtpcore_server(port: int) -> None:
    import smtpcore.aio

    count = 0

    async def on_message(envelope):
        nonlocal count
        count += 1

    async def main():
        server = await smtpcore.aio.serve(on_message, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

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


def bench_server(kind: str, messages: int, sessions: int, msgfile: str) -> tuple[float, float]:
    """Returns (messages/s, server CPU microseconds per message)."""
    rate, cpu, _ = bench_server_n(kind, messages, sessions, msgfile, 1)
    return rate, cpu


def bench_server_n(kind: str, messages: int, sessions: int, msgfile: str,
                   generators: int) -> tuple[float, float, float]:
    """``generators`` smtp-source processes at once, ``messages`` in all. Returns
    (messages/s, server CPU microseconds per message, server CPU busy fraction)."""
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)],
                             stdout=subprocess.DEVNULL)
    cpu0 = None
    try:
        wait_listening(port)
        cpu0 = proc_cpu(child.pid)
        t0 = time.perf_counter()
        per = messages // generators
        gens = [subprocess.Popen([tool("smtp-source"), "-m", str(per), "-s", str(sessions),
                                  "-d", "-F", msgfile, "-f", "a@example.com", "-t",
                                  "b@example.com", "-M", "client.example.com",
                                  f"127.0.0.1:{port}"]) for _ in range(generators)]
        for g in gens:
            if g.wait(600) != 0:
                raise SystemExit(f"smtp-source failed ({g.returncode})")
        elapsed = time.perf_counter() - t0
        cpu = proc_cpu(child.pid) - cpu0
    finally:
        child.terminate()
        child.wait(10)
    sent = per * generators
    return sent / elapsed, cpu / sent * 1e6, cpu / elapsed


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


@timed
def bench_smtplib_threads(port: int, msgs: list, conns: int = 8) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def worker(part: list) -> None:
        with smtplib.SMTP("127.0.0.1", port) as s:
            for m in part:
                s.send_message(m)

    with ThreadPoolExecutor(conns) as pool:
        list(pool.map(worker, [msgs[i::conns] for i in range(conns)]))


@timed
def bench_smtpcore_concurrent(port: int, msgs: list, conns: int = 8) -> None:
    import smtpcore.aio

    async def worker(part: list) -> None:
        async with smtpcore.aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                           starttls=False) as c:
            for m in part:
                await c.send_message(m)

    async def main():
        await asyncio.gather(*(worker(msgs[i::conns]) for i in range(conns)))

    asyncio.run(main())


@timed
def bench_smtpcore_sync(port: int, msgs: list) -> None:
    import smtpcore

    with smtpcore.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                             starttls=False) as c:
        for m in msgs:
            c.send_message(m)


RCPTS = ["b@example.com", "c@example.com"]


@timed
def bench_smtplib_raw(port: int, raws: list) -> None:
    with smtplib.SMTP("127.0.0.1", port) as s:
        for r in raws:
            s.sendmail("a@example.com", RCPTS, r)


@timed
def bench_smtpcore_sync_raw(port: int, raws: list) -> None:
    import smtpcore

    with smtpcore.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                             starttls=False) as c:
        for r in raws:
            c.send("a@example.com", RCPTS, r)


@timed
def bench_smtpcore_aio_raw(port: int, raws: list) -> None:
    import smtpcore.aio

    async def main():
        async with smtpcore.aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                           starttls=False) as c:
            for r in raws:
                await c.send("a@example.com", RCPTS, r)

    asyncio.run(main())


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


def line(label: str, ours: tuple[float, float], theirs: tuple[float, float],
         their_name: str) -> None:
    print(f"{label:<34} smtpcore {ours[0]:7.1f} msg/s {ours[1]:6.0f} us CPU/msg | "
          f"{their_name:<8} {theirs[0]:7.1f} msg/s {theirs[1]:6.0f} us CPU/msg | "
          f"ratio {ours[0] / theirs[0]:4.2f}x msg/s, {theirs[1] / ours[1]:4.2f}x CPU")


def best(a: tuple[float, float] | None, b: tuple[float, float]) -> tuple[float, float]:
    """Highest rate and lowest CPU seen over the rounds."""
    return b if a is None else (max(a[0], b[0]), min(a[1], b[1]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--serve", choices=["smtpcore", "aiosmtpd"])
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.serve:
        {"smtpcore": run_smtpcore_server, "aiosmtpd": run_aiosmtpd_server}[args.serve](args.port)
        return

    tmp = tempfile.mkdtemp(prefix="smtpcore-bench-")
    try:
        msgfile = os.path.join(tmp, "msg.txt")
        with open(msgfile, "wb") as f:
            f.write(make_message(0).as_bytes())
        print(f"python {sys.version.split()[0]}, {args.messages} messages per round, best of "
              f"{args.rounds}; smtp-source -s {args.sessions} for the servers")
        ours = theirs = None
        for _ in range(args.rounds):
            ours = best(ours, bench_server("smtpcore", args.messages, args.sessions, msgfile))
            theirs = best(theirs, bench_server("aiosmtpd", args.messages, args.sessions, msgfile))
        line("server (receive, smtp-source load)", ours, theirs, "aiosmtpd")
        ours2 = theirs2 = None
        busy: dict[str, float] = {}
        for _ in range(args.rounds):
            for kind in ("smtpcore", "aiosmtpd"):
                rate, cpu, util = bench_server_n(kind, args.messages, args.sessions, msgfile, 2)
                if kind == "smtpcore":
                    ours2 = best(ours2, (rate, cpu))
                else:
                    theirs2 = best(theirs2, (rate, cpu))
                busy[kind] = max(busy.get(kind, 0.0), util)
        line("server, 2 smtp-source processes", ours2, theirs2, "aiosmtpd")
        ceiling = 0.0
        sink, port = start_sink()
        try:
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                subprocess.run([tool("smtp-source"), "-m", str(args.messages), "-s",
                                str(args.sessions), "-d", "-F", msgfile, "-f", "a@example.com",
                                "-t", "b@example.com", "-M", "client.example.com",
                                f"127.0.0.1:{port}"], check=True, timeout=600)
                ceiling = max(ceiling, args.messages / (time.perf_counter() - t0))
        finally:
            sink.terminate()
            sink.wait(10)
        print(f"{'generator ceiling':<34} smtp-source into Postfix smtp-sink {ceiling:7.1f} msg/s "
              f"(a server near this rate is generator-bound)")
        print(f"{'server CPU busy (2 generators)':<34} smtpcore {busy['smtpcore'] * 100:5.0f}% "
              f"of a core | aiosmtpd {busy['aiosmtpd'] * 100:5.0f}% of a core "
              f"({os.cpu_count()} CPUs; below ~90% the server is not the bottleneck, "
              f"compare CPU/msg)")

        msgs = [make_message(i) for i in range(args.messages)]
        sink, port = start_sink()
        try:
            ours = theirs = ours8 = theirs8 = None
            for _ in range(args.rounds):
                ours = best(ours, bench_smtpcore_client(port, msgs))
                theirs = best(theirs, bench_smtplib(port, msgs))
                ours8 = best(ours8, bench_smtpcore_concurrent(port, msgs))
                theirs8 = best(theirs8, bench_smtplib_threads(port, msgs))
        finally:
            sink.terminate()
            sink.wait(10)
        line("client, 1 connection (smtp-sink)", ours, theirs, "smtplib")
        line("client, 8 connections (smtp-sink)", ours8, theirs8, "smtplib")
        from smtpcore.aio.client import flatten_message
        raws = [flatten_message(m) for m in msgs]
        sink, port = start_sink()
        try:
            sync = lib = sync_raw = lib_raw = aio_raw = None
            for _ in range(args.rounds):
                sync = best(sync, bench_smtpcore_sync(port, msgs))
                lib = best(lib, bench_smtplib(port, msgs))
                sync_raw = best(sync_raw, bench_smtpcore_sync_raw(port, raws))
                lib_raw = best(lib_raw, bench_smtplib_raw(port, raws))
                aio_raw = best(aio_raw, bench_smtpcore_aio_raw(port, raws))
        finally:
            sink.terminate()
            sink.wait(10)
        line("client blocking, EmailMessage", sync, lib, "smtplib")
        line("client blocking, raw bytes", sync_raw, lib_raw, "smtplib")
        line("client asyncio, raw bytes", aio_raw, lib_raw, "smtplib")
        # send_many: the next MAIL goes out behind the previous "." (RFC 2920 3.1), one
        # round trip per message. smtplib has no batch API: its loop is the comparison.
        sink, port = start_sink()
        try:
            many_raw = many_sync = many_msg = lib_raw = lib = None
            for _ in range(args.rounds):
                many_raw = best(many_raw, bench_smtpcore_aio_many_raw(port, raws))
                lib_raw = best(lib_raw, bench_smtplib_raw(port, raws))
                many_sync = best(many_sync, bench_smtpcore_sync_many_raw(port, raws))
                many_msg = best(many_msg, bench_smtpcore_aio_many(port, msgs))
                lib = best(lib, bench_smtplib(port, msgs))
        finally:
            sink.terminate()
            sink.wait(10)
        line("client batch, raw bytes", many_raw, lib_raw, "smtplib")
        line("client batch blocking, raw bytes", many_sync, lib_raw, "smtplib")
        line("client batch, EmailMessage", many_msg, lib, "smtplib")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
