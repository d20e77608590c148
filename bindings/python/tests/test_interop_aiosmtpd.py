# SPDX-License-Identifier: MIT
"""smtpcore.aio client -> aiosmtpd (a real, independent server), incl. STARTTLS and AUTH."""
import email.message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import smtpcore.aio as aio

from conftest import free_port, run


class Recorder:
    def __init__(self):
        self.envelopes = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 Unknown user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos),
                               envelope.original_content or envelope.content,
                               session.ssl is not None,
                               getattr(session, "auth_data", None)))
        return "250 Message accepted for delivery"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"bob" \
        and auth_data.password == b"pw"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def aiosmtpd_server(request):
    recorder = Recorder()
    kwargs = getattr(request, "param", {})
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(),
                            server_hostname="localhost", **kwargs)
    controller.start()
    yield controller, recorder
    controller.stop()


def make_message(to):
    msg = email.message.EmailMessage()
    msg["From"] = "a@example.com"
    msg["To"] = to
    msg["Subject"] = "to aiosmtpd"
    msg.set_content("line one\n.\n.. two dots\nlast\n")
    return msg


def test_send_several_recipients_byte_identical(aiosmtpd_server):
    controller, rec = aiosmtpd_server
    msg = make_message("b@example.com, nobody@example.com, c@example.com")
    result = run(aio.send_message("127.0.0.1", controller.port, msg, starttls=False))
    assert result.accepted == ["b@example.com", "c@example.com"]
    assert result.refused["nobody@example.com"].code == 550
    ((mail_from, rcpts, content, _, _),) = rec.envelopes
    assert mail_from == "a@example.com" and rcpts == ["b@example.com", "c@example.com"]
    assert content == aio.client.flatten_message(msg)


def test_several_messages_one_connection(aiosmtpd_server):
    controller, rec = aiosmtpd_server

    async def main():
        async with aio.SMTPClient("127.0.0.1", controller.port, starttls=False) as c:
            for i in range(10):
                await c.send("a@example.com", [f"r{i}@example.com"],
                             b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i))

    run(main())
    assert [e[2] for e in rec.envelopes] == [b"Subject: %d\r\n\r\nbody %d\r\n" % (i, i)
                                             for i in range(10)]


def test_starttls_and_auth_against_aiosmtpd(server_tls, client_tls):
    rec = Recorder()
    controller = Controller(rec, hostname="127.0.0.1", port=free_port(),
                            server_hostname="localhost", tls_context=server_tls,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True)
    controller.start()
    try:
        msg = make_message("b@example.com")
        result = run(aio.send_message("127.0.0.1", controller.port, msg, starttls=True,
                                      tls_context=client_tls, server_hostname="localhost",
                                      username="bob", password="pw"))
        assert result.ok
        with pytest.raises(aio.SMTPClientError):
            run(aio.send_message("127.0.0.1", controller.port, msg, starttls=True,
                                 tls_context=client_tls, server_hostname="localhost",
                                 username="bob", password="nope"))
    finally:
        controller.stop()
    ((_, _, content, tls, _),) = rec.envelopes
    assert tls and content == aio.client.flatten_message(msg)


class CustomMechanism(Recorder):
    """aiosmtpd runs a made-up SASL mechanism X-ECHO with two challenges."""

    async def auth_X__ECHO(self, server, args):  # aiosmtpd maps "__" to "-"
        first = await server.challenge_auth("nonce-1")
        second = await server.challenge_auth(b"nonce-2")
        ok = first == b"nonce-1:zed" and second == b"nonce-2:zed"
        return AuthResult(success=ok, handled=False)


def test_host_run_sasl_mechanism_through_auth_callback(server_tls, client_tls):
    rec = CustomMechanism()
    controller = Controller(rec, hostname="127.0.0.1", port=free_port(),
                            server_hostname="localhost", tls_context=server_tls,
                            require_starttls=True, auth_require_tls=True)
    controller.start()
    seen = []

    async def respond(challenge):
        seen.append(challenge)
        return challenge + b":zed"

    try:
        result = run(aio.send_message("127.0.0.1", controller.port, make_message("b@example.com"),
                                      starttls=True, tls_context=client_tls,
                                      server_hostname="localhost", username="zed",
                                      password="unused", auth_mechanism="X-ECHO",
                                      auth_callback=respond))
        with pytest.raises(aio.SMTPClientError):  # no callback: the exchange is cancelled
            run(aio.send_message("127.0.0.1", controller.port, make_message("b@example.com"),
                                 starttls=True, tls_context=client_tls,
                                 server_hostname="localhost", username="zed",
                                 password="unused", auth_mechanism="X-ECHO"))
    finally:
        controller.stop()
    assert result.ok
    assert seen == [b"nonce-1", b"nonce-2"]
