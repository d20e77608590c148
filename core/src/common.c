/* SPDX-License-Identifier: MIT */
/* Error strings, violation strings, version, reply line iteration. */
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "reply.h"

const char *smtpcore_strerror(int error)
{
    switch (error) {
    case SMTPCORE_OK: return "success";
    case SMTPCORE_ERR_INVALID_ARGUMENT: return "invalid argument";
    case SMTPCORE_ERR_NOMEM: return "out of memory";
    case SMTPCORE_ERR_INVALID_STATE: return "call not allowed in the current state";
    case SMTPCORE_ERR_BUFFER_FULL: return "buffer full: drain events or output first";
    case SMTPCORE_ERR_CLOSED: return "session closed";
    case SMTPCORE_ERR_INJECTION: return "CR, LF or NUL in a host-supplied string";
    case SMTPCORE_ERR_SYNTAX: return "invalid SMTP syntax";
    case SMTPCORE_ERR_UNSUPPORTED: return "extension not offered by the peer";
    case SMTPCORE_ERR_TOO_LONG: return "value exceeds a limit";
    case SMTPCORE_ERR_NO_ANSWER_PENDING: return "no event awaits an answer";
    case SMTPCORE_ERR_8BIT_NOT_OFFERED:
        return "8-bit message but the server does not offer 8BITMIME";
    default: return "unknown error";
    }
}

int smtpcore_error_is_fatal(int error)
{
    switch (error) {
    case SMTPCORE_OK:
    case SMTPCORE_ERR_INVALID_ARGUMENT:
    case SMTPCORE_ERR_INVALID_STATE:
    case SMTPCORE_ERR_BUFFER_FULL:
    case SMTPCORE_ERR_INJECTION:
    case SMTPCORE_ERR_SYNTAX:
    case SMTPCORE_ERR_UNSUPPORTED:
    case SMTPCORE_ERR_TOO_LONG:
    case SMTPCORE_ERR_NO_ANSWER_PENDING:
    case SMTPCORE_ERR_8BIT_NOT_OFFERED: return 0;
    default: return 1; /* NOMEM, CLOSED, and codes this version does not know */
    }
}

void smtpcore_mail_params_init(smtpcore_mail_params *params)
{
    if (!params)
        return;
    memset(params, 0, sizeof *params);
    params->struct_size = sizeof *params;
}

const char *smtpcore_violation_str(int violation)
{
    switch (violation) {
    case SMTPCORE_V_NONE: return "none";
    case SMTPCORE_V_LINE_TOO_LONG: return "line too long";
    case SMTPCORE_V_BARE_LF: return "bare LF";
    case SMTPCORE_V_BARE_CR: return "bare CR";
    case SMTPCORE_V_NUL: return "NUL byte";
    case SMTPCORE_V_8BIT: return "8-bit byte where ASCII is required";
    case SMTPCORE_V_SYNTAX: return "syntax error";
    case SMTPCORE_V_UNKNOWN_COMMAND: return "unknown command";
    case SMTPCORE_V_BAD_SEQUENCE: return "bad sequence of commands";
    case SMTPCORE_V_EARLY_TALKER: return "client spoke before the greeting";
    case SMTPCORE_V_IMPROPER_PIPELINING: return "improper use of pipelining";
    case SMTPCORE_V_STARTTLS_INJECTION: return "plaintext after STARTTLS discarded";
    case SMTPCORE_V_TOO_MANY_ERRORS: return "too many errors";
    case SMTPCORE_V_MESSAGE_TOO_BIG: return "message too big";
    case SMTPCORE_V_TOO_MANY_RECIPIENTS: return "too many recipients";
    case SMTPCORE_V_BAD_PARAMETER: return "bad ESMTP parameter";
    case SMTPCORE_V_UNKNOWN_PARAMETER: return "unknown ESMTP parameter";
    case SMTPCORE_V_AUTH_FAILED: return "authentication exchange failed";
    case SMTPCORE_V_MALFORMED_REPLY: return "malformed reply";
    case SMTPCORE_V_UNEXPECTED_REPLY: return "unexpected reply";
    case SMTPCORE_V_REPLY_TOO_LONG: return "reply too long";
    case SMTPCORE_V_TLS_REQUIRED: return "TLS required but not available";
    case SMTPCORE_V_SERVICE_UNAVAILABLE: return "service unavailable";
    case SMTPCORE_V_CONNECTION_LOST: return "connection lost";
    case SMTPCORE_V_LOOP_DETECTED: return "mail loop: HELO names this host";
    case SMTPCORE_V_UNSUPPORTED: return "message needs an extension the server lacks";
    case SMTPCORE_V_PROXY_BAD_SIGNATURE: return "PROXY header: bad signature";
    case SMTPCORE_V_PROXY_TRUNCATED: return "PROXY header: truncated";
    case SMTPCORE_V_PROXY_TOO_LONG: return "PROXY header: too long";
    case SMTPCORE_V_PROXY_V1_SYNTAX: return "PROXY header: bad v1 line";
    case SMTPCORE_V_PROXY_BAD_ADDRESS: return "PROXY header: bad address or port";
    case SMTPCORE_V_PROXY_LENGTH_MISMATCH: return "PROXY header: length does not fit the family";
    case SMTPCORE_V_PROXY_BAD_CRC: return "PROXY header: CRC32C mismatch";
    case SMTPCORE_V_PROXY_UNSUPPORTED: return "PROXY header: unsupported version, command or family";
    case SMTPCORE_V_PROXY_BAD_TLV: return "PROXY header: malformed TLV";
    case SMTPCORE_V_XCLIENT_DENIED: return "XCLIENT not allowed from this client";
    case SMTPCORE_V_XCLIENT_SYNTAX: return "XCLIENT: bad attribute";
    case SMTPCORE_V_TOO_MANY_AUTH_FAILURES: return "too many failed authentications";
    case SMTPCORE_V_HOST_CLOSE: return "session ended by the host";
    default: return "unknown violation";
    }
}

const char *smtpcore_version(void) { return SMTPCORE_VERSION; }

uint32_t smtpcore_version_num(void) { return (uint32_t)SMTPCORE_VERSION_NUM; }

int smtpcore_reply_line(const smtpcore_reply *reply, size_t index, smtpcore_str *text)
{
    if (!reply || !text || index >= reply->nlines || !reply->raw.ptr)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    const char *p = reply->raw.ptr;
    const char *end = p + reply->raw.len;
    for (size_t i = 0;; i++) {
        const char *eol = p;
        while (eol < end && *eol != '\n')
            eol++;
        if (i == index) {
            const char *stop = eol;
            if (stop > p && stop[-1] == '\r')
                stop--;
            /* Skip the 3-digit code and the separator when present. */
            size_t n = (size_t)(stop - p);
            size_t skip = n >= 4 ? 4 : n;
            text->ptr = p + skip;
            text->len = n - skip;
            return SMTPCORE_OK;
        }
        if (eol >= end)
            return SMTPCORE_ERR_INVALID_ARGUMENT;
        p = eol + 1;
    }
}

size_t smtpcore_reply_text(const smtpcore_reply *reply, char *out, size_t cap)
{
    size_t n = 0;
    if (out && cap > 0)
        out[0] = '\0';
    if (!reply || reply->code == 0 || !reply->raw.ptr)
        return 0;
    /* One pass over raw: smtpcore_reply_line() per index would be quadratic. */
    const char *p = reply->raw.ptr;
    const char *end = p + reply->raw.len;
    for (size_t i = 0; i < reply->nlines && p < end; i++) {
        const char *eol = p;
        while (eol < end && *eol != '\n')
            eol++;
        const char *stop = eol;
        if (stop > p && stop[-1] == '\r')
            stop--;
        size_t len = (size_t)(stop - p);
        size_t skip = len >= 4 ? 4 : len;
        if (i > 0) {
            if (out && n + 1 < cap)
                out[n] = '\n';
            n++;
        }
        for (const char *q = p + skip; q < stop; q++, n++)
            if (out && n + 1 < cap)
                out[n] = *q;
        p = eol < end ? eol + 1 : end;
    }
    if (out && cap > 0)
        out[n < cap ? n : cap - 1] = '\0';
    return n;
}
