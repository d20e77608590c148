#!/usr/bin/env python3
"""Side-by-side throughput of the Python batteries (prints numbers only, asserts nothing).

Server: smtpcore.aio.serve vs aiosmtpd receiving the same load from Postfix's
smtp-source (C, so the load generator is not the bottleneck), each server in its own
process. Client: smtpcore.aio.SMTPClient vs smtplib sending the same messages over one
connection to the same Postfix smtp-sink.

Usage: .venv/bin/python bench/python/bench_aio.py [--messages N] [--sessions S]
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


def bench_server(kind: str, messages: int, sessions: int, msgfile: str) -> float:
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--port", str(port)],
                             stdout=subprocess.DEVNULL)
    try:
        wait_listening(port)
        t0 = time.perf_counter()
        subprocess.run([tool("smtp-source"), "-m", str(messages), "-s", str(sessions), "-d",
                        "-F", msgfile, "-f", "a@example.com", "-t", "b@example.com",
                        "-M", "client.example.com", f"127.0.0.1:{port}"],
                       check=True, timeout=600)
        elapsed = time.perf_counter() - t0
    finally:
        child.terminate()
        child.wait(10)
    return messages / elapsed


# ------------------------------------------------------------------ clients

def make_message(i: int) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = "b@example.com, c@example.com"
    msg["Subject"] = f"bench {i}"
    msg.set_content("x" * 60 + "\n" + "Lorem ipsum dolor sit amet.\n" * 40)
    return msg


def bench_smtplib(port: int, msgs: list) -> float:
    t0 = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as s:
        for m in msgs:
            s.send_message(m)
    return len(msgs) / (time.perf_counter() - t0)


def bench_smtpcore_client(port: int, msgs: list) -> float:
    import smtpcore.aio

    async def main():
        t0 = time.perf_counter()
        async with smtpcore.aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                           starttls=False) as c:
            for m in msgs:
                await c.send_message(m)
        return len(msgs) / (time.perf_counter() - t0)

    return asyncio.run(main())


def start_sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    argv = [tool("smtp-sink"), f"127.0.0.1:{port}", "100"]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]
    sink = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_listening(port)
    return sink, port


def line(label: str, ours: float, theirs: float, their_name: str) -> None:
    print(f"{label:<34} smtpcore {ours:9.1f} msg/s   {their_name:<9} {theirs:9.1f} msg/s"
          f"   ratio {ours / theirs:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--sessions", type=int, default=8)
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
        print(f"python {sys.version.split()[0]}, {args.messages} messages, "
              f"smtp-source -s {args.sessions} (server), one connection (client)")
        ours = bench_server("smtpcore", args.messages, args.sessions, msgfile)
        theirs = bench_server("aiosmtpd", args.messages, args.sessions, msgfile)
        line("server (receive, smtp-source load)", ours, theirs, "aiosmtpd")

        msgs = [make_message(i) for i in range(args.messages)]
        sink, port = start_sink()
        try:
            ours = bench_smtpcore_client(port, msgs)
            theirs = bench_smtplib(port, msgs)
        finally:
            sink.terminate()
            sink.wait(10)
        line("client (send to smtp-sink)", ours, theirs, "smtplib")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
