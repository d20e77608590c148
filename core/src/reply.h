/* SPDX-License-Identifier: MIT */
/* Reply parsing (client side) and writing (server side). */
#ifndef SC_REPLY_H
#define SC_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

/* Incremental parser fed one framed line at a time (from sc_line_next). The lines of one
 * reply lie contiguously in the caller's buffer, so the finished reply's raw text is the
 * span from the first line to the terminator of the last. */
typedef struct sc_reply_parser {
    int code;        /* code of the first line; 0 before any line */
    size_t nlines;
    uint32_t flags;  /* SMTPCORE_REPLY_* */
    smtpcore_enhanced enhanced;
} sc_reply_parser;

typedef enum sc_reply_status {
    SC_REPLY_CONTINUE = 0, /* a "xyz-" line: more lines follow */
    SC_REPLY_DONE = 1,     /* the last line ("xyz " or "xyz" alone) */
    SC_REPLY_INVALID = 2   /* unrecoverable: no 3-digit code at all */
} sc_reply_status;

void sc_reply_parser_init(sc_reply_parser *p);
/* line_flags are SC_LINE_* from the framer; they set REPLY_BARE_LF / REPLY_BAD_BYTES.
 * Recovery: a line whose 4th byte is neither ' ' nor '-' is treated as a last line and
 * flagged BAD_SEPARATOR; differing codes are flagged MIXED_CODES (the last line's code
 * wins, as RFC 5321 4.2.1 clients must use the last); a line over 512 octets is flagged. */
sc_reply_status sc_reply_parser_feed(sc_reply_parser *p, const char *line, size_t len,
                                     size_t line_total_len, uint32_t line_flags);

/* Parses "x.y.z" at the start of s (followed by space or end). Returns bytes used or 0. */
size_t sc_enhanced_parse(const char *s, size_t len, smtpcore_enhanced *out);

/* The room a reply line keeps for its enhanced code: "c.sss.ddd" (9 octets) and the
 * space after it, with margin. Host texts are bounded so that a line with it stays
 * within RFC 5321's 512 octets. */
#define SC_REPLY_ENH_ROOM 12u

/* Writes a (possibly multi-line) reply: lines of text are separated by '\n'. When
 * enhanced is non-NULL with cls != 0, "x.y.z " prefixes every line's text. Returns bytes
 * written or (size_t)-1 when cap is too small. Text must not contain CR or NUL. */
size_t sc_reply_write(char *out, size_t cap, int code, const smtpcore_enhanced *enhanced,
                      const char *text, size_t text_len);

/* The default enhanced code for a reply code in a given context (RFC 3463 / 5248). */
smtpcore_enhanced sc_enhanced_default(int code);

#endif
