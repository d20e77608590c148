/* SPDX-License-Identifier: MIT */
/* Line framing over a byte stream, zero-copy and bounded.
 *
 * The framer scans the caller's buffer (the session's unconsumed input) for the next line.
 * It never copies and never buffers: bytes stay in the caller's buffer until consumed.
 * Feeding a stream one byte at a time gives the same lines as feeding it whole.
 *
 * Framing rules (the engine's policies on top of them are in docs/design.md, "Security
 * decisions"):
 * - A line ends at CRLF. A lone LF also ends it (so the stream re-synchronises), flagged
 *   SC_LINE_BARE_LF; whether such a line is refused is the caller's policy (the server's
 *   bare_lf_policy).
 * - A CR not followed by LF inside a line is flagged SC_LINE_BARE_CR; NUL is flagged
 *   SC_LINE_NUL; bytes >= 0x80 are flagged SC_LINE_8BIT. Flags never change framing.
 * - A line longer than max_len (terminator included) is not buffered: once max_len bytes
 *   without a terminator are present, the framer consumes them and enters discard mode
 *   until the next LF, then reports SC_LINE_OVERLONG once, with all of it consumed.
 *   Memory needed is therefore at most max_len bytes of buffer.
 */
#ifndef SC_LINE_H
#define SC_LINE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum {
    SC_LINE_BARE_LF = 1u << 0, /* terminated by LF without CR */
    SC_LINE_BARE_CR = 1u << 1, /* a CR not followed by LF inside the line */
    SC_LINE_NUL = 1u << 2,     /* a NUL byte inside the line */
    SC_LINE_8BIT = 1u << 3     /* a byte >= 0x80 inside the line */
};

typedef enum sc_line_status {
    SC_LINE_NEED_MORE = 0, /* no complete line; *consumed may be > 0 in discard mode */
    SC_LINE_COMPLETE = 1,  /* line = buf[0, *line_len); *consumed includes the terminator */
    SC_LINE_OVERLONG = 2   /* an over-long line ended; everything of it is consumed */
} sc_line_status;

/* Embedded in the sessions by value; its fields are line.c's own: callers use the
 * functions below (tests may read them). */
typedef struct sc_line_framer {
    size_t max_len;     /* limit incl. terminator, e.g. 512 or 1000 */
    size_t scanned;     /* bytes of buf already known to hold no LF (resume point) */
    uint32_t flags_acc; /* flags of the scanned prefix */
    int discarding;     /* inside an over-long line */
} sc_line_framer;

void sc_line_init(sc_line_framer *f, size_t max_len);

/* sc_line_next() for every case but sc_line_fast()'s (line.c). */
sc_line_status sc_line_next_general(sc_line_framer *f, const char *buf, size_t len,
                                    size_t *line_len, size_t *consumed, uint32_t *flags);

#if defined(__SSE2__)
/* The common case of a command stream, decided without the general scan: the framer
 * holds no state and the next line is clean (no NUL, 8-bit byte or bare CR), ends with
 * CRLF, and is no longer than max_len. Looks at whole 32-byte steps only (the bytes must
 * be there: len >= 32 at least). Returns the line's length with its CRLF, or 0 when the
 * general path must decide (anything else, including a line that is merely long). */
static inline size_t sc_line_fast(const unsigned char *p, size_t len, size_t max_len)
{
    const __m128i vlf = _mm_set1_epi8('\n'), vcr = _mm_set1_epi8('\r');
    const __m128i zero = _mm_setzero_si128();
    uint32_t carry_cr = 0; /* the step before ended with a CR */
    for (size_t o = 0; o + 32 <= len && o < max_len; o += 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + o));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + o + 16));
        __m128i cra = _mm_cmpeq_epi8(a, vcr), crb = _mm_cmpeq_epi8(b, vcr);
        uint32_t lf = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(a, vlf)) |
                      (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(b, vlf)) << 16;
        uint32_t cr = (uint32_t)_mm_movemask_epi8(cra) | (uint32_t)_mm_movemask_epi8(crb) << 16;
        /* NUL, CR or 8-bit: the high bit of the byte or of its compare */
        uint32_t odd =
            (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(cra, _mm_cmpeq_epi8(a, zero)), a)) |
            (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(crb, _mm_cmpeq_epi8(b, zero)), b))
                << 16;
        if (lf) {
            unsigned k = (unsigned)__builtin_ctz(lf);
            size_t n = o + k + 1;
            if (k == 0) /* the LF opens the step: clean only after a carried CR */
                return carry_cr && n <= max_len ? n : 0;
            uint32_t last = 1u << (k - 1); /* the byte before the LF */
            if (carry_cr || (odd & (last | (last - 1u))) != last || !(cr & last))
                return 0;
            return n <= max_len ? n : 0;
        }
        /* No LF: clean only if nothing odd, but a CR in the last byte that the next
         * step may pair with an LF. */
        if (carry_cr || (odd & 0x7fffffffu) || ((odd ^ cr) >> 31))
            return 0;
        carry_cr = cr >> 31;
    }
    return 0;
}
#endif

/* Scans buf[0, len) where buf starts at the first unconsumed byte. On COMPLETE sets
 * *line_len (content without CRLF/LF), *consumed and *flags (SC_LINE_*). The caller must
 * drop *consumed bytes from the front before the next call, and must not change bytes
 * already passed in (it may append). Inline: the clean line of a command stream is
 * decided here without a call (its out-parameters then stay in registers), which was
 * 20 of the ~730 instructions per pipelined command. */
static inline sc_line_status sc_line_next(sc_line_framer *f, const char *buf, size_t len,
                                          size_t *line_len, size_t *consumed, uint32_t *flags)
{
#if defined(__SSE2__)
    if (len >= 32 && f->scanned == 0 && (f->flags_acc | (uint32_t)f->discarding) == 0) {
        size_t n = sc_line_fast((const unsigned char *)buf, len, f->max_len);
        if (n) {
            *line_len = n - 2;
            *consumed = n;
            *flags = 0;
            return SC_LINE_COMPLETE;
        }
    }
#endif
    return sc_line_next_general(f, buf, len, line_len, consumed, flags);
}

/* The scan under sc_line_next, exposed for tests: finds the first LF in p[from, len) and
 * returns its index (len when there is none). *bits gets SC_SCAN_NUL and SC_SCAN_8BIT for
 * the bytes of p[from, index) and SC_SCAN_CR for a CR in p[from, index - 1): a CR just
 * before the LF ends the line, one at the very end of the input is not decided yet. A CR
 * at from - 1 is the caller's business. sc_line_scan uses SSE2 where the compiler targets
 * it; sc_line_scan_portable is memchr plus word-at-a-time classification, the reference. */
size_t sc_line_scan(const unsigned char *p, size_t from, size_t len, uint32_t *bits);
size_t sc_line_scan_portable(const unsigned char *p, size_t from, size_t len, uint32_t *bits);

/* Forget scanning progress (e.g. after the caller discarded its buffer for STARTTLS). */
void sc_line_reset(sc_line_framer *f);

/* The caller has dropped the unfinished line's bytes given so far, which were already
 * too many for it (the server's LOGIN exchange, where the kept user name shares the
 * input): everything up to the next LF belongs to an over-long line, and its end is
 * reported as SC_LINE_OVERLONG like any other. */
void sc_line_discard(sc_line_framer *f);

#endif
