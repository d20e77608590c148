/* SPDX-License-Identifier: MIT */
/* LMTP answers of smtpcore-sink (see sink_lmtp.h). */
#include "sink_lmtp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int sink_lmtp_add_rule(sink_lmtp_opts *o, const char *arg)
{
    const char *eq = strrchr(arg, '=');
    if (o->nrules >= SINK_LMTP_MAX_RULES || eq == NULL || eq == arg)
        return -1;
    sink_lmtp_rule *r = &o->rules[o->nrules];
    size_t alen = (size_t)(eq - arg);
    if (alen >= sizeof r->addr)
        return -1;
    memcpy(r->addr, arg, alen);
    r->addr[alen] = '\0';
    const char *c = eq + 1;
    if (!isdigit((unsigned char)c[0]) || !isdigit((unsigned char)c[1]) ||
        !isdigit((unsigned char)c[2]) || (c[3] != '\0' && c[3] != '/'))
        return -1;
    r->code = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
    if (r->code < 400 || r->code > 599)
        return -1;
    if (c[3] == '/') {
        /* X.Y.Z of the reply's class; the engine checks the rest when answering, but a
         * bad value is better refused here, at start. */
        const char *e = c + 4;
        unsigned a, b, d;
        int used = 0;
        if (sscanf(e, "%1u.%3u.%3u%n", &a, &b, &d, &used) != 3 || e[used] != '\0' ||
            (int)a != r->code / 100 || strlen(e) >= sizeof r->enhanced)
            return -1;
        snprintf(r->enhanced, sizeof r->enhanced, "%s", e);
    } else {
        /* 4.2.0: mailbox status, try later (busy, over quota); 5.1.1: no such mailbox */
        snprintf(r->enhanced, sizeof r->enhanced, "%s", r->code < 500 ? "4.2.0" : "5.1.1");
    }
    o->nrules++;
    return 0;
}

uint16_t sink_lmtp_match(const sink_lmtp_opts *o, smtpcore_str addr)
{
    for (size_t i = 0; i < o->nrules; i++) {
        const char *a = o->rules[i].addr;
        if (strlen(a) == addr.len && strncasecmp(a, addr.ptr, addr.len) == 0)
            return (uint16_t)(i + 1);
    }
    return 0;
}

int sink_lmtp_all_refused(const uint16_t *rule, uint32_t n)
{
    if (rule == NULL || n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (rule[i] == 0)
            return 0;
    return 1;
}

/* Appends ",CODE"; when the next one might not fit, "..." ends the list for good. */
static void append_code(char *codes, size_t cap, size_t *used, int *cut, int code)
{
    if (*cut)
        return;
    if (*used + 5 + 4 > cap) {
        if (*used + 4 <= cap) {
            memcpy(codes + *used, "...", 4);
            *used += 3;
        }
        *cut = 1;
        return;
    }
    *used += (size_t)snprintf(codes + *used, cap - *used, "%s%d", *used ? "," : "", code);
}

int sink_lmtp_answer(smtpcore_server *s, const sink_lmtp_opts *o, const uint16_t *rule,
                     uint32_t n, int stored, char *codes, size_t codes_cap)
{
    int any_ok = 0, first4 = 0, first5 = 0, cut = 0;
    size_t used = 0;
    codes[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        int code = stored ? 250 : 451;
        if (rule != NULL && rule[i] != 0) {
            const sink_lmtp_rule *r = &o->rules[rule[i] - 1];
            code = r->code;
            if (s != NULL)
                (void)smtpcore_server_reply_rcpt(s, i, r->code, r->enhanced,
                                                 r->code < 500 ? "Mailbox unavailable, try later"
                                                               : "Mailbox unavailable");
        }
        any_ok |= code == 250;
        if (code / 100 == 4 && first4 == 0)
            first4 = code;
        if (code / 100 == 5 && first5 == 0)
            first5 = code;
        append_code(codes, codes_cap, &used, &cut, code);
    }
    /* Everyone not refused above: one answer for all of them (the engine stores it once). */
    if (s != NULL && smtpcore_server_rcpt_unanswered(s) > 0) {
        if (stored)
            smtpcore_server_accept(s);
        else
            smtpcore_server_reject(s, 451, "4.3.0", "Cannot store the message, try later");
    }
    return any_ok ? 250 : first4 ? first4 : first5 ? first5 : (stored ? 250 : 451);
}
