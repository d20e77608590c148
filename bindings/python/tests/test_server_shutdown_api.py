# SPDX-License-Identifier: MIT
"""ServerConnection: the host ends a session (close_with/shutdown), in_message for
deadlines, in_transaction, and the AUTH failure limit (max_auth_failures, auth_failures)."""
import pytest

import smtpcore
from smtpcore import server as sev

from test_server_connection import drive


def test_shutdown_mid_data_aborts_the_message_and_answers_421():
    conn = smtpcore.ServerConnection()
    drive(conn)
    drive(conn, b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n")
    drive(conn, b"DATA\r\n")
    drive(conn, b"Subject: slow\r\n")
    assert conn.in_message
    conn.shutdown()
    assert not conn.in_message and conn.want_close
    events, out = drive(conn)
    assert out == b"421 4.4.2 localhost Error: timeout exceeded\r\n"
    assert [type(e) for e in events] == [sev.MessageAborted, sev.Close]
    assert events[0].violation is smtpcore.Violation.HOST_CLOSE
    assert events[1].violation is smtpcore.Violation.HOST_CLOSE
    assert events[1].reply_code == 421
    with pytest.raises(smtpcore.SessionClosedError):
        conn.shutdown(smtpcore.ShutdownReason.SERVICE)
    events, out = drive(conn, b"NOOP\r\n")  # void: the session is over
    assert events == [] and out == b""


def test_in_transaction_from_an_accepted_mail_to_its_end():
    conn = smtpcore.ServerConnection()
    drive(conn)
    drive(conn, b"EHLO c.example\r\n")
    assert not conn.in_transaction
    drive(conn, b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
    assert conn.in_transaction
    drive(conn, b"x\r\n.\r\n")
    assert not conn.in_transaction
    drive(conn, b"MAIL FROM:<a@example.org>\r\n")
    assert conn.in_transaction
    assert conn.release_idle() > 0  # released, the session still knows
    assert conn.in_transaction
    drive(conn, b"RSET\r\n")
    assert not conn.in_transaction


def test_close_with_custom_reply_and_bad_arguments():
    conn = smtpcore.ServerConnection()
    drive(conn)
    with pytest.raises(smtpcore.InvalidArgumentError):
        conn.close_with(250)
    with pytest.raises(smtpcore.InjectionError):
        conn.close_with(421, None, "bye\r\n250 forged")
    assert not conn.want_close
    conn.close_with(421, "4.3.2", "localhost Going down")
    _, out = drive(conn)
    assert out == b"421 4.3.2 localhost Going down\r\n"


def test_auth_failures_limit_closes_with_421():
    conn = smtpcore.ServerConnection(
        extensions=smtpcore.Extension.PIPELINING | smtpcore.Extension.ENHANCEDSTATUSCODES
        | smtpcore.Extension.AUTH, allow_plaintext_auth=True)
    drive(conn)
    drive(conn, b"EHLO c.example\r\n")
    out = b""
    for i in range(3):
        _, o = drive(conn, b"AUTH PLAIN AGEAYg==\r\n", lambda c, e: c.reject(535))
        out += o
        assert conn.auth_failures == i + 1
    assert out.endswith(b"535 5.7.8 Authentication credentials invalid\r\n"
                        b"421 4.7.0 localhost Error: too many failed authentications\r\n")
    assert conn.want_close
    unlimited = smtpcore.ServerConnection(
        extensions=smtpcore.Extension.AUTH, allow_plaintext_auth=True, max_auth_failures=0)
    drive(unlimited)
    drive(unlimited, b"EHLO c.example\r\n")
    for _ in range(5):
        drive(unlimited, b"AUTH PLAIN AGEAYg==\r\n", lambda c, e: c.reject(535))
    assert unlimited.auth_failures == 5 and not unlimited.want_close
