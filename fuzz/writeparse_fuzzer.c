/* SPDX-License-Identifier: MIT */
/* Write-then-parse round trips: what the client writes the server parses back to the same
 * values (sc_command_write_* -> sc_command_parse), and what the server writes the client
 * parses back (sc_reply_write -> framer -> sc_reply_parser_feed).
 *
 * Input: strings from the front separated by NUL bytes (address, ENVID, reply text...),
 * decisions from the back (which command, parameters, reply code, buffer sizes).
 *
 * Invariants: a writer either fits and emits exactly one CRLF-terminated line per line,
 * or reports "too small"; it never emits CR, LF or NUL from its arguments; a valid
 * address and valid parameters parse back to identical values; a written reply is a
 * legal SMTP reply whose code, enhanced code and line texts parse back unchanged. */
#include "fuzz_common.h"

#include "command.h"
#include "line.h"
#include "reply.h"
#include "syntax.h"

#define ALL_EXT 0xfffu
#define OUT_CAP 8192

static char out[OUT_CAP];
static char out2[OUT_CAP];

/* A written command: one line, CRLF only at its end. */
static size_t check_line(const char *p, size_t n)
{
    FZ_CHECK(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n');
    FZ_CHECK(memchr(p, '\n', n - 1) == NULL && memchr(p, '\r', n - 2) == NULL);
    FZ_CHECK(memchr(p, '\0', n) == NULL);
    return n - 2;
}

static int eq_str(smtpcore_str s, const char *p, size_t n)
{
    return s.len == n && (n == 0 || memcmp(s.ptr, p, n) == 0);
}

static int decoded_equals(smtpcore_str raw, const char *p, size_t n)
{
    char tmp[256];
    size_t dl = 0;
    if (smtpcore_xtext_decode(raw.ptr, raw.len, tmp, sizeof tmp, &dl) != SMTPCORE_OK)
        return 0;
    return dl == n && (n == 0 || memcmp(tmp, p, n) == 0);
}

static void mail_rcpt(fz_src *src, int is_mail)
{
    const uint8_t *a = NULL, *e = NULL;
    size_t al = fz_take_until(src, 0, &a);
    size_t el = fz_take_until(src, 0, &e);
    if (al > 600 || el > 200)
        return;
    const char *addr = (const char *)a, *extra = (const char *)e;
    uint8_t k1 = fz_ctl(src), k2 = fz_ctl(src);
    uint32_t sz = fz_ctl32(src);

    smtpcore_mail_params mp;
    smtpcore_rcpt_params rp;
    smtpcore_mail_params_init(&mp);
    memset(&rp, 0, sizeof rp);
    int u8 = 0;
    for (size_t i = 0; i < al; i++)
        u8 |= (unsigned char)addr[i] >= 0x80;
    size_t n;
    if (is_mail) {
        mp.has_size = k1 & 1u;
        mp.size = (uint64_t)sz * ((k1 & 2u) ? 4294967296u : 1u);
        mp.body = (smtpcore_body_type)((k1 >> 2) & 3u);
        mp.smtputf8 = u8 || (k1 & 16u);
        mp.ret = (smtpcore_dsn_ret)((k1 >> 5) % 3u);
        if (k2 & 1u) {
            mp.envid.ptr = extra;
            mp.envid.len = el;
        }
        if (k2 & 2u) {
            mp.auth.ptr = "<>";
            mp.auth.len = 2;
        }
        n = sc_command_write_mail(out, OUT_CAP, addr, al, &mp);
    } else {
        static const uint32_t notify[6] = {0, SMTPCORE_NOTIFY_NEVER, SMTPCORE_NOTIFY_SUCCESS,
                                           SMTPCORE_NOTIFY_SUCCESS | SMTPCORE_NOTIFY_FAILURE,
                                           SMTPCORE_NOTIFY_DELAY | SMTPCORE_NOTIFY_FAILURE,
                                           SMTPCORE_NOTIFY_SUCCESS | SMTPCORE_NOTIFY_FAILURE |
                                               SMTPCORE_NOTIFY_DELAY};
        rp.notify = notify[k1 % 6u];
        char orcpt[260];
        if ((k2 & 1u) && el > 0 && el < 200) { /* an empty address is no ORCPT */
            memcpy(orcpt, "rfc822;", 7);
            memcpy(orcpt + 7, extra, el);
            rp.orcpt.ptr = orcpt;
            rp.orcpt.len = 7 + el;
        }
        n = sc_command_write_rcpt(out, OUT_CAP, addr, al, &rp);
        if (n != (size_t)-1) {
            FZ_CHECK(sc_command_write_rcpt(out2, n, addr, al, &rp) == n &&
                     memcmp(out, out2, n) == 0);
            FZ_CHECK(sc_command_write_rcpt(out2, n - 1, addr, al, &rp) == (size_t)-1);
        }
    }
    if (n == (size_t)-1)
        return;
    if (is_mail) {
        FZ_CHECK(sc_command_write_mail(out2, n, addr, al, &mp) == n && memcmp(out, out2, n) == 0);
        FZ_CHECK(sc_command_write_mail(out2, n - 1, addr, al, &mp) == (size_t)-1);
    }

    /* The writer does not validate: callers check the address and the strings first. */
    int clean = sc_command_check_arg(addr, al) == 0 && sc_command_check_arg(extra, el) == 0;
    if (!clean)
        return;
    size_t ll = check_line(out, n);
    int u = 0;
    int addr_ok = al == 0 ? is_mail : sc_mailbox_valid(addr, al, SC_SYN_UTF8, &u);
    char enc[700];
    size_t envid_enc = mp.envid.len ? sc_xtext_encode(extra, el, enc, sizeof enc) : 0;
    int params_ok = envid_enc <= 100;
    if (!addr_ok || !params_ok || ll > 4000)
        return;

    sc_command c;
    sc_reply_spec err;
    memset(&c, 0, sizeof c);
    memset(&err, 0, sizeof err);
    int r = sc_command_parse(out, ll, ALL_EXT, &c, &err);
    if (r != 0)
        fprintf(stderr, "parse failed: %d %s for %.*s\n", err.code, err.text, (int)ll, out);
    FZ_CHECK(r == 0);
    FZ_CHECK(c.verb == (is_mail ? SC_VERB_MAIL : SC_VERB_RCPT));
    FZ_CHECK(eq_str(c.mailbox, addr, al));
    FZ_CHECK(c.mailbox_utf8 == u8);
    if (is_mail) {
        FZ_CHECK(c.mail.has_size == mp.has_size);
        if (mp.has_size)
            FZ_CHECK(c.mail.size == mp.size);
        FZ_CHECK(c.mail.body == mp.body && c.mail.ret == mp.ret);
        FZ_CHECK((c.mail.smtputf8 != 0) == (mp.smtputf8 != 0));
        FZ_CHECK(decoded_equals(c.mail.envid, mp.envid.ptr, mp.envid.len));
        FZ_CHECK(eq_str(c.mail.auth, mp.auth.ptr, mp.auth.len));
    } else {
        FZ_CHECK(c.rcpt.notify == rp.notify);
        if (rp.orcpt.len) {
            FZ_CHECK(c.rcpt.orcpt.len >= 7 && memcmp(c.rcpt.orcpt.ptr, "rfc822;", 7) == 0);
            smtpcore_str x = {c.rcpt.orcpt.ptr + 7, c.rcpt.orcpt.len - 7};
            FZ_CHECK(decoded_equals(x, extra, el));
        } else {
            FZ_CHECK(c.rcpt.orcpt.len == 0);
        }
    }
}

static void simple(fz_src *src)
{
    static const sc_verb verbs[] = {SC_VERB_HELO, SC_VERB_EHLO, SC_VERB_DATA, SC_VERB_RSET,
                                    SC_VERB_NOOP, SC_VERB_VRFY, SC_VERB_EXPN, SC_VERB_HELP,
                                    SC_VERB_QUIT, SC_VERB_STARTTLS, SC_VERB_AUTH, SC_VERB_ETRN};
    sc_verb v = verbs[fz_ctl(src) % (sizeof verbs / sizeof verbs[0])];
    const uint8_t *a = NULL;
    size_t al = fz_take_until(src, 0, &a);
    if (al > 600)
        return;
    const char *arg = (const char *)a;
    size_t n = sc_command_write_simple(out, OUT_CAP, v, arg, al);
    FZ_CHECK(n != (size_t)-1);
    FZ_CHECK(sc_command_write_simple(out2, n, v, arg, al) == n && memcmp(out, out2, n) == 0);
    FZ_CHECK(sc_command_write_simple(out2, n - 1, v, arg, al) == (size_t)-1);
    if (sc_command_check_arg(arg, al) != 0)
        return;
    size_t ll = check_line(out, n);
    sc_command c;
    sc_reply_spec err;
    memset(&c, 0, sizeof c);
    memset(&err, 0, sizeof err);
    int r = sc_command_parse(out, ll, ALL_EXT, &c, &err);
    FZ_CHECK(c.verb == v); /* recognised even when its argument is refused */
    if (al == 0 && (v == SC_VERB_DATA || v == SC_VERB_RSET || v == SC_VERB_QUIT ||
                    v == SC_VERB_STARTTLS || v == SC_VERB_NOOP || v == SC_VERB_HELP))
        FZ_CHECK(r == 0);
    if ((v == SC_VERB_HELO || v == SC_VERB_EHLO) && r == 0)
        FZ_CHECK(c.helo_class != SMTPCORE_HELO_INVALID);
    if ((v == SC_VERB_HELO || v == SC_VERB_EHLO) && memchr(arg, ' ', al) == NULL &&
        smtpcore_helo_classify(arg, al) != SMTPCORE_HELO_INVALID) {
        FZ_CHECK(r == 0);
        FZ_CHECK(eq_str(c.domain, arg, al));
    }
}

static void bdat(fz_src *src)
{
    uint64_t size = ((uint64_t)fz_ctl32(src) << 32) | fz_ctl32(src);
    int last = fz_ctl(src) & 1;
    if (fz_ctl(src) & 1)
        size &= 0xffff;
    size_t n = sc_command_write_bdat(out, OUT_CAP, size, last);
    FZ_CHECK(n != (size_t)-1);
    FZ_CHECK(sc_command_write_bdat(out2, n - 1, size, last) == (size_t)-1);
    size_t ll = check_line(out, n);
    sc_command c;
    sc_reply_spec err;
    memset(&c, 0, sizeof c);
    int r = sc_command_parse(out, ll, ALL_EXT, &c, &err);
    if (size == UINT64_MAX) { /* the parser's overflow marker: refused by design */
        FZ_CHECK(r == -1 && err.code == 501);
        return;
    }
    FZ_CHECK(r == 0);
    FZ_CHECK(c.verb == SC_VERB_BDAT && c.chunk_size == size && (c.last != 0) == (last != 0));
}

static void reply(fz_src *src)
{
    uint8_t k = fz_ctl(src);
    int code = (2 + (k & 3)) * 100 + (int)((k >> 2) % 6u) * 10 + (int)(fz_ctl(src) % 10u);
    uint8_t e1 = fz_ctl(src), e2 = fz_ctl(src);
    smtpcore_enhanced esc = {0, 0, 0};
    int use_esc = (e1 & 1u) && code / 100 != 3; /* RFC 3463: classes 2, 4 and 5 only */
    if (use_esc) {
        esc.cls = (uint16_t)(code / 100);
        esc.subject = (uint16_t)((e1 >> 1) * 9u % 1000u);
        esc.detail = (uint16_t)(e2 * 7u % 1000u);
    }
    size_t cap = (fz_ctl(src) & 1u) ? OUT_CAP : (size_t)fz_ctl(src) * 4u;
    const char *text = (const char *)src->p;
    size_t tl = src->n;
    if (tl > 2000)
        return;
    size_t n = sc_reply_write(out, cap, code, use_esc ? &esc : NULL, text, tl);
    int forbidden = tl && (memchr(text, '\r', tl) || memchr(text, '\0', tl));
    if (forbidden) {
        FZ_CHECK(n == (size_t)-1);
        return;
    }
    if (n == (size_t)-1) {
        size_t lines = 1;
        for (size_t i = 0; i < tl; i++)
            lines += text[i] == '\n';
        FZ_CHECK(cap < OUT_CAP || lines * 18 + tl > OUT_CAP); /* head, code, CRLF per line */
        return;
    }
    FZ_CHECK(n <= cap);

    /* Parse it back as the client does. */
    size_t eff = tl && text[tl - 1] == '\n' ? tl - 1 : tl;
    size_t parts = 1;
    for (size_t i = 0; i < eff; i++)
        parts += text[i] == '\n';
    sc_line_framer f;
    sc_line_init(&f, 0);
    sc_reply_parser rp;
    sc_reply_parser_init(&rp);
    size_t pos = 0, at = 0, lines = 0;
    int done = 0, long_line = 0;
    while (pos < n) {
        size_t line_len = 0, used = 0;
        uint32_t fl = 0;
        FZ_CHECK(!done);
        FZ_CHECK(sc_line_next(&f, out + pos, n - pos, &line_len, &used, &fl) == SC_LINE_COMPLETE);
        FZ_CHECK((fl & (SC_LINE_BARE_LF | SC_LINE_BARE_CR | SC_LINE_NUL)) == 0);
        long_line |= used > 512;
        sc_reply_status st = sc_reply_parser_feed(&rp, out + pos, line_len, used, fl);
        FZ_CHECK(st != SC_REPLY_INVALID);
        done = st == SC_REPLY_DONE;
        /* Text of this line: "x.y.z " + part, or the part alone. */
        const char *nl = eff > at ? memchr(text + at, '\n', eff - at) : NULL;
        size_t end = nl ? (size_t)(nl - text) : eff;
        char want[2100];
        size_t wl = 0;
        if (use_esc) {
            wl = (size_t)snprintf(want, sizeof want, "%u.%u.%u", esc.cls, esc.subject, esc.detail);
            if (end > at)
                want[wl++] = ' ';
        }
        memcpy(want + wl, text + at, end - at);
        wl += end - at;
        size_t head = (wl == 0 && done) ? 3 : 4;
        FZ_CHECK(line_len == head + wl && memcmp(out + pos + head, want, wl) == 0);
        at = end + 1;
        pos += used;
        lines++;
    }
    FZ_CHECK(done && lines == parts && rp.nlines == parts && rp.code == code);
    FZ_CHECK(rp.flags == (long_line ? (uint32_t)SMTPCORE_REPLY_LONG_LINE : 0u));
    if (use_esc)
        FZ_CHECK(memcmp(&rp.enhanced, &esc, sizeof esc) == 0);
    if (!long_line) {
        fz_reply_checker chk;
        fz_reply_checker_init(&chk);
        fz_reply_check(&chk, out, n);
        FZ_CHECK(fz_reply_checker_idle(&chk) && chk.finals == 1 && chk.lines == parts);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    fz_src src;
    fz_init(&src, data, size);
    switch (fz_ctl(&src) % 5u) {
    case 0: reply(&src); break;
    case 1: mail_rcpt(&src, 1); break;
    case 2: mail_rcpt(&src, 0); break;
    case 3: simple(&src); break;
    default: bdat(&src); break;
    }
    return 0;
}
