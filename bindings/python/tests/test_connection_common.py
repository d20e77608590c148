# SPDX-License-Identifier: MIT
"""The plumbing ServerConnection and ClientConnection share (smtpcore._connection): the same
behaviour for both roles, which two copies of it once did not have (the client's
_receive_into fed a closed session to the engine)."""
import pytest

import smtpcore
from smtpcore import client as cev, server as sev
from smtpcore._connection import _Connection
from smtpcore._ffi import ffi


def new_server(**kw):
    return smtpcore.ServerConnection(**kw)


def new_client(**kw):
    return smtpcore.ClientConnection("client.example.com", **kw)


ROLES = [pytest.param(new_server, id="server"), pytest.param(new_client, id="client")]

# What each role's peer says first: a client's EHLO, a server's greeting.
FIRST_INPUT = {new_server: b"EHLO client.example.com\r\n", new_client: b"220 mx ready\r\n"}


def read_buffer(data):
    buf = bytearray(4096)
    buf[:len(data)] = data
    return ffi.from_buffer(buf), memoryview(buf), buf


@pytest.mark.parametrize("new", ROLES)
def test_one_base_class(new):
    conn = new()
    assert isinstance(conn, _Connection)
    assert not hasattr(conn, "__dict__")  # slots all the way down (idle connections are many)


@pytest.mark.parametrize("new", ROLES)
def test_closed_session_refuses_every_input_path(new):
    conn = new()
    cbuf, view, _keep = read_buffer(FIRST_INPUT[new])
    conn.close()
    conn.close()  # twice is fine
    with pytest.raises(smtpcore.SessionClosedError):
        conn._receive_into(cbuf, view, len(FIRST_INPUT[new]))
    with pytest.raises(smtpcore.SessionClosedError):
        conn.receive_data(b"x")
    with pytest.raises(smtpcore.SessionClosedError):
        conn.receive_eof()
    with pytest.raises(smtpcore.SessionClosedError):
        conn.next_event()
    with pytest.raises(smtpcore.SessionClosedError):
        conn._next_raw()
    assert conn._take_output() == b""


@pytest.mark.parametrize("new", ROLES)
def test_context_manager_closes(new):
    with new() as conn:
        assert conn.memory > 0
    with pytest.raises(smtpcore.SessionClosedError):
        conn.next_event()


def _events(conn):
    out = []
    while (ev := conn.next_event()) is not None:
        out.append(ev)
        if isinstance(ev, sev.ServerEvent) and ev.answer_required:
            conn.accept()
        conn._take_output()
    return out


@pytest.mark.parametrize("new", ROLES)
def test_receive_into_keeps_what_the_engine_cannot_take(new):
    """Many copies of the first input through a small engine buffer: the rest waits on
    the Python side (pending_input) and reaches the engine as it drains, not lost."""
    first = FIRST_INPUT[new]
    data = first * 200
    conn = new(input_buffer_size=1024)
    _events(conn)  # the server's Connect (and its greeting)
    buf = bytearray(data)
    cbuf, view = ffi.from_buffer(buf), memoryview(buf)
    conn._receive_into(cbuf, view, len(data))
    assert 0 < conn.pending_input < len(data)
    buf[:] = b"\0" * len(buf)  # the host reuses its read buffer: the queued bytes are a copy
    evs = _events(conn)
    if new is new_server:
        # Postfix-like limits end the session at some point; what counts is that the
        # engine saw far more than its buffer could hold at once.
        assert sum(isinstance(e, sev.Helo) for e in evs) > 1024 // len(first)
    else:
        assert isinstance(evs[0], cev.Greeting)
    assert conn.pending_input == 0 or conn.want_close


@pytest.mark.parametrize("new", ROLES)
def test_eof_waits_for_queued_input(new):
    first = FIRST_INPUT[new]
    conn = new(input_buffer_size=1024)
    _events(conn)
    conn.receive_data(first * 100)
    queued = conn.pending_input
    assert queued > 0
    conn.receive_eof()  # not delivered yet: input is still queued
    assert conn.pending_input == queued
    evs = _events(conn)
    assert conn.pending_input == 0 or conn.want_close
    # The end of input came after the queued input: the last event says the session is
    # over, never before the queued commands.
    last = evs[-1]
    assert isinstance(last, (sev.Close, cev.Closed))
