/* SPDX-License-Identifier: MIT */
/* Word-at-a-time (SWAR) detection of NUL, CR and 8-bit bytes, shared by the line framer
 * and the DATA unstuffer so that a clean ASCII run costs little more than the memchr
 * that delimited it. */
#ifndef SC_SCAN_H
#define SC_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { SC_SCAN_NUL = 1u << 0, SC_SCAN_CR = 1u << 1, SC_SCAN_8BIT = 1u << 2 };

/* Classifies p[0, n): which of NUL, CR and bytes >= 0x80 occur (SC_SCAN_* bits). The
 * haszero test "(v - ones) & ~v & highs" is exact for "some byte of v is zero", which is
 * all that is asked here. */
static inline uint32_t sc_scan_bytes(const unsigned char *p, size_t n)
{
    const uint64_t ones = 0x0101010101010101u;
    const uint64_t highs = 0x8080808080808080u;
    const uint64_t crs = ones * (uint64_t)'\r';
    uint64_t any_zero = 0, any_cr = 0, any_high = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        uint64_t c = v ^ crs;
        any_zero |= (v - ones) & ~v;
        any_cr |= (c - ones) & ~c;
        any_high |= v;
    }
    uint32_t f = 0;
    if (any_zero & highs)
        f |= SC_SCAN_NUL;
    if (any_cr & highs)
        f |= SC_SCAN_CR;
    if (any_high & highs)
        f |= SC_SCAN_8BIT;
    for (; i < n; i++) {
        unsigned char b = p[i];
        if (b == 0)
            f |= SC_SCAN_NUL;
        else if (b == '\r')
            f |= SC_SCAN_CR;
        else if (b >= 0x80)
            f |= SC_SCAN_8BIT;
    }
    return f;
}

#endif
