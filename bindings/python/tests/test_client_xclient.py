# SPDX-License-Identifier: MIT
"""The clients' xclient= option (the engine's smtpcore_client_xclient) against
serve(xclient_from=...): asyncio and blocking, the attributes reach session.peer."""
import asyncio
from typing import Any

import smtpcore
import smtpcore.aio as aio

from conftest import run, running_server
from test_aio_proxy import MSG, Seen


def test_clients_send_xclient() -> None:
    seen = Seen()

    def blocking(port: int) -> None:
        with smtpcore.SMTPClient("127.0.0.1", port, xclient={"ADDR": "2001:db8::5"}) as b:
            b.send("a@example.org", ["b@example.org"], MSG)

    async def main() -> None:
        async with running_server(seen, xclient_from=["10.0.0.0/8", "127.0.0.1"]) as port:
            async with aio.SMTPClient(
                    "127.0.0.1", port, helo_name="proxy.example.org",
                    xclient={"ADDR": "192.0.2.9", "PORT": "2525", "LOGIN": "alice",
                             "NAME": "[UNAVAILABLE]"}) as c:
                await c.send("a@example.org", ["b@example.org"], MSG)
            await asyncio.to_thread(blocking, port)

    run(main())
    (p1, pp1, how1, helo1, auth1, content), (p2, pp2, how2, *_) = seen.got
    assert p1 == ("192.0.2.9", 2525) and how1 == "xclient" and auth1 == "alice"
    assert helo1 == "proxy.example.org"  # the client said EHLO again after the new 220
    assert pp1[0] == "127.0.0.1" and content == MSG
    assert p2 == ("2001:db8::5", None) and how2 == "xclient"


def test_client_xclient_refused_is_an_error() -> None:
    seen = Seen()

    async def main() -> Any:
        async with running_server(seen, xclient_from="127.0.0.1") as port:
            try:
                await aio.send_message("127.0.0.1", port, _msg(), xclient={"BOGUS": "1"})
            except smtpcore.SMTPClientError as exc:
                return exc
        return None

    exc = run(main())
    assert exc is not None and "XCLIENT refused" in str(exc) and exc.smtp_code == 501
    assert seen.got == []


def _msg() -> Any:
    import email.message
    m = email.message.EmailMessage()
    m["From"] = "a@example.org"
    m["To"] = "b@example.org"
    m["Subject"] = "xclient"
    m.set_content("hello\n")
    return m
