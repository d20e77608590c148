# SPDX-License-Identifier: MIT
"""swaks (a real, independent Perl client) -> smtpcore.aio server: pipelining, STARTTLS,
AUTH PLAIN/LOGIN. swaks appends CRLF . CRLF to the DATA it is given, so the file given to
it lacks the final line break and the expected content has it."""
import pytest



from conftest import Collector, require_tool, run, run_process, running_server

BODY = (b"From: a@example.com\r\nTo: b@example.com\r\nSubject: swaks interop\r\n\r\n"
        b".dot line\r\n..two dots\r\n.\r\nlast line")
EXPECTED = BODY + b"\r\n"


@pytest.fixture
def data_file(tmp_path):
    p = tmp_path / "message.eml"
    p.write_bytes(BODY)
    return str(p)


def swaks(port, data_file, *extra):
    return ["swaks", "--server", f"127.0.0.1:{port}", "--from", "a@example.com",
            "--helo", "client.example.com", "--data", "@" + data_file,
            "--timeout", "20", *extra]


def test_swaks_pipelined_several_recipients(data_file):
    exe = require_tool("swaks")
    handler = Collector(refuse_rcpt=("nobody@example.com",))

    async def main():
        async with running_server(handler) as port:
            argv = swaks(port, data_file, "--to",
                         "b@example.com,nobody@example.com,c@example.com", "--pipeline")
            argv[0] = exe
            return await run_process(*argv)

    rc, out, err = run(main())
    assert rc == 0, out.decode() + err.decode()
    assert b"PIPELINING" in out and b"550 5.1.1" in out
    (env,) = handler.messages
    assert env.content == EXPECTED
    assert env.rcpt_tos == ["b@example.com", "c@example.com"]


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth(data_file, server_tls, mech):
    exe = require_tool("swaks")
    handler = Collector(credentials={"carol": "pa55 word"})

    async def main():
        async with running_server(handler, tls_context=server_tls) as port:
            argv = swaks(port, data_file, "--to", "b@example.com", "--tls", "--auth", mech,
                         "--auth-user", "carol", "--auth-password", "pa55 word")
            argv[0] = exe
            return await run_process(*argv)

    rc, out, err = run(main())
    assert rc == 0, out.decode() + err.decode()
    assert b"STARTTLS" in out and b"235" in out
    (env,) = handler.messages
    assert env.content == EXPECTED
    assert handler.sessions == [(True, "carol")]


def test_swaks_bad_password_is_refused(data_file, server_tls):
    exe = require_tool("swaks")
    handler = Collector(credentials={"carol": "right"})

    async def main():
        async with running_server(handler, tls_context=server_tls) as port:
            argv = swaks(port, data_file, "--to", "b@example.com", "--tls", "--auth", "PLAIN",
                         "--auth-user", "carol", "--auth-password", "wrong")
            argv[0] = exe
            return await run_process(*argv)

    rc, out, _ = run(main())
    assert rc != 0 and b"535" in out
    assert handler.messages == []


def test_swaks_quit_after_rcpt_leaves_no_message(data_file):
    exe = require_tool("swaks")
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            argv = swaks(port, data_file, "--to", "b@example.com", "--quit-after", "RCPT")
            argv[0] = exe
            return await run_process(*argv)

    rc, out, _ = run(main())
    assert rc == 0 and b"221" in out
    assert handler.messages == []
