/* SPDX-License-Identifier: MIT */
/* Text helpers shared by the transcript runners (format: tests/transcripts/README.md). */
#ifndef SMTPCORE_TEST_TRANSCRIPT_TEXT_H
#define SMTPCORE_TEST_TRANSCRIPT_TEXT_H

#include <stddef.h>

/* Decodes \r \n \t \0 \s (space) \\ and \xNN from in[0, len) into out (at most cap bytes);
 * any other escaped character stands for itself. Returns the bytes written. */
size_t ts_unescape(const char *in, size_t len, char *out, size_t cap);

/* A growable, always NUL-terminated byte string; aborts when memory runs out. */
typedef struct ts_bytes {
    char *p;
    size_t len, cap, pos; /* pos: how far checks have consumed it */
} ts_bytes;

void ts_put(ts_bytes *b, const char *p, size_t n);

#endif
