# SPDX-License-Identifier: MIT
"""Postfix both directions.

- smtp-source (Postfix's load generator) -> smtpcore.aio server;
- smtpcore.aio client -> smtp-sink (Postfix's test server, dumping each message);
- with tests/interop/postfix_instance.sh (a private Postfix on a free port): the
  smtpcore.aio client -> Postfix smtpd -> maildir, and Postfix's smtp client (relaying,
  pipelining) -> smtpcore.aio server.

Byte identity is checked exactly, with each tool's framing accounted for (as observed, and the
same with aiosmtpd): smtp-source sends an empty line before the final dot; smtp-sink and
maildir store lines with LF; Postfix prepends its trace headers.
"""
import asyncio
import email.message
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import smtpcore.aio as aio

from conftest import REPO, Collector, free_port, require_tool, run, run_process, running_server

FILE_MESSAGE = b"From: a@example.com\nSubject: from smtp-source\n\n.dot\n..two\n.\nlast\n"


@pytest.fixture
def shared_tmp():
    """A temp dir other users can traverse (smtp-sink drops to nobody, Postfix daemons
    run as postfix); pytest's tmp_path has 0700 parents."""
    d = tempfile.mkdtemp(prefix="smtpcore-py-")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def wait_listening(port, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listening on {port}")


def make_message(i=0, to="b@example.com, c@example.com"):
    msg = email.message.EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = to
    msg["Subject"] = f"postfix interop {i}"
    msg["Message-ID"] = f"<test{i}.{os.getpid()}@example.com>"
    msg["Date"] = "Wed, 25 Nov 2026 12:00:00 +0000"
    msg.set_content(f"message {i}\n.\n..dots\nend\n")
    return msg


# --------------------------------------------------------------------- smtp-source -> us

def test_smtp_source_to_aio_server(tmp_path):
    exe = require_tool("smtp-source")
    src = tmp_path / "msg.txt"
    src.write_bytes(FILE_MESSAGE)
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            return await run_process(exe, "-m", "20", "-s", "4", "-r", "3", "-d", "-F",
                                     str(src), "-f", "a@example.com", "-t", "b@example.com",
                                     "-M", "client.example.com", f"127.0.0.1:{port}")

    rc, out, err = run(main())
    assert rc == 0, out + err
    assert len(handler.messages) == 20
    expected = FILE_MESSAGE.replace(b"\n", b"\r\n") + b"\r\n"
    for env in handler.messages:
        assert env.content == expected
        assert sorted(env.rcpt_tos) == ["2b@example.com", "3b@example.com", "b@example.com"]


# --------------------------------------------------------------------- us -> smtp-sink

def parse_sink_dump(data: bytes) -> bytes:
    """Strips smtp-sink's X-* records and its Received: header; returns the message."""
    lines = data.split(b"\n")
    i = 0
    while lines[i].startswith((b"X-Client-", b"X-Helo-Args:", b"X-Mail-Args:", b"X-Rcpt-Args:")):
        i += 1
    assert lines[i].startswith(b"Received: from"), lines[i]
    i += 1
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    rest = b"\n".join(lines[i:])
    assert rest.endswith(b"\n\n")  # the dump format's trailing empty line
    return rest[:-1]


def start_smtp_sink(tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    """Postfix's smtp-sink on a free port, dumping each message into tmp/dump."""
    exe = require_tool("smtp-sink")
    dump = tmp / "dump"
    dump.mkdir()
    os.chmod(dump, 0o777)
    port = free_port()
    argv = [exe, "-d", str(dump) + "/%M.", f"127.0.0.1:{port}", "10"]
    if os.geteuid() == 0:
        argv[1:1] = ["-u", "nobody"]
    sink = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sink, port, dump


def read_dumps(dump: Path, count: int) -> list[bytes]:
    """The messages smtp-sink stored (sorted), once count files are there or after 10 s."""
    deadline = time.monotonic() + 10
    while len(list(dump.iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the last file is closed after the final reply
    return sorted(parse_sink_dump(p.read_bytes()) for p in dump.iterdir())


def test_aio_client_to_smtp_sink(shared_tmp):
    sink, port, dump = start_smtp_sink(shared_tmp)
    try:
        wait_listening(port)
        msgs = [make_message(i) for i in range(5)]

        async def main():
            results = []
            async with aio.SMTPClient("127.0.0.1", port, helo_name="client.example.com") as c:
                for m in msgs:
                    results.append(await c.send_message(m))
            return results

        results = run(main())
        assert all(r.accepted == ["b@example.com", "c@example.com"] for r in results)
        stored = read_dumps(dump, 5)
    finally:
        sink.terminate()
        sink.wait(10)
    expected = sorted(aio.client.flatten_message(m).replace(b"\r\n", b"\n") for m in msgs)
    assert stored == expected


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_send_many_to_smtp_sink(shared_tmp, kind):
    """send_many against Postfix's smtp-sink (PIPELINING, no CHUNKING): every MAIL after
    the first travels behind the previous final dot, and each message arrives intact."""
    import smtpcore

    sink, port, dump = start_smtp_sink(shared_tmp)
    msgs = [make_message(i) for i in range(20)]
    try:
        wait_listening(port)
        if kind == "blocking":
            with smtpcore.SMTPClient("127.0.0.1", port, helo_name="client.example.com",
                                     timeout=30) as c:
                results = c.send_many(msgs)
        else:
            async def main():
                async with aio.SMTPClient("127.0.0.1", port,
                                          helo_name="client.example.com") as c:
                    return await c.send_many(msgs)

            results = run(main())
        assert [r.accepted for r in results] == [["b@example.com", "c@example.com"]] * 20
        stored = read_dumps(dump, 20)
    finally:
        sink.terminate()
        sink.wait(10)
    expected = sorted(aio.client.flatten_message(m).replace(b"\r\n", b"\n") for m in msgs)
    assert stored == expected


# --------------------------------------------------------------------- private Postfix

INSTANCE = REPO / "tests" / "interop" / "postfix_instance.sh"


class Instance:
    def __init__(self, root: Path, relay: str | None = None):
        if not INSTANCE.exists():
            pytest.fail(f"{INSTANCE} is missing")
        self.dir = root / "pf"
        argv = ["bash", str(INSTANCE), "start", str(self.dir), ""]
        if relay:
            argv.append(relay)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        self.port = int(r.stdout.split()[-1])

    def wait(self, count: int) -> None:
        r = subprocess.run(["bash", str(INSTANCE), "wait", str(self.dir), str(count), "60"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr

    def stop(self) -> None:
        subprocess.run(["bash", str(INSTANCE), "stop", str(self.dir)], capture_output=True,
                       timeout=120)


def test_aio_client_to_postfix_smtpd(shared_tmp):
    require_tool("postconf")
    pf = Instance(shared_tmp)
    try:
        msgs = [make_message(i) for i in range(3)]

        async def main():
            async with aio.SMTPClient("127.0.0.1", pf.port, helo_name="client.example.com") as c:
                return [await c.send_message(m) for m in msgs]

        results = run(main())
        assert all(r.ok and not r.refused for r in results)
        pf.wait(6)  # 3 messages x 2 recipients
        delivered = [p.read_bytes() for p in (pf.dir / "mail" / "new").iterdir()]
    finally:
        pf.stop()
    for m in msgs:
        body = aio.client.flatten_message(m).replace(b"\r\n", b"\n")
        assert sum(d.endswith(b"\n" + body) for d in delivered) == 2, m["Subject"]


def test_postfix_smtp_client_to_aio_server(shared_tmp):
    require_tool("postconf")
    handler = Collector()
    msgs = [make_message(i, to="x@relay.test, y@relay.test") for i in range(3)]

    async def main():
        async with running_server(handler, hostname="sink.relay.test") as port:
            pf = await asyncio.to_thread(Instance, shared_tmp, f"127.0.0.1:{port}")
            try:
                async with aio.SMTPClient("127.0.0.1", pf.port,
                                          helo_name="client.example.com") as c:
                    for m in msgs:
                        await c.send_message(m)
                for _ in range(600):
                    if sum(len(e.rcpt_tos) for e in handler.messages) >= 6:
                        break
                    await asyncio.sleep(0.1)
            finally:
                await asyncio.to_thread(pf.stop)

    run(main(), timeout=180)
    assert sum(len(e.rcpt_tos) for e in handler.messages) == 6
    for env in handler.messages:
        assert env.content.startswith(b"Received: from ")
        assert any(env.content.endswith(b"\r\n" + aio.client.flatten_message(m))
                   for m in msgs)
