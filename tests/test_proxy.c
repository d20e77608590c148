/* SPDX-License-Identifier: MIT */
/* PROXY protocol parser and writer (core/src/proxy.c): CRC32C, address text, TLV walking,
 * every outcome independent of how the bytes are split, and the writer read back by the
 * parser. Whole conversations are in tests/transcripts/server/proxy_*.txt. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "proxy.h"

static const char sig[] = "\r\n\r\n\0\r\nQUIT\n";

Test(proxy, crc32c_known_vectors)
{
    /* RFC 3720 B.4 check value and the classic "123456789" one. */
    cr_assert_eq(sc_crc32c(0, (const unsigned char *)"123456789", 9), 0xe3069283u);
    unsigned char zeros[32] = {0};
    cr_assert_eq(sc_crc32c(0, zeros, 32), 0x8a9136aau);
    /* Continuing over pieces gives the same value. */
    uint32_t c = sc_crc32c(0, (const unsigned char *)"1234", 4);
    cr_assert_eq(sc_crc32c(c, (const unsigned char *)"56789", 5), 0xe3069283u);
}

Test(proxy, ipv6_parse)
{
    unsigned char b[16];
    const char *good[] = {"::", "::1", "2001:db8::1", "fe80::", "1:2:3:4:5:6:7:8",
                          "::ffff:192.0.2.1", "1:2:3:4:5:6:192.0.2.1", "2001:DB8::a"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(sc_ipv6_parse(good[i], strlen(good[i]), b), "%s", good[i]);
    const char *bad[] = {"", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::",
                         "1:2:3:4:5:6:7", "g::", "1:", ":1", "::1.2.3", "1:2:3:4:5:6:7:1.2.3.4",
                         "1.2.3.4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!sc_ipv6_parse(bad[i], strlen(bad[i]), b), "%s", bad[i]);
    cr_assert(sc_ipv6_parse("2001:db8::1", 11, b));
    cr_assert_eq(b[0], 0x20);
    cr_assert_eq(b[1], 0x01);
    cr_assert_eq(b[15], 1);
}

Test(proxy, ipv4_parse)
{
    unsigned char b[4];
    cr_assert(sc_ipv4_parse("0.0.0.0", 7, b));
    cr_assert(sc_ipv4_parse("255.255.255.255", 15, b));
    cr_assert_eq(b[3], 255);
    const char *bad[] = {"256.0.0.0", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "a.b.c.d",
                         "1.2.3.4 ", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect(!sc_ipv4_parse(bad[i], strlen(bad[i]), b), "%s", bad[i]);
}

/* Parses buf with every split: each prefix must say "need more" (0) or give the same
 * final answer as the whole, never a different one. */
static long parse_all_prefixes(const char *buf, size_t n, smtpcore_proxy_mode mode, size_t max,
                               smtpcore_proxy_header *h, sc_proxy_text *t, sc_proxy_error *e)
{
    long whole = sc_proxy_parse(buf, n, mode, max, 0, h, t, e);
    smtpcore_violation wv = e->v;
    for (size_t k = 0; k < n; k++) {
        smtpcore_proxy_header h2;
        sc_proxy_text t2;
        sc_proxy_error e2 = {SMTPCORE_V_NONE, ""};
        long r = sc_proxy_parse(buf, k, mode, max, 0, &h2, &t2, &e2);
        if (r == 0)
            continue;
        cr_assert_eq(r, whole, "prefix %zu gave %ld, whole %ld", k, r, whole);
        if (r < 0)
            cr_assert_eq(e2.v, wv);
    }
    return whole;
}

Test(proxy, writer_round_trip_v1_v2)
{
    const struct { const char *src, *dst; int fam; } cases[] = {
        {"192.0.2.1", "198.51.100.2", SMTPCORE_PROXY_AF_INET},
        {"2001:DB8::0:1", "::ffff:10.0.0.1", SMTPCORE_PROXY_AF_INET6},
        {NULL, NULL, SMTPCORE_PROXY_AF_UNSPEC}};
    for (int v = 1; v <= 2; v++) {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char out[128];
            int n = sc_proxy_write(out, sizeof out, (smtpcore_proxy_mode)v, cases[i].src,
                                   cases[i].dst, 4711, 25);
            cr_assert_gt(n, 0);
            smtpcore_proxy_header h;
            sc_proxy_text t;
            sc_proxy_error e = {SMTPCORE_V_NONE, ""};
            long r = parse_all_prefixes(out, (size_t)n, SMTPCORE_PROXY_ANY, 1024, &h, &t, &e);
            cr_assert_eq(r, n, "v%d case %zu: %s", v, i, e.msg);
            cr_assert_eq(h.version, v);
            cr_assert_eq((int)h.family, cases[i].fam);
            if (cases[i].fam == SMTPCORE_PROXY_AF_UNSPEC) {
                cr_assert_eq(h.command, v == 2 ? SMTPCORE_PROXY_CMD_LOCAL : SMTPCORE_PROXY_CMD_PROXY);
                continue;
            }
            cr_assert_eq(h.src_port, 4711);
            cr_assert_eq(h.dst_port, 25);
            /* Written canonical (RFC 5952), whatever spelling the host used. */
            const char *want = i == 0 ? "192.0.2.1" : "2001:db8::1";
            cr_assert_eq(h.src_addr.len, strlen(want));
            cr_assert(memcmp(h.src_addr.ptr, want, h.src_addr.len) == 0);
        }
    }
}

Test(proxy, writer_refuses_bad_input)
{
    char out[128];
    cr_assert_eq(sc_proxy_write(out, sizeof out, SMTPCORE_PROXY_V1, "192.0.2.1", "2001:db8::1", 1, 2),
                 SMTPCORE_ERR_SYNTAX);
    cr_assert_eq(sc_proxy_write(out, sizeof out, SMTPCORE_PROXY_V2, "192.0.2.1", NULL, 1, 2),
                 SMTPCORE_ERR_SYNTAX);
    cr_assert_eq(sc_proxy_write(out, sizeof out, SMTPCORE_PROXY_V1, "host", "198.51.100.2", 1, 2),
                 SMTPCORE_ERR_SYNTAX);
    cr_assert_eq(sc_proxy_write(out, sizeof out, SMTPCORE_PROXY_ANY, NULL, NULL, 1, 2),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_eq(sc_proxy_write(out, 10, SMTPCORE_PROXY_V1, NULL, NULL, 0, 0),
                 SMTPCORE_ERR_BUFFER_FULL);
}

Test(proxy, v2_header_split_everywhere_with_tlvs_and_crc)
{
    unsigned char b[128];
    memcpy(b, sig, 12);
    b[12] = 0x21;
    b[13] = 0x11;
    size_t n = 16;
    const unsigned char addrs[12] = {192, 0, 2, 1, 198, 51, 100, 2, 0x12, 0x67, 0, 25};
    memcpy(b + n, addrs, 12);
    n += 12;
    const unsigned char tl[] = {0x01, 0, 4, 's', 'm', 't', 'p', 0x03, 0, 4, 0, 0, 0, 0};
    memcpy(b + n, tl, sizeof tl);
    n += sizeof tl;
    b[14] = 0;
    b[15] = (unsigned char)(n - 16);
    uint32_t c = sc_crc32c(0, b, n);
    b[n - 4] = (unsigned char)(c >> 24);
    b[n - 3] = (unsigned char)(c >> 16);
    b[n - 2] = (unsigned char)(c >> 8);
    b[n - 1] = (unsigned char)c;
    smtpcore_proxy_header h;
    sc_proxy_text t;
    sc_proxy_error e = {SMTPCORE_V_NONE, ""};
    cr_assert_eq(parse_all_prefixes((const char *)b, n, SMTPCORE_PROXY_V2, 1024, &h, &t, &e),
                 (long)n);
    smtpcore_str area = h.tlvs;
    smtpcore_proxy_tlv tlv;
    cr_assert_eq(smtpcore_proxy_tlv_next(&area, &tlv), 1);
    cr_assert_eq(tlv.type, SMTPCORE_PP2_TYPE_ALPN);
    cr_assert_eq(tlv.value.len, 4);
    cr_assert_eq(smtpcore_proxy_tlv_next(&area, &tlv), 1);
    cr_assert_eq(tlv.type, SMTPCORE_PP2_TYPE_CRC32C);
    cr_assert_eq(smtpcore_proxy_tlv_next(&area, &tlv), 0);
    /* One flipped bit anywhere after the signature is a CRC (or other) failure, except in
     * the CRC TLV's own type byte (n - 7): that makes it an unknown TLV, and a header
     * without a CRC32C TLV is not checked (spec 2.2.5). */
    for (size_t i = 16; i < n; i++) {
        if (i == n - 7)
            continue;
        b[i] ^= 0x40;
        long r = sc_proxy_parse((const char *)b, n, SMTPCORE_PROXY_V2, 1024, 1, &h, &t, &e);
        cr_assert_lt(r, 0, "byte %zu", i);
        b[i] ^= 0x40;
    }
}

Test(proxy, tlv_next_and_ssl_parse_edges)
{
    smtpcore_proxy_tlv t;
    smtpcore_str a = {"\x01\x00", 2};
    cr_assert_eq(smtpcore_proxy_tlv_next(&a, &t), SMTPCORE_ERR_SYNTAX);
    smtpcore_str b = {"\x01\x00\x05xy", 5};
    cr_assert_eq(smtpcore_proxy_tlv_next(&b, &t), SMTPCORE_ERR_SYNTAX);
    smtpcore_str z = {NULL, 0};
    cr_assert_eq(smtpcore_proxy_tlv_next(&z, &t), 0);
    cr_assert_eq(smtpcore_proxy_tlv_next(NULL, &t), SMTPCORE_ERR_INVALID_ARGUMENT);
    smtpcore_proxy_ssl ssl;
    smtpcore_str v = {"\x05\x00\x00\x00\x07\x21\x00\x01X", 9};
    cr_assert_eq(smtpcore_proxy_ssl_parse(v, &ssl), SMTPCORE_OK);
    cr_assert_eq(ssl.client, 5);
    cr_assert_eq(ssl.verify, 7);
    cr_assert_eq(smtpcore_proxy_tlv_next(&ssl.subtlvs, &t), 1);
    cr_assert_eq(t.type, SMTPCORE_PP2_SUBTYPE_SSL_VERSION);
    smtpcore_str shortv = {"\x01\x00", 2};
    cr_assert_eq(smtpcore_proxy_ssl_parse(shortv, &ssl), SMTPCORE_ERR_SYNTAX);
}

Test(proxy, eof_and_signatures)
{
    smtpcore_proxy_header h;
    sc_proxy_text t;
    sc_proxy_error e = {SMTPCORE_V_NONE, ""};
    cr_assert_eq(sc_proxy_parse("", 0, SMTPCORE_PROXY_ANY, 1024, 0, &h, &t, &e), 0);
    cr_assert_eq(sc_proxy_parse("", 0, SMTPCORE_PROXY_ANY, 1024, 1, &h, &t, &e), -1);
    cr_assert_eq(e.v, SMTPCORE_V_PROXY_TRUNCATED);
    cr_assert_eq(sc_proxy_parse("PRO", 3, SMTPCORE_PROXY_V1, 1024, 0, &h, &t, &e), 0);
    cr_assert_eq(sc_proxy_parse("PRX", 3, SMTPCORE_PROXY_V1, 1024, 0, &h, &t, &e), -1);
    cr_assert_eq(e.v, SMTPCORE_V_PROXY_BAD_SIGNATURE);
    /* The first byte is enough for ANY to refuse a plain SMTP client. */
    cr_assert_eq(sc_proxy_parse("E", 1, SMTPCORE_PROXY_ANY, 1024, 0, &h, &t, &e), -1);
    cr_assert_eq(sc_proxy_parse(sig, 3, SMTPCORE_PROXY_ANY, 1024, 0, &h, &t, &e), 0);
}

Test(proxy, server_config_bounds_and_memory)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    cr_assert_eq(c.proxy_protocol, SMTPCORE_PROXY_OFF);
    cr_assert_eq(c.proxy_max_header, 1024);
    cr_assert_eq(c.xclient_allowed, 0);
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    size_t plain = smtpcore_server_memory(s);
    cr_assert_null(smtpcore_server_proxy_header(s));
    smtpcore_server_del(s);
    c.proxy_protocol = SMTPCORE_PROXY_V2;
    c.proxy_max_header = 231;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    c.proxy_max_header = 65552;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    c.proxy_max_header = 232;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    smtpcore_server_del(s);
    c.proxy_protocol = (smtpcore_proxy_mode)4;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    /* With PROXY on the session holds the header area (and an input buffer at least as
     * large as the header): the cost is there only when asked for. */
    c.proxy_protocol = SMTPCORE_PROXY_ANY;
    c.proxy_max_header = 1024;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    size_t with = smtpcore_server_memory(s);
    cr_assert_gt(with, plain + 1024);
    cr_assert_lt(with, plain + 1024 + (1024 - 514) + 512);
    smtpcore_server_del(s);
    /* Without the accessor's event, attributes are not available. */
    smtpcore_server_config_init(&c);
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    smtpcore_xclient_attrs a;
    cr_assert_eq(smtpcore_server_xclient_attrs(s, &a, sizeof a), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(smtpcore_server_set_xclient_allowed(s, 1), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_set_xclient_allowed(NULL, 1), SMTPCORE_ERR_INVALID_ARGUMENT);
    smtpcore_server_del(s);
}

Test(proxy, xclient_attrs_older_smaller_struct)
{
    /* A caller that knows only the first two attributes gets those, nothing written past. */
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.xclient_allowed = 1;
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    const smtpcore_server_event *ev;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    const char *out;
    cr_assert_gt(smtpcore_server_output(s, &out), 0); /* the 220 went out: not early */
    smtpcore_server_consume(s, smtpcore_server_output(s, &out));
    static const char cmd[] = "XCLIENT ADDR=192.0.2.9 NAME=n.example\r\n";
    size_t used;
    cr_assert_eq(smtpcore_server_receive(s, cmd, sizeof cmd - 1, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_XCLIENT);
    struct { smtpcore_xclient_attrs a; unsigned char guard[8]; } buf;
    memset(&buf, 0xee, sizeof buf);
    size_t two = 2 * sizeof(smtpcore_xclient_attr);
    cr_assert_eq(smtpcore_server_xclient_attrs(s, &buf.a, two), SMTPCORE_OK);
    cr_assert_eq(buf.a.name.state, SMTPCORE_XCLIENT_VALUE);
    cr_assert_eq(buf.a.addr.value.len, 9);
    cr_assert(memcmp(buf.a.addr.value.ptr, "192.0.2.9", 9) == 0);
    cr_assert_eq(((unsigned char *)&buf.a)[two], 0xee);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_xclient_attrs(s, &buf.a, sizeof buf.a), SMTPCORE_ERR_INVALID_STATE);
    smtpcore_server_del(s);
}
