# SPDX-License-Identifier: MIT
"""The asyncio server keeps the engine's security properties end to end (raw sockets)."""
import asyncio
import smtplib

import pytest

import smtpcore.aio as aio

from conftest import Collector, run, running_server


async def converse(port, chunks, read_until_close=True, delay=0.05):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = bytearray()
    try:
        out += await reader.readline()  # greeting
        for c in chunks:
            writer.write(c)
            await writer.drain()
            await asyncio.sleep(delay)
        if read_until_close:
            while True:
                data = await asyncio.wait_for(reader.read(65536), 10)
                if not data:
                    break
                out += data
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass
    return bytes(out)


def test_smuggling_with_bare_lf_dot_is_not_a_second_message():
    handler = Collector()
    smuggled = (b"EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                b"DATA\r\n")
    body = (b"Subject: one\r\n\r\nhello\n.\nMAIL FROM:<evil@example.com>\nRCPT TO:<v@example.com>\n"
            b"DATA\nSubject: smuggled\n\nx\n.\r\n.\r\nQUIT\r\n")

    async def main():
        async with running_server(handler) as port:
            return await converse(port, [smuggled, body])

    out = run(main())
    assert b"550 5.5.2" in out or b"554" in out
    assert all(b"smuggled" not in m.content for m in handler.messages)
    assert handler.messages == []


def test_plaintext_after_starttls_is_discarded_and_connection_closed(server_tls):
    handler = Collector()

    async def main():
        async with running_server(handler, tls_context=server_tls) as port:
            return await converse(port, [b"EHLO c.example\r\n",
                                         b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n"])

    out = run(main())  # returns only once the server closed the connection
    # The injected MAIL is never executed (engine 0.1.0 refuses the STARTTLS with 554 5.5.1).
    assert b"injected" not in out and b"250 2.1.0" not in out and b"503" not in out
    assert handler.messages == []


def test_connect_refused_by_handler():
    class NoThanks(aio.Handler):
        async def handle_connect(self, session):
            return aio.Response(554, "No SMTP service here", "5.3.2")

    def client(port):
        with pytest.raises(smtplib.SMTPConnectError) as ei:
            smtplib.SMTP("127.0.0.1", port, timeout=10)
        return ei.value.smtp_code

    async def main():
        async with running_server(NoThanks()) as port:
            return await asyncio.to_thread(client, port)

    assert run(main()) == 554


def test_early_talker_and_unknown_commands_do_not_reach_handler():
    handler = Collector()

    async def main():
        async with running_server(handler, max_errors=3) as port:
            return await converse(port, [b"HELLO\r\n", b"FOO\r\n", b"BAR\r\n", b"BAZ\r\n"])

    out = run(main())
    assert out.count(b"500 ") >= 2 and b"421" in out
    assert handler.messages == []


def test_idle_session_is_closed_after_the_timeout():
    async def main():
        async with running_server(Collector(), timeout=0.3) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            greeting = await reader.readline()
            rest = await asyncio.wait_for(reader.read(), 30)  # returns at EOF
            writer.close()
            await writer.wait_closed()
            return greeting, rest

    greeting, rest = run(main())
    assert greeting.startswith(b"220 ") and rest == b"421 4.4.2 localhost Error: timeout exceeded\r\n"
