# SPDX-License-Identifier: MIT
"""Messages over one client connection: the transaction logic shared by the asyncio and
the blocking client, which differ only in how they wait for the next event.

A :class:`Batch` is sans-I/O. It starts each message's transaction on a
:class:`~smtpcore.ClientConnection` when the engine accepts a MAIL and files every event
into the :class:`SendResult` of the message it belongs to. With PIPELINING the engine
accepts the next MAIL right behind the previous message's final "." (RFC 2920 3.1), and
the batch starts it there: MAIL, every RCPT and DATA of message n+1 travel with the end
of message n, so a message costs one round trip (smtplib: three plus one per recipient).
Events keep their order: message n's result comes before message n+1's MAIL reply.
"""
from __future__ import annotations

import copy
import email.message
import email.utils
from collections import deque
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from io import BytesIO
from typing import Any, Iterable, Union

from ._ffi import ffi, lib
from .client import ClientConnection
from .enums import (
    _FAILURES, BodyType, ErrorCode, Extension, Failure, failure_of, violation_of,
)
from .errors import InvalidStateError, SMTPCoreError, check, error_for, send_error
from .values import Reply, _slice, decode_text, encode_text

_SIZE = int(Extension.SIZE)
_EIGHTBIT = int(Extension.EIGHTBITMIME)
_T_MAIL = lib.SMTPCORE_CEV_MAIL_RESULT
_T_RCPT = lib.SMTPCORE_CEV_RCPT_RESULT
_T_BODY = lib.SMTPCORE_CEV_SEND_BODY
_T_END = lib.SMTPCORE_CEV_MESSAGE_RESULT
_T_READY = lib.SMTPCORE_CEV_READY
_T_ERROR = lib.SMTPCORE_CEV_PROTOCOL_ERROR
_T_CLOSED = lib.SMTPCORE_CEV_CLOSED
_T_DELIVERY = lib.SMTPCORE_CEV_DELIVERY_RESULT
_PUMP = lib.pysc_client_pump
_TXN = lib.pysc_client_txn
_BODY_ALL = lib.pysc_client_body_all
_INVALID_STATE = int(ErrorCode.INVALID_STATE)
_LOCAL = Failure.LOCAL
# How pysc_client_pump stopped (smtpcore_build.py): the low three bits of its result.
_P_IDLE, _P_EVENT, _P_FULL, _P_NEW, _P_BODY = range(5)
_T_TXN = 1000  # PYSC_CLI_TXN: the next transaction behind a body, refused
_T_NEXT = 1001  # PYSC_CLI_NEXT: the body given whole and the next transaction queued
_NULL = ffi.NULL

@dataclass(slots=True)
class SendResult:
    """Outcome of one transaction."""

    sender: str
    recipients: dict[str, Reply | None] = field(default_factory=dict)
    """Every recipient with the server's reply to its RCPT, in submission order."""
    mail_reply: Reply | None = None
    reply: Reply | None = None
    """The final reply (to the end of data, every line of it); for a failed message the
    reply that decided (the refused MAIL, the deciding refused RCPT rather than the 503/554
    DATA got for it, a refused DATA or chunk), or the one that ended the session."""
    failure: Failure = Failure.SUCCESS
    message: str = ""
    lmtp: bool = False
    """Sent over LMTP (RFC 2033): each recipient also has a reply after the data."""
    deliveries: dict[str, Reply | None] = field(default_factory=dict)
    """LMTP: every recipient whose RCPT was accepted, with its reply after the data (None
    when the transaction ended before it came), in submission order."""

    @property
    def decisions(self) -> dict[str, Reply | None]:
        """Every recipient with the reply that decided its fate: its RCPT reply, or over
        LMTP, for a recipient whose RCPT was accepted, its reply after the data."""
        if not self.lmtp:
            return self.recipients
        return {r: self.deliveries[r] if r in self.deliveries else rep
                for r, rep in self.recipients.items()}

    @property
    def accepted(self) -> list[str]:
        """Recipients the server accepted (over LMTP: delivered to)."""
        return [r for r, rep in self.decisions.items() if rep is not None and rep.is_success]

    @property
    def refused(self) -> dict[str, Reply | None]:
        """Recipients the server refused (like smtplib's send_message result; over LMTP
        also those refused or deferred after the data)."""
        return {r: rep for r, rep in self.decisions.items()
                if rep is None or not rep.is_success}

    @property
    def ok(self) -> bool:
        return self.failure == Failure.SUCCESS

    @property
    def reason(self) -> str:
        """Why the message failed, quoting the reply that decided (the text of the
        exception ``send()`` raises for it); "" when it was delivered."""
        if self.failure == Failure.SUCCESS:
            return ""
        return str(send_error(self))


def _addresses(values: Iterable[str]) -> list[str]:
    return [a for _, a in email.utils.getaddresses(list(values)) if a]


def flatten_message(msg: email.message.Message, utf8: bool = False,
                    seven_bit: bool = False) -> bytes:
    """The bytes smtpcore sends for ``msg``: CRLF line ends, Bcc/Resent-Bcc removed.
    ``seven_bit`` (for a server without 8BITMIME) re-encodes 8-bit parts as base64 or
    quoted-printable, so the result is ASCII (RFC 6152)."""
    m = copy.copy(msg)
    del m["Bcc"]
    del m["Resent-Bcc"]
    buf = BytesIO()
    if utf8:
        policy = m.policy.clone(utf8=True)
    elif seven_bit:
        policy = m.policy.clone(cte_type="7bit")
    else:
        policy = m.policy
    BytesGenerator(buf, policy=policy).flatten(m, linesep="\r\n")
    return buf.getvalue()


def envelope_of(msg: email.message.Message) -> tuple[str, list[str]]:
    """Sender and recipients the way smtplib.send_message picks them."""
    resent = msg.get_all("Resent-Date")
    if resent:
        prefix = "Resent-"
    else:
        prefix = ""
    sender_hdr = msg[prefix + "Sender"] or msg[prefix + "From"]
    sender = _addresses([sender_hdr])[0] if sender_hdr else ""
    rcpts = _addresses(v for h in ("To", "Cc", "Bcc")
                       for v in (msg.get_all(prefix + h) or []))
    return sender, rcpts


#: What :meth:`SMTPClient.send_many` takes per message: an email message (envelope from
#: its headers, as ``send_message``), or ``(sender, recipients, data)``.
Outgoing = Union[email.message.Message, "tuple[str, Iterable[str], bytes]"]


@dataclass(slots=True)
class Job:
    """One message to send, with the options of ``SMTPClient.send``."""

    sender: str
    rcpts: list[str]
    data: bytes
    smtputf8: bool = False
    body: BodyType | None = None
    mail_options: dict[str, Any] | None = None
    rcpt_options: dict[str, Any] | None = None


def job_for_send(sender: str, recipients: Iterable[str], data: bytes, smtputf8: bool,
                 body: BodyType | None, mail_options: dict[str, Any] | None,
                 rcpt_options: dict[str, Any] | None) -> Job:
    """The one job of ``SMTPClient.send``; ValueError without recipients."""
    rcpts = list(recipients)
    if not rcpts:
        raise ValueError("no recipients")
    return Job(sender, rcpts, data, smtputf8, body, mail_options, rcpt_options)


def job_of(item: Outgoing, seven_bit: bool = False) -> Job:
    """A :class:`Job` from a ``send_many`` item; ValueError for one without recipients.
    ``seven_bit``: the server has no 8BITMIME (see :func:`flatten_message`)."""
    if isinstance(item, email.message.Message):
        sender, rcpts = envelope_of(item)
        international = any(not a.isascii() for a in [sender, *rcpts])
        job = Job(sender, rcpts, flatten_message(item, international, seven_bit),
                  international)
    else:
        sender, recipients, data = item
        job = Job(sender, list(recipients), data if type(data) is bytes else bytes(data))
    if not job.rcpts:
        raise ValueError("no recipients")
    return job


def seven_bit_jobs(items: list[Outgoing], jobs: list[Job]) -> list[Job]:
    """``jobs`` for a server without 8BITMIME: email messages whose flattening has 8-bit
    bytes are flattened again with 7-bit transfer encodings."""
    return [job_of(m, True) if isinstance(m, email.message.Message) and not j.smtputf8
            and not j.data.isascii() else j for m, j in zip(items, jobs)]


class Batch:
    """Sends ``jobs`` in order over ``conn``; ``results[i]`` belongs to ``jobs[i]``.

    The driver calls :meth:`start` once and :meth:`on_event` with the type of every
    event (the struct in ``conn._ev``) until :attr:`done`. ``mail_params`` is an initialised
    (smtpcore_mail_params_init) ``smtpcore_mail_params *`` the batch may reuse for the common MAIL (SIZE only).
    ``allow_8bit``: send an 8-bit message to a server without 8BITMIME anyway (as MTAs
    traditionally do); by default such a message fails locally before its MAIL.
    """

    def __init__(self, conn: ClientConnection, jobs: list[Job], mail_params: Any,
                 extensions: int, allow_8bit: bool = False) -> None:
        self.conn = conn
        self.allow_8bit = allow_8bit
        self.jobs = jobs
        self.lmtp = bool(getattr(conn, "lmtp", False))
        self.results = [SendResult(j.sender, dict.fromkeys(j.rcpts), lmtp=self.lmtp)
                        for j in jobs]
        self.extensions = extensions  # the server's, updated by the driver at READY
        self._mp = mail_params
        self._next = 0               # first job not started
        # Started jobs without a result, oldest first: a result belongs to the oldest,
        # MAIL/RCPT replies and the request for a body to the newest (a MAIL only
        # overtakes a transaction whose "." is out; with BDAT the body request comes
        # before the envelope's replies).
        self._active: deque[int] = deque()
        self._body_given = False     # the newest active job has its body
        self.pending = len(jobs)     # jobs without a final result (0: done)
        self._pump = conn._pump_state()
        self._pump.st.mp = mail_params
        self._env_of: list[str] | None = None  # the recipients _env holds
        self._env = b""
        # Output the pump took from the engine (drain), for the driver to write before
        # anything it takes itself.
        self.out = b""
        self.more = False  # the engine may have output beyond ``out`` (not only when full)
        self.late: list[int] | None = None  # records filed after ``out`` is written
        self._prep: tuple[Any, ...] | None = None  # see _prepare

    # -- starting transactions
    def start(self) -> bool:
        """Starts the next message if the engine takes a MAIL now (after READY, or with
        PIPELINING right behind the previous "."); otherwise it is tried again later.
        Returns True when it queued commands."""
        started = False
        while self._next < len(self.jobs) and (self._body_given or not self._active):
            i = self._next
            job = self.jobs[i]
            env = self._plain_envelope(job)
            if env is not None:
                # The common message (no options, ASCII data): MAIL, RCPTs, DATA in one call.
                s = job.sender
                rc = _TXN(self.conn._sess(),
                          s.encode("utf-8", "surrogateescape") if type(s) is str
                          else encode_text(s), self._mp,
                          len(job.data) if self.extensions & _SIZE else -1,
                          job.smtputf8, env, len(job.rcpts), self._pump.where)
                if rc < 0:
                    if not self._txn_failed(i, rc, self._pump.where[0]):
                        return started
                    started = started or self._pump.where[0] != 0
                    continue
            else:
                try:
                    self._mail(job)
                except InvalidStateError:
                    return started
                except SMTPCoreError as exc:  # refused before anything was sent
                    self._next += 1
                    self._local_failure(i, exc, abort=False)
                    continue
                try:
                    self._envelope(job)
                except SMTPCoreError as exc:
                    self._next += 1
                    self._local_failure(i, exc, abort=True)
                    started = True  # its MAIL and the RSET that drops it are queued
                    continue
            self._next += 1
            self._active.append(i)
            self._body_given = False
            started = True
        return started

    def _txn_failed(self, i: int, rc: int, where: int) -> bool:
        """pysc_client_txn refused job ``i`` with ``rc`` at call ``where`` (0: MAIL).
        False when the engine takes no MAIL yet (tried again later); otherwise the job
        failed locally (its MAIL and RCPTs, if queued, are dropped with RSET)."""
        if where == 0 and rc == _INVALID_STATE:
            return False
        self._next += 1
        self._local_failure(i, error_for(rc), abort=where != 0)
        return True

    def _plain_envelope(self, job: Job) -> bytes | None:
        """The recipients as pysc_client_txn takes them (each NUL-terminated, one after
        the other) when ``job`` is a common message: no options, ASCII data, no NUL in
        an address. None: the message goes through ``_mail`` and ``_envelope``."""
        if job.mail_options or job.rcpt_options or job.body is not None or (
                not job.data.isascii()):
            return None
        rcpts = job.rcpts
        if rcpts == self._env_of:
            return self._env  # the same recipients as the last message (a list, mass mail)
        env = b"\0".join([r.encode("utf-8", "surrogateescape") if type(r) is str
                           else encode_text(r) for r in rcpts])
        if env.count(b"\0") != len(rcpts) - 1 or not rcpts:
            return None
        self._env_of = list(rcpts)
        self._env = env
        return env

    def _mail(self, job: Job) -> None:
        exts = self.extensions
        data = job.data
        if not exts & _EIGHTBIT and not self.allow_8bit and not data.isascii() and (
                job.body != BodyType.BINARYMIME):
            # RFC 6152: 8-bit content only to a server that offers 8BITMIME (the engine
            # would end the session at the first 8-bit byte; refused before MAIL here).
            raise error_for(
                getattr(ErrorCode, "EIGHTBIT_NOT_OFFERED", ErrorCode.UNSUPPORTED),
                "the message has 8-bit bytes and the server does not offer 8BITMIME "
                "(RFC 6152); encode it (e.g. quoted-printable) or pass allow_8bit=True to "
                "send it anyway")
        if not job.mail_options and job.body is None and (
                not exts & _EIGHTBIT or data.isascii()):
            # The common case: SIZE at most, one reused parameter struct.
            p = self._mp
            p.has_size = 1 if exts & _SIZE else 0
            p.size = len(data) if exts & _SIZE else 0
            p.smtputf8 = 1 if job.smtputf8 else 0
            s = job.sender
            rc = lib.smtpcore_client_mail(
                self.conn._sess(),
                s.encode("utf-8", "surrogateescape") if type(s) is str else encode_text(s), p)
            if rc:
                check(rc)
            return
        opts = dict(job.mail_options or {})
        if job.body is not None:
            opts["body"] = job.body
        if "size" not in opts and exts & _SIZE:
            opts["size"] = len(data)
        if "body" not in opts and exts & _EIGHTBIT and not data.isascii():
            opts["body"] = BodyType.EIGHTBITMIME
        self.conn.mail(job.sender, smtputf8=job.smtputf8, **opts)

    def _envelope(self, job: Job) -> None:
        conn = self.conn
        if job.rcpt_options:
            for r in job.rcpts:
                conn.rcpt(r, **job.rcpt_options)
        else:
            c = conn._c
            rcpt, null = lib.smtpcore_client_rcpt, ffi.NULL
            for r in job.rcpts:
                # No parameter struct: NULL params (the engine's documented default).
                rc = rcpt(c, r.encode("utf-8", "surrogateescape") if type(r) is str
                          else encode_text(r), null)
                if rc:
                    check(rc)
        rc = lib.smtpcore_client_data(conn._c)
        if rc:
            check(rc)

    def _local_failure(self, i: int, exc: SMTPCoreError, abort: bool) -> None:
        """The engine refused part of the envelope before sending it (bad address, an
        option the server does not offer): nothing of it may be sent."""
        if abort:
            try:
                self.conn.rset()  # drops what is queued; its reply is not ours
            except SMTPCoreError:
                pass
        result = self.results[i]
        result.failure = Failure.LOCAL
        result.message = str(exc)
        self.pending -= 1

    # -- events
    def on_event(self, t: int) -> None:
        """Files the event just returned by ``conn._next_raw()`` (type ``t``)."""
        conn = self.conn
        ev = conn._ev
        if t == _T_RCPT:
            if self._active:
                i = self._active[-1]
                rcpts = self.jobs[i].rcpts
                if ev.rcpt_index < len(rcpts):
                    self.results[i].recipients[rcpts[ev.rcpt_index]] = conn._reply()
        elif t == _T_MAIL:
            if self._active:
                self.results[self._active[-1]].mail_reply = conn._reply()
        elif t == _T_BODY:
            # BDAT without pipelining asks again after each chunk: the body is given once.
            if not self._active or self._body_given:
                return
            self._give_body(self.jobs[self._active[-1]].data)
            self._body_given = True
            self.start()
        elif t == _T_DELIVERY:
            # LMTP: belongs to the oldest transaction (its result comes next); the newest
            # may already be a MAIL pipelined behind the dot.
            if self._active:
                i = self._active[0]
                rcpts = self.jobs[i].rcpts
                if ev.rcpt_index < len(rcpts):
                    self.results[i].deliveries[rcpts[ev.rcpt_index]] = conn._reply()
        elif t == _T_END:
            if not self._active:
                return
            i = self._active.popleft()
            result = self.results[i]
            if self.lmtp:
                for r, rep in result.recipients.items():
                    if rep is not None and rep.is_success:
                        result.deliveries.setdefault(r, None)
            result.reply = conn._reply()
            result.failure = failure_of(ev.failure)
            if ev.message.len:
                result.message = decode_text(_slice(ev.message))
            self.pending -= 1
        elif t == _T_READY:
            self.extensions = int(ev.caps.extensions)
            self._prep = None  # made for the old extensions (SIZE)
            self.start()
        elif t == _T_ERROR or t == _T_CLOSED:
            self._fail_rest()

    def _give_body(self, data: bytes) -> None:
        """The whole body and its end; what the engine cannot take yet is queued on the
        connection (fed as its output drains), as send_body() and end_body() do."""
        conn = self.conn
        if type(data) is bytes and data and not conn._body._data and not conn._end:
            pump = self._pump
            rc = _BODY_ALL(conn._sess(), data, len(data), pump.consumed)
            if rc == 1:
                return
            if rc < 0:
                check(rc)
            k = int(pump.consumed[0])
            if k < len(data):
                conn.send_body(memoryview(data)[k:])
        else:
            conn.send_body(data)
        conn.end_body()

    def drain(self) -> int:
        """Files every event the engine has for the batch, and returns the type of the
        first one the driver must see (its struct is in ``conn._ev``; :meth:`on_event`
        files it after the driver's part), or 0 when the engine needs I/O. The common
        results come from pysc_client_pump as records with a cached Reply, all of one
        read in one loop; the pump also gives the newest message its body. When the pump
        took output (:attr:`out`), the records of its last call wait in :attr:`late`
        until the driver has written it: :meth:`file_late` files them while the server
        reads (the driver calls it before anything else of the batch)."""
        conn = self.conn
        c = conn._c
        if c is None:
            conn._sess()
        pump = self._pump
        st, evp, recs = pump.st, conn._evp, pump.recs
        jobs, active = self.jobs, self._active
        while True:
            body = sender = _NULL
            env = b""
            nrcpt = utf8 = 0
            size = -1
            if active and not self._body_given:
                body = jobs[active[-1]].data
                if type(body) is not bytes or not body or conn._body._data or conn._end:
                    body = _NULL  # on_event gives it (send_body queues behind the rest)
                elif self._next < len(jobs):
                    # The next message goes right behind this one's "." if it is a
                    # common one (as start() would queue it); its arguments were
                    # usually made while the last write was on the wire.
                    prep = self._prep
                    if prep is None or prep[0] != self._next:
                        prep = self._prepare(self._next)
                    if prep[1] is not None:
                        _, sender, size, utf8, env, nrcpt = prep
            rv = _PUMP(c, st, body, len(body) if body else 0, sender, size, utf8, env, nrcpt)
            if rv < 0:
                check(rv)
            why = rv & 7
            if why == _P_IDLE:
                if rv >= 0x10000:  # the output the pump took, written before anything else
                    o = ffi.unpack(pump.out, rv >> 16)
                    self.out = self.out + o if self.out else o
                    if rv & 0xFFF8 and not (conn._in._data or conn._eof == 1):
                        self.late = ffi.unpack(recs, (rv & 0xFFF8) >> 1)
                        return 0
                if rv & 0xFFF8:
                    self.file_late(ffi.unpack(recs, (rv & 0xFFF8) >> 1), body)
                if conn._in._data or conn._eof == 1:
                    self.more = True  # feeding it may make output after the pump's
                    return conn._next_raw()  # queued input or the end of it first
                return 0
            if rv & 0xFFF8:
                vals = ffi.unpack(recs, (rv & 0xFFF8) >> 1)
                if why == _P_NEW:
                    pump.replies[vals[-1]] = Reply._from_c(evp[0].reply, conn._text)
                self.file_late(vals, body)
            if why == _P_EVENT:
                ev = conn._ev = evp[0]
                return int(ev.type)

    def file_late(self, vals: list[int] | None = None, body: Any = _NULL) -> None:
        """Files the pump's records ``vals`` (four ints each; by default those
        :meth:`drain` left in :attr:`late`, which the driver files while the server
        reads what it wrote), then makes the pump's arguments for the message that goes
        behind the next body (``_prep``, see :meth:`_prepare`). ``body`` is what the pump
        was given (a _T_BODY record comes only from the call that gave it)."""
        if vals is None:
            vals = self.late
            self.late = None
            if vals is None:
                vals = []
        conn = self.conn
        results, jobs, active, replies = self.results, self.jobs, self._active, \
            self._pump.replies
        it = iter(vals)
        for t, f, k, slot in zip(it, it, it, it):
            if t == _T_RCPT:
                if active:
                    i = active[-1]
                    rcpts = jobs[i].rcpts
                    if k < len(rcpts):
                        results[i].recipients[rcpts[k]] = replies[slot]
            elif t == _T_END:
                if not active:
                    continue
                result = results[active.popleft()]
                if self.lmtp:
                    for r, rep in result.recipients.items():
                        if rep is not None and rep.is_success:
                            result.deliveries.setdefault(r, None)
                result.reply = replies[slot]
                result.failure = _FAILURES.get(f, _LOCAL)
                self.pending -= 1
            elif t == _T_MAIL:
                if active:
                    results[active[-1]].mail_reply = replies[slot]
            elif t == _T_NEXT:  # the body went whole, the next message behind it
                i = self._next
                self._next = i + 1
                active.append(i)
            elif t == _T_BODY:  # body is what the pump gave
                if not f:  # not all of it, or no room for its end yet: queued
                    n = self._pump.st.consumed
                    if n < len(body):
                        conn.send_body(memoryview(body)[n:])
                    conn.end_body()
                self._body_given = True
                if not k:  # the pump did not try the next message (_T_TXN)
                    self.start()
            elif t == _T_TXN:  # the next message, refused before it was sent
                if self._txn_failed(self._next, f, k):
                    self.start()
            elif active:  # _T_DELIVERY: the oldest transaction's
                i = active[0]
                rcpts = jobs[i].rcpts
                if k < len(rcpts):
                    results[i].deliveries[rcpts[k]] = replies[slot]
        i = self._next
        if i < len(jobs):
            prep = self._prep
            if prep is None or prep[0] != i:
                self._prepare(i)

    def _prepare(self, i: int) -> tuple[Any, ...]:
        """pysc_client_pump's arguments from ``sender`` on for job ``i`` (kept in
        ``_prep`` with ``i``): ``(i, None)`` when it is no common message."""
        job = self.jobs[i]
        plain = self._plain_envelope(job)
        if plain is None:
            prep: tuple[Any, ...] = (i, None)
        else:
            s = job.sender
            prep = (i, s.encode("utf-8", "surrogateescape") if type(s) is str
                    else encode_text(s), len(job.data) if self.extensions & _SIZE else -1,
                    job.smtputf8, plain, len(job.rcpts))
        self._prep = prep
        return prep

    def _fail_rest(self) -> None:
        """The conversation ended: every message without a result fails with the event's
        reason (after a protocol error the server's verdicts can no longer be trusted)."""
        conn = self.conn
        ev = conn._ev
        f = failure_of(ev.failure)
        why = decode_text(_slice(ev.message)) or violation_of(ev.violation).description
        reply = conn._reply()
        open_ = list(self._active)
        for i in open_ + list(range(self._next, len(self.jobs))):
            result = self.results[i]
            result.failure = f if f != Failure.SUCCESS else Failure.LOCAL
            result.reply = reply
            result.message = why if i in open_ else f"not sent: {why}"
            if result.lmtp:  # accepted at RCPT, but no reply after the data came
                for r, rep in result.recipients.items():
                    if rep is not None and rep.is_success:
                        result.deliveries.setdefault(r, None)
        self._active.clear()
        self._next = len(self.jobs)
        self.pending = 0
