/* SPDX-License-Identifier: MIT */
/* Server session core (see server_core.h): the engine's default answer to every event
 * type, and the check and formatting of a host's answer. Pure formatting: the state
 * change an answer brings is the caller's (server.c's answer path, server_lmtp.c). */
#include <string.h>

#include "reply.h"
#include "server_core.h"

/* The engine's default answer to each event type, one table for every use (accept(),
 * the check and formatting of host answers, LMTP's bulk answer): code, enhanced code
 * (cls 0: none), text, and the same as one preformatted reply line in the SC_SRV_SAY form
 * ("ccc x.y.z text\r\n", enh_len the length of "x.y.z ") so that accept() is a copy.
 * CONNECT, HELO and XCLIENT have no line: their replies are built from the
 * configuration (greeting(), sc_srv_ehlo_reply()). Events that are never answered
 * have the generic entry. */
const sc_srv_default sc_srv_default_generic = SC_DEF_LINE(250, 2, 0, 0, "Ok");

/* Every event type up to the last one has its entry, so a lookup is an index
 * (sc_srv_default_for()). The table's size is SC_SRV_DEFAULTS_N: a type appended to the
 * enum needs its entry here and the bound raised, or the initializer does not compile. */
const sc_srv_default sc_srv_defaults[SC_SRV_DEFAULTS_N] = {
    [SMTPCORE_SEV_NONE] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_CONNECT] = SC_DEF_BUILT(220, "Ok"),
    [SMTPCORE_SEV_HELO] = SC_DEF_BUILT(250, "Ok"),
    [SMTPCORE_SEV_MAIL] = SC_DEF_LINE(250, 2, 1, 0, "Ok"),
    [SMTPCORE_SEV_RCPT] = SC_DEF_LINE(250, 2, 1, 5, "Ok"),
    [SMTPCORE_SEV_DATA] = SC_DEF_LINE0(354, "End data with <CR><LF>.<CR><LF>"),
    [SMTPCORE_SEV_BODY] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_MESSAGE_END] = SC_DEF_LINE(250, 2, 0, 0, "Ok: queued"),
    [SMTPCORE_SEV_MESSAGE_ABORTED] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_RSET] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_NOOP] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_VRFY] = SC_DEF_LINE(252, 2, 5, 2, "Cannot VRFY user, but will accept message "
                                                    "and attempt delivery"),
    [SMTPCORE_SEV_EXPN] = SC_DEF_LINE(502, 5, 5, 1, "EXPN not supported"),
    [SMTPCORE_SEV_HELP] = SC_DEF_LINE(214, 2, 0, 0, "See RFC 5321"),
    [SMTPCORE_SEV_STARTTLS] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_AUTH] = SC_DEF_LINE(235, 2, 7, 0, "Authentication successful"),
    [SMTPCORE_SEV_QUIT] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_PROTOCOL_ERROR] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_CLOSE] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_PROXY] = SC_DEF_LINE(250, 2, 0, 0, "Ok"),
    [SMTPCORE_SEV_XCLIENT] = SC_DEF_BUILT(220, "Ok"),
};

/* Text for a host reply given without one. */
static const char *generic_text(int code)
{
    switch (code) {
    case 421: return "Service not available, closing transmission channel";
    case 450: return "Requested mail action not taken: mailbox unavailable";
    case 451: return "Requested action aborted: local error in processing";
    case 452: return "Requested action not taken: insufficient system storage";
    case 454: return "Temporary authentication failure";
    case 535: return "Authentication credentials invalid";
    case 550: return "Requested action not taken: mailbox unavailable";
    case 551: return "User not local";
    case 552: return "Requested mail action aborted: exceeded storage allocation";
    case 553: return "Requested action not taken: mailbox name not allowed";
    case 554: return "Transaction failed";
    default: break;
    }
    if (code >= 400)
        return "Error";
    return "Ok";
}

static int code_allowed(smtpcore_server_event_type t, int code)
{
    int cls = code / 100;
    /* RFC 5321 4.2: the second digit is 0-5; anything else is not a reply code. */
    if ((code / 10) % 10 > 5)
        return 0;
    switch (t) {
    case SMTPCORE_SEV_CONNECT: return code == 220 || code == 421 || code == 554;
    case SMTPCORE_SEV_XCLIENT: return code == 220 || cls == 4 || cls == 5;
    case SMTPCORE_SEV_DATA: return code == 354 || cls == 4 || cls == 5;
    case SMTPCORE_SEV_AUTH: return code == 235 || cls == 4 || cls == 5;
    default: return cls == 2 || cls == 4 || cls == 5;
    }
}

int sc_srv_format_answer(const smtpcore_server *s, smtpcore_server_event_type t, int code,
                         const char *enhanced, const char *text, int use_default, char *dst,
                         size_t cap, size_t *n)
{
    const sc_srv_default *d = sc_srv_default_for(t);
    smtpcore_enhanced e = {0, 0, 0};
    if (use_default) {
        code = d->code;
        e = d->enh;
        text = d->text;
    } else {
        if (code < 200 || code > 599 || !code_allowed(t, code))
            return SMTPCORE_ERR_INVALID_ARGUMENT;
        if (enhanced) {
            size_t el = strlen(enhanced);
            if (sc_enhanced_parse(enhanced, el, &e) != el || e.cls != (uint16_t)(code / 100))
                return SMTPCORE_ERR_INVALID_ARGUMENT;
        } else if (code / 100 != 3 && t != SMTPCORE_SEV_CONNECT && t != SMTPCORE_SEV_HELO &&
                   !(t == SMTPCORE_SEV_XCLIENT && code == 220)) {
            e = (code == d->code && d->enh.cls) ? d->enh : sc_enhanced_default(code);
        }
        if (!text)
            text = code == d->code ? d->text : generic_text(code);
    }
    size_t len = strlen(text);
    int rc = sc_srv_text_check(text, len);
    if (rc != SMTPCORE_OK)
        return rc;
    /* Enhanced codes are dropped when the extension is not advertised (RFC 2034). */
    const smtpcore_enhanced *use = (e.cls && sc_srv_enh_on(s)) ? &e : NULL;
    size_t w = sc_reply_write(dst, cap, code, use, text, len);
    if (w == (size_t)-1)
        return SMTPCORE_ERR_BUFFER_FULL;
    *n = w;
    return SMTPCORE_OK;
}

/* An answer can close the session (421 to CONNECT), which makes an event. */

int sc_srv_text_check(const char *text, size_t len)
{
    if (memchr(text, '\r', len))
        return SMTPCORE_ERR_INJECTION;
    for (size_t at = 0; at <= len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (end - at > SC_SRV_REPLY_TEXT_MAX)
            return SMTPCORE_ERR_TOO_LONG;
        at = end + 1;
    }
    return SMTPCORE_OK;
}
