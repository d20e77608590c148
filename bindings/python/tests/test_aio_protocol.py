# SPDX-License-Identifier: MIT
"""The plaintext fast path of smtpcore.aio.serve (aio/_protocol.py): handlers that really
suspend (they continue as tasks), handler failures before and after suspending, a whole
session pipelined in one segment answered in one write, the idle timeout, handle_close,
idle connections without engine buffers."""
import asyncio
import gc
import socket

import smtpcore
import smtpcore.aio as aio

from conftest import run, running_server


async def exchange(port: int, data: bytes, until: bytes, timeout: float = 30.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        got = b""
        async with asyncio.timeout(timeout):
            while until not in got:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                got += chunk
        return got
    finally:
        writer.close()


SESSION = (b"EHLO c.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<ok@example.com>\r\n"
           b"RCPT TO:<bad@example.com>\r\nRCPT TO:<slow@example.com>\r\nDATA\r\n"
           b"Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n")
# SESSION is one segment (the fast path's batching is what these tests are about), which
# serve() refuses by default as improper pipelining (test_aio_harden.py): turn that off.
LENIENT = {"sync_policy": smtpcore.SyncPolicy.OFF}


class Suspending(aio.Handler):
    """Every hook awaits for real, so the protocol must pause and resume around it."""

    def __init__(self) -> None:
        self.messages = []
        self.closed = asyncio.Event()

    async def handle_rcpt(self, session, envelope, address, params):
        await asyncio.sleep(0.01)
        if address.startswith("bad"):
            return "550 5.1.1 no such user"
        if address.startswith("slow"):
            await asyncio.sleep(0)
        return None

    async def handle_data(self, session, envelope):
        await asyncio.sleep(0)
        return None

    async def handle_message(self, session, envelope):
        await asyncio.sleep(0.01)
        self.messages.append(envelope)
        return "250 2.0.0 stored"

    async def handle_close(self, session):
        self.closed.set()


def test_pipelined_session_with_suspending_handlers():
    handler = Suspending()

    async def main():
        async with running_server(handler, **LENIENT) as port:
            got = await exchange(port, SESSION, b"221")
            await asyncio.wait_for(handler.closed.wait(), 10)
            return got

    got = run(main())
    codes = [line[:3] for line in got.split(b"\r\n") if line[:3].isdigit()
             and line[3:4] == b" "]
    # greeting, EHLO, MAIL, RCPT ok, RCPT bad, RCPT slow, DATA, message, QUIT
    assert codes == [b"220", b"250", b"250", b"250", b"550", b"250", b"354", b"250", b"221"]
    assert b"250 2.0.0 stored" in got
    (env,) = handler.messages
    assert env.rcpt_tos == ["ok@example.com", "slow@example.com"]
    assert env.content == b"Subject: x\r\n\r\nbody\r\n.dot\r\n"


def test_default_hooks_answer_a_whole_pipelined_session():
    messages = []

    async def main():
        async with running_server(lambda env: messages.append(env), **LENIENT) as port:
            return await exchange(port, SESSION, b"221")

    got = run(main())
    assert got.count(b"\r\n250 ") + got.startswith(b"250 ") >= 6
    assert messages[0].rcpt_tos == ["ok@example.com", "bad@example.com", "slow@example.com"]


class Failing(aio.Handler):
    async def handle_rcpt(self, session, envelope, address, params):
        if address.startswith("late"):
            await asyncio.sleep(0)
        raise RuntimeError("boom")

    async def handle_message(self, session, envelope):
        return object()  # not a valid result


def test_handler_failures_answer_451_before_and_after_suspending():
    async def main():
        async with running_server(Failing(), **LENIENT) as port:
            return await exchange(
                port, b"EHLO c.example.com\r\nMAIL FROM:<a@example.com>\r\n"
                      b"RCPT TO:<now@example.com>\r\nRCPT TO:<late@example.com>\r\nQUIT\r\n",
                b"221")

    got = run(main())
    assert got.count(b"451 4.3.0") == 2


def test_invalid_result_for_message_is_451():
    class H(aio.Handler):
        async def handle_message(self, session, envelope):
            return object()

    async def main():
        async with running_server(H(), **LENIENT) as port:
            return await exchange(port, SESSION, b"221")

    assert b"451 4.3.0" in run(main())


def test_idle_timeout_closes_the_connection():
    async def main():
        async with running_server(lambda env: None, timeout=0.3) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                async with asyncio.timeout(15):
                    got = b""
                    while True:
                        chunk = await reader.read(4096)
                        if not chunk:
                            return got
                        got += chunk
            finally:
                writer.close()

    got = run(main())
    assert got.startswith(b"220")


def test_peer_closing_mid_transaction_is_clean():
    handler = Suspending()

    async def main():
        async with running_server(handler, **LENIENT) as port:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<ok@example.com>\r\n")
            await asyncio.wait_for(handler.closed.wait(), 10)

    run(main())
    assert handler.messages == []


def test_connections_leave_no_protocol_or_session_behind():
    """Every per-connection object (protocol, engine session, read buffer) is freed once
    the connection is closed, also after suspending handlers and refused recipients."""
    import gc

    from smtpcore.aio._greeted import GreetedProtocol
    from smtpcore.aio._protocol import ServerProtocol

    handler = Suspending()

    async def main():
        async with running_server(handler, **LENIENT) as port:
            for _ in range(30):
                await exchange(port, SESSION, b"221")
            for _ in range(5):  # greeted, then closed without a command
                await exchange(port, b"", b"220")
            await asyncio.sleep(0.2)  # let connection_lost and handle_close run

    run(main())
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, (ServerProtocol, GreetedProtocol))]
    assert alive == []
    assert len(handler.messages) == 30


# Both connection runners (this BufferedProtocol for plaintext listeners, the stream
# runner for listeners with a tls_context, here not switched to TLS by the client) drive
# the same dispatcher (aio/_dispatch.py): the same session gets the same answers.
import pytest  # noqa: E402


class BodyFailing(Suspending):
    async def handle_body(self, session, envelope, data):
        await asyncio.sleep(0)
        raise RuntimeError("boom")


def _codes(got):
    return [line[:3] for line in got.split(b"\r\n") if line[:3].isdigit()
            and line[3:4] == b" "]


@pytest.mark.parametrize("runner", ["protocol", "stream"])
def test_both_runners_answer_alike(runner, server_tls):
    tls = {"tls_context": server_tls} if runner == "stream" else {}
    fail = b"EHLO c.example.com\r\nMAIL FROM:<a@example.com>\r\n" \
           b"RCPT TO:<now@example.com>\r\nRCPT TO:<late@example.com>\r\nQUIT\r\n"

    async def main():
        out = []
        for handler, data in ((Suspending(), SESSION), (Failing(), fail),
                              (BodyFailing(), SESSION)):
            async with running_server(handler, **tls, **LENIENT) as port:
                out.append((handler, await exchange(port, data, b"221")))
                if isinstance(handler, Suspending):
                    await asyncio.wait_for(handler.closed.wait(), 10)
        return out

    (h1, got1), (_, got2), (h3, got3) = run(main())
    assert _codes(got1) == [b"220", b"250", b"250", b"250", b"550", b"250", b"354", b"250",
                            b"221"]
    assert h1.messages[0].rcpt_tos == ["ok@example.com", "slow@example.com"]
    assert got2.count(b"451 4.3.0") == 2 and got2.endswith(b"221 2.0.0 Bye\r\n")
    # A failing handle_body is logged; the session goes on (the handler saw no content).
    assert _codes(got3)[-2:] == [b"250", b"221"]
    assert h3.messages[0].content == b""


def test_idle_connections_hold_no_engine_buffers():
    """After each read's output is written the engine's buffers go back (release_idle):
    greeted and EHLO'd connections that are quiet hold only the session's state, and
    they are served as before when bytes come."""
    from smtpcore.aio._protocol import ServerProtocol

    async def main():
        async with running_server(lambda env: None) as port:
            conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
            for reader, writer in conns:
                assert (await reader.readline()).startswith(b"220")
                writer.write(b"EHLO c.example\r\n")
                while not (await reader.readline()).startswith(b"250 "):
                    pass
            await asyncio.sleep(0.05)
            protocols = [o for o in gc.get_objects()
                         if isinstance(o, ServerProtocol) and not o.done]
            assert len(protocols) == 3
            full = smtpcore.ServerConnection().memory
            for p in protocols:
                assert p.conn.memory <= full - 514 - 768
            reader, writer = conns[0]
            writer.write(b"NOOP\r\n")
            assert (await reader.readline()).startswith(b"250")
            for _, writer in conns:
                writer.close()

    run(main())


def test_idle_tls_connections_hold_no_engine_buffers(server_tls, client_tls):
    """The stream runner (TLS listeners) gives the engine's buffers back too while it
    waits for the peer."""
    from smtpcore.server import ServerConnection

    async def main():
        async with running_server(lambda env: None, tls_context=server_tls,
                                  implicit_tls=True) as port:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=client_tls, server_hostname="localhost")
            assert (await reader.readline()).startswith(b"220")
            writer.write(b"EHLO c.example\r\n")
            while not (await reader.readline()).startswith(b"250 "):
                pass
            await asyncio.sleep(0.05)
            conns = [o for o in gc.get_objects()
                     if isinstance(o, ServerConnection) and o._c is not None]
            assert len(conns) == 1
            assert conns[0].memory < ServerConnection().memory - 514 - 768
            writer.write(b"NOOP\r\n")
            assert (await reader.readline()).startswith(b"250")
            writer.close()

    run(main())


@pytest.mark.parametrize("runner", ["protocol", "stream"])
def test_engine_buffers_kept_inside_a_transaction_only(runner, server_tls, client_tls):
    """Inside a transaction the engine keeps its buffers between reads (the next command
    comes soon; a release costs a free and a malloc); between transactions (after the
    message, RSET, or a MAIL the handler refused) a quiet connection holds none."""
    from smtpcore.server import ServerConnection

    class Handler:
        async def handle_MAIL(self, server, session, envelope, address, options):
            if address.startswith("no@"):
                return "550 5.7.1 not you"
            envelope.mail_from = address
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    handler = Handler() if runner == "protocol" else (lambda env: None)
    tls = {"tls_context": server_tls, "implicit_tls": True} if runner == "stream" else {}

    async def main():
        async with running_server(handler, **tls) as port:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, **({"ssl": client_tls, "server_hostname": "localhost"}
                                      if tls else {}))
            full = ServerConnection().memory

            async def held(line: bytes) -> bool:
                writer.write(line)
                while (await reader.readline())[3:4] != b" ":
                    pass
                await asyncio.sleep(0.05)
                conns = [o for o in gc.get_objects()
                         if isinstance(o, ServerConnection) and o._c is not None]
                assert len(conns) == 1
                return conns[0].memory > full - 514 - 768

            assert (await reader.readline()).startswith(b"220")
            assert not await held(b"EHLO c.example\r\n")
            assert await held(b"MAIL FROM:<a@example.com>\r\n")
            assert await held(b"RCPT TO:<b@example.com>\r\n")
            assert await held(b"DATA\r\n")
            assert not await held(b"Subject: x\r\n\r\nhi\r\n.\r\n")
            assert await held(b"MAIL FROM:<a@example.com>\r\n")
            assert not await held(b"RSET\r\n")
            if runner == "protocol":
                assert not await held(b"MAIL FROM:<no@example.com>\r\n")
            writer.close()

    run(main())
