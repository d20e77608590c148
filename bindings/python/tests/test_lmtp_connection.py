# SPDX-License-Identifier: MIT
"""LMTP (RFC 2033) through the sans-I/O classes: ServerConnection(lmtp=True) answering each
recipient, ClientConnection(lmtp=True) reading one DeliveryResult per accepted recipient,
and the two wired together in memory."""
import pytest

import smtpcore
from smtpcore import client as cev, server as sev


def drain_server(s, answer=None):
    """Events until none; answer-required ones go to answer(s, ev) or accept()."""
    evs = []
    while (ev := s.next_event()) is not None:
        evs.append(ev)
        if ev.answer_required:
            (answer or (lambda srv, e: srv.accept()))(s, ev)
    return evs


def test_server_lhlo_and_per_recipient_replies_in_order():
    s = smtpcore.ServerConnection(lmtp=True, extensions=0)
    assert s.lmtp
    drain_server(s)
    assert s.data_to_send() == b"220 localhost LMTP smtpcore\r\n"
    s.receive_data(b"HELO c.example\r\nLHLO c.example\r\n")
    evs = drain_server(s)
    helo = [e for e in evs if isinstance(e, sev.Helo)]
    assert len(helo) == 1 and helo[0].lmtp and helo[0].esmtp and helo[0].name == "c.example"
    assert s.data_to_send() == (b"500 5.5.1 Error: this is an LMTP server, use LHLO\r\n"
                                b"250-localhost Hello c.example\r\n250-PIPELINING\r\n"
                                b"250 ENHANCEDSTATUSCODES\r\n")

    s.receive_data(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<one@example.net>\r\n"
                   b"RCPT TO:<two@example.net>\r\nRCPT TO:<three@example.net>\r\nDATA\r\n"
                   b"hello\r\n.\r\nNOOP\r\n")
    ends = []

    def answer(srv, ev):
        if isinstance(ev, sev.MessageEnd):
            ends.append(ev)  # left pending: answered below
        else:
            srv.accept()

    drain_server(s, answer)
    assert len(ends) == 1 and ends[0].rcpt_count == 3
    s.data_to_send()
    assert s.rcpt_unanswered == 3
    s.reply_rcpt(2, 550, "5.1.1", "three: no such user")
    s.reply_rcpt(1, 452, "4.2.2", "two: over quota")
    assert s.data_to_send() == b""  # recipient 0 first
    with pytest.raises(smtpcore.InvalidArgumentError):
        s.reply_rcpt(1, 250)  # answered already
    with pytest.raises(smtpcore.InvalidArgumentError):
        s.reply_rcpt(3, 250)  # out of range
    assert s.next_event() is None  # the NOOP waits
    s.reply_rcpt(0, 250, "2.0.0", "one: saved")
    assert s.rcpt_unanswered == 0
    with pytest.raises(smtpcore.NoAnswerPendingError):
        s.reply_rcpt(0, 250)
    evs = drain_server(s)
    assert [type(e) for e in evs] == [sev.Noop]
    assert s.data_to_send() == (b"250 2.0.0 one: saved\r\n452 4.2.2 two: over quota\r\n"
                                b"550 5.1.1 three: no such user\r\n250 2.0.0 Ok\r\n")


def test_server_reply_rcpt_needs_lmtp():
    s = smtpcore.ServerConnection()
    assert not s.lmtp
    with pytest.raises(smtpcore.InvalidStateError):
        s.reply_rcpt(0, 250)
    assert s.rcpt_unanswered == 0


def test_server_lmtp_needs_a_recipient_limit():
    with pytest.raises(smtpcore.InvalidArgumentError):
        smtpcore.ServerConnection(lmtp=True, max_recipients=0)


LHLO_REPLY = b"250-lmtp.example.net\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n"


def test_client_lhlo_and_delivery_results():
    c = smtpcore.ClientConnection("client.example.org", lmtp=True)
    c.receive_data(b"220 lmtp.example.net LMTP ready\r\n")
    assert isinstance(c.next_event(), cev.Greeting)
    assert c.data_to_send() == b"LHLO client.example.org\r\n"
    c.receive_data(LHLO_REPLY)
    assert isinstance(c.next_event(), cev.Ready)
    c.mail("a@example.org")
    for r in ("one@example.net", "nobody@example.net", "two@example.net"):
        c.rcpt(r)
    c.data()
    c.data_to_send()
    c.receive_data(b"250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n")
    evs = list(c)
    assert isinstance(evs[-1], cev.SendBody)
    c.send_body(b"hello\r\n")
    c.end_body()
    assert c.data_to_send() == b"hello\r\n.\r\n"
    c.receive_data(b"250 2.0.0 one saved\r\n452 4.2.2 two full\r\n")
    evs = list(c)
    deliveries = [e for e in evs if isinstance(e, cev.DeliveryResult)]
    assert [(d.index, d.reply.code, d.ok) for d in deliveries] == [(0, 250, True),
                                                                  (2, 452, False)]
    assert deliveries[1].failure == smtpcore.Failure.TRANSIENT
    result = [e for e in evs if isinstance(e, cev.MessageResult)][0]
    assert result.ok and result.rcpt_accepted == 1 and result.rcpt_total == 3
    assert isinstance(evs[-1], cev.Ready)


def test_client_lhlo_refused_has_no_helo_fallback():
    c = smtpcore.ClientConnection("client.example.org", lmtp=True)
    c.receive_data(b"220 x LMTP\r\n")
    list(c)
    c.data_to_send()
    c.receive_data(b"500 5.5.1 what\r\n")
    evs = list(c)
    assert isinstance(evs[-1], cev.Closed)
    assert c.data_to_send() == b"QUIT\r\n"


def test_client_fewer_replies_then_close():
    c = smtpcore.ClientConnection("client.example.org", lmtp=True)
    c.receive_data(b"220 x LMTP\r\n" + LHLO_REPLY)
    list(c)
    c.mail("a@example.org")
    c.rcpt("one@example.net")
    c.rcpt("two@example.net")
    c.data()
    c.receive_data(b"250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n")
    list(c)
    c.send_body(b"x\r\n")
    c.end_body()
    c.receive_data(b"250 2.0.0 one saved\r\n")
    c.receive_eof()
    evs = list(c)
    result = [e for e in evs if isinstance(e, cev.MessageResult)][0]
    assert result.rcpt_accepted == 1 and result.violation == smtpcore.Violation.CONNECTION_LOST
    assert isinstance(evs[-1], cev.Closed)


def test_pair_in_memory_out_of_order_answers():
    """An LMTP client and server, several messages, recipients answered in reverse."""
    server = smtpcore.ServerConnection(lmtp=True)
    client = smtpcore.ClientConnection("client.example.org", lmtp=True)
    rcpts = ["r250@example.net", "r550@example.net", "r451@example.net", "r250b@example.net"]
    accepted_rcpts = []
    results, deliveries = [], []
    sent = 0
    for _ in range(10000):
        progress = False
        while (ev := server.next_event()) is not None:
            progress = True
            if isinstance(ev, sev.Rcpt):
                accepted_rcpts.append(ev.address)
                server.accept()
            elif isinstance(ev, sev.MessageEnd):
                for i in reversed(range(ev.rcpt_count)):
                    addr = accepted_rcpts[i]
                    code = int(addr[1:4])
                    server.reply_rcpt(i, code, None, f"<{addr}>")
                accepted_rcpts.clear()
            elif ev.answer_required:
                server.accept()
        if out := server.data_to_send():
            client.receive_data(out)
            progress = True
        while (ev := client.next_event()) is not None:
            progress = True
            if isinstance(ev, cev.Ready):
                if sent < 3:
                    sent += 1
                    client.mail("a@example.org")
                    for r in rcpts:
                        client.rcpt(r)
                    client.data()
                else:
                    client.quit()
            elif isinstance(ev, cev.SendBody):
                client.send_body(b"Subject: x\r\n\r\nbody\r\n")
                client.end_body()
            elif isinstance(ev, cev.DeliveryResult):
                deliveries.append((ev.index, ev.reply.code))
            elif isinstance(ev, cev.MessageResult):
                results.append(ev)
        if out := client.data_to_send():
            server.receive_data(out)
            progress = True
        if not progress:
            break
    assert len(results) == 3
    assert deliveries == [(0, 250), (1, 550), (2, 451), (3, 250)] * 3
    assert all(r.ok and r.rcpt_accepted == 2 and r.rcpt_total == 4 for r in results)
