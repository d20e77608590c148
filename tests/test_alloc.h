/* SPDX-License-Identifier: MIT */
/* The tests' allocator: counts what the library asks of it and fails on demand, so a test
 * can check that nothing is allocated per command, that nothing leaks, and what an
 * allocation failure at a given point does. One definition for every test that needs it.
 *
 *   test_alloc count = {0};
 *   smtpcore_allocator a = test_alloc_allocator(&count);
 *   cfg.allocator = &a;
 */
#ifndef SMTPCORE_TESTS_TEST_ALLOC_H
#define SMTPCORE_TESTS_TEST_ALLOC_H

#include <stdlib.h>

#include <smtpcore/smtpcore.h>

typedef struct test_alloc {
    size_t calls;     /* malloc and realloc calls, failed ones too */
    size_t live;      /* blocks given out and not yet freed */
    size_t bytes;     /* asked of malloc by the calls that succeeded */
    int fail;         /* while set, every call fails */
    size_t fail_at;   /* the call with this number (the first is 1) fails; 0: none */
    size_t fail_from; /* this call and every later one fail; 0: none */
} test_alloc;

/* Counts the call and says whether it is one to fail. */
static inline int test_alloc_refuses(test_alloc *a)
{
    a->calls++;
    return a->fail || a->calls == a->fail_at || (a->fail_from && a->calls >= a->fail_from);
}

static inline void *test_alloc_malloc(size_t n, void *user)
{
    test_alloc *a = user;
    if (test_alloc_refuses(a))
        return NULL;
    void *p = malloc(n);
    if (p) {
        a->live++;
        a->bytes += n;
    }
    return p;
}

static inline void *test_alloc_realloc(void *p, size_t n, void *user)
{
    test_alloc *a = user;
    if (test_alloc_refuses(a))
        return NULL;
    void *q = realloc(p, n);
    if (q && !p)
        a->live++;
    return q;
}

static inline void test_alloc_free(void *p, void *user)
{
    test_alloc *a = user;
    if (p)
        a->live--;
    free(p);
}

/* The allocator to put in a configuration; @p a must outlive the sessions made with it. */
static inline smtpcore_allocator test_alloc_allocator(test_alloc *a)
{
    return (smtpcore_allocator){test_alloc_malloc, test_alloc_realloc, test_alloc_free, a};
}

#endif
