/* DATA body stuffing and CRLF normalisation (client side).
 *
 * Every CR or LF in the input leaves as exactly one CRLF (a CRLF pair counts once), so
 * the output can never hold a bare CR or LF and the client can never send a smuggling
 * sequence, whatever the host hands us. A CR is written as CRLF at once and remembered
 * in pending_cr, so that an LF arriving next (possibly in the next call) is swallowed:
 * nothing is ever held back across calls.
 *
 * Speed: with SSE2, 64-byte blocks are classified at once and copied whole unless they
 * hold something to rewrite (a bare CR or LF, or a dot starting a line); CRLF pairs are
 * ordinary bytes. Elsewhere runs between CR/LF are copied with memcpy. */
#include "data.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Index of the first CR or LF in p[0, n), or n. */
static size_t find_cr_or_lf(const unsigned char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r');
    const __m128i lf = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
        if (m != 0)
            return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    for (; i < n; i++)
        if (p[i] == '\r' || p[i] == '\n')
            return i;
    return n;
}

#if defined(__SSE2__)
static uint64_t eq_mask64(__m128i a, __m128i b, __m128i c, __m128i d, __m128i x)
{
    uint64_t m0 = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, x));
    uint64_t m1 = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, x));
    uint64_t m2 = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(c, x));
    uint64_t m3 = (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(d, x));
    return m0 | (m1 << 16) | (m2 << 32) | (m3 << 48);
}

/* Copies clean 64-byte blocks from in+*ip to out+*op while there is room, stopping before
 * the first byte that needs rewriting: an LF not preceded by CR, a CR not followed by LF
 * within the block (a CR in the last lane is left to the slow path, which knows how to
 * carry it across calls), or a line-leading dot when stuffing. Requires !pending_cr. */
static void fast_blocks(sc_stuffer *s, const unsigned char *in, size_t len, size_t *ip,
                        char *out, size_t cap, size_t *op)
{
    const __m128i crv = _mm_set1_epi8('\r');
    const __m128i lfv = _mm_set1_epi8('\n');
    uint64_t bol_carry = s->at_line_start ? 1u : 0u;
    uint64_t dot_on = s->dot_stuff ? ~(uint64_t)0 : 0;
    size_t i = *ip, o = *op;
    while (i + 64 <= len && cap - o >= 64) {
        const unsigned char *p = in + i;
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + 48));
        uint64_t cr = eq_mask64(a, b, c, d, crv);
        uint64_t lf = eq_mask64(a, b, c, d, lfv);
        uint64_t bol = (lf << 1) | bol_carry;
        uint64_t trouble = (lf & ~(cr << 1)) | (cr & ~(lf >> 1));
        /* Line starts are few (one per line), so look at those bytes directly rather
         * than comparing all 64 against '.'. */
        for (uint64_t m = bol & dot_on; m != 0; m &= m - 1) {
            unsigned j = (unsigned)__builtin_ctzll(m);
            if (p[j] == '.')
                trouble |= (uint64_t)1 << j;
        }
        if (trouble == 0) {
            char *q = out + o;
            _mm_storeu_si128((__m128i *)(void *)q, a);
            _mm_storeu_si128((__m128i *)(void *)(q + 16), b);
            _mm_storeu_si128((__m128i *)(void *)(q + 32), c);
            _mm_storeu_si128((__m128i *)(void *)(q + 48), d);
            i += 64;
            o += 64;
            bol_carry = lf >> 63;
            continue;
        }
        unsigned k = (unsigned)__builtin_ctzll(trouble);
        memcpy(out + o, p, k);
        i += k;
        o += k;
        bol_carry = (bol >> k) & 1u;
        break;
    }
    if (i != *ip)
        s->at_line_start = (int)bol_carry;
    *ip = i;
    *op = o;
}
#endif

void sc_stuffer_init(sc_stuffer *s, int dot_stuff, int binary)
{
    s->at_line_start = 1; /* the body starts right after the DATA command's CRLF */
    s->pending_cr = 0;
    s->dot_stuff = dot_stuff ? 1 : 0;
    s->binary = binary ? 1 : 0;
}

size_t sc_stuff(sc_stuffer *s, const char *cin, size_t len, char *out, size_t cap,
                size_t *in_used)
{
    const unsigned char *in = (const unsigned char *)cin;
    size_t ip = 0, op = 0;
    if (s->binary) {
        size_t n = len < cap ? len : cap;
        if (n > 0)
            memcpy(out, in, n);
        *in_used = n;
        return n;
    }
    while (ip < len) {
#if defined(__SSE2__)
        if (!s->pending_cr) {
            fast_blocks(s, in, len, &ip, out, cap, &op);
            if (ip == len)
                break;
        }
#endif
        unsigned char c = in[ip];
        if (s->pending_cr) {
            s->pending_cr = 0;
            if (c == '\n') { /* second half of a CRLF already written */
                ip++;
                continue;
            }
        }
        size_t room = cap - op;
        if (c == '\r' || c == '\n') {
            if (room < 2)
                break;
            out[op++] = '\r';
            out[op++] = '\n';
            ip++;
            s->pending_cr = c == '\r';
            s->at_line_start = 1;
            continue;
        }
        if (s->at_line_start && s->dot_stuff && c == '.') {
            if (room < 2)
                break;
            out[op++] = '.';
            out[op++] = '.';
            ip++;
            s->at_line_start = 0;
            continue;
        }
        size_t run = find_cr_or_lf(in + ip, len - ip);
        if (run > room)
            run = room;
        if (run == 0)
            break;
        memcpy(out + op, in + ip, run);
        op += run;
        ip += run;
        s->at_line_start = 0;
    }
    *in_used = ip;
    return op;
}

size_t sc_stuff_finish(sc_stuffer *s, char *out, size_t cap)
{
    if (cap < 5)
        return (size_t)-1;
    size_t op = 0;
    s->pending_cr = 0; /* its CRLF is already out */
    if (s->dot_stuff && !s->binary) {
        if (!s->at_line_start) {
            out[op++] = '\r';
            out[op++] = '\n';
        }
        out[op++] = '.';
        out[op++] = '\r';
        out[op++] = '\n';
    }
    s->at_line_start = 1;
    return op;
}
