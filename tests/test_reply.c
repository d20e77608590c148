/* SPDX-License-Identifier: MIT */
/* Reply parser, enhanced codes, reply writer and defaults. */
#include <criterion/criterion.h>

#include <string.h>

#include "line.h"
#include "reply.h"

/* Frames s with the line framer and feeds the reply parser until DONE/INVALID or the
 * input ends. Returns the last status; *used gets the bytes of the reply. */
static sc_reply_status parse(const char *s, size_t len, sc_reply_parser *p, size_t *used)
{
    sc_line_framer f;
    sc_line_init(&f, 4096);
    sc_reply_parser_init(p);
    size_t off = 0;
    sc_reply_status st = SC_REPLY_CONTINUE;
    while (off < len) {
        size_t ll, c;
        uint32_t fl;
        sc_line_status ls = sc_line_next(&f, s + off, len - off, &ll, &c, &fl);
        cr_assert_eq(ls, SC_LINE_COMPLETE, "framing failed at %zu", off);
        st = sc_reply_parser_feed(p, s + off, ll, c, fl);
        off += c;
        if (st != SC_REPLY_CONTINUE)
            break;
    }
    *used = off;
    return st;
}

#define PARSE(lit, p, used) parse((lit), sizeof(lit) - 1, (p), (used))

Test(reply, single_line)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("250 OK\r\nXXX", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.code, 250);
    cr_assert_eq(p.nlines, 1);
    cr_assert_eq(p.flags, 0);
    cr_assert_eq(p.enhanced.cls, 0);
    cr_assert_eq(used, 8);
}

Test(reply, multi_line)
{
    sc_reply_parser p;
    size_t used;
    const char s[] = "250-mx.example.org\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    cr_assert_eq(PARSE(s, &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.code, 250);
    cr_assert_eq(p.nlines, 3);
    cr_assert_eq(p.flags, 0);
    cr_assert_eq(used, sizeof s - 1);
}

Test(reply, continue_status_per_line)
{
    sc_reply_parser p;
    sc_reply_parser_init(&p);
    cr_assert_eq(sc_reply_parser_feed(&p, "220-a", 5, 7, 0), SC_REPLY_CONTINUE);
    cr_assert_eq(p.code, 220);
    cr_assert_eq(sc_reply_parser_feed(&p, "220-b", 5, 7, 0), SC_REPLY_CONTINUE);
    cr_assert_eq(sc_reply_parser_feed(&p, "220 c", 5, 7, 0), SC_REPLY_DONE);
    cr_assert_eq(p.nlines, 3);
}

/* OpenSMTPD CVE-2020-8794: "250-" then "250 " with nothing after them are legal. */
Test(reply, empty_continuation_lines)
{
    sc_reply_parser p;
    size_t used;
    const char s[] = "250-\r\n250-\r\n250 \r\n";
    cr_assert_eq(PARSE(s, &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.code, 250);
    cr_assert_eq(p.nlines, 3);
    cr_assert_eq(p.flags, 0);
    cr_assert_eq(used, sizeof s - 1);
}

Test(reply, bare_code_is_last_line)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("354\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.code, 354);
    cr_assert_eq(p.flags, 0);
    cr_assert_eq(PARSE("250-x\r\n250\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.nlines, 2);
    cr_assert_eq(p.flags, 0);
}

Test(reply, mixed_codes_last_wins)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("250-ok\r\n550 no\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.code, 550);
    cr_assert(p.flags & SMTPCORE_REPLY_MIXED_CODES);
    cr_assert_eq(PARSE("451-a\r\n452-b\r\n451 c\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert(p.flags & SMTPCORE_REPLY_MIXED_CODES);
    cr_assert_eq(p.code, 451);
}

Test(reply, bad_separator_recovers_as_last)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("250-a\r\n250_b\r\n250 c\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.nlines, 2);
    cr_assert_eq(used, 14);
    cr_assert_eq(p.flags, SMTPCORE_REPLY_BAD_SEPARATOR);
    cr_assert_eq(PARSE("2500\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert(p.flags & SMTPCORE_REPLY_BAD_SEPARATOR);
}

Test(reply, bad_code)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("199 x\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert(p.flags & SMTPCORE_REPLY_BAD_CODE);
    cr_assert_eq(PARSE("600 x\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert(p.flags & SMTPCORE_REPLY_BAD_CODE);
    cr_assert_eq(PARSE("260 x\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert(p.flags & SMTPCORE_REPLY_BAD_CODE);
    cr_assert_eq(PARSE("259 x\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.flags, 0);
}

Test(reply, no_code_is_invalid)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("hello\r\n", &p, &used), SC_REPLY_INVALID);
    cr_assert_eq(PARSE("25\r\n", &p, &used), SC_REPLY_INVALID);
    cr_assert_eq(PARSE("\r\n", &p, &used), SC_REPLY_INVALID);
    cr_assert_eq(PARSE("2a0 x\r\n", &p, &used), SC_REPLY_INVALID);
    cr_assert_eq(PARSE("250-a\r\nxyz\r\n", &p, &used), SC_REPLY_INVALID);
}

Test(reply, long_line_flagged)
{
    char buf[600];
    memcpy(buf, "250 ", 4);
    memset(buf + 4, 'x', 507);
    memcpy(buf + 511, "\r\n", 2); /* 513 octets */
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(parse(buf, 513, &p, &used), SC_REPLY_DONE);
    cr_assert(p.flags & SMTPCORE_REPLY_LONG_LINE);
    memcpy(buf + 510, "\r\n", 2); /* 512 octets: fine */
    cr_assert_eq(parse(buf, 512, &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.flags, 0);
}

Test(reply, line_flags_mapped)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("250 a\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.flags, SMTPCORE_REPLY_BARE_LF);
    cr_assert_eq(PARSE("250 a\0b\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.flags, SMTPCORE_REPLY_BAD_BYTES);
    cr_assert_eq(PARSE("250 a\rb\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.flags, SMTPCORE_REPLY_BAD_BYTES);
    /* UTF-8 text is fine in replies. */
    cr_assert_eq(PARSE("250 caf\xc3\xa9\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.flags, 0);
}

Test(reply, enhanced_first_line)
{
    sc_reply_parser p;
    size_t used;
    cr_assert_eq(PARSE("550-5.1.1 no such user\r\n550 5.7.1 other\r\n", &p, &used),
                 SC_REPLY_DONE);
    cr_assert_eq(p.enhanced.cls, 5);
    cr_assert_eq(p.enhanced.subject, 1);
    cr_assert_eq(p.enhanced.detail, 1);
    cr_assert_eq(PARSE("250 2.0.0\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.enhanced.cls, 2);
    cr_assert_eq(PARSE("421 4.7.123 go away\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.enhanced.cls, 4);
    cr_assert_eq(p.enhanced.subject, 7);
    cr_assert_eq(p.enhanced.detail, 123);
    /* Class must match the reply's first digit (RFC 2034). */
    cr_assert_eq(PARSE("450 5.1.1 x\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.enhanced.cls, 0);
    /* Only the first line is looked at. */
    cr_assert_eq(PARSE("250-hello\r\n250 2.0.0 ok\r\n", &p, &used), SC_REPLY_DONE);
    cr_assert_eq(p.enhanced.cls, 0);
}

Test(reply, enhanced_parse_valid_invalid)
{
    smtpcore_enhanced e = {9, 9, 9};
    cr_assert_eq(sc_enhanced_parse("2.0.0", 5, &e), 5);
    cr_assert_eq(e.cls, 2);
    cr_assert_eq(sc_enhanced_parse("5.7.26 spam", 11, &e), 6);
    cr_assert_eq(e.subject, 7);
    cr_assert_eq(e.detail, 26);
    cr_assert_eq(sc_enhanced_parse("4.123.999 x", 11, &e), 9);
    cr_assert_eq(e.subject, 123);
    cr_assert_eq(e.detail, 999);
    const char *bad[] = {"3.0.0", "1.0.0", "6.0.0", "2.0", "2..0", "2.0.", "2.1234.0",
                         "2.0.1234", "25.0.0", "2.0.0x", "2.0.0.0", "2-0-0", "", "2",
                         ".2.0.0", "2.a.0", "2.0.0\t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        smtpcore_enhanced z = {7, 7, 7};
        cr_assert_eq(sc_enhanced_parse(bad[i], strlen(bad[i]), &z), 0, "%s", bad[i]);
        cr_assert_eq(z.cls, 7, "output untouched on failure");
    }
    /* Length is honoured: "2.0.0" cut to 4 bytes is not a code. */
    cr_assert_eq(sc_enhanced_parse("2.0.0", 4, &e), 0);
}

/* ---- writer ---- */

#define WRITE_EQ(code, esc, text, want)                                                    \
    do {                                                                                   \
        char out_[512];                                                                    \
        size_t n_ = sc_reply_write(out_, sizeof out_, (code), (esc), (text), strlen(text)); \
        cr_assert_eq(n_, sizeof(want) - 1, "len %zu", n_);                                 \
        cr_assert_eq(memcmp(out_, (want), n_), 0, "got %.*s", (int)n_, out_);              \
    } while (0)

Test(reply_write, exact_bytes)
{
    smtpcore_enhanced ok = {2, 0, 0};
    smtpcore_enhanced none = {0, 0, 0};
    WRITE_EQ(250, NULL, "OK", "250 OK\r\n");
    WRITE_EQ(250, NULL, "a\nb", "250-a\r\n250 b\r\n");
    WRITE_EQ(250, &ok, "a\nb", "250-2.0.0 a\r\n250 2.0.0 b\r\n");
    WRITE_EQ(250, &none, "a", "250 a\r\n");
    WRITE_EQ(354, NULL, "End data with <CR><LF>.<CR><LF>",
             "354 End data with <CR><LF>.<CR><LF>\r\n");
    WRITE_EQ(250, NULL, "", "250\r\n");
    WRITE_EQ(250, &ok, "", "250 2.0.0\r\n");
    WRITE_EQ(250, NULL, "a\n\nb", "250-a\r\n250-\r\n250 b\r\n");
    WRITE_EQ(250, NULL, "a\nb\n", "250-a\r\n250 b\r\n");
    smtpcore_enhanced big = {5, 123, 45};
    WRITE_EQ(550, &big, "x", "550 5.123.45 x\r\n");
}

Test(reply_write, never_past_cap)
{
    const char *text = "mx.example.org\nPIPELINING\nSIZE 10240000\n8BITMIME";
    smtpcore_enhanced ok = {2, 0, 0};
    char full[256];
    size_t need = sc_reply_write(full, sizeof full, 250, &ok, text, strlen(text));
    cr_assert_neq(need, (size_t)-1);
    for (size_t cap = 0; cap < need; cap++) {
        char buf[256];
        memset(buf, 'Z', sizeof buf);
        cr_assert_eq(sc_reply_write(buf, cap, 250, &ok, text, strlen(text)), (size_t)-1);
        for (size_t i = cap; i < sizeof buf; i++)
            cr_assert_eq(buf[i], 'Z', "wrote past cap %zu at %zu", cap, i);
    }
    char buf[256];
    cr_assert_eq(sc_reply_write(buf, need, 250, &ok, text, strlen(text)), need);
    cr_assert_eq(memcmp(buf, full, need), 0);
}

Test(reply_write, refuses_injection_and_bad_code)
{
    char buf[64];
    cr_assert_eq(sc_reply_write(buf, sizeof buf, 250, NULL, "a\r\n250 b", 8), (size_t)-1);
    cr_assert_eq(sc_reply_write(buf, sizeof buf, 250, NULL, "a\0b", 3), (size_t)-1);
    cr_assert_eq(sc_reply_write(buf, sizeof buf, 99, NULL, "a", 1), (size_t)-1);
    cr_assert_eq(sc_reply_write(buf, sizeof buf, 1000, NULL, "a", 1), (size_t)-1);
}

Test(reply_write, round_trip)
{
    const char *texts[] = {"OK", "a\nb\nc", "", "x\n\ny", "hello world\nSIZE 1\nHELP"};
    const int codes[] = {250, 220, 421, 550, 354};
    smtpcore_enhanced escs[] = {{0, 0, 0}, {2, 1, 5}, {4, 7, 0}, {5, 1, 1}, {0, 0, 0}};
    for (size_t i = 0; i < 5; i++) {
        for (int with = 0; with < 2; with++) {
            char buf[256];
            const smtpcore_enhanced *e = with ? &escs[i] : NULL;
            size_t n = sc_reply_write(buf, sizeof buf, codes[i], e, texts[i], strlen(texts[i]));
            cr_assert_neq(n, (size_t)-1);
            sc_reply_parser p;
            size_t used;
            cr_assert_eq(parse(buf, n, &p, &used), SC_REPLY_DONE);
            cr_assert_eq(used, n);
            cr_assert_eq(p.code, codes[i]);
            cr_assert_eq(p.flags, 0);
            size_t lines = 1;
            for (const char *t = texts[i]; *t; t++)
                lines += *t == '\n';
            cr_assert_eq(p.nlines, lines);
            if (e) {
                cr_assert_eq(p.enhanced.cls, e->cls);
                cr_assert_eq(p.enhanced.subject, e->subject);
                cr_assert_eq(p.enhanced.detail, e->detail);
            }
            /* Line texts come back through the public iterator. */
            smtpcore_reply r = {p.code, p.enhanced, {buf, n}, p.nlines, p.flags};
            smtpcore_str last;
            cr_assert_eq(smtpcore_reply_line(&r, p.nlines - 1, &last), SMTPCORE_OK);
            /* Without an enhanced code the joined text is exactly what was written. */
            char joined[256];
            size_t jl = smtpcore_reply_text(&r, joined, sizeof joined);
            if (!e || e->cls == 0) {
                cr_assert_eq(jl, strlen(texts[i]));
                cr_assert_str_eq(joined, texts[i]);
            }
        }
    }
}

Test(reply_text, joins_lines_and_truncates_like_snprintf)
{
    const char raw[] = "250- 0 byte chunk, total 169\r\n250 OK id=1tJx0a-000ABC-1z\r\n";
    smtpcore_reply r = {250, {0, 0, 0}, {raw, sizeof raw - 1}, 2, 0};
    const char want[] = " 0 byte chunk, total 169\nOK id=1tJx0a-000ABC-1z";
    char out[128];
    cr_assert_eq(smtpcore_reply_text(&r, out, sizeof out), sizeof want - 1);
    cr_assert_str_eq(out, want);
    /* Truncated output stays NUL-terminated; the return value is still the full length. */
    char small[8];
    memset(small, 'x', sizeof small);
    cr_assert_eq(smtpcore_reply_text(&r, small, sizeof small), sizeof want - 1);
    cr_assert_str_eq(small, " 0 byte");
    /* Length only, and the empty cases. */
    cr_assert_eq(smtpcore_reply_text(&r, NULL, 0), sizeof want - 1);
    cr_assert_eq(smtpcore_reply_text(NULL, out, sizeof out), 0);
    cr_assert_str_eq(out, "");
    smtpcore_reply none = {0, {0, 0, 0}, {NULL, 0}, 0, 0};
    cr_assert_eq(smtpcore_reply_text(&none, out, sizeof out), 0);
    /* A bare code line and a bare-LF line end. */
    const char raw2[] = "250-\n250\r\n";
    smtpcore_reply r2 = {250, {0, 0, 0}, {raw2, sizeof raw2 - 1}, 2, SMTPCORE_REPLY_BARE_LF};
    cr_assert_eq(smtpcore_reply_text(&r2, out, sizeof out), 1);
    cr_assert_str_eq(out, "\n");
}

Test(reply_default, table)
{
    struct {
        int code;
        unsigned c, s, d;
    } want[] = {
        {250, 2, 0, 0}, {221, 2, 0, 0}, {220, 2, 0, 0}, {235, 2, 7, 0}, {251, 2, 1, 5},
        {354, 0, 0, 0}, {334, 0, 0, 0}, {421, 4, 3, 0}, {450, 4, 2, 0}, {451, 4, 3, 0},
        {452, 4, 3, 1}, {454, 4, 7, 0}, {500, 5, 5, 2}, {501, 5, 5, 4}, {502, 5, 5, 1},
        {503, 5, 5, 1}, {504, 5, 5, 4}, {530, 5, 7, 0}, {535, 5, 7, 8}, {550, 5, 0, 0},
        {552, 5, 2, 2}, {553, 5, 1, 3}, {554, 5, 0, 0}, {555, 5, 5, 4}, {299, 2, 0, 0},
        {499, 4, 0, 0}, {599, 5, 0, 0}, {199, 0, 0, 0}, {0, 0, 0, 0}, {600, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        smtpcore_enhanced e = sc_enhanced_default(want[i].code);
        cr_assert_eq(e.cls, want[i].c, "code %d", want[i].code);
        cr_assert_eq(e.subject, want[i].s, "code %d", want[i].code);
        cr_assert_eq(e.detail, want[i].d, "code %d", want[i].code);
        /* Whatever the table says, the class always matches the code (RFC 2034). */
        if (e.cls)
            cr_assert_eq(e.cls, want[i].code / 100);
    }
}
