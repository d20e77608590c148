# SPDX-License-Identifier: MIT
"""Behind a proxy: serve(proxy_protocol=..., xclient_from=...) and the clients' proxy= and
xclient= options, against each other on 127.0.0.1 (both server paths: the plaintext fast
path and the stream runner used with a TLS context). HAProxy and nginx themselves are in
tests/deploy (scripts/test.d/45-deploy.sh)."""
import asyncio
import socket
import struct
from typing import Any

import pytest

import smtpcore
import smtpcore.aio as aio
from smtpcore import _proxy

from conftest import run, running_server

# The raw sessions below write several commands at once; serve() refuses that from
# unauthenticated clients by default (sync_policy), which is not what they test.
OFF = smtpcore.SyncPolicy.OFF
MSG = b"Subject: behind a proxy\r\n\r\nbody\r\n.dot line\r\n"


class Seen(aio.Handler):
    """Records (peer, proxy_peer, proxy, host_name, authenticated, content) per message."""

    def __init__(self) -> None:
        self.got: list[tuple[Any, ...]] = []

    async def handle_message(self, session: Any, envelope: Any) -> Any:
        self.got.append((session.peer, session.proxy_peer, session.proxy, session.host_name,
                         session.authenticated, envelope.content))
        return None


def v2_header(src: str, sport: int, dst: str, dport: int) -> bytes:
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


async def raw_session(port: int, first: bytes, lines: list[bytes]) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(first)
    for line in lines:
        w.write(line)
    await w.drain()
    data = await asyncio.wait_for(r.read(), 10)
    w.close()
    return data


@pytest.mark.parametrize("mode", ["v1", "v2"])
@pytest.mark.parametrize("tls", [False, True])
def test_proxy_header_names_the_client(mode: str, tls: bool, server_tls: Any) -> None:
    seen = Seen()
    kw: dict[str, Any] = {"proxy_protocol": mode}
    if tls:
        kw["tls_context"] = server_tls  # the stream runner instead of the fast path

    async def main() -> Any:
        async with running_server(seen, **kw) as port:
            r = await aio.send_message(
                "127.0.0.1", port, _msg(), proxy=mode, proxy_source=("192.0.2.1", 4711),
                starttls=False)
            assert r.ok
            async with aio.SMTPClient("127.0.0.1", port, proxy=mode, starttls=False) as c:
                own = c._writer.get_extra_info("sockname")
                await c.send("a@example.org", ["b@example.org"], MSG)
            return own

    own = run(main())
    (p1, pp1, how1, *_), (p2, pp2, how2, _, _, content) = seen.got
    assert p1 == ("192.0.2.1", 4711) and how1 == mode
    assert pp1[0] == "127.0.0.1" and pp1[1] != 4711
    assert p2 == ("127.0.0.1", own[1]) and pp2[:2] == ("127.0.0.1", own[1]) and how2 == mode
    assert content == MSG


def test_any_accepts_both_versions_and_the_blocking_client() -> None:
    seen = Seen()

    def blocking(port: int, mode: str, src: tuple[str, int]) -> None:
        with smtpcore.SMTPClient("127.0.0.1", port, proxy=mode, proxy_source=src) as c:
            c.send("a@example.org", ["b@example.org"], MSG)

    async def main() -> None:
        async with running_server(seen, proxy_protocol="any") as port:
            for mode, src in (("v1", ("198.51.100.7", 1000)), ("v2", ("203.0.113.9", 2000))):
                # The blocking client runs in a thread while the server runs on this loop.
                await asyncio.to_thread(blocking, port, mode, src)

    run(main())
    assert [g[0] for g in seen.got] == [("198.51.100.7", 1000), ("203.0.113.9", 2000)]
    assert [g[2] for g in seen.got] == ["v1", "v2"]


def test_no_header_or_wrong_version_gets_no_greeting() -> None:
    seen = Seen()

    async def main() -> tuple[bytes, bytes, bytes]:
        async with running_server(seen, sync_policy=OFF, proxy_protocol="v2") as port:
            plain = await raw_session(port, b"EHLO x.example\r\n", [b"QUIT\r\n"])
            v1 = await raw_session(port, b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n",
                                   [b"EHLO x.example\r\n"])
            ok = await raw_session(port, v2_header("192.0.2.1", 5, "192.0.2.2", 25),
                                   [b"EHLO x.example\r\n", b"QUIT\r\n"])
            return plain, v1, ok

    plain, v1, ok = run(main())
    assert plain == b"" and v1 == b""
    assert ok.startswith(b"220 ") and b"\r\n221 " in ok
    assert seen.got == []


def test_local_header_keeps_the_socket_peer() -> None:
    seen = Seen()

    async def main() -> bytes:
        async with running_server(seen, sync_policy=OFF, proxy_protocol="v2") as port:
            local = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20, 0x00, 0, 0])
            return await raw_session(port, local, [
                b"EHLO x.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
                b"DATA\r\n", MSG + b".\r\nQUIT\r\n"])

    out = run(main())
    assert b"\r\n250 " in out and b"\r\n221 " in out
    ((peer, proxy_peer, how, *_),) = seen.got
    assert peer[0] == "127.0.0.1" and proxy_peer is None and how == "v2"


def smtplib_xclient(port: int, attrs: str) -> tuple[int, bytes]:
    """XCLIENT played by smtplib (the proxy's part), then a message; returns its reply."""
    import smtplib
    with smtplib.SMTP("127.0.0.1", port, local_hostname="proxy.example.org",
                      timeout=10) as s:
        s.ehlo()
        assert "xclient" in s.esmtp_features
        code, text = s.docmd("XCLIENT", attrs)
        if code == 220:
            s.ehlo_resp = s.helo_resp = None
            s.ehlo("client.example.org")
            s.sendmail("a@example.org", ["b@example.org"], MSG)
        return code, text


def test_xclient_from_allowed_network(server_tls: Any) -> None:
    seen = Seen()

    async def main() -> list[tuple[int, bytes]]:
        out = []
        async with running_server(seen, xclient_from=["10.0.0.0/8", "127.0.0.1"]) as port:
            out.append(await asyncio.to_thread(
                smtplib_xclient, port, "ADDR=192.0.2.9 PORT=2525 LOGIN=alice NAME=[UNAVAILABLE]"))
            # ADDR only (what nginx sends): no port.
            out.append(await asyncio.to_thread(smtplib_xclient, port, "ADDR=IPV6:2001:db8::5"))
            out.append(await asyncio.to_thread(smtplib_xclient, port, "BOGUS=1"))
        # The stream runner (a TLS context, STARTTLS not used) does the same.
        async with running_server(seen, xclient_from="127.0.0.1",
                                  tls_context=server_tls) as port:
            out.append(await asyncio.to_thread(smtplib_xclient, port, "ADDR=198.51.100.1"))
        return out

    replies = run(main())
    assert [c for c, _ in replies] == [220, 220, 501, 220]
    (p1, pp1, how1, helo1, auth1, content), (p2, pp2, how2, *_), (p3, *_) = seen.got
    assert p1 == ("192.0.2.9", 2525) and how1 == "xclient" and auth1 == "alice"
    assert helo1 == "client.example.org"  # the EHLO after the new 220
    assert pp1[0] == "127.0.0.1" and content == MSG
    assert p2 == ("2001:db8::5", None) and how2 == "xclient" and pp2[0] == "127.0.0.1"
    assert p3 == ("198.51.100.1", None)


def test_xclient_not_offered_outside_the_list() -> None:
    seen = Seen()

    async def main() -> None:
        async with running_server(seen, sync_policy=OFF, xclient_from="192.0.2.0/24") as port:
            with pytest.raises(smtpcore.SMTPClientError, match="does not offer XCLIENT"):
                await aio.send_message("127.0.0.1", port, _msg(), xclient={"ADDR": "192.0.2.9"})
            out = await raw_session(port, b"EHLO x.example\r\n",
                                    [b"XCLIENT ADDR=192.0.2.9\r\n", b"QUIT\r\n"])
            assert b"XCLIENT" not in out.split(b"\r\n550")[0]
            assert b"\r\n550 5.7.0" in out

    run(main())
    assert seen.got == []


def test_options_are_checked() -> None:
    async def main() -> None:
        with pytest.raises(ValueError):
            await aio.serve(Seen(), "127.0.0.1", 0, proxy_protocol="v3")
        with pytest.raises(ValueError):
            await aio.serve(Seen(), "127.0.0.1", 0, xclient_from=["not-an-address"])

    run(main())
    with pytest.raises(ValueError):
        aio.SMTPClient("127.0.0.1", 25, proxy="any")
    with pytest.raises(ValueError):
        smtpcore.SMTPClient("127.0.0.1", 25, proxy="v2", implicit_tls=True)


def test_peer_allowed() -> None:
    nets = _proxy.parse_networks("127.0.0.1,10.0.0.0/8,[fd00::]/8")
    assert _proxy.peer_allowed(("127.0.0.1", 5), nets)
    assert _proxy.peer_allowed(("10.200.1.1", 5), nets)
    assert _proxy.peer_allowed(("::ffff:10.1.2.3", 5, 0, 0), nets)  # dual-stack listener
    assert _proxy.peer_allowed(("fd12::1", 5, 0, 0), nets)
    assert not _proxy.peer_allowed(("127.0.0.2", 5), nets)
    assert not _proxy.peer_allowed(("fe80::1%eth0", 5, 0, 2), nets)
    assert not _proxy.peer_allowed(("127.0.0.1", 5), ())


def _msg() -> Any:
    import email.message
    m = email.message.EmailMessage()
    m["From"] = "a@example.org"
    m["To"] = "b@example.org"
    m["Subject"] = "proxy"
    m.set_content("hello\n")
    return m
