/* SPDX-License-Identifier: MIT */
/* The usual MAIL/RCPT path, "<" Dot-string "@" Domain ">", recognised in one pass and
 * inline in its callers: sc_path_parse_at() (syntax.c) starts with sc_path_fast(), and
 * the command parser calls it first itself, so that the common path costs no call with
 * out-parameters in memory (30 instructions of about 200 per path). Every other shape,
 * and anything sc_path_fast() cannot decide, is syntax.c's. Internal, not installed. */
#ifndef SC_SYNTAX_PATH_H
#define SC_SYNTAX_PATH_H

#include <stddef.h>
#include <stdint.h>

#include "syntax.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Inline even where the compiler would rather make a clone (it did, keeping the call). */
#if defined(__GNUC__)
#define SC_SYN_INLINE static inline __attribute__((always_inline))
#else
#define SC_SYN_INLINE static inline
#endif

/* RFC 5321 4.5.3.1.1: a local part is at most 64 octets. */
#define SC_SYN_LOCAL_MAX 64u

/* Byte classes (sc_syn_cls, syntax.c), one table load per byte on the MAIL/RCPT hot path
 * (callgrind showed chained range tests as the parser's largest cost). SC_CLS_LDH is a
 * domain label character, SC_CLS_ATEXT is RFC 5322 atext (ALPHA / DIGIT /
 * "!#$%&'*+-/=?^_`{|}~"). '.', '@', '>' and '[' belong to no class, so a class test alone
 * stops at them. */
enum {
    SC_CLS_ALPHA = 1u << 0,
    SC_CLS_DIGIT = 1u << 1,
    SC_CLS_HYPHEN = 1u << 2,
    SC_CLS_SPECIAL = 1u << 3, /* atext that is neither alphanumeric nor '-' */
    SC_CLS_8BIT = 1u << 4,
    SC_CLS_LDH = SC_CLS_ALPHA | SC_CLS_DIGIT | SC_CLS_HYPHEN,
    SC_CLS_ATEXT = SC_CLS_LDH | SC_CLS_SPECIAL
};
extern const unsigned char sc_syn_cls[256];

/* Scans a Domain at the start of p[0, len) up to the first byte that cannot belong to one
 * (or len). Returns that offset with *labels and *eight set, or SIZE_MAX when what was
 * scanned breaks the grammar (empty, too long, bad label, a trailing dot, bad UTF-8). */
size_t sc_domain_scan(const unsigned char *p, size_t len, uint32_t flags, size_t *labels,
                      int *eight);

/* A Dot-string local part (Atom *("." Atom), RFC 5321 4.1.2) at the start of p[0, len),
 * ending at '@' or at len: returns its length, or 0 when it is not one. With
 * SC_SYN_UTF8 a byte >= 0x80 counts as atext and sets *eight (the caller checks the
 * UTF-8). */
SC_SYN_INLINE size_t sc_dot_string(const unsigned char *p, size_t len, uint32_t flags,
                                   int *eight)
{
    unsigned hi = (flags & SC_SYN_UTF8) ? SC_CLS_8BIT : 0u;
    size_t i = 0;
    for (;;) {
        size_t atom = i;
        for (;;) {
            while (i < len && (sc_syn_cls[p[i]] & SC_CLS_ATEXT))
                i++;
            if (i == len || !(sc_syn_cls[p[i]] & hi))
                break;
            *eight = 1;
            i++;
        }
        if (i == atom)
            return 0;
        if (i < len && p[i] == '.') {
            i++;
            continue;
        }
        return (i == len || p[i] == '@') ? i : 0;
    }
}

#if defined(__SSE2__)
/* sc_domain_scan() for a short ASCII domain, decided by bit masks over one 16-byte window
 * instead of a loop per byte. The window is p[0, 16) when len >= 16, else the 16 bytes
 * that end at p + len: `before` bytes in front of p must be readable for that (the
 * caller's line). Returns what sc_domain_scan() returns, or 0 when the scalar scan must
 * decide (the domain does not end inside the window, a byte >= 0x80 stops it, too
 * little to read); a valid domain is never empty, so 0 is no answer. */
SC_SYN_INLINE size_t sc_domain_scan16(const unsigned char *p, size_t len, size_t before,
                                       size_t *labels)
{
    unsigned shift;
    const unsigned char *w;
    if (len >= 16) {
        w = p;
        shift = 0;
    } else if (len + before >= 16) {
        w = p + len - 16;
        shift = (unsigned)(16 - len);
    } else {
        return 0;
    }
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)w);
    /* Letters (case folded), digits, '-' and '.', by unsigned range tests. */
    __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i al = _mm_sub_epi8(lower, _mm_set1_epi8('a'));
    __m128i is_alpha = _mm_cmpeq_epi8(_mm_min_epu8(al, _mm_set1_epi8(25)), al);
    __m128i dg = _mm_sub_epi8(v, _mm_set1_epi8('0'));
    __m128i is_digit = _mm_cmpeq_epi8(_mm_min_epu8(dg, _mm_set1_epi8(9)), dg);
    __m128i is_hy = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
    __m128i is_dot = _mm_cmpeq_epi8(v, _mm_set1_epi8('.'));
    uint32_t ok = (uint32_t)_mm_movemask_epi8(
                      _mm_or_si128(_mm_or_si128(is_alpha, is_digit), _mm_or_si128(is_hy, is_dot))) >>
                  shift;
    uint32_t dot = (uint32_t)_mm_movemask_epi8(is_dot) >> shift;
    uint32_t hy = (uint32_t)_mm_movemask_epi8(is_hy) >> shift;
    size_t avail = 16 - shift;
    uint32_t stops = ~ok & ((1u << avail) - 1u);
    if (!stops)
        return 0; /* the domain may go on past the window */
    unsigned n = (unsigned)__builtin_ctz(stops);
    if (p[n] >= 0x80)
        return 0; /* UTF-8 or not: sc_domain_scan() knows */
    if (n == 0)
        return SIZE_MAX;
    uint32_t in = (1u << n) - 1u, first = 1u, last = 1u << (n - 1);
    dot &= in;
    hy &= in;
    /* Labels are not empty (no dot first, last or twice in a row) and do not start or
     * end with '-'; a window holds no label over 63 octets nor a domain over 255. */
    if ((dot & (first | last)) || (dot & (dot >> 1)) || (hy & (first | last)) ||
        (hy & ((dot << 1) | (dot >> 1))))
        return SIZE_MAX;
    *labels = (size_t)__builtin_popcount(dot) + 1;
    return n;
}
#endif

/* A path whose mailbox at s[i..] is a Dot-string local part and a Domain, directly
 * followed by '>': returns the offset after the '>' (setting *utf8), or 0 when the path
 * has another shape or is invalid, for the general parser to decide. Valid Dot-strings
 * and Domains hold no '>', so the '>' found here is the one the general parser finds. */
SC_SYN_INLINE size_t sc_path_fast(const char *s, size_t len, size_t before, size_t i,
                                  uint32_t flags, int *utf8)
{
    const unsigned char *p = (const unsigned char *)s;
    if (i >= len || p[i] == '"')
        return 0;
    int eight = 0;
    size_t l = sc_dot_string(p + i, len - i, flags, &eight);
    if (l == 0 || l > SC_SYN_LOCAL_MAX || i + l >= len || p[i + l] != '@')
        return 0;
    if (eight && !sc_utf8_valid(s + i, l))
        return 0;
    size_t d = i + l + 1, labels;
    int dom_eight = 0;
    size_t dl = 0;
#if defined(__SSE2__)
    dl = sc_domain_scan16(p + d, len - d, before + d, &labels);
#else
    (void)before;
#endif
    if (dl == 0)
        dl = sc_domain_scan(p + d, len - d, flags, &labels, &dom_eight);
    if (dl == SIZE_MAX || d + dl >= len || p[d + dl] != '>')
        return 0;
    if (utf8)
        *utf8 = eight | dom_eight;
    return d + dl + 1;
}

#endif
