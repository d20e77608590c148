# SPDX-License-Identifier: MIT
"""Exceptions.

:class:`SMTPCoreError` and its subclasses: the engine returned a negative smtpcore_error
code. They mean *the host misused the API* (or memory ran out); a peer that breaks the
protocol is reported as an event, never as an exception.

:class:`SMTPClientError` and its subclasses (below): what the batteries' clients raise
when a conversation or a message fails; they fit smtplib's hierarchy.
"""
from __future__ import annotations

import smtplib
import ssl
from typing import TYPE_CHECKING

from ._ffi import ffi, lib
from .enums import ErrorCode, Failure, Violation

if TYPE_CHECKING:
    from ._batch import SendResult
    from .values import Reply

__all__ = [
    "SMTPCoreError", "InvalidArgumentError", "NoMemoryError", "InvalidStateError",
    "BufferFullError", "SessionClosedError", "InjectionError", "SMTPSyntaxError",
    "UnsupportedError", "TooLongError", "NoAnswerPendingError", "EightBitNotOfferedError",
    "check", "error_for",
    "SMTPClientError", "SMTPConnectError", "SMTPHeloError", "SMTPAuthenticationError",
    "SMTPNotSupportedError", "SMTPServerDisconnected", "SMTPTimeoutError", "SMTPTLSError",
    "SMTPCertificateError", "SendError", "SMTPSenderRefused", "SMTPRecipientsRefused",
    "SMTPDataError", "SMTPSendAborted", "send_error", "tls_error", "session_error",
]


class SMTPCoreError(Exception):
    """Base class; ``code`` is the engine's ErrorCode."""

    code: ErrorCode = ErrorCode.INVALID_ARGUMENT

    def __init__(self, code: int | None = None, detail: str | None = None) -> None:
        if code is not None:
            self.code = ErrorCode(code)
        text = ffi.string(lib.smtpcore_strerror(int(self.code))).decode("ascii")
        self.detail = detail
        super().__init__(f"{text} ({self.code.name})" + (f": {detail}" if detail else ""))


class InvalidArgumentError(SMTPCoreError, ValueError):
    """A NULL pointer, bad value or bad length."""
    code = ErrorCode.INVALID_ARGUMENT


class NoMemoryError(SMTPCoreError, MemoryError):
    """The allocator returned NULL."""
    code = ErrorCode.NOMEM


class InvalidStateError(SMTPCoreError):
    """The call is not allowed in the session's current state."""
    code = ErrorCode.INVALID_STATE


class BufferFullError(SMTPCoreError):
    """A bounded buffer is full; drain events or output first."""
    code = ErrorCode.BUFFER_FULL


class SessionClosedError(SMTPCoreError):
    """The session is closed."""
    code = ErrorCode.CLOSED


class InjectionError(SMTPCoreError, ValueError):
    """CR, LF or NUL inside a host-supplied string."""
    code = ErrorCode.INJECTION


class SMTPSyntaxError(SMTPCoreError, ValueError):
    """A host-supplied value is not valid SMTP syntax."""
    code = ErrorCode.SYNTAX


class UnsupportedError(SMTPCoreError):
    """The peer did not offer a needed extension."""
    code = ErrorCode.UNSUPPORTED


class TooLongError(SMTPCoreError, ValueError):
    """A value exceeds a protocol or configured limit."""
    code = ErrorCode.TOO_LONG


class NoAnswerPendingError(SMTPCoreError):
    """An answer was given but no event awaits one."""
    code = ErrorCode.NO_ANSWER_PENDING


class EightBitNotOfferedError(UnsupportedError):
    """An 8-bit message for a server that does not offer 8BITMIME (RFC 6152); an
    UnsupportedError, as BODY=8BITMIME without 8BITMIME used to raise."""
    code = ErrorCode.EIGHTBIT_NOT_OFFERED


_BY_CODE: dict[int, type[SMTPCoreError]] = {
    cls.code: cls for cls in (
        InvalidArgumentError, NoMemoryError, InvalidStateError, BufferFullError,
        SessionClosedError, InjectionError, SMTPSyntaxError, UnsupportedError, TooLongError,
        NoAnswerPendingError, EightBitNotOfferedError)
}


def error_for(code: int, detail: str | None = None) -> SMTPCoreError:
    """The exception instance for a negative engine return code."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return SMTPCoreError(ErrorCode.INVALID_ARGUMENT, f"unknown engine error {code}")
    return cls(code, detail)


def check(rc: int, detail: str | None = None) -> int:
    """Returns ``rc`` when it is not negative, raises the matching exception otherwise."""
    if rc < 0:
        raise error_for(rc, detail)
    return rc


# --------------------------------------------------------------------------- client errors
#
# What the clients (smtpcore.SMTPClient, smtpcore.aio.SMTPClient) raise when the
# conversation or a message fails. They derive from smtplib's classes, so code written
# for smtplib keeps catching them (smtplib.SMTPException is an OSError): SMTPClientError
# is an smtplib.SMTPException, SMTPRecipientsRefused an smtplib.SMTPRecipientsRefused
# with the same ``recipients`` dict, and so on. Messages quote the reply that decided.

def _quote(reply: Reply) -> str:
    """The whole reply as one string: code, enhanced code, every line (a multi-line
    reply's lines joined by newlines, as smtpcore_reply_text gives them)."""
    return str(reply)


def _reply_bytes(reply: Reply) -> bytes:
    """smtplib's ``smtp_error``: the reply's text (lines joined by b"\\n")."""
    return reply.text.encode("utf-8", "surrogateescape")


class SMTPClientError(smtplib.SMTPException):
    """The conversation failed: connection lost, timeout, protocol error, refusal at the
    greeting or EHLO, TLS or AUTH failure. ``reply`` is the server reply that decided it
    (None when there was none); ``smtp_code``/``smtp_error`` are its code and text as
    smtplib's response exceptions carry them (-1 and b"" without a reply)."""

    reply: Reply | None
    smtp_code: int
    smtp_error: bytes | str  # always bytes here (typed as smtplib's)

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        text = message if reply is None else f"{message}: {_quote(reply)}"
        # Not super().__init__: the smtplib classes mixed in below take other arguments.
        smtplib.SMTPException.__init__(self, text)
        self.reply = reply
        self.smtp_code = reply.code if reply is not None else -1
        self.smtp_error = _reply_bytes(reply) if reply is not None else b""


class SMTPConnectError(SMTPClientError, smtplib.SMTPConnectError):
    """The server refused the session at its greeting (e.g. 554)."""


class SMTPHeloError(SMTPClientError, smtplib.SMTPHeloError):
    """The server refused EHLO and HELO (or closed the session there)."""


class SMTPAuthenticationError(SMTPClientError, smtplib.SMTPAuthenticationError):
    """AUTH failed (e.g. 535 5.7.8)."""


class SMTPNotSupportedError(SMTPClientError, smtplib.SMTPNotSupportedError):
    """Something the options require is not offered: STARTTLS with ``starttls=True``,
    AUTH when credentials are given, or a mechanism in common."""


class SMTPServerDisconnected(SMTPClientError, smtplib.SMTPServerDisconnected):
    """The server closed the connection (or ended the session with 421)."""


class SMTPTimeoutError(SMTPClientError, TimeoutError):
    """Connecting, a TLS handshake, a read or a write took longer than ``timeout``.
    Both clients raise it (it is also a :class:`TimeoutError`)."""


class SMTPTLSError(SMTPClientError, ssl.SSLError):
    """The TLS handshake failed (also an :class:`ssl.SSLError`; the original error is
    chained as ``__cause__``)."""


class SMTPCertificateError(SMTPTLSError, ssl.SSLCertVerificationError):
    """The server's certificate failed verification (with ``starttls=True``,
    ``implicit_tls=True`` or a verifying ``tls_context``). Also an
    :class:`ssl.SSLCertVerificationError`, with its ``verify_code`` and
    ``verify_message``."""


def tls_error(exc: ssl.SSLError) -> SMTPTLSError:
    """The client error for a failed handshake (raise it ``from exc``)."""
    err: SMTPTLSError
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or str(exc)
        err = SMTPCertificateError(f"TLS certificate verification failed: {why}")
        err.verify_code = exc.verify_code
        err.verify_message = exc.verify_message
    else:
        err = SMTPTLSError(f"TLS handshake failed: {exc}")
    err.library = exc.library
    err.reason = exc.reason
    return err


class SendError(SMTPClientError):
    """The message was not delivered to any recipient; ``result`` (a
    :class:`~smtpcore.SendResult`) has every reply. The subclasses say which step
    decided: :class:`SMTPSenderRefused`, :class:`SMTPRecipientsRefused`,
    :class:`SMTPDataError`, :class:`SMTPSendAborted` (the session ended during the
    transaction); a plain SendError means the engine refused the message locally."""

    def __init__(self, result: SendResult, message: str | None = None,
                 reply: Reply | None = None) -> None:
        if message is None:
            message = result.message or "message refused"
            reply = result.reply
        super().__init__(message, reply)
        self.result = result


class SMTPSenderRefused(SendError, smtplib.SMTPSenderRefused):  # type: ignore[misc]
    """MAIL FROM was refused; ``sender``, ``smtp_code``, ``smtp_error`` as in smtplib."""

    sender: str

    def __init__(self, result: SendResult, reply: Reply) -> None:
        super().__init__(result, f"sender <{result.sender}> refused", reply)
        self.sender = result.sender


class SMTPRecipientsRefused(SendError, smtplib.SMTPRecipientsRefused):
    """Every recipient was refused. ``recipients`` maps each address to ``(code,
    text bytes)`` as smtplib's; ``reply`` is the refusal that decided the outcome (the
    first temporary one if any, so the failure is retried, else the first)."""

    recipients: dict[str, tuple[int, bytes]]

    def __init__(self, result: SendResult) -> None:
        refused = [(a, r) for a, r in result.decisions.items() if r is not None]
        deciding = next((r for _, r in refused if r.is_transient), refused[0][1])
        listed = "; ".join(f"<{a}> {_quote(r)}" for a, r in refused)
        n = len(refused)
        what = "the recipient was" if n == 1 else f"all {n} recipients were"
        super().__init__(result, f"{what} refused: {listed}")
        self.reply = deciding
        self.smtp_code = deciding.code
        self.smtp_error = _reply_bytes(deciding)
        self.recipients = {a: (r.code, _reply_bytes(r)) for a, r in refused}


class SMTPSendAborted(SendError, smtplib.SMTPServerDisconnected):
    """The session ended during the transaction (421, connection lost, protocol error):
    nothing was delivered; send the message again on a new connection."""


class SMTPDataError(SendError, smtplib.SMTPDataError):
    """The server refused the message itself: DATA, a BDAT chunk or the end of data."""

    def __init__(self, result: SendResult, reply: Reply) -> None:
        super().__init__(result, "message refused", reply)


def send_error(result: SendResult) -> SendError:
    """The exception for a failed single-message send: the class and message of the step
    that decided (a refused MAIL, every RCPT refused, or the message refused)."""
    mail = result.mail_reply
    if mail is not None and not mail.is_success:
        return SMTPSenderRefused(result, mail)
    replies = list(result.decisions.values())
    if replies and all(r is not None and not r.is_success for r in replies):
        return SMTPRecipientsRefused(result)
    reply = result.reply
    # A message from the engine means the transaction was cut short (the conversation
    # ended, or it was refused locally): not a verdict on the message.
    if (reply is not None and not reply.is_success and not result.message
            and result.failure in (Failure.TRANSIENT, Failure.PERMANENT)):
        return SMTPDataError(result, reply)
    if result.failure != Failure.LOCAL and result.message:
        return SMTPSendAborted(result)
    return SendError(result)


_PROTOCOL_VIOLATIONS = frozenset({
    Violation.MALFORMED_REPLY, Violation.UNEXPECTED_REPLY, Violation.REPLY_TOO_LONG,
    Violation.STARTTLS_INJECTION, Violation.LINE_TOO_LONG, Violation.BARE_LF,
    Violation.BARE_CR, Violation.NUL,
})


def session_error(violation: Violation, message: str, reply: Reply | None,
                  greeting: Reply | None, ready: bool) -> SMTPClientError:
    """The exception for a session that ended (ProtocolError or Closed event) outside a
    transaction: ``greeting`` is the greeting seen (None if none), ``ready`` whether the
    session got as far as READY."""
    why = message or (violation.description if violation != Violation.NONE else "")
    if violation == Violation.TLS_REQUIRED:
        return SMTPNotSupportedError(
            "STARTTLS is required (starttls=True) but the server " +
            ("refused it" if reply is not None and reply.code != 0 else "does not offer it"),
            reply)
    if violation in _PROTOCOL_VIOLATIONS:
        return SMTPClientError(f"the server broke the protocol: {why}", reply)
    if reply is None:
        where = " before its greeting" if greeting is None else ""
        return SMTPServerDisconnected(f"connection closed by the server{where}")
    if greeting is None or not greeting.is_success:
        return SMTPConnectError("the server refused the session at its greeting", reply)
    if reply.code == 421:
        return SMTPServerDisconnected("the server closed the session", reply)
    if not ready:
        return SMTPHeloError("the server refused EHLO and HELO", reply)
    return SMTPClientError(why or "the session ended", reply)
