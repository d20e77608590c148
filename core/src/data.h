/* SPDX-License-Identifier: MIT */
/* DATA body transforms: streaming unstuffing (server) and stuffing + CRLF normalisation
 * (client). Both are exact over any split of the input. */
#ifndef SC_DATA_H
#define SC_DATA_H

#include <stddef.h>
#include <stdint.h>

/* ---- Server: unstuffing and end-of-data detection ----
 * End of data is only CRLF "." CRLF, where the first CRLF may be the one that ended the
 * DATA command line (the unstuffer starts at the beginning of a line). A line begins only
 * after CRLF: a bare LF never starts a line, so "<LF>.<LF>", "<LF>.<CRLF>", "<CRLF>.<LF>"
 * and "<CR>.<CR>" are body content (and flagged). Zero-copy: segments are slices of the
 * caller's buffer; a stuffed dot just splits segments. */
enum {
    SC_DATA_BARE_LF = 1u << 0,
    SC_DATA_BARE_CR = 1u << 1,
    SC_DATA_NUL = 1u << 2,
    SC_DATA_LONG_LINE = 1u << 3,
    SC_DATA_8BIT = 1u << 4
};

enum {
    SC_UNSTUFF_PATH_SCALAR = 0, /* line by line (memchr + word-at-a-time flags) */
    SC_UNSTUFF_PATH_SSE2 = 1,   /* 64-byte blocks as 16-byte vectors */
    SC_UNSTUFF_PATH_AVX2 = 2,   /* ... as two AVX2 vectors (with BMI2) */
    SC_UNSTUFF_PATH_AVX512 = 3  /* ... as one AVX-512BW vector (with BMI2) */
};

typedef struct sc_unstuffer {
    int state;          /* internal */
    int path;           /* SC_UNSTUFF_PATH_*: the fastest this CPU runs, chosen at init;
                         * tests may lower it (never raise it) to exercise the others */
    size_t line_len;    /* bytes in the current line so far */
    size_t max_line;    /* limit incl. CRLF for the LONG_LINE flag (e.g. 1000) */
    uint32_t flags;     /* SC_DATA_* seen so far */
    uint64_t size;      /* content octets emitted so far */
} sc_unstuffer;

typedef enum sc_unstuff_status {
    SC_UNSTUFF_NEED_MORE = 0, /* no segment; *consumed bytes were used (may be 0) */
    SC_UNSTUFF_SEGMENT = 1,   /* content = buf[*seg_off, *seg_off + *seg_len) */
    SC_UNSTUFF_END = 2        /* end of data; *consumed includes ".\r\n" */
} sc_unstuff_status;

void sc_unstuffer_init(sc_unstuffer *u, size_t max_line);
/* Scans buf[0, len). Bytes that might belong to the end sequence (at most "\r\n.\r") are
 * left unconsumed until decided. The caller drops *consumed bytes before the next call.
 * A SEGMENT result may also have a non-empty *consumed beyond the segment (e.g. a
 * stuffed dot). */
sc_unstuff_status sc_unstuff_next(sc_unstuffer *u, const char *buf, size_t len,
                                  size_t *seg_off, size_t *seg_len, size_t *consumed);

/* ---- Client: stuffing and normalisation ----
 * CRLF stays, a bare LF or bare CR becomes CRLF, a '.' at the start of a line is doubled
 * (unless stuffing is off, for BDAT). The output never contains a bare CR/LF, so the
 * client can never emit a smuggling sequence. */
enum {
    SC_STUFF_PATH_SCALAR = 0,
    SC_STUFF_PATH_SSE2 = 1,
    SC_STUFF_PATH_AVX2 = 2,
    SC_STUFF_PATH_AVX512 = 3 /* AVX-512BW + VBMI: a table lookup per block */
};

typedef struct sc_stuffer {
    int at_line_start;
    int pending_cr; /* the last input byte was CR (decided by the next byte) */
    int dot_stuff;  /* 1 for DATA, 0 for BDAT */
    int binary;     /* 1: BINARYMIME, bytes pass unchanged */
    int path;       /* SC_STUFF_PATH_*: the fastest this CPU runs, chosen at init; tests
                     * may lower it (never raise it) to exercise the other paths */
} sc_stuffer;

void sc_stuffer_init(sc_stuffer *s, int dot_stuff, int binary);
/* Transforms in[0, len) into out[0, cap); returns bytes written and sets *in_used.
 * Always makes progress when cap >= 3. Output at most 2*len + 1 bytes. */
size_t sc_stuff(sc_stuffer *s, const char *in, size_t len, char *out, size_t cap,
                size_t *in_used);
/* Terminates the body. With dot_stuff: a CRLF if the body did not end with one, then
 * ".\r\n". Without (BDAT): only completes a pending CR as CRLF, adds nothing else.
 * Returns bytes written, or (size_t)-1 if cap < 5. */
size_t sc_stuff_finish(sc_stuffer *s, char *out, size_t cap);

#endif
