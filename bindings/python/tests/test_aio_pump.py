# SPDX-License-Identifier: MIT
"""The server pump (smtpcore_build.py, used by aio/_dispatch.py): the events a handler
has no hook for are taken and answered in C, recorded with copies of their slices, and
applied in Python. These tests drive it past each of its bounds (records, arena, output
area, input the engine cannot take at once) and check that the handler sees exactly what
the event-by-event path shows it (a handler that overrides the hooks takes that path)."""
import asyncio

import pytest

import smtpcore
import smtpcore.aio as aio
from smtpcore.aio._dispatch import PumpArea

from conftest import run, running_server

LENIENT = {"sync_policy": smtpcore.SyncPolicy.OFF}


async def exchange(port: int, data: bytes, until: bytes, timeout: float = 30.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        got = b""
        async with asyncio.timeout(timeout):
            while until not in got:
                chunk = await reader.read(65536)
                if not chunk:
                    break
                got += chunk
        return got
    finally:
        writer.close()


class Plain(aio.Handler):
    """Only handle_message: MAIL, RCPT, DATA and the content go through the pump."""

    def __init__(self) -> None:
        self.messages: list[aio.Envelope] = []

    async def handle_message(self, session, envelope):
        self.messages.append(envelope)


class Hooked(Plain):
    """Every hook overridden (and awaiting): each event reaches Python on its own. The
    streamed content is put into ``envelope.content`` for the comparison."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    async def handle_message(self, session, envelope):
        envelope.content, self.chunks = b"".join(self.chunks), []
        self.messages.append(envelope)

    async def handle_mail(self, session, envelope, address, params):
        await asyncio.sleep(0)

    async def handle_rcpt(self, session, envelope, address, params):
        return None

    async def handle_data(self, session, envelope):
        return None

    async def handle_body(self, session, envelope, data):
        self.chunks.append(data)


def _replies(got: bytes) -> list[bytes]:
    return [line for line in got.split(b"\r\n") if line[:3].isdigit() and line[3:4] == b" "]


def _serve(handler, data: bytes, **kw) -> bytes:
    async def main():
        async with running_server(handler, **LENIENT, **kw) as port:
            return await exchange(port, data, b"221 ")
    return run(main())


def test_pump_area_bounds_are_what_the_tests_below_exceed():
    area = PumpArea({name: None for name in ("handle_connect", "handle_helo", "handle_mail",
                                             "handle_rcpt", "handle_data", "handle_body",
                                             "handle_vrfy")})
    assert len(area.recs) == 32
    assert len(area.out) == 16384
    assert len(area.area.arena) == 65536


def test_a_thousand_pipelined_recipients_fill_the_records_and_the_output_area():
    n = 1500  # 1500 replies of 14+ bytes: more than the 16 KiB output area
    rcpts = [f"user{i}@example.com" for i in range(n)]
    data = (b"EHLO c.example.com\r\nMAIL FROM:<a@example.com>\r\n"
            + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts)
            + b"DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
    handler = Plain()
    got = _serve(handler, data, max_recipients=2000)
    replies = _replies(got)
    assert len(replies) == n + 6  # 220, EHLO, MAIL, the RCPTs, 354, 250, 221
    assert all(r.startswith(b"250 2.1.5") for r in replies[3:3 + n])
    (env,) = handler.messages
    assert env.rcpt_tos == rcpts
    assert env.content == b"Subject: x\r\n\r\nbody\r\n"


@pytest.mark.parametrize("input_buffer_size", [600, 16384, 100000])
def test_large_dot_stuffed_body_beyond_the_arena(input_buffer_size):
    lines = [b"line %d " % i + b"x" * 60 + b"\r\n" for i in range(4000)]
    lines[100] = b".starts with a dot\r\n"
    lines[3000] = b"..two dots\r\n"
    content = b"".join(lines)  # about 290 KB: several times the 64 KiB arena
    stuffed = content.replace(b"\r\n.", b"\r\n..")
    data = (b"EHLO c.example.com\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n"
            b"DATA\r\n" + stuffed + b".\r\nQUIT\r\n")
    plain, hooked = Plain(), Hooked()
    got_plain = _serve(plain, data, input_buffer_size=input_buffer_size)
    got_hooked = _serve(hooked, data, input_buffer_size=input_buffer_size)
    assert _replies(got_plain) == _replies(got_hooked)
    assert plain.messages[0].content == content
    assert hooked.messages[0].content == content


def test_parameters_and_the_null_sender_match_the_hooked_path():
    data = (b"EHLO c.example.com\r\n"
            b"MAIL FROM:<a@example.com> SIZE=1234 BODY=8BITMIME ENVID=QQ+2Bx AUTH=<>\r\n"
            b"RCPT TO:<b@example.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b@example.com\r\n"
            b"RCPT TO:<c@example.com>\r\nDATA\r\nhi\r\n.\r\n"
            b"MAIL FROM:<>\r\nRCPT TO:<d@example.com>\r\nDATA\r\nbounce\r\n.\r\nQUIT\r\n")
    plain, hooked = Plain(), Hooked()
    got_plain = _serve(plain, data, extensions=smtpcore.server.DEFAULT_EXTENSIONS
                       | smtpcore.Extension.AUTH, auth_mechs=smtpcore.AuthMech.PLAIN,
                       allow_plaintext_auth=True)
    got_hooked = _serve(hooked, data, extensions=smtpcore.server.DEFAULT_EXTENSIONS
                        | smtpcore.Extension.AUTH, auth_mechs=smtpcore.AuthMech.PLAIN,
                        allow_plaintext_auth=True)
    assert _replies(got_plain) == _replies(got_hooked)
    first, second = plain.messages
    assert first.mail_from == "a@example.com"
    assert first.mail_params == smtpcore.MailParams(
        size=1234, body=smtpcore.BodyType.EIGHTBITMIME, envid=b"QQ+2Bx", auth=b"<>")
    assert first.rcpt_tos == ["b@example.com", "c@example.com"]
    assert first.rcpt_params == [
        smtpcore.RcptParams(smtpcore.DsnNotify.SUCCESS | smtpcore.DsnNotify.DELAY,
                            b"rfc822;b@example.com"),
        smtpcore.RcptParams()]
    assert second.mail_from == "" and second.rcpt_tos == ["d@example.com"]
    for a, b in zip(plain.messages, hooked.messages):
        assert (a.mail_from, a.mail_params, a.rcpt_tos, a.rcpt_params, a.content) == \
            (b.mail_from, b.mail_params, b.rcpt_tos, b.rcpt_params, b.content)


async def _one_by_one(port: int, lines: list) -> list:
    """Sends each line alone and waits for its whole reply: one record per read, the
    case buffer_updated applies itself (smtp-source -d's load)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        replies = [await reader.readline()]
        for line in lines:
            writer.write(line)
            while True:
                reply = await reader.readline()
                replies.append(reply)
                if reply[3:4] != b"-":
                    break
        return replies
    finally:
        writer.close()


def test_one_command_per_read_matches_the_hooked_path():
    """MAIL and RCPT alone in their reads (applied by buffer_updated itself), UTF-8
    addresses, parameters, a refused address between them, two messages on one
    connection: the handler sees what the event-by-event path shows it."""
    lines = [b"EHLO c.example.com\r\n",
             b"MAIL FROM:<j\xc3\xa9@x.example> SMTPUTF8\r\n",
             b"RCPT TO:<b\xc3\xa9@example.com>\r\n", b"RCPT TO:<c\xff@example.com>\r\n",
             b"RCPT TO:<c@example.com> NOTIFY=NEVER\r\n", b"RCPT TO:<d@example.com>\r\n",
             b"DATA\r\n", b"hi\r\n.\r\n",
             b"MAIL FROM:<>\r\n", b"RCPT TO:<e@example.com>\r\n", b"DATA\r\n",
             b"x" * 70 + b"\r\n.\r\n", b"QUIT\r\n"]
    got = []
    for handler in (Plain(), Hooked()):
        async def main():
            async with running_server(handler, **LENIENT) as port:
                return await _one_by_one(port, lines)
        got.append((run(main()), handler.messages))
    (plain_replies, plain), (hooked_replies, hooked) = got
    assert plain_replies == hooked_replies
    assert [r[:3] for r in plain_replies[-5:]] == [b"250", b"250", b"354", b"250", b"221"]
    assert plain[0].mail_from == "j\u00e9@x.example" and plain[0].mail_params.smtputf8
    assert plain[0].rcpt_tos == ["b\u00e9@example.com", "c@example.com", "d@example.com"]
    assert plain[0].rcpt_params[0] == smtpcore.RcptParams()
    assert plain[0].rcpt_params[1].notify == smtpcore.DsnNotify.NEVER
    assert plain[1].mail_from == "" and plain[1].content == b"x" * 70 + b"\r\n"
    for a, b in zip(plain, hooked, strict=True):
        assert (a.mail_from, a.mail_params, a.rcpt_tos, a.rcpt_params, a.content, a.bdat,
                a.long_lines) == (b.mail_from, b.mail_params, b.rcpt_tos, b.rcpt_params,
                                  b.content, b.bdat, b.long_lines)


def test_input_left_over_while_a_hook_suspends_is_kept():
    """A small engine buffer takes part of one read; the rest must outlive the shared
    read buffer while the hook of an event in the first part runs as a task."""
    class Slow(Plain):
        async def handle_rcpt(self, session, envelope, address, params):
            await asyncio.sleep(0.001)

    rcpts = [f"r{i}@example.com" for i in range(80)]
    msgs = b"".join(b"MAIL FROM:<a%d@example.com>\r\n" % k
                    + b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts)
                    + b"DATA\r\n" + b"y" * 3000 + b"\r\n.\r\n" for k in range(3))
    handler = Slow()
    got = _serve(handler, b"EHLO c.example.com\r\n" + msgs + b"QUIT\r\n",
                 input_buffer_size=600)
    assert len(handler.messages) == 3
    for k, env in enumerate(handler.messages):
        assert env.mail_from == f"a{k}@example.com"
        assert env.rcpt_tos == rcpts
        assert env.content == b"y" * 3000 + b"\r\n"
    assert _replies(got)[-1].startswith(b"221")


def test_pump_status_bits_directly():
    """The pump's own contract, on a bare session: it records and answers what the mask
    allows, stops at other events unanswered, says when the output area is full or input
    was left over, and packs the counts into its result."""
    from smtpcore._ffi import ffi, lib

    conn = smtpcore.ServerConnection(sync_policy=smtpcore.SyncPolicy.OFF, max_recipients=2000)
    area = PumpArea({name: None for name in ("handle_connect", "handle_helo", "handle_mail",
                                             "handle_rcpt", "handle_data", "handle_body",
                                             "handle_vrfy")})
    mask = area.mask & ~(1 << lib.SMTPCORE_SEV_DATA)  # DATA goes to the host
    n = 1500
    # NOOPs are answered but not recorded: their replies fill the output area.
    data = (b"EHLO c.example.com\r\nMAIL FROM:<a@example.com>\r\n"
            + b"NOOP\r\n" * n
            + b"".join(b"RCPT TO:<u%d@example.com>\r\n" % i for i in range(n))
            + b"DATA\r\n")
    keep = ffi.from_buffer(data)
    # The greeting first (input before it would be an early talker).
    st = lib.pysc_server_pump(conn._c, mask, area.area, ffi.NULL, 0)
    assert st & 0xff == 0 and (st >> 8) & 0xff == 0  # CONNECT answered, not recorded
    assert area.out[0:st >> 16].startswith(b"220 ")
    off, recorded, out, seen = 0, [], b"", set()
    while True:
        st = lib.pysc_server_pump(conn._c, mask, area.area, keep + off,
                                  len(data) - off)
        assert st >= 0
        seen.add(st & 0xff)
        if st & 16:
            off += area.area.in_used
        else:
            off = len(data)
        nrecs, outlen = (st >> 8) & 0xff, st >> 16
        assert nrecs <= 32
        recorded += [int(area.recs[i].type) for i in range(nrecs)]
        out += area.out[0:outlen]
        if st & 1:  # an event for the host: DATA, or one that did not fit the records
            t = area.area.ev.type
            if t == lib.SMTPCORE_SEV_DATA:
                break
            recorded.append(int(t))
            if area.area.ev.answer_required:  # not PROTOCOL_ERROR (EHLO pipelined)
                assert lib.smtpcore_server_accept(conn._c) == 0
    out += conn._take_output()  # replies still queued when the pump stopped at DATA
    assert 2 in {b & 3 for b in seen}  # the output area was full at least once
    assert recorded.count(lib.SMTPCORE_SEV_RCPT) == n
    assert recorded[0] == lib.SMTPCORE_SEV_HELO and lib.SMTPCORE_SEV_MAIL in recorded[1:3]
    assert out.count(b"250 2.1.5") == n
    assert lib.SMTPCORE_SEV_NOOP not in recorded
    assert out.count(b"250 2.0.0") == n  # the NOOPs' replies, answered in C
    conn.close()
