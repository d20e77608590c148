# SPDX-License-Identifier: MIT
"""The server role: :class:`ServerConnection` and its events.

A thin layer over smtpcore_server_*: bytes in with :meth:`ServerConnection.receive_data`,
events out with :meth:`ServerConnection.next_event`, answers with :meth:`accept` /
:meth:`reject` / :meth:`reply`, bytes out with :meth:`data_to_send`. All protocol logic
is the C engine's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator, Mapping

from ._connection import _Connection
from ._ffi import ffi, lib
from .enums import (
    AuthMech, BareLfPolicy, Extension, HeloClass, HeloPolicy, InjectionPolicy,
    ProxyCommand, ProxyFamily, ProxyMode, ProxyTransport, ServerEventType, NulPolicy, SyncPolicy,
    ShutdownReason, TalkerPolicy, Violation, XclientState, violation_of,
)
from .errors import check
from .values import MailParams, RcptParams, _slice, decode_text, encode_text

__all__ = [
    "ServerConnection", "ServerEvent", "Connect", "Helo", "Mail", "Rcpt", "Data", "Body",
    "MessageEnd", "MessageAborted", "Rset", "Noop", "Vrfy", "Expn", "Help", "StartTLS",
    "Auth", "Quit", "ProtocolError", "Close", "Proxy", "Xclient", "ProxyHeader",
    "XclientAttr", "DEFAULT_EXTENSIONS", "XCLIENT_ATTRIBUTES",
]

DEFAULT_EXTENSIONS = (Extension.PIPELINING | Extension.SIZE | Extension.EIGHTBITMIME
                      | Extension.SMTPUTF8 | Extension.DSN | Extension.ENHANCEDSTATUSCODES
                      | Extension.CHUNKING)


# --------------------------------------------------------------------------- events

@dataclass(slots=True)
class ServerEvent:
    """Base of every server event (smtpcore_server_event)."""

    type: ClassVar[ServerEventType]
    answer_required: bool = False
    """True: answer with accept()/reject()/reply() before the next event."""
    line: bytes = b""
    """The raw command line (without CRLF), when there is one."""


@dataclass(slots=True)
class Connect(ServerEvent):
    """The greeting is due: accept (220) or reject (554)."""
    type: ClassVar[ServerEventType] = ServerEventType.CONNECT


@dataclass(slots=True)
class Helo(ServerEvent):
    """HELO or EHLO (LHLO in LMTP mode: ``lmtp`` is True, ``esmtp`` too): answer."""
    type: ClassVar[ServerEventType] = ServerEventType.HELO
    name: str = ""
    esmtp: bool = False
    helo_class: HeloClass = HeloClass.INVALID
    is_own_name: bool = False
    lmtp: bool = False


@dataclass(slots=True)
class Mail(ServerEvent):
    """MAIL FROM: answer. ``address`` is "" for the null reverse path <>."""
    type: ClassVar[ServerEventType] = ServerEventType.MAIL
    address: str = ""
    utf8: bool = False
    params: MailParams = MailParams()


@dataclass(slots=True)
class Rcpt(ServerEvent):
    """RCPT TO: answer. ``rcpt_count`` counts recipients accepted so far."""
    type: ClassVar[ServerEventType] = ServerEventType.RCPT
    address: str = ""
    utf8: bool = False
    params: RcptParams = RcptParams()
    rcpt_count: int = 0


@dataclass(slots=True)
class Data(ServerEvent):
    """The DATA command: accept (354) or reject."""
    type: ClassVar[ServerEventType] = ServerEventType.DATA
    rcpt_count: int = 0


@dataclass(slots=True)
class Body(ServerEvent):
    """A slice of message content, already unstuffed (informative)."""
    type: ClassVar[ServerEventType] = ServerEventType.BODY
    data: bytes = b""


@dataclass(slots=True)
class MessageEnd(ServerEvent):
    """End of DATA or BDAT LAST: accept (250) or reject. LMTP: answer each of the
    ``rcpt_count`` accepted recipients with :meth:`ServerConnection.reply_rcpt` (any order,
    any time); accept/reply/reject answer all recipients not yet answered."""
    type: ClassVar[ServerEventType] = ServerEventType.MESSAGE_END
    size: int = 0
    bdat: bool = False
    long_lines: bool = False
    rcpt_count: int = 0


@dataclass(slots=True)
class MessageAborted(ServerEvent):
    """The engine refused the message; its reply is already queued. Discard the body."""
    type: ClassVar[ServerEventType] = ServerEventType.MESSAGE_ABORTED
    size: int = 0
    bdat: bool = False
    violation: Violation = Violation.NONE
    reply_code: int = 0
    message: str = ""


@dataclass(slots=True)
class Rset(ServerEvent):
    """RSET (informative): the transaction is reset."""
    type: ClassVar[ServerEventType] = ServerEventType.RSET


@dataclass(slots=True)
class Noop(ServerEvent):
    """NOOP (informative)."""
    type: ClassVar[ServerEventType] = ServerEventType.NOOP


@dataclass(slots=True)
class Vrfy(ServerEvent):
    """VRFY: answer (the default reply is 252)."""
    type: ClassVar[ServerEventType] = ServerEventType.VRFY
    argument: str = ""


@dataclass(slots=True)
class Expn(ServerEvent):
    """EXPN: answer (the default reply is 502)."""
    type: ClassVar[ServerEventType] = ServerEventType.EXPN
    argument: str = ""


@dataclass(slots=True)
class Help(ServerEvent):
    """HELP: answer (the default reply is 214)."""
    type: ClassVar[ServerEventType] = ServerEventType.HELP
    argument: str = ""


@dataclass(slots=True)
class StartTLS(ServerEvent):
    """Flush the output (the 220), start TLS, then call tls_started()."""
    type: ClassVar[ServerEventType] = ServerEventType.STARTTLS
    discarded: int = 0
    """Plaintext bytes that followed STARTTLS and were discarded (injection)."""
    violation: Violation = Violation.NONE
    message: str = ""


@dataclass(slots=True)
class Auth(ServerEvent):
    """AUTH credentials complete: accept (235) or reject (535)."""
    type: ClassVar[ServerEventType] = ServerEventType.AUTH
    mechanism: AuthMech = AuthMech(0)
    authzid: str = ""
    username: str = ""
    password: str = ""


@dataclass(slots=True)
class Quit(ServerEvent):
    """QUIT: 221 is queued; close after the output is written."""
    type: ClassVar[ServerEventType] = ServerEventType.QUIT


@dataclass(slots=True)
class ProtocolError(ServerEvent):
    """The peer broke the protocol; the engine's reply is queued."""
    type: ClassVar[ServerEventType] = ServerEventType.PROTOCOL_ERROR
    violation: Violation = Violation.NONE
    reply_code: int = 0
    message: str = ""


@dataclass(slots=True)
class Close(ServerEvent):
    """Close the connection once the output is written."""
    type: ClassVar[ServerEventType] = ServerEventType.CLOSE
    violation: Violation = Violation.NONE
    reply_code: int = 0
    message: str = ""


@dataclass(slots=True)
class Proxy(ServerEvent):
    """The PROXY header was read (informative); details in
    :attr:`ServerConnection.proxy_header`. ``line`` is a v1 line without CRLF."""
    type: ClassVar[ServerEventType] = ServerEventType.PROXY


@dataclass(slots=True)
class Xclient(ServerEvent):
    """XCLIENT from an allowed connection: answer. Accepting starts the session over
    (a new 220 greeting). ``attrs`` maps the attribute names given ("ADDR", ...) to
    :class:`XclientAttr`."""
    type: ClassVar[ServerEventType] = ServerEventType.XCLIENT
    attrs: Mapping[str, XclientAttr] | None = None


@dataclass(slots=True, frozen=True)
class XclientAttr:
    """One XCLIENT attribute: its state and its xtext-decoded value (VALUE only)."""
    state: XclientState = XclientState.ABSENT
    value: str = ""


@dataclass(slots=True, frozen=True)
class ProxyHeader:
    """A PROXY header as the engine read it (smtpcore_proxy_header)."""
    version: int = 0
    command: ProxyCommand = ProxyCommand.PROXY
    family: ProxyFamily = ProxyFamily.UNSPEC
    transport: ProxyTransport = ProxyTransport.UNSPEC
    src_addr: str = ""
    src_port: int = 0
    dst_addr: str = ""
    dst_port: int = 0
    tlvs: tuple[tuple[int, bytes], ...] = ()
    """v2 TLVs as (type, value) pairs, in order (see :class:`smtpcore.ProxyTlvType`)."""
    header_len: int = 0

    @property
    def ssl(self) -> tuple[int, int, tuple[tuple[int, bytes], ...]] | None:
        """The SSL TLV as (client bits, verify, sub-TLVs), or None."""
        for typ, value in self.tlvs:
            if typ == 0x20:
                return _ssl_parse(value)
        return None


XCLIENT_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "LOGIN", "DESTADDR", "DESTPORT")


def _tlv_list(area: Any) -> tuple[tuple[int, bytes], ...]:
    cur = ffi.new("smtpcore_str *", {"ptr": area.ptr, "len": area.len})
    tlv = ffi.new("smtpcore_proxy_tlv *")
    out = []
    while lib.smtpcore_proxy_tlv_next(cur, tlv) == 1:
        out.append((int(tlv.type), _slice(tlv.value)))
    return tuple(out)


def _ssl_parse(value: bytes) -> tuple[int, int, tuple[tuple[int, bytes], ...]] | None:
    buf = ffi.from_buffer(value)
    v = ffi.new("smtpcore_str *", {"ptr": ffi.cast("const char *", buf), "len": len(value)})
    ssl = ffi.new("smtpcore_proxy_ssl *")
    if lib.smtpcore_proxy_ssl_parse(v[0], ssl) != 0:
        return None
    return int(ssl.client), int(ssl.verify), _tlv_list(ssl.subtlvs)


def _proxy_header(h: Any) -> ProxyHeader:
    return ProxyHeader(int(h.version), ProxyCommand(h.command), ProxyFamily(h.family),
                       ProxyTransport(h.transport), decode_text(_slice(h.src_addr)),
                       int(h.src_port), decode_text(_slice(h.dst_addr)), int(h.dst_port),
                       _tlv_list(h.tlvs), int(h.header_len))


def _xclient_attrs(a: Any) -> dict[str, XclientAttr]:
    out = {}
    for name in XCLIENT_ATTRIBUTES:
        at = getattr(a, name.lower())
        if at.state != lib.SMTPCORE_XCLIENT_ABSENT:
            out[name] = XclientAttr(XclientState(at.state), decode_text(_slice(at.value)))
    return out


def _convert(ev: Any, s: Any = None) -> ServerEvent | None:
    t = ev.type
    ar = bool(ev.answer_required)
    line = _slice(ev.line)
    if t == lib.SMTPCORE_SEV_BODY:
        return Body(ar, line, _slice(ev.data))
    if t == lib.SMTPCORE_SEV_RCPT:
        return Rcpt(ar, line, decode_text(_slice(ev.address)), bool(ev.address_utf8),
                    RcptParams._from_c(ev.rcpt), int(ev.rcpt_count))
    if t == lib.SMTPCORE_SEV_MAIL:
        return Mail(ar, line, decode_text(_slice(ev.address)), bool(ev.address_utf8),
                    MailParams._from_c(ev.mail))
    if t == lib.SMTPCORE_SEV_MESSAGE_END:
        return MessageEnd(ar, line, int(ev.message_size), bool(ev.bdat), bool(ev.long_lines),
                          int(ev.rcpt_count))
    if t == lib.SMTPCORE_SEV_DATA:
        return Data(ar, line, int(ev.rcpt_count))
    if t == lib.SMTPCORE_SEV_HELO:
        hc = ev.helo_class
        return Helo(ar, line, decode_text(_slice(ev.address)), bool(ev.esmtp),
                    HeloClass(hc) if 0 <= hc <= 5 else HeloClass.INVALID,
                    bool(ev.helo_is_own_name),
                    s is not None and bool(lib.smtpcore_server_lmtp(s)))
    if t == lib.SMTPCORE_SEV_CONNECT:
        return Connect(ar, line)
    if t == lib.SMTPCORE_SEV_RSET:
        return Rset(ar, line)
    if t == lib.SMTPCORE_SEV_NOOP:
        return Noop(ar, line)
    if t == lib.SMTPCORE_SEV_QUIT:
        return Quit(ar, line)
    if t in (lib.SMTPCORE_SEV_VRFY, lib.SMTPCORE_SEV_EXPN, lib.SMTPCORE_SEV_HELP):
        cls = {lib.SMTPCORE_SEV_VRFY: Vrfy, lib.SMTPCORE_SEV_EXPN: Expn,
               lib.SMTPCORE_SEV_HELP: Help}[t]
        return cls(ar, line, decode_text(_slice(ev.address)))
    if t == lib.SMTPCORE_SEV_STARTTLS:
        return StartTLS(ar, line, int(ev.discarded), violation_of(ev.violation),
                        decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_SEV_AUTH:
        return Auth(ar, line, AuthMech(ev.auth_mech), decode_text(_slice(ev.authzid)),
                    decode_text(_slice(ev.username)), decode_text(_slice(ev.password)))
    if t == lib.SMTPCORE_SEV_MESSAGE_ABORTED:
        return MessageAborted(ar, line, int(ev.message_size), bool(ev.bdat),
                              violation_of(ev.violation), int(ev.reply_code),
                              decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_SEV_PROTOCOL_ERROR:
        return ProtocolError(ar, line, violation_of(ev.violation), int(ev.reply_code),
                             decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_SEV_CLOSE:
        return Close(ar, line, violation_of(ev.violation), int(ev.reply_code),
                     decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_SEV_PROXY:
        return Proxy(ar, line)
    if t == lib.SMTPCORE_SEV_XCLIENT:
        attrs: dict[str, XclientAttr] = {}
        if s is not None:
            a = ffi.new("smtpcore_xclient_attrs *")
            if lib.smtpcore_server_xclient_attrs(s, a, ffi.sizeof("smtpcore_xclient_attrs")) == 0:
                attrs = _xclient_attrs(a)
        return Xclient(ar, line, attrs)
    return None


# --------------------------------------------------------------------------- connection

def _cstr(keep: list[Any], value: str | bytes | None) -> Any:
    """A NUL-terminated copy kept alive in ``keep`` until the C call returns."""
    if value is None:
        return ffi.NULL
    c = ffi.new("char[]", encode_text(value))
    keep.append(c)
    return c


def _opt_text(value: str | bytes | None) -> Any:
    return ffi.NULL if value is None else encode_text(value)


def _server_config(*, own_names: Iterable[str] = (), **options: Any) -> tuple[Any, list[Any]]:
    """The C configuration of :class:`ServerConnection`'s keyword arguments (``None``
    keeps the engine default), and the cdata objects it points to, which must live as long
    as it is used. The session copies what it keeps, so one configuration serves any
    number of :func:`_new_session` calls."""
    cfg = ffi.new("smtpcore_server_config *")
    lib.smtpcore_server_config_init(cfg)
    keep: list[Any] = []
    for name, value in options.items():
        if value is None:
            continue
        if name in ("hostname", "greeting_text"):
            setattr(cfg, name, _cstr(keep, value))
        else:
            setattr(cfg, name, int(value))
    names = [_cstr(keep, n) for n in own_names]
    if names:
        arr = ffi.new("const char *[]", names)
        keep.append(arr)
        cfg.own_names = arr
        cfg.own_names_count = len(names)
    return cfg, keep


def _new_session(cfg: Any) -> Any:
    """A new C server session (``smtpcore_server *``) of ``cfg``; the caller frees it
    (smtpcore_server_del, or a :class:`ServerConnection` that adopted it)."""
    out = ffi.new("smtpcore_server **")
    check(lib.smtpcore_server_new(out, cfg))
    return out[0]


class ServerConnection(_Connection):
    """One server session (one per accepted connection).

    Keyword arguments mirror smtpcore_server_config; ``None`` keeps the engine default.
    The session is freed when the object is garbage-collected or :meth:`close` is called.
    """

    __slots__ = ()
    _C_RECEIVE = lib.smtpcore_server_receive
    _C_RECEIVE_EOF = lib.smtpcore_server_receive_eof
    _C_NEXT_EVENT = lib.smtpcore_server_next_event
    _C_OUTPUT = lib.smtpcore_server_output
    _C_CONSUME = lib.smtpcore_server_consume

    def __init__(
        self,
        *,
        hostname: str | None = None,
        greeting_text: str | None = None,
        extensions: int | None = None,
        auth_mechs: int | None = None,
        max_message_size: int | None = None,
        max_recipients: int | None = None,
        max_errors: int | None = None,
        max_command_line: int | None = None,
        max_text_line: int | None = None,
        input_buffer_size: int | None = None,
        output_buffer_size: int | None = None,
        helo_policy: HeloPolicy | None = None,
        bare_lf_policy: BareLfPolicy | None = None,
        talker_policy: TalkerPolicy | None = None,
        injection_policy: InjectionPolicy | None = None,
        allow_plaintext_auth: bool | None = None,
        tls_active: bool | None = None,
        own_names: Iterable[str] = (),
        proxy_protocol: ProxyMode | None = None,
        proxy_max_header: int | None = None,
        xclient_allowed: bool | None = None,
        lmtp: bool | None = None,
        sync_policy: SyncPolicy | None = None,
        nul_policy: NulPolicy | None = None,
        max_auth_failures: int | None = None,
    ) -> None:
        cfg, keep = _server_config(
            hostname=hostname, greeting_text=greeting_text, extensions=extensions,
            auth_mechs=auth_mechs, max_message_size=max_message_size,
            max_recipients=max_recipients, max_errors=max_errors,
            max_command_line=max_command_line, max_text_line=max_text_line,
            input_buffer_size=input_buffer_size, output_buffer_size=output_buffer_size,
            helo_policy=helo_policy, bare_lf_policy=bare_lf_policy,
            talker_policy=talker_policy, injection_policy=injection_policy,
            allow_plaintext_auth=allow_plaintext_auth, tls_active=tls_active,
            own_names=own_names, proxy_protocol=proxy_protocol,
            proxy_max_header=proxy_max_header, xclient_allowed=xclient_allowed, lmtp=lmtp,
            sync_policy=sync_policy, nul_policy=nul_policy,
            max_auth_failures=max_auth_failures)
        self._start(_new_session(cfg), lib.smtpcore_server_del, "const smtpcore_server_event **")

    @classmethod
    def _adopt(cls, session: Any) -> ServerConnection:
        """A connection object for a C ``session`` made by :func:`_new_session` (it takes
        ownership): the asyncio server makes the session at the greeting and this object
        only at the first read (issue 15 row 9)."""
        self = cls.__new__(cls)
        self._start(session, lib.smtpcore_server_del, "const smtpcore_server_event **")
        return self

    # -- events
    def next_event(self) -> ServerEvent | None:
        """The next event, or None when the engine needs more input, needs its output
        drained (:meth:`data_to_send`), or waits for an answer."""
        return _convert(self._ev, self._c) if self._next_raw() else None

    def _event(self) -> ServerEvent | None:
        """The event object of the struct filled by the last :meth:`_next_raw`."""
        return _convert(self._ev, self._c)

    def __iter__(self) -> Iterator[ServerEvent]:
        """Iterates over the events available now."""
        while True:
            ev = self.next_event()
            if ev is None:
                return
            yield ev

    # -- answers
    def accept(self) -> None:
        """Answers the pending event with the engine's default positive reply."""
        check(lib.smtpcore_server_accept(self._sess()))

    def reply(self, code: int, enhanced: str | None = None, text: str | None = None) -> None:
        """Answers the pending event with a custom reply (2xx/3xx accepts, 4xx/5xx refuses).
        Lines of a multi-line reply are separated by "\\n" in ``text``."""
        check(lib.smtpcore_server_reply(self._sess(), int(code), _opt_text(enhanced),
                                        _opt_text(text)))

    def reject(self, code: int = 550, enhanced: str | None = None,
               text: str | None = None) -> None:
        """Refuses the pending event with a 4xx/5xx reply."""
        check(lib.smtpcore_server_reject(self._sess(), int(code), _opt_text(enhanced),
                                         _opt_text(text)))

    def reply_rcpt(self, index: int, code: int, enhanced: str | None = None,
                   text: str | None = None) -> None:
        """LMTP: answers recipient ``index`` (0 .. rcpt_count - 1 of the MessageEnd, in the
        order of the accepted RCPTs) with a 2xx/4xx/5xx reply. Any order, any time: the
        replies go out in RCPT order once contiguous, and commands pipelined behind the
        message wait until every recipient is answered. Raises for an index out of range
        or already answered (InvalidArgumentError), BufferFullError when the reply store is
        full (write the output or answer the lowest unanswered recipient first)."""
        check(lib.smtpcore_server_reply_rcpt(self._sess(), int(index), int(code),
                                             _opt_text(enhanced), _opt_text(text)))

    @property
    def rcpt_unanswered(self) -> int:
        """LMTP: recipients of the ended message still without an answer (0 when none)."""
        return int(lib.smtpcore_server_rcpt_unanswered(self._sess()))

    @property
    def lmtp(self) -> bool:
        """The session runs in LMTP mode (its Helo events are LHLO)."""
        return bool(lib.smtpcore_server_lmtp(self._sess()))

    def close_with(self, code: int = 421, enhanced: str | None = None,
                   text: str | None = None) -> None:
        """Ends the session with a reply of the host's choosing (its idle timeout or a
        deadline fired, or it is shutting down), in any phase: the reply is queued after
        pending output, an event awaiting an answer gets it as its answer, a message in
        progress ends with MessageAborted (Violation.HOST_CLOSE), then Close; write
        :meth:`data_to_send` and close. Raises SessionClosedError when already closing."""
        check(lib.smtpcore_server_close_with(self._sess(), int(code), _opt_text(enhanced),
                                             _opt_text(text)))

    def shutdown(self, reason: ShutdownReason = ShutdownReason.TIMEOUT) -> None:
        """:meth:`close_with` with the engine's reply for ``reason``: TIMEOUT is
        "421 4.4.2 <hostname> Error: timeout exceeded", SERVICE "421 4.3.2 <hostname>
        Service shutting down, closing transmission channel"."""
        check(lib.smtpcore_server_shutdown(self._sess(), int(reason)))

    @property
    def in_message(self) -> bool:
        """Message content is being read (DATA after 354, BDAT chunk octets): the time to
        apply a per-message deadline or minimum rate instead of a per-line deadline."""
        return bool(lib.smtpcore_server_in_message(self._sess()))

    @property
    def in_transaction(self) -> bool:
        """A mail transaction is open: from an accepted MAIL until it ends (the end of its
        message, RSET, HELO/EHLO, STARTTLS, XCLIENT, a refusal that drops it, the end of
        the session); smtpcore_server_in_transaction()."""
        return bool(lib.smtpcore_server_in_transaction(self._sess()))

    @property
    def auth_failures(self) -> int:
        """Failed AUTH attempts in this session (host refusals and exchanges the engine
        refused); max_auth_failures (default 3) of them end the session with 421 4.7.0."""
        return int(lib.smtpcore_server_auth_failures(self._sess()))

    def tls_started(self) -> None:
        """TLS is up after a StartTLS event; the session now expects a new EHLO."""
        check(lib.smtpcore_server_tls_started(self._sess()))

    start_tls_done = tls_started

    # -- output
    def data_to_send(self, limit: int | None = None) -> bytes:
        """Takes the pending output (at most ``limit`` bytes) to be written to the peer."""
        s = self._sess()
        n = lib.smtpcore_server_output(s, self._out)
        if limit is not None:
            n = min(n, limit)
        if n == 0:
            return b""
        data: bytes = ffi.buffer(self._out[0], n)[:]
        check(lib.smtpcore_server_consume(s, n))
        return data

    @property
    def want_flush(self) -> bool:
        """The pending output should be written now."""
        return bool(lib.smtpcore_server_want_flush(self._sess()))

    @property
    def want_close(self) -> bool:
        """The session wants the connection closed once the output is written."""
        return bool(lib.smtpcore_server_want_close(self._sess()))

    @property
    def memory(self) -> int:
        """Bytes of memory the C session owns (less its buffers while released)."""
        return int(lib.smtpcore_server_memory(self._sess()))

    def release_idle(self) -> int:
        """Gives the C session's input and output buffers back while it is idle (the last
        :meth:`next_event` returned None, no answer pending, every byte received processed,
        no output left): returns the bytes freed, 0 when the session is not idle or already
        released. The session takes them back by itself at the next call that needs them
        (smtpcore_server_release_idle())."""
        freed = ffi.new("size_t *")
        rc = lib.smtpcore_server_release_idle(self._sess(), freed)
        if rc == lib.SMTPCORE_ERR_INVALID_STATE:
            return 0
        check(rc)
        return int(freed[0])

    @property
    def proxy_header(self) -> ProxyHeader | None:
        """The PROXY header read before the greeting, or None (PROXY off or not yet read)."""
        h = lib.smtpcore_server_proxy_header(self._sess())
        return None if h == ffi.NULL else _proxy_header(h)

    def set_xclient_allowed(self, allowed: bool) -> None:
        """Allows or forbids XCLIENT on this connection (EHLO advertises it when allowed;
        otherwise the command gets 550 5.7.0)."""
        check(lib.smtpcore_server_set_xclient_allowed(self._sess(), 1 if allowed else 0))
