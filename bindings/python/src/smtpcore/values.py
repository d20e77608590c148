# SPDX-License-Identifier: MIT
"""Value types shared by both roles: replies, capabilities, transaction parameters,
and the pure syntax helpers of the engine."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._ffi import ffi, lib
from .enums import AuthMech, BodyType, DsnNotify, DsnRet, Extension, HeloClass, ReplyFlag
from .errors import check

__all__ = [
    "Reply", "Caps", "MailParams", "RcptParams", "version", "version_num", "helo_classify",
    "address_literal", "xtext_decode", "decode_text",
]


def decode_text(data: bytes) -> str:
    """Engine text to str. UTF-8 (RFC 6531), with invalid bytes kept as surrogates so
    that ``s.encode('utf-8', 'surrogateescape')`` gives the original bytes back."""
    return data.decode("utf-8", "surrogateescape")


def encode_text(text: str | bytes) -> bytes:
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    return text.encode("utf-8", "surrogateescape")


def _slice(s: Any) -> bytes:
    """Copies an smtpcore_str out of the session (it is valid only until the next call)."""
    n = s.len
    if n == 0:
        return b""
    data: bytes = ffi.buffer(s.ptr, n)[:]
    return data


_NO_FLAGS = ReplyFlag(0)


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete SMTP reply as received by a client (smtpcore_reply)."""

    code: int
    """The reply code of the last line (RFC 5321 4.2.1)."""
    enhanced: str | None = None
    """Enhanced status code of the first line, "x.y.z", or None."""
    lines: tuple[str, ...] = ()
    """Text of each line after the code and separator (enhanced code included)."""
    flags: ReplyFlag = ReplyFlag(0)
    """Illegal forms found in the reply (it is still usable)."""
    raw: bytes = b""
    """All lines exactly as received, terminators included."""

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def is_success(self) -> bool:
        return 200 <= self.code < 400

    @property
    def is_transient(self) -> bool:
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        return 500 <= self.code < 600

    def __str__(self) -> str:
        enh = f" {self.enhanced}" if self.enhanced and not self.text.startswith(self.enhanced) else ""
        return f"{self.code}{enh} {self.text}"

    @classmethod
    def _from_c(cls, r: Any, text: Any = None) -> Reply | None:
        code = r.code
        n = r.raw.len
        if code == 0 and n == 0:
            return None
        if r.nlines == 1 and not r.flags and n >= 5:
            # One well-formed line "ddd text\r\n": its text is the raw bytes after the
            # code and separator (what smtpcore_reply_line returns), without a C call.
            raw = ffi.buffer(r.raw.ptr, n)[:]
            if raw[-2:] == b"\r\n" and (n == 5 or raw[3:4] in (b" ", b"-")):
                e = r.enhanced
                enhanced = f"{e.cls}.{e.subject}.{e.detail}" if e.cls else None
                text = raw[4:-2].decode("utf-8", "surrogateescape") if n > 5 else ""
                return cls(code, enhanced, (text,), _NO_FLAGS, raw)
        lines = []
        if text is None:
            text = ffi.new("smtpcore_str *")
        rp = ffi.addressof(r)
        for i in range(r.nlines):
            if lib.smtpcore_reply_line(rp, i, text) == 0:
                lines.append(decode_text(_slice(text)))
        e = r.enhanced
        enhanced = f"{e.cls}.{e.subject}.{e.detail}" if e.cls else None
        flags = _NO_FLAGS if not r.flags else ReplyFlag(r.flags)
        return cls(int(r.code), enhanced, tuple(lines), flags, _slice(r.raw))


@dataclass(frozen=True, slots=True)
class Caps:
    """Capabilities parsed from an EHLO reply (smtpcore_caps)."""

    extensions: Extension = Extension(0)
    size_limit: int = 0
    """SIZE parameter; 0 when absent or unlimited."""
    auth_mechs: AuthMech = AuthMech(0)
    esmtp: bool = False
    """True if the server answered EHLO, False after a HELO fallback."""

    def __contains__(self, ext: object) -> bool:
        return isinstance(ext, int) and bool(int(self.extensions) & int(ext))

    @classmethod
    def _from_c(cls, c: Any) -> Caps:
        return cls(Extension(c.extensions), int(c.size_limit), AuthMech(c.auth_mechs),
                   bool(c.esmtp))

    @classmethod
    def parse(cls, reply: Reply) -> Caps:
        """Parses an EHLO reply with the engine's parser (smtpcore_caps_parse)."""
        raw = ffi.new("char[]", reply.raw)
        r = ffi.new("smtpcore_reply *")
        r.code = reply.code
        r.raw.ptr = raw
        r.raw.len = len(reply.raw)
        r.nlines = max(1, reply.raw.count(b"\n"))
        r.flags = int(reply.flags)
        out = ffi.new("smtpcore_caps *")
        check(lib.smtpcore_caps_parse(r, out))
        return cls._from_c(out)


@dataclass(frozen=True, slots=True)
class MailParams:
    """ESMTP parameters of MAIL FROM (smtpcore_mail_params). In server events
    ``envid`` and ``auth`` are raw (still xtext-encoded)."""

    size: int | None = None
    body: BodyType = BodyType.UNSPECIFIED
    smtputf8: bool = False
    ret: DsnRet = DsnRet.UNSPECIFIED
    envid: bytes | None = None
    auth: bytes | None = None

    @classmethod
    def _from_c(cls, m: Any) -> MailParams:
        if not (m.has_size or m.body or m.smtputf8 or m.ret) and m.envid.ptr == ffi.NULL \
                and m.auth.ptr == ffi.NULL:
            return _NO_MAIL_PARAMS
        return cls(int(m.size) if m.has_size else None, BodyType(m.body), bool(m.smtputf8),
                   DsnRet(m.ret), _slice(m.envid) if m.envid.ptr != ffi.NULL else None,
                   _slice(m.auth) if m.auth.ptr != ffi.NULL else None)


@dataclass(frozen=True, slots=True)
class RcptParams:
    """ESMTP parameters of RCPT TO (smtpcore_rcpt_params); ``orcpt`` raw on the server."""

    notify: DsnNotify = DsnNotify(0)
    orcpt: bytes | None = None

    @classmethod
    def _from_c(cls, r: Any) -> RcptParams:
        if not r.notify and r.orcpt.ptr == ffi.NULL:
            return _NO_RCPT_PARAMS
        return cls(DsnNotify(r.notify), _slice(r.orcpt) if r.orcpt.ptr != ffi.NULL else None)


_NO_MAIL_PARAMS = MailParams()
_NO_RCPT_PARAMS = RcptParams()


def version() -> str:
    """Run-time engine version "MAJOR.MINOR.PATCH"."""
    text: bytes = ffi.string(lib.smtpcore_version())
    return text.decode("ascii")


def version_num() -> int:
    """Run-time engine version as (MAJOR << 16) | (MINOR << 8) | PATCH."""
    return int(lib.smtpcore_version_num())


def helo_classify(name: str | bytes) -> HeloClass:
    """Syntactic class of a HELO/EHLO argument (no DNS)."""
    b = encode_text(name)
    return HeloClass(lib.smtpcore_helo_classify(b, len(b)))


def address_literal(ip: str) -> str:
    """"192.0.2.1" -> "[192.0.2.1]", "2001:db8::1" -> "[IPv6:2001:db8::1]"."""
    out = ffi.new("char[]", 64)
    n = check(lib.smtpcore_address_literal(ip.encode("ascii"), out, 64))
    text: bytes = ffi.buffer(out, n)[:]
    return text.decode("ascii")


def xtext_decode(data: str | bytes) -> bytes:
    """Decodes RFC 3461 xtext ("+2B" escapes), e.g. an ENVID or ORCPT value."""
    b = encode_text(data)
    out = ffi.new("char[]", max(1, len(b)))
    n = ffi.new("size_t *")
    check(lib.smtpcore_xtext_decode(b, len(b), out, len(b), n))
    decoded: bytes = ffi.buffer(out, n[0])[:]
    return decoded


