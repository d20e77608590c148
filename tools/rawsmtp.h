/* SPDX-License-Identifier: MIT */
/* A deliberately simple raw SMTP conversation for smtpcore-probe: it writes exactly the
 * bytes a check needs (pipelined groups, bare LFs) and reads replies with deadlines, so
 * the probe can observe what a server does with input no well-behaved client sends. */
#ifndef SMTPCORE_TOOLS_RAWSMTP_H
#define SMTPCORE_TOOLS_RAWSMTP_H

#include <stddef.h>
#include <stdint.h>

#include "tls.h"

/** A raw connection with an input buffer of received, not yet parsed bytes. */
typedef struct tool_raw {
    tool_stream st;    /**< Socket (fd -1 when closed) and TLS once started. */
    char in[16384];    /**< Received bytes not yet returned as replies. */
    size_t in_len;     /**< Bytes in @ref in. */
    int eof;           /**< The server closed the connection. */
    int timeout_ms;    /**< Per-reply wait. */
} tool_raw;

/** One reply: its code and first line text (truncated). */
typedef struct tool_raw_reply {
    int code;          /**< Code of the last line, 0 when malformed. */
    char text[256];    /**< "250-..." lines joined by " | " (truncated). */
} tool_raw_reply;

/** Connects. Returns 0 or -1 (message in err). */
int tool_raw_connect(tool_raw *r, const char *host, uint16_t port, int timeout_ms, char *err,
                     size_t err_cap);

/** Sends bytes in one write where the kernel allows. Returns 0 or -1. */
int tool_raw_send(tool_raw *r, const char *data, size_t len);

/** Sends a NUL-terminated string. */
int tool_raw_sends(tool_raw *r, const char *s);

/**
 * Reads one complete reply. Returns 1 with @p out filled, 0 when none came before the
 * wait ran out, -1 when the connection closed first.
 */
int tool_raw_reply_read(tool_raw *r, tool_raw_reply *out, int wait_ms);

/** Sends @p cmd + CRLF and reads its reply; returns its code, 0 on timeout, -1 on EOF. */
int tool_raw_cmd(tool_raw *r, const char *cmd, tool_raw_reply *out);

/**
 * Starts TLS on the connection (after a 220 to STARTTLS). Bytes already buffered are
 * kept in @p r as they were (so a test can see plaintext the server sent early).
 * Returns 0, or -1 with a message in err.
 */
int tool_raw_starttls(tool_raw *r, SSL_CTX *ctx, char *err, size_t err_cap);

/** Closes the socket. */
void tool_raw_close(tool_raw *r);

#endif
