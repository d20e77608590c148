/* SPDX-License-Identifier: MIT */
/* Line framing: find the next LF, resume where the last call stopped, and classify the
 * bytes of the line once. See line.h for the policy. With SSE2 a clean CRLF line is
 * decided by sc_line_fast() (line.h, inline in the callers) in 32-byte steps; anything
 * else comes here, to the general scan. */
#include "line.h"
#include "scan.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#if defined(__GNUC__)
#define SC_LINE_COLD __attribute__((noinline, cold))
#else
#define SC_LINE_COLD
#endif

/* Internal bit in flags_acc while discarding: the last discarded byte was a CR, so a
 * following LF completes a CRLF rather than a bare LF. Never reported to callers. */
#define SC_LINE_PRIV_CR (1u << 31)

/* Flags of a run of line content (the terminator excluded): any CR inside the content
 * is bare, because a CR followed by LF would have ended the line there. Word-at-a-time
 * so the common clean ASCII line costs little more than the memchr that found it. */
static uint32_t content_flags(const unsigned char *p, size_t n)
{
    uint32_t b = sc_scan_bytes(p, n);
    return ((b & SC_SCAN_NUL) ? SC_LINE_NUL : 0u) | ((b & SC_SCAN_CR) ? SC_LINE_BARE_CR : 0u) |
           ((b & SC_SCAN_8BIT) ? SC_LINE_8BIT : 0u);
}

static uint32_t line_flags(uint32_t scan_bits)
{
    return ((scan_bits & SC_SCAN_NUL) ? SC_LINE_NUL : 0u) |
           ((scan_bits & SC_SCAN_CR) ? SC_LINE_BARE_CR : 0u) |
           ((scan_bits & SC_SCAN_8BIT) ? SC_LINE_8BIT : 0u);
}

size_t sc_line_scan_portable(const unsigned char *p, size_t from, size_t len, uint32_t *bits)
{
    const unsigned char *lf = from < len ? memchr(p + from, '\n', len - from) : NULL;
    size_t i = lf ? (size_t)(lf - p) : len;
    if (i == from) {
        *bits = 0;
        return i;
    }
    /* The last byte before i is classified alone: if it is a CR its fate is not known
     * here (the CR of a CRLF, or undecided at the end of the input). */
    uint32_t b = sc_scan_bytes(p + from, i - 1 - from);
    unsigned char last = p[i - 1];
    if (last == 0)
        b |= SC_SCAN_NUL;
    else if (last >= 0x80)
        b |= SC_SCAN_8BIT;
    *bits = b;
    return i;
}

#if defined(__SSE2__)
/* One 16-byte step of the scan, for the common clean line: lf, cr and odd (NUL, CR or
 * 8-bit) are the byte masks of the block, valid the positions that hold input, *pending
 * whether the byte before the block is a CR. Returns 1 when the block holds the LF and
 * nothing odd precedes it (*at is the LF's position), 0 when it has no LF and nothing
 * odd, -1 as soon as anything needs a closer look (the portable scan then classifies
 * the line exactly; command lines with NUL, bare CR or 8-bit bytes are rare). */
static int scan_block(unsigned lf, unsigned cr, unsigned odd, unsigned valid,
                      unsigned *pending, unsigned *at)
{
    lf &= valid;
    if (lf) {
        unsigned k = (unsigned)__builtin_ctz(lf);
        unsigned before = (1u << k) - 1u;
        /* The CR just before the LF ends the line; a carried CR is bare unless k is 0. */
        if ((odd & before & ~(cr & (lf >> 1))) || (*pending && k != 0))
            return -1;
        *at = k;
        return 1;
    }
    /* A CR in the last valid position is decided by the next byte. */
    unsigned last = (valid + 1u) >> 1;
    if ((odd & valid & ~(cr & last)) || *pending)
        return -1;
    *pending = (cr & last) != 0;
    return 0;
}

static inline size_t scan_line(const unsigned char *p, size_t from, size_t len, uint32_t *bits)
{
    const __m128i vlf = _mm_set1_epi8('\n'), vcr = _mm_set1_epi8('\r');
    const __m128i zero = _mm_setzero_si128();
    unsigned pending = 0, at = 0;
    size_t o = from;
    for (;; o += 16) {
        __m128i v;
        unsigned valid = 0xffffu, shift = 0;
        size_t m = len - o;
        if (m >= 16) {
            v = _mm_loadu_si128((const __m128i *)(const void *)(p + o));
        } else if (m == 0) {
            break;
        } else if (len >= 16) {
            /* The tail as the block that ends at len, the bytes before o shifted out. */
            v = _mm_loadu_si128((const __m128i *)(const void *)(p + len - 16));
            shift = (unsigned)(16 - m);
            valid = (1u << m) - 1u;
        } else {
            unsigned char tmp[16] = {0};
            memcpy(tmp, p + o, m);
            v = _mm_loadu_si128((const __m128i *)(const void *)tmp);
            valid = (1u << m) - 1u;
        }
        __m128i is_cr = _mm_cmpeq_epi8(v, vcr);
        unsigned lf = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, vlf)) >> shift;
        unsigned cr = (unsigned)_mm_movemask_epi8(is_cr) >> shift;
        __m128i odd = _mm_or_si128(_mm_or_si128(is_cr, _mm_cmpeq_epi8(v, zero)), v);
        int r = scan_block(lf, cr, (unsigned)_mm_movemask_epi8(odd) >> shift, valid, &pending,
                           &at);
        if (r > 0) {
            *bits = 0;
            return o + at;
        }
        if (r < 0)
            return sc_line_scan_portable(p, from, len, bits);
        if (m < 16)
            break;
    }
    *bits = 0;
    return len;
}

#else
static inline size_t scan_line(const unsigned char *p, size_t from, size_t len, uint32_t *bits)
{
    return sc_line_scan_portable(p, from, len, bits);
}
#endif

size_t sc_line_scan(const unsigned char *p, size_t from, size_t len, uint32_t *bits)
{
    return scan_line(p, from, len, bits);
}

void sc_line_init(sc_line_framer *f, size_t max_len)
{
    /* 0 means "no limit"; a limit below 2 could never hold even a CRLF. */
    if (max_len == 0)
        max_len = SIZE_MAX;
    else if (max_len < 2)
        max_len = 2;
    f->max_len = max_len;
    sc_line_reset(f);
}

void sc_line_reset(sc_line_framer *f)
{
    f->scanned = 0;
    f->flags_acc = 0;
    f->discarding = 0;
}

void sc_line_discard(sc_line_framer *f)
{
    f->discarding = 1;
    f->scanned = 0;
    f->flags_acc = 0;
}

/* Discard mode: everything up to and including the next LF is thrown away. Flags are
 * still accumulated so the caller can say why it refused the line if it wants to. */
/* Rare (over-long lines only): kept out of line so that sc_line_next stays small. */
SC_LINE_COLD static sc_line_status discard(sc_line_framer *f, const unsigned char *buf,
                                           size_t len, size_t *line_len, size_t *consumed,
                                           uint32_t *flags)
{
    *line_len = 0;
    if (len == 0) {
        *consumed = 0;
        return SC_LINE_NEED_MORE;
    }
    const unsigned char *lf = memchr(buf, '\n', len);
    size_t n = lf ? (size_t)(lf - buf) : len; /* content bytes in this chunk */
    int prev_cr = (f->flags_acc & SC_LINE_PRIV_CR) != 0;
    uint32_t acc = f->flags_acc & ~SC_LINE_PRIV_CR;
    /* A CR held over from the previous chunk is bare unless this chunk starts with LF. */
    if (prev_cr && n > 0)
        acc |= SC_LINE_BARE_CR;
    if (lf) {
        int crlf = n > 0 ? buf[n - 1] == '\r' : prev_cr;
        size_t body = (n > 0 && buf[n - 1] == '\r') ? n - 1 : n;
        acc |= content_flags(buf, body);
        if (!crlf)
            acc |= SC_LINE_BARE_LF;
        *consumed = n + 1;
        *flags = acc;
        f->discarding = 0;
        f->scanned = 0;
        f->flags_acc = 0;
        return SC_LINE_OVERLONG;
    }
    int last_cr = buf[len - 1] == '\r';
    acc |= content_flags(buf, last_cr ? len - 1 : len);
    f->flags_acc = acc | (last_cr ? SC_LINE_PRIV_CR : 0);
    *consumed = len;
    return SC_LINE_NEED_MORE;
}

sc_line_status sc_line_next_general(sc_line_framer *f, const char *cbuf, size_t len,
                                    size_t *line_len, size_t *consumed, uint32_t *flags)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    *flags = 0;
    if (f->discarding)
        return discard(f, buf, len, line_len, consumed, flags);

    *line_len = 0;
    *consumed = 0;
    if (f->scanned > len) { /* the caller broke the contract; rescan from scratch */
        f->scanned = 0;
        f->flags_acc = 0;
    }
    size_t from = f->scanned;
    uint32_t bits = 0;
    size_t i = scan_line(buf, from, len, &bits);
    /* A CR that ended the previous scan is bare unless the LF follows it at once. */
    if (from > 0 && i != from && buf[from - 1] == '\r')
        bits |= SC_SCAN_CR;
    uint32_t acc = f->flags_acc | line_flags(bits);
    if (i == len) {
        if (len >= f->max_len) {
            /* Never buffer more than max_len: drop what we have and skip to the next LF. */
            f->discarding = 1;
            f->flags_acc = acc | ((len > 0 && buf[len - 1] == '\r') ? SC_LINE_PRIV_CR : 0u);
            f->scanned = 0;
            *consumed = len;
            return SC_LINE_NEED_MORE;
        }
        f->flags_acc = acc;
        f->scanned = len;
        return SC_LINE_NEED_MORE;
    }

    int crlf = i > 0 && buf[i - 1] == '\r';
    if (!crlf)
        acc |= SC_LINE_BARE_LF;
    f->scanned = 0;
    f->flags_acc = 0;
    *consumed = i + 1;
    *flags = acc;
    if (i + 1 > f->max_len)
        return SC_LINE_OVERLONG;
    *line_len = crlf ? i - 1 : i;
    return SC_LINE_COMPLETE;
}
