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
} tool_transcript;

/** Prints @p len bytes, prefixing each new line; CR/LF shown as line ends. */
void tool_transcript_feed(tool_transcript *t, const char *data, size_t len);

/** Prints a note line ("   (TLS established ...)") between protocol lines. */
void tool_transcript_note(tool_transcript *t, const char *note);

#endif
