/* SPDX-License-Identifier: MIT */
/* RFC 5321 4.1.2/4.1.3 address syntax, RFC 6531 UTF-8, RFC 3461 xtext, HELO classes. */
#include <criterion/criterion.h>
#include <string.h>

#include "syntax.h"

#define S(x) x, sizeof(x) - 1

static int mbox(const char *s, uint32_t flags)
{
    int u = -1;
    return sc_mailbox_valid(s, strlen(s), flags, &u);
}

static smtpcore_helo_class lit(const char *s) { return sc_address_literal_class(s, strlen(s)); }

static void fill(char *b, char c, size_t n)
{
    memset(b, c, n);
    b[n] = '\0';
}

/* ---- UTF-8 ---- */

Test(utf8, valid_sequences)
{
    cr_assert(sc_utf8_valid(S("plain ascii")));
    cr_assert(sc_utf8_valid(S("\xc3\xa9")));             /* U+00E9 */
    cr_assert(sc_utf8_valid(S("\xe2\x82\xac")));         /* U+20AC */
    cr_assert(sc_utf8_valid(S("\xf0\x9f\x98\x80")));     /* U+1F600 */
    cr_assert(sc_utf8_valid(S("\xf4\x8f\xbf\xbf")));     /* U+10FFFF */
    cr_assert(sc_utf8_valid(S("\xed\x9f\xbf")));         /* U+D7FF, just below surrogates */
    cr_assert(sc_utf8_valid(S("\xee\x80\x80")));         /* U+E000 */
    cr_assert(sc_utf8_valid("", 0));
}

Test(utf8, invalid_sequences)
{
    cr_assert_not(sc_utf8_valid(S("\xc0\x80")));         /* overlong NUL */
    cr_assert_not(sc_utf8_valid(S("\xc1\xbf")));         /* overlong */
    cr_assert_not(sc_utf8_valid(S("\xe0\x80\xaf")));     /* overlong 3-byte */
    cr_assert_not(sc_utf8_valid(S("\xf0\x80\x80\xaf"))); /* overlong 4-byte */
    cr_assert_not(sc_utf8_valid(S("\xed\xa0\x80")));     /* surrogate D800 */
    cr_assert_not(sc_utf8_valid(S("\xed\xbf\xbf")));     /* surrogate DFFF */
    cr_assert_not(sc_utf8_valid(S("\xf4\x90\x80\x80"))); /* > U+10FFFF */
    cr_assert_not(sc_utf8_valid(S("\xf5\x80\x80\x80")));
    cr_assert_not(sc_utf8_valid(S("\xff")));
    cr_assert_not(sc_utf8_valid(S("\x80")));             /* lone continuation */
    cr_assert_not(sc_utf8_valid(S("\xc3")));             /* truncated */
    cr_assert_not(sc_utf8_valid(S("\xe2\x82")));         /* truncated */
    cr_assert_not(sc_utf8_valid(S("\xe2\x28\xa1")));     /* bad continuation */
    cr_assert_not(sc_utf8_valid(S("\xf0\x9f\x98")));     /* truncated 4-byte */
}

/* ---- domains ---- */

Test(domain, valid)
{
    cr_assert(sc_domain_valid(S("example.com"), 0));
    cr_assert(sc_domain_valid(S("a"), 0));
    cr_assert(sc_domain_valid(S("x-1.y2.Z"), 0));
    cr_assert(sc_domain_valid(S("123.example"), 0));
}

Test(domain, invalid)
{
    cr_assert_not(sc_domain_valid("", 0, 0));
    cr_assert_not(sc_domain_valid(S("-a.example"), 0));
    cr_assert_not(sc_domain_valid(S("a-.example"), 0));
    cr_assert_not(sc_domain_valid(S("a..example"), 0));
    cr_assert_not(sc_domain_valid(S(".example"), 0));
    cr_assert_not(sc_domain_valid(S("example."), 0));
    cr_assert_not(sc_domain_valid(S("under_score.example"), 0));
    cr_assert_not(sc_domain_valid(S("sp ace.example"), 0));
}

Test(domain, label_63_64)
{
    char b[300];
    fill(b, 'a', 63);
    strcat(b, ".example");
    cr_assert(sc_domain_valid(b, strlen(b), 0));
    fill(b, 'a', 64);
    strcat(b, ".example");
    cr_assert_not(sc_domain_valid(b, strlen(b), 0));
}

Test(domain, total_255_256)
{
    /* 4 labels of 63 + 3 dots = 255 */
    char b[300];
    size_t o = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            b[o++] = '.';
        memset(b + o, 'a', 63);
        o += 63;
    }
    cr_assert_eq(o, 255);
    cr_assert(sc_domain_valid(b, o, 0));
    b[o++] = 'b'; /* last label 64 would also fail: make it 62+. "b" */
    b[o - 2] = '.';
    cr_assert_eq(o, 256);
    cr_assert_not(sc_domain_valid(b, o, 0));
}

Test(domain, utf8_u_labels)
{
    cr_assert_not(sc_domain_valid(S("b\xc3\xbc" "cher.example"), 0));
    cr_assert(sc_domain_valid(S("b\xc3\xbc" "cher.example"), SC_SYN_UTF8));
    cr_assert_not(sc_domain_valid(S("b\xc0\x80" "r.example"), SC_SYN_UTF8));
}

/* ---- address literals ---- */

Test(literal, ipv4)
{
    cr_assert_eq(lit("[192.0.2.1]"), SMTPCORE_HELO_IPV4_LITERAL);
    cr_assert_eq(lit("[0.0.0.0]"), SMTPCORE_HELO_IPV4_LITERAL);
    cr_assert_eq(lit("[255.255.255.255]"), SMTPCORE_HELO_IPV4_LITERAL);
    cr_assert_eq(lit("[256.1.1.1]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[1.2.3]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[1.2.3.4.5]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[1.2.3.4"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[1..3.4]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[1234.1.1.1]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[]"), SMTPCORE_HELO_INVALID);
}

Test(literal, ipv6_forms)
{
    cr_assert_eq(lit("[IPv6:::]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:::1]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:1::]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:2001:db8::1]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:2001:DB8:0:0:0:0:0:1]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[ipv6:2001:db8::1]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:::ffff:192.0.2.1]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:0:0:0:0:0:ffff:192.0.2.1]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:1:2:3:4:5:6::]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:1:2::3:4:5:6]"), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(lit("[IPv6:1:2::3:4:192.0.2.1]"), SMTPCORE_HELO_IPV6_LITERAL);
}

Test(literal, ipv6_invalid)
{
    cr_assert_eq(lit("[IPv6:1:2:3:4:5:6:7:8:9]"), SMTPCORE_HELO_INVALID); /* 9 groups */
    cr_assert_eq(lit("[IPv6:1:2:3:4:5:6:7]"), SMTPCORE_HELO_INVALID);     /* 7, no :: */
    cr_assert_eq(lit("[IPv6:1::2::3]"), SMTPCORE_HELO_INVALID);           /* two :: */
    cr_assert_eq(lit("[IPv6:1:2:3:4:5:6:7::]"), SMTPCORE_HELO_INVALID);   /* 7 + :: (RFC 5321) */
    cr_assert_eq(lit("[IPv6:12345::1]"), SMTPCORE_HELO_INVALID);          /* 5 hex digits */
    cr_assert_eq(lit("[IPv6:g::1]"), SMTPCORE_HELO_INVALID);              /* bad hex */
    cr_assert_eq(lit("[IPv6::1]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:1:]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:::::]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:1:2:3:4:5:6:7:192.0.2.1]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:1:2:3:4:5::192.0.2.1]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:::192.0.2.256]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[IPv6:::1.2.3.4:5]"), SMTPCORE_HELO_INVALID);
    /* Without the IPv6 tag this is a general literal with tag "2001" (RFC 5321 4.1.3). */
    cr_assert_eq(lit("[2001:db8::1]"), SMTPCORE_HELO_GENERAL_LITERAL);
}

Test(literal, general)
{
    cr_assert_eq(lit("[x-tag:some.content]"), SMTPCORE_HELO_GENERAL_LITERAL);
    cr_assert_eq(lit("[tag9:!~]"), SMTPCORE_HELO_GENERAL_LITERAL);
    cr_assert_eq(lit("[tag:]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[-tag:x]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[tag-:x]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[tag:a b]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[tag:a[b]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[tag:a\\b]"), SMTPCORE_HELO_INVALID);
    cr_assert_eq(lit("[:x]"), SMTPCORE_HELO_INVALID);
}

/* ---- mailboxes ---- */

Test(mailbox, dot_string)
{
    cr_assert(mbox("user@example.com", 0));
    cr_assert(mbox("first.last+tag@example.com", 0));
    cr_assert(mbox("!#$%&'*+-/=?^_`{|}~@x", 0));
    cr_assert_not(mbox(".user@example.com", 0));
    cr_assert_not(mbox("user.@example.com", 0));
    cr_assert_not(mbox("us..er@example.com", 0));
    cr_assert_not(mbox("us er@example.com", 0));
    cr_assert_not(mbox("user@", 0));
    cr_assert_not(mbox("@example.com", 0));
    cr_assert_not(mbox("user", 0));
    cr_assert_not(mbox("a(b)@example.com", 0));
    cr_assert_not(mbox("a@b@example.com", 0));
}

Test(mailbox, quoted_string)
{
    cr_assert(mbox("\"john doe\"@example.com", 0));
    cr_assert(mbox("\"a\\\"b\"@example.com", 0));   /* quoted pair \" */
    cr_assert(mbox("\"a\\\\b\"@example.com", 0));   /* quoted pair \\ */
    cr_assert(mbox("\"a@b\"@example.com", 0));
    cr_assert(mbox("\"\"@example.com", 0));
    cr_assert_not(mbox("\"a\"b\"@example.com", 0));  /* unescaped quote */
    cr_assert_not(mbox("\"ab@example.com", 0));      /* unterminated */
    cr_assert_not(mbox("\"a\\\x01\"@example.com", 0)); /* quoted pair needs %d32-126 */
    cr_assert_not(mbox("\"a\tb\"@example.com", 0));
    cr_assert_not(mbox("\"a\"x@example.com", 0));
}

Test(mailbox, local_part_64_65)
{
    char b[200];
    fill(b, 'a', 64);
    strcat(b, "@example.com");
    cr_assert(mbox(b, 0));
    fill(b, 'a', 65);
    strcat(b, "@example.com");
    cr_assert_not(mbox(b, 0));
}

Test(mailbox, address_literal_domain)
{
    cr_assert(mbox("u@[192.0.2.1]", 0));
    cr_assert(mbox("u@[IPv6:2001:db8::1]", 0));
    cr_assert(mbox("u@[x:y]", 0));
    cr_assert_not(mbox("u@[300.0.0.1]", 0));
}

Test(mailbox, utf8)
{
    int u = 0;
    const char *m = "j\xc3\xb6rg@b\xc3\xbc" "cher.example";
    cr_assert_not(sc_mailbox_valid(m, strlen(m), 0, &u));
    cr_assert(sc_mailbox_valid(m, strlen(m), SC_SYN_UTF8, &u));
    cr_assert_eq(u, 1);
    cr_assert(sc_mailbox_valid(S("a@b.example"), SC_SYN_UTF8, &u));
    cr_assert_eq(u, 0);
    cr_assert_not(mbox("a\xc0\x80@example.com", SC_SYN_UTF8));     /* overlong */
    cr_assert_not(mbox("a\xed\xa0\x80@example.com", SC_SYN_UTF8)); /* surrogate */
    cr_assert_not(mbox("a\xf4\x90\x80\x80@example.com", SC_SYN_UTF8));
    cr_assert(mbox("\"\xc3\xa9 x\"@example.com", SC_SYN_UTF8));
    cr_assert_not(mbox("\"\xc3\xa9 x\"@example.com", 0));
}

/* ---- paths ---- */

static size_t path(const char *s, int allow_null, const char **m, size_t *ml)
{
    int u;
    return sc_path_parse(s, strlen(s), allow_null, 0, m, ml, &u);
}

Test(path, simple_and_null)
{
    const char *m;
    size_t ml;
    cr_assert_eq(path("<a@b.example> SIZE=1", 0, &m, &ml), 13);
    cr_assert_eq(ml, 11);
    cr_assert_eq(memcmp(m, "a@b.example", 11), 0);
    cr_assert_eq(path("<>", 1, &m, &ml), 2);
    cr_assert_eq(ml, 0);
    cr_assert_eq(path("<>", 0, &m, &ml), 0);
    cr_assert_eq(path("a@b.example", 0, &m, &ml), 0);
    cr_assert_eq(path("<a@b.example", 0, &m, &ml), 0);
    cr_assert_eq(path("<", 1, &m, &ml), 0);
}

Test(path, source_route_dropped)
{
    const char *m;
    size_t ml;
    const char *s = "<@a.example,@b.example:user@c.example>";
    cr_assert_eq(path(s, 0, &m, &ml), strlen(s));
    cr_assert_eq(ml, strlen("user@c.example"));
    cr_assert_eq(memcmp(m, "user@c.example", ml), 0);
    cr_assert_eq(path("<@a.example:u@c.example>", 0, &m, &ml), 24);
    cr_assert_eq(path("<@a.example,u@c.example>", 0, &m, &ml), 0);
    cr_assert_eq(path("<@:u@c.example>", 0, &m, &ml), 0);
    cr_assert_eq(path("<@a.example,b.example:u@c.example>", 0, &m, &ml), 0);
}

Test(path, general_literal_with_angle)
{
    const char *m;
    size_t ml;
    const char *s = "<u@[x-tag:a>b]> SIZE=1";
    cr_assert_eq(path(s, 0, &m, &ml), 15);
    cr_assert_eq(ml, 13);
    cr_assert_eq(path("<u@[x-tag:a>b>", 0, &m, &ml), 0);
}

Test(path, quoted_with_angle)
{
    const char *m;
    size_t ml;
    const char *s = "<\"a>b\"@example.com>";
    cr_assert_eq(path(s, 0, &m, &ml), strlen(s));
    cr_assert_eq(ml, strlen(s) - 2);
}

/* ---- xtext ---- */

Test(xtext, valid_and_invalid)
{
    cr_assert(sc_xtext_valid(S("abc+2Bdef+3D")));
    cr_assert(sc_xtext_valid("", 0));
    cr_assert_not(sc_xtext_valid(S("a+2b")));   /* lower-case hex */
    cr_assert_not(sc_xtext_valid(S("a+2")));
    cr_assert_not(sc_xtext_valid(S("a=b")));
    cr_assert_not(sc_xtext_valid(S("a b")));
    cr_assert_not(sc_xtext_valid(S("a\xc3\xa9")));
}

Test(xtext, decode)
{
    char out[32];
    size_t n = 99;
    cr_assert_eq(smtpcore_xtext_decode(S("a+2Bb+3Dc+20"), out, sizeof out, &n), SMTPCORE_OK);
    cr_assert_eq(n, 6);
    cr_assert_eq(memcmp(out, "a+b=c ", 6), 0);
    cr_assert_eq(smtpcore_xtext_decode(S("a+2Bb"), out, 2, &n), SMTPCORE_ERR_BUFFER_FULL);
    cr_assert_eq(smtpcore_xtext_decode(S("a+zz"), out, sizeof out, &n), SMTPCORE_ERR_SYNTAX);
    cr_assert_eq(smtpcore_xtext_decode(S("ab"), out, sizeof out, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
}

Test(xtext, encode_round_trip)
{
    char all[256], enc[800], dec[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    size_t e = sc_xtext_encode(all, 256, enc, sizeof enc);
    cr_assert_neq(e, (size_t)-1);
    cr_assert(sc_xtext_valid(enc, e));
    size_t d;
    cr_assert_eq(smtpcore_xtext_decode(enc, e, dec, sizeof dec, &d), SMTPCORE_OK);
    cr_assert_eq(d, 256);
    cr_assert_eq(memcmp(all, dec, 256), 0);
    cr_assert_eq(sc_xtext_encode(S("a+"), enc, 3), (size_t)-1);
    cr_assert_eq(sc_xtext_encode(S("a+"), enc, 4), 4);
    cr_assert_eq(memcmp(enc, "a+2B", 4), 0);
    cr_assert_eq(sc_xtext_encode(S("ab"), enc, 1), (size_t)-1);
}

/* ---- HELO ---- */

Test(helo, classes)
{
    cr_assert_eq(smtpcore_helo_classify(S("mail.example.com")), SMTPCORE_HELO_FQDN);
    cr_assert_eq(smtpcore_helo_classify(S("mail.example.com.")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S("localhost.")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S("localhost")), SMTPCORE_HELO_SINGLE_LABEL);
    cr_assert_eq(smtpcore_helo_classify(S("[192.0.2.1]")), SMTPCORE_HELO_IPV4_LITERAL);
    cr_assert_eq(smtpcore_helo_classify(S("[IPv6:2001:db8::1]")), SMTPCORE_HELO_IPV6_LITERAL);
    cr_assert_eq(smtpcore_helo_classify(S("[x-y:z]")), SMTPCORE_HELO_GENERAL_LITERAL);
    cr_assert_eq(smtpcore_helo_classify(S("this is Jupiter")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S("my_host.example")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S("host..example")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S("host.example..")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S(".")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(S("192.0.2.1")), SMTPCORE_HELO_FQDN); /* syntax only */
    cr_assert_eq(smtpcore_helo_classify(S("b\xc3\xbc.example")), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify("", 0), SMTPCORE_HELO_INVALID);
    cr_assert_eq(smtpcore_helo_classify(NULL, 3), SMTPCORE_HELO_INVALID);
}

Test(helo, is_own)
{
    const char *own[] = {"mx.example.com", "[192.0.2.1]", "Other.Example."};
    cr_assert(sc_helo_is_own(S("MX.Example.COM"), own, 3));
    cr_assert(sc_helo_is_own(S("mx.example.com."), own, 3));
    cr_assert(sc_helo_is_own(S("other.example"), own, 3));
    cr_assert(sc_helo_is_own(S("[192.0.2.1]"), own, 3));
    cr_assert_not(sc_helo_is_own(S("[192.0.2.01]"), own, 3));
    cr_assert_not(sc_helo_is_own(S("mx.example"), own, 3));
    cr_assert_not(sc_helo_is_own(S("mx.example.com.."), own, 3));
    cr_assert_not(sc_helo_is_own(S("mx.example.com"), own, 0));
}

Test(helo, address_literal_builder)
{
    char out[64];
    cr_assert_eq(smtpcore_address_literal("192.0.2.1", out, sizeof out), 11);
    cr_assert_str_eq(out, "[192.0.2.1]");
    cr_assert_eq(smtpcore_address_literal("2001:db8::1", out, sizeof out), 18);
    cr_assert_str_eq(out, "[IPv6:2001:db8::1]");
    cr_assert_eq(smtpcore_address_literal("::ffff:192.0.2.1", out, sizeof out), 23);
    cr_assert_eq(smtpcore_address_literal("example.com", out, sizeof out), SMTPCORE_ERR_SYNTAX);
    cr_assert_eq(smtpcore_address_literal("1.2.3.256", out, sizeof out), SMTPCORE_ERR_SYNTAX);
    cr_assert_eq(smtpcore_address_literal("192.0.2.1", out, 11), SMTPCORE_ERR_BUFFER_FULL);
    cr_assert_eq(smtpcore_address_literal("192.0.2.1", out, 12), 11);
    cr_assert_eq(smtpcore_address_literal(NULL, out, 12), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_eq(smtpcore_helo_classify(out, 11), SMTPCORE_HELO_IPV4_LITERAL);
}

/* sc_path_parse_at() with bytes readable in front of the path (the 16-byte window scan of
 * short domains) must give exactly what sc_path_parse() gives: random paths built from
 * the bytes that matter to a domain (letters, digits, '-', '.', '>', '@', '_', space,
 * UTF-8 and other 8-bit bytes), every domain length around the window, with and without
 * something after the '>'. */
static uint64_t path_rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

Test(path, window_scan_agrees_with_byte_scan)
{
    static const char *const parts[] = {"a", "Z", "0", "9", "-", ".", ".", "ex", "ample",
                                        "org", "_", " ", "@", "\xc3\xbc", "\xff", "\x80", "`",
                                        "{", "/", ":"};
    static const char *const tails[] = {"", " SIZE=1", " ", ">", "x"};
    uint64_t st = 0x1234567887654321u;
    char buf[256];
    for (int round = 0; round < 200000; round++) {
        size_t pad = (size_t)(path_rng(&st) % 40); /* readable bytes in front */
        size_t n = 0;
        memset(buf, 'x', pad);
        char *p = buf + pad;
        p[n++] = '<';
        const char *local = (path_rng(&st) % 8) ? "alice" : "a.b";
        memcpy(p + n, local, strlen(local));
        n += strlen(local);
        p[n++] = '@';
        size_t dparts = (size_t)(path_rng(&st) % 12);
        for (size_t k = 0; k < dparts; k++) {
            const char *q = parts[path_rng(&st) % (sizeof parts / sizeof parts[0])];
            if ((path_rng(&st) % 3) != 0)
                q = parts[path_rng(&st) % 10]; /* mostly domain bytes */
            memcpy(p + n, q, strlen(q));
            n += strlen(q);
        }
        if (path_rng(&st) % 8)
            p[n++] = '>';
        const char *t = tails[path_rng(&st) % (sizeof tails / sizeof tails[0])];
        memcpy(p + n, t, strlen(t));
        n += strlen(t);
        for (uint32_t flags = 0; flags <= SC_SYN_UTF8; flags += SC_SYN_UTF8) {
            const char *m1 = NULL, *m2 = NULL;
            size_t l1 = 7, l2 = 7;
            int u1 = 7, u2 = 7;
            size_t r1 = sc_path_parse(p, n, 1, flags, &m1, &l1, &u1);
            size_t r2 = sc_path_parse_at(p, n, pad, 1, flags, &m2, &l2, &u2);
            cr_assert_eq(r1, r2, "round %d: \"%.*s\" (pad %zu): %zu vs %zu", round, (int)n, p,
                         pad, r1, r2);
            cr_assert_eq(u1, u2, "round %d", round);
            if (r1) {
                cr_assert(m1 == m2 && l1 == l2, "round %d", round);
            }
        }
    }
}

/* RFC 4422 3.1: the one SASL mechanism name definition (server AUTH parser and client
 * configuration check): upper-case letters, digits, '-' and '_', 1 to 20 of them. */
Test(sasl, mechanism_names)
{
    cr_assert(sc_sasl_mech_valid(S("PLAIN")));
    cr_assert(sc_sasl_mech_valid(S("SCRAM-SHA-256")));
    cr_assert(sc_sasl_mech_valid(S("X_OAUTH2")));
    cr_assert(sc_sasl_mech_valid(S("ABCDEFGHIJKLMNOPQRST"))); /* 20 */
    cr_assert_not(sc_sasl_mech_valid(S("ABCDEFGHIJKLMNOPQRSTU")));
    cr_assert_not(sc_sasl_mech_valid("", 0));
    cr_assert_not(sc_sasl_mech_valid(S("plain")));
    cr_assert_not(sc_sasl_mech_valid(S("PL AIN")));
    cr_assert_not(sc_sasl_mech_valid(S("X.Y")));
}
