/* SPDX-License-Identifier: MIT */
#include "alloc.h"

#include <stdlib.h>

static void *default_malloc(size_t n, void *user) { (void)user; return malloc(n); }
static void *default_realloc(void *p, size_t n, void *user) { (void)user; return realloc(p, n); }
static void default_free(void *p, void *user) { (void)user; free(p); }

void sc_alloc_resolve(smtpcore_allocator *dst, const smtpcore_allocator *src)
{
    if (src && src->malloc_fn && src->realloc_fn && src->free_fn) {
        *dst = *src;
        return;
    }
    dst->malloc_fn = default_malloc;
    dst->realloc_fn = default_realloc;
    dst->free_fn = default_free;
    dst->user = NULL;
}

void *sc_malloc(const smtpcore_allocator *a, size_t n) { return a->malloc_fn(n ? n : 1, a->user); }
void *sc_realloc(const smtpcore_allocator *a, void *p, size_t n) { return a->realloc_fn(p, n ? n : 1, a->user); }
void sc_free(const smtpcore_allocator *a, void *p)
{
    if (p)
        a->free_fn(p, a->user);
}
