# SPDX-License-Identifier: MIT
"""100k sessions created, driven through a short conversation and freed: RSS stays flat."""
import gc

import smtpcore
from smtpcore import client as cev

SESSIONS = 100_000
WARMUP = 10_000
CLIENT_IN = (b"220 mx.example.org ESMTP\r\n"
             b"250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
SERVER_IN = (b"EHLO c.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
             b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def one_server_session() -> int:
    conn = smtpcore.ServerConnection()
    n = 0
    for ev in conn:
        conn.accept()
    n += len(conn.data_to_send())
    conn.receive_data(SERVER_IN)
    for ev in conn:
        if ev.answer_required:
            conn.accept()
    n += len(conn.data_to_send())
    assert conn.want_close
    return n  # conn is freed (_Connection.__del__) when it goes out of scope


def one_client_session() -> int:
    conn = smtpcore.ClientConnection("c.example.org", tls_policy=smtpcore.TlsPolicy.NEVER)
    conn.receive_data(CLIENT_IN)
    ready = False
    for ev in conn:
        ready = ready or isinstance(ev, cev.Ready)
    conn.quit()
    out = conn.data_to_send()
    conn.receive_data(b"221 bye\r\n")
    closed = any(isinstance(ev, cev.Closed) for ev in conn)
    assert ready and closed
    conn.close()  # explicit free path as well
    return len(out)


def test_rss_flat_over_100k_sessions():
    for _ in range(WARMUP):
        one_server_session()
        one_client_session()
    gc.collect()
    base = rss_kib()
    for _ in range(SESSIONS):
        one_server_session()
        one_client_session()
    gc.collect()
    grown = rss_kib() - base
    # A leak of even 32 bytes per session would show as > 3 MiB here.
    assert grown < 2048, f"RSS grew by {grown} KiB over {SESSIONS} sessions"
