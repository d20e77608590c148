# SPDX-License-Identifier: MIT
"""Hardening defaults of smtpcore.aio.serve (issue 18), checked with raw sockets."""
import asyncio
import base64

import smtpcore
from conftest import Collector, run, running_server

FIRST = (b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
PIPED = (b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
         b"Subject: second\r\n\r\nsmuggled\r\n.\r\n")


async def exchange(port, writes, idle=0.3, limit=10.0):
    """Sends each write after the replies to the previous one went quiet; returns all
    bytes received and whether the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = bytearray()
    closed = False

    async def collect():
        nonlocal closed
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), idle)
            except asyncio.TimeoutError:
                return
            if not data:
                closed = True
                return
            out.extend(data)

    try:
        await asyncio.wait_for(collect(), limit)
        for w in writes:
            if closed:
                break
            writer.write(w)
            await writer.drain()
            await asyncio.wait_for(collect(), limit)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return bytes(out), closed


def test_default_refuses_unauthenticated_improper_pipelining():
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            return await exchange(port, [b"EHLO c.example\r\n", FIRST,
                                         b"Subject: first\r\n\r\nok\r\n.\r\n", PIPED,
                                         b"QUIT\r\n"])

    out, closed = run(main())
    assert out.endswith(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
                        b"554 5.5.0 Error: SMTP protocol synchronization\r\n")
    assert closed
    assert [m.content for m in handler.messages] == [b"Subject: first\r\n\r\nok\r\n"]


def test_sync_policy_off_serves_the_pipelined_message():
    handler = Collector()

    async def main():
        async with running_server(handler, sync_policy=smtpcore.SyncPolicy.OFF) as port:
            return await exchange(port, [b"EHLO c.example\r\n", PIPED, b"QUIT\r\n"])

    out, closed = run(main())
    assert b"554" not in out and out.endswith(b"221 2.0.0 Bye\r\n")
    assert [m.content for m in handler.messages] == [b"Subject: second\r\n\r\nsmuggled\r\n"]


def test_authenticated_session_keeps_pipelining_behaviour():
    handler = Collector(credentials={"user": "secret"})
    auth = base64.b64encode(b"\0user\0secret")

    async def main():
        async with running_server(handler, allow_plaintext_auth=True) as port:
            return await exchange(port, [b"EHLO c.example\r\n", b"AUTH PLAIN " + auth + b"\r\n",
                                         PIPED, b"QUIT\r\n"])

    out, closed = run(main())
    assert b"235 2.7.0" in out and b"554" not in out
    assert len(handler.messages) == 1


def test_nul_in_content_is_refused_by_default_and_accepted_on_request():
    body = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
    content = b"Subject: nul\r\n\r\nhello\0world\r\n.\r\n"

    async def main(**kw):
        handler = Collector()
        async with running_server(handler, **kw) as port:
            out, _ = await exchange(port, [b"EHLO c.example\r\n", body, content, b"QUIT\r\n"])
        return out, handler.messages

    out, messages = run(main())
    assert b"550 5.6.0 Error: NUL character in message content\r\n" in out
    assert messages == []
    out, messages = run(main(nul_policy=smtpcore.NulPolicy.ACCEPT))
    assert b"550" not in out
    assert [m.content for m in messages] == [b"Subject: nul\r\n\r\nhello\0world\r\n"]
