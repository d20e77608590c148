/* SPDX-License-Identifier: MIT */
/* Shared by the bench programs: a monotonic clock and an allocator that counts calls, so
 * each benchmark can show how many allocations a session makes after creation. */
#ifndef SMTPCORE_BENCH_COMMON_H
#define SMTPCORE_BENCH_COMMON_H

#include <stdlib.h>
#include <time.h>

#include <smtpcore/smtpcore.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bench_count {
    size_t calls; /* malloc + realloc calls */
} bench_count;

static inline void *bench_count_malloc(size_t n, void *u)
{
    ((bench_count *)u)->calls++;
    return malloc(n);
}

static inline void *bench_count_realloc(void *p, size_t n, void *u)
{
    ((bench_count *)u)->calls++;
    return realloc(p, n);
}

static inline void bench_count_free(void *p, void *u)
{
    (void)u;
    free(p);
}

/* An allocator that counts into *count. */
static inline smtpcore_allocator bench_counting_allocator(bench_count *count)
{
    smtpcore_allocator a = {bench_count_malloc, bench_count_realloc, bench_count_free, count};
    return a;
}

#endif
