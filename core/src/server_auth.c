/* SPDX-License-Identifier: MIT */
/* Server, layer 1 (see server_core.h): the SASL exchange of AUTH (RFC 4954) for PLAIN,
 * LOGIN and XOAUTH2. Responses are decoded in place in the input buffer (decoded base64 is shorter than its
 * text, and the framer is done with a line once it is handed out; the core hands out the
 * writable view, sc_srv_input_writable()), so the session needs no scratch area. The LOGIN user name must outlive its line: it stays at the front of
 * the input buffer (auth_keep) until the password line has been read. The host only sees
 * the final credentials, and never in an event's line. */
#include <string.h>

#include "base64.h"
#include "sc_text.h"
#include "server_internal.h"

static const smtpcore_str no_line = {NULL, 0};

/* The two ways a failure can end the session (sc_srv_too_many()); the first is the
 * longer, and sets the room a host's refusal must leave (sc_srv_auth_fail_room()). */
static const char too_many_auth[] = "Error: too many failed authentications";
static const char too_many_errors[] = "Error: too many errors";
_Static_assert(sizeof too_many_auth >= sizeof too_many_errors, "the longer text sets the room");
_Static_assert(sizeof too_many_auth - 1 <= SC_SRV_TOO_MANY_TEXT_MAX, "sc_srv_too_many() takes it");

/* One failed AUTH: an error like any refused command (towards max_errors), and one
 * towards max_auth_failures, whose limit is checked first (its 421 says why). A
 * password guesser is thereby made to reconnect, where the host can delay and
 * rate-limit it per address. `say`: the 421 can be written (not after a host 421). */
static void count_failure(smtpcore_server *s, int say)
{
    s->errors++;
    if (s->auth_failures < UINT32_MAX)
        s->auth_failures++;
    if (s->phase == SC_PH_CLOSED)
        return;
    if (s->cfg.max_auth_failures && s->auth_failures >= s->cfg.max_auth_failures)
        sc_srv_too_many(s, SMTPCORE_V_TOO_MANY_AUTH_FAILURES, too_many_auth, say);
    else if (s->cfg.max_errors && s->errors >= s->cfg.max_errors)
        sc_srv_too_many(s, SMTPCORE_V_TOO_MANY_ERRORS, too_many_errors, say);
}

/* An AUTH line the command parser refused (an initial response that is not base64, say):
 * the refusal is written already; it counts as a failed authentication, or a guesser
 * would get free tries. */
void sc_srv_auth_malformed(smtpcore_server *s)
{
    count_failure(s, 1);
}

/* An AUTH the engine refuses by itself: reported, and a failure. */
static void refuse(smtpcore_server *s, smtpcore_str line, int code, const char *enh,
                   const char *text)
{
    sc_srv_refuse(s, line, code, enh, text, SMTPCORE_V_AUTH_FAILED, 0);
    count_failure(s, 1);
}

void sc_srv_auth_answered(smtpcore_server *s, int code)
{
    if (code >= 400)
        count_failure(s, code != 421);
}

size_t sc_srv_auth_fail_room(const smtpcore_server *s)
{
    /* "421 4.7.0 <host name> <text>\r\n", as sc_srv_too_many() writes it */
    return sizeof("421 4.7.0 ") - 1 + strlen(s->cfg.hostname) + sizeof(" ") - 1 +
           sizeof too_many_auth - 1 + sizeof("\r\n") - 1;
}

static void auth_end(smtpcore_server *s)
{
    s->phase = SC_PH_CMD;
    s->auth_step = SC_AUTH_NONE;
    sc_srv_auth_release(s);
}

static void auth_fail(smtpcore_server *s, int code, const char *enh, const char *text)
{
    auth_end(s);
    s->group_end = 1;
    refuse(s, no_line, code, enh, text);
}

/* RFC 4954 4: "334 " plus base64 text, never an enhanced code. The reply is one literal
 * (CHALLENGE()), written into the room every step starts with. */
static void challenge(smtpcore_server *s, const char *reply, size_t len)
{
    s->phase = SC_PH_AUTH;
    s->group_end = 1;
    int rc = sc_buf_append_all(&s->out, reply, len);
    SC_ASSERT(rc == 0);
    (void)rc;
}
#define CHALLENGE(s, b64) challenge((s), "334 " b64 "\r\n", sizeof("334 " b64 "\r\n") - 1)

/* Decodes in place; 0 ok, -1 invalid base64, -2 too long. `before` is what earlier
 * responses of the exchange already hold (the LOGIN user name): together they keep the
 * historical bound of SC_SRV_AUTH_MAX decoded bytes. */
static int decode(char *in, size_t len, size_t before, size_t *out)
{
    if (len == 1 && in[0] == '=') {
        *out = 0;
        return 0;
    }
    if (len / 4 * 3 > SC_SRV_AUTH_MAX - before)
        return -2;
    size_t n = sc_base64_decode(in, len, in, len);
    if (n == (size_t)-1)
        return -1;
    *out = n;
    return 0;
}

static void deliver(smtpcore_server *s, smtpcore_str authzid, smtpcore_str user,
                    smtpcore_str pass, smtpcore_str line)
{
    auth_end(s);
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_AUTH);
    ev->line = line;
    ev->auth_mech = s->auth_mech;
    ev->authzid = authzid;
    ev->username = user;
    ev->password = pass;
    sc_srv_await(s, ev);
}

/* PLAIN (RFC 4616): authzid NUL authcid NUL passwd. */
static void finish_plain(smtpcore_server *s, const char *d, size_t n, smtpcore_str line)
{
    const char *z1 = memchr(d, '\0', n);
    const char *z2 = z1 ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - d)) : NULL;
    if (!z2 || memchr(z2 + 1, '\0', n - (size_t)(z2 + 1 - d)) || z2 == z1 + 1) {
        auth_fail(s, 501, "5.5.2", "Malformed authentication response");
        return;
    }
    deliver(s, sc_mkstr(d, (size_t)(z1 - d)), sc_mkstr(z1 + 1, (size_t)(z2 - z1 - 1)),
            sc_mkstr(z2 + 1, n - (size_t)(z2 + 1 - d)), line);
}

/* XOAUTH2: "user=" u ^A "auth=Bearer " token ^A ^A ("user=" as written, "auth=Bearer "
 * in any case). */
#define XO_USER "user="
#define XO_AUTH "AUTH=BEARER "
#define XO_LEN(lit) (sizeof(lit) - 1)
static void finish_xoauth2(smtpcore_server *s, const char *d, size_t n, smtpcore_str line)
{
    const char *end = d + n;
    if (n < XO_LEN(XO_USER) + XO_LEN("\x01") + XO_LEN(XO_AUTH) + XO_LEN("\x01\x01") ||
        memcmp(d, XO_USER, XO_LEN(XO_USER)) != 0 || end[-1] != '\x01' || end[-2] != '\x01') {
        auth_fail(s, 501, "5.5.2", "Malformed authentication response");
        return;
    }
    const char *u = d + XO_LEN(XO_USER);
    const char *sep = memchr(u, '\x01', (size_t)(end - u));
    const char *a = sep + 1;
    if (sep == end - 2 || (size_t)(end - a) < XO_LEN(XO_AUTH) + XO_LEN("\x01\x01") ||
        !sc_ieq_upper(a, XO_LEN(XO_AUTH), XO_AUTH)) {
        auth_fail(s, 501, "5.5.2", "Malformed authentication response");
        return;
    }
    const char *tok = a + XO_LEN(XO_AUTH);
    const char *tok_end = end - 2;
    if (tok_end <= tok || memchr(tok, '\x01', (size_t)(tok_end - tok))) {
        auth_fail(s, 501, "5.5.2", "Malformed authentication response");
        return;
    }
    deliver(s, no_line, sc_mkstr(u, (size_t)(sep - u)), sc_mkstr(tok, (size_t)(tok_end - tok)),
            line);
}

static int decode_or_fail(smtpcore_server *s, char *in, size_t len, size_t before,
                          size_t *out)
{
    int rc = decode(in, len, before, out);
    if (rc == -2)
        auth_fail(s, 500, "5.5.6", "Authentication exchange line is too long");
    else if (rc == -1)
        auth_fail(s, 501, "5.5.2", "Cannot decode response");
    return rc;
}

/* `in` is a response inside the input buffer, whose line began at the front of the
 * unprocessed input (every step starts with the processed bytes dropped). */
static void response(smtpcore_server *s, char *in, size_t len, smtpcore_str line)
{
    size_t n = 0;
    switch (s->auth_step) {
    case SC_AUTH_PLAIN_WAIT:
        if (decode_or_fail(s, in, len, 0, &n) == 0)
            finish_plain(s, in, n, line);
        return;
    case SC_AUTH_XOAUTH2_WAIT:
        if (decode_or_fail(s, in, len, 0, &n) == 0)
            finish_xoauth2(s, in, n, line);
        return;
    case SC_AUTH_LOGIN_USER: {
        if (decode_or_fail(s, in, len, 0, &n) != 0)
            return;
        /* Keep the line up to the end of the decoded name at the front of the input;
         * what follows it is processed input again (see sc_srv_unprocessed()). */
        size_t off = (size_t)(in - (s->in.data + s->in.start));
        /* Both are below the input buffer size, which the config bounds to 32 bits. */
        s->auth_used = (uint32_t)n;
        s->auth_user_off = (uint32_t)off;
        s->auth_keep = (uint32_t)(off + n);
        s->in_done -= s->auth_keep;
        s->auth_step = SC_AUTH_LOGIN_PASS;
        CHALLENGE(s, "UGFzc3dvcmQ6"); /* "Password:" */
        return;
    }
    case SC_AUTH_LOGIN_PASS: {
        if (decode_or_fail(s, in, len, s->auth_used, &n) != 0)
            return;
        const char *user = s->in.data + s->in.start + s->auth_user_off;
        deliver(s, no_line, sc_mkstr(user, s->auth_used), sc_mkstr(in, n), line);
        return;
    }
    default: auth_end(s); return;
    }
}

void sc_srv_auth_start(smtpcore_server *s, const sc_command *c, smtpcore_str line)
{
    /* Hide the initial response: the line is shown up to the mechanism name. */
    smtpcore_str shown = line;
    if (c->mechanism.ptr)
        shown.len = (size_t)(c->mechanism.ptr + c->mechanism.len - line.ptr);
    const char *why = NULL;
    if (!(s->cfg.extensions & SMTPCORE_EXT_AUTH))
        why = "Error: authentication not enabled";
    else if (!s->helo_done || !s->esmtp)
        why = "Error: send EHLO first";
    else if (s->authenticated)
        why = "Error: already authenticated";
    else if (s->mail_open)
        why = "Error: MAIL transaction in progress";
    if (why) {
        sc_srv_refuse(s, shown, 503, "5.5.1", why, SMTPCORE_V_BAD_SEQUENCE, 1);
        return;
    }
    if (!s->tls_active && !s->cfg.allow_plaintext_auth) {
        refuse(s, shown, 538, "5.7.11",
               "Encryption required for requested authentication mechanism");
        return;
    }
    uint32_t mech = 0;
    if (sc_ieq_upper(c->mechanism.ptr, c->mechanism.len, "PLAIN"))
        mech = SMTPCORE_AUTH_PLAIN;
    else if (sc_ieq_upper(c->mechanism.ptr, c->mechanism.len, "LOGIN"))
        mech = SMTPCORE_AUTH_LOGIN;
    else if (sc_ieq_upper(c->mechanism.ptr, c->mechanism.len, "XOAUTH2"))
        mech = SMTPCORE_AUTH_XOAUTH2;
    if (!(mech & s->cfg.auth_mechs)) {
        refuse(s, shown, 504, "5.5.4", "Unrecognized authentication type");
        return;
    }
    s->auth_mech = (uint8_t)mech;
    s->auth_used = 0;
    const smtpcore_str ir = c->initial_response;
    switch (mech) {
    case SMTPCORE_AUTH_PLAIN:
        s->auth_step = SC_AUTH_PLAIN_WAIT;
        break;
    case SMTPCORE_AUTH_XOAUTH2:
        s->auth_step = SC_AUTH_XOAUTH2_WAIT;
        break;
    default:
        s->auth_step = SC_AUTH_LOGIN_USER;
        if (!ir.len) {
            CHALLENGE(s, "VXNlcm5hbWU6"); /* "Username:" */
            return;
        }
        break;
    }
    if (!ir.len) {
        CHALLENGE(s, "");
        return;
    }
    response(s, sc_srv_input_writable(s, ir.ptr), ir.len, shown);
}

void sc_srv_auth_line(smtpcore_server *s, const char *line, size_t len, uint32_t flags)
{
    if (len == 1 && line[0] == '*') {
        auth_fail(s, 501, "5.0.0", "Authentication cancelled");
        return;
    }
    if (flags & (SC_LINE_NUL | SC_LINE_BARE_CR)) {
        auth_fail(s, 501, "5.5.2", "Cannot decode response");
        return;
    }
    /* The line is in the session's input: the response is decoded in place. */
    response(s, sc_srv_input_writable(s, line), len, no_line);
}

void sc_srv_auth_overlong(smtpcore_server *s)
{
    auth_fail(s, 500, "5.5.6", "Authentication exchange line is too long");
}
