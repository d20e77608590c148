/* SPDX-License-Identifier: MIT */
/* Text helpers shared by the server and client transcript runners (the dialect both read:
 * tests/transcripts/README.md). Test support code, not part of the library. */
#ifndef SMTPCORE_TEST_TRANSCRIPT_TEXT_H
#define SMTPCORE_TEST_TRANSCRIPT_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Decodes \r \n \t \0 \s (space) \\ and \xNN from in[0, len) into out (at most cap bytes);
 * any other escaped character stands for itself. Returns the bytes written. Callers
 * with a fixed buffer check ts_unescaped_len() first, so nothing is cut silently. */
size_t ts_unescape(const char *in, size_t len, char *out, size_t cap);
/* The length in[0, len) decodes to. */
size_t ts_unescaped_len(const char *in, size_t len);

/* A growable, always NUL-terminated byte string; aborts when memory runs out. */
typedef struct ts_bytes {
    char *p;
    size_t len, cap, pos; /* pos: how far checks have consumed it */
} ts_bytes;

void ts_put(ts_bytes *b, const char *p, size_t n);
/* Appends in[0, len) decoded (ts_unescape), however long. */
void ts_put_unescaped(ts_bytes *b, const char *in, size_t len);

/* Reads a whole file into b (appended, NUL-terminated, no size limit). Returns 0, or -1
 * when it cannot be opened or read. */
int ts_read_file(const char *path, ts_bytes *b);

/* Lists the names in dir that end with suffix, sorted, with no limit on their number:
 * *names gets a malloc'ed array of malloc'ed strings (free with ts_free_names). Returns
 * the count, or -1 when the directory cannot be opened. */
long ts_list_dir(const char *dir, const char *suffix, char ***names);
void ts_free_names(char **names, long n);

/* How an event line of the shared dialect is checked against the events that happened
 * (README.md, "Events"): E= the next one, E~ one later on, E! none at all. */
typedef enum ts_expect { TS_EXPECT_NEXT, TS_EXPECT_LATER, TS_EXPECT_NEVER } ts_expect;

/* Splits a directive line into its prefix (up to the first space, or the whole line) and
 * its argument (after that one space). Returns the prefix length. */
size_t ts_prefix(const char *line, const char **arg);

/* 1 when want matches the formatted event have[0, hl): want is a prefix of it that ends at
 * a word boundary, so trailing details may be left out. */
int ts_event_matches(const char *have, size_t hl, const char *want);

/* The name event lines give a violation in both roles: the SMTPCORE_V_* name without the
 * prefix ("BARE_LF"), or "?" for a value the table does not have (test_transcript_dialect
 * checks the table against smtpcore_violation_str(), so a new violation cannot be missed). */
const char *ts_violation_name(int v);
/* The violation named w[0, wl), or -1. */
int ts_violation_lookup(const char *w, size_t wl);

/* The runners' split generator (xorshift64): the next value of *state. */
uint64_t ts_rand(uint64_t *state);

#endif
