# SPDX-License-Identifier: MIT
"""ClientConnection driven by hand, and client <-> server sessions wired in memory."""
import pytest
from hypothesis import given, settings, strategies as st

import smtpcore
from smtpcore import client as cev, server as sev


def pair_run(client, server, body, sender="a@example.com", rcpts=("b@example.com",),
             server_answer=None, client_kw=None, max_steps=10000):
    """Runs one transaction then QUIT between two in-memory sessions. Returns
    (client events, server events, received body)."""
    cevents, sevents, got = [], [], bytearray()
    submitted = done = False
    for _ in range(max_steps):
        progress = False
        while (ev := server.next_event()) is not None:
            sevents.append(ev)
            progress = True
            if isinstance(ev, sev.Body):
                got += ev.data
            if ev.answer_required:
                (server_answer or (lambda s, e: s.accept()))(server, ev)
        out = server.data_to_send()
        if out:
            client.receive_data(out)
            progress = True
        while (ev := client.next_event()) is not None:
            cevents.append(ev)
            progress = True
            if isinstance(ev, cev.Ready) and not submitted:
                submitted = True
                client.mail(sender, **(client_kw or {}))
                for r in rcpts:
                    client.rcpt(r)
                client.data()
            elif isinstance(ev, cev.SendBody):
                client.send_body(body)
                client.end_body()
            elif isinstance(ev, cev.MessageResult) and not done:
                done = True
                client.quit()
        out = client.data_to_send()
        if out:
            server.receive_data(out)
            progress = True
        if not progress:
            break
    return cevents, sevents, bytes(got)


def test_config_errors():
    with pytest.raises(smtpcore.SMTPSyntaxError):
        smtpcore.ClientConnection("not a valid name!")
    with pytest.raises(smtpcore.InjectionError):
        smtpcore.ClientConnection("c.example", username="a\r\nb", password="x")


def test_mail_before_ready_is_invalid_state():
    c = smtpcore.ClientConnection("c.example")
    with pytest.raises(smtpcore.InvalidStateError):
        c.mail("a@example.com")
    with pytest.raises(smtpcore.InvalidStateError):
        c.send_body(b"x")


def test_greeting_reply_and_ehlo_output():
    c = smtpcore.ClientConnection("client.example.com")
    c.receive_data(b"220 mx.example.org ESMTP\r\n")
    ev = c.next_event()
    assert isinstance(ev, cev.Greeting)
    assert ev.reply.code == 220 and ev.reply.lines == ("mx.example.org ESMTP",)
    assert c.data_to_send() == b"EHLO client.example.com\r\n"


def test_multiline_reply_and_caps():
    c = smtpcore.ClientConnection("client.example.com", tls_policy=smtpcore.TlsPolicy.NEVER)
    c.receive_data(b"220 mx ESMTP\r\n")
    list(c)
    c.data_to_send()
    c.receive_data(b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 5000\r\n250 8BITMIME\r\n")
    ready = [e for e in c if isinstance(e, cev.Ready)]
    assert ready and ready[0].caps.size_limit == 5000
    assert smtpcore.Extension.PIPELINING in ready[0].caps
    assert c.caps == ready[0].caps
    with pytest.raises(smtpcore.TooLongError):
        c.mail("a@example.com", size=6000)
    with pytest.raises(smtpcore.InjectionError):
        c.mail("a@example.com\r\nRSET")


def test_pair_several_recipients_per_recipient_results():
    server = smtpcore.ServerConnection()
    client = smtpcore.ClientConnection("client.example.com")

    def answer(s, ev):
        if isinstance(ev, sev.Rcpt) and ev.address.startswith("nobody"):
            s.reject(550, "5.1.1", "No such user")
        else:
            s.accept()

    body = b"Subject: t\r\n\r\nhello\r\n"
    cevents, sevents, got = pair_run(client, server, body,
                                     rcpts=("b@example.com", "nobody@example.com",
                                            "c@example.com"), server_answer=answer)
    results = {e.index: e for e in cevents if isinstance(e, cev.RcptResult)}
    assert results[0].ok and results[2].ok
    assert results[1].failure is smtpcore.Failure.PERMANENT
    assert results[1].reply.code == 550 and results[1].reply.enhanced == "5.1.1"
    final = next(e for e in cevents if isinstance(e, cev.MessageResult))
    assert final.ok and final.rcpt_accepted == 2 and final.rcpt_total == 3
    assert got == body
    assert isinstance(cevents[-1], cev.Closed)
    assert client.want_close and server.want_close


@pytest.mark.parametrize("quirks", [0, smtpcore.Quirk.NO_CHUNKING,
                                    smtpcore.Quirk.NO_PIPELINING | smtpcore.Quirk.NO_CHUNKING])
def test_pair_body_with_dots_and_bare_newlines(quirks):
    server = smtpcore.ServerConnection()
    client = smtpcore.ClientConnection("client.example.com", quirks=quirks)
    body = b"Subject: t\n\n.\n..\n.x\nend\n"
    _, sevents, got = pair_run(client, server, body)
    assert got == b"Subject: t\r\n\r\n.\r\n..\r\n.x\r\nend\r\n"
    end = next(e for e in sevents if isinstance(e, sev.MessageEnd))
    assert end.bdat == (not quirks & smtpcore.Quirk.NO_CHUNKING)


def test_large_body_flows_through_small_buffers():
    server = smtpcore.ServerConnection(input_buffer_size=1024, output_buffer_size=1024)
    client = smtpcore.ClientConnection("client.example.com", output_buffer_size=1024,
                                       input_buffer_size=1024, quirks=smtpcore.Quirk.NO_CHUNKING)
    body = b"".join(b"line %06d .\r\n" % i for i in range(20000))
    cevents, _, got = pair_run(client, server, body)
    assert got == body
    assert any(isinstance(e, cev.MessageResult) and e.ok for e in cevents)


lines = st.lists(st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                 max_size=30)


@settings(max_examples=150, deadline=None)
@given(lines, st.booleans())
def test_pair_any_body_arrives_byte_identical(body_lines, chunking):
    body = b"".join(line + b"\r\n" for line in body_lines)
    # Arbitrary bytes include NUL, which the server refuses by default (nul_policy).
    server = smtpcore.ServerConnection(bare_lf_policy=smtpcore.BareLfPolicy.ACCEPT,
                                       nul_policy=smtpcore.NulPolicy.ACCEPT)
    client = smtpcore.ClientConnection(
        "client.example.com", quirks=0 if chunking else smtpcore.Quirk.NO_CHUNKING)
    cevents, _, got = pair_run(client, server, body)
    assert got == body
    assert any(isinstance(e, cev.MessageResult) and e.ok for e in cevents)


def test_noop_and_rset_give_command_replies():
    server = smtpcore.ServerConnection()
    client = smtpcore.ClientConnection("client.example.com")
    replies = []
    for _ in range(200):
        progress = False
        for ev in server:
            progress = True
            if ev.answer_required:
                server.accept()
        out = server.data_to_send()
        if out:
            client.receive_data(out)
            progress = True
        for ev in client:
            progress = True
            if isinstance(ev, cev.Ready) and not replies:
                client.noop()
            elif isinstance(ev, cev.CommandReply):
                replies.append(ev.reply.code)
                if len(replies) == 1:
                    client.rset()
                else:
                    client.quit()
        out = client.data_to_send()
        if out:
            server.receive_data(out)
            progress = True
        if not progress:
            break
    assert replies == [250, 250]
    assert client.want_close


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=50),
       st.integers(min_value=1, max_value=40))
def test_replies_split_anywhere_give_the_same_results(piece_sizes, nrcpt):
    """Server bytes reach the client in arbitrary pieces; results never change."""
    server = smtpcore.ServerConnection(max_recipients=100)
    client = smtpcore.ClientConnection("client.example.com", input_buffer_size=1024)
    rcpts = [f"r{i}@example.com" for i in range(nrcpt)]
    body = b"Subject: s\r\n\r\nbody\r\n"
    cevents, got, submitted, k = [], bytearray(), False, 0
    for _ in range(5000):
        progress = False
        for ev in server:
            progress = True
            if isinstance(ev, sev.Body):
                got += ev.data
            if ev.answer_required:
                if isinstance(ev, sev.Rcpt) and ev.address.startswith("r1"):
                    server.reject(450, "4.2.0", "try later")
                else:
                    server.accept()
        out = server.data_to_send()
        while out:
            n = piece_sizes[k % len(piece_sizes)]
            k += 1
            client.receive_data(out[:n])
            out = out[n:]
            progress = True
        for ev in client:
            cevents.append(ev)
            progress = True
            if isinstance(ev, cev.Ready) and not submitted:
                submitted = True
                client.mail("a@example.com")
                for r in rcpts:
                    client.rcpt(r)
                client.data()
            elif isinstance(ev, cev.SendBody):
                client.send_body(body)
                client.end_body()
        out = client.data_to_send()
        if out:
            server.receive_data(out)
            progress = True
        if not progress:
            break
    results = {e.index: e.failure for e in cevents if isinstance(e, cev.RcptResult)}
    assert sorted(results) == list(range(nrcpt))
    for i, r in enumerate(rcpts):
        want = smtpcore.Failure.TRANSIENT if r.startswith("r1") else smtpcore.Failure.SUCCESS
        assert results[i] == want
    final = [e for e in cevents if isinstance(e, cev.MessageResult)]
    assert len(final) == 1
    accepted = sum(1 for r in rcpts if not r.startswith("r1"))
    assert final[0].rcpt_accepted == accepted
    assert final[0].ok == (accepted > 0)
    assert (bytes(got) == body) == (accepted > 0)


_PIECES = st.sampled_from([b"\r", b"\n", b"\r\n", b".", b"..", b"a", b"\x00", b"\xff", b" ",
                           b".\r\n", b"\r\n.\r\n"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=60).map(b"".join), st.booleans())
def test_pair_arbitrary_bytes_are_normalised_then_delivered_exactly(body, chunking):
    """Bare CR/LF become CRLF on the client, dots are stuffed and unstuffed, nothing else
    changes. DATA ends the content with CRLF; BDAT sends the normalised bytes as they are."""
    import re
    # Arbitrary bytes include NUL, which the server refuses by default (nul_policy).
    server = smtpcore.ServerConnection(bare_lf_policy=smtpcore.BareLfPolicy.ACCEPT,
                                       nul_policy=smtpcore.NulPolicy.ACCEPT)
    client = smtpcore.ClientConnection(
        "client.example.com", quirks=0 if chunking else smtpcore.Quirk.NO_CHUNKING)
    cevents, _, got = pair_run(client, server, body)
    expected = re.sub(rb"\r\n|\r|\n", b"\r\n", body)
    if not chunking and expected and not expected.endswith(b"\r\n"):
        expected += b"\r\n"
    assert got == expected
    assert any(isinstance(e, cev.MessageResult) and e.ok for e in cevents)


def test_release_idle_gives_the_buffers_back_and_the_session_carries_on():
    c = smtpcore.ClientConnection("client.example.com")
    full = c.memory
    c.receive_data(b"220 mx.example.org ESMTP\r\n")
    assert isinstance(c.next_event(), cev.Greeting)
    assert c.next_event() is None
    assert c.release_idle() == 0  # EHLO to send, its reply awaited: not idle
    assert c.data_to_send() == b"EHLO client.example.com\r\n"
    assert c.release_idle() == 0 and c.memory == full
    c.receive_data(b"250-mx.example.org\r\n250 PIPELINING\r\n")
    assert [type(e) for e in c] == [cev.Ready]
    freed = c.release_idle()
    assert freed > 8192 * 3 + 65536 and c.memory == full - freed
    assert c.memory < 2048
    assert c.release_idle() == 0  # already released
    assert c.next_event() is None and c.data_to_send() == b""
    c.mail("a@example.com")  # takes the buffers back
    assert c.memory == full
    c.rcpt("b@example.com")
    c.data()
    assert c.data_to_send() == (b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
                                b"DATA\r\n")
    assert c.release_idle() == 0  # in a transaction
    c.receive_data(b"250 OK\r\n250 OK\r\n354 go\r\n")
    events = list(c)
    assert cev.SendBody in [type(e) for e in events]
    c.send_body(b"Subject: x\r\n\r\nbody\r\n")
    c.end_body()
    assert c.data_to_send().endswith(b"body\r\n.\r\n")
    assert c.release_idle() == 0  # the result awaited
    c.receive_data(b"250 2.0.0 queued\r\n")
    events = list(c)
    assert cev.MessageResult in [type(e) for e in events]
    assert c.release_idle() == freed
    c.receive_data(b"421 4.4.2 idle too long\r\n")  # a released session hears the server
    assert cev.Closed in [type(e) for e in c]
    assert c.want_close
