/* SPDX-License-Identifier: MIT */
/* Plain/TLS streams over non-blocking sockets (OpenSSL 3). */
#include "tls.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

static void ssl_err(char *err, size_t cap, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof buf);
    else
        snprintf(buf, sizeof buf, "%s", errno ? strerror(errno) : "unknown error");
    snprintf(err, cap, "%s: %s", what, buf);
    ERR_clear_error();
}

SSL_CTX *tool_tls_server_ctx(const char *cert, const char *key, char *err, size_t err_cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_err(err, err_cap, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        ssl_err(err, err_cap, cert);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, err_cap, key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

SSL_CTX *tool_tls_client_ctx(char *err, size_t err_cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_err(err, err_cap, "SSL_CTX_new");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;
}

int tool_tls_client_verify(SSL_CTX *ctx, const char *cafile, char *err, size_t err_cap)
{
    int ok = cafile != NULL ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
                            : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        ssl_err(err, err_cap, cafile != NULL ? cafile : "system trust store");
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return 0;
}

int tool_tls_expect_host(tool_stream *st, const char *host)
{
    char name[256];
    size_t n = strlen(host);
    /* "[2001:db8::1]" is how an IPv6 host is written on the command line. */
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof name) {
        memcpy(name, host + 1, n - 2);
        name[n - 2] = '\0';
        host = name;
    }
    X509_VERIFY_PARAM *param = SSL_get0_param(st->ssl);
    /* An IP address is matched against IP subjectAltNames, never against DNS names. */
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host) == 1)
        return 0;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return SSL_set1_host(st->ssl, host) == 1 ? 0 : -1;
}

int tool_tls_begin(tool_stream *st, SSL_CTX *ctx, int server, const char *sni)
{
    st->ssl = SSL_new(ctx);
    if (st->ssl == NULL || SSL_set_fd(st->ssl, st->fd) != 1)
        return -1;
    if (server)
        SSL_set_accept_state(st->ssl);
    else {
        SSL_set_connect_state(st->ssl);
        if (sni != NULL && sni[0] != '\0' && sni[0] != '[')
            SSL_set_tlsext_host_name(st->ssl, sni);
    }
    return 0;
}

/* Maps an SSL_* return value to AGAIN (with the direction to wait for) or ERROR. */
static int ssl_retry(SSL *ssl, int rc, short *want)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: *want = POLLIN; return TOOL_IO_AGAIN;
    case SSL_ERROR_WANT_WRITE: *want = POLLOUT; return TOOL_IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default: return TOOL_IO_ERROR;
    }
}

int tool_tls_handshake(tool_stream *st, int server, short *want, char *err, size_t err_cap)
{
    ERR_clear_error();
    int rc = server ? SSL_accept(st->ssl) : SSL_connect(st->ssl);
    if (rc == 1)
        return 1;
    int r = ssl_retry(st->ssl, rc, want);
    if (r == TOOL_IO_AGAIN)
        return 0;
    /* With verification on, say why the certificate was refused (OpenSSL's own error
     * is only "certificate verify failed"). */
    long vr = !server && (SSL_get_verify_mode(st->ssl) & SSL_VERIFY_PEER)
                  ? SSL_get_verify_result(st->ssl)
                  : X509_V_OK;
    if (vr != X509_V_OK) {
        snprintf(err, err_cap, "TLS handshake: certificate not accepted: %s",
                 X509_verify_cert_error_string(vr));
        ERR_clear_error();
        return -1;
    }
    ssl_err(err, err_cap, "TLS handshake");
    return -1;
}

long tool_stream_read(tool_stream *st, void *buf, size_t cap, short *want)
{
    *want = POLLIN;
    if (st->ssl == NULL) {
        ssize_t n = recv(st->fd, buf, cap, 0);
        if (n >= 0)
            return (long)n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TOOL_IO_AGAIN;
        return TOOL_IO_ERROR;
    }
    ERR_clear_error();
    int n = SSL_read(st->ssl, buf, cap > 1 << 20 ? 1 << 20 : (int)cap);
    if (n > 0)
        return n;
    int r = ssl_retry(st->ssl, n, want);
    ERR_clear_error();
    return r;
}

long tool_stream_write(tool_stream *st, const void *buf, size_t len, short *want)
{
    *want = POLLOUT;
    if (st->ssl == NULL) {
        ssize_t n = send(st->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return (long)n;
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TOOL_IO_AGAIN;
        return TOOL_IO_ERROR;
    }
    ERR_clear_error();
    int n = SSL_write(st->ssl, buf, len > 1 << 20 ? 1 << 20 : (int)len);
    if (n > 0)
        return n;
    int r = ssl_retry(st->ssl, n, want);
    ERR_clear_error();
    return r == 0 ? TOOL_IO_ERROR : r;
}

const char *tool_tls_describe(const tool_stream *st, char *out, size_t cap)
{
    if (st->ssl == NULL)
        snprintf(out, cap, "plain");
    else
        snprintf(out, cap, "%s/%s", SSL_get_version(st->ssl),
                 SSL_CIPHER_get_name(SSL_get_current_cipher(st->ssl)));
    return out;
}

void tool_stream_close(tool_stream *st)
{
    if (st->ssl != NULL) {
        SSL_shutdown(st->ssl); /* best effort close_notify; never waited for */
        SSL_free(st->ssl);
        st->ssl = NULL;
    }
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
}
