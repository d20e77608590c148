# SPDX-License-Identifier: MIT
"""smtpcore: a sans-I/O SMTP engine (server and client roles) with asyncio batteries.

- :class:`ServerConnection` / :class:`ClientConnection`: bytes in, events out, bytes out.
- :mod:`smtpcore.server` / :mod:`smtpcore.client`: the event classes of each role.
- :mod:`smtpcore.aio`: ``serve()`` and ``send_message()`` on asyncio.
- :class:`SMTPClient` / :func:`send_message_sync`: a blocking client on a plain socket.
"""
from __future__ import annotations

from . import aio, client, server
from ._batch import SendResult
from .blocking import SMTPClient, send_message_sync
from .client import ClientConnection
from .enums import (
    AuthMech, BareLfPolicy, BodyType, ClientEventType, DsnNotify, DsnRet, ErrorCode, Extension,
    Failure, HeloClass, HeloPolicy, InjectionPolicy, ProxyCommand, ProxyFamily, ProxyMode,
    ProxySslClient, ProxyTlvType, ProxyTransport, Quirk, ReplyFlag, ServerEventType,
    NulPolicy, ShutdownReason, SyncPolicy, TalkerPolicy, TlsPolicy, Violation, XclientState,
)
from .errors import (
    BufferFullError, EightBitNotOfferedError, InjectionError, InvalidArgumentError,
    InvalidStateError, NoAnswerPendingError, NoMemoryError, SendError, SessionClosedError,
    SMTPAuthenticationError, SMTPCertificateError, SMTPClientError, SMTPConnectError,
    SMTPCoreError, SMTPDataError, SMTPHeloError, SMTPNotSupportedError, SMTPRecipientsRefused,
    SMTPSendAborted, SMTPSenderRefused, SMTPServerDisconnected, SMTPSyntaxError,
    SMTPTimeoutError, SMTPTLSError, TooLongError, UnsupportedError,
)
from .server import ServerConnection
from .values import (
    Caps, MailParams, RcptParams, Reply, address_literal, helo_classify, version, version_num,
    xtext_decode,
)

__version__ = version()

__all__ = [
    "ServerConnection", "ClientConnection", "SMTPClient", "send_message_sync", "SendResult",
    "SendError", "SMTPClientError", "server", "client", "aio", "Reply", "Caps", "MailParams",
    "RcptParams", "version", "version_num", "helo_classify", "address_literal", "xtext_decode",
    "SMTPCoreError", "InvalidArgumentError", "NoMemoryError", "InvalidStateError",
    "BufferFullError", "SessionClosedError", "InjectionError", "SMTPSyntaxError",
    "UnsupportedError", "TooLongError", "NoAnswerPendingError", "EightBitNotOfferedError",
    "SMTPConnectError", "SMTPHeloError", "SMTPAuthenticationError", "SMTPNotSupportedError",
    "SMTPServerDisconnected", "SMTPTimeoutError", "SMTPTLSError", "SMTPCertificateError",
    "SMTPSenderRefused", "SMTPRecipientsRefused", "SMTPDataError", "SMTPSendAborted",
    "ErrorCode", "Violation", "ReplyFlag", "Extension", "AuthMech", "HeloClass", "BodyType",
    "DsnRet", "DsnNotify", "BareLfPolicy", "HeloPolicy", "TalkerPolicy", "InjectionPolicy",
    "ProxyMode", "ProxyCommand", "ProxyFamily", "ProxyTransport", "ProxyTlvType",
    "ProxySslClient", "XclientState",
    "SyncPolicy", "NulPolicy", "ShutdownReason", "ServerEventType", "Quirk", "TlsPolicy", "ClientEventType", "Failure",
    "__version__",
]
