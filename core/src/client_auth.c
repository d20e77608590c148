/* SPDX-License-Identifier: MIT */
/* Client AUTH (RFC 4954): PLAIN and XOAUTH2 with an initial response, LOGIN answering its
 * two prompts, and any other mechanism run by the host through challenge events. User
 * names and passwords are opaque bytes (UTF-8 passes through unchanged). */
#include <string.h>

#include "base64.h"
#include "client_internal.h"

/* RFC 4954 4: an initial response must keep the command line within 512 octets;
 * otherwise the response follows an empty 334. */
#define SC_AUTH_LINE_MAX 512

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'a' && x <= 'z')
            x = (char)(x - 32);
        if (y >= 'a' && y <= 'z')
            y = (char)(y - 32);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

/* Queues "<prefix><base64(raw)>\r\n" (raw may be empty: then just "<prefix>\r\n"). */
static int queue_b64_line(smtpcore_client *c, const char *prefix, const char *raw, size_t n)
{
    size_t cap;
    char *p = sc_client_enqueue_begin(c, &cap);
    size_t pl = strlen(prefix);
    if (!p || cap < pl + sc_base64_encoded_len(n) + 2)
        return SMTPCORE_ERR_BUFFER_FULL;
    memcpy(p, prefix, pl);
    size_t len = pl;
    if (n > 0) {
        size_t w = sc_base64_encode(raw, n, p + len, cap - len);
        if (w == (size_t)-1)
            return SMTPCORE_ERR_BUFFER_FULL;
        len += w;
    }
    p[len++] = '\r';
    p[len++] = '\n';
    return sc_client_enqueue_commit(c, SC_CK_AUTH, len);
}

/* "\0user\0pass" for PLAIN (RFC 4616, empty authorisation identity). */
static size_t plain_raw(smtpcore_client *c)
{
    char *s = c->scratch;
    s[0] = '\0';
    memcpy(s + 1, c->auth_user, c->user_len);
    s[1 + c->user_len] = '\0';
    memcpy(s + 2 + c->user_len, c->auth_password, c->pass_len);
    return 2 + c->user_len + c->pass_len;
}

static size_t xoauth2_raw(smtpcore_client *c)
{
    char *s = c->scratch;
    size_t n = 0;
    memcpy(s + n, "user=", 5);
    n += 5;
    memcpy(s + n, c->auth_user, c->user_len);
    n += c->user_len;
    memcpy(s + n, "\001auth=Bearer ", 13);
    n += 13;
    memcpy(s + n, c->auth_password, c->pass_len);
    n += c->pass_len;
    memcpy(s + n, "\001\001", 2);
    return n + 2;
}

static void auth_result(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *r,
                        smtpcore_violation v, const char *msg)
{
    c->auth_mode = SC_AM_NONE;
    c->state = SC_CS_SETUP;
    sc_client_push(c, SMTPCORE_CEV_AUTH_RESULT, f, r, v, msg);
    /* The host decides what a failed AUTH means; the session itself stays usable. */
    sc_client_ready(c);
}

void sc_client_auth_start(smtpcore_client *c)
{
    c->auth_done = 1;
    uint32_t offered = c->caps.auth_mechs;
    if (!c->caps.esmtp || !(c->caps.extensions & SMTPCORE_EXT_AUTH)) {
        auth_result(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_UNSUPPORTED, "AUTH not offered");
        return;
    }
    sc_auth_mode m = SC_AM_NONE;
    if (c->auth_mechanism) {
        if (ascii_ieq(c->auth_mechanism, "PLAIN"))
            m = (offered & SMTPCORE_AUTH_PLAIN) ? SC_AM_PLAIN : SC_AM_NONE;
        else if (ascii_ieq(c->auth_mechanism, "LOGIN"))
            m = (offered & SMTPCORE_AUTH_LOGIN) ? SC_AM_LOGIN : SC_AM_NONE;
        else if (ascii_ieq(c->auth_mechanism, "XOAUTH2"))
            m = (offered & SMTPCORE_AUTH_XOAUTH2) ? SC_AM_XOAUTH2 : SC_AM_NONE;
        else
            m = SC_AM_HOST;
    } else if (offered & SMTPCORE_AUTH_PLAIN) {
        m = SC_AM_PLAIN;
    } else if (offered & SMTPCORE_AUTH_LOGIN) {
        m = SC_AM_LOGIN;
    }
    if (m == SC_AM_NONE) {
        auth_result(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_UNSUPPORTED,
                    "no usable AUTH mechanism offered");
        return;
    }
    c->auth_mode = m;
    c->auth_step = 0;
    int rc;
    switch (m) {
    case SC_AM_PLAIN: {
        size_t n = plain_raw(c);
        if (11 + sc_base64_encoded_len(n) + 2 <= SC_AUTH_LINE_MAX) {
            rc = queue_b64_line(c, "AUTH PLAIN ", c->scratch, n);
            c->auth_step = 1;
        } else {
            rc = queue_b64_line(c, "AUTH PLAIN", NULL, 0);
        }
        break;
    }
    case SC_AM_LOGIN:
        rc = queue_b64_line(c, "AUTH LOGIN", NULL, 0);
        break;
    case SC_AM_XOAUTH2: {
        size_t n = xoauth2_raw(c);
        if (13 + sc_base64_encoded_len(n) + 2 <= SC_AUTH_LINE_MAX) {
            rc = queue_b64_line(c, "AUTH XOAUTH2 ", c->scratch, n);
            c->auth_step = 1;
        } else {
            rc = queue_b64_line(c, "AUTH XOAUTH2", NULL, 0);
        }
        break;
    }
    default: {
        char prefix[32];
        size_t ml = strlen(c->auth_mechanism); /* <= 20, checked at creation */
        memcpy(prefix, "AUTH ", 5);
        memcpy(prefix + 5, c->auth_mechanism, ml + 1);
        rc = queue_b64_line(c, prefix, NULL, 0);
        break;
    }
    }
    if (rc != SMTPCORE_OK)
        sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_NONE, 1);
}

static void respond(smtpcore_client *c, const char *raw, size_t n, int cancel)
{
    int rc = cancel ? sc_client_enqueue(c, SC_CK_AUTH, "*\r\n", 3)
                    : queue_b64_line(c, "", raw, n);
    if (rc != SMTPCORE_OK)
        sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_NONE, 1);
}

void sc_client_auth_reply(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code == 235) {
        auth_result(c, SMTPCORE_SUCCESS, r, SMTPCORE_V_NONE, NULL);
        return;
    }
    if (r->code != 334) {
        auth_result(c, sc_client_class(r->code), r, SMTPCORE_V_AUTH_FAILED, "AUTH refused");
        return;
    }
    int step = c->auth_step++;
    switch (c->auth_mode) {
    case SC_AM_PLAIN:
        if (step == 0)
            respond(c, c->scratch, plain_raw(c), 0);
        else
            respond(c, NULL, 0, 1);
        break;
    case SC_AM_LOGIN:
        if (step == 0)
            respond(c, c->auth_user, c->user_len, 0);
        else if (step == 1)
            respond(c, c->auth_password, c->pass_len, 0);
        else
            respond(c, NULL, 0, 1);
        break;
    case SC_AM_XOAUTH2:
        /* Step 0: the token did not fit the AUTH line. Later, the 334 carries an error
         * JSON; an empty line lets the server send its 5xx. */
        if (step == 0)
            respond(c, c->scratch, xoauth2_raw(c), 0);
        else if (step == 1)
            respond(c, NULL, 0, 0);
        else
            respond(c, NULL, 0, 1);
        break;
    case SC_AM_HOST: {
        smtpcore_str text;
        size_t n = 0;
        if (smtpcore_reply_line(r, 0, &text) == SMTPCORE_OK && text.len > 0) {
            n = sc_base64_decode(text.ptr, text.len, c->scratch, c->scratch_cap);
            if (n == (size_t)-1) {
                respond(c, NULL, 0, 1);
                break;
            }
        }
        c->state = SC_CS_AUTH_HOST;
        sc_cev *e = sc_client_push_ev(c, SMTPCORE_CEV_AUTH_CHALLENGE, SMTPCORE_SUCCESS, r);
        e->ev.data.ptr = c->scratch;
        e->ev.data.len = n;
        break;
    }
    default:
        respond(c, NULL, 0, 1);
        break;
    }
}

int smtpcore_client_auth_respond(smtpcore_client *c, const char *data, size_t len)
{
    if (!c || (!data && len))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state != SC_CS_AUTH_HOST)
        return SMTPCORE_ERR_INVALID_STATE;
    int rc = data ? queue_b64_line(c, "", data, len) : sc_client_enqueue(c, SC_CK_AUTH, "*\r\n", 3);
    if (rc != SMTPCORE_OK)
        return SMTPCORE_ERR_BUFFER_FULL;
    c->state = SC_CS_SETUP;
    sc_client_pump(c);
    return SMTPCORE_OK;
}
