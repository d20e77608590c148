#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""smtpcore.aio.serve() for the deploy tests: stores each message as DIR/N.eml and its
session as DIR/N.json ({"peer": [addr, port], "proxy_peer": [addr, port] or null,
"helo": ..., "from": ..., "to": [...]}), prints "listening on 127.0.0.1:PORT".

Usage: py_server.py DIR [--proxy-protocol v1|v2|any] [--xclient-from CIDR,...]
Stops on SIGTERM (or after 300 s).
"""
import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

import smtpcore.aio


class Store(smtpcore.aio.Handler):
    def __init__(self, out: str) -> None:
        self.out = out
        self.n = 0

    async def handle_message(self, session: Any, envelope: Any) -> Any:
        self.n += 1
        base = os.path.join(self.out, str(self.n))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({"peer": list(session.peer) if session.peer else None,
                       "proxy_peer": list(session.proxy_peer) if session.proxy_peer else None,
                       "helo": session.host_name, "from": envelope.mail_from,
                       "to": envelope.rcpt_tos}, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return None


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--proxy-protocol")
    ap.add_argument("--xclient-from", default="")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    kw: dict[str, Any] = {}
    if a.proxy_protocol:
        kw["proxy_protocol"] = a.proxy_protocol
    if a.xclient_from:
        kw["xclient_from"] = a.xclient_from.split(",")
    server = await smtpcore.aio.serve(Store(a.dir), "127.0.0.1", 0, **kw)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on 127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), 300)
    except asyncio.TimeoutError:
        pass
    server.close()
    await server.wait_closed()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
