# SPDX-License-Identifier: MIT
"""A plaintext connection between its greeting and its first read (aio/_greeted.py): it
keeps a GreetedProtocol and the engine session only; the first bytes, the deadline, the
client's close or a handler that needs the session at the greeting all give the handler
the same session as before (issue 15 row 9)."""
import asyncio
import gc
import socket
import struct

import smtpcore
import smtpcore.aio as aio
from smtpcore._ffi import lib

from conftest import run, running_server


def _alive(cls):
    return [o for o in gc.get_objects() if type(o) is cls]


class Seen(aio.Handler):
    def __init__(self) -> None:
        self.helo = []
        self.closed = []

    async def handle_helo(self, session, name, esmtp):
        self.helo.append((session.peer, session.host_name, esmtp, session.tls))
        return None

    async def handle_close(self, session):
        self.closed.append(session.peer)


async def _greeted(port, n):
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(n)]
    for reader, _ in conns:
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220 ")
    return conns


def test_a_greeted_connection_keeps_a_small_protocol_until_it_reads():
    from smtpcore.aio._greeted import GreetedProtocol
    from smtpcore.aio._protocol import ServerProtocol

    handler = Seen()

    async def main():
        async with running_server(handler) as port:
            conns = await _greeted(port, 3)
            await asyncio.sleep(0.05)
            greeted = [p for p in _alive(GreetedProtocol) if p.c is not None]
            full = [p for p in _alive(ServerProtocol) if not p.done]
            assert len(greeted) == 3 and full == []
            # Its engine session gave the buffers back after the greeting.
            whole = smtpcore.ServerConnection().memory
            for p in greeted:
                assert lib.smtpcore_server_memory(p.c) <= whole - 514 - 768
            reader, writer = conns[1]
            writer.write(b"EHLO c.example\r\n")
            while not (await reader.readline()).startswith(b"250 "):
                pass
            woken = [p for p in _alive(ServerProtocol) if not p.done]
            assert len(woken) == 1 and woken[0].transport.get_protocol() is woken[0]
            assert len([p for p in _alive(GreetedProtocol) if p.c is not None]) == 2
            # The woken one goes on as before: a whole transaction.
            writer.write(b"MAIL FROM:<a@example.com>\r\n")
            assert (await reader.readline()).startswith(b"250 ")
            writer.write(b"RCPT TO:<b@example.com>\r\n")
            assert (await reader.readline()).startswith(b"250 ")
            writer.write(b"DATA\r\n")
            assert (await reader.readline()).startswith(b"354 ")
            writer.write(b"x\r\n.\r\nQUIT\r\n")
            assert (await reader.readline()).startswith(b"250 ")
            assert (await reader.readline()).startswith(b"221 ")
            peer = writer.get_extra_info("sockname")
            for _, w in conns:
                w.close()
            for _ in range(100):
                if len(handler.closed) == 3:
                    break
                await asyncio.sleep(0.02)
            return peer

    peer = run(main())
    # The handler saw the session it always saw: the client's address, the HELO name.
    assert handler.helo == [(peer, "c.example", True, False)]
    assert len(handler.closed) == 3 and peer in handler.closed
    gc.collect()
    from smtpcore.aio._greeted import GreetedProtocol
    assert [p for p in _alive(GreetedProtocol) if p.c is not None] == []


def test_a_greeted_connection_that_never_speaks_is_closed_at_its_deadline():
    """The idle deadline, and a shorter command deadline, run from the greeting."""
    async def main(**kw):
        handler = Seen()
        async with running_server(handler, **kw) as port:
            (reader, writer), = await _greeted(port, 1)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            got = await asyncio.wait_for(reader.read(), 10)
            waited = loop.time() - t0
            writer.close()
            for _ in range(100):
                if handler.closed:
                    break
                await asyncio.sleep(0.02)
            return got, waited, handler.closed, writer.get_extra_info("sockname")

    for kw, span in (({"timeout": 0.4}, 0.4), ({"timeout": 30, "command_timeout": 0.3}, 0.3)):
        got, waited, closed, peer = run(main(**kw))
        assert got.startswith(b"421 4.4.2 ") and b"timeout exceeded" in got
        assert waited >= span - 0.05  # the loop's clock: never before the deadline
        assert closed == [peer]


def test_a_greeted_connection_the_client_closes_frees_its_slot():
    """A close (the end of input) and a reset (connection_lost alone: without a
    handle_close hook the session is freed without a ServerProtocol) both give the
    connection cap's slot back."""
    async def main():
        async with running_server(lambda env: None, max_connections=1) as port:
            lines = []
            for reset in (False, True, True, False):
                for _ in range(200):
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    line = await asyncio.wait_for(reader.readline(), 10)
                    if reset:
                        sock = writer.get_extra_info("socket")
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                    writer.close()
                    await writer.wait_closed()
                    if line.startswith(b"220 "):
                        break
                    await asyncio.sleep(0.02)  # the server has not seen the close yet
                lines.append(line)
            return lines

    lines = run(main())
    assert all(line.startswith(b"220 ") for line in lines)


def test_a_connect_hook_sees_the_session_at_the_greeting():
    """A handle_connect hook needs the session before the greeting: no GreetedProtocol."""
    class Connect(aio.Handler):
        def __init__(self) -> None:
            self.peers = []

        async def handle_connect(self, session):
            self.peers.append(session.peer)
            return "554 5.7.1 not you"

    handler = Connect()

    async def main():
        async with running_server(handler) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            line = await asyncio.wait_for(reader.readline(), 10)
            peer = writer.get_extra_info("sockname")
            writer.close()
            return line, peer

    line, peer = run(main())
    assert line.startswith(b"554 5.7.1 not you")
    assert handler.peers == [peer]


def test_a_greeting_that_fills_the_transport_hands_over_at_once():
    """A write of the greeting that pauses writing (a transport at its high-water mark)
    makes the ServerProtocol there; it, not the GreetedProtocol, is filed for the
    deadline and resumes writing."""
    from smtpcore.aio._greeted import GreetedProtocol
    from smtpcore.aio._protocol import ServerProtocol
    from smtpcore.aio.server import SMTPServerProtocolRunner
    from smtpcore.aio._handler import CallableHandler

    class Transport:
        def __init__(self):
            self.protocol = None
            self.out = b""
            self.reading = True

        def set_protocol(self, p):
            self.protocol = p

        def get_protocol(self):
            return self.protocol

        def write(self, data):
            self.out += data
            self.protocol.pause_writing()

        def get_extra_info(self, name, default=None):
            return ("127.0.0.1", 4242) if name == "peername" else default

        def pause_reading(self):
            self.reading = False

        def resume_reading(self):
            self.reading = True

        def close(self):
            pass

    async def main():
        runner = SMTPServerProtocolRunner(CallableHandler(lambda env: None),
                                          {"input_buffer_size": 4096}, None, 30.0)
        t = Transport()
        greeted = GreetedProtocol(runner)
        t.set_protocol(greeted)
        greeted.connection_made(t)
        full = t.protocol
        assert isinstance(full, ServerProtocol) and full.write_paused and not t.reading
        assert greeted.c is None and greeted.due is None and full.due is not None
        assert full.session.peer == ("127.0.0.1", 4242)
        full.resume_writing()
        assert t.reading and t.out.startswith(b"220 ")
        full.connection_lost(None)
        assert runner.limits.active == 0

    run(main())
