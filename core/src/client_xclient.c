/* SPDX-License-Identifier: MIT */
/* Client: XCLIENT (Postfix XCLIENT_README), so that a program using the engine can be the
 * proxy that tells the next server who the client is. Sits above the session core: it
 * queues the command through client.c and handles its reply for client_proto.c. */
#include <string.h>

#include "client_internal.h"
#include "command.h"
#include "syntax.h"

#define SC_XCLIENT_MAX_ATTRS 16u
#define SC_XCLIENT_MAX_NAME 16u
#define SC_XCLIENT_LINE 512u /* RFC 5321 4.5.3.1.4, CRLF included */

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SC_XCLIENT_MAX_NAME)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z')))
            return 0;
    return 1;
}

int smtpcore_client_xclient(smtpcore_client *c, const char *const *names,
                            const char *const *values, size_t n)
{
    if (!c || !names || !values || n == 0 || n > SC_XCLIENT_MAX_ATTRS)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    for (size_t i = 0; i < n; i++)
        if (!names[i] || !values[i])
            return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->state != SC_CS_READY || c->tx.state != SC_TX_NONE || c->quit_queued)
        return SMTPCORE_ERR_INVALID_STATE;
    if (!(c->caps.extensions & SMTPCORE_EXT_XCLIENT))
        return SMTPCORE_ERR_UNSUPPORTED;
    char line[SC_XCLIENT_LINE];
    size_t at = 7;
    memcpy(line, "XCLIENT", 7);
    for (size_t i = 0; i < n; i++) {
        if (sc_command_check_arg(values[i], strlen(values[i])) != 0)
            return SMTPCORE_ERR_INJECTION;
        if (!name_ok(names[i]))
            return SMTPCORE_ERR_SYNTAX;
        size_t nl = strlen(names[i]);
        if (at + 1 + nl + 1 > sizeof line - 2)
            return SMTPCORE_ERR_TOO_LONG;
        line[at++] = ' ';
        for (size_t k = 0; k < nl; k++) /* Postfix's names are upper case */
            line[at++] = (char)(names[i][k] >= 'a' ? names[i][k] - 'a' + 'A' : names[i][k]);
        line[at++] = '=';
        /* "[UNAVAILABLE]" and "[TEMPUNAVAIL]" hold only xtext characters: they pass as
         * they are, so the markers need no special case. */
        size_t w = sc_xtext_encode(values[i], strlen(values[i]), line + at, sizeof line - 2 - at);
        if (w == (size_t)-1)
            return SMTPCORE_ERR_TOO_LONG;
        at += w;
    }
    line[at++] = '\r';
    line[at++] = '\n';
    int rc = sc_client_block_take(c);
    if (rc != SMTPCORE_OK)
        return rc;
    rc = sc_client_enqueue(c, SC_CK_XCLIENT, line, at);
    if (rc != SMTPCORE_OK)
        return rc;
    c->state = SC_CS_SETUP; /* no transaction until the new greeting and EHLO */
    sc_client_pump(c);
    return SMTPCORE_OK;
}

void sc_client_xclient_reply(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code != 220) {
        /* Refused (421 never gets here: it closes the session): nothing changed. */
        sc_client_push(c, SMTPCORE_CEV_XCLIENT_RESULT, sc_client_class(r->code), r,
                       SMTPCORE_V_NONE, NULL);
        sc_client_ready(c);
        return;
    }
    /* XCLIENT_README: the 220 is a new greeting; the server forgot HELO, so say EHLO again
     * and learn the capabilities anew. TLS stays as it is. */
    sc_client_push(c, SMTPCORE_CEV_XCLIENT_RESULT, SMTPCORE_SUCCESS, r, SMTPCORE_V_NONE, NULL);
    memset(&c->caps, 0, sizeof c->caps);
    c->pipelining = 0;
    if (sc_client_send_hello(c) != SMTPCORE_OK)
        sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_NONE, 0);
}
