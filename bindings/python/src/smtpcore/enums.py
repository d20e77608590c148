"""Python mirrors of the C enums. Values come from the compiled module, so they cannot
drift from the headers (tests check that every C constant has a mirror)."""
from __future__ import annotations

from enum import IntEnum, IntFlag

from ._ffi import lib

__all__ = [
    "ErrorCode", "Violation", "ReplyFlag", "Extension", "AuthMech", "HeloClass", "BodyType",
    "DsnRet", "DsnNotify", "BareLfPolicy", "HeloPolicy", "TalkerPolicy", "InjectionPolicy",
    "ServerEventType", "Quirk", "TlsPolicy", "ClientEventType", "Failure",
]


class ErrorCode(IntEnum):
    """smtpcore_error: negative codes returned when the host misuses the API."""
    OK = lib.SMTPCORE_OK
    INVALID_ARGUMENT = lib.SMTPCORE_ERR_INVALID_ARGUMENT
    NOMEM = lib.SMTPCORE_ERR_NOMEM
    INVALID_STATE = lib.SMTPCORE_ERR_INVALID_STATE
    BUFFER_FULL = lib.SMTPCORE_ERR_BUFFER_FULL
    CLOSED = lib.SMTPCORE_ERR_CLOSED
    INJECTION = lib.SMTPCORE_ERR_INJECTION
    SYNTAX = lib.SMTPCORE_ERR_SYNTAX
    UNSUPPORTED = lib.SMTPCORE_ERR_UNSUPPORTED
    TOO_LONG = lib.SMTPCORE_ERR_TOO_LONG
    NO_ANSWER_PENDING = lib.SMTPCORE_ERR_NO_ANSWER_PENDING


class Violation(IntEnum):
    """smtpcore_violation: stable codes for protocol violations by the peer."""
    NONE = lib.SMTPCORE_V_NONE
    LINE_TOO_LONG = lib.SMTPCORE_V_LINE_TOO_LONG
    BARE_LF = lib.SMTPCORE_V_BARE_LF
    BARE_CR = lib.SMTPCORE_V_BARE_CR
    NUL = lib.SMTPCORE_V_NUL
    EIGHT_BIT = lib.SMTPCORE_V_8BIT
    SYNTAX = lib.SMTPCORE_V_SYNTAX
    UNKNOWN_COMMAND = lib.SMTPCORE_V_UNKNOWN_COMMAND
    BAD_SEQUENCE = lib.SMTPCORE_V_BAD_SEQUENCE
    EARLY_TALKER = lib.SMTPCORE_V_EARLY_TALKER
    IMPROPER_PIPELINING = lib.SMTPCORE_V_IMPROPER_PIPELINING
    STARTTLS_INJECTION = lib.SMTPCORE_V_STARTTLS_INJECTION
    TOO_MANY_ERRORS = lib.SMTPCORE_V_TOO_MANY_ERRORS
    MESSAGE_TOO_BIG = lib.SMTPCORE_V_MESSAGE_TOO_BIG
    TOO_MANY_RECIPIENTS = lib.SMTPCORE_V_TOO_MANY_RECIPIENTS
    BAD_PARAMETER = lib.SMTPCORE_V_BAD_PARAMETER
    UNKNOWN_PARAMETER = lib.SMTPCORE_V_UNKNOWN_PARAMETER
    AUTH_FAILED = lib.SMTPCORE_V_AUTH_FAILED
    MALFORMED_REPLY = lib.SMTPCORE_V_MALFORMED_REPLY
    UNEXPECTED_REPLY = lib.SMTPCORE_V_UNEXPECTED_REPLY
    REPLY_TOO_LONG = lib.SMTPCORE_V_REPLY_TOO_LONG
    TLS_REQUIRED = lib.SMTPCORE_V_TLS_REQUIRED
    SERVICE_UNAVAILABLE = lib.SMTPCORE_V_SERVICE_UNAVAILABLE
    CONNECTION_LOST = lib.SMTPCORE_V_CONNECTION_LOST
    LOOP_DETECTED = lib.SMTPCORE_V_LOOP_DETECTED
    UNSUPPORTED = lib.SMTPCORE_V_UNSUPPORTED

    @property
    def description(self) -> str:
        """The engine's English description (smtpcore_violation_str)."""
        from ._ffi import ffi
        text: bytes = ffi.string(lib.smtpcore_violation_str(int(self)))
        return text.decode("ascii")


class ReplyFlag(IntFlag):
    """smtpcore_reply_flag: illegal forms found in a received reply."""
    MIXED_CODES = lib.SMTPCORE_REPLY_MIXED_CODES
    BAD_SEPARATOR = lib.SMTPCORE_REPLY_BAD_SEPARATOR
    BAD_CODE = lib.SMTPCORE_REPLY_BAD_CODE
    LONG_LINE = lib.SMTPCORE_REPLY_LONG_LINE
    BARE_LF = lib.SMTPCORE_REPLY_BARE_LF
    BAD_BYTES = lib.SMTPCORE_REPLY_BAD_BYTES


class Extension(IntFlag):
    """smtpcore_ext: ESMTP extensions advertised by a server or seen by a client."""
    PIPELINING = lib.SMTPCORE_EXT_PIPELINING
    SIZE = lib.SMTPCORE_EXT_SIZE
    EIGHTBITMIME = lib.SMTPCORE_EXT_8BITMIME
    SMTPUTF8 = lib.SMTPCORE_EXT_SMTPUTF8
    DSN = lib.SMTPCORE_EXT_DSN
    ENHANCEDSTATUSCODES = lib.SMTPCORE_EXT_ENHANCEDSTATUSCODES
    CHUNKING = lib.SMTPCORE_EXT_CHUNKING
    BINARYMIME = lib.SMTPCORE_EXT_BINARYMIME
    STARTTLS = lib.SMTPCORE_EXT_STARTTLS
    AUTH = lib.SMTPCORE_EXT_AUTH
    VRFY = lib.SMTPCORE_EXT_VRFY
    HELP = lib.SMTPCORE_EXT_HELP


class AuthMech(IntFlag):
    """smtpcore_auth_mech: SASL mechanisms known to the engine."""
    PLAIN = lib.SMTPCORE_AUTH_PLAIN
    LOGIN = lib.SMTPCORE_AUTH_LOGIN
    XOAUTH2 = lib.SMTPCORE_AUTH_XOAUTH2
    CRAM_MD5 = lib.SMTPCORE_AUTH_CRAM_MD5
    OTHER = lib.SMTPCORE_AUTH_OTHER


class HeloClass(IntEnum):
    """smtpcore_helo_class: syntactic class of a HELO/EHLO argument."""
    INVALID = lib.SMTPCORE_HELO_INVALID
    FQDN = lib.SMTPCORE_HELO_FQDN
    SINGLE_LABEL = lib.SMTPCORE_HELO_SINGLE_LABEL
    IPV4_LITERAL = lib.SMTPCORE_HELO_IPV4_LITERAL
    IPV6_LITERAL = lib.SMTPCORE_HELO_IPV6_LITERAL
    GENERAL_LITERAL = lib.SMTPCORE_HELO_GENERAL_LITERAL


class BodyType(IntEnum):
    """smtpcore_body_type: the BODY= parameter."""
    UNSPECIFIED = lib.SMTPCORE_BODY_UNSPECIFIED
    SEVEN_BIT = lib.SMTPCORE_BODY_7BIT
    EIGHTBITMIME = lib.SMTPCORE_BODY_8BITMIME
    BINARYMIME = lib.SMTPCORE_BODY_BINARYMIME


class DsnRet(IntEnum):
    """smtpcore_dsn_ret: the RET= parameter."""
    UNSPECIFIED = lib.SMTPCORE_RET_UNSPECIFIED
    FULL = lib.SMTPCORE_RET_FULL
    HDRS = lib.SMTPCORE_RET_HDRS


class DsnNotify(IntFlag):
    """smtpcore_dsn_notify: the NOTIFY= parameter."""
    NEVER = lib.SMTPCORE_NOTIFY_NEVER
    SUCCESS = lib.SMTPCORE_NOTIFY_SUCCESS
    FAILURE = lib.SMTPCORE_NOTIFY_FAILURE
    DELAY = lib.SMTPCORE_NOTIFY_DELAY


class BareLfPolicy(IntEnum):
    """smtpcore_bare_lf_policy."""
    REJECT = lib.SMTPCORE_BARE_LF_REJECT
    ACCEPT = lib.SMTPCORE_BARE_LF_ACCEPT


class HeloPolicy(IntEnum):
    """smtpcore_helo_policy."""
    REQUIRED = lib.SMTPCORE_HELO_REQUIRED
    OPTIONAL = lib.SMTPCORE_HELO_OPTIONAL


class TalkerPolicy(IntEnum):
    """smtpcore_talker_policy."""
    NOTE = lib.SMTPCORE_TALKER_NOTE
    REJECT = lib.SMTPCORE_TALKER_REJECT


class InjectionPolicy(IntEnum):
    """smtpcore_injection_policy."""
    REJECT = lib.SMTPCORE_INJECTION_REJECT
    DISCARD = lib.SMTPCORE_INJECTION_DISCARD


class ServerEventType(IntEnum):
    """smtpcore_server_event_type."""
    NONE = lib.SMTPCORE_SEV_NONE
    CONNECT = lib.SMTPCORE_SEV_CONNECT
    HELO = lib.SMTPCORE_SEV_HELO
    MAIL = lib.SMTPCORE_SEV_MAIL
    RCPT = lib.SMTPCORE_SEV_RCPT
    DATA = lib.SMTPCORE_SEV_DATA
    BODY = lib.SMTPCORE_SEV_BODY
    MESSAGE_END = lib.SMTPCORE_SEV_MESSAGE_END
    MESSAGE_ABORTED = lib.SMTPCORE_SEV_MESSAGE_ABORTED
    RSET = lib.SMTPCORE_SEV_RSET
    NOOP = lib.SMTPCORE_SEV_NOOP
    VRFY = lib.SMTPCORE_SEV_VRFY
    EXPN = lib.SMTPCORE_SEV_EXPN
    HELP = lib.SMTPCORE_SEV_HELP
    STARTTLS = lib.SMTPCORE_SEV_STARTTLS
    AUTH = lib.SMTPCORE_SEV_AUTH
    QUIT = lib.SMTPCORE_SEV_QUIT
    PROTOCOL_ERROR = lib.SMTPCORE_SEV_PROTOCOL_ERROR
    CLOSE = lib.SMTPCORE_SEV_CLOSE


class Quirk(IntFlag):
    """smtpcore_quirk: client workarounds for broken servers."""
    NO_PIPELINING = lib.SMTPCORE_QUIRK_NO_PIPELINING
    SPLIT_QUIT = lib.SMTPCORE_QUIRK_SPLIT_QUIT
    NO_CHUNKING = lib.SMTPCORE_QUIRK_NO_CHUNKING
    HELO_ONLY = lib.SMTPCORE_QUIRK_HELO_ONLY


class TlsPolicy(IntEnum):
    """smtpcore_tls_policy: when the client uses STARTTLS."""
    NEVER = lib.SMTPCORE_TLS_NEVER
    OPPORTUNISTIC = lib.SMTPCORE_TLS_OPPORTUNISTIC
    REQUIRED = lib.SMTPCORE_TLS_REQUIRED


class ClientEventType(IntEnum):
    """smtpcore_client_event_type."""
    NONE = lib.SMTPCORE_CEV_NONE
    GREETING = lib.SMTPCORE_CEV_GREETING
    STARTTLS = lib.SMTPCORE_CEV_STARTTLS
    AUTH_CHALLENGE = lib.SMTPCORE_CEV_AUTH_CHALLENGE
    AUTH_RESULT = lib.SMTPCORE_CEV_AUTH_RESULT
    READY = lib.SMTPCORE_CEV_READY
    MAIL_RESULT = lib.SMTPCORE_CEV_MAIL_RESULT
    RCPT_RESULT = lib.SMTPCORE_CEV_RCPT_RESULT
    SEND_BODY = lib.SMTPCORE_CEV_SEND_BODY
    MESSAGE_RESULT = lib.SMTPCORE_CEV_MESSAGE_RESULT
    REPLY = lib.SMTPCORE_CEV_REPLY
    PROTOCOL_ERROR = lib.SMTPCORE_CEV_PROTOCOL_ERROR
    CLOSED = lib.SMTPCORE_CEV_CLOSED
    DELIVERY_RESULT = lib.SMTPCORE_CEV_DELIVERY_RESULT


class Failure(IntEnum):
    """smtpcore_failure: outcome class carried by client events."""
    SUCCESS = lib.SMTPCORE_SUCCESS
    TRANSIENT = lib.SMTPCORE_FAIL_TRANSIENT
    PERMANENT = lib.SMTPCORE_FAIL_PERMANENT
    LOCAL = lib.SMTPCORE_FAIL_LOCAL
