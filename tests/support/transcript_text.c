/* SPDX-License-Identifier: MIT */
#include "transcript_text.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ts_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t ts_unescape(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o < cap; i++) {
        char c = in[i];
        if (c == '\\' && i + 1 < len) {
            char e = in[++i];
            switch (e) {
            case 'r': c = '\r'; break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case '0': c = '\0'; break;
            case 's': c = ' '; break;
            case 'x':
                if (i + 2 < len && ts_hex(in[i + 1]) >= 0 && ts_hex(in[i + 2]) >= 0) {
                    c = (char)(ts_hex(in[i + 1]) * 16 + ts_hex(in[i + 2]));
                    i += 2;
                }
                break;
            default: c = e; break;
            }
        }
        if (out)
            out[o] = c;
        o++;
    }
    return o;
}

size_t ts_unescaped_len(const char *in, size_t len)
{
    return ts_unescape(in, len, NULL, SIZE_MAX);
}

void ts_put_unescaped(ts_bytes *b, const char *in, size_t len)
{
    ts_put(b, "", 0);
    size_t n = ts_unescaped_len(in, len);
    ts_put(b, in, n); /* makes room for the n decoded bytes ... */
    b->len -= n;      /* ... which then overwrite the copy */
    b->len += ts_unescape(in, len, b->p + b->len, n);
    b->p[b->len] = '\0';
}

void ts_put(ts_bytes *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q)
            abort();
        b->p = q;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
}

int ts_read_file(const char *path, ts_bytes *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        ts_put(b, buf, n);
    int bad = ferror(f);
    fclose(f);
    ts_put(b, "", 0);
    return bad ? -1 : 0;
}

static int ts_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

long ts_list_dir(const char *dir, const char *suffix, char ***names)
{
    *names = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    size_t sl = strlen(suffix), n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l <= sl || strcmp(e->d_name + l - sl, suffix) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **w = realloc(v, cap * sizeof(*v));
            if (!w)
                abort();
            v = w;
        }
        v[n] = malloc(l + 1);
        if (!v[n])
            abort();
        memcpy(v[n++], e->d_name, l + 1);
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), ts_name_cmp);
    *names = v;
    return (long)n;
}

void ts_free_names(char **names, long n)
{
    for (long i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

size_t ts_prefix(const char *line, const char **arg)
{
    const char *sp = strchr(line, ' ');
    if (!sp) {
        *arg = line + strlen(line);
        return strlen(line);
    }
    *arg = sp + 1;
    return (size_t)(sp - line);
}

int ts_event_matches(const char *have, size_t hl, const char *want)
{
    size_t wl = strlen(want);
    return wl <= hl && memcmp(have, want, wl) == 0 && (wl == hl || have[wl] == ' ');
}

static const char *const ts_violation_names[] = {
    "NONE", "LINE_TOO_LONG", "BARE_LF", "BARE_CR", "NUL", "8BIT", "SYNTAX", "UNKNOWN_COMMAND",
    "BAD_SEQUENCE", "EARLY_TALKER", "IMPROPER_PIPELINING", "STARTTLS_INJECTION",
    "TOO_MANY_ERRORS", "MESSAGE_TOO_BIG", "TOO_MANY_RECIPIENTS", "BAD_PARAMETER",
    "UNKNOWN_PARAMETER", "AUTH_FAILED", "MALFORMED_REPLY", "UNEXPECTED_REPLY",
    "REPLY_TOO_LONG", "TLS_REQUIRED", "SERVICE_UNAVAILABLE", "CONNECTION_LOST",
    "LOOP_DETECTED", "UNSUPPORTED", "PROXY_BAD_SIGNATURE", "PROXY_TRUNCATED",
    "PROXY_TOO_LONG", "PROXY_V1_SYNTAX", "PROXY_BAD_ADDRESS", "PROXY_LENGTH_MISMATCH",
    "PROXY_BAD_CRC", "PROXY_UNSUPPORTED", "PROXY_BAD_TLV", "XCLIENT_DENIED", "XCLIENT_SYNTAX",
    "TOO_MANY_AUTH_FAILURES", "HOST_CLOSE"};

const char *ts_violation_name(int v)
{
    size_t n = sizeof(ts_violation_names) / sizeof(ts_violation_names[0]);
    return v >= 0 && (size_t)v < n ? ts_violation_names[v] : "?";
}

int ts_violation_lookup(const char *w, size_t wl)
{
    for (size_t i = 0; i < sizeof(ts_violation_names) / sizeof(ts_violation_names[0]); i++)
        if (strlen(ts_violation_names[i]) == wl && memcmp(ts_violation_names[i], w, wl) == 0)
            return (int)i;
    return -1;
}

uint64_t ts_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}
