# SPDX-License-Identifier: MIT
"""Limits of smtpcore.aio.serve against clients that hold connections or guess
passwords (issue 18 item 3): connection cap, idle and slow-client deadlines with 421,
clients that never read, AUTH slowed down and limited per address. Each case runs on
the plaintext fast path and, where the path differs, on the TLS stream runner.

Times only bound the tests (so a broken server fails instead of hanging); what is
asserted is what the client receives and what the handler sees."""
import asyncio
import base64
import socket
import ssl
import subprocess
import sys
import time

import pytest

import smtpcore
from conftest import Collector, run, running_server

AUTH_GOOD = b"AUTH PLAIN " + base64.b64encode(b"\0user\0secret") + b"\r\n"
AUTH_BAD = b"AUTH PLAIN " + base64.b64encode(b"\0user\0wrong") + b"\r\n"
#: What the engine ends a session with when a deadline passed (any of them).
TIMEOUT_421 = b"421 4.4.2 localhost Error: timeout exceeded\r\n"


@pytest.fixture(params=["plain", "tls"])
def transport(request, server_tls, client_tls):
    """(serve() keywords, open_connection keywords) for each connection runner."""
    if request.param == "plain":
        return {}, {}
    return ({"tls_context": server_tls, "implicit_tls": True},
            {"ssl": client_tls, "server_hostname": "localhost"})


class Closes(Collector):
    """A Collector that records sessions ending (handle_close)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.closed = asyncio.Event()
        self.auth_calls = 0

    async def handle_auth(self, session, mechanism, username, password):
        self.auth_calls += 1
        return await super().handle_auth(session, mechanism, username, password)

    async def handle_close(self, session):
        self.closed.set()


async def read_to_eof(reader, limit=20.0):
    """Everything until the server closes (raises TimeoutError if it never does)."""
    out = bytearray()

    async def loop():
        while True:
            try:
                data = await reader.read(65536)
            except (ConnectionResetError, ssl.SSLError):
                return
            if not data:
                return
            out.extend(data)
    await asyncio.wait_for(loop(), limit)
    return bytes(out)


async def close(writer):
    writer.close()
    try:
        await writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass


def test_connection_over_max_connections_gets_421_and_a_freed_slot_is_reused(transport):
    kw, ckw = transport
    handler = Closes()

    async def main():
        async with running_server(handler, max_connections=2, **kw) as port:
            held = [await asyncio.open_connection("127.0.0.1", port, **ckw) for _ in range(2)]
            for r, _ in held:
                assert (await asyncio.wait_for(r.readline(), 10)).startswith(b"220 ")
            r3, w3 = await asyncio.open_connection("127.0.0.1", port, **ckw)
            refused = await read_to_eof(r3)
            await close(w3)
            await close(held[0][1])
            # The freed slot is given to the next client (once the server saw the close).
            for _ in range(200):
                r4, w4 = await asyncio.open_connection("127.0.0.1", port, **ckw)
                line = await asyncio.wait_for(r4.readline(), 10)
                await close(w4)
                if line.startswith(b"220 "):
                    break
                await asyncio.sleep(0.05)
            await close(held[1][1])
            return refused, line

    refused, line = run(main())
    assert refused == b"421 4.7.0 Too many connections, try later\r\n"
    assert line.startswith(b"220 ")


def test_default_connection_cap_is_the_sinks():
    import inspect
    import smtpcore.aio
    assert inspect.signature(smtpcore.aio.serve).parameters["max_connections"].default == 1000


def test_idle_timeout_mid_data_answers_421_and_drops_the_message(transport):
    kw, ckw = transport
    handler = Closes()

    async def main():
        async with running_server(handler, timeout=1.0, content_timeout=30, **kw) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port, **ckw)
            w.write(b"EHLO c\r\n")
            await w.drain()
            await asyncio.sleep(0.1)
            w.write(b"MAIL FROM:<a@example.com>\r\n")
            w.write(b"RCPT TO:<b@example.com>\r\n")
            await w.drain()
            await asyncio.sleep(0.1)
            w.write(b"DATA\r\n")
            await w.drain()
            await asyncio.sleep(0.1)
            w.write(b"Subject: never ends\r\n\r\nhalf a message\r\n")
            await w.drain()
            out = await read_to_eof(r)
            await close(w)
            return out

    out = run(main())
    assert b"354 " in out
    assert out.endswith(TIMEOUT_421)
    assert handler.messages == []


def test_command_line_one_byte_at_a_time_is_closed_at_the_deadline(transport):
    """Every byte comes well within the idle timeout, yet the line never completes in
    time: the command deadline ends the session with 421."""
    kw, ckw = transport
    handler = Closes()

    async def main():
        async with running_server(handler, timeout=1.0, **kw) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port, **ckw)
            assert (await asyncio.wait_for(r.readline(), 10)).startswith(b"220 ")
            line = b"EHLO " + b"x" * 400
            got = bytearray()
            for i in range(len(line)):  # bounded: 400 bytes, 0.1 s apart = 40 s at most
                try:
                    w.write(line[i:i + 1])
                    await w.drain()
                except (ConnectionError, ssl.SSLError):
                    break
                try:
                    data = await asyncio.wait_for(r.read(65536), 0.1)
                except asyncio.TimeoutError:
                    continue
                except (ConnectionError, ssl.SSLError):
                    break
                if not data:
                    break
                got.extend(data)
            await close(w)
            return bytes(got), i

    got, sent = run(main())
    assert got == TIMEOUT_421
    assert sent < 399


def test_message_content_one_byte_at_a_time_is_closed_at_the_deadline(transport):
    kw, ckw = transport
    handler = Closes()

    async def main():
        async with running_server(handler, timeout=1.0, **kw) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port, **ckw)
            await r.readline()
            for cmd in (b"EHLO c\r\n", b"MAIL FROM:<a@example.com>\r\n",
                        b"RCPT TO:<b@example.com>\r\n", b"DATA\r\n"):
                w.write(cmd)
                await w.drain()
                while True:
                    line = await asyncio.wait_for(r.readline(), 10)
                    if line[3:4] == b" ":
                        break
            assert line.startswith(b"354 ")
            got = bytearray()
            body = b"Subject: slow\r\n\r\n" + b"a\r\n" * 200
            for i in range(len(body)):  # bounded: 617 bytes, 0.1 s apart
                try:
                    w.write(body[i:i + 1])
                    await w.drain()
                    data = await asyncio.wait_for(r.read(65536), 0.1)
                except asyncio.TimeoutError:
                    continue
                except (ConnectionError, ssl.SSLError):
                    break
                if not data:
                    break
                got.extend(data)
            await close(w)
            return bytes(got), i

    got, sent = run(main())
    assert got == TIMEOUT_421
    assert sent < 600
    assert handler.messages == []


def test_a_bdat_chunk_one_byte_at_a_time_is_closed_at_the_deadline(transport):
    """The engine says when chunk octets are read (in_message): the content deadline."""
    kw, ckw = transport
    handler = Closes()

    async def main():
        async with running_server(handler, timeout=1.0, **kw) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port, **ckw)
            await r.readline()
            for cmd in (b"EHLO c\r\n", b"MAIL FROM:<a@example.com>\r\n",
                        b"RCPT TO:<b@example.com>\r\n"):
                w.write(cmd)
                while (await asyncio.wait_for(r.readline(), 10))[3:4] != b" ":
                    pass
            w.write(b"BDAT 600 LAST\r\n")
            got = bytearray()
            for i in range(600):  # bounded: 600 bytes, 0.1 s apart
                try:
                    w.write(b"a")
                    await w.drain()
                    data = await asyncio.wait_for(r.read(65536), 0.1)
                except asyncio.TimeoutError:
                    continue
                except (ConnectionError, ssl.SSLError):
                    break
                if not data:
                    break
                got.extend(data)
            await close(w)
            return bytes(got), i

    got, sent = run(main())
    assert got == TIMEOUT_421
    assert sent < 599
    assert handler.messages == []


def test_a_slow_handler_does_not_count_against_the_client():
    class Slow(Collector):
        async def handle_rcpt(self, session, envelope, address, params):
            await asyncio.sleep(1.5)  # three times the deadlines below

    async def main():
        async with running_server(Slow(), timeout=0.5) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await r.readline()
            w.write(b"HELO c\r\n")
            await r.readline()
            w.write(b"MAIL FROM:<a@example.com>\r\n")
            await r.readline()
            w.write(b"RCPT TO:<b@example.com>\r\n")
            rcpt = await asyncio.wait_for(r.readline(), 10)
            w.write(b"QUIT\r\n")
            bye = await asyncio.wait_for(r.readline(), 10)
            await close(w)
            return rcpt, bye

    rcpt, bye = run(main())
    assert rcpt.startswith(b"250 ") and bye.startswith(b"221 ")


@pytest.mark.parametrize("tls", [False, True])
def test_client_that_never_reads_is_dropped_at_the_deadline(tls, server_tls, client_tls):
    """Pipelined NOOPs without reading a reply: the replies fill the socket buffers, the
    server stops reading, and at the idle deadline the connection is dropped although
    its output could not be flushed (it used to wait for the flush for ever)."""
    handler = Closes()
    kw = {"tls_context": server_tls, "implicit_tls": True} if tls else {}

    async def main():
        async with running_server(handler, timeout=0.5, sync_policy=smtpcore.SyncPolicy.OFF,
                                  **kw) as port:
            loop = asyncio.get_running_loop()
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.settimeout(10)
            await loop.run_in_executor(None, raw.connect, ("127.0.0.1", port))
            s = raw
            if tls:
                s = client_tls.wrap_socket(raw, server_hostname="localhost",
                                           do_handshake_on_connect=False)
                await loop.run_in_executor(None, s.do_handshake)
            s.setblocking(False)
            chunk = b"NOOP\r\n" * 1000
            stalled = 0.0
            for _ in range(20000):  # bounded: at most 120 MB of NOOPs
                try:
                    s.send(chunk)
                    stalled = 0.0
                except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    if stalled == 0.0:
                        stalled = loop.time()
                    elif loop.time() - stalled > 0.2:
                        break  # the server stopped reading: its output is stuck
                    await asyncio.sleep(0.01)
                except OSError:
                    break
            await asyncio.wait_for(handler.closed.wait(), 20)

            def ends() -> bool:
                """Reading what was sent ends in a close (not in silence: a server
                still holding the connection would have sent everything it had)."""
                s.setblocking(True)
                s.settimeout(5)
                for _ in range(100000):
                    try:
                        if not s.recv(65536):
                            return True
                    except (ConnectionResetError, ssl.SSLError):
                        return True
                    except socket.timeout:
                        return False
                return False
            closed = await loop.run_in_executor(None, ends)
            s.close()
            return closed

    assert run(main())


def test_auth_refusal_is_delayed_without_blocking_other_sessions():
    handler = Closes(credentials={"user": "secret"})

    async def main():
        async with running_server(handler, allow_plaintext_auth=True,
                                  auth_failure_delay=1.0) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await r.readline()
            w.write(b"EHLO c\r\n")
            while (await r.readline())[3:4] != b" ":
                pass
            w.write(AUTH_BAD)
            await w.drain()
            try:
                early = await asyncio.wait_for(r.readline(), 0.3)
            except asyncio.TimeoutError:
                early = b""
            # Meanwhile another client is served (the pause is not a blocking sleep).
            r2, w2 = await asyncio.open_connection("127.0.0.1", port)
            greeting = await asyncio.wait_for(r2.readline(), 10)
            w2.write(b"QUIT\r\n")
            bye = await asyncio.wait_for(r2.readline(), 10)
            await close(w2)
            late = await asyncio.wait_for(r.readline(), 20)
            await close(w)
            return early, greeting, bye, late

    early, greeting, bye, late = run(main())
    assert early == b""
    assert greeting.startswith(b"220 ") and bye.startswith(b"221 ")
    assert late.startswith(b"535 5.7.8")


def test_auth_failures_per_address_lock_the_address_out():
    handler = Closes(credentials={"user": "secret"})

    async def session(port, *auths):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        await r.readline()
        w.write(b"EHLO c\r\n")
        while (await r.readline())[3:4] != b" ":
            pass
        replies = []
        for a in auths:
            w.write(a)
            replies.append(await asyncio.wait_for(r.readline(), 10))
        await close(w)
        return replies

    async def main():
        async with running_server(handler, allow_plaintext_auth=True, auth_failure_delay=0,
                                  max_auth_failures_per_address=2) as port:
            first = await session(port, AUTH_BAD, AUTH_BAD)
            calls = handler.auth_calls
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await r.readline()
            w.write(b"EHLO c\r\n")
            while (await r.readline())[3:4] != b" ":
                pass
            w.write(AUTH_GOOD)
            second = await read_to_eof(r)
            await close(w)
            return first, calls, second

    first, calls, second = run(main())
    assert [r[:3] for r in first] == [b"535", b"535"]
    assert second == (b"421 4.7.0 localhost Error: too many failed authentications from "
                      b"127.0.0.1, try later\r\n")  # and closed
    assert handler.auth_calls == calls == 2  # the locked-out attempt never reached it


def test_max_auth_failures_ends_the_session_with_421():
    """The engine's per-session limit (default 3) passes through serve()."""
    handler = Closes(credentials={"user": "secret"})

    async def main(**kw):
        async with running_server(handler, allow_plaintext_auth=True, auth_failure_delay=0,
                                  **kw) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await r.readline()
            w.write(b"EHLO c\r\n")
            while (await r.readline())[3:4] != b" ":
                pass
            for _ in range(3):
                w.write(AUTH_BAD)
                await w.drain()
            out = await read_to_eof(r)
            await close(w)
            return out

    out = run(main())
    assert out.count(b"535 5.7.8") == 3
    assert out.endswith(b"421 4.7.0 localhost Error: too many failed authentications\r\n")
    out = run(main(max_auth_failures=2))
    assert out.count(b"535 5.7.8") == 2 and b"421 4.7.0" in out


@pytest.mark.parametrize("tls", [False, True])
def test_auth_the_engine_refuses_counts_for_the_address_too(tls, server_tls, client_tls):
    """AUTH FOO (504) and a cancelled exchange (501) never reach the handler, yet they are
    failed AUTHs (the engine's auth_failures), counted per address as by smtpcore-sink."""
    handler = Closes(credentials={"user": "secret"})
    kw = {"tls_context": server_tls, "implicit_tls": True} if tls else {}
    ckw = {"ssl": client_tls, "server_hostname": "localhost"} if tls else {}

    async def ehlo(port):
        r, w = await asyncio.open_connection("127.0.0.1", port, **ckw)
        await r.readline()
        w.write(b"EHLO c\r\n")
        while (await r.readline())[3:4] != b" ":
            pass
        return r, w

    async def main():
        async with running_server(handler, allow_plaintext_auth=True, auth_failure_delay=0,
                                  max_auth_failures_per_address=2, **kw) as port:
            r, w = await ehlo(port)
            w.write(b"AUTH FOO\r\n")
            first = [await asyncio.wait_for(r.readline(), 10)]
            w.write(b"AUTH PLAIN\r\n")
            first.append(await asyncio.wait_for(r.readline(), 10))
            w.write(b"*\r\n")
            first.append(await asyncio.wait_for(r.readline(), 10))
            await close(w)
            r, w = await ehlo(port)
            w.write(AUTH_GOOD)
            second = await read_to_eof(r)
            await close(w)
            return first, second

    first, second = run(main())
    assert [x[:3] for x in first] == [b"504", b"334", b"501"]
    assert second.startswith(b"421 4.7.0 localhost Error: too many failed authentications")
    assert handler.auth_calls == 0


def test_the_per_address_limit_is_off_by_default():
    handler = Closes(credentials={"user": "secret"})

    async def main():
        async with running_server(handler, allow_plaintext_auth=True,
                                  auth_failure_delay=0) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            await r.readline()
            w.write(b"EHLO c\r\n")
            while (await r.readline())[3:4] != b" ":
                pass
            out = []
            for a in (AUTH_BAD, AUTH_BAD, AUTH_GOOD):
                w.write(a)
                out.append(await asyncio.wait_for(r.readline(), 10))
            await close(w)
            return out

    out = run(main())
    assert [r[:3] for r in out] == [b"535", b"535", b"235"]


@pytest.mark.parametrize("kw", [{"timeout": 0}, {"command_timeout": -1},
                                {"max_connections": -1}, {"auth_failure_delay": -1}])
def test_bad_limits_are_refused_at_serve(kw):
    async def main():
        async with running_server(Collector(), **kw):
            pass

    with pytest.raises(ValueError):
        run(main())


IDLE_SERVER = """
import asyncio, smtpcore.aio
async def main():
    server = await smtpcore.aio.serve(lambda env: None, "127.0.0.1", 0, timeout=60)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_idle_connections_hold_no_read_buffer():
    """A generous regression bound (bench/python/idle_rss.py measures it): an idle
    connection cost about 70 KiB with a 64 KiB read buffer each, about 5 KiB without."""
    n = 300
    proc = subprocess.Popen([sys.executable, "-c", IDLE_SERVER], stdout=subprocess.PIPE)
    socks = []
    try:
        port = int(proc.stdout.readline())
        time.sleep(0.3)
        before = _rss_kib(proc.pid)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
            assert s.recv(512).startswith(b"220 ")
        time.sleep(0.3)
        per = (_rss_kib(proc.pid) - before) / n
    finally:
        for s in socks:
            s.close()
        proc.kill()
        proc.wait(10)
        proc.stdout.close()
    assert per < 24, f"{per:.1f} KiB per idle connection"


def test_implicit_tls_handshake_never_started_is_dropped_at_the_timeout(server_tls):
    """A client that connects to an implicit-TLS listener and says nothing is closed after
    ``timeout`` (the handshake comes before the session; asyncio alone waits 60 s)."""
    async def main():
        async with running_server(Collector(), tls_context=server_tls, implicit_tls=True,
                                  timeout=0.5) as port:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            got = await read_to_eof(r, 20)
            await close(w)
            return got

    assert run(main()) == b""


def test_the_limits_pass_through_the_controller():
    from smtpcore.aio import Controller
    with Controller(Collector(), max_connections=1, timeout=5) as ctl:
        first = socket.create_connection((ctl.host, ctl.port), timeout=10)
        second = socket.create_connection((ctl.host, ctl.port), timeout=10)
        try:
            assert first.recv(512).startswith(b"220 ")
            got = b""
            while True:  # bounded by the socket timeout
                data = second.recv(512)
                if not data:
                    break
                got += data
        finally:
            first.close()
            second.close()
    assert got == b"421 4.7.0 Too many connections, try later\r\n"


def test_one_timer_checks_every_connection_after_its_deadline_never_before():
    """The plaintext runner's connections share one timer (aio._limits.Deadlines): each
    filed connection is checked once, after its time has passed (the loop's clock, not a
    wall-clock bound); a removed one is not checked; a check may file itself again."""
    from smtpcore.aio._limits import Deadlines

    class Conn:
        def __init__(self, name, loop, deadlines, again=None):
            self.name, self.loop, self.deadlines, self.again = name, loop, deadlines, again
            self.seen = []

        def _deadline(self):
            self.seen.append(self.loop.time())
            if self.again is not None:
                when, self.again = self.again, None
                self.deadlines.add(self, when, self.loop)

    async def main():
        loop = asyncio.get_running_loop()
        d = Deadlines(0.02)
        t0 = loop.time()
        late = Conn("late", loop, d)
        early = Conn("early", loop, d, again=t0 + 0.25)
        gone = Conn("gone", loop, d)
        d.add(late, t0 + 0.2, loop)
        d.add(early, t0 + 0.05, loop)  # files after the first: the timer moves earlier
        key = d.add(gone, t0 + 0.1, loop)
        d.remove(gone, key)
        await asyncio.sleep(0.4)
        return t0, late.seen, early.seen, gone.seen

    t0, late, early, gone = run(main())
    assert gone == []
    assert len(late) == 1 and late[0] >= t0 + 0.2
    assert len(early) == 2 and t0 + 0.05 <= early[0] < early[1]
    assert early[1] >= t0 + 0.25
