# SPDX-License-Identifier: MIT
"""Python's smtplib (a real, independent client) -> smtpcore.aio server."""
import asyncio
import smtplib

import pytest

import smtpcore
import smtpcore.aio

from conftest import Collector, run, running_server

MESSAGE = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: smtplib interop\r\n\r\n"
           b".starts with a dot\r\n..two\r\n.\r\nlast line\r\n")


def test_smtplib_sendmail_several_recipients_byte_identical():
    handler = Collector(refuse_rcpt=("nobody@example.com",))

    def client(port):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("client.example.com")
            assert s.has_extn("pipelining") and s.has_extn("8bitmime")
            refused = s.sendmail("a@example.com", ["b@example.com", "nobody@example.com",
                                                   "c@example.com"], MESSAGE)
            return refused

    async def main():
        async with running_server(handler) as port:
            return await asyncio.to_thread(client, port)

    refused = run(main())
    assert refused == {"nobody@example.com": (550, b"5.1.1 No such user here")}
    (env,) = handler.messages
    assert env.content == MESSAGE
    assert env.rcpt_tos == ["b@example.com", "c@example.com"]
    assert env.mail_params.size == len(MESSAGE)


def test_smtplib_all_refused_raises_on_client():
    handler = Collector(refuse_rcpt=("x@example.com",))

    def client(port):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                s.sendmail("a@example.com", ["x@example.com"], MESSAGE)
            s.noop()

    async def main():
        async with running_server(handler) as port:
            await asyncio.to_thread(client, port)

    run(main())
    assert handler.messages == []


@pytest.mark.parametrize("mechs", [smtpcore.AuthMech.PLAIN | smtpcore.AuthMech.LOGIN,
                                   smtpcore.AuthMech.LOGIN])
def test_smtplib_starttls_login(server_tls, client_tls, mechs):
    handler = Collector(credentials={"alice": "s3cret pass"})

    def client(port):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo("client.example.com")
            assert s.has_extn("starttls") and not s.has_extn("auth")  # no AUTH in clear
            s.starttls(context=client_tls)
            s.ehlo("client.example.com")
            assert s.has_extn("auth")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s.login("alice", "wrong")
            s.login("alice", "s3cret pass")
            s.sendmail("a@example.com", ["b@example.com"], MESSAGE)
            # several messages on one connection
            s.sendmail("a@example.com", ["c@example.com"], MESSAGE)

    async def main():
        async with running_server(handler, tls_context=server_tls, auth_mechs=mechs) as port:
            await asyncio.to_thread(client, port)

    run(main())
    assert [m.content for m in handler.messages] == [MESSAGE, MESSAGE]
    assert handler.sessions == [(True, "alice"), (True, "alice")]


def test_smtplib_send_message_smtputf8():
    import email.message
    handler = Collector()
    msg = email.message.EmailMessage()
    msg["From"] = "andré@exämple.org"
    msg["To"] = "b@example.com"
    msg["Subject"] = "ünïcode"
    msg.set_content("Grüße\n")

    def client(port):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.send_message(msg)

    async def main():
        async with running_server(handler) as port:
            await asyncio.to_thread(client, port)

    run(main())
    (env,) = handler.messages
    assert env.mail_from == "andré@exämple.org" and env.mail_params.smtputf8
    assert "Grüße".encode() in env.content or b"R3LDn2Ug" in env.content or b"=C3=BC" in env.content


def test_smtplib_vrfy_help_noop_rset():
    def client(port):
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            assert s.noop()[0] == 250
            assert s.rset()[0] == 250
            assert s.verify("someone")[0] == 252
            assert s.help()  # 214 text

    async def main():
        async with running_server(Collector()) as port:
            await asyncio.to_thread(client, port)

    run(main())


def test_controller_for_synchronous_code():
    got = []
    with smtpcore.aio.Controller(got.append) as ctl:
        assert ctl.port > 0
        with smtplib.SMTP(ctl.host, ctl.port, timeout=30) as s:
            s.sendmail("a@example.com", ["b@example.com"], MESSAGE)
        with smtplib.SMTP(ctl.host, ctl.port, timeout=30) as s:
            s.sendmail("a@example.com", ["c@example.com"], MESSAGE)
    assert [e.content for e in got] == [MESSAGE, MESSAGE]
    with pytest.raises(OSError):
        smtplib.SMTP(ctl.host, ctl.port, timeout=5)  # stopped: nothing listens any more


def test_controller_reports_startup_errors():
    with smtpcore.aio.Controller(lambda e: None) as ctl:
        with pytest.raises(OSError):
            smtpcore.aio.Controller(lambda e: None, port=ctl.port).start()
