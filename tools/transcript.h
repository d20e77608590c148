/* SPDX-License-Identifier: MIT */
/* Prints a conversation as "C: " / "S: " prefixed lines (the -v transcript). */
#ifndef SMTPCORE_TOOLS_TRANSCRIPT_H
#define SMTPCORE_TOOLS_TRANSCRIPT_H

#include <stddef.h>
#include <stdio.h>

/** One direction of a conversation; carries a partial line between calls. */
typedef struct tool_transcript {
    FILE *out;          /**< Where lines go; NULL disables printing. */
    const char *prefix; /**< "C: " or "S: ". */
    int mid_line;       /**< The last byte printed was not a line end. */
    int pending_cr;     /**< A CR was seen and not printed yet (may start a CRLF). */
    /** Hide AUTH credentials (client side): set by the tool while AUTH may still come;
     *  lines are then held whole, "AUTH MECH <initial response>" prints as "AUTH MECH
     *  [hidden]" and every later line as "[hidden]" until tool_transcript_auth_done(). */
    int hide_auth;
    int in_auth;        /**< An AUTH exchange is under way (lines are responses). */
    int passthru;       /**< The held line is too long to be AUTH: printed as it comes. */
    char held[512];     /**< The line being held while hide_auth is set. */
    size_t held_len;
} tool_transcript;

/** Prints @p len bytes, prefixing each new line; CR/LF shown as line ends. */
void tool_transcript_feed(tool_transcript *t, const char *data, size_t len);

/** Ends AUTH hiding: the exchange is over, later lines print as they are. */
void tool_transcript_auth_done(tool_transcript *t);

/** Prints a note line ("   (TLS established ...)") between protocol lines. */
void tool_transcript_note(tool_transcript *t, const char *note);

#endif
