# SPDX-License-Identifier: MIT
"""SMTPClient.send_many (blocking and asyncio): several messages over one connection, the
next MAIL pipelined behind the previous final "." (RFC 2920 3.1), results in order,
failures in the results, and what happens when the conversation ends mid-batch."""
import asyncio
import email.message
import socket
import threading

import pytest

import smtpcore
import smtpcore.aio as aio

from conftest import Collector, run

A, B, C = "a@example.com", "b@example.com", "c@example.com"


def send_many(kind, port, items, **kw):
    """send_many with the blocking or the asyncio client (same arguments)."""
    kw.setdefault("timeout", 30)
    if kind == "blocking":
        with smtpcore.SMTPClient("127.0.0.1", port, helo_name="c.example.com",
                                 **kw) as client:
            return client.send_many(items)

    async def main():
        async with aio.SMTPClient("127.0.0.1", port, helo_name="c.example.com",
                                  starttls=False, **kw) as client:
            return await client.send_many(items)

    return run(main())


class ScriptedServer:
    """A server in a thread that answers each flight of client bytes (read until it ends
    in CRLF) with the next scripted answer and records what arrived in each read. An
    answer of None closes the connection instead."""

    def __init__(self, script):
        self.script = script
        self.reads: list[bytes] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        conn, _ = self.listener.accept()
        conn.settimeout(30)
        with conn:
            conn.sendall(b"220 test ESMTP\r\n")
            for answer in self.script:
                data = b""
                while not data.endswith(b"\r\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.reads.append(data)
                if answer is None:
                    return
                conn.sendall(answer)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join(30)
        self.listener.close()


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_next_mail_travels_behind_the_dot(kind):
    script = [
        b"250-test\r\n250 PIPELINING\r\n",
        b"250 ok\r\n250 ok\r\n354 go\r\n",
        b"250 2.0.0 queued 1\r\n250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n354 go\r\n",
        b"554 5.6.0 content refused\r\n250 ok\r\n250 ok\r\n354 go\r\n",
        b"250 2.0.0 queued 3\r\n",
        b"221 bye\r\n",
    ]
    items = [(A, [B], b"one\n"), (A, [B, C], b"two\n"), (A, [C], b"three\n")]
    with ScriptedServer(script) as srv:
        results = send_many(kind, srv.port, items)
    # One flight per message: its body and "." with the next message's envelope.
    assert srv.reads[1] == b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    assert srv.reads[2] == (b"one\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                            b"RCPT TO:<c@example.com>\r\nDATA\r\n")
    assert srv.reads[3] == (b"two\r\n.\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<c@example.com>\r\n"
                            b"DATA\r\n")
    assert srv.reads[4] == b"three\r\n.\r\n"
    first, second, third = results
    assert first.ok and first.reply.text.endswith("queued 1") and first.accepted == [B]
    # The second message's final verdict is its own; its refused recipient too.
    assert second.failure == smtpcore.Failure.PERMANENT and second.reply.code == 554
    assert second.accepted == [B] and second.refused[C].code == 550
    assert third.ok and third.reply.text.endswith("queued 3") and third.mail_reply.code == 250


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_connection_lost_mid_batch(kind):
    script = [
        b"250-test\r\n250 PIPELINING\r\n",
        b"250 ok\r\n250 ok\r\n354 go\r\n",
        None,  # the body, its "." and the next envelope arrive; the server hangs up
    ]
    items = [(A, [B], b"one\n"), (A, [B], b"two\n"), (A, [B], b"three\n")]
    with ScriptedServer(script) as srv:
        results = send_many(kind, srv.port, items)
    assert srv.reads[2].startswith(b"one\r\n.\r\nMAIL FROM:")
    # The first message's fate is unknown (no reply to its "."), the second was under
    # way, the third never started: all fail, none silently.
    assert results[0].failure == results[1].failure == smtpcore.Failure.TRANSIENT
    assert results[2].failure != smtpcore.Failure.SUCCESS
    assert results[2].message.startswith("not sent")
    assert all(r.message for r in results)


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_send_many_through_the_smtpcore_server(kind):
    """EmailMessage and tuple items mixed, a refused recipient, a message nobody gets,
    a locally invalid address: every item has its result, in order, and the server got
    exactly the deliverable messages."""
    collector = Collector(refuse_rcpt=("nobody@example.com",))
    msg = email.message.EmailMessage()
    msg["From"] = A
    msg["To"] = "b@example.com, nobody@example.com"
    msg["Subject"] = "batch"
    msg.set_content("hello\n.\n")
    items = [msg, (A, ["nobody@example.com"], b"lost\n"), (A, ["bad address"], b"x\n")]
    items += [(A, [C], b"n%d\n" % i) for i in range(20)]
    with aio.Controller(collector) as ctl:
        results = send_many(kind, ctl.port, items)
    assert len(results) == len(items)
    assert results[0].ok and results[0].accepted == [B]
    assert results[0].refused["nobody@example.com"].code == 550
    assert results[1].failure == smtpcore.Failure.PERMANENT and results[1].accepted == []
    assert results[2].failure == smtpcore.Failure.LOCAL and results[2].message
    assert all(r.ok for r in results[3:])
    assert [m.content for m in collector.messages[1:]] == [b"n%d\r\n" % i for i in range(20)]
    assert collector.messages[0].rcpt_tos == [B]


def test_send_many_without_pipelining_still_sends_everything():
    """Without PIPELINING every command waits for its reply (no overtaking), and the
    results are the same."""
    script = [b"250 test\r\n"]
    for _ in range(2):
        script += [b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n", b"250 queued\r\n"]
    script.append(b"221 bye\r\n")
    with ScriptedServer(script) as srv:
        results = send_many("blocking", srv.port, [(A, [B], b"one\n"), (A, [B], b"two\n")])
    assert [r.ok for r in results] == [True, True]
    assert srv.reads[1:5] == [b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.com>\r\n",
                              b"DATA\r\n", b"one\r\n.\r\n"]


def test_send_many_empty_and_invalid_items():
    assert asyncio.run(aio.SMTPClient("127.0.0.1", 1).send_many([])) == []
    with pytest.raises(ValueError):
        smtpcore.SMTPClient("127.0.0.1", 1).send_many([(A, [], b"x")])


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_every_reply_is_its_own_past_the_reply_cache(kind):
    """The batch keeps one Reply per distinct reply line in a small cache (16 slots):
    with more distinct replies than slots, multi-line replies (never cached) between
    them and a refusal, each result still has exactly the replies the server sent it."""
    n = 40
    script = [b"250-test\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n",
              b"250 2.1.0 sender 0\r\n250 2.1.5 rcpt 0\r\n354 go\r\n"]
    for i in range(n):
        final = (b"250-2.0.0 queued\r\n250 2.0.0 as %d\r\n" % i if i % 7 == 3
                 else b"250 2.0.0 queued as %d\r\n" % i)
        if i == 11:
            final = b"550 5.7.1 refused %d\r\n" % i
        if i + 1 < n:
            # Replies that repeat (sender) and replies that do not (rcpt).
            final += b"250 2.1.0 sender %d\r\n250 2.1.5 rcpt %d\r\n354 go\r\n" % (
                (i + 1) % 3, i + 1)
        script.append(final)
    script.append(b"221 bye\r\n")
    items = [(A, [B], b"m%d\n" % i) for i in range(n)]
    with ScriptedServer(script) as srv:
        results = send_many(kind, srv.port, items)
    for i, r in enumerate(results):
        assert r.mail_reply.text == "2.1.0 sender %d" % (i % 3)
        assert r.mail_reply.enhanced == "2.1.0"
        assert r.recipients[B].text == "2.1.5 rcpt %d" % i
        if i == 11:
            assert r.failure == smtpcore.Failure.PERMANENT and r.reply.code == 550
            assert r.reply.text == "5.7.1 refused 11"
        elif i % 7 == 3:
            assert r.ok and r.reply.lines == ("2.0.0 queued", "2.0.0 as %d" % i)
        else:
            assert r.ok and r.reply.text == "2.0.0 queued as %d" % i
            assert r.reply.raw == b"250 2.0.0 queued as %d\r\n" % i


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_send_many_large_bodies_and_local_refusals(kind):
    """Bodies larger than the engine's output buffer (what it cannot take at once is
    queued and fed as the output drains), a sender and a recipient the engine refuses
    locally between them, and the same recipient list repeated: every message arrives
    whole, the refused ones fail locally, the rest are untouched."""
    collector = Collector()
    big = b"".join(b"line %06d " % i + b"y" * 70 + b"\n" for i in range(4000))
    rcpts = [B, C]
    # A refusal right behind a big body (queued there) and right behind a small one (the
    # pump queues the next message itself), for the sender and for a recipient.
    items = [(A, rcpts, big), ("bad sender", rcpts, b"x\n"), (A, rcpts, b"small\n"),
             (A, [B, "bad address"], b"x\n"), (A, rcpts, big + b"end\n"), (A, rcpts, b"last\n"),
             ("bad sender", rcpts, b"x\n"), (A, rcpts, b"after\n")]
    with aio.Controller(collector) as ctl:
        results = send_many(kind, ctl.port, items)
    assert [r.ok for r in results] == [True, False, True, False, True, True, False, True]
    assert results[1].failure == results[3].failure == smtpcore.Failure.LOCAL
    assert results[6].failure == smtpcore.Failure.LOCAL
    assert results[1].message and results[3].message and results[6].message
    assert [m.content for m in collector.messages] == [
        big.replace(b"\n", b"\r\n"), b"small\r\n", (big + b"end\n").replace(b"\n", b"\r\n"),
        b"last\r\n", b"after\r\n"]
    assert all(m.rcpt_tos == rcpts for m in collector.messages)


class SlowServer(ScriptedServer):
    """A ScriptedServer whose answers are (delay in seconds, bytes): it waits before
    answering; an answer of (delay, b"") answers nothing and reads on. After the last
    answer it keeps the connection open, silent, until the client closes it."""

    def _serve(self):
        import time
        conn, _ = self.listener.accept()
        conn.settimeout(30)
        with conn:
            conn.sendall(b"220 test ESMTP\r\n")
            for delay, answer in self.script:
                data = b""
                while not data.endswith(b"\r\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                self.reads.append(data)
                time.sleep(delay)
                conn.sendall(answer)
            while conn.recv(65536):  # silent until the client hangs up
                pass


@pytest.mark.parametrize("kind", ["blocking", "asyncio"])
def test_send_many_timeout_is_per_wait(kind):
    """``timeout`` bounds each wait for the server, not the batch: waits of 0.3 s each
    (1.2 s in all) pass with timeout=0.6, and a server that stops answering mid-batch
    ends it with SMTPTimeoutError."""
    pipelining = b"250-test\r\n250 PIPELINING\r\n"
    envelope = b"250 ok\r\n250 ok\r\n354 go\r\n"
    script = [(0.3, pipelining), (0.3, envelope), (0.3, b"250 queued\r\n" + envelope),
              (0.3, b"250 queued\r\n"), (0, b"221 bye\r\n")]
    items = [(A, [B], b"one\n"), (A, [B], b"two\n")]
    with SlowServer(script) as srv:
        results = send_many(kind, srv.port, items, timeout=0.6)
    assert [r.ok for r in results] == [True, True]
    script = [(0, pipelining), (0, envelope), (0, b"")]  # then silence
    with SlowServer(script) as srv, pytest.raises(smtpcore.SMTPTimeoutError) as ei:
        send_many(kind, srv.port, items, timeout=0.6)
    assert str(ei.value) == "timed out waiting for the server"
