/* SPDX-License-Identifier: MIT */
/* PROXY protocol v1/v2: parse a received header, write one, walk TLVs.
 * Spec: haproxy.org doc/proxy-protocol.txt (versions 1 and 2). */
#include <string.h>

#include "proxy.h"
#include "sc_text.h"

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static const char v1_sig[6] = {'P', 'R', 'O', 'X', 'Y', ' '};

/* ---- CRC32C ---- */

/* Reflected Castagnoli polynomial 0x82F63B78, four bits at a time: a 64-byte table is
 * enough for headers of at most a few KiB, and it is const (no start-up, no state). */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x105ec76fu, 0x20bd8edeu, 0x30e349b1u, 0x417b1dbcu, 0x5125dad3u,
    0x61c69362u, 0x7198540du, 0x82f63b78u, 0x92a8fc17u, 0xa24bb5a6u, 0xb21572c9u,
    0xc38d26c4u, 0xd3d3e1abu, 0xe330a81au, 0xf36e6f75u};

uint32_t sc_crc32c(uint32_t crc, const unsigned char *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    }
    return ~crc;
}

/* ---- addresses ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A decimal number 0..max without leading zeros; 1 if valid. */
static int dec_parse(const char *s, size_t n, unsigned max, unsigned *out)
{
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return 0;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        v = v * 10u + (unsigned)(s[i] - '0');
    }
    if (v > max)
        return 0;
    *out = v;
    return 1;
}

int sc_ipv4_parse(const char *s, size_t n, unsigned char out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t b = i;
        while (i < n && is_digit(s[i]))
            i++;
        unsigned v;
        if (!dec_parse(s + b, i - b, 255, &v))
            return 0;
        out[part] = (unsigned char)v;
        if (part < 3) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
    }
    return i == n;
}

int sc_ipv6_parse(const char *s, size_t n, unsigned char out[16])
{
    unsigned char b[16];
    size_t at = 0;          /* bytes written */
    long gap = -1;          /* where "::" was, in bytes */
    size_t i = 0;
    if (n < 2 || n > 45)
        return 0;
    if (s[0] == ':') {
        if (s[1] != ':')
            return 0;
        gap = 0;
        i = 2;
        if (i == n) {
            memset(out, 0, 16);
            return 1;
        }
    }
    while (i < n) {
        size_t g = i;
        unsigned v = 0;
        while (i < n && i - g < 5 && hex_val(s[i]) >= 0)
            v = v * 16u + (unsigned)hex_val(s[i++]);
        size_t len = i - g;
        if (i < n && s[i] == '.') {
            /* An embedded IPv4 tail: the last 4 bytes. */
            if (at > 12 || !sc_ipv4_parse(s + g, n - g, b + at))
                return 0;
            at += 4;
            i = n;
            break;
        }
        if (len == 0 || len > 4 || at > 14)
            return 0;
        b[at++] = (unsigned char)(v >> 8);
        b[at++] = (unsigned char)v;
        if (i == n)
            break;
        if (s[i] != ':')
            return 0;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return 0;
            gap = (long)at;
            i++;
            if (i == n)
                break;
        } else if (i == n) {
            return 0; /* a trailing single ':' */
        }
    }
    if (gap < 0) {
        if (at != 16)
            return 0;
        memcpy(out, b, 16);
        return 1;
    }
    if (at > 14)
        return 0; /* "::" must stand for at least one group */
    size_t head = (size_t)gap, tail = at - head;
    memset(out, 0, 16);
    memcpy(out, b, head);
    memcpy(out + 16 - tail, b + head, tail);
    return 1;
}

static size_t ipv4_text(char *o, const unsigned char *a)
{
    size_t n = 0;
    for (int i = 0; i < 4; i++) {
        if (i)
            o[n++] = '.';
        n += sc_dec_u64(o + n, a[i]);
    }
    o[n] = '\0';
    return n;
}

/* RFC 5952: lower case, no leading zeros, the longest run (first on a tie) of two or
 * more zero groups as "::", and ::ffff:a.b.c.d for IPv4-mapped addresses. */
static size_t ipv6_text(char *o, const unsigned char *a)
{
    static const char hexd[] = "0123456789abcdef";
    unsigned g[8];
    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    size_t n = 0;
    if (!g[0] && !g[1] && !g[2] && !g[3] && !g[4] && g[5] == 0xffffu) {
        memcpy(o, "::ffff:", 7);
        return 7 + ipv4_text(o + 7, a + 12);
    }
    int best = -1, best_len = 1;
    for (int i = 0; i < 8;) {
        if (g[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && !g[j])
            j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            o[n++] = ':';
            if (i == 0)
                o[n++] = ':';
            i += best_len - 1;
            continue;
        }
        int started = 0;
        for (int sh = 12; sh >= 0; sh -= 4) {
            unsigned d = (g[i] >> sh) & 15u;
            if (d || started || sh == 0) {
                o[n++] = hexd[d];
                started = 1;
            }
        }
        if (i < 7)
            o[n++] = ':';
    }
    o[n] = '\0';
    return n;
}

/* ---- TLVs ---- */

int smtpcore_proxy_tlv_next(smtpcore_str *area, smtpcore_proxy_tlv *tlv)
{
    if (!area || !tlv || (!area->ptr && area->len))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (area->len == 0)
        return 0;
    if (area->len < 3)
        return SMTPCORE_ERR_SYNTAX;
    const unsigned char *p = (const unsigned char *)area->ptr;
    size_t len = (size_t)p[1] << 8 | p[2];
    if (area->len - 3 < len)
        return SMTPCORE_ERR_SYNTAX;
    tlv->type = p[0];
    tlv->value.ptr = area->ptr + 3;
    tlv->value.len = len;
    area->ptr += 3 + len;
    area->len -= 3 + len;
    return 1;
}

int smtpcore_proxy_ssl_parse(smtpcore_str value, smtpcore_proxy_ssl *out)
{
    if (!out || (!value.ptr && value.len))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (value.len < 5)
        return SMTPCORE_ERR_SYNTAX;
    const unsigned char *p = (const unsigned char *)value.ptr;
    out->client = p[0];
    out->verify = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    out->subtlvs.ptr = value.ptr + 5;
    out->subtlvs.len = value.len - 5;
    return SMTPCORE_OK;
}

/* ---- parsing ---- */

static long fail(sc_proxy_error *err, smtpcore_violation v, const char *msg)
{
    err->v = v;
    err->msg = msg;
    return -1;
}

/* Next space-delimited token of line[*pos, n); returns its length (0: none). */
static size_t v1_token(const char *line, size_t n, size_t *pos, const char **tok)
{
    size_t b = *pos, i = b;
    while (i < n && line[i] != ' ')
        i++;
    *tok = line + b;
    *pos = i < n ? i + 1 : i;
    return i - b;
}

static long parse_v1(const char *p, size_t n, int eof, smtpcore_proxy_header *h,
                     sc_proxy_error *err)
{
    size_t look = n < SC_PROXY_V1_MAX ? n : SC_PROXY_V1_MAX;
    const char *lf = memchr(p, '\n', look);
    if (!lf) {
        if (n >= SC_PROXY_V1_MAX)
            return fail(err, SMTPCORE_V_PROXY_TOO_LONG, "PROXY v1 line over 107 octets");
        return eof ? fail(err, SMTPCORE_V_PROXY_TRUNCATED, "PROXY v1 line incomplete") : 0;
    }
    size_t total = (size_t)(lf - p) + 1;
    if (total < 2 || p[total - 2] != '\r')
        return fail(err, SMTPCORE_V_PROXY_V1_SYNTAX, "PROXY v1 line without CRLF");
    size_t ln = total - 2;
    for (size_t i = 0; i < ln; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c > 0x7e)
            return fail(err, SMTPCORE_V_PROXY_V1_SYNTAX, "PROXY v1 line with a control byte");
    }
    size_t pos = 6;
    const char *t;
    size_t tl = v1_token(p, ln, &pos, &t);
    memset(h, 0, sizeof *h);
    h->version = 1;
    h->command = SMTPCORE_PROXY_CMD_PROXY;
    h->header_len = total;
    if (tl == 7 && memcmp(t, "UNKNOWN", 7) == 0) {
        /* The rest of the line is to be ignored (spec 2.1). */
        h->family = SMTPCORE_PROXY_AF_UNSPEC;
        return (long)total;
    }
    int v6;
    if (tl == 4 && memcmp(t, "TCP4", 4) == 0)
        v6 = 0;
    else if (tl == 4 && memcmp(t, "TCP6", 4) == 0)
        v6 = 1;
    else
        return fail(err, SMTPCORE_V_PROXY_V1_SYNTAX, "PROXY v1 protocol not TCP4, TCP6 or UNKNOWN");
    const char *f[4];
    size_t fl[4];
    for (int i = 0; i < 4; i++) {
        fl[i] = v1_token(p, ln, &pos, &f[i]);
        if (fl[i] == 0)
            return fail(err, SMTPCORE_V_PROXY_V1_SYNTAX, "PROXY v1 line: missing field");
    }
    if (pos != ln || p[ln - 1] == ' ')
        return fail(err, SMTPCORE_V_PROXY_V1_SYNTAX, "PROXY v1 line: extra field");
    unsigned char bin[16];
    for (int i = 0; i < 2; i++) {
        int ok = v6 ? sc_ipv6_parse(f[i], fl[i], bin) : sc_ipv4_parse(f[i], fl[i], bin);
        if (!ok)
            return fail(err, SMTPCORE_V_PROXY_BAD_ADDRESS, "PROXY v1 line: bad address");
    }
    unsigned sp, dp;
    if (!dec_parse(f[2], fl[2], 65535, &sp) || !dec_parse(f[3], fl[3], 65535, &dp))
        return fail(err, SMTPCORE_V_PROXY_BAD_ADDRESS, "PROXY v1 line: bad port");
    h->family = v6 ? SMTPCORE_PROXY_AF_INET6 : SMTPCORE_PROXY_AF_INET;
    h->transport = SMTPCORE_PROXY_TRANSPORT_STREAM;
    h->src_addr.ptr = f[0];
    h->src_addr.len = fl[0];
    h->dst_addr.ptr = f[1];
    h->dst_addr.len = fl[1];
    h->src_port = (uint16_t)sp;
    h->dst_port = (uint16_t)dp;
    return (long)total;
}

/* Checks the TLV area of a complete v2 header: well formed, CRC32C right when present. */
static long check_tlvs(const unsigned char *hdr, size_t total, smtpcore_str area,
                       sc_proxy_error *err)
{
    smtpcore_proxy_tlv t;
    int seen_crc = 0;
    int rc;
    while ((rc = smtpcore_proxy_tlv_next(&area, &t)) == 1) {
        if (t.type == SMTPCORE_PP2_TYPE_CRC32C) {
            if (t.value.len != 4 || seen_crc)
                return fail(err, SMTPCORE_V_PROXY_BAD_TLV, "PROXY v2 CRC32C TLV malformed");
            seen_crc = 1;
            const unsigned char *v = (const unsigned char *)t.value.ptr;
            size_t off = (size_t)(v - hdr);
            uint32_t want = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 |
                            (uint32_t)v[2] << 8 | v[3];
            /* The checksum covers the whole header with its own field as zeros. */
            static const unsigned char zero[4] = {0, 0, 0, 0};
            uint32_t c = sc_crc32c(0, hdr, off);
            c = sc_crc32c(c, zero, 4);
            c = sc_crc32c(c, hdr + off + 4, total - off - 4);
            if (c != want)
                return fail(err, SMTPCORE_V_PROXY_BAD_CRC, "PROXY v2 CRC32C mismatch");
        } else if (t.type == SMTPCORE_PP2_TYPE_UNIQUE_ID && t.value.len > 128) {
            return fail(err, SMTPCORE_V_PROXY_BAD_TLV, "PROXY v2 UNIQUE_ID over 128 octets");
        } else if (t.type == SMTPCORE_PP2_TYPE_SSL) {
            smtpcore_proxy_ssl ssl;
            if (smtpcore_proxy_ssl_parse(t.value, &ssl) != SMTPCORE_OK)
                return fail(err, SMTPCORE_V_PROXY_BAD_TLV, "PROXY v2 SSL TLV too short");
            smtpcore_proxy_tlv sub;
            int src;
            while ((src = smtpcore_proxy_tlv_next(&ssl.subtlvs, &sub)) == 1) {
            }
            if (src < 0)
                return fail(err, SMTPCORE_V_PROXY_BAD_TLV, "PROXY v2 SSL sub-TLV truncated");
        }
    }
    if (rc < 0)
        return fail(err, SMTPCORE_V_PROXY_BAD_TLV, "PROXY v2 TLV truncated");
    return 0;
}

static long parse_v2(const char *p, size_t n, size_t max, int eof, smtpcore_proxy_header *h,
                     sc_proxy_text *txt, sc_proxy_error *err)
{
    const unsigned char *u = (const unsigned char *)p;
    if (n < SC_PROXY_V2_FIXED)
        return eof ? fail(err, SMTPCORE_V_PROXY_TRUNCATED, "PROXY v2 header incomplete") : 0;
    unsigned ver = u[12] >> 4, cmd = u[12] & 15u;
    unsigned fam = u[13] >> 4, proto = u[13] & 15u;
    size_t len = (size_t)u[14] << 8 | u[15];
    if (ver != 2)
        return fail(err, SMTPCORE_V_PROXY_UNSUPPORTED, "PROXY v2 version not 2");
    if (cmd > 1)
        return fail(err, SMTPCORE_V_PROXY_UNSUPPORTED, "PROXY v2 command not LOCAL or PROXY");
    if (SC_PROXY_V2_FIXED + len > max)
        return fail(err, SMTPCORE_V_PROXY_TOO_LONG, "PROXY v2 header over the configured limit");
    static const size_t addr_len[4] = {0, 12, 36, 216};
    if (cmd == 1) {
        if (fam > 3 || proto > 2)
            return fail(err, SMTPCORE_V_PROXY_UNSUPPORTED, "PROXY v2 family or transport unknown");
        if (len < addr_len[fam])
            return fail(err, SMTPCORE_V_PROXY_LENGTH_MISMATCH,
                        "PROXY v2 length too short for the address family");
    }
    size_t total = SC_PROXY_V2_FIXED + len;
    if (n < total)
        return eof ? fail(err, SMTPCORE_V_PROXY_TRUNCATED, "PROXY v2 header incomplete") : 0;
    memset(h, 0, sizeof *h);
    h->version = 2;
    h->header_len = total;
    h->command = cmd ? SMTPCORE_PROXY_CMD_PROXY : SMTPCORE_PROXY_CMD_LOCAL;
    /* LOCAL: the address block, family included, is to be ignored (spec 2.2); its TLVs
     * are still read when the block is of a known family and fits. */
    size_t al = 0;
    if (fam <= 3 && proto <= 2 && len >= addr_len[fam])
        al = addr_len[fam];
    else if (cmd == 0)
        al = len;
    const unsigned char *a = u + SC_PROXY_V2_FIXED;
    if (cmd == 1) {
        h->family = (smtpcore_proxy_family)fam;
        h->transport = (smtpcore_proxy_transport)proto;
        if (fam == 1) {
            h->src_addr.ptr = txt->src;
            h->src_addr.len = ipv4_text(txt->src, a);
            h->dst_addr.ptr = txt->dst;
            h->dst_addr.len = ipv4_text(txt->dst, a + 4);
            h->src_port = (uint16_t)(a[8] << 8 | a[9]);
            h->dst_port = (uint16_t)(a[10] << 8 | a[11]);
        } else if (fam == 2) {
            h->src_addr.ptr = txt->src;
            h->src_addr.len = ipv6_text(txt->src, a);
            h->dst_addr.ptr = txt->dst;
            h->dst_addr.len = ipv6_text(txt->dst, a + 16);
            h->src_port = (uint16_t)(a[32] << 8 | a[33]);
            h->dst_port = (uint16_t)(a[34] << 8 | a[35]);
        } else if (fam == 3) {
            /* sockaddr_un paths: 108 octets each, NUL-padded. */
            const char *sp = p + SC_PROXY_V2_FIXED, *dp = sp + 108;
            const char *se = memchr(sp, '\0', 108), *de = memchr(dp, '\0', 108);
            h->src_addr.ptr = sp;
            h->src_addr.len = se ? (size_t)(se - sp) : 108;
            h->dst_addr.ptr = dp;
            h->dst_addr.len = de ? (size_t)(de - dp) : 108;
        }
    }
    h->tlvs.ptr = p + SC_PROXY_V2_FIXED + al;
    h->tlvs.len = len - al;
    if (check_tlvs(u, total, h->tlvs, err) < 0)
        return -1;
    return (long)total;
}

long sc_proxy_parse(const char *p, size_t n, smtpcore_proxy_mode mode, size_t max, int eof,
                    smtpcore_proxy_header *h, sc_proxy_text *txt, sc_proxy_error *err)
{
    if (n == 0)
        return eof ? fail(err, SMTPCORE_V_PROXY_TRUNCATED, "connection closed before the PROXY header") : 0;
    int v2;
    if (mode == SMTPCORE_PROXY_ANY)
        v2 = (unsigned char)p[0] == v2_sig[0];
    else
        v2 = mode == SMTPCORE_PROXY_V2;
    const char *sig = v2 ? (const char *)v2_sig : v1_sig;
    size_t sl = v2 ? sizeof v2_sig : sizeof v1_sig;
    size_t cmp = n < sl ? n : sl;
    if (memcmp(p, sig, cmp) != 0) {
        if (mode == SMTPCORE_PROXY_ANY)
            return fail(err, SMTPCORE_V_PROXY_BAD_SIGNATURE, "no PROXY header (v1 or v2 expected)");
        return fail(err, SMTPCORE_V_PROXY_BAD_SIGNATURE,
                    v2 ? "no PROXY v2 header" : "no PROXY v1 header");
    }
    if (n < sl)
        return eof ? fail(err, SMTPCORE_V_PROXY_TRUNCATED, "PROXY header incomplete") : 0;
    if (v2)
        return parse_v2(p, n, max, eof, h, txt, err);
    return parse_v1(p, n, eof, h, err);
}

/* ---- writing (client) ---- */

int sc_proxy_write(char *out, size_t cap, smtpcore_proxy_mode mode, const char *src,
                   const char *dst, uint16_t sport, uint16_t dport)
{
    unsigned char sb[16], db[16];
    int fam = 0; /* 0 none, 1 v4, 2 v6 */
    if ((src == NULL) != (dst == NULL))
        return SMTPCORE_ERR_SYNTAX;
    if (src) {
        size_t sl = strlen(src), dl = strlen(dst);
        if (sc_ipv4_parse(src, sl, sb) && sc_ipv4_parse(dst, dl, db))
            fam = 1;
        else if (sc_ipv6_parse(src, sl, sb) && sc_ipv6_parse(dst, dl, db))
            fam = 2;
        else
            return SMTPCORE_ERR_SYNTAX;
    }
    char tmp[SC_PROXY_V1_MAX + 1];
    size_t n = 0;
    if (mode == SMTPCORE_PROXY_V1) {
        memcpy(tmp, "PROXY ", 6);
        n = 6;
        if (!fam) {
            memcpy(tmp + n, "UNKNOWN", 7);
            n += 7;
        } else {
            memcpy(tmp + n, fam == 1 ? "TCP4 " : "TCP6 ", 5);
            n += 5;
            /* Written in canonical form, whatever spelling the host used. */
            n += fam == 1 ? ipv4_text(tmp + n, sb) : ipv6_text(tmp + n, sb);
            tmp[n++] = ' ';
            n += fam == 1 ? ipv4_text(tmp + n, db) : ipv6_text(tmp + n, db);
            tmp[n++] = ' ';
            n += sc_dec_u64(tmp + n, sport);
            tmp[n++] = ' ';
            n += sc_dec_u64(tmp + n, dport);
        }
        tmp[n++] = '\r';
        tmp[n++] = '\n';
    } else if (mode == SMTPCORE_PROXY_V2) {
        unsigned char *u = (unsigned char *)tmp;
        memcpy(u, v2_sig, 12);
        size_t al = fam == 1 ? 12 : fam == 2 ? 36 : 0;
        u[12] = fam ? 0x21 : 0x20;               /* version 2, PROXY or LOCAL */
        u[13] = (unsigned char)(fam ? (fam << 4) | 1 : 0); /* INET/INET6 over STREAM */
        u[14] = 0;
        u[15] = (unsigned char)al;
        size_t k = fam == 1 ? 4 : 16;
        if (fam) {
            memcpy(u + 16, sb, k);
            memcpy(u + 16 + k, db, k);
            u[16 + 2 * k] = (unsigned char)(sport >> 8);
            u[17 + 2 * k] = (unsigned char)sport;
            u[18 + 2 * k] = (unsigned char)(dport >> 8);
            u[19 + 2 * k] = (unsigned char)dport;
        }
        n = 16 + al;
    } else {
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    }
    if (n > cap)
        return SMTPCORE_ERR_BUFFER_FULL;
    memcpy(out, tmp, n);
    return (int)n;
}
