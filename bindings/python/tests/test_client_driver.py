# SPDX-License-Identifier: MIT
"""The sans-I/O client driver (smtpcore._driver) both SMTP clients run: its steps driven
here by hand against an in-memory ServerConnection or scripted replies, no socket."""
import pytest

import smtpcore
from smtpcore import Extension
from smtpcore._driver import CHALLENGE, READ, START_TLS, WRITE, ClientDriver
from smtpcore.server import ServerConnection


class MemoryPeer:
    """Runs driver steps against a ServerConnection in memory; records the requests."""

    def __init__(self, driver, server):
        self.driver = driver
        self.server = server
        self.requests = []
        self.received = []
        self.body = bytearray()

    def serve(self):
        while (ev := self.server.next_event()) is not None:
            if isinstance(ev, smtpcore.server.Body):
                self.body += ev.data
            if isinstance(ev, smtpcore.server.StartTLS):
                self.server.tls_started()  # both ends agree TLS is up (no handshake here)
            if ev.answer_required:
                if isinstance(ev, smtpcore.server.MessageEnd):
                    self.received.append(bytes(self.body))
                    self.body.clear()
                self.server.accept()

    def drive(self, op, limit=10000):
        value = None
        for _ in range(limit):
            try:
                kind, arg = op.send(value)
            except StopIteration as stop:
                return stop.value
            self.requests.append(kind)
            value = None
            if kind == WRITE:
                self.server.receive_data(arg)
            elif kind == READ:
                self.serve()
                out = self.server._take_output()
                if out:
                    self.driver._conn.receive_data(out)
                else:
                    self.server.receive_eof()
                    value = True
            elif kind == START_TLS:
                self.serve()
                # The driver wrote everything before asking: the 220 reached it before.
            else:
                raise AssertionError(f"unexpected request {kind}")
        raise AssertionError("the step did not finish")


def connected(server, **kw):
    driver = ClientDriver("mx.example", 25, helo_name="client.example.com", **kw)
    driver._new_conn(("127.0.0.1", 40000), ("127.0.0.1", 25))
    peer = MemoryPeer(driver, server)
    peer.drive(driver._wait_ready())
    return driver, peer


def test_connect_with_starttls_send_and_quit_in_memory():
    server = ServerConnection(hostname="mx.example",
                              extensions=int(smtpcore.server.DEFAULT_EXTENSIONS
                                             | Extension.STARTTLS))
    driver, peer = connected(server)
    assert peer.requests.count(START_TLS) == 1
    assert driver.tls and driver._ready
    assert driver.greeting is not None and driver.greeting.code == 220
    assert Extension.PIPELINING in driver.caps
    job = smtpcore._batch.job_for_send("a@example.org", ["b@example.com"],
                                       b"Subject: x\n\nhello\n.dot\n", False, None, None, None)
    (result,) = peer.drive(driver._run([job]))
    assert result.ok and result.refused == {}
    assert peer.received == [b"Subject: x\r\n\r\nhello\r\n.dot\r\n"]
    reply = peer.drive(driver._simple(smtpcore.ClientConnection.noop))
    assert reply.code == 250
    peer.requests.clear()
    peer.drive(driver._quit())
    assert peer.requests[0] == WRITE and READ in peer.requests


def test_host_run_mechanism_asks_the_io_for_the_answer():
    """A mechanism the engine does not run: each 334 is a CHALLENGE request; what the I/O
    sends back is the answer (base64-encoded by the engine)."""
    driver = ClientDriver("mx.example", helo_name="c.example", username="u", password="p",
                          auth_mechanism="X-TEST", starttls=False)
    conn = driver._new_conn(("127.0.0.1", 40000))
    script = [b"220 mx ESMTP\r\n", b"250-mx\r\n250 AUTH X-TEST\r\n", b"334 Y2hhbA==\r\n",
              b"235 2.7.0 ok\r\n"]
    sent, challenges = [], []
    op = driver._wait_ready()
    value = None
    while True:
        try:
            kind, arg = op.send(value)
        except StopIteration:
            break
        value = None
        if kind == WRITE:
            sent.append(arg)
        elif kind == READ:
            conn.receive_data(script.pop(0))
        elif kind == CHALLENGE:
            challenges.append(arg)
            value = b"response"
        else:
            pytest.fail(f"unexpected request {kind}")
    assert challenges == [b"chal"]
    assert sent[-1] == b"cmVzcG9uc2U=\r\n"  # base64 of b"response"
    assert driver._ready and script == []


def test_refused_auth_raises_from_the_step():
    driver = ClientDriver("mx.example", helo_name="c.example", username="u", password="p",
                          starttls=False)
    conn = driver._new_conn(("127.0.0.1", 40000))
    script = [b"220 mx ESMTP\r\n", b"250-mx\r\n250 AUTH PLAIN\r\n",
              b"535 5.7.8 Authentication credentials invalid\r\n"]
    op = driver._wait_ready()
    value = None
    with pytest.raises(smtpcore.SMTPAuthenticationError):
        while True:
            kind, arg = op.send(value)
            value = None
            if kind == READ:
                conn.receive_data(script.pop(0))


def test_end_of_input_is_a_disconnect():
    driver = ClientDriver("mx.example", helo_name="c.example", starttls=False)
    driver._new_conn(("127.0.0.1", 40000))
    op = driver._wait_ready()
    kind, _ = op.send(None)
    assert kind == READ
    with pytest.raises(smtpcore.SMTPClientError):
        kind, _ = op.send(True)  # the server closed before greeting
        op.send(True)


def test_both_clients_are_only_io_loops_over_the_driver():
    import smtpcore.aio
    import smtpcore.blocking
    for cls in (smtpcore.SMTPClient, smtpcore.aio.SMTPClient):
        assert issubclass(cls, ClientDriver)
        # The conversation steps are the driver's, not redefined by either client.
        for step in ("_next", "_wait_ready", "_run", "_simple", "_quit", "_host_step"):
            assert step not in vars(cls), (cls, step)
