# SPDX-License-Identifier: MIT
"""LMTP (RFC 2033) in the high-level layers, over Unix-domain sockets and TCP:

- smtpcore.aio.serve(lmtp=True) answers each recipient after the data from the dict that
  handle_message returns (out of RCPT order, defaults for the ones left out), and a plain
  result answers all alike; the blocking and the asyncio client (lmtp=True) report each
  recipient's reply after the data in ``deliveries``, ``accepted`` and ``refused``;
- a real Dovecot LMTP server (tests/lmtp/dovecot_instance.sh, needs root): both clients
  deliver one message to two users and one unknown user (two 250s, one 550 at RCPT) and
  the two mailbox files hold the body byte-identical after Dovecot's headers;
- Postfix smtp-source -L into smtpcore.aio.serve(lmtp=True) and smtp-sink -L as the
  server of the asyncio client.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest

import smtpcore
import smtpcore.aio as aio
from smtpcore import Failure

from conftest import REPO, free_port, require_tool, run, run_process

BODY = (b"From: a@example.org\r\nTo: x@example.com\r\nSubject: lmtp test\r\n\r\n"
        b"first line\r\n.starts with a dot\r\n..two dots\r\n\r\nlast line\r\n")


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temp dir other users can traverse (Dovecot's lmtp runs as the mail user)."""
    d = tempfile.mkdtemp(prefix="smtpcore-lmtp-")
    os.chmod(d, 0o755)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


class Refusing(aio.Handler):
    """Stores for some recipients, defers or refuses others, after the data."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_message(self, session: aio.Session, envelope: aio.Envelope) -> Any:
        self.messages.append((list(envelope.rcpt_tos), envelope.content))
        # Given out of RCPT order on purpose; "ok@" is left out (default 250).
        return {"full@example.com": "452 4.2.2 Mailbox full",
                "gone@example.com": aio.Response(550, "No such mailbox here", "5.1.1"),
                "yes@example.com": None}


RCPTS = ["ok@example.com", "full@example.com", "yes@example.com", "gone@example.com"]


def _check_result(result: smtpcore.SendResult) -> None:
    assert result.lmtp
    assert result.ok                       # one delivery succeeded
    assert result.accepted == ["ok@example.com", "yes@example.com"]
    assert set(result.refused) == {"full@example.com", "gone@example.com"}
    d = result.deliveries
    assert list(d) == RCPTS                # every recipient accepted at RCPT has a reply
    assert d["ok@example.com"].code == 250 and d["yes@example.com"].code == 250
    assert (d["full@example.com"].code, d["full@example.com"].enhanced) == (452, "4.2.2")
    assert (d["gone@example.com"].code, d["gone@example.com"].enhanced) == (550, "5.1.1")
    assert all(r is not None and r.code == 250 for r in result.recipients.values())


def test_serve_lmtp_unix_both_clients(shared_tmp: Path) -> None:
    path = str(shared_tmp / "lmtp.sock")
    handler = Refusing()

    async def main() -> None:
        server = await aio.serve(handler, "unix:" + path, lmtp=True)
        try:
            async with aio.SMTPClient("unix:" + path, lmtp=True) as c:
                assert smtpcore.Extension.PIPELINING in c.caps
                _check_result(await c.send("s@example.org", RCPTS, BODY))

            def blocking() -> smtpcore.SendResult:
                with smtpcore.SMTPClient("unix:" + path, lmtp=True) as c:
                    return c.send("s@example.org", RCPTS, BODY)
            _check_result(await asyncio.to_thread(blocking))
        finally:
            server.close()
            await server.wait_closed()
    run(main())
    assert [m for m in handler.messages] == [(RCPTS, BODY), (RCPTS, BODY)]


def test_serve_lmtp_plain_answer_and_pipelined_messages() -> None:
    """A plain result answers every recipient alike; several messages pipelined over one
    connection keep their per-recipient replies apart."""
    seen: list[list[str]] = []

    async def on_message(env: aio.Envelope) -> Any:
        seen.append(list(env.rcpt_tos))
        return 451 if "tmp@example.com" in env.rcpt_tos else None

    async def main() -> list[smtpcore.SendResult]:
        server = await aio.serve(on_message, "127.0.0.1", 0, lmtp=True)
        port = server.sockets[0].getsockname()[1]
        try:
            async with aio.SMTPClient("127.0.0.1", port, lmtp=True) as c:
                return await c.send_many([
                    ("s@example.org", ["a@example.com", "b@example.com"], BODY),
                    ("s@example.org", ["tmp@example.com", "c@example.com"], BODY),
                    ("s@example.org", ["d@example.com"], BODY),
                ])
        finally:
            server.close()
            await server.wait_closed()
    r1, r2, r3 = run(main())
    assert r1.ok and r1.accepted == ["a@example.com", "b@example.com"]
    assert not r2.ok and r2.failure == Failure.TRANSIENT and r2.accepted == []
    assert [rep.code for rep in r2.deliveries.values()] == [451, 451]
    assert r3.ok and r3.accepted == ["d@example.com"]
    assert len(seen) == 3


def test_lmtp_all_refused_raises_recipients_refused() -> None:
    async def main() -> None:
        server = await aio.serve(lambda env: {r: 550 for r in env.rcpt_tos}, "127.0.0.1", 0,
                                 lmtp=True)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(smtpcore.SMTPRecipientsRefused) as ei:
                await aio.send_message("127.0.0.1", port, _email(["a@example.com",
                                                                  "b@example.com"]),
                                       lmtp=True)
            assert set(ei.value.recipients) == {"a@example.com", "b@example.com"}
            assert all(code == 550 for code, _ in ei.value.recipients.values())
        finally:
            server.close()
            await server.wait_closed()
    run(main())


def test_smtp_commands_refused_in_lmtp_mode() -> None:
    """An SMTP client (EHLO, then HELO) gets nowhere with an LMTP server."""
    async def main() -> None:
        server = await aio.serve(lambda env: None, "127.0.0.1", 0, lmtp=True)
        port = server.sockets[0].getsockname()[1]
        try:
            with pytest.raises(smtpcore.SMTPClientError):
                await aio.send_message("127.0.0.1", port, _email(["a@example.com"]))
        finally:
            server.close()
            await server.wait_closed()
    run(main())


def _email(rcpts: list[str]) -> Any:
    import email.message
    m = email.message.EmailMessage()
    m["From"], m["To"], m["Subject"] = "s@example.org", ", ".join(rcpts), "lmtp"
    m.set_content("body\n")
    return m


# ------------------------------------------------------------------ real peers

DOVECOT = REPO / "tests" / "lmtp" / "dovecot_instance.sh"


@pytest.fixture
def dovecot(shared_tmp: Path) -> Iterator[dict[str, str]]:
    if os.geteuid() != 0:
        pytest.fail("the Dovecot LMTP test needs root (dovecot -F drops to the mail user)")
    require_tool("dovecot")
    d = shared_tmp / "dovecot"
    out = subprocess.run([str(DOVECOT), "start", str(d)], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    info = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    info["dir"] = str(d)
    try:
        yield info
    finally:
        subprocess.run([str(DOVECOT), "stop", str(d)], timeout=60)


def _mailbox_bodies(d: Path, user: str) -> list[bytes]:
    files = sorted((d / "mail" / user / "new").iterdir())
    bodies = []
    for f in files:
        data = f.read_bytes()
        bodies.append(data[data.index(b"\n\n") + 2:])  # Dovecot stores LF line ends
    return bodies


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_dovecot_both_clients(dovecot: dict[str, str], transport: str) -> None:
    host, port = (("unix:" + dovecot["socket"], 0) if transport == "unix"
                  else ("127.0.0.1", int(dovecot["port"])))
    rcpts = ["alice@example.com", "nobody@example.com", "bob@example.com"]

    def check(result: smtpcore.SendResult) -> None:
        assert result.ok and result.lmtp
        assert result.accepted == ["alice@example.com", "bob@example.com"]
        nobody = result.refused["nobody@example.com"]
        assert nobody is not None and (nobody.code, nobody.enhanced) == (550, "5.1.1")
        assert "nobody@example.com" not in result.deliveries   # refused at RCPT
        assert [r.code for r in result.deliveries.values()] == [250, 250]
        assert all("Saved" in r.text for r in result.deliveries.values())

    async def with_aio() -> smtpcore.SendResult:
        async with aio.SMTPClient(host, port, lmtp=True) as c:
            return await c.send("s@example.org", rcpts, BODY)
    check(run(with_aio()))
    with smtpcore.SMTPClient(host, port, lmtp=True) as c:
        check(c.send("s@example.org", rcpts, BODY))
    want = BODY[BODY.index(b"\r\n\r\n") + 4:].replace(b"\r\n", b"\n")
    d = Path(dovecot["dir"])
    for user in ("alice", "bob"):
        assert _mailbox_bodies(d, user) == [want, want], user
    assert not (d / "mail" / "nobody").exists()


def test_smtp_source_into_serve_lmtp() -> None:
    smtp_source = require_tool("smtp-source")
    got: list[int] = []

    async def main() -> None:
        server = await aio.serve(lambda env: got.append(len(env.rcpt_tos)), "127.0.0.1", 0,
                                 lmtp=True)
        port = server.sockets[0].getsockname()[1]
        try:
            rc, out, err = await run_process(
                smtp_source, "-L", "-m", "50", "-s", "5", "-r", "3", "-f", "s@example.org",
                "-t", "to@example.com", f"127.0.0.1:{port}", timeout=60)
            assert rc == 0, err
        finally:
            server.close()
            await server.wait_closed()
    run(main())
    assert got == [3] * 50


def test_aio_client_into_smtp_sink_lmtp(shared_tmp: Path) -> None:
    smtp_sink = require_tool("smtp-sink")
    port = free_port()
    proc = subprocess.Popen([smtp_sink, "-L", "-u", "nobody", f"127.0.0.1:{port}", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def main() -> smtpcore.SendResult:
            for _ in range(100):
                try:
                    async with aio.SMTPClient("127.0.0.1", port, lmtp=True) as c:
                        return await c.send("s@example.org",
                                            ["a@example.com", "b@example.com"], BODY)
                except (ConnectionError, smtpcore.SMTPClientError):
                    await asyncio.sleep(0.1)
            raise AssertionError("smtp-sink -L did not answer")
        result = run(main())
        assert result.ok and result.accepted == ["a@example.com", "b@example.com"]
        assert [r.code for r in result.deliveries.values()] == [250, 250]
    finally:
        proc.terminate()
        proc.wait(10)
