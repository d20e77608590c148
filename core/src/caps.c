/* SPDX-License-Identifier: MIT */
/* EHLO reply -> capabilities (RFC 5321 4.1.1.1: ehlo-line = keyword *(SP param)). */
#include <smtpcore/smtpcore.h>

#include <string.h>

#include "sc_text.h"

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* SIZE's parameter: decimal, saturating (a huge limit is as good as none). Anything
 * that is not a plain number counts as "no fixed limit" (0). */
static uint64_t parse_size(const char *s, size_t n)
{
    uint64_t v = 0;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return UINT64_MAX;
        v = v * 10 + d;
    }
    return v;
}

static uint32_t mech_bit(const char *s, size_t n)
{
    if (sc_ieq_upper(s, n, "PLAIN"))
        return SMTPCORE_AUTH_PLAIN;
    if (sc_ieq_upper(s, n, "LOGIN"))
        return SMTPCORE_AUTH_LOGIN;
    if (sc_ieq_upper(s, n, "XOAUTH2"))
        return SMTPCORE_AUTH_XOAUTH2;
    if (sc_ieq_upper(s, n, "CRAM-MD5"))
        return SMTPCORE_AUTH_CRAM_MD5;
    return SMTPCORE_AUTH_OTHER;
}

/* Next whitespace-separated word of s[*pos, n); returns its length (0 at the end). */
static size_t next_word(const char *s, size_t n, size_t *pos, const char **word)
{
    size_t i = *pos;
    while (i < n && is_space(s[i]))
        i++;
    size_t b = i;
    while (i < n && !is_space(s[i]))
        i++;
    *word = s + b;
    *pos = i;
    return i - b;
}

static void parse_line(const char *s, size_t n, smtpcore_caps *caps)
{
    size_t pos = 0;
    const char *kw;
    size_t kw_len = next_word(s, n, &pos, &kw);
    if (kw_len == 0)
        return;
    /* The pre-RFC 2554 form "AUTH=PLAIN LOGIN" glues the first mechanism on with '='. */
    const char *eq = memchr(kw, '=', kw_len);
    if (eq && sc_ieq_upper(kw, (size_t)(eq - kw), "AUTH")) {
        caps->extensions |= SMTPCORE_EXT_AUTH;
        size_t first = kw_len - (size_t)(eq - kw) - 1;
        if (first > 0)
            caps->auth_mechs |= mech_bit(eq + 1, first);
    } else if (sc_ieq_upper(kw, kw_len, "AUTH")) {
        caps->extensions |= SMTPCORE_EXT_AUTH;
    } else {
        static const struct {
            const char *name;
            uint32_t bit;
        } simple[] = {
            {"PIPELINING", SMTPCORE_EXT_PIPELINING},
            {"8BITMIME", SMTPCORE_EXT_8BITMIME},
            {"SMTPUTF8", SMTPCORE_EXT_SMTPUTF8},
            {"DSN", SMTPCORE_EXT_DSN},
            {"ENHANCEDSTATUSCODES", SMTPCORE_EXT_ENHANCEDSTATUSCODES},
            {"CHUNKING", SMTPCORE_EXT_CHUNKING},
            {"BINARYMIME", SMTPCORE_EXT_BINARYMIME},
            {"STARTTLS", SMTPCORE_EXT_STARTTLS},
            {"HELP", SMTPCORE_EXT_HELP},
            {"XCLIENT", SMTPCORE_EXT_XCLIENT},
        };
        if (sc_ieq_upper(kw, kw_len, "SIZE")) {
            const char *w;
            size_t wl = next_word(s, n, &pos, &w);
            caps->extensions |= SMTPCORE_EXT_SIZE;
            caps->size_limit = parse_size(w, wl);
            return;
        }
        /* VRFY in EHLO says nothing about whether VRFY answers (EXT_VRFY is learnt from
         * a reply), so it is deliberately not in this table. */
        for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++) {
            if (sc_ieq_upper(kw, kw_len, simple[i].name)) {
                caps->extensions |= simple[i].bit;
                return;
            }
        }
        return;
    }
    for (;;) {
        const char *w;
        size_t wl = next_word(s, n, &pos, &w);
        if (wl == 0)
            break;
        caps->auth_mechs |= mech_bit(w, wl);
    }
}

int smtpcore_caps_parse(const smtpcore_reply *reply, smtpcore_caps *caps)
{
    if (!reply || !caps || !reply->raw.ptr || reply->nlines == 0 || reply->code != 250)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    memset(caps, 0, sizeof *caps);
    caps->esmtp = 1;
    /* Walk raw once (smtpcore_reply_line per index would be quadratic in the lines). The
     * first line is the greeting ("250-host Hello ..."), never a keyword. */
    const char *p = reply->raw.ptr;
    const char *end = p + reply->raw.len;
    for (size_t i = 0; p < end; i++) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        const char *stop = eol ? eol : end;
        if (stop > p && stop[-1] == '\r')
            stop--;
        size_t n = (size_t)(stop - p);
        if (i > 0 && n > 4)
            parse_line(p + 4, n - 4, caps);
        p = next;
    }
    return SMTPCORE_OK;
}
