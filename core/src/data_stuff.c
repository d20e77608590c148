/* DATA body stuffing and CRLF normalisation (client side).
 *
 * Every CR or LF in the input leaves as exactly one CRLF (a CRLF pair counts once), so
 * the output can never hold a bare CR or LF and the client can never send a smuggling
 * sequence, whatever the host hands us. A CR is written as CRLF at once and remembered
 * in pending_cr, so that an LF arriving next (possibly in the next call) is swallowed:
 * nothing is ever held back across calls.
 *
 * Speed: runs of ordinary bytes are located with a CR-or-LF scan (SSE2 when available)
 * and copied with memcpy. */
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
