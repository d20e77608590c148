# SPDX-License-Identifier: MIT
"""The client role: :class:`ClientConnection` and its events.

The engine drives greeting, EHLO (with HELO fallback), STARTTLS, AUTH and pipelined
command groups; the host submits a transaction after :class:`Ready` (``mail``, ``rcpt``,
``data``), feeds the body after :class:`SendBody` (``send_body``, ``end_body``) and reads
the per-recipient and final results as events.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Iterator, Mapping

from ._connection import _Connection
from ._feed import PendingInput
from ._ffi import ffi, lib
from .enums import (
    ClientEventType, DsnNotify, DsnRet, ErrorCode, Failure, ProxyMode, TlsPolicy, Violation,
    failure_of, violation_of,
)
from .errors import InvalidStateError, SessionClosedError, check
from .values import Caps, Reply, _slice, decode_text, encode_text

__all__ = [
    "ClientConnection", "ClientEvent", "Greeting", "StartTLS", "AuthChallenge", "AuthResult",
    "Ready", "MailResult", "RcptResult", "SendBody", "MessageResult", "CommandReply",
    "ProtocolError", "Closed", "DeliveryResult", "XclientResult",
]


# --------------------------------------------------------------------------- events

@dataclass(slots=True)
class ClientEvent:
    """Base of every client event (smtpcore_client_event)."""

    type: ClassVar[ClientEventType]
    failure: Failure = Failure.SUCCESS
    """Outcome class: SUCCESS, TRANSIENT (4xx), PERMANENT (5xx) or LOCAL."""
    reply: Reply | None = None
    """The server reply behind the event, when there is one."""

    @property
    def ok(self) -> bool:
        return self.failure == Failure.SUCCESS


@dataclass(slots=True)
class Greeting(ClientEvent):
    """The server's 220 greeting (informative)."""
    type: ClassVar[ClientEventType] = ClientEventType.GREETING


@dataclass(slots=True)
class StartTLS(ClientEvent):
    """Write the output, start TLS, then call tls_started()."""
    type: ClassVar[ClientEventType] = ClientEventType.STARTTLS
    discarded: int = 0
    """Plaintext bytes after the 220 that were discarded (response injection)."""


@dataclass(slots=True)
class AuthChallenge(ClientEvent):
    """A 334 challenge for a host-run mechanism: answer with auth_respond()."""
    type: ClassVar[ClientEventType] = ClientEventType.AUTH_CHALLENGE
    challenge: bytes = b""


@dataclass(slots=True)
class AuthResult(ClientEvent):
    """AUTH finished: 235 or a failure."""
    type: ClassVar[ClientEventType] = ClientEventType.AUTH_RESULT


@dataclass(slots=True)
class Ready(ClientEvent):
    """The session is ready for a transaction; ``caps`` are the server's capabilities."""
    type: ClassVar[ClientEventType] = ClientEventType.READY
    caps: Caps = Caps()


@dataclass(slots=True)
class MailResult(ClientEvent):
    """Reply to MAIL FROM."""
    type: ClassVar[ClientEventType] = ClientEventType.MAIL_RESULT


@dataclass(slots=True)
class RcptResult(ClientEvent):
    """Reply to one RCPT TO; ``index`` in the order of rcpt() calls."""
    type: ClassVar[ClientEventType] = ClientEventType.RCPT_RESULT
    index: int = 0


@dataclass(slots=True)
class SendBody(ClientEvent):
    """The body may flow: call send_body() (any number of times) and end_body()."""
    type: ClassVar[ClientEventType] = ClientEventType.SEND_BODY


@dataclass(slots=True)
class MessageResult(ClientEvent):
    """Final outcome of the transaction. LMTP: after the DeliveryResults; ``rcpt_accepted``
    counts the recipients whose delivery reply was 2xx."""
    type: ClassVar[ClientEventType] = ClientEventType.MESSAGE_RESULT
    rcpt_accepted: int = 0
    rcpt_total: int = 0
    violation: Violation = Violation.NONE
    message: str = ""


@dataclass(slots=True)
class CommandReply(ClientEvent):
    """Reply to a NOOP or RSET requested by the host."""
    type: ClassVar[ClientEventType] = ClientEventType.REPLY


@dataclass(slots=True)
class ProtocolError(ClientEvent):
    """The server broke the protocol; Closed follows."""
    type: ClassVar[ClientEventType] = ClientEventType.PROTOCOL_ERROR
    violation: Violation = Violation.NONE
    message: str = ""


@dataclass(slots=True)
class Closed(ClientEvent):
    """The conversation is over: close the connection."""
    type: ClassVar[ClientEventType] = ClientEventType.CLOSED
    violation: Violation = Violation.NONE
    message: str = ""


@dataclass(slots=True)
class DeliveryResult(ClientEvent):
    """LMTP: the reply for one accepted recipient after the data; ``index`` in the order
    of rcpt() calls. One per accepted recipient, in RCPT order, before MessageResult."""
    type: ClassVar[ClientEventType] = ClientEventType.DELIVERY_RESULT
    index: int = 0


@dataclass(slots=True)
class XclientResult(ClientEvent):
    """The reply to xclient(). On success (220) the engine says EHLO again and Ready
    follows; on a refusal the session is unchanged and Ready follows."""
    type: ClassVar[ClientEventType] = ClientEventType.XCLIENT_RESULT


def _convert(ev: Any, scratch: Any) -> ClientEvent | None:
    t = ev.type
    failure = failure_of(ev.failure)
    reply = Reply._from_c(ev.reply, scratch)
    if t == lib.SMTPCORE_CEV_RCPT_RESULT:
        return RcptResult(failure, reply, int(ev.rcpt_index))
    if t == lib.SMTPCORE_CEV_DELIVERY_RESULT:
        return DeliveryResult(failure, reply, int(ev.rcpt_index))
    if t == lib.SMTPCORE_CEV_MAIL_RESULT:
        return MailResult(failure, reply)
    if t == lib.SMTPCORE_CEV_SEND_BODY:
        return SendBody(failure, reply)
    if t == lib.SMTPCORE_CEV_MESSAGE_RESULT:
        return MessageResult(failure, reply, int(ev.rcpt_accepted), int(ev.rcpt_total),
                             violation_of(ev.violation), decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_CEV_READY:
        return Ready(failure, reply, Caps._from_c(ev.caps))
    if t == lib.SMTPCORE_CEV_GREETING:
        return Greeting(failure, reply)
    if t == lib.SMTPCORE_CEV_STARTTLS:
        return StartTLS(failure, reply, int(ev.discarded))
    if t == lib.SMTPCORE_CEV_AUTH_CHALLENGE:
        return AuthChallenge(failure, reply, _slice(ev.data))
    if t == lib.SMTPCORE_CEV_AUTH_RESULT:
        return AuthResult(failure, reply)
    if t == lib.SMTPCORE_CEV_REPLY:
        return CommandReply(failure, reply)
    if t == lib.SMTPCORE_CEV_PROTOCOL_ERROR:
        return ProtocolError(failure, reply, violation_of(ev.violation),
                             decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_CEV_CLOSED:
        return Closed(failure, reply, violation_of(ev.violation), decode_text(_slice(ev.message)))
    if t == lib.SMTPCORE_CEV_XCLIENT_RESULT:
        return XclientResult(failure, reply)
    return None


# --------------------------------------------------------------------------- connection

def _cstr(keep: list[Any], value: str | bytes | None) -> Any:
    if value is None:
        return ffi.NULL
    c = ffi.new("char[]", encode_text(value))
    keep.append(c)
    return c


def _set_str(keep: list[Any], target: Any, value: str | bytes | None) -> None:
    if value is None:
        return
    b = encode_text(value)
    c = ffi.new("char[]", b)
    keep.append(c)
    target.ptr = c
    target.len = len(b)


class _Pump:
    """What the batch's C helpers (smtpcore_build.py: pysc_client_pump, _txn, _body_all)
    keep per session: their state struct (the cache of raw reply lines, the records, the
    event out-pointer) with the Reply object of each cache slot, allocated once."""

    __slots__ = ("st", "replies", "recs", "where", "consumed", "out")

    def __init__(self, evp: Any) -> None:
        self.st = ffi.new("pysc_cli_state *")
        self.st.evp = evp
        self.replies: list[Reply | None] = [None] * len(self.st.cache.len)
        self.recs = self.st.recs
        self.out = self.st.out  # the output the pump takes at IDLE
        self.where = ffi.new("size_t *")  # pysc_client_txn's, called by Batch.start
        self.consumed = ffi.new("size_t *")  # pysc_client_body_all's (Batch._give_body)


class ClientConnection(_Connection):
    """One client session (one per connection to a server).

    Keyword arguments mirror smtpcore_client_config (``username``/``password`` are
    auth_user/auth_password); ``None`` keeps the engine default.
    """

    __slots__ = ("_body", "_end", "_text", "_replies", "lmtp", "_pump")
    _C_RECEIVE = lib.smtpcore_client_receive
    _C_RECEIVE_EOF = lib.smtpcore_client_receive_eof
    _C_NEXT_EVENT = lib.smtpcore_client_next_event
    _C_OUTPUT = lib.smtpcore_client_output
    _C_CONSUME = lib.smtpcore_client_consume

    def __init__(
        self,
        helo_name: str,
        *,
        quirks: int | None = None,
        tls_policy: TlsPolicy | None = None,
        tls_active: bool | None = None,
        username: str | None = None,
        password: str | None = None,
        auth_mechanism: str | None = None,
        max_reply_line: int | None = None,
        input_buffer_size: int | None = None,
        output_buffer_size: int | None = None,
        max_recipients: int | None = None,
        envelope_buffer_size: int | None = None,
        proxy_protocol: ProxyMode | None = None,
        proxy_src: tuple[str, int] | None = None,
        proxy_dst: tuple[str, int] | None = None,
        lmtp: bool | None = None,
    ) -> None:
        cfg = ffi.new("smtpcore_client_config *")
        lib.smtpcore_client_config_init(cfg)
        keep: list[Any] = []
        cfg.helo_name = _cstr(keep, helo_name)
        if username is not None:
            cfg.auth_user = _cstr(keep, username)
            cfg.auth_password = _cstr(keep, password if password is not None else "")
        if auth_mechanism is not None:
            cfg.auth_mechanism = _cstr(keep, auth_mechanism)
        for name, value in (
            ("quirks", quirks), ("tls_policy", tls_policy), ("tls_active", tls_active),
            ("max_reply_line", max_reply_line), ("input_buffer_size", input_buffer_size),
            ("output_buffer_size", output_buffer_size), ("max_recipients", max_recipients),
            ("envelope_buffer_size", envelope_buffer_size), ("lmtp", lmtp),
        ):
            if value is not None:
                setattr(cfg, name, int(value))
        if proxy_protocol is not None:
            # The PROXY header is the first output: (address, port) of the client and of
            # the address it connected to; neither given = v1 UNKNOWN / v2 LOCAL.
            cfg.proxy_protocol = int(proxy_protocol)
            if proxy_src is not None:
                cfg.proxy_src_addr = _cstr(keep, proxy_src[0])
                cfg.proxy_src_port = int(proxy_src[1])
            if proxy_dst is not None:
                cfg.proxy_dst_addr = _cstr(keep, proxy_dst[0])
                cfg.proxy_dst_port = int(proxy_dst[1])
        #: LMTP mode (RFC 2033): LHLO, and a DeliveryResult per accepted recipient.
        self.lmtp = bool(lmtp)
        out = ffi.new("smtpcore_client **")
        check(lib.smtpcore_client_new(out, cfg))
        self._start(out[0], lib.smtpcore_client_del, "const smtpcore_client_event **")
        self._body = PendingInput()
        self._end = False
        self._text = ffi.new("smtpcore_str *")  # scratch for reply lines
        # Replies are immutable and servers repeat the same few ("250 2.1.5 Ok"): one
        # object per distinct single-line reply, bounded.
        self._replies: dict[bytes, Reply] = {}
        self._pump: _Pump | None = None  # the batch's, made at its first use

    def _pump_state(self) -> _Pump:
        """The state of pysc_client_pump for this session (see :class:`_Pump`)."""
        if self._pump is None:
            self._pump = _Pump(self._evp)
        return self._pump

    # -- events
    def next_event(self) -> ClientEvent | None:
        """The next event, or None when the engine needs input or its output drained."""
        return _convert(self._ev, self._text) if self._next_raw() else None

    def _event(self) -> ClientEvent | None:
        """The event object of the struct filled by the last :meth:`_next_raw`."""
        return _convert(self._ev, self._text)

    def _reply(self) -> Reply | None:
        """The reply of the struct filled by the last :meth:`_next_raw`."""
        r = self._ev.reply
        if r.nlines != 1 or r.flags or r.raw.len > 128:
            return Reply._from_c(r, self._text)
        raw = ffi.buffer(r.raw.ptr, r.raw.len)[:]
        cache = self._replies
        reply = cache.get(raw)
        if reply is None:
            reply = Reply._from_c(r, self._text)
            if len(cache) >= 64:
                cache.clear()
            cache[raw] = reply  # type: ignore[assignment]
        return reply

    def __iter__(self) -> Iterator[ClientEvent]:
        while True:
            ev = self.next_event()
            if ev is None:
                return
            yield ev

    # -- transaction
    def mail(self, sender: str, *, size: int | None = None, body: int | None = None,
             smtputf8: bool = False, ret: DsnRet | None = None, envid: str | bytes | None = None,
             auth: str | bytes | None = None) -> None:
        """MAIL FROM:<sender> ("" for the null path). Parameters the server did not
        advertise raise UnsupportedError (DSN ones are left out silently)."""
        keep: list[Any] = []
        p = ffi.new("smtpcore_mail_params *")
        lib.smtpcore_mail_params_init(p)
        if size is not None:
            p.size = int(size)
            p.has_size = 1
        if body is not None:
            p.body = int(body)
        p.smtputf8 = 1 if smtputf8 else 0
        if ret is not None:
            p.ret = int(ret)
        _set_str(keep, p.envid, envid)
        _set_str(keep, p.auth, auth)
        check(lib.smtpcore_client_mail(self._sess(), _cstr(keep, sender), p))

    def rcpt(self, recipient: str, *, notify: DsnNotify | int | None = None,
             orcpt: str | bytes | None = None) -> None:
        """RCPT TO:<recipient>; its result arrives as RcptResult with the call's index."""
        keep: list[Any] = []
        p = ffi.new("smtpcore_rcpt_params *")
        if notify is not None:
            p.notify = int(notify)
        _set_str(keep, p.orcpt, orcpt)
        check(lib.smtpcore_client_rcpt(self._sess(), _cstr(keep, recipient), p))

    def data(self) -> None:
        """Ends the envelope; SendBody follows when the body may flow."""
        check(lib.smtpcore_client_data(self._sess()))

    def _offer_body(self, ptr: Any, n: int, consumed: Any) -> int:
        return check(lib.smtpcore_client_body(self._c, ptr, n, consumed))

    def send_body(self, data: bytes | bytearray | memoryview) -> None:
        """Queues body bytes (any split, any line endings; the engine normalises to CRLF
        and dot-stuffs). They are handed to the engine as :meth:`data_to_send` drains."""
        c = self._sess()
        if self._end:
            raise _state_error("end_body() was already called")
        body = self._body
        if not body._data and data:
            # Nothing queued: offer the caller's bytes as they are (no copy); only what
            # the engine cannot take yet is queued.
            consumed = body._consumed
            consumed[0] = 0
            with ffi.from_buffer(data) as buf:
                check(lib.smtpcore_client_body(c, buf, len(data), consumed))
            n = int(consumed[0])
            if n == len(data):
                return
            data = memoryview(data)[n:]
        body.append(data)
        body.feed(self._offer_body)

    def end_body(self) -> None:
        """Ends the body ("." or BDAT LAST); MessageResult follows."""
        self._sess()
        self._end = True
        self._try_end()

    def _try_end(self) -> None:
        if not self._end or len(self._body):
            return
        rc = lib.smtpcore_client_body_end(self._c)
        if rc == lib.SMTPCORE_ERR_BUFFER_FULL:
            return  # retried once output has drained
        check(rc)
        self._end = False

    @property
    def pending_body(self) -> int:
        """Body bytes queued on the Python side, not yet taken by the engine."""
        return len(self._body)

    def send_message_body(self, data: bytes) -> None:
        """send_body(data) then end_body()."""
        self.send_body(data)
        self.end_body()

    def rset(self) -> None:
        """Aborts the transaction with RSET (or checks an idle session; CommandReply)."""
        check(lib.smtpcore_client_rset(self._sess()))

    def noop(self) -> None:
        """Sends NOOP when idle; CommandReply follows."""
        check(lib.smtpcore_client_noop(self._sess()))

    def xclient(self, attrs: Mapping[str, str]) -> None:
        """Sends XCLIENT (the server must offer it: ``Extension.XCLIENT`` in the caps) with
        the given attributes, e.g. ``{"ADDR": "192.0.2.1", "PORT": "4711"}``; values are
        xtext-encoded by the engine. XclientResult follows, then Ready."""
        keep: list[Any] = []
        names = ffi.new("const char *[]", [_cstr(keep, k) for k in attrs])
        values = ffi.new("const char *[]", [_cstr(keep, v) for v in attrs.values()])
        check(lib.smtpcore_client_xclient(self._sess(), names, values, len(attrs)))

    def quit(self) -> None:
        """Ends the session with QUIT; Closed follows the 221."""
        check(lib.smtpcore_client_quit(self._sess()))

    def auth_respond(self, data: bytes | str | None) -> None:
        """Answers an AuthChallenge (the engine base64-encodes); None cancels with "*"."""
        if data is None:
            check(lib.smtpcore_client_auth_respond(self._sess(), ffi.NULL, 0))
        else:
            b = encode_text(data)
            check(lib.smtpcore_client_auth_respond(self._sess(), b, len(b)))

    def tls_started(self) -> None:
        """TLS is up after a StartTLS event; the engine sends EHLO again."""
        check(lib.smtpcore_client_tls_started(self._sess()))

    start_tls_done = tls_started

    # -- output
    def data_to_send(self, limit: int = 1 << 18) -> bytes:
        """Takes pending output to be written to the server. Queued body bytes are fed to
        the engine as room frees up, up to about ``limit`` bytes per call."""
        c = self._sess()
        if not self._end and not self._body._data:
            # No body queued on this side: just what the engine has (the common case).
            out = self._outp  # the property's value without its call, once made
            if out is None:
                out = self._out
            n = lib.smtpcore_client_output(c, out)
            if n == 0:
                return b""
            data: bytes = ffi.buffer(out[0], n)[:]
            check(lib.smtpcore_client_consume(c, n))
            if n >= limit or lib.smtpcore_client_output(c, out) == 0:
                return data
            chunks = [data]
            total = n
        else:
            chunks = []
            total = 0
        while total < limit:
            try:
                if len(self._body):
                    self._body.feed(self._offer_body)
                self._try_end()
            except (InvalidStateError, SessionClosedError):
                # The engine abandoned the transaction (the server refused a BDAT chunk,
                # or the session closed): the queued body is void; an event says why.
                self._body.clear()
                self._end = False
            n = lib.smtpcore_client_output(c, self._out)
            if n == 0:
                break
            chunks.append(ffi.buffer(self._out[0], n)[:])
            check(lib.smtpcore_client_consume(c, n))
            total += n
        return b"".join(chunks)

    # -- state
    @property
    def caps(self) -> Caps:
        """Capabilities seen in the last EHLO reply."""
        return Caps._from_c(lib.smtpcore_client_caps(self._sess()))

    @property
    def want_close(self) -> bool:
        return bool(lib.smtpcore_client_want_close(self._sess()))

    @property
    def memory(self) -> int:
        return int(lib.smtpcore_client_memory(self._sess()))

    def release_idle(self) -> int:
        """Gives the C session's buffers back while it is idle (the last :meth:`next_event`
        returned None, no reply awaited, no transaction open, every byte received processed,
        no output left): returns the bytes freed, 0 when the session is not idle or already
        released. For connections kept open and quiet (a connection cache, LMTP between
        deliveries): a released session holds about 1 KiB instead of about 92 KiB. The
        session takes the buffers back by itself at the next call that needs them
        (smtpcore_client_release_idle())."""
        freed = ffi.new("size_t *")
        rc = lib.smtpcore_client_release_idle(self._sess(), freed)
        if rc == lib.SMTPCORE_ERR_INVALID_STATE:
            return 0
        check(rc)
        return int(freed[0])


def _state_error(detail: str) -> Exception:
    return InvalidStateError(ErrorCode.INVALID_STATE, detail)
