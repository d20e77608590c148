/* SPDX-License-Identifier: MIT */
/* RFC 5321 4.1.2 / 4.1.3 address syntax, RFC 6531 UTF-8, RFC 3461 xtext.
 * Every function is a bounded single pass over its input; nothing allocates. */
#include <stdint.h>
#include <string.h>

#include "sc_text.h"
#include "syntax.h"
#include "syntax_path.h"

enum {
    SC_LOCAL_MAX = SC_SYN_LOCAL_MAX,
    SC_DOMAIN_MAX = 255, /* RFC 5321 4.5.3.1.2 */
    SC_LABEL_MAX = 63    /* RFC 1035 2.3.4 */
};

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

/* The byte classes of syntax_path.h, one table load per byte. */
const unsigned char sc_syn_cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  8,  0,  8,  8,  8,  8,  8,  0,  0,  8,  8,  0,  4,  0,  8,
     2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  0,  0,  0,  8,  0,  8,
     0,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  0,  0,  0,  8,  8,
     8,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,
     1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  1,  8,  8,  8,  8,  0,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
    16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
};

int sc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* bounds of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* > U+10FFFF */
        } else {
            return 0; /* continuation byte, C0/C1 overlong lead, F5..FF */
        }
        if (len - i <= n)
            return 0;
        if (p[i + 1] < lo || p[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= n; k++)
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
        i += n + 1;
    }
    return 1;
}

static int label_ok(const unsigned char *p, size_t start, size_t end)
{
    size_t n = end - start;
    return n != 0 && n <= SC_LABEL_MAX && p[start] != '-' && p[end - 1] != '-';
}

size_t sc_domain_scan(const unsigned char *p, size_t len, uint32_t flags, size_t *labels,
                      int *eight)
{
    /* ASCII label characters take the tight inner loop; UTF-8 and dots the outer one. */
    unsigned hi = (flags & SC_SYN_UTF8) ? SC_CLS_8BIT : 0u;
    const unsigned char *q = p, *end = p + len;
    size_t n = 0, start = 0;
    int e8 = 0;
    for (;;) {
        while (q < end && (sc_syn_cls[*q] & SC_CLS_LDH))
            q++;
        if (q == end)
            break;
        if (sc_syn_cls[*q] & hi) {
            e8 = 1;
            q++;
            continue;
        }
        if (*q != '.')
            break;
        size_t i = (size_t)(q - p);
        if (!label_ok(p, start, i))
            return SIZE_MAX;
        n++;
        start = i + 1;
        q++;
    }
    size_t i = (size_t)(q - p);
    /* Also refuses a trailing dot, which is not in the grammar, and an empty domain. */
    if (!label_ok(p, start, i) || i > SC_DOMAIN_MAX)
        return SIZE_MAX;
    if (e8 && !sc_utf8_valid((const char *)p, i))
        return SIZE_MAX;
    *labels = n + 1;
    *eight = e8;
    return i;
}

/* Counts labels; returns 0 when invalid. Sets *eight when a byte >= 0x80 was seen. */
static size_t domain_labels(const char *s, size_t len, uint32_t flags, int *eight)
{
    size_t labels = 0;
    *eight = 0;
    if (sc_domain_scan((const unsigned char *)s, len, flags, &labels, eight) != len)
        return 0;
    return labels;
}

int sc_domain_valid(const char *s, size_t len, uint32_t flags)
{
    int eight;
    return domain_labels(s, len, flags, &eight) != 0;
}

/* Snum "." Snum "." Snum "." Snum, each 0..255 in 1..3 digits. */
static int ipv4_valid(const unsigned char *p, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || p[i] != '.')
                return 0;
            i++;
        }
        unsigned v = 0, nd = 0;
        while (i < len && is_digit(p[i]) && nd < 3) {
            v = v * 10 + (unsigned)(p[i] - '0');
            i++;
            nd++;
        }
        if (nd == 0 || v > 255)
            return 0;
    }
    return i == len;
}

/* RFC 5321 4.1.3 IPv6-addr: IPv6-full / IPv6-comp / IPv6v4-full / IPv6v4-comp.
 * The compressed forms carry at most 6 explicit 16-bit groups (4 plus an IPv4 tail). */
static int ipv6_valid(const unsigned char *p, size_t len)
{
    size_t i = 0, groups = 0;
    int compressed = 0, v4 = 0;
    if (len >= 2 && p[0] == ':' && p[1] == ':') {
        compressed = 1;
        i = 2;
        if (i == len)
            return 1; /* "::" */
    } else if (len && p[0] == ':') {
        return 0;
    }
    for (;;) {
        size_t start = i;
        while (i < len && is_hex(p[i]) && i - start < 5)
            i++;
        if (i < len && p[i] == '.') {
            /* IPv4 tail: re-scan from start up to the end. */
            if (!ipv4_valid(p + start, len - start))
                return 0;
            v4 = 1;
            groups += 2;
            break;
        }
        size_t n = i - start;
        if (n == 0 || n > 4)
            return 0;
        groups++;
        if (i == len)
            break;
        if (p[i] != ':')
            return 0;
        i++;
        if (i < len && p[i] == ':') {
            if (compressed)
                return 0; /* a second "::" */
            compressed = 1;
            i++;
            if (i == len)
                break;
        } else if (i == len) {
            return 0; /* trailing single colon */
        }
        if (groups > 8)
            return 0;
    }
    (void)v4;
    if (compressed)
        return groups <= 6;
    return groups == 8;
}

smtpcore_helo_class sc_address_literal_class(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len < 3 || p[0] != '[' || p[len - 1] != ']')
        return SMTPCORE_HELO_INVALID;
    p++;
    len -= 2;
    if (ipv4_valid(p, len))
        return SMTPCORE_HELO_IPV4_LITERAL;
    /* Standardized-tag = Ldh-str: let-dig *(ALPHA / DIGIT / "-") let-dig. */
    size_t t = 0;
    while (t < len && (is_alpha(p[t]) || is_digit(p[t]) || p[t] == '-'))
        t++;
    if (t == 0 || t >= len || p[t] != ':' || p[0] == '-' || p[t - 1] == '-')
        return SMTPCORE_HELO_INVALID;
    if (t == 4 && sc_ascii_lower(p[0]) == 'i' && sc_ascii_lower(p[1]) == 'p' &&
        sc_ascii_lower(p[2]) == 'v' && p[3] == '6')
        return ipv6_valid(p + 5, len - 5) ? SMTPCORE_HELO_IPV6_LITERAL : SMTPCORE_HELO_INVALID;
    if (t + 1 == len)
        return SMTPCORE_HELO_INVALID;
    for (size_t i = t + 1; i < len; i++) {
        unsigned char c = p[i];
        /* dcontent = %d33-90 / %d94-126 */
        if (c < 33 || c > 126 || (c >= 91 && c <= 93))
            return SMTPCORE_HELO_INVALID;
    }
    return SMTPCORE_HELO_GENERAL_LITERAL;
}

/* Length of the local part at s (up to but excluding '@'), or 0 when invalid. */
static size_t local_part(const unsigned char *p, size_t len, uint32_t flags, int *eight)
{
    size_t i = 0;
    if (len && p[0] == '"') {
        i = 1;
        for (;;) {
            if (i >= len)
                return 0;
            unsigned char c = p[i];
            if (c == '"')
                break;
            if (c == '\\') {
                if (i + 1 >= len || p[i + 1] < 32 || p[i + 1] > 126)
                    return 0;
                i += 2;
                continue;
            }
            if (c >= 0x80) {
                if (!(flags & SC_SYN_UTF8))
                    return 0;
                *eight = 1;
            } else if (c < 32 || c > 126) {
                return 0; /* qtextSMTP is %d32-33 / %d35-91 / %d93-126 */
            }
            i++;
        }
        return i + 1;
    }
    return sc_dot_string(p, len, flags, eight);
}

int sc_mailbox_valid(const char *s, size_t len, uint32_t flags, int *utf8)
{
    const unsigned char *p = (const unsigned char *)s;
    int eight = 0;
    size_t l = local_part(p, len, flags, &eight);
    if (l == 0 || l > SC_LOCAL_MAX || l >= len || p[l] != '@')
        return 0;
    const char *dom = s + l + 1;
    size_t dlen = len - l - 1;
    if (dlen && dom[0] == '[') {
        if (sc_address_literal_class(dom, dlen) == SMTPCORE_HELO_INVALID)
            return 0;
    } else {
        int dom_eight;
        if (domain_labels(dom, dlen, flags, &dom_eight) == 0)
            return 0;
        eight |= dom_eight;
    }
    if (eight && !sc_utf8_valid(s, l))
        return 0;
    if (utf8)
        *utf8 = eight;
    return 1;
}

/* A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain. Returns its length. */
static size_t adl_len(const char *s, size_t len, uint32_t flags)
{
    size_t i = 0;
    for (;;) {
        if (i >= len || s[i] != '@')
            return 0;
        size_t start = ++i;
        while (i < len && s[i] != ',' && s[i] != ':')
            i++;
        if (!sc_domain_valid(s + start, i - start, flags))
            return 0;
        if (i >= len)
            return 0;
        if (s[i] == ':')
            return i;
        i++;
    }
}


size_t sc_path_parse(const char *s, size_t len, int allow_null, uint32_t flags,
                     const char **mbox, size_t *mbox_len, int *utf8)
{
    return sc_path_parse_at(s, len, 0, allow_null, flags, mbox, mbox_len, utf8);
}

size_t sc_path_parse_at(const char *s, size_t len, size_t before, int allow_null,
                        uint32_t flags, const char **mbox, size_t *mbox_len, int *utf8)
{
    if (utf8)
        *utf8 = 0;
    if (len < 2 || s[0] != '<')
        return 0;
    if (s[1] == '>') {
        if (!allow_null)
            return 0;
        *mbox = s + 1;
        *mbox_len = 0;
        return 2;
    }
    size_t i = 1;
    if (s[1] == '@') {
        size_t a = adl_len(s + 1, len - 1, flags);
        if (a == 0)
            return 0;
        i = 1 + a + 1;
    }
    /* The common shape, Dot-string "@" Domain ">", in one pass with no search for '>'. */
    size_t fast = sc_path_fast(s, len, before, i, flags, utf8);
    if (fast) {
        *mbox = s + i;
        *mbox_len = fast - 1 - i;
        return fast;
    }
    /* The mailbox ends at the first '>' outside a quoted local part. */
    size_t j = i;
    if (j < len && s[j] == '"') {
        j++;
        while (j < len && s[j] != '"') {
            if (s[j] == '\\')
                j++;
            j++;
        }
        if (j >= len)
            return 0;
    }
    /* Usually no address literal: two memchr passes instead of a byte loop. */
    const char *gt = j < len ? memchr(s + j, '>', len - j) : NULL;
    if (gt && !memchr(s + j, '[', (size_t)(gt - (s + j))))
        j = (size_t)(gt - s);
    /* A general address literal may contain '>' (dcontent includes %d62): skip it whole. */
    while (j < len && s[j] != '>') {
        if (s[j] == '[') {
            while (j < len && s[j] != ']')
                j++;
            if (j >= len)
                return 0;
        }
        j++;
    }
    if (j >= len)
        return 0;
    int eight = 0;
    if (!sc_mailbox_valid(s + i, j - i, flags, &eight))
        return 0;
    *mbox = s + i;
    *mbox_len = j - i;
    if (utf8)
        *utf8 = eight;
    return j + 1;
}

int sc_sasl_mech_valid(const char *s, size_t len)
{
    if (len == 0 || len > SC_SASL_MECH_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!sc_sasl_mech_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* xchar = %d33-42 / %d44-60 / %d62-126; hexchar = "+" 2(DIGIT / "A".."F"). */
static int is_xchar(unsigned char c) { return c >= 33 && c <= 126 && c != '+' && c != '='; }
static int is_uhex(unsigned char c) { return is_digit(c) || (c >= 'A' && c <= 'F'); }
static unsigned hexval(unsigned char c) { return is_digit(c) ? (unsigned)(c - '0') : (unsigned)(c - 'A' + 10); }

int sc_xtext_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '+') {
            if (len - i < 3 || !is_uhex(p[i + 1]) || !is_uhex(p[i + 2]))
                return 0;
            i += 2;
        } else if (!is_xchar(p[i])) {
            return 0;
        }
    }
    return 1;
}

size_t sc_xtext_encode(const char *in, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (is_xchar(c)) {
            if (o >= cap)
                return (size_t)-1;
            out[o++] = (char)c;
        } else {
            if (cap - o < 3)
                return (size_t)-1;
            out[o++] = '+';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    return o;
}

int smtpcore_xtext_decode(const char *in, size_t len, char *out, size_t cap, size_t *out_len)
{
    if ((!in && len) || !out_len || (!out && cap))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (!sc_xtext_valid(in, len))
        return SMTPCORE_ERR_SYNTAX;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o >= cap)
            return SMTPCORE_ERR_BUFFER_FULL;
        if (p[i] == '+') {
            out[o++] = (char)((hexval(p[i + 1]) << 4) | hexval(p[i + 2]));
            i += 2;
        } else {
            out[o++] = (char)p[i];
        }
    }
    *out_len = o;
    return SMTPCORE_OK;
}

smtpcore_helo_class smtpcore_helo_classify(const char *name, size_t len)
{
    if (!name || len == 0)
        return SMTPCORE_HELO_INVALID;
    if (name[0] == '[')
        return sc_address_literal_class(name, len);
    /* A trailing dot is not in the RFC 5321 Domain grammar, so "host.example." is INVALID. */
    int eight;
    size_t labels = domain_labels(name, len, 0, &eight);
    if (labels == 0)
        return SMTPCORE_HELO_INVALID;
    return labels == 1 ? SMTPCORE_HELO_SINGLE_LABEL : SMTPCORE_HELO_FQDN;
}

int smtpcore_address_literal(const char *ip, char *out, size_t cap)
{
    if (!ip || (!out && cap))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    size_t n = 0;
    while (n < 64 && ip[n])
        n++;
    if (n == 64)
        return SMTPCORE_ERR_SYNTAX;
    const unsigned char *p = (const unsigned char *)ip;
    const char *prefix;
    if (ipv4_valid(p, n))
        prefix = "[";
    else if (ipv6_valid(p, n))
        prefix = "[IPv6:";
    else
        return SMTPCORE_ERR_SYNTAX;
    size_t pl = strlen(prefix);
    size_t need = pl + n + 2; /* "]" and NUL */
    if (cap < need)
        return SMTPCORE_ERR_BUFFER_FULL;
    memcpy(out, prefix, pl);
    memcpy(out + pl, ip, n);
    out[pl + n] = ']';
    out[pl + n + 1] = '\0';
    return (int)(pl + n + 1);
}

int sc_helo_is_own(const char *name, size_t len, const char *const *own, size_t n_own)
{
    if (!name || !own)
        return 0;
    int literal = len && name[0] == '[';
    if (!literal && len > 1 && name[len - 1] == '.')
        len--;
    for (size_t k = 0; k < n_own; k++) {
        const char *o = own[k];
        if (!o)
            continue;
        size_t ol = strlen(o);
        if (literal) {
            if (ol == len && memcmp(o, name, len) == 0)
                return 1;
            continue;
        }
        if (ol > 1 && o[ol - 1] == '.')
            ol--;
        if (ol != len)
            continue;
        size_t i = 0;
        while (i < len &&
               sc_ascii_lower((unsigned char)o[i]) == sc_ascii_lower((unsigned char)name[i]))
            i++;
        if (i == len)
            return 1;
    }
    return 0;
}
