# SPDX-License-Identifier: MIT
"""``python -m smtpcore``: a debugging SMTP server that prints every message it receives
(like ``python -m aiosmtpd -n``). For development and tests, never for production: it
accepts every sender and recipient and keeps nothing.

    python -m smtpcore                       # listens on 127.0.0.1:8025
    python -m smtpcore -l 0.0.0.0:2525 --tls-cert cert.pem --tls-key key.pem -d
    python -m smtpcore --loop uvloop         # on uvloop (optional, python3-uvloop)
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from typing import Any, Sequence, TextIO

from . import __version__
from .aio import Envelope, Handler, Session, loop_factory, run, serve
from .aio.loop import LOOPS

__all__ = ["main", "Printer"]


class Printer(Handler):
    """Prints each message (envelope, then the content as received) to ``out``."""

    def __init__(self, out: TextIO, count: int = 0) -> None:
        self.out = out
        self.left = count            # 0: no limit
        self.done = asyncio.Event()

    async def handle_message(self, session: Session, envelope: Envelope) -> None:
        w = self.out.write
        w("---------- MESSAGE FOLLOWS ----------\n")
        peer = session.peer
        w(f"X-Peer: {peer[0]}:{peer[1]}\n" if isinstance(peer, tuple) else f"X-Peer: {peer}\n")
        w(f"X-Helo: {session.host_name}\n")
        w(f"X-Mail-From: <{envelope.mail_from}>\n")
        w("".join(f"X-Rcpt-To: <{r}>\n" for r in envelope.rcpt_tos))
        if session.tls:
            w("X-TLS: yes\n")
        if session.authenticated is not None:
            w(f"X-Auth-User: {session.authenticated}\n")
        w("\n")
        text = envelope.content.decode("utf-8", "backslashreplace").replace("\r\n", "\n")
        w(text if text.endswith("\n") or not text else text + "\n")
        w("------------ END MESSAGE ------------\n")
        self.out.flush()
        if self.left:
            self.left -= 1
            if not self.left:
                self.done.set()


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m smtpcore",
        description="Debugging SMTP server: prints every message it receives to stdout "
                    "(like python -m aiosmtpd -n). Accepts any sender and recipient.")
    p.add_argument("-l", "--listen", type=_listen, default=("127.0.0.1", 8025),
                   metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:8025; "
                   "port 0 picks a free one, printed on stderr)")
    p.add_argument("-n", "--nosetuid", action="store_true",
                   help="accepted for aiosmtpd compatibility (this server never changes user)")
    p.add_argument("--hostname", default=None, help="name in the greeting and EHLO reply")
    p.add_argument("--size", type=int, default=None, metavar="BYTES",
                   help="SIZE limit announced and enforced (default: the engine's)")
    p.add_argument("--tls-cert", metavar="PEM", help="certificate chain: offer STARTTLS")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--count", type=int, default=0, metavar="N",
                   help="exit after N messages (default: run until interrupted)")
    p.add_argument("--loop", choices=LOOPS, default="asyncio",
                   help="event loop: asyncio (default) or uvloop (optional, faster; needs "
                        "the uvloop package, Debian python3-uvloop)")
    p.add_argument("-d", "--debug", action="store_true",
                   help="log sessions and protocol errors to stderr")
    p.add_argument("--version", action="version", version=f"smtpcore {__version__}")
    return p


async def _run(args: argparse.Namespace, out: TextIO) -> None:
    ctx = None
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    printer = Printer(out, args.count)
    host, port = args.listen
    server = await serve(printer, host, port, tls_context=ctx, hostname=args.hostname,
                         max_message_size=args.size)
    bound = server.sockets[0].getsockname()
    print(f"smtpcore {__version__}: listening on {bound[0]}:{bound[1]}"
          + (" (STARTTLS)" if ctx else ""), file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover (not main thread)
            pass
    waits: list[Any] = [asyncio.ensure_future(stop.wait())]
    if args.count:
        waits.append(asyncio.ensure_future(printer.done.wait()))
    async with server:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for w in waits:
        w.cancel()


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``python -m smtpcore``; returns the exit status."""
    args = _parser().parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        print("python -m smtpcore: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,
                            format="%(asctime)s %(name)s %(message)s")
    try:
        loop_factory(args.loop)
    except RuntimeError as exc:  # --loop uvloop without uvloop installed
        print(f"python -m smtpcore: {exc}", file=sys.stderr)
        return 2
    try:
        run(_run(args, out or sys.stdout), loop=args.loop)
    except OSError as exc:
        print(f"python -m smtpcore: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
