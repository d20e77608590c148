# SPDX-License-Identifier: MIT
"""The end of a message on the plaintext fast path (aio/_protocol.py _end_inline): a
client that waits for each reply, as smtp-source does, so the final dot arrives alone
and is answered in buffer_updated itself. Every kind of handle_message result, a hook
that raises, one that suspends while another connection's hook runs inline, and what
the envelope says of the message (content, bdat, long_lines)."""
import asyncio

import smtpcore.aio as aio

from conftest import run, running_server


class Client:
    """One command per write, each reply read before the next (no pipelining)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> "Client":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        c = cls(reader, writer)
        assert (await c.reply()).startswith(b"220")
        return c

    async def reply(self) -> bytes:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 10)
            assert line, "connection closed"
            lines.append(line)
            if line[3:4] != b"-":
                return b"".join(lines)

    async def send(self, data: bytes) -> bytes:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reply()

    async def message(self, body: bytes, rcpts: tuple[str, ...] = ("b@example.com",),
                      bdat: bool = False) -> bytes:
        assert (await self.send(b"MAIL FROM:<a@example.com>\r\n")).startswith(b"250")
        for r in rcpts:
            assert (await self.send(b"RCPT TO:<%s>\r\n" % r.encode())).startswith(b"250")
        if bdat:
            return await self.send(b"BDAT %d LAST\r\n" % len(body) + body)
        assert (await self.send(b"DATA\r\n")).startswith(b"354")
        return await self.send(body + b".\r\n")

    async def close(self) -> None:
        assert (await self.send(b"QUIT\r\n")).startswith(b"221")
        self.writer.close()


def session(handler, script):
    async def main():
        async with running_server(handler) as port:
            c = await Client.connect(port)
            assert (await c.send(b"EHLO c.example.com\r\n")).startswith(b"250")
            got = await script(c)
            await c.close()
            return got
    return run(main())


def test_each_result_of_handle_message_answers_the_message_alone():
    results = [None, True, "250 2.0.0 kept", False, 452, "550 5.7.1 not here", None]
    seen = []

    async def on_message(env):  # a coroutine function: the runner calls it directly
        seen.append(env)
        return results[len(seen) - 1]

    async def script(c):
        return [await c.message(b"Subject: %d\r\n\r\nx\r\n" % i) for i in range(len(results))]

    got = session(on_message, script)
    assert [g[:3] for g in got] == [b"250", b"250", b"250", b"554", b"452", b"550", b"250"]
    assert got[2] == b"250 2.0.0 kept\r\n" and got[3].startswith(b"554 5.6.0")
    assert [e.content for e in seen] == [b"Subject: %d\r\n\r\nx\r\n" % i for i in range(7)]
    assert all(e.rcpt_tos == ["b@example.com"] and not e.bdat and not e.long_lines
               for e in seen)


def test_a_raising_hook_answers_451_and_the_next_message_is_served():
    calls = []

    class H(aio.Handler):
        async def handle_message(self, session, envelope):
            calls.append(envelope.content)
            if len(calls) == 1:
                raise RuntimeError("boom")
            if len(calls) == 2:
                return object()  # not a valid result
            return None

    async def script(c):
        return [await c.message(b"m%d\r\n" % i) for i in range(3)]

    got = session(H(), script)
    assert [g[:9] for g in got] == [b"451 4.3.0", b"451 4.3.0", b"250 2.0.0"]
    assert calls == [b"m0\r\n", b"m1\r\n", b"m2\r\n"]


def test_a_suspended_hook_keeps_its_place_while_another_connection_is_answered():
    """The first connection's hook awaits until the second connection's message (answered
    inline, without suspending) has been stored; both get their own result."""
    release = None
    stored = []

    class H(aio.Handler):
        async def handle_message(self, session, envelope):
            if envelope.content.startswith(b"wait"):
                await release.wait()
                stored.append(envelope.content)
                return "250 2.0.0 waited"
            stored.append(envelope.content)
            return "250 2.0.0 at once"

    async def main():
        nonlocal release
        release = asyncio.Event()
        async with running_server(H()) as port:
            a = await Client.connect(port)
            b = await Client.connect(port)
            for c in (a, b):
                await c.send(b"EHLO c.example.com\r\n")
            first = asyncio.ensure_future(a.message(b"wait\r\n"))
            await asyncio.sleep(0.05)
            assert not first.done()
            second = await b.message(b"now\r\n")
            third = await b.message(b"again\r\n")
            release.set()
            got = [await first, second, third, await a.message(b"after\r\n")]
            await a.close()
            await b.close()
            return got

    got = run(main())
    assert got == [b"250 2.0.0 waited\r\n", b"250 2.0.0 at once\r\n",
                   b"250 2.0.0 at once\r\n", b"250 2.0.0 at once\r\n"]
    assert stored == [b"now\r\n", b"again\r\n", b"wait\r\n", b"after\r\n"]


def test_the_envelope_says_bdat_and_long_lines():
    seen = []

    async def on_message(env):
        seen.append(env)

    long_line = b"x" * 1200 + b"\r\n"

    async def script(c):
        return [await c.message(b"short\r\n", bdat=True),
                await c.message(long_line),
                await c.message(long_line, bdat=True),
                await c.message(b"plain\r\n", rcpts=("b@example.com", "c@example.com"))]

    got = session(on_message, script)
    assert [g[:3] for g in got] == [b"250"] * 4
    # The engine measures lines in DATA only (BDAT content is not line-structured).
    assert [(e.bdat, e.long_lines) for e in seen] == [
        (True, False), (False, True), (True, False), (False, False)]
    assert [e.content for e in seen] == [b"short\r\n", long_line, long_line, b"plain\r\n"]
    assert seen[3].rcpt_tos == ["b@example.com", "c@example.com"]


def test_new_envelope_sets_every_field_as_the_dataclass_does():
    import dataclasses

    from smtpcore.aio._handler import Envelope, new_envelope
    from smtpcore.values import MailParams

    params = MailParams(size=10)
    made, built = new_envelope("a@example.com", params), Envelope("a@example.com", params)
    assert made == built
    assert all(getattr(made, f.name) == getattr(built, f.name)
               for f in dataclasses.fields(Envelope))
    assert made.rcpt_tos is not new_envelope("x", params).rcpt_tos  # lists of its own
