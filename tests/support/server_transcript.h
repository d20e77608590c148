/* SPDX-License-Identifier: MIT */
/* Server transcript runner: plays a tests/transcripts/server file against a server session
 * (the shared dialect: tests/transcripts/README.md). Test support code, not part of the
 * library. */
#ifndef SMTPCORE_TEST_SERVER_TRANSCRIPT_H
#define SMTPCORE_TEST_SERVER_TRANSCRIPT_H

#include <stddef.h>
#include <stdint.h>

/* How the client bytes of each block are handed to smtpcore_server_receive(). */
typedef enum sct_mode {
    SCT_WHOLE = 0,  /* each block in one call */
    SCT_BYTES = 1,  /* one byte per call, events drained after each */
    SCT_RANDOM = 2  /* random chunk sizes from a seeded xorshift generator */
} sct_mode;

/* Runs one transcript text. Returns 0 when it passed, 1 when the transcript excludes this
 * mode (@modes), -1 on failure with a description in err. */
int sct_run_text(const char *name, const char *text, size_t len, sct_mode mode, uint64_t seed,
                 char *err, size_t errcap);

/* Reads a file and runs it; same results as sct_run_text. */
int sct_run_file(const char *path, sct_mode mode, uint64_t seed, char *err, size_t errcap);

/* Name of a server event type as event lines (E= E~ E!) spell it ("MAIL"...). */
const char *sct_event_name(int type);
/* Name of a violation as event lines spell it ("BARE_LF"...). */
const char *sct_violation_name(int v);

#endif
