# SPDX-License-Identifier: MIT
"""Python mirrors of the C enums. Values come from the compiled module, so they cannot
drift from the headers (tests check that every C constant has a mirror)."""
from __future__ import annotations

from enum import IntEnum, IntFlag

from ._ffi import ffi, lib

__all__ = [
    "ErrorCode", "Violation", "ReplyFlag", "Extension", "AuthMech", "HeloClass", "BodyType",
    "DsnRet", "DsnNotify", "BareLfPolicy", "HeloPolicy", "TalkerPolicy", "InjectionPolicy",
    "SyncPolicy", "NulPolicy", "ShutdownReason",
    "ServerEventType", "Quirk", "TlsPolicy", "ClientEventType", "Failure",
    "ProxyMode", "ProxyCommand", "ProxyFamily", "ProxyTransport", "ProxyTlvType",
    "ProxySslClient", "XclientState",
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
    EIGHTBIT_NOT_OFFERED = lib.SMTPCORE_ERR_8BIT_NOT_OFFERED
    """8-bit body (or BODY=8BITMIME) for a server without 8BITMIME (RFC 6152)."""


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
    PROXY_BAD_SIGNATURE = lib.SMTPCORE_V_PROXY_BAD_SIGNATURE
    PROXY_TRUNCATED = lib.SMTPCORE_V_PROXY_TRUNCATED
    PROXY_TOO_LONG = lib.SMTPCORE_V_PROXY_TOO_LONG
    PROXY_V1_SYNTAX = lib.SMTPCORE_V_PROXY_V1_SYNTAX
    PROXY_BAD_ADDRESS = lib.SMTPCORE_V_PROXY_BAD_ADDRESS
    PROXY_LENGTH_MISMATCH = lib.SMTPCORE_V_PROXY_LENGTH_MISMATCH
    PROXY_BAD_CRC = lib.SMTPCORE_V_PROXY_BAD_CRC
    PROXY_UNSUPPORTED = lib.SMTPCORE_V_PROXY_UNSUPPORTED
    PROXY_BAD_TLV = lib.SMTPCORE_V_PROXY_BAD_TLV
    XCLIENT_DENIED = lib.SMTPCORE_V_XCLIENT_DENIED
    XCLIENT_SYNTAX = lib.SMTPCORE_V_XCLIENT_SYNTAX
    TOO_MANY_AUTH_FAILURES = lib.SMTPCORE_V_TOO_MANY_AUTH_FAILURES
    HOST_CLOSE = lib.SMTPCORE_V_HOST_CLOSE

    @property
    def description(self) -> str:
        """The engine's English description (smtpcore_violation_str)."""
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
    XCLIENT = lib.SMTPCORE_EXT_XCLIENT


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


class SyncPolicy(IntEnum):
    """smtpcore_sync_policy (RFC 2920 synchronization: 554 5.5.0 and close)."""
    OFF = lib.SMTPCORE_SYNC_OFF
    UNAUTH = lib.SMTPCORE_SYNC_UNAUTH
    ALL = lib.SMTPCORE_SYNC_ALL


class ShutdownReason(IntEnum):
    """smtpcore_shutdown_reason: the reply ServerConnection.shutdown() ends a session with."""
    TIMEOUT = lib.SMTPCORE_SHUTDOWN_TIMEOUT
    SERVICE = lib.SMTPCORE_SHUTDOWN_SERVICE


class NulPolicy(IntEnum):
    """smtpcore_nul_policy (NUL bytes in message content)."""
    REJECT = lib.SMTPCORE_NUL_REJECT
    ACCEPT = lib.SMTPCORE_NUL_ACCEPT


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
    PROXY = lib.SMTPCORE_SEV_PROXY
    XCLIENT = lib.SMTPCORE_SEV_XCLIENT


class Quirk(IntFlag):
    """smtpcore_quirk: client workarounds for broken servers."""
    NO_PIPELINING = lib.SMTPCORE_QUIRK_NO_PIPELINING
    SPLIT_QUIT = lib.SMTPCORE_QUIRK_SPLIT_QUIT
    NO_CHUNKING = lib.SMTPCORE_QUIRK_NO_CHUNKING
    HELO_ONLY = lib.SMTPCORE_QUIRK_HELO_ONLY
    SEND_8BIT = lib.SMTPCORE_QUIRK_SEND_8BIT
    """Send an 8-bit body as is to a server without 8BITMIME (as MTAs traditionally do)."""


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
    XCLIENT_RESULT = lib.SMTPCORE_CEV_XCLIENT_RESULT


class Failure(IntEnum):
    """smtpcore_failure: outcome class carried by client events."""
    SUCCESS = lib.SMTPCORE_SUCCESS
    TRANSIENT = lib.SMTPCORE_FAIL_TRANSIENT
    PERMANENT = lib.SMTPCORE_FAIL_PERMANENT
    LOCAL = lib.SMTPCORE_FAIL_LOCAL


class ProxyMode(IntEnum):
    """smtpcore_proxy_mode: which PROXY protocol header is read (server) or written (client)."""
    OFF = lib.SMTPCORE_PROXY_OFF
    V1 = lib.SMTPCORE_PROXY_V1
    V2 = lib.SMTPCORE_PROXY_V2
    ANY = lib.SMTPCORE_PROXY_ANY


class ProxyCommand(IntEnum):
    """smtpcore_proxy_command: LOCAL (the proxy's own connection) or PROXY."""
    LOCAL = lib.SMTPCORE_PROXY_CMD_LOCAL
    PROXY = lib.SMTPCORE_PROXY_CMD_PROXY


class ProxyFamily(IntEnum):
    """smtpcore_proxy_family: the address family of a PROXY header."""
    UNSPEC = lib.SMTPCORE_PROXY_AF_UNSPEC
    INET = lib.SMTPCORE_PROXY_AF_INET
    INET6 = lib.SMTPCORE_PROXY_AF_INET6
    UNIX = lib.SMTPCORE_PROXY_AF_UNIX


class ProxyTransport(IntEnum):
    """smtpcore_proxy_transport: the transport of a v2 PROXY header."""
    UNSPEC = lib.SMTPCORE_PROXY_TRANSPORT_UNSPEC
    STREAM = lib.SMTPCORE_PROXY_TRANSPORT_STREAM
    DGRAM = lib.SMTPCORE_PROXY_TRANSPORT_DGRAM


class ProxyTlvType(IntEnum):
    """smtpcore_proxy_tlv_type: v2 TLV types and SSL sub-TLV types."""
    ALPN = lib.SMTPCORE_PP2_TYPE_ALPN
    AUTHORITY = lib.SMTPCORE_PP2_TYPE_AUTHORITY
    CRC32C = lib.SMTPCORE_PP2_TYPE_CRC32C
    NOOP = lib.SMTPCORE_PP2_TYPE_NOOP
    UNIQUE_ID = lib.SMTPCORE_PP2_TYPE_UNIQUE_ID
    SSL = lib.SMTPCORE_PP2_TYPE_SSL
    SSL_VERSION = lib.SMTPCORE_PP2_SUBTYPE_SSL_VERSION
    SSL_CN = lib.SMTPCORE_PP2_SUBTYPE_SSL_CN
    SSL_CIPHER = lib.SMTPCORE_PP2_SUBTYPE_SSL_CIPHER
    SSL_SIG_ALG = lib.SMTPCORE_PP2_SUBTYPE_SSL_SIG_ALG
    SSL_KEY_ALG = lib.SMTPCORE_PP2_SUBTYPE_SSL_KEY_ALG
    NETNS = lib.SMTPCORE_PP2_TYPE_NETNS


class ProxySslClient(IntFlag):
    """smtpcore_proxy_ssl_client: bits of the SSL TLV's client field."""
    SSL = lib.SMTPCORE_PP2_CLIENT_SSL
    CERT_CONN = lib.SMTPCORE_PP2_CLIENT_CERT_CONN
    CERT_SESS = lib.SMTPCORE_PP2_CLIENT_CERT_SESS


class XclientState(IntEnum):
    """smtpcore_xclient_state: whether an XCLIENT attribute was given, and how."""
    ABSENT = lib.SMTPCORE_XCLIENT_ABSENT
    VALUE = lib.SMTPCORE_XCLIENT_VALUE
    UNAVAILABLE = lib.SMTPCORE_XCLIENT_UNAVAILABLE
    TEMPUNAVAIL = lib.SMTPCORE_XCLIENT_TEMPUNAVAIL


_VIOLATIONS = {int(v): v for v in Violation}
_FAILURES = {int(f): f for f in Failure}


def violation_of(code: int) -> Violation:
    """The Violation of an engine code; NONE for a code this module does not know (a
    newer engine may report one)."""
    return _VIOLATIONS.get(code, Violation.NONE)


def failure_of(code: int) -> Failure:
    """The Failure of an engine code; LOCAL for a code this module does not know."""
    return _FAILURES.get(code, Failure.LOCAL)
