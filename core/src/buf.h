/* SPDX-License-Identifier: MIT */
/* A bounded byte buffer: data lives in [start, end) of a fixed-capacity block.
 * Used for session input (zero-copy slices handed out as events) and output. */
#ifndef SC_BUF_H
#define SC_BUF_H

#include <stddef.h>
#include <string.h>

#include "alloc.h"

typedef struct sc_buf {
    char *data;
    size_t start; /* first unconsumed byte */
    size_t end;   /* one past the last byte */
    size_t cap;   /* fixed capacity: the memory bound */
} sc_buf;

int sc_buf_init(sc_buf *b, const smtpcore_allocator *a, size_t cap);
void sc_buf_free(sc_buf *b, const smtpcore_allocator *a);

static inline size_t sc_buf_len(const sc_buf *b) { return b->end - b->start; }
static inline const char *sc_buf_ptr(const sc_buf *b) { return b->data + b->start; }
/* Room at the tail, counting space that compaction would reclaim. */
static inline size_t sc_buf_room(const sc_buf *b) { return b->cap - sc_buf_len(b); }

/* Moves unconsumed bytes to the front so the tail has all the room. Invalidates slices. */
void sc_buf_compact(sc_buf *b);
/* Appends up to n bytes (compacting when needed); returns how many were taken. */
size_t sc_buf_append(sc_buf *b, const void *p, size_t n);
/* Appends all n bytes or nothing; returns 0 on success, -1 when they do not fit. */
int sc_buf_append_all(sc_buf *b, const void *p, size_t n);
/* The slow half of sc_buf_reserve(): compacts, or NULL when n bytes do not fit. */
char *sc_buf_reserve_compact(sc_buf *b, size_t n);
/* Reserves n bytes at the tail for direct writing; NULL when they do not fit.
 * Commit what was written with sc_buf_commit(). Inline: the tail usually has room. */
static inline char *sc_buf_reserve(sc_buf *b, size_t n)
{
    if (b->cap - b->end >= n)
        return b->data + b->end;
    return sc_buf_reserve_compact(b, n);
}
static inline void sc_buf_commit(sc_buf *b, size_t n) { b->end += n; }
static inline void sc_buf_consume(sc_buf *b, size_t n)
{
    b->start += n;
    if (b->start == b->end)
        b->start = b->end = 0;
}

#endif
