"""Exceptions raised when the engine returns a negative smtpcore_error code.

They mean *the host misused the API* (or memory ran out); a peer that breaks the
protocol is reported as an event, never as an exception.
"""
from __future__ import annotations

from ._ffi import ffi, lib
from .enums import ErrorCode

__all__ = [
    "SMTPCoreError", "InvalidArgumentError", "NoMemoryError", "InvalidStateError",
    "BufferFullError", "SessionClosedError", "InjectionError", "SMTPSyntaxError",
    "UnsupportedError", "TooLongError", "NoAnswerPendingError", "check", "error_for",
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


_BY_CODE: dict[int, type[SMTPCoreError]] = {
    cls.code: cls for cls in (
        InvalidArgumentError, NoMemoryError, InvalidStateError, BufferFullError,
        SessionClosedError, InjectionError, SMTPSyntaxError, UnsupportedError, TooLongError,
        NoAnswerPendingError)
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
