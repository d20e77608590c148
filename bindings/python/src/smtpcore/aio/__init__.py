# SPDX-License-Identifier: MIT
"""asyncio batteries: :func:`serve` (server) and :func:`send_message` (client)."""
from ._common import Response
from .controller import Controller
from .client import SendError, SendResult, SMTPClient, SMTPClientError, send_message
from .loop import loop_factory, run
from .server import Envelope, Handler, Session, serve

__all__ = ["serve", "Controller", "Handler", "Session", "Envelope", "Response", "send_message",
           "SMTPClient", "SendResult", "SendError", "SMTPClientError", "run", "loop_factory"]
