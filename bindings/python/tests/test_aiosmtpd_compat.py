# SPDX-License-Identifier: MIT
"""Porting from aiosmtpd (issue 17): an unchanged aiosmtpd handler runs on smtpcore, the
lower-case-hook trap is caught at serve(), recipients are never doubled; auth_required=,
EHLO keyword editing."""
from __future__ import annotations

import asyncio
import smtplib
import ssl
from typing import Any

import aiosmtpd.controller
import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

import smtpcore.aio
from conftest import free_port, running_server

MSG = b"Subject: t\r\n\r\nhello\r\n.dot\r\n"


class AiosmtpdStyle:
    """Written for aiosmtpd, straight from its documentation's patterns."""

    def __init__(self) -> None:
        self.got: list[tuple[Any, ...]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if not address.endswith("@example.com"):
            return "550 5.7.1 not relaying to that domain"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.got.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                         envelope.mail_options, session.host_name, session.peer[0]))
        return "250 Message accepted for delivery"

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return responses[:-1] + ["250-XFOO bar", responses[-1]]


def converse(port: int, **login: str) -> tuple[Any, ...]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.example.org")
        features = dict(s.esmtp_features)
        if login:
            s.login(login["user"], login["password"])
        s.mail("a@example.org", ["SIZE=%d" % len(MSG)])
        r1 = s.rcpt("b@example.com")
        r2 = s.rcpt("c@other.org")
        data = s.data(MSG)
    return features, r1, r2, data


@pytest.mark.parametrize("controller", [aiosmtpd.controller.Controller, smtpcore.aio.Controller],
                         ids=["aiosmtpd", "smtpcore"])
def test_unchanged_aiosmtpd_handler(controller: Any) -> None:
    """The same handler object gives the same results on aiosmtpd and on smtpcore, with
    the same Controller arguments (only the import differs)."""
    handler = AiosmtpdStyle()
    ctl = controller(handler, hostname="127.0.0.1", port=free_port(),
                     server_hostname="mx.example.net")
    ctl.start()
    try:
        features, r1, r2, data = converse(ctl.port)
    finally:
        ctl.stop()
    assert features.get("xfoo") == "bar" and "size" in features
    assert r1[0] == 250 and r2 == (550, b"5.7.1 not relaying to that domain")
    # smtpcore adds the enhanced code the handler left out (it announces
    # ENHANCEDSTATUSCODES, RFC 2034); the text is the handler's.
    assert data[0] == 250 and data[1].endswith(b"Message accepted for delivery")
    assert len(handler.got) == 1
    mail_from, rcpts, content, options, helo, peer = handler.got[0]
    assert (mail_from, rcpts, helo, peer) == ("a@example.org", ["b@example.com"],
                                              "client.example.org", "127.0.0.1")
    assert options == ["SIZE=%d" % len(MSG)]
    assert content == b"Subject: t\r\n\r\nhello\r\n.dot\r\n"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("controller", [aiosmtpd.controller.Controller, smtpcore.aio.Controller],
                         ids=["aiosmtpd", "smtpcore"])
def test_aiosmtpd_authenticator_and_auth_required(controller: Any) -> None:
    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bob" \
            and auth_data.password == b"pw"
        return AuthResult(success=ok, handled=False)

    handler = AiosmtpdStyle()
    ctl = controller(handler, hostname="127.0.0.1", port=free_port(),
                     server_hostname="mx.example.net", authenticator=authenticator,
                     auth_required=True, auth_require_tls=False)
    ctl.start()
    try:
        with smtplib.SMTP("127.0.0.1", ctl.port, timeout=30) as s:
            s.ehlo("client.example.org")
            code, _ = s.mail("a@example.org")
            assert code == 530
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login("bob", "wrong")
        _, r1, _, data = converse(ctl.port, user="bob", password="pw")
    finally:
        ctl.stop()
    assert r1[0] == 250 and data[0] == 250 and len(handler.got) == 1


def test_lower_case_aiosmtpd_hook_is_refused_at_serve() -> None:
    class Ported:
        async def handle_data(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    async def go() -> None:
        with pytest.raises(TypeError, match="handle_message"):
            await smtpcore.aio.serve(Ported(), "127.0.0.1", 0)

        class PortedSub(smtpcore.aio.Handler):
            async def handle_rcpt(self, server: Any, session: Any, envelope: Any,
                                  address: str, rcpt_options: Any) -> str:  # type: ignore[override]
                return "250 OK"
        with pytest.raises(TypeError, match="handle_rcpt"):
            await smtpcore.aio.serve(PortedSub(), "127.0.0.1", 0)
    asyncio.run(asyncio.wait_for(go(), 30))


class Appender(smtpcore.aio.Handler):
    """A native handler that appends the recipient itself, as an aiosmtpd port would."""

    def __init__(self) -> None:
        self.rcpts: list[list[str]] = []

    async def handle_rcpt(self, session: Any, envelope: Any, address: str, params: Any) -> Any:
        envelope.rcpt_tos.append(address)
        return None

    async def handle_message(self, session: Any, envelope: Any) -> Any:
        self.rcpts.append(list(envelope.rcpt_tos))
        assert len(envelope.rcpt_params) == len(envelope.rcpt_tos)
        return None


@pytest.mark.parametrize("tls", [False, True], ids=["fast-path", "stream-path"])
def test_recipient_appended_by_the_hook_is_not_doubled(tls: bool,
                                                       server_tls: ssl.SSLContext) -> None:
    handler = Appender()

    async def go() -> None:
        kw = {"tls_context": server_tls} if tls else {}
        async with running_server(handler, **kw) as port:
            await asyncio.to_thread(_sendmail, port)
    asyncio.run(asyncio.wait_for(go(), 60))
    assert handler.rcpts == [["b@example.com", "c@example.com"]]


def _sendmail(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.sendmail("a@example.org", ["b@example.com", "c@example.com"], MSG)


class Keywords(smtpcore.aio.Handler):
    def ehlo_keywords(self, session: Any, keywords: list[str]) -> list[str]:
        return [k for k in keywords if k != "CHUNKING"] + ["XCLIENT NAME ADDR"]

    async def handle_auth(self, session: Any, mechanism: Any, username: str,
                          password: str) -> bool:
        return (username, password) == ("bob", "pw")


def test_native_ehlo_keywords_and_auth_required() -> None:
    async def go() -> None:
        async with running_server(Keywords(), allow_plaintext_auth=True,
                                  auth_required=True, hostname="mx.example.net") as port:
            await asyncio.to_thread(check, port)

    def check(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            code, text = s.ehlo("client.example.org")
            assert code == 250
            assert text.splitlines()[0] == b"mx.example.net Hello client.example.org"
            assert "chunking" not in s.esmtp_features
            assert s.esmtp_features["xclient"] == "NAME ADDR"
            assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
            assert "pipelining" in s.esmtp_features
            assert s.mail("a@example.org") == (530, b"5.7.0 Authentication required")
            s.login("bob", "pw")
            assert s.mail("a@example.org")[0] == 250
    asyncio.run(asyncio.wait_for(go(), 60))


def test_auth_required_without_auth_is_a_configuration_error() -> None:
    async def go() -> None:
        with pytest.raises(ValueError, match="auth_required"):
            await smtpcore.aio.serve(smtpcore.aio.Handler(), "127.0.0.1", 0,
                                     auth_required=True)
    asyncio.run(asyncio.wait_for(go(), 30))


def test_ehlo_keywords_follow_the_session(server_tls: ssl.SSLContext,
                                          client_tls: ssl.SSLContext) -> None:
    """Before TLS: STARTTLS and no AUTH (not allowed in plaintext); after it: AUTH, no
    STARTTLS; the handler's keyword is added both times (stream path)."""
    seen: list[list[str]] = []

    class Recorder(Keywords):
        def ehlo_keywords(self, session: Any, keywords: list[str]) -> list[str]:
            seen.append(list(keywords))
            return super().ehlo_keywords(session, keywords)

    async def go() -> None:
        async with running_server(Recorder(), tls_context=server_tls) as port:
            await asyncio.to_thread(check, port)

    def check(port: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("client.example.org")
            assert "starttls" in s.esmtp_features and "auth" not in s.esmtp_features
            assert "xclient" in s.esmtp_features
            s.starttls(context=client_tls)
            s.ehlo("client.example.org")
            assert "starttls" not in s.esmtp_features and "xclient" in s.esmtp_features
            assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
    asyncio.run(asyncio.wait_for(go(), 60))
    assert "STARTTLS" in seen[0] and not any(k.startswith("AUTH") for k in seen[0])
    assert "STARTTLS" not in seen[1] and "AUTH PLAIN LOGIN" in seen[1]
