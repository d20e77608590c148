/* SPDX-License-Identifier: MIT */
/* Allocation through the host's optional allocator (see smtpcore_allocator). */
#ifndef SC_ALLOC_H
#define SC_ALLOC_H

#include <smtpcore/smtpcore.h>

/* Resolves a possibly-NULL or partial host allocator into one that is always usable. */
void sc_alloc_resolve(smtpcore_allocator *dst, const smtpcore_allocator *src);

void *sc_malloc(const smtpcore_allocator *a, size_t n);
void *sc_realloc(const smtpcore_allocator *a, void *p, size_t n);
void sc_free(const smtpcore_allocator *a, void *p);

#endif
