# SPDX-License-Identifier: MIT
"""Server policies applied around the handler's hooks by both connection runners:
``auth_required=`` (MAIL and VRFY refused with 530 until AUTH succeeded), editing the EHLO
keywords (``Handler.ehlo_keywords``), slowing down AUTH guessing (a pause before each
refusal, a per-address failure limit), and the check that hook methods have the
signatures smtpcore calls them with (an aiosmtpd-style ``handle_data(server, session,
envelope)`` would otherwise run at the DATA command, before any content arrived).
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Any

from .._ffi import ffi, lib
from ..enums import AuthMech, Extension
from ._common import CloseReply, Response
from ._limits import peer_host

__all__ = ["check_signatures", "default_keywords", "wrap_hooks"]

# Positional parameters (after self) of each hook, as smtpcore calls them.
ARITY = {"handle_connect": 1, "handle_helo": 3, "handle_auth": 4, "handle_mail": 4,
         "handle_rcpt": 4, "handle_data": 2, "handle_body": 3, "handle_message": 2,
         "handle_vrfy": 2, "handle_close": 1}

_AIOSMTPD_HINT = {
    "handle_data": "aiosmtpd's handle_DATA(server, session, envelope) is smtpcore's "
                   "handle_message(session, envelope); smtpcore's handle_data runs at the "
                   "DATA command, before the content",
    "handle_rcpt": "aiosmtpd's handle_RCPT(server, session, envelope, address, "
                   "rcpt_options) is smtpcore's handle_rcpt(session, envelope, address, "
                   "params), which must not append to envelope.rcpt_tos",
    "handle_mail": "aiosmtpd's handle_MAIL(server, session, envelope, address, "
                   "mail_options) is smtpcore's handle_mail(session, envelope, address, "
                   "params)",
}


def _positional(fn: Any) -> tuple[int, int, bool]:
    """(required, maximum, has *args) positional parameters of a bound callable."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return 0, 0, True
    req = total = 0
    star = False
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            total += 1
            if p.default is p.empty:
                req += 1
        elif p.kind == p.VAR_POSITIONAL:
            star = True
    return req, total, star


def check_signatures(handler: Any) -> None:
    """Raises TypeError for a hook smtpcore could not call as documented (typically a
    ported aiosmtpd hook renamed to lower case): better at serve() than at the first
    message. Keep aiosmtpd's upper-case names instead: they are adapted as they are."""
    for name, n in ARITY.items():
        fn = getattr(handler, name, None)
        if fn is None:
            continue
        req, total, star = _positional(fn)
        if req <= n and (star or total >= n):
            continue
        hint = _AIOSMTPD_HINT.get(name, "")
        raise TypeError(
            f"{type(handler).__name__}.{name} takes {req} positional arguments; smtpcore "
            f"calls it with {n}" + (f" ({hint})" if hint else "") +
            ". An unchanged aiosmtpd handler (handle_DATA, handle_RCPT, ...) is adapted "
            "automatically.")


def _config_defaults() -> Any:
    cfg = ffi.new("smtpcore_server_config *")
    lib.smtpcore_server_config_init(cfg)
    return cfg


def default_keywords(config: dict[str, Any], tls: bool) -> list[str]:
    """The EHLO keyword lines the engine announces for ``config`` (serve()'s engine
    configuration) on a connection with or without TLS, in the engine's order."""
    defaults = _config_defaults()
    ext = int(config.get("extensions") or 0)
    size = config.get("max_message_size")
    size = int(defaults.max_message_size) if size is None else int(size)
    mechs = int(config.get("auth_mechs") or 0)
    plain_ok = bool(config.get("allow_plaintext_auth")) or tls
    out: list[str] = []
    for bit, word in ((Extension.PIPELINING, "PIPELINING"), (Extension.SIZE, f"SIZE {size}"),
                      (Extension.VRFY, "VRFY"), (Extension.EIGHTBITMIME, "8BITMIME"),
                      (Extension.SMTPUTF8, "SMTPUTF8"), (Extension.DSN, "DSN"),
                      (Extension.ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES"),
                      (Extension.CHUNKING, "CHUNKING"), (Extension.BINARYMIME, "BINARYMIME")):
        if ext & bit:
            out.append(word)
    if ext & Extension.STARTTLS and not tls:
        out.append("STARTTLS")
    if ext & Extension.AUTH and plain_ok:
        names = [m for m, bit in (("PLAIN", AuthMech.PLAIN), ("LOGIN", AuthMech.LOGIN),
                                  ("XOAUTH2", AuthMech.XOAUTH2)) if mechs & bit]
        out.append(" ".join(["AUTH", *names]))
    if ext & Extension.HELP:
        out.append("HELP")
    return out


def ehlo_text(hostname: str, client_name: str, keywords: list[str]) -> str:
    """The text of a 250 EHLO reply: greeting line, then one keyword per line."""
    return "\n".join([f"{hostname} Hello {client_name}", *keywords])


def wrap_hooks(hooks: dict[str, Any], handler: Any, base: type, config: dict[str, Any],
               auth_required: bool, limits: Any = None) -> dict[str, Any]:
    """Returns ``hooks`` (name -> bound hook or None for "engine default") with the
    policies added. Unchanged when no policy applies, so the fast path stays fast.
    ``handle_auth`` is always set (the handler's, its refusals slowed down and counted
    per client address by ``limits``, a :class:`~._limits.ServerLimits`)."""
    hooks = dict(hooks)
    hooks["handle_auth"] = handler.handle_auth if limits is None else _throttle_auth(
        handler.handle_auth, limits, config)
    if auth_required:
        for name in ("handle_mail", "handle_vrfy"):
            hooks[name] = _require_auth(hooks[name])
    edit = getattr(handler, "ehlo_keywords", None)
    if edit is not None and getattr(edit, "__func__", edit) is not getattr(
            base, "ehlo_keywords", None):
        hooks["handle_helo"] = _edit_ehlo(hooks["handle_helo"], edit, config)
    return hooks


_AUTH_REQUIRED = Response(530, "Authentication required", "5.7.0")


def _require_auth(inner: Any) -> Any:
    async def hook(session: Any, *args: Any) -> Any:
        if session.authenticated is None:
            return _AUTH_REQUIRED
        return None if inner is None else await inner(session, *args)
    return hook


def _edit_ehlo(inner: Any, edit: Any, config: dict[str, Any]) -> Any:
    hostname = config.get("hostname") or ffi.string(_config_defaults().hostname).decode()

    async def hook(session: Any, name: str, esmtp: bool) -> Any:
        result = None if inner is None else await inner(session, name, esmtp)
        if not esmtp or not (result is None or result is True):
            return result
        keywords = edit(session, default_keywords(config, bool(session.tls)))
        if inspect.isawaitable(keywords):
            keywords = await keywords
        return Response(250, ehlo_text(hostname, name, list(keywords)))
    return hook



def accepts(result: Any) -> bool:
    """Whether a handler result accepts (as _handler.answer applies it)."""
    if result is None or result is True:
        return True
    if result is False:
        return False
    code = result if isinstance(result, int) else getattr(result, "code", None)
    if code is None and isinstance(result, str):
        code = int(result.strip()[:3]) if result.strip()[:3].isdigit() else 500
    return isinstance(code, int) and code < 400


def _throttle_auth(inner: Any, limits: Any, config: dict[str, Any]) -> Any:
    """AUTH as Postfix's error sleep and anvil do it: each refusal is answered only after
    ``auth_failure_delay`` seconds (an asyncio sleep: other sessions go on), and an
    address with ``auth_failure_limit`` refusals within ``auth_failure_window`` gets
    "421 4.7.0 <hostname> Error: too many failed authentications from ADDR, try later"
    and the close (as smtpcore-sink) without the handler being asked, until its failures
    age out of the window. The failures themselves are counted by the runners from the
    engine's count (ServerLimits.sync_auth_failures), which includes AUTHs the engine
    refused without asking the handler."""
    delay = limits.auth_failure_delay
    hostname = config.get("hostname") or ffi.string(_config_defaults().hostname).decode()

    async def hook(session: Any, mechanism: Any, username: str, password: str) -> Any:
        host = peer_host(session)
        if limits.auth_blocked(host):
            result: Any = CloseReply(421, f"{hostname} Error: too many failed "
                                     f"authentications from {host}, try later", "4.7.0")
        else:
            result = await inner(session, mechanism, username, password)
            if accepts(result):
                return result
        if delay:
            await asyncio.sleep(delay)
        return result
    return hook
