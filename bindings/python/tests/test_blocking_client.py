# SPDX-License-Identifier: MIT
"""smtpcore.SMTPClient / send_message_sync (blocking, no asyncio) against the smtpcore
server in a thread and against aiosmtpd: per-recipient results, refusals, several
messages per connection, STARTTLS + AUTH, pipelining of the envelope."""
import email.message
import socket
import threading

import pytest

import smtpcore
import smtpcore.aio as aio

from conftest import Collector


def make_message(to="b@example.com, c@example.com", body="Hello.\n.\n..two dots\n"):
    msg = email.message.EmailMessage()
    msg["From"] = "Alice <a@example.com>"
    msg["To"] = to
    msg["Subject"] = "smtpcore blocking test"
    msg.set_content(body)
    return msg


@pytest.fixture
def collector():
    return Collector(refuse_rcpt=("nobody@example.com",), credentials={"alice": "s3cret"})


def test_send_message_sync_byte_identical_and_bcc_hidden(collector):
    with aio.Controller(collector) as ctl:
        msg = make_message()
        msg["Bcc"] = "hidden@example.com"
        result = smtpcore.send_message_sync(ctl.host, ctl.port, msg, timeout=30)
    assert isinstance(result, smtpcore.SendResult)
    assert result.ok and result.refused == {}
    assert result.accepted == ["b@example.com", "c@example.com", "hidden@example.com"]
    assert result.mail_reply.code == 250 and result.reply.code == 250
    (env,) = collector.messages
    assert env.mail_from == "a@example.com"
    assert env.content == aio.client.flatten_message(msg)
    assert b"hidden@example.com" not in env.content


def test_refused_recipient_and_all_refused(collector):
    with aio.Controller(collector) as ctl:
        with smtpcore.SMTPClient(ctl.host, ctl.port, timeout=30) as client:
            result = client.send_message(make_message("b@example.com, nobody@example.com"))
            assert result.accepted == ["b@example.com"]
            refused = result.refused["nobody@example.com"]
            assert isinstance(refused, smtpcore.Reply)
            assert (refused.code, refused.enhanced) == (550, "5.1.1")
            with pytest.raises(smtpcore.SendError) as info:
                client.send("a@example.com", ["nobody@example.com"], b"x\r\n")
            assert info.value.result.refused["nobody@example.com"].code == 550
            # The connection is still usable after a refused transaction.
            assert client.send("a@example.com", ["c@example.com"], b"y\n").ok
    assert [m.rcpt_tos for m in collector.messages] == [["b@example.com"], ["c@example.com"]]
    assert collector.messages[1].content == b"y\r\n"


def test_many_messages_noop_rset_and_dot_stuffing(collector):
    body = b"line\n.\n..two\n.leading dot\r\nend"
    with aio.Controller(collector) as ctl:
        with smtpcore.SMTPClient(ctl.host, ctl.port, helo_name="client.example.com",
                                 timeout=30) as client:
            for i in range(50):
                client.send("", ["b@example.com", "c@example.com"], body + b" %d" % i)
            assert client.noop().code == 250
            assert client.rset().code == 250
    assert len(collector.messages) == 50
    assert collector.messages[7].content.startswith(b"line\r\n.\r\n..two\r\n.leading dot\r\nend 7")
    assert collector.messages[0].mail_from == ""


def test_starttls_and_auth(server_tls, client_tls, collector):
    with aio.Controller(collector, tls_context=server_tls) as ctl:
        result = smtpcore.send_message_sync(
            ctl.host, ctl.port, make_message(), starttls=True, tls_context=client_tls,
            server_hostname="localhost", username="alice", password="s3cret", timeout=30)
    assert result.ok
    assert collector.sessions == [(True, "alice")]


def test_bad_password_raises(server_tls, client_tls, collector):
    with aio.Controller(collector, tls_context=server_tls) as ctl:
        with pytest.raises(smtpcore.SMTPClientError):
            smtpcore.send_message_sync(
                ctl.host, ctl.port, make_message(), starttls=True, tls_context=client_tls,
                server_hostname="localhost", username="alice", password="wrong", timeout=30)
    assert collector.messages == []


def test_connection_refused_raises_oserror():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        smtpcore.send_message_sync("127.0.0.1", port, make_message(), timeout=5)


def test_envelope_is_pipelined_in_one_write():
    """MAIL, every RCPT and DATA reach the server in one segment, the body and its
    final dot in the next: two round trips per message (smtplib needs 3 + one per RCPT)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(30)
    port = listener.getsockname()[1]
    reads: list[bytes] = []

    def serve_one():
        conn, _ = listener.accept()
        conn.settimeout(30)
        with conn:
            conn.sendall(b"220 test ESMTP\r\n")
            script = [b"250-test\r\n250 PIPELINING\r\n", b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n",
                      b"250 queued\r\n", b"221 bye\r\n"]
            for answer in script:
                data = b""
                while not data.endswith(b"\r\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                reads.append(data)
                conn.sendall(answer)

    t = threading.Thread(target=serve_one, daemon=True)
    t.start()
    try:
        with smtpcore.SMTPClient("127.0.0.1", port, helo_name="c.example.com",
                                 timeout=30) as client:
            result = client.send("a@example.com", ["b@example.com", "c@example.com"], b"hi\n")
    finally:
        t.join(30)
        listener.close()
    assert result.ok and result.accepted == ["b@example.com", "c@example.com"]
    assert reads[1] == (b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                        b"RCPT TO:<c@example.com>\r\nDATA\r\n")
    assert reads[2] == b"hi\r\n.\r\n"
