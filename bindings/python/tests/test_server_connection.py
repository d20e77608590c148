# SPDX-License-Identifier: MIT
"""ServerConnection driven by hand: events, answers, output, input that never gets lost."""
import pytest
from hypothesis import given, settings, strategies as st

import smtpcore
from smtpcore import server as sev


def drive(conn, data=b"", answer=None):
    """Feeds data, answers every event (accept by default), returns (events, output)."""
    if data:
        conn.receive_data(data)
    events = []
    out = bytearray()
    while True:
        ev = conn.next_event()
        if ev is None:
            chunk = conn.data_to_send()
            if not chunk:
                break
            out += chunk
            continue
        events.append(ev)
        if ev.answer_required:
            (answer or (lambda c, e: c.accept()))(conn, ev)
    return events, bytes(out)


TRANSACTION = (b"EHLO client.example.com\r\nMAIL FROM:<a@example.com> SIZE=42\r\n"
               b"RCPT TO:<b@example.com> NOTIFY=SUCCESS,FAILURE\r\nRCPT TO:<c@example.com>\r\n"
               b"DATA\r\n")
BODY = b"Subject: hi\r\n\r\n..leading dot\r\nline two\r\n"


def test_greeting_and_ehlo():
    conn = smtpcore.ServerConnection(hostname="mx.example.org", greeting_text="ready")
    events, out = drive(conn)
    assert [type(e) for e in events] == [sev.Connect]
    assert out == b"220 mx.example.org ready\r\n"
    events, out = drive(conn, b"EHLO client.example.com\r\n")
    (helo,) = events
    assert isinstance(helo, sev.Helo)
    assert helo.esmtp and helo.name == "client.example.com"
    assert helo.helo_class is smtpcore.HeloClass.FQDN
    assert helo.line == b"EHLO client.example.com"
    assert out.startswith(b"250-mx.example.org") and b"PIPELINING" in out


def test_full_transaction_events_and_body():
    conn = smtpcore.ServerConnection()
    drive(conn)
    events, out = drive(conn, TRANSACTION + BODY + b".\r\nQUIT\r\n")
    kinds = [type(e) for e in events if not isinstance(e, sev.ProtocolError)]
    assert kinds[:5] == [sev.Helo, sev.Mail, sev.Rcpt, sev.Rcpt, sev.Data]
    mail = next(e for e in events if isinstance(e, sev.Mail))
    assert mail.address == "a@example.com" and mail.params.size == 42
    rcpts = [e for e in events if isinstance(e, sev.Rcpt)]
    assert [r.address for r in rcpts] == ["b@example.com", "c@example.com"]
    assert rcpts[0].params.notify == smtpcore.DsnNotify.SUCCESS | smtpcore.DsnNotify.FAILURE
    body = b"".join(e.data for e in events if isinstance(e, sev.Body))
    assert body == BODY.replace(b"\r\n..", b"\r\n.")
    end = next(e for e in events if isinstance(e, sev.MessageEnd))
    assert end.size == len(body) and not end.bdat
    assert isinstance(events[-1], sev.Close) or any(isinstance(e, sev.Quit) for e in events)
    assert out.endswith(b"221 2.0.0 Bye\r\n")
    assert conn.want_close


def test_reject_and_custom_reply():
    conn = smtpcore.ServerConnection()
    drive(conn)

    def answer(c, ev):
        if isinstance(ev, sev.Rcpt):
            c.reject(550, "5.1.1", "No such user")
        elif isinstance(ev, sev.Mail):
            c.reply(250, None, "Sender fine\nsecond line")
        else:
            c.accept()

    _, out = drive(conn, b"EHLO x.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<n@b.example>\r\n",
                   answer)
    assert b"250-2.1.0 Sender fine\r\n250 2.1.0 second line\r\n" in out
    assert b"550 5.1.1 No such user\r\n" in out


def test_answer_errors_raise_typed_exceptions():
    conn = smtpcore.ServerConnection()
    with pytest.raises(smtpcore.NoAnswerPendingError) as ei:
        conn.accept()
    assert ei.value.code == smtpcore.ErrorCode.NO_ANSWER_PENDING
    (ev,), _ = drive(conn, answer=lambda c, e: None)
    assert ev.answer_required
    with pytest.raises(smtpcore.InjectionError):
        conn.reply(220, None, "evil\r\n250 injected")
    with pytest.raises(smtpcore.InvalidArgumentError):
        conn.reject(250)
    conn.accept()
    with pytest.raises(smtpcore.InvalidStateError):
        conn.tls_started()


def test_bad_config_raises():
    with pytest.raises(smtpcore.InvalidArgumentError):
        smtpcore.ServerConnection(input_buffer_size=16, max_command_line=512)


def test_closed_object_raises():
    conn = smtpcore.ServerConnection()
    conn.close()
    conn.close()
    with pytest.raises(smtpcore.SessionClosedError):
        conn.next_event()


def test_protocol_error_is_an_event_not_an_exception():
    conn = smtpcore.ServerConnection()
    drive(conn)
    events, out = drive(conn, b"FOO bar\r\n")
    (ev,) = events
    assert isinstance(ev, sev.ProtocolError)
    assert ev.violation is smtpcore.Violation.UNKNOWN_COMMAND
    assert out.startswith(b"500")


def test_receive_data_never_loses_bytes_with_a_tiny_input_buffer():
    # 200 pipelined RCPTs is far more than a 600-byte input buffer holds at once.
    conn = smtpcore.ServerConnection(input_buffer_size=600, max_recipients=1000)
    drive(conn)
    rcpts = b"".join(b"RCPT TO:<user%d@example.com>\r\n" % i for i in range(200))
    conn.receive_data(b"EHLO c.example\r\nMAIL FROM:<a@example.com>\r\n" + rcpts)
    assert conn.pending_input > 0
    events, _ = drive(conn)
    got = [e.address for e in events if isinstance(e, sev.Rcpt)]
    assert got == ["user%d@example.com" % i for i in range(200)]
    assert conn.pending_input == 0


def test_eof_after_queued_input_is_delivered_last():
    conn = smtpcore.ServerConnection(input_buffer_size=600)
    drive(conn)
    rcpts = b"".join(b"RCPT TO:<u%d@example.com>\r\n" % i for i in range(60))
    conn.receive_data(b"EHLO c.example\r\nMAIL FROM:<a@example.com>\r\n" + rcpts)
    conn.receive_eof()
    events, _ = drive(conn)
    assert sum(isinstance(e, sev.Rcpt) for e in events) == 60
    assert isinstance(events[-1], sev.Close)


def test_starttls_event_and_reset():
    conn = smtpcore.ServerConnection(extensions=smtpcore.server.DEFAULT_EXTENSIONS
                                     | smtpcore.Extension.STARTTLS)
    drive(conn)
    events, out = drive(conn, b"EHLO c.example\r\nSTARTTLS\r\n")
    assert isinstance(events[-1], sev.StartTLS)
    assert out.endswith(b"220 2.0.0 Ready to start TLS\r\n") or out.split(b"\r\n")[-2].startswith(b"220")
    conn.tls_started()
    events, out = drive(conn, b"MAIL FROM:<a@example.com>\r\n")
    assert out.startswith(b"503")  # HELO forgotten after TLS (RFC 3207 4.2)


def test_auth_plain_event():
    conn = smtpcore.ServerConnection(
        extensions=smtpcore.Extension.AUTH | smtpcore.Extension.ENHANCEDSTATUSCODES,
        auth_mechs=smtpcore.AuthMech.PLAIN, allow_plaintext_auth=True)
    drive(conn)
    import base64
    cred = base64.b64encode(b"\0alice\0s3cret")
    events, out = drive(conn, b"EHLO c.example\r\nAUTH PLAIN " + cred + b"\r\n")
    auth = events[-1]
    assert isinstance(auth, sev.Auth)
    assert (auth.username, auth.password, auth.mechanism) == ("alice", "s3cret",
                                                               smtpcore.AuthMech.PLAIN)
    assert out.endswith(b"235 2.7.0 Authentication successful\r\n") or b"235" in out


MESSAGE = (b"EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n"
           + BODY + b".\r\nQUIT\r\n")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(MESSAGE)), max_size=20))
def test_any_split_of_the_input_gives_the_same_events(cuts):
    conn = smtpcore.ServerConnection()
    drive(conn)
    points = sorted(set(cuts)) + [len(MESSAGE)]
    events, out, prev = [], b"", 0
    for p in points:
        e, o = drive(conn, MESSAGE[prev:p])
        events += e
        out += o
        prev = p
    body = b"".join(e.data for e in events if isinstance(e, sev.Body))
    assert body == BODY.replace(b"\r\n..", b"\r\n.")
    assert [type(e) for e in events if not isinstance(e, (sev.Body, sev.ProtocolError))] == \
        [sev.Helo, sev.Mail, sev.Rcpt, sev.Data, sev.MessageEnd, sev.Quit, sev.Close]
    assert out.endswith(b"221 2.0.0 Bye\r\n")


def test_config_fields_reach_the_engine():
    conn = smtpcore.ServerConnection(own_names=["mx.example.org", "[192.0.2.1]"],
                                     max_recipients=2, helo_policy=smtpcore.HeloPolicy.OPTIONAL)
    drive(conn)
    events, out = drive(conn, b"MAIL FROM:<a@example.com>\r\n")
    assert isinstance(events[0], sev.Mail) and out.startswith(b"250")  # HELO optional
    events, out = drive(conn, b"RCPT TO:<a@x.example>\r\nRCPT TO:<b@x.example>\r\n"
                              b"RCPT TO:<c@x.example>\r\n")
    assert out.count(b"250 ") == 2 and b"452" in out
    events, _ = drive(conn, b"HELO mx.example.org\r\n")
    helo = next(e for e in events if isinstance(e, sev.Helo))
    assert helo.is_own_name and not helo.esmtp


def test_memory_is_bounded_by_config():
    small = smtpcore.ServerConnection(input_buffer_size=1024, output_buffer_size=1024)
    big = smtpcore.ServerConnection(input_buffer_size=65536, output_buffer_size=65536)
    assert 2048 <= small.memory < big.memory


def test_release_idle_gives_the_buffers_back_and_the_session_carries_on():
    conn = smtpcore.ServerConnection()
    full = conn.memory
    events, out = drive(conn)
    assert out.startswith(b"220")
    freed = conn.release_idle()
    assert freed > 514 + 768 and conn.memory == full - freed  # the buffers and the queue
    assert conn.release_idle() == 0  # already released
    conn.receive_data(b"EHLO c.exa")  # a partial line: not idle
    assert conn.next_event() is None
    assert conn.memory == full and conn.release_idle() == 0
    events, out = drive(conn, b"mple\r\n")
    assert [type(e) for e in events] == [sev.Helo] and out.startswith(b"250")
    assert conn.release_idle() == freed
    events, out = drive(conn, b"MAIL FROM:<a@example.com>\r\n")
    assert [type(e) for e in events] == [sev.Mail] and out.startswith(b"250")
    assert conn.release_idle() == freed
    events, out = drive(conn, b"QUIT\r\n")
    assert out.startswith(b"221") and conn.want_close
