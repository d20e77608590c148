/* SPDX-License-Identifier: MIT */
/* Client transcript runner: plays a tests/transcripts/client/ (*.txt) file against a client
 * session (the shared dialect: tests/transcripts/README.md). Test support code only. */
#ifndef SMTPCORE_TEST_CLIENT_SCRIPT_H
#define SMTPCORE_TEST_CLIENT_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

/* How each block of server bytes (consecutive S: lines) reaches smtpcore_client_receive(). */
typedef enum ccs_mode {
    CCS_WHOLE = 0,    /* one call per block */
    CCS_BYTES = 1,    /* one byte per call, events drained after each */
    CCS_SPLIT_AT = 2, /* two calls per block: the first `param` bytes, then the rest */
    CCS_RANDOM = 3    /* random piece sizes from a xorshift generator seeded with `param` */
} ccs_mode;

/* Runs one transcript text. Returns 0 when it passed, -1 with a message in err. */
int ccs_run_text(const char *name, const char *text, size_t len, ccs_mode mode, uint64_t param,
                 char *err, size_t errcap);

/* Runs a file in every mode: whole, byte by byte, split at every offset up to the longest
 * block, and `random_runs` seeded random splits. Returns 0 or -1 with err set. */
int ccs_run_file_all(const char *path, unsigned random_runs, char *err, size_t errcap);

/* Formats a client event the way event lines (E= E~ E!) spell it, e.g.
 * "RCPT_RESULT 1 550 PERMANENT", then the reply text in quotes. */
void ccs_format_event(const void *client_event, char *out, size_t cap);

#endif
