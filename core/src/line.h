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

/* Scans buf[0, len) where buf starts at the first unconsumed byte. On COMPLETE sets
 * *line_len (content without CRLF/LF), *consumed and *flags (SC_LINE_*). The caller must
 * drop *consumed bytes from the front before the next call, and must not change bytes
 * already passed in (it may append). */
sc_line_status sc_line_next(sc_line_framer *f, const char *buf, size_t len, size_t *line_len,
                            size_t *consumed, uint32_t *flags);

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
