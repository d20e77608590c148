/* SPDX-License-Identifier: MIT */
/* Raw SMTP I/O for the probe's checks. */
#include "rawsmtp.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "net.h"

int tool_raw_connect(tool_raw *r, const char *host, uint16_t port, int timeout_ms, char *err,
                     size_t err_cap)
{
    memset(r, 0, sizeof *r);
    r->timeout_ms = timeout_ms;
    r->st.ssl = NULL;
    r->st.fd = tool_connect(host, port, timeout_ms, err, err_cap);
    return r->st.fd < 0 ? -1 : 0;
}

int tool_raw_send(tool_raw *r, const char *data, size_t len)
{
    int64_t deadline = tool_now_ms() + r->timeout_ms;
    while (len > 0 && r->st.fd >= 0) {
        short want;
        long n = tool_stream_write(&r->st, data, len, &want);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n == TOOL_IO_AGAIN) {
            if (tool_wait(r->st.fd, want, deadline) != 1)
                return -1;
        } else {
            return -1;
        }
    }
    return len == 0 ? 0 : -1;
}

int tool_raw_sends(tool_raw *r, const char *s)
{
    return tool_raw_send(r, s, strlen(s));
}

/* Finds a complete reply in the buffer; returns its length or 0. */
static size_t complete_reply(const tool_raw *r)
{
    size_t start = 0;
    for (size_t i = 0; i < r->in_len; i++) {
        if (r->in[i] != '\n')
            continue;
        /* a line "ddd " (or a line too short to continue) ends the reply */
        size_t ll = i + 1 - start;
        if (ll < 4 || r->in[start + 3] != '-')
            return i + 1;
        start = i + 1;
    }
    return 0;
}

int tool_raw_reply_read(tool_raw *r, tool_raw_reply *out, int wait_ms)
{
    int64_t deadline = tool_now_ms() + wait_ms;
    memset(out, 0, sizeof *out);
    for (;;) {
        size_t n = complete_reply(r);
        if (n > 0) {
            size_t o = 0;
            for (size_t i = 0; i < n && o + 4 < sizeof out->text; i++) {
                char ch = r->in[i];
                if (ch == '\r')
                    continue;
                if (ch == '\n') {
                    if (i + 1 < n) {
                        memcpy(out->text + o, " | ", 3);
                        o += 3;
                    }
                    continue;
                }
                out->text[o++] = (unsigned char)ch < 0x20 ? '?' : ch;
            }
            out->text[o] = '\0';
            /* the code of the last line */
            size_t last = n - 1;
            while (last > 0 && r->in[last - 1] != '\n')
                last--;
            if (n - last >= 3 && isdigit((unsigned char)r->in[last]) &&
                isdigit((unsigned char)r->in[last + 1]) && isdigit((unsigned char)r->in[last + 2]))
                out->code = (r->in[last] - '0') * 100 + (r->in[last + 1] - '0') * 10 +
                            (r->in[last + 2] - '0');
            memmove(r->in, r->in + n, r->in_len - n);
            r->in_len -= n;
            return 1;
        }
        if (r->eof || r->st.fd < 0)
            return -1;
        if (r->in_len == sizeof r->in) {
            r->in_len = 0; /* a reply longer than any sane one: drop it */
            continue;
        }
        short want = POLLIN;
        long got = tool_stream_read(&r->st, r->in + r->in_len, sizeof r->in - r->in_len, &want);
        if (got > 0) {
            r->in_len += (size_t)got;
        } else if (got == TOOL_IO_AGAIN) {
            int w = tool_wait(r->st.fd, want, deadline);
            if (w == 0)
                return 0;
            if (w < 0)
                return -1;
        } else {
            r->eof = 1;
        }
    }
}

int tool_raw_cmd(tool_raw *r, const char *cmd, tool_raw_reply *out)
{
    char line[1024];
    snprintf(line, sizeof line, "%s\r\n", cmd);
    if (tool_raw_sends(r, line) != 0)
        return -1;
    int rc = tool_raw_reply_read(r, out, r->timeout_ms);
    return rc == 1 ? out->code : rc;
}

int tool_raw_starttls(tool_raw *r, SSL_CTX *ctx, char *err, size_t err_cap)
{
    int64_t deadline = tool_now_ms() + r->timeout_ms;
    if (tool_tls_begin(&r->st, ctx, 0, NULL) != 0) {
        snprintf(err, err_cap, "TLS setup failed");
        return -1;
    }
    for (;;) {
        short want = POLLIN;
        int rc = tool_tls_handshake(&r->st, 0, &want, err, err_cap);
        if (rc == 1)
            return 0;
        if (rc < 0)
            return -1;
        if (tool_wait(r->st.fd, want, deadline) != 1) {
            snprintf(err, err_cap, "TLS handshake timed out");
            return -1;
        }
    }
}

void tool_raw_close(tool_raw *r)
{
    tool_stream_close(&r->st);
}
