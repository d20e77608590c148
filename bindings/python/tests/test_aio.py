# SPDX-License-Identifier: MIT
"""smtpcore.aio client against smtpcore.aio server on 127.0.0.1 (both directions of the
batteries at once): several recipients, refusals, STARTTLS, AUTH, handler styles."""
import asyncio
import email.message

import pytest

import smtpcore
import smtpcore.aio as aio

from conftest import Collector, run, running_server


def make_message(to="b@example.com, c@example.com", body="Hello.\n.\n..two dots\n"):
    msg = email.message.EmailMessage()
    msg["From"] = "Alice <a@example.com>"
    msg["To"] = to
    msg["Subject"] = "smtpcore test"
    msg.set_content(body)
    return msg


def test_send_message_several_recipients_byte_identical():
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            msg = make_message()
            msg["Bcc"] = "hidden@example.com"
            result = await aio.send_message("127.0.0.1", port, msg)
            return msg, result

    msg, result = run(main())
    assert result.ok and result.refused == {}
    assert result.accepted == ["b@example.com", "c@example.com", "hidden@example.com"]
    (env,) = handler.messages
    assert env.mail_from == "a@example.com"
    assert env.rcpt_tos == ["b@example.com", "c@example.com", "hidden@example.com"]
    assert env.content == aio.client.flatten_message(msg)
    assert b"hidden@example.com" not in env.content  # Bcc is not transmitted


def test_refused_recipient_is_reported_per_recipient():
    handler = Collector(refuse_rcpt=("nobody@example.com",))

    async def main():
        async with running_server(handler) as port:
            return await aio.send_message("127.0.0.1", port,
                                          make_message("b@example.com, nobody@example.com"))

    result = run(main())
    assert result.ok
    assert result.accepted == ["b@example.com"]
    assert result.refused["nobody@example.com"].code == 550
    assert result.refused["nobody@example.com"].enhanced == "5.1.1"
    assert handler.messages[0].rcpt_tos == ["b@example.com"]


def test_all_recipients_refused_raises_send_error():
    handler = Collector(refuse_rcpt=("x@example.com",))

    async def main():
        async with running_server(handler) as port:
            return await aio.send_message("127.0.0.1", port, make_message("x@example.com"))

    with pytest.raises(aio.SendError) as ei:
        run(main())
    assert not ei.value.result.ok
    assert ei.value.result.refused["x@example.com"].code == 550
    assert handler.messages == []


def test_message_refused_by_handler():
    class Refuse(aio.Handler):
        async def handle_message(self, session, envelope):
            return aio.Response(554, "Spam, go away", "5.7.1")

    async def main():
        async with running_server(Refuse()) as port:
            return await aio.send_message("127.0.0.1", port, make_message())

    with pytest.raises(aio.SendError) as ei:
        run(main())
    assert ei.value.result.reply.code == 554
    assert "Spam" in ei.value.result.reply.text


def test_several_messages_on_one_connection_and_noop():
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            async with aio.SMTPClient("127.0.0.1", port) as client:
                for i in range(5):
                    await client.send_message(make_message(body=f"message {i}\n"))
                    assert (await client.noop()).code == 250
                assert (await client.rset()).code == 250
                await client.send("", ["b@example.com"], b"Subject: bounce\r\n\r\nx\r\n")

    run(main())
    assert len(handler.messages) == 6
    assert [m.content.endswith(b"message %d\r\n" % i) for i, m in
            enumerate(handler.messages[:5])] == [True] * 5
    assert handler.messages[5].mail_from == ""


def test_starttls_and_auth(server_tls, client_tls):
    handler = Collector(credentials={"alice": "s3cret"})

    async def main():
        async with running_server(handler, tls_context=server_tls) as port:
            return await aio.send_message(
                "127.0.0.1", port, make_message(), starttls=True, tls_context=client_tls,
                server_hostname="localhost", username="alice", password="s3cret")

    assert run(main()).ok
    assert handler.sessions == [(True, "alice")]


def test_bad_password_fails_cleanly(server_tls, client_tls):
    handler = Collector(credentials={"alice": "s3cret"})

    async def main():
        async with running_server(handler, tls_context=server_tls) as port:
            return await aio.send_message(
                "127.0.0.1", port, make_message(), starttls=True, tls_context=client_tls,
                username="alice", password="wrong")

    with pytest.raises(aio.SMTPClientError):
        run(main())
    assert handler.messages == []


def test_required_tls_without_server_support_fails():
    async def main():
        async with running_server(Collector()) as port:
            return await aio.send_message("127.0.0.1", port, make_message(), starttls=True)

    with pytest.raises(aio.SMTPClientError):
        run(main())


def test_plain_callable_and_sync_handler():
    got = []

    async def main():
        async with running_server(got.append) as port:
            await aio.send_message("127.0.0.1", port, make_message())

    run(main())
    assert len(got) == 1 and got[0].rcpt_tos == ["b@example.com", "c@example.com"]


def test_string_results_and_handler_exception():
    class H:
        async def handle_mail(self, session, envelope, address, params):
            if address == "boom@example.com":
                raise RuntimeError("handler bug")
            return "250 2.1.0 Sender fine"

    async def main():
        async with running_server(H()) as port:
            ok = await aio.send_message("127.0.0.1", port, make_message())
            with pytest.raises(aio.SendError) as ei:
                await aio.send_message("127.0.0.1", port, make_message(),
                                       sender="boom@example.com")
            return ok, ei.value

    ok, err = run(main())
    assert ok.mail_reply.lines == ("2.1.0 Sender fine",)
    assert err.result.mail_reply.code == 451


def test_smtputf8_addresses():
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            msg = make_message(to="josé@exämple.com")
            return await aio.send_message("127.0.0.1", port, msg)

    assert run(main()).ok
    env = handler.messages[0]
    assert env.rcpt_tos == ["josé@exämple.com"] and env.mail_params.smtputf8


def test_implicit_tls(server_tls, client_tls):
    handler = Collector()

    async def main():
        async with running_server(handler, tls_context=server_tls, implicit_tls=True) as port:
            return await aio.send_message("127.0.0.1", port, make_message(),
                                          implicit_tls=True, tls_context=client_tls,
                                          server_hostname="localhost")

    assert run(main()).ok
    assert handler.sessions == [(True, None)]


def test_response_parsing():
    assert aio.Response(550, "No", "5.1.1") == aio._common.parse_response("550 5.1.1 No")
    assert aio._common.parse_response("250 Ok").code == 250
    with pytest.raises(ValueError):
        aio._common.parse_response("hello")


def test_quickstart_example_runs():
    import subprocess
    import sys
    from conftest import REPO
    r = subprocess.run([sys.executable, str(REPO / "bindings/python/examples/quickstart.py")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "got ['you@example.com']" in r.stdout and "Hello from smtpcore!" in r.stdout
    assert "accepted ['you@example.com']" in r.stdout


def test_many_pipelined_recipients_through_small_engine_buffers():
    handler = Collector()
    rcpts = [f"user{i}@example.com" for i in range(300)]
    data = b"Subject: many\r\n\r\n" + b"".join(b"line %d\r\n" % i for i in range(5000))

    async def main():
        async with running_server(handler, input_buffer_size=600, output_buffer_size=1024,
                                  max_recipients=1000) as port:
            async with aio.SMTPClient("127.0.0.1", port, output_buffer_size=1024) as c:
                return await c.send("a@example.com", rcpts, data)

    result = run(main())
    assert result.accepted == rcpts
    assert handler.messages[0].rcpt_tos == rcpts
    assert handler.messages[0].content == data


@pytest.mark.parametrize("quirks", [0, 4])  # 4: Quirk.NO_CHUNKING (DATA instead of BDAT)
def test_one_megabyte_message_byte_identical(quirks):
    handler = Collector()
    data = b"Subject: big\r\n\r\n" + b"".join(
        (b"." if i % 7 == 0 else b"") + b"%08d " % i + b"x" * 90 + b"\r\n" for i in range(10000))

    async def main():
        async with running_server(handler) as port:
            async with aio.SMTPClient("127.0.0.1", port, quirks=quirks) as c:
                return await c.send("a@example.com", ["b@example.com"], data)

    assert run(main()).ok
    assert handler.messages[0].content == data
    assert handler.messages[0].bdat == (quirks == 0)


def test_message_over_size_limit_is_refused_before_sending():
    handler = Collector()

    async def main():
        async with running_server(handler, max_message_size=1000) as port:
            return await aio.send_message("127.0.0.1", port, make_message(body="x" * 2000))

    with pytest.raises(aio.SendError) as ei:
        run(main())
    assert ei.value.result.failure == smtpcore.Failure.LOCAL
    assert handler.messages == []


def test_dsn_parameters_round_trip():
    handler = Collector()

    async def main():
        async with running_server(handler) as port:
            async with aio.SMTPClient("127.0.0.1", port) as c:
                return await c.send(
                    "a@example.com", ["b@example.com"], b"Subject: dsn\r\n\r\nx\r\n",
                    mail_options={"ret": smtpcore.DsnRet.HDRS, "envid": "id+1=2"},
                    rcpt_options={"notify": smtpcore.DsnNotify.FAILURE | smtpcore.DsnNotify.DELAY,
                                  "orcpt": "rfc822;b+x@example.com"})

    assert run(main()).ok
    env = handler.messages[0]
    assert env.mail_params.ret == smtpcore.DsnRet.HDRS
    assert smtpcore.xtext_decode(env.mail_params.envid) == b"id+1=2"
    (rp,) = env.rcpt_params
    assert rp.notify == smtpcore.DsnNotify.FAILURE | smtpcore.DsnNotify.DELAY
    assert smtpcore.xtext_decode(rp.orcpt) == b"rfc822;b+x@example.com"


def test_xoauth2_and_login_mechanisms(server_tls, client_tls):
    seen = []

    class H(aio.Handler):
        async def handle_auth(self, session, mechanism, username, password):
            seen.append((mechanism, username, password))
            return password == "token-123"

    async def main():
        async with running_server(H(), tls_context=server_tls,
                                  auth_mechs=smtpcore.AuthMech.XOAUTH2 | smtpcore.AuthMech.LOGIN
                                  ) as port:
            for mech in ("XOAUTH2", "LOGIN"):
                await aio.send_message("127.0.0.1", port, make_message(), starttls=True,
                                       tls_context=client_tls, server_hostname="localhost",
                                       username="dave@example.com", password="token-123",
                                       auth_mechanism=mech)

    run(main())
    assert seen == [(smtpcore.AuthMech.XOAUTH2, "dave@example.com", "token-123"),
                    (smtpcore.AuthMech.LOGIN, "dave@example.com", "token-123")]


def test_connection_refused_and_failed_setup_leave_nothing_open():
    from conftest import free_port
    port = free_port()
    with pytest.raises(OSError):
        run(aio.send_message("127.0.0.1", port, make_message()))

    async def main():
        async with running_server(Collector()) as p:
            client = aio.SMTPClient("127.0.0.1", p, starttls=True)  # server has no STARTTLS
            with pytest.raises(aio.SMTPClientError):
                async with client:
                    pass
            assert client._writer is None and client._conn is None

    run(main())


def test_streaming_body_hook():
    class Streamer(aio.Handler):
        def __init__(self):
            self.parts = []
            self.sizes = []

        async def handle_body(self, session, envelope, data):
            self.parts.append(data)

        async def handle_message(self, session, envelope):
            self.sizes.append((len(envelope.content), sum(map(len, self.parts))))

    h = Streamer()
    data = b"Subject: stream\r\n\r\n" + b"".join(b"%06d\r\n" % i for i in range(100000))

    async def main():
        async with running_server(h) as port:
            async with aio.SMTPClient("127.0.0.1", port) as c:
                await c.send("a@example.com", ["b@example.com"], data)

    run(main())
    assert b"".join(h.parts) == data
    assert len(h.parts) > 10  # arrived in slices, not as one buffer
    assert h.sizes == [(0, len(data))]


def test_run_chooses_the_event_loop() -> None:
    """smtpcore.aio.run: the standard loop by default, uvloop on request when installed
    (optional), a clear error otherwise; a serve() session works on either."""
    import smtplib

    from smtpcore.aio import loop_factory, run as aio_run, serve

    async def session() -> tuple[str, list[bytes]]:
        got: list[bytes] = []

        async def on_message(envelope) -> None:  # type: ignore[no-untyped-def]
            got.append(envelope.content)

        server = await serve(on_message, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        def send() -> None:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("a@example.org", ["b@example.com"], b"Subject: x\r\n\r\nhi\r\n")

        async with server:
            await asyncio.get_running_loop().run_in_executor(None, send)
        return type(asyncio.get_running_loop()).__module__, got

    module, got = aio_run(session())
    assert module.startswith("asyncio") and got == [b"Subject: x\r\n\r\nhi\r\n"]
    with pytest.raises(ValueError, match="unknown event loop"):
        aio_run(session(), loop="trio")
    try:
        import uvloop  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="python3-uvloop"):
            loop_factory("uvloop")
        return
    module, got = aio_run(session(), loop="uvloop")
    assert module.startswith("uvloop") and got == [b"Subject: x\r\n\r\nhi\r\n"]
