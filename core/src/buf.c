/* SPDX-License-Identifier: MIT */
#include "buf.h"

int sc_buf_init(sc_buf *b, const smtpcore_allocator *a, size_t cap)
{
    b->data = sc_malloc(a, cap);
    b->start = b->end = 0;
    b->cap = b->data ? cap : 0;
    return b->data ? 0 : -1;
}

void sc_buf_free(sc_buf *b, const smtpcore_allocator *a)
{
    sc_free(a, b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

void sc_buf_compact(sc_buf *b)
{
    if (b->start == 0)
        return;
    size_t n = sc_buf_len(b);
    if (n)
        memmove(b->data, b->data + b->start, n);
    b->start = 0;
    b->end = n;
}

char *sc_buf_reserve_compact(sc_buf *b, size_t n)
{
    if (sc_buf_room(b) < n)
        return NULL;
    sc_buf_compact(b);
    return b->data + b->end;
}

size_t sc_buf_append(sc_buf *b, const void *p, size_t n)
{
    size_t room = sc_buf_room(b);
    if (n > room)
        n = room;
    if (n == 0)
        return 0;
    char *dst = sc_buf_reserve(b, n);
    memcpy(dst, p, n);
    b->end += n;
    return n;
}

int sc_buf_append_all(sc_buf *b, const void *p, size_t n)
{
    char *dst = sc_buf_reserve(b, n);
    if (!dst)
        return -1;
    if (n)
        memcpy(dst, p, n);
    b->end += n;
    return 0;
}
