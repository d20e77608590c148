/* SPDX-License-Identifier: MIT */
/* SC_ASSERT: states the engine treats as impossible (an engine bug, never the peer's or
 * the host's doing). Debug, sanitizer and fuzz builds (no NDEBUG) abort with the file,
 * line and condition, so that tests and fuzzers find what would otherwise be absorbed.
 * Release builds (NDEBUG) compile the check out and keep the code that follows it: each
 * use says what the session then does (reuse a slot, drop a write), which stays bounded
 * and defined. */
#ifndef SC_ASSERT_H
#define SC_ASSERT_H

#if defined(NDEBUG)
#define SC_ASSERT(cond) ((void)0)
#else
#include <stdio.h>
#include <stdlib.h>
#define SC_ASSERT(cond)                                                                    \
    ((cond) ? (void)0                                                                      \
            : (fprintf(stderr, "smtpcore: %s:%d: impossible state: %s\n", __FILE__,         \
                       __LINE__, #cond),                                                   \
               abort()))
#endif

#endif
