/* Escapes shared by the transcript formats (tests/transcripts/README.md). */
#ifndef SMTPCORE_TEST_ESCAPE_H
#define SMTPCORE_TEST_ESCAPE_H

#include <stddef.h>

/* Decodes \r \n \t \0 \s (space) \\ and \xNN from in[0, len) into out (at most cap bytes);
 * any other escaped character stands for itself. Returns the bytes written. */
size_t ts_unescape(const char *in, size_t len, char *out, size_t cap);

#endif
