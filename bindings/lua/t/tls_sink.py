#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""An independent SMTP peer for the nginx test: aiosmtpd with STARTTLS required and
AUTH (user/secret) allowed only over TLS. Stores each message as DIR/N.eml (content as
received, unstuffed) and DIR/N.env (envelope, TLS and AUTH state).

Usage: tls_sink.py DIR PORT CERT KEY   (runs until killed)
"""
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.directory, str(self.count))
        with open(base + ".env", "w", encoding="utf-8") as f:
            f.write("MAIL FROM:<%s>\n" % envelope.mail_from)
            for rcpt in envelope.rcpt_tos:
                f.write("RCPT TO:<%s>\n" % rcpt)
            f.write("tls=%s\n" % ("yes" if session.ssl is not None else "no"))
            data = session.auth_data if session.authenticated else None
            f.write("auth=%s\n" % (data.login.decode()
                                   if isinstance(data, LoginPassword) else "-"))
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 Stored"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"user"
          and auth_data.password == b"secret")
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main(argv):
    directory, port, cert, key = argv[1], int(argv[2]), argv[3], argv[4]
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    controller = Controller(Store(directory), hostname="127.0.0.1", port=port,
                            server_hostname="localhost", tls_context=context,
                            require_starttls=True, authenticator=authenticator,
                            auth_require_tls=True, decode_data=False)
    controller.start()
    with open(os.path.join(directory, "ready"), "w", encoding="utf-8") as f:
        f.write("%d\n" % port)
    try:
        # Bounded: the test kills us long before; never outlive a forgotten run.
        time.sleep(600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main(sys.argv)
