# SPDX-License-Identifier: MIT
"""What handlers see and how their results become replies: :class:`Session`,
:class:`Envelope`, the :class:`Handler` base class and :func:`answer`. A leaf of the
asyncio server (it imports nothing of it), so the dispatcher, both connection runners and
the aiosmtpd adapter import it at the top, without a circle.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

from .. import server as sev
from ..enums import AuthMech
from ..server import ServerConnection
from ..values import _NO_MAIL_PARAMS, MailParams, RcptParams
from ._common import CloseReply, Response, parse_response

__all__ = ["Session", "Envelope", "Handler", "Result", "MessageResult", "answer", "HOOKS",
           "CallableHandler", "wrap_partial", "overridden_hooks", "new_envelope"]

Result = Union[None, bool, int, str, Response]
#: What handle_message may return in LMTP mode: one Result for all, or per recipient.
MessageResult = Union[Result, Mapping[str, Result]]


@dataclass(slots=True)
class Session:
    """Per-connection state visible to handlers."""

    peer: Any = None
    """The client's address: the socket's getpeername(), or ``(address, port)`` from a
    PROXY header or XCLIENT when ``serve()`` was told to expect them (then the port may be
    None: nginx sends XCLIENT ADDR without PORT)."""
    proxy_peer: Any = None
    """The proxy's own address (the socket's peer) when a proxy named the client, else
    None."""
    proxy: str | None = None
    """How the client was named: "v1" or "v2" (PROXY header), "xclient", or None."""
    host_name: str | None = None
    """Argument of the last HELO/EHLO."""
    esmtp: bool = False
    tls: bool = False
    """True once STARTTLS completed (or for an implicit-TLS listener)."""
    authenticated: str | None = None
    """The user name of a successful AUTH."""
    ssl_object: Any = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Free for the handler's own use."""


@dataclass(slots=True)
class Envelope:
    """One mail transaction."""

    mail_from: str | None = None
    """Reverse path without <> ("" for the null sender)."""
    # One shared MailParams() (frozen): a new envelope per message builds no new one.
    mail_params: MailParams = _NO_MAIL_PARAMS
    rcpt_tos: list[str] = field(default_factory=list)
    """Accepted recipients, in order."""
    rcpt_params: list[RcptParams] = field(default_factory=list)
    content: bytes = b""
    """The message exactly as received (unstuffed, CRLF line ends), at handle_message."""
    bdat: bool = False
    long_lines: bool = False


_new_object = object.__new__


def new_envelope(mail_from: str, mail_params: MailParams) -> Envelope:
    """``Envelope(mail_from, mail_params)`` for the dispatcher's MAIL, once per message:
    the dataclass's ``__init__`` through ``type.__call__`` with its default factories
    costs about 3,100 instructions, this about 1,200. Sets every field (a test compares
    the two)."""
    env = _new_object(Envelope)
    env.mail_from = mail_from
    env.mail_params = mail_params
    env.rcpt_tos = []
    env.rcpt_params = []
    env.content = b""
    env.bdat = False
    env.long_lines = False
    return env


class Handler:
    """Base class with the default behaviour of every hook (subclass what you need).

    Hooks that answer a command return ``None``/``True`` (accept with the engine's
    default reply), ``False`` (refuse with a default code), an ``int`` code, a
    ``"550 5.1.1 text"`` string or a :class:`Response`. Hooks a subclass does not
    override are not called at all (the engine answers). An exception in a hook answers
    451 4.3.0 and is logged. aiosmtpd handlers (``handle_DATA(server, session,
    envelope)`` etc.) need no subclass: :func:`serve` adapts them.
    """

    async def handle_connect(self, session: Session) -> Result:
        """A client connected; the greeting is due. None accepts (220 greeting); 554
        (or False) refuses the session, 421 defers it."""
        return None

    async def handle_helo(self, session: Session, name: str, esmtp: bool) -> Result:
        """HELO (``esmtp`` False) or EHLO with the client's ``name`` (also in
        ``session.host_name``). None accepts with the engine's reply, which for EHLO
        lists the keywords (see :meth:`ehlo_keywords`). A new HELO/EHLO drops the
        transaction in progress."""
        return None

    def ehlo_keywords(self, session: Session, keywords: list[str]) -> list[str]:
        """The EHLO keyword lines to announce, e.g. ``["PIPELINING", "SIZE 10240000",
        "8BITMIME", ...]`` as given (for this session: no STARTTLS after TLS, AUTH only
        where allowed). Override to add keywords (``keywords + ["XFOO"]``), reorder or
        hide some. This is what is *announced*; what the engine *accepts* is set by
        ``serve(extensions=...)``, so switch an extension off there, not here. A plain
        method or a coroutine; not called for HELO or when ``handle_helo`` refuses."""
        return keywords

    async def handle_auth(self, session: Session, mechanism: AuthMech, username: str,
                          password: str) -> Result:
        """AUTH with decoded credentials (``mechanism`` is an :class:`AuthMech`; for
        XOAUTH2 ``password`` is the bearer token). Return True to accept (235); the
        default refuses (535 5.7.8). On success ``session.authenticated`` is the user
        name. Overriding this method makes :func:`serve` offer AUTH PLAIN and LOGIN."""
        return False

    async def handle_mail(self, session: Session, envelope: Envelope, address: str,
                          params: MailParams) -> Result:
        """MAIL FROM:<address> ("" for the null sender) with its ESMTP ``params``; a
        new ``envelope`` (``mail_from`` already set). Refusing drops the envelope."""
        return None

    async def handle_rcpt(self, session: Session, envelope: Envelope, address: str,
                          params: RcptParams) -> Result:
        """RCPT TO:<address> with its ESMTP ``params``. When the hook accepts, the
        address is appended to ``envelope.rcpt_tos`` (and ``params`` to
        ``envelope.rcpt_params``) after it returns; a hook that appends it itself, as
        aiosmtpd's ``handle_RCPT`` must, is not doubled."""
        return None

    async def handle_data(self, session: Session, envelope: Envelope) -> Result:
        """The DATA command (or the first BDAT), *before* any content: accept (354) or
        refuse the transaction. The content arrives later in :meth:`handle_message`
        (aiosmtpd's ``handle_DATA`` corresponds to ``handle_message``, not to this)."""
        return None

    async def handle_body(self, session: Session, envelope: Envelope, data: bytes) -> None:
        """Override to stream the message: each slice of content (unstuffed) arrives here
        as it is received, and ``envelope.content`` stays empty. By default the slices are
        collected into ``envelope.content``."""
        return None

    async def handle_message(self, session: Session, envelope: Envelope) -> MessageResult:
        """The whole message is in ``envelope.content``. The default accepts it. In LMTP
        mode a dict ``{recipient: result}`` answers each recipient on its own."""
        return None

    async def handle_vrfy(self, session: Session, argument: str) -> Result:
        """VRFY <argument> (only when ``extensions`` include VRFY). None gives the
        engine's 252 (cannot verify, will try)."""
        return None

    async def handle_close(self, session: Session) -> None:
        """The connection is closed (whatever the reason); its result is ignored."""
        return None


class CallableHandler(Handler):
    """A plain function (or coroutine function) of the envelope as the handler."""

    def __init__(self, fn: Callable[[Envelope], Any]) -> None:
        self._fn = fn
        if inspect.iscoroutinefunction(fn):
            # Its coroutine is the hook's: no second coroutine around it per message.
            def direct(session: Session, envelope: Envelope) -> Any:
                return fn(envelope)
            # The plaintext runner calls fn itself at the end of a message (PumpArea).
            setattr(direct, "envelope_only", fn)
            self.handle_message = direct  # type: ignore[assignment]

    async def handle_message(self, session: Session, envelope: Envelope) -> MessageResult:
        r = self._fn(envelope)
        if inspect.isawaitable(r):
            r = await r
        return r  # type: ignore[no-any-return]


_DEFAULT_REFUSAL = {
    sev.Connect: (554, "5.3.2", None),
    sev.Helo: (550, "5.7.1", None),
    sev.Auth: (535, "5.7.8", "Authentication credentials invalid"),
    sev.Mail: (550, "5.7.1", None),
    sev.Rcpt: (550, "5.1.1", None),
    sev.Data: (554, "5.5.0", None),
    sev.MessageEnd: (554, "5.6.0", "Message refused"),
    sev.Vrfy: (550, "5.1.1", None),
}


def answer(conn: ServerConnection, kind: type, result: Any,
           rcpts: Sequence[str] | None = None) -> bool:
    """Applies a handler's ``result`` to the pending event of class ``kind`` (e.g.
    :class:`smtpcore.server.Rcpt`; no event object is needed); True when it accepted.
    ``rcpts``: the accepted recipients of an LMTP MessageEnd, for per-recipient answers."""
    if rcpts is not None and isinstance(result, Mapping):
        return _answer_rcpts(conn, rcpts, result)
    if result is None or result is True:
        conn.accept()
        return True
    if isinstance(result, CloseReply):
        conn.close_with(result.code, result.enhanced, result.text)
        return False
    if result is False:
        code, enh, text = _DEFAULT_REFUSAL.get(kind, (550, None, None))
        conn.reject(code, enh, text)
        return False
    if isinstance(result, int):
        result = Response(result)
    elif isinstance(result, str):
        result = parse_response(result)
    if not isinstance(result, Response):
        raise TypeError(f"handler returned {result!r}")
    conn.reply(result.code, result.enhanced, result.text)
    return result.code < 400


def _resolve(result: Result) -> tuple[int, str | None, str | None]:
    """A per-recipient LMTP result as (code, enhanced, text); None/True is 250."""
    if result is None or result is True:
        return 250, None, None
    if result is False:
        return _DEFAULT_REFUSAL[sev.MessageEnd]
    if isinstance(result, int):
        return result, None, None
    if isinstance(result, str):
        result = parse_response(result)
    if not isinstance(result, Response):
        raise TypeError(f"handler returned {result!r} for a recipient")
    return result.code, result.enhanced, result.text


def _answer_rcpts(conn: ServerConnection, rcpts: Sequence[str],
                  answers: Mapping[str, Result]) -> bool:
    """LMTP: one reply per recipient (RFC 2033 4.2) from a dict keyed by address; the
    engine sends them in RCPT order. Recipients not in the dict are accepted. Returns True
    when one recipient was accepted. Every answer is checked before the first is given,
    so a bad entry refuses the whole message (451) instead of answering half of it."""
    resolved = [_resolve(answers[r]) if r in answers else None for r in rcpts]
    any_ok = False
    for i, res in enumerate(resolved):
        if res is None:
            any_ok = True
            continue
        code, enh, text = res
        conn.reply_rcpt(i, code, enh, text)
        any_ok |= code < 400
    if conn.rcpt_unanswered:
        conn.accept()
    return any_ok


def wrap_partial(obj: Any) -> Handler:
    """Adapts an object implementing only some handle_* coroutines (aiosmtpd style)."""
    class _Adapter(Handler):
        pass

    adapter = _Adapter()
    for name in HOOKS:
        fn = getattr(obj, name, None)
        if fn is not None:
            setattr(adapter, name, fn)
    return adapter


#: Every hook a handler may define.
HOOKS = ("handle_connect", "handle_helo", "ehlo_keywords", "handle_auth", "handle_mail",
         "handle_rcpt", "handle_data", "handle_body", "handle_message", "handle_vrfy",
         "handle_close")


def overridden_hooks(handler: Handler) -> dict[str, Any]:
    """The handler's hook methods, None for those it does not override (the base class
    behaviour, accept with the engine's default reply, is applied without a call)."""
    hooks: dict[str, Any] = {}
    for name in ("handle_connect", "handle_helo", "handle_mail", "handle_rcpt", "handle_data",
                 "handle_body", "handle_message", "handle_vrfy", "handle_close"):
        fn = getattr(handler, name)
        func = getattr(fn, "__func__", fn)
        hooks[name] = None if func is getattr(Handler, name) else fn
    return hooks
