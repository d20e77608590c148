# SPDX-License-Identifier: MIT
"""Client exceptions: the class and message follow the reply that decided (issue 17),
the hierarchy fits smtplib's, and the blocking and asyncio clients raise the same."""
from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from typing import Any

import pytest

import smtpcore
from smtpcore import aio
from conftest import Collector, running_server
from scripted import ScriptedServer

GREETING = b"220 test ESMTP\r\n"


def send_blocking(server: ScriptedServer, rcpts: tuple[str, ...] = ("b@example.org",),
                  **kw: Any) -> Any:
    kw.setdefault("timeout", 10)
    with smtpcore.SMTPClient("127.0.0.1", server.port, **kw) as client:
        return client.send("a@example.org", list(rcpts), b"hi\r\n")


def send_aio(server: ScriptedServer, rcpts: tuple[str, ...] = ("b@example.org",),
             **kw: Any) -> Any:
    kw.setdefault("timeout", 10)

    async def go() -> Any:
        async with aio.SMTPClient("127.0.0.1", server.port, **kw) as client:
            return await client.send("a@example.org", list(rcpts), b"hi\r\n")
    return asyncio.run(asyncio.wait_for(go(), 60))


BOTH = pytest.mark.parametrize("send", [send_blocking, send_aio], ids=["blocking", "asyncio"])


@BOTH
def test_refused_recipient_is_quoted_not_the_data_reply(send: Any) -> None:
    script = {"RCPT": b"550 5.1.1 No such user\r\n",
              "DATA": b"554 5.5.1 Error: no valid recipients\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPRecipientsRefused) as ei:
        send(s)
    e = ei.value
    assert "550 5.1.1 No such user" in str(e) and "554" not in str(e)
    assert e.recipients == {"b@example.org": (550, b"5.1.1 No such user")}
    assert e.reply is not None and e.reply.code == 550
    # smtplib users' except clauses still match; SendError keeps the result.
    assert isinstance(e, smtplib.SMTPRecipientsRefused) and isinstance(e, smtplib.SMTPException)
    assert isinstance(e, OSError) and isinstance(e, smtpcore.SendError)
    assert e.result.recipients["b@example.org"] is not None


@BOTH
def test_deferred_recipient_decides_over_a_permanent_one(send: Any) -> None:
    script = {"RCPT": [b"450 4.2.0 try later\r\n", b"550 5.1.1 unknown\r\n"],
              "DATA": b"554 5.5.1 Error: no valid recipients\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPRecipientsRefused) as ei:
        send(s, ("b@example.org", "c@example.org"))
    e = ei.value
    assert "450 4.2.0 try later" in str(e) and "550 5.1.1 unknown" in str(e)
    assert e.reply is not None and e.reply.code == 450 and e.smtp_code == 450
    assert e.recipients == {"b@example.org": (450, b"4.2.0 try later"),
                            "c@example.org": (550, b"5.1.1 unknown")}


@BOTH
def test_refused_sender_is_quoted(send: Any) -> None:
    script = {"MAIL": b"550 5.7.1 sender blocked\r\n",
              "RCPT": b"503 5.5.1 Error: need MAIL command\r\n",
              "DATA": b"503 5.5.1 Error: need MAIL command\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPSenderRefused) as ei:
        send(s)
    e = ei.value
    assert "550 5.7.1 sender blocked" in str(e) and "503" not in str(e)
    assert isinstance(e, smtplib.SMTPSenderRefused)
    assert (e.smtp_code, e.smtp_error, e.sender) == (550, b"5.7.1 sender blocked",
                                                     "a@example.org")


@BOTH
def test_refused_message_quotes_the_whole_multiline_reply(send: Any) -> None:
    script = {".": b"550-5.7.1 first line\r\n550 5.7.1 Message rejected id=42\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPDataError) as ei:
        send(s)
    e = ei.value
    assert "first line" in str(e) and "Message rejected id=42" in str(e)
    assert isinstance(e, smtplib.SMTPDataError) and e.smtp_code == 550
    assert e.smtp_error == b"5.7.1 first line\n5.7.1 Message rejected id=42"


@BOTH
def test_accepted_multiline_final_reply_keeps_its_last_line(send: Any) -> None:
    script = {".": b"250- 0 byte chunk, total 169\r\n250 OK id=1abc-XY\r\n"}
    with ScriptedServer(script) as s:
        result = send(s)
    assert result.ok and result.reply.lines[-1] == "OK id=1abc-XY"
    assert "OK id=1abc-XY" in str(result.reply)


@BOTH
def test_greeting_refusal(send: Any) -> None:
    with ScriptedServer(greeting=b"554 5.7.1 go away\r\n") as s, \
            pytest.raises(smtpcore.SMTPConnectError) as ei:
        send(s)
    assert "554 5.7.1 go away" in str(ei.value)
    assert isinstance(ei.value, smtplib.SMTPConnectError) and ei.value.smtp_code == 554


@BOTH
def test_ehlo_and_helo_refused(send: Any) -> None:
    script = {"EHLO": b"550 5.7.1 not welcome\r\n", "HELO": b"550 5.7.1 not welcome\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPHeloError) as ei:
        send(s)
    assert "550 5.7.1 not welcome" in str(ei.value)
    assert isinstance(ei.value, smtplib.SMTPHeloError)


@BOTH
def test_silent_server_times_out_the_same_way(send: Any) -> None:
    with ScriptedServer(greeting=None) as s, pytest.raises(smtpcore.SMTPTimeoutError) as ei:
        send(s, timeout=0.5)
    assert str(ei.value) == "timed out waiting for the server"
    assert isinstance(ei.value, TimeoutError) and isinstance(ei.value, smtpcore.SMTPClientError)


@BOTH
def test_auth_failure_and_missing_auth(send: Any) -> None:
    script = {"EHLO": b"250-test\r\n250 AUTH PLAIN\r\n", "AUTH": b"535 5.7.8 bad credentials\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPAuthenticationError) as ei:
        send(s, username="u", password="p")
    assert "535 5.7.8 bad credentials" in str(ei.value)
    assert isinstance(ei.value, smtplib.SMTPAuthenticationError)
    with ScriptedServer() as s, pytest.raises(smtpcore.SMTPNotSupportedError) as ei2:
        send(s, username="u", password="p")
    assert "does not offer AUTH" in str(ei2.value) and "STARTTLS" in str(ei2.value)
    assert isinstance(ei2.value, smtplib.SMTPNotSupportedError)


@BOTH
def test_required_starttls_refused(send: Any) -> None:
    script = {"EHLO": b"250-test\r\n250 STARTTLS\r\n",
              "STARTTLS": b"454 4.7.0 TLS not available\r\n"}
    with ScriptedServer(script) as s, pytest.raises(smtpcore.SMTPNotSupportedError) as ei:
        send(s, starttls=True)
    assert "454 4.7.0 TLS not available" in str(ei.value)


@BOTH
def test_session_closed_during_the_transaction(send: Any) -> None:
    with ScriptedServer({"MAIL": b"421 4.3.2 shutting down\r\n"}) as s, \
            pytest.raises(smtpcore.SMTPSendAborted) as ei:
        send(s)
    assert "421 4.3.2 shutting down" in str(ei.value)
    assert ei.value.result.failure == smtpcore.Failure.TRANSIENT
    assert isinstance(ei.value, smtplib.SMTPServerDisconnected)
    assert isinstance(ei.value, smtpcore.SendError)


def test_send_many_results_say_why() -> None:
    """send_many raises nothing; each result's reason quotes its deciding reply."""
    script = {"RCPT": [b"550 5.1.1 No such user\r\n", b"250 2.1.5 Ok\r\n"],
              "DATA": [b"554 5.5.1 Error: no valid recipients\r\n", b"354 go ahead\r\n"]}
    with ScriptedServer(script) as s:
        with smtpcore.SMTPClient("127.0.0.1", s.port, timeout=10) as c:
            bad, good = c.send_many([("a@example.org", ["x@example.org"], b"1\r\n"),
                                     ("a@example.org", ["y@example.org"], b"2\r\n")])
    assert not bad.ok and bad.reason == \
        "the recipient was refused: <x@example.org> 550 5.1.1 No such user"
    # The engine reports the deciding reply itself, not the 554 DATA got.
    assert bad.reply is not None and bad.reply.code == 550
    assert good.ok and good.reason == ""


def test_certificate_failure_is_both_kinds(server_tls: ssl.SSLContext) -> None:
    """starttls=True verifies against the system store: a self-signed certificate fails
    with an error that is an SMTPClientError and an ssl.SSLCertVerificationError."""
    async def go() -> None:
        async with running_server(Collector(), tls_context=server_tls) as port:
            with pytest.raises(smtpcore.SMTPCertificateError) as ei:
                await aio.send_message("127.0.0.1", port, _msg(), starttls=True, timeout=10)
            check(ei.value)
            with pytest.raises(smtpcore.SMTPCertificateError) as ei:
                await asyncio.to_thread(smtpcore.send_message_sync, "127.0.0.1", port,
                                        _msg(), starttls=True, timeout=10)
            check(ei.value)

    def check(e: smtpcore.SMTPCertificateError) -> None:
        assert isinstance(e, ssl.SSLCertVerificationError) and isinstance(e, ssl.SSLError)
        assert isinstance(e, smtpcore.SMTPClientError) and isinstance(e, smtplib.SMTPException)
        assert "certificate verification failed" in str(e)
        assert e.verify_code != 0 and e.verify_message
        assert isinstance(e.__cause__, ssl.SSLCertVerificationError)
    asyncio.run(asyncio.wait_for(go(), 60))


def _msg() -> Any:
    import email.message
    m = email.message.EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.org", "b@example.org", "t"
    m.set_content("hi\n")
    return m


# ---------------------------------------------------------------- smtplib-like options

@BOTH
def test_default_helo_is_the_connections_local_address(send: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A host name without a dot is no EHLO name: the literal of the local address of
    this very connection is used (not a fixed 127.0.0.1)."""
    monkeypatch.setattr(socket, "getfqdn", lambda *a: "nodot")
    with ScriptedServer() as s:
        send(s, source_address=("127.0.0.2", 0))
    assert s.received[0] == b"EHLO [127.0.0.2]\r\n"
    assert s.peer_local is not None and s.peer_local[0] == "127.0.0.2"


@BOTH
def test_local_hostname_alias(send: Any) -> None:
    with ScriptedServer() as s:
        send(s, local_hostname="client.example.net")
    assert s.received[0] == b"EHLO client.example.net\r\n"


@BOTH
def test_debug_transcript_redacts_credentials(send: Any, caplog: pytest.LogCaptureFixture,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    script = {"EHLO": b"250-test\r\n250 AUTH PLAIN LOGIN\r\n", "AUTH": b"235 2.7.0 ok\r\n"}
    with caplog.at_level(logging.DEBUG, logger="smtpcore.client"), ScriptedServer(script) as s:
        send(s, username="user", password="secret-pw")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "C: MAIL FROM:<a@example.org>" in text and "S: 250 2.0.0 Ok: queued as 1" in text
    assert "C: AUTH PLAIN <redacted>" in text
    assert "AHVzZXIAc2VjcmV0LXB3" not in text  # base64 of "\0user\0secret-pw"
    # debuglevel=1 prints the same to stderr, as smtplib's set_debuglevel(1).
    caplog.clear()
    with ScriptedServer() as s:
        send(s, debuglevel=1)
    err = capsys.readouterr().err
    assert "C: RCPT TO:<b@example.org>" in err and "S: 220 test ESMTP" in err


# ---------------------------------------------------------------- 8-bit to a 7-bit server

def _send_8bit(send: Any, s: ScriptedServer, **kw: Any) -> Any:
    if send is send_blocking:
        with smtpcore.SMTPClient("127.0.0.1", s.port, timeout=10, **kw) as client:
            return client.send("a@example.org", ["b@example.org"], "caf\u00e9\r\n".encode())

    async def go() -> Any:
        async with aio.SMTPClient("127.0.0.1", s.port, timeout=10, **kw) as client:
            return await client.send("a@example.org", ["b@example.org"],
                                     "caf\u00e9\r\n".encode())
    return asyncio.run(asyncio.wait_for(go(), 60))


@BOTH
def test_8bit_body_to_a_server_without_8bitmime(send: Any) -> None:
    """RFC 6152: refused locally by default (nothing sent), sent as is on request."""
    seven_bit = {"EHLO": b"250-test\r\n250 PIPELINING\r\n"}
    with ScriptedServer(seven_bit) as s, pytest.raises(smtpcore.SendError) as ei:
        _send_8bit(send, s)
    assert "8BITMIME" in str(ei.value) and "allow_8bit=True" in str(ei.value)
    assert ei.value.result.failure == smtpcore.Failure.LOCAL
    assert not any(line.startswith(b"MAIL") for line in s.received)
    with ScriptedServer(seven_bit) as s, pytest.raises(smtpcore.SendError):
        with smtpcore.SMTPClient("127.0.0.1", s.port, timeout=10) as c:  # BODY=7BIT lies
            c.send("a@example.org", ["b@example.org"], b"\xff\r\n",
                   body=smtpcore.BodyType.SEVEN_BIT)
    assert not any(line.startswith(b"MAIL") for line in s.received)
    with ScriptedServer(seven_bit) as s:
        result = _send_8bit(send, s, allow_8bit=True)
    assert result.ok and "caf\u00e9\r\n".encode() in s.received
    assert b"MAIL FROM:<a@example.org>\r\n" in s.received  # no BODY= it could not declare
    with ScriptedServer() as s:  # 8BITMIME offered: declared
        assert _send_8bit(send, s).ok
    assert b"MAIL FROM:<a@example.org> BODY=8BITMIME\r\n" in s.received


@BOTH
def test_email_message_is_made_7bit_for_a_server_without_8bitmime(send: Any) -> None:
    import email.message
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "t"
    msg.set_content("caf\u00e9\n")  # the email package picks 8bit for this

    def go(s: ScriptedServer) -> Any:
        if send is send_blocking:
            with smtpcore.SMTPClient("127.0.0.1", s.port, timeout=10) as c:
                return c.send_message(msg), c.send_many([msg])

        async def run() -> Any:
            async with aio.SMTPClient("127.0.0.1", s.port, timeout=10) as c:
                return await c.send_message(msg), await c.send_many([msg])
        return asyncio.run(asyncio.wait_for(run(), 60))

    with ScriptedServer({"EHLO": b"250-test\r\n250 PIPELINING\r\n"}) as s:
        one, many = go(s)
    assert one.ok and many[0].ok
    assert all(line.isascii() for line in s.received)
    assert b"Content-Transfer-Encoding: base64\r\n" in s.received
    with ScriptedServer() as s:
        one, many = go(s)
    assert "caf\u00e9\r\n".encode() in s.received
