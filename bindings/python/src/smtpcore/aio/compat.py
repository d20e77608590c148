# SPDX-License-Identifier: MIT
"""Runs an unchanged aiosmtpd handler on :func:`smtpcore.aio.serve` (and
:class:`~smtpcore.aio.Controller`): switching is one changed import.

:func:`serve` selects this adapter by itself when the handler has one of aiosmtpd's
upper-case hooks (``handle_DATA``, ``handle_RCPT``, ``handle_MAIL``, ``handle_EHLO``,
``handle_HELO``, ``handle_VRFY``) or when ``authenticator=`` is given. The hooks are
called as aiosmtpd calls them, ``(server, session, envelope, ...)``, with aiosmtpd-like
objects: ``envelope.mail_from``, ``mail_options``, ``rcpt_tos``, ``rcpt_options``,
``content`` (bytes, as aiosmtpd's default ``decode_data=False``), ``original_content``,
``smtp_utf8``; ``session.peer``, ``host_name``, ``extended_smtp``, ``ssl``,
``authenticated``, ``login_data``, ``auth_data``. As in aiosmtpd, a ``handle_MAIL`` or
``handle_RCPT`` the handler defines fills the envelope itself (recipients are not
doubled), and without one the adapter does it. They return status strings (``"250
OK"``, ``"550 5.1.1 no such user"``, multi-line ones joined by CRLF) or aiosmtpd's
``MISSING`` for the default.

Not mapped: ``handle_RSET``, ``handle_NOOP``, ``handle_QUIT``, ``handle_exception``,
``handle_PROXY`` and ``auth_MECHANISM`` methods (the engine answers RSET/NOOP/QUIT
itself; AUTH PLAIN, LOGIN and XOAUTH2 go to ``authenticator``).
"""
from __future__ import annotations

import asyncio
import importlib
import inspect
from collections import namedtuple
from typing import Any, Callable

from ..enums import AuthMech, BodyType, DsnNotify, DsnRet
from ..values import MailParams, RcptParams
from ._policy import default_keywords
from ._handler import Envelope, Handler, Result, Session

__all__ = ["AiosmtpdHandler", "is_aiosmtpd_handler", "AiosmtpdEnvelope", "AiosmtpdSession",
           "LoginPassword"]

UPPER_HOOKS = ("handle_DATA", "handle_RCPT", "handle_MAIL", "handle_EHLO", "handle_HELO",
               "handle_VRFY")

def _login_password() -> Any:
    """aiosmtpd's own class when it is installed, so handlers' isinstance() checks hold."""
    try:
        return importlib.import_module("aiosmtpd.smtp").LoginPassword
    except ImportError:  # pragma: no cover
        return namedtuple("LoginPassword", ["login", "password"])


#: What ``authenticator`` receives as ``auth_data`` for PLAIN and LOGIN.
LoginPassword: Any = _login_password()


def is_aiosmtpd_handler(handler: Any) -> bool:
    """True for an object with aiosmtpd's upper-case hooks and none of smtpcore's."""
    return not isinstance(handler, Handler) and any(
        callable(getattr(handler, n, None)) for n in UPPER_HOOKS)


class AiosmtpdEnvelope:
    """aiosmtpd's Envelope (the attributes handlers use)."""

    def __init__(self) -> None:
        self.mail_from: str | None = None
        self.mail_options: list[str] = []
        self.smtp_utf8 = False
        self.content: bytes | str | None = None
        self.original_content: bytes | None = None
        self.rcpt_tos: list[str] = []
        self.rcpt_options: list[str] = []


class AiosmtpdSession:
    """aiosmtpd's Session: a plain object, so handlers may add attributes of their own."""

    def __init__(self, session: Session, loop: asyncio.AbstractEventLoop) -> None:
        self.peer = session.peer
        self.loop = loop
        self.host_name: str | None = None
        self.extended_smtp = False
        self.ssl: Any = None
        self.authenticated = False
        self.login_data: Any = None
        self.auth_data: Any = None
        self.proxy_data: Any = None

    def _update(self, session: Session) -> None:
        self.host_name = session.host_name
        self.extended_smtp = session.esmtp
        if session.tls:
            self.ssl = session.ssl_object


class _Server:
    """The ``server`` argument of aiosmtpd hooks (its SMTP protocol instance); only the
    attributes handlers commonly read."""

    def __init__(self, hostname: str, handler: Any) -> None:
        self.hostname = hostname
        self.event_handler = handler


def mail_options(p: MailParams) -> list[str]:
    """MAIL parameters as aiosmtpd lists them ("SIZE=123", "BODY=8BITMIME", ...)."""
    out = []
    if p.size is not None:
        out.append(f"SIZE={p.size}")
    if p.body != BodyType.UNSPECIFIED:
        out.append("BODY=" + {BodyType.SEVEN_BIT: "7BIT", BodyType.EIGHTBITMIME: "8BITMIME",
                              BodyType.BINARYMIME: "BINARYMIME"}[p.body])
    if p.smtputf8:
        out.append("SMTPUTF8")
    if p.ret != DsnRet.UNSPECIFIED:
        out.append(f"RET={p.ret.name}")
    if p.envid is not None:
        out.append("ENVID=" + p.envid.decode("ascii", "replace"))
    if p.auth is not None:
        out.append("AUTH=" + p.auth.decode("ascii", "replace"))
    return out


def rcpt_options(p: RcptParams) -> list[str]:
    """RCPT parameters as aiosmtpd lists them ("NOTIFY=SUCCESS,FAILURE", "ORCPT=...")."""
    out = []
    if p.notify:
        names = [n for n in ("NEVER", "SUCCESS", "FAILURE", "DELAY")
                 if p.notify & DsnNotify[n]]
        out.append("NOTIFY=" + ",".join(names))
    if p.orcpt is not None:
        out.append("ORCPT=" + p.orcpt.decode("ascii", "replace"))
    return out


def _status(result: Any) -> Result:
    """An aiosmtpd status string as a handler result (None for MISSING/None)."""
    if result is None or type(result).__name__ == "_Missing":
        return None
    if isinstance(result, str) and "\n" in result.strip():
        lines = [ln for ln in result.replace("\r\n", "\n").split("\n") if ln]
        code = lines[0][:3]
        return f"{code} " + "\n".join(ln[4:] for ln in lines)
    return result  # type: ignore[no-any-return]


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class AiosmtpdHandler(Handler):
    """Calls an aiosmtpd handler's hooks from smtpcore's (see the module docstring)."""

    def __init__(self, handler: Any, hostname: str | None = None,
                 authenticator: Callable[..., Any] | None = None, config: dict[str, Any]
                 | None = None) -> None:
        self.handler = handler
        self.authenticator = authenticator
        self.offers_auth = authenticator is not None
        self.server = _Server(hostname or "localhost", handler)
        self.config = config or {}
        # Only the hooks that exist are overridden, so the engine answers the rest
        # without a call (smtpcore's fast path).
        for mine, theirs in (("handle_helo", ("handle_EHLO", "handle_HELO")),
                             ("handle_vrfy", ("handle_VRFY",))):
            if not any(callable(getattr(handler, t, None)) for t in theirs):
                setattr(self, mine, getattr(Handler, mine).__get__(self))

    def _state(self, session: Session) -> tuple[AiosmtpdSession, AiosmtpdEnvelope]:
        state = session.extra.get("aiosmtpd")
        if state is None:
            state = (AiosmtpdSession(session, asyncio.get_running_loop()), AiosmtpdEnvelope())
            session.extra["aiosmtpd"] = state
        state[0]._update(session)
        return state

    def _new_envelope(self, session: Session) -> AiosmtpdEnvelope:
        s, _ = self._state(session)
        env = AiosmtpdEnvelope()
        session.extra["aiosmtpd"] = (s, env)
        return env

    async def handle_helo(self, session: Session, name: str, esmtp: bool) -> Result:
        s, _ = self._state(session)
        env = self._new_envelope(session)
        h = self.handler
        if esmtp and callable(getattr(h, "handle_EHLO", None)):
            params = list(inspect.signature(h.handle_EHLO).parameters)
            if len(params) >= 5:  # aiosmtpd >= 1.3: edits the response lines
                hostname = self.server.hostname
                lines = [f"{hostname} Hello {name}",
                         *default_keywords(self.config, bool(session.tls))]
                responses = [f"250-{ln}" for ln in lines[:-1]] + [f"250 {lines[-1]}"]
                out = await _maybe_await(h.handle_EHLO(self.server, s, env, name, responses))
                if isinstance(out, list):
                    text = "\n".join(str(r)[4:] for r in out)
                    return f"250 {text}"
                return _status(out)
            return _status(await _maybe_await(h.handle_EHLO(self.server, s, env, name)))
        if not esmtp and callable(getattr(h, "handle_HELO", None)):
            return _status(await _maybe_await(h.handle_HELO(self.server, s, env, name)))
        return None

    async def handle_auth(self, session: Session, mechanism: AuthMech, username: str,
                          password: str) -> Result:
        if self.authenticator is None:
            return False
        s, env = self._state(session)
        data = LoginPassword(username.encode("utf-8", "surrogateescape"),
                             password.encode("utf-8", "surrogateescape"))
        result = await _maybe_await(self.authenticator(
            self.server, s, env, mechanism.name, data))
        ok = bool(getattr(result, "success", result))
        if ok:
            s.authenticated = True
            s.login_data = username.encode("utf-8", "surrogateescape")
            s.auth_data = getattr(result, "auth_data", None) or data
        return ok

    async def handle_mail(self, session: Session, envelope: Envelope, address: str,
                          params: MailParams) -> Result:
        s, _ = self._state(session)
        env = self._new_envelope(session)
        opts = mail_options(params)
        env.smtp_utf8 = params.smtputf8
        hook = getattr(self.handler, "handle_MAIL", None)
        if hook is None:
            env.mail_from = address
            env.mail_options.extend(opts)
            return None
        return _status(await _maybe_await(hook(self.server, s, env, address, opts)))

    async def handle_rcpt(self, session: Session, envelope: Envelope, address: str,
                          params: RcptParams) -> Result:
        s, env = self._state(session)
        opts = rcpt_options(params)
        hook = getattr(self.handler, "handle_RCPT", None)
        if hook is None:
            env.rcpt_tos.append(address)
            env.rcpt_options.extend(opts)
            return None
        return _status(await _maybe_await(hook(self.server, s, env, address, opts)))

    async def handle_message(self, session: Session, envelope: Envelope) -> Result:
        s, env = self._state(session)
        env.content = envelope.content
        env.original_content = envelope.content
        self._new_envelope(session)  # aiosmtpd starts afresh after each message
        hook = getattr(self.handler, "handle_DATA", None)
        if hook is None:
            return None
        return _status(await _maybe_await(hook(self.server, s, env)))

    async def handle_vrfy(self, session: Session, argument: str) -> Result:
        s, env = self._state(session)
        return _status(await _maybe_await(self.handler.handle_VRFY(self.server, s, env,
                                                                   argument)))
