# SPDX-License-Identifier: MIT
"""PROXY protocol and XCLIENT through the sans-I/O classes (the engine does the work; these
check that the binding exposes it: events, header, TLVs, attributes, client header)."""
import socket
import struct

import pytest

import smtpcore
from smtpcore import server as sev

from test_server_connection import drive

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def tlv(t, v):
    return bytes([t]) + struct.pack(">H", len(v)) + v


def v2_inet(src, dst, sport, dport, tlvs=b"", cmd=1):
    addrs = (socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
             + struct.pack(">HH", sport, dport))
    body = addrs + tlvs
    return SIG + bytes([0x20 | cmd, 0x11]) + struct.pack(">H", len(body)) + body


def test_proxy_v2_header_and_tlvs():
    conn = smtpcore.ServerConnection(proxy_protocol=smtpcore.ProxyMode.V2)
    assert conn.proxy_header is None
    ssl = bytes([1]) + b"\0\0\0\0" + tlv(0x21, b"TLSv1.3") + tlv(0x22, b"client.example")
    hdr = v2_inet("192.0.2.1", "198.51.100.2", 4711, 25,
                  tlv(0x02, b"mx.example.com") + tlv(0x20, ssl))
    events, out = drive(conn, hdr)
    assert [type(e) for e in events] == [sev.Proxy, sev.Connect]
    assert out.startswith(b"220 ")
    h = conn.proxy_header
    assert (h.version, h.command, h.family) == (2, smtpcore.ProxyCommand.PROXY,
                                                smtpcore.ProxyFamily.INET)
    assert (h.src_addr, h.src_port, h.dst_addr, h.dst_port) == ("192.0.2.1", 4711,
                                                                "198.51.100.2", 25)
    assert h.tlvs[0] == (smtpcore.ProxyTlvType.AUTHORITY, b"mx.example.com")
    client, verify, subs = h.ssl
    assert client == smtpcore.ProxySslClient.SSL and verify == 0
    assert subs == ((0x21, b"TLSv1.3"), (0x22, b"client.example"))
    assert h.header_len == len(hdr)


def test_proxy_v1_line_and_early_bytes_kept():
    conn = smtpcore.ServerConnection(proxy_protocol=smtpcore.ProxyMode.ANY)
    events, out = drive(conn, b"PROXY TCP6 2001:db8::1 2001:db8::2 1025 25\r\nEHLO c.example\r\n")
    kinds = [type(e) for e in events]
    assert kinds[:2] == [sev.Proxy, sev.Connect]
    assert events[0].line == b"PROXY TCP6 2001:db8::1 2001:db8::2 1025 25"
    assert sev.Helo in kinds  # the early bytes were kept and served after the greeting
    assert conn.proxy_header.src_addr == "2001:db8::1"


@pytest.mark.parametrize("data,violation", [
    (b"EHLO c.example\r\n", smtpcore.Violation.PROXY_BAD_SIGNATURE),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", smtpcore.Violation.PROXY_BAD_ADDRESS),
    (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", smtpcore.Violation.PROXY_V1_SYNTAX),
])
def test_proxy_bad_header_closes_without_greeting(data, violation):
    conn = smtpcore.ServerConnection(proxy_protocol=smtpcore.ProxyMode.ANY)
    events, out = drive(conn, data)
    assert out == b""
    assert [type(e) for e in events] == [sev.ProtocolError, sev.Close]
    assert events[0].violation == violation and events[1].violation == violation
    assert conn.want_close and conn.proxy_header is None


def test_xclient_attributes_and_restart():
    conn = smtpcore.ServerConnection()
    conn.set_xclient_allowed(True)
    drive(conn)
    _, out = drive(conn, b"EHLO proxy.example\r\n")
    assert b"XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT" in out
    seen = []
    events, out = drive(conn, b"XCLIENT ADDR=IPV6:2001:db8::7 PORT=4711 HELO=a+20b "
                              b"NAME=[UNAVAILABLE]\r\n",
                        answer=lambda c, e: (seen.append(e), c.accept()))
    (x,) = seen
    assert isinstance(x, sev.Xclient)
    assert x.attrs["ADDR"].value == "2001:db8::7"
    assert x.attrs["PORT"] == sev.XclientAttr(smtpcore.XclientState.VALUE, "4711")
    assert x.attrs["HELO"].value == "a b"
    assert x.attrs["NAME"].state == smtpcore.XclientState.UNAVAILABLE
    assert "LOGIN" not in x.attrs
    assert out == b"220 localhost ESMTP smtpcore\r\n"


def test_xclient_not_allowed():
    conn = smtpcore.ServerConnection()
    drive(conn)
    events, out = drive(conn, b"XCLIENT ADDR=192.0.2.1\r\n")
    assert out.startswith(b"550 5.7.0")
    assert events[0].violation == smtpcore.Violation.XCLIENT_DENIED


def test_client_proxy_header_and_xclient_against_server():
    cli = smtpcore.ClientConnection("client.example.org", proxy_protocol=smtpcore.ProxyMode.V1,
                                    proxy_src=("192.0.2.1", 4711),
                                    proxy_dst=("198.51.100.2", 25))
    srv = smtpcore.ServerConnection(proxy_protocol=smtpcore.ProxyMode.V1, xclient_allowed=True)
    seen = []

    def pump():
        for _ in range(50):
            moved = False
            c2s = cli.data_to_send()
            if c2s:
                srv.receive_data(c2s)
                moved = True
            _, s2c = drive(srv, answer=lambda c, e: (seen.append(e), c.accept()))
            if s2c:
                cli.receive_data(s2c)
                moved = True
            while True:
                ev = cli.next_event()
                if ev is None:
                    break
                seen.append(ev)
            if not moved:
                return

    pump()
    assert srv.proxy_header.src_addr == "192.0.2.1"
    ready = [e for e in seen if e.type == smtpcore.ClientEventType.READY]
    assert ready and ready[-1].caps.extensions & smtpcore.Extension.XCLIENT
    cli.xclient({"ADDR": "203.0.113.5", "HELO": "real client"})
    pump()
    x = [e for e in seen if isinstance(e, sev.Xclient)]
    assert x and x[0].attrs["HELO"].value == "real client"
    kinds = [e.type for e in seen]
    assert smtpcore.ClientEventType.XCLIENT_RESULT in kinds
    assert kinds[-1] == smtpcore.ClientEventType.READY
