/* SPDX-License-Identifier: MIT */
#include "transcript_text.h"

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
        out[o++] = c;
    }
    return o;
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
