/* SPDX-License-Identifier: MIT */
/* Message assembly and measuring for smtpcore-send (see send_msg.h). */
#include "send_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <smtpcore/smtpcore.h>

/* Growable output for composing; on allocation failure it stays NULL and says so. */
typedef struct msgbuf {
    char *p;
    size_t len, cap;
    int failed;
} msgbuf;

static void put(msgbuf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (np == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(msgbuf *b, const char *s) { put(b, s, strlen(s)); }

/* Length of a header line's name ("Subject" of "Subject: x"), 0 when there is no colon. */
static size_t header_name_len(const char *h)
{
    const char *c = strchr(h, ':');
    return c ? (size_t)(c - h) : 0;
}

/* Is there a --header with this name? */
static int overridden(const send_msg_spec *s, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < s->nheaders; i++)
        if (header_name_len(s->headers[i]) == n && strncasecmp(s->headers[i], name, n) == 0)
            return 1;
    return 0;
}

static void put_headers(msgbuf *b, const send_msg_spec *s)
{
    for (size_t i = 0; i < s->nheaders; i++) {
        puts_(b, s->headers[i]);
        puts_(b, "\n");
    }
}

static void build(msgbuf *b, const send_msg_spec *s)
{
    char line[512];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    if (!overridden(s, "Date") &&
        strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S %z\n", &tm) > 0)
        puts_(b, line);
    if (!overridden(s, "From")) {
        snprintf(line, sizeof line, "From: <%s>\n", s->from);
        puts_(b, line);
    }
    if (!overridden(s, "To")) {
        puts_(b, "To: ");
        for (size_t i = 0; i < s->nto; i++) {
            puts_(b, i ? ", <" : "<");
            puts_(b, s->to[i]);
            puts_(b, ">");
        }
        puts_(b, "\n");
    }
    if (!overridden(s, "Subject"))
        puts_(b, "Subject: test\n");
    if (!overridden(s, "Message-ID")) {
        snprintf(line, sizeof line, "Message-ID: <%lld.%ld@%s>\n", (long long)now, (long)getpid(),
                 s->host && *s->host ? s->host : "localhost");
        puts_(b, line);
    }
    if (!overridden(s, "MIME-Version") && send_msg_has_8bit(s->body, strlen(s->body)))
        puts_(b, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
                 "Content-Transfer-Encoding: 8bit\n");
    snprintf(line, sizeof line, "X-Mailer: smtpcore-send %s\n", smtpcore_version());
    if (!overridden(s, "X-Mailer"))
        puts_(b, line);
    put_headers(b, s);
    puts_(b, "\n");
    puts_(b, s->body);
    size_t bl = strlen(s->body);
    if (bl == 0 || s->body[bl - 1] != '\n')
        puts_(b, "\n");
}

char *send_msg_compose(const send_msg_spec *s, char *read, size_t read_len, size_t *len)
{
    if (s->body == NULL && s->nheaders == 0) {
        *len = read_len;
        return read;
    }
    msgbuf b = {NULL, 0, 0, 0};
    if (s->body != NULL) {
        build(&b, s);
    } else {
        put_headers(&b, s);
        put(&b, read, read_len);
    }
    free(read);
    if (b.failed || b.p == NULL) {
        free(b.p);
        fprintf(stderr, "smtpcore-send: out of memory building the message\n");
        return NULL;
    }
    *len = b.len;
    return b.p;
}

uint64_t send_msg_wire_size(const char *m, size_t n, int bdat)
{
    uint64_t size = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i] == '\r') {
            size += 2;
            if (i + 1 < n && m[i + 1] == '\n')
                i++;
        } else if (m[i] == '\n') {
            size += 2;
        } else {
            size++;
        }
    }
    if (!bdat && n > 0 && m[n - 1] != '\n' && m[n - 1] != '\r')
        size += 2;
    return size;
}

int send_msg_has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return 1;
    return 0;
}

char *send_addr_strip(char *a)
{
    while (*a == ' ' || *a == '\t')
        a++;
    size_t n = strlen(a);
    while (n > 0 && (a[n - 1] == ' ' || a[n - 1] == '\t'))
        a[--n] = '\0';
    /* "Display Name <addr>" or "<addr>": the part in the last angle brackets. */
    char *lt = strrchr(a, '<');
    if (lt != NULL && n > 0 && a[n - 1] == '>') {
        a[n - 1] = '\0';
        return lt + 1;
    }
    return a;
}

int send_addr_add(char *arg, const char **list, size_t *n, size_t max)
{
    char *start = arg;
    int quoted = 0;
    for (char *p = arg;; p++) {
        if (*p == '"')
            quoted = !quoted;
        if (*p != '\0' && (*p != ',' || quoted))
            continue;
        int last = *p == '\0';
        *p = '\0';
        char *a = send_addr_strip(start);
        if (*a == '\0' || *n >= max)
            return -1;
        list[(*n)++] = a;
        if (last)
            return 0;
        start = p + 1;
    }
}
