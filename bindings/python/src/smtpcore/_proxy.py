# SPDX-License-Identifier: MIT
"""Behind a proxy: option parsing and the client's identity, for the high-level server
(``serve(proxy_protocol=..., xclient_from=...)``) and clients (``proxy=``, ``xclient=``).

The engine reads and checks PROXY headers and XCLIENT commands; this module only decides
who may send XCLIENT (from the socket's peer address, which only the host knows) and
turns what the engine read into ``session.peer`` / ``session.proxy_peer``.
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable, Mapping, Union

from .enums import ErrorCode, ProxyCommand, ProxyFamily, ProxyMode, XclientState
from .errors import SMTPClientError, SMTPCoreError

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_MODES = {"v1": ProxyMode.V1, "v2": ProxyMode.V2, "any": ProxyMode.ANY}


def proxy_mode(value: Any, *, client: bool = False) -> ProxyMode | None:
    """``None``/``"off"``, ``"v1"``, ``"v2"``, ``"any"`` (servers only) or a ProxyMode."""
    if value is None or value is False or value == "off":
        return None
    if isinstance(value, ProxyMode):
        mode = value
    elif isinstance(value, str) and value.lower() in _MODES:
        mode = _MODES[value.lower()]
    else:
        choices = "'v1' or 'v2'" if client else "'v1', 'v2' or 'any'"
        raise ValueError(f"proxy protocol must be {choices}, not {value!r}")
    if mode == ProxyMode.OFF:
        return None
    if client and mode == ProxyMode.ANY:
        raise ValueError("a client writes one version: 'v1' or 'v2'")
    return mode


def parse_networks(items: Iterable[str] | str | None) -> tuple[Network, ...]:
    """``["127.0.0.1", "10.0.0.0/8", "::1"]`` (or one comma-separated string) as
    networks; an address is a single host. Raises ValueError on anything else."""
    if items is None:
        return ()
    if isinstance(items, str):
        items = [p for p in items.split(",")]
    nets = []
    for item in items:
        text = str(item).strip()
        if text.startswith("[") and "]" in text:
            text = text[1:].replace("]", "", 1)
        nets.append(ipaddress.ip_network(text, strict=False))
    return tuple(nets)


def peer_allowed(peer: Any, nets: tuple[Network, ...]) -> bool:
    """Whether a socket peer (``getpeername()`` tuple) is inside one of ``nets``; an
    IPv4-mapped IPv6 peer counts as its IPv4 address."""
    if not nets or not isinstance(peer, tuple) or not peer:
        return False
    try:
        addr = ipaddress.ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr.version == n.version and addr in n for n in nets)


def client_config(mode: ProxyMode | None, source: tuple[str, int] | None, local: Any,
                  peer: Any) -> dict[str, Any]:
    """ClientConnection keywords for a PROXY header naming ``source`` (default: the
    connection's own end, as HAProxy names its client) and the server's address."""
    if mode is None:
        return {}
    if not isinstance(local, tuple) or not isinstance(peer, tuple):
        raise ValueError("a PROXY header needs a TCP connection")
    src = source if source is not None else (str(local[0]), int(local[1]))
    return {"proxy_protocol": mode, "proxy_src": (str(src[0]), int(src[1])),
            "proxy_dst": (str(peer[0]), int(peer[1]))}


def from_header(session: Any, header: Any) -> None:
    """A PROXY header that names a client makes it ``session.peer``; the socket's peer
    (the proxy) moves to ``session.proxy_peer``. LOCAL headers (health checks) and
    headers without addresses leave the socket's peer."""
    if header is None:
        return
    session.proxy = f"v{header.version}"
    if header.command != ProxyCommand.PROXY or header.family not in (ProxyFamily.INET,
                                                                     ProxyFamily.INET6):
        return
    if session.proxy_peer is None:
        session.proxy_peer = session.peer
    session.peer = (header.src_addr, header.src_port)


def from_xclient(session: Any, attrs: Mapping[str, Any]) -> None:
    """XCLIENT ADDR/PORT make ``session.peer`` (``(addr, None)`` when only ADDR came,
    since the old port was the proxy's); the proxy stays in ``session.proxy_peer``. The
    session starts over: HELO and AUTH are forgotten, or set from HELO and LOGIN."""
    if session.proxy_peer is None:
        session.proxy_peer = session.peer
    session.proxy = "xclient"

    def value(name: str) -> str | None:
        a = attrs.get(name)
        return a.value if a is not None and a.state == XclientState.VALUE else None

    addr, port = attrs.get("ADDR"), attrs.get("PORT")
    if addr is not None or port is not None:
        old = session.peer if isinstance(session.peer, tuple) else (None, None)
        a = value("ADDR") if addr is not None else old[0]
        p = value("PORT") if port is not None else (None if addr is not None else old[1])
        session.peer = (a, int(p) if p is not None else None)
    session.host_name = value("HELO")
    session.esmtp = False
    session.authenticated = value("LOGIN")


def send_xclient(conn: Any, attrs: Mapping[str, str]) -> None:
    """The client's XCLIENT, sent at the first Ready; a server that does not offer it is
    a refusal (SMTPClientError), never a silent send under our own name."""
    try:
        conn.xclient(dict(attrs))
    except SMTPCoreError as exc:
        if exc.code == ErrorCode.UNSUPPORTED:
            raise SMTPClientError("the server does not offer XCLIENT") from exc
        raise


def xclient_refused(reply: Any) -> Exception:
    return SMTPClientError("XCLIENT refused", reply)


def check_client_options(proxy: Any, xclient: Mapping[str, str] | None,
                         implicit_tls: bool) -> ProxyMode | None:
    mode = proxy_mode(proxy, client=True)
    if mode is not None and implicit_tls:
        raise ValueError("a PROXY header goes before TLS: proxy= cannot be used with "
                         "implicit_tls")
    if xclient is not None and not isinstance(xclient, Mapping):
        raise TypeError("xclient must map attribute names to values")
    return mode
