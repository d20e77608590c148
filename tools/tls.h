/* SPDX-License-Identifier: MIT */
/* A byte stream over a non-blocking socket, plain or TLS (OpenSSL), so the protocol loops
 * do not care which one is active. STARTTLS switches a stream from plain to TLS. */
#ifndef SMTPCORE_TOOLS_TLS_H
#define SMTPCORE_TOOLS_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/** Results of stream operations besides a byte count. */
enum { TOOL_IO_ERROR = -1, TOOL_IO_AGAIN = -2 };

/** A connection: the socket and, once STARTTLS has begun, its TLS state. */
typedef struct tool_stream {
    int fd;    /**< Non-blocking socket. */
    SSL *ssl;  /**< NULL while plaintext. */
} tool_stream;

/** Server context from PEM files; NULL with a message in @p err. */
SSL_CTX *tool_tls_server_ctx(const char *cert, const char *key, char *err, size_t err_cap);

/** Client context. Certificates are not verified (opportunistic TLS, as MTAs do) unless
 *  tool_tls_client_verify() is called on it. */
SSL_CTX *tool_tls_client_ctx(char *err, size_t err_cap);

/** Makes a client context verify the server's chain: against the PEM bundle @p cafile,
 *  or the system's trust store when it is NULL. Returns 0, or -1 with a message. */
int tool_tls_client_verify(SSL_CTX *ctx, const char *cafile, char *err, size_t err_cap);

/** With a verifying context: the certificate must be for @p host (a DNS name, or an IP
 *  address checked against the IP subjectAltNames). Call after tool_tls_begin(). */
int tool_tls_expect_host(tool_stream *st, const char *host);

/** Attaches TLS to a plaintext stream. Returns 0 or -1. */
int tool_tls_begin(tool_stream *st, SSL_CTX *ctx, int server, const char *sni);

/**
 * Advances the handshake. Returns 1 when done, 0 when it must wait (@p want is set to
 * POLLIN or POLLOUT), -1 on failure (message in @p err).
 */
int tool_tls_handshake(tool_stream *st, int server, short *want, char *err, size_t err_cap);

/** Reads up to @p cap bytes: count > 0, 0 at EOF, TOOL_IO_AGAIN or TOOL_IO_ERROR. */
long tool_stream_read(tool_stream *st, void *buf, size_t cap, short *want);

/** Writes up to @p len bytes: count > 0, TOOL_IO_AGAIN or TOOL_IO_ERROR. */
long tool_stream_write(tool_stream *st, const void *buf, size_t len, short *want);

/** Short description of the TLS session ("TLSv1.3 TLS_AES_256_GCM_SHA384") or "plain". */
const char *tool_tls_describe(const tool_stream *st, char *out, size_t cap);

/** Frees TLS state and closes the socket. */
void tool_stream_close(tool_stream *st);

#endif
