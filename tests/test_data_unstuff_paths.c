/* SPDX-License-Identifier: MIT */
/* The unstuffer's code paths (line-wise; SSE2, AVX2 and AVX-512 blocks) against a
 * byte-at-a-time model of the contract in data.h. Each path is forced through
 * sc_unstuffer.path; paths this CPU cannot run are skipped. Every run feeds an exact-size
 * heap copy of the input (so ASan sees any read past it) placed at a chosen alignment,
 * whole or in pieces, and must give the model's content, end, flags and size. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

static uint64_t up_rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

typedef struct up_result {
    char *content;
    size_t content_len;
    long end_at; /* offset just after the ".\r\n" that ended the body, or -1 */
    uint32_t flags;
    uint64_t size;
} up_result;

/* The contract, one byte at a time, for an input that holds its end: only CRLF starts a
 * line, a line-leading dot is dropped unless CRLF follows (then the body ends), every
 * byte of a line (the dropped dot and the line end included) counts towards max_line. */
static up_result up_model(const unsigned char *s, size_t len, size_t max_line)
{
    up_result r = {malloc(len + 1), 0, -1, 0, 0};
    cr_assert_not_null(r.content);
    int bol = 1;
    size_t line = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = s[i];
        if (bol && c == '.') {
            if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
                r.end_at = (long)(i + 3);
                break;
            }
            bol = 0;
            line++;
            continue;
        }
        bol = 0;
        r.content[r.content_len++] = (char)c;
        line++;
        if (line > max_line)
            r.flags |= SC_DATA_LONG_LINE;
        if (c == '\n') {
            if (i > 0 && s[i - 1] == '\r')
                bol = 1;
            else
                r.flags |= SC_DATA_BARE_LF;
            line = 0;
        } else if (c == '\r') {
            if (i + 1 < len && s[i + 1] != '\n')
                r.flags |= SC_DATA_BARE_CR;
        } else if (c == 0) {
            r.flags |= SC_DATA_NUL;
        } else if (c >= 0x80) {
            r.flags |= SC_DATA_8BIT;
        }
    }
    r.size = r.content_len;
    return r;
}

/* The paths this CPU can run: every path up to the one init picks. */
static int up_best(void)
{
    sc_unstuffer u;
    sc_unstuffer_init(&u, 1000);
    return u.path;
}

/* Unstuffs s[0, len) from an exact-size copy at `align` bytes into its allocation, with
 * the given path, in pieces of `chunk` bytes (0: whole; SIZE_MAX: random 1..300). */
static up_result up_run(int path, const unsigned char *s, size_t len, size_t max_line,
                        size_t align, size_t chunk, uint64_t seed)
{
    unsigned char *mem = malloc(align + len + 1);
    cr_assert_not_null(mem);
    unsigned char *in = mem + align;
    if (len)
        memcpy(in, s, len);
    up_result r = {malloc(len + 1), 0, -1, 0, 0};
    cr_assert_not_null(r.content);
    sc_unstuffer u;
    sc_unstuffer_init(&u, max_line);
    cr_assert(path <= u.path);
    u.path = path;
    uint64_t st = seed | 1;
    size_t fed = 0, done = 0;
    while (fed < len && r.end_at < 0) {
        size_t c = chunk == 0 ? len : chunk == SIZE_MAX ? 1 + (size_t)(up_rng(&st) % 300) : chunk;
        fed += c < len - fed ? c : len - fed;
        for (;;) {
            size_t off = 99, sl = 99, cons = 99;
            sc_unstuff_status rs =
                sc_unstuff_next(&u, (const char *)in + done, fed - done, &off, &sl, &cons);
            cr_assert(cons <= fed - done);
            cr_assert_eq(u.path, path, "the path must stay as forced");
            if (rs == SC_UNSTUFF_SEGMENT) {
                cr_assert(sl > 0 && off + sl <= cons);
                memcpy(r.content + r.content_len, in + done + off, sl);
                r.content_len += sl;
                done += cons;
                continue;
            }
            done += cons;
            if (rs == SC_UNSTUFF_END)
                r.end_at = (long)done;
            else
                cr_assert(fed - done <= 4, "holding %zu bytes", fed - done);
            break;
        }
    }
    r.flags = u.flags;
    r.size = u.size;
    free(mem);
    return r;
}

static void up_expect(const up_result *want, const up_result *got, const char *what, int path,
                      size_t align, size_t chunk)
{
    cr_assert_eq(got->end_at, want->end_at, "%s: path %d align %zu chunk %zu: end %ld, want %ld",
                 what, path, align, chunk, got->end_at, want->end_at);
    cr_assert_eq(got->content_len, want->content_len, "%s: path %d align %zu chunk %zu: length",
                 what, path, align, chunk);
    cr_assert_eq(memcmp(got->content, want->content, want->content_len), 0,
                 "%s: path %d align %zu chunk %zu: content", what, path, align, chunk);
    cr_assert_eq(got->flags, want->flags, "%s: path %d align %zu chunk %zu: flags %x, want %x",
                 what, path, align, chunk, got->flags, want->flags);
    cr_assert_eq(got->size, want->size, "%s: path %d align %zu chunk %zu: size", what, path,
                 align, chunk);
}

/* Every runnable path, at the given alignments, whole and in pieces, gives the model's
 * result for s (which must hold its end). */
static void up_check(const unsigned char *s, size_t len, size_t max_line, const size_t *aligns,
                     size_t naligns, uint64_t seed, const char *what)
{
    up_result want = up_model(s, len, max_line);
    cr_assert_geq(want.end_at, 0, "%s: test input without an end", what);
    const size_t chunks[] = {0, SIZE_MAX, 64, 129};
    for (int path = 0; path <= up_best(); path++)
        for (size_t a = 0; a < naligns; a++)
            for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
                if (c > 0 && a > 0 && aligns[a] % 16 != 5)
                    continue; /* pieces at a few alignments are enough */
                up_result got = up_run(path, s, len, max_line, aligns[a], chunks[c], seed);
                up_expect(&want, &got, what, path, aligns[a], chunks[c]);
                free(got.content);
            }
    free(want.content);
}

static const size_t up_all_aligns[] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                       13, 14, 15, 16, 17, 21, 31, 32, 33, 37, 47, 48, 49,
                                       53, 59, 60, 61, 62, 63};
#define UP_ALL_ALIGNS up_all_aligns, sizeof up_all_aligns / sizeof up_all_aligns[0]
static const size_t up_few_aligns[] = {0, 5, 63};
#define UP_FEW_ALIGNS up_few_aligns, 3

/* Clean CRLF lines of `line` letters, every `dots`-th of them (none when 0) stuffed with a
 * leading "..", then the end. Returns the length. */
static size_t up_dot_lines(unsigned char *s, size_t cap, size_t line, size_t dots)
{
    size_t n = 0;
    for (size_t k = 1; n + line + 4 + 5 <= cap; k++) {
        if (dots && k % dots == 0) {
            s[n++] = '.';
            s[n++] = '.';
        }
        for (size_t i = 0; i < line; i++, n++)
            s[n] = (unsigned char)('a' + (n * 7 + i) % 26);
        s[n++] = '\r';
        s[n++] = '\n';
    }
    memcpy(s + n, ".\r\n", 3);
    return n + 3;
}

static size_t up_lines(unsigned char *s, size_t cap, size_t line)
{
    return up_dot_lines(s, cap, line, 0);
}

Test(unstuff_paths, init_picks_the_best_the_cpu_runs)
{
    int best = up_best();
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("bmi2"))
        cr_assert_eq(best, SC_UNSTUFF_PATH_AVX512);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2"))
        cr_assert_eq(best, SC_UNSTUFF_PATH_AVX2);
    else
        cr_assert_lt(best, SC_UNSTUFF_PATH_AVX2);
#endif
#if defined(__SSE2__)
    cr_assert_geq(best, SC_UNSTUFF_PATH_SSE2);
#endif
    cr_assert_geq(best, SC_UNSTUFF_PATH_SCALAR);
    cr_assert_leq(best, SC_UNSTUFF_PATH_AVX512);
}

/* Clean bodies of every line length from 0 to 140: CRLF pairs at every lane and split
 * across blocks, at every alignment. */
Test(unstuff_paths, clean_bodies_every_line_length)
{
    unsigned char s[900];
    for (size_t line = 0; line <= 140; line++) {
        size_t n = up_lines(s, sizeof s, line);
        up_check(s, n, 1000, UP_FEW_ALIGNS, line, "clean");
        up_check(s, n, line + 2, UP_FEW_ALIGNS, line, "clean at the limit");
        if (line >= 63)
            up_check(s, n, line + 1, UP_FEW_ALIGNS, line, "clean one over");
    }
}

/* A line-leading dot (stuffed, or the end) and a dot after a bare LF or CR at every offset
 * of a multi-block body, at every alignment: the dot lands on every lane, block edges
 * and the first byte of a block included. */
Test(unstuff_paths, dots_at_every_offset)
{
    static const char *const tricks[] = {"\r\n..", "\r\n.x", "\n.\n", "\r.\r", "\r\n.\n",
                                         "\r\n.\r\r\n"};
    unsigned char s[400];
    size_t base = up_lines(s, sizeof s, 70) - 3;
    for (size_t k = 0; k < sizeof tricks / sizeof tricks[0]; k++) {
        size_t tl = strlen(tricks[k]);
        for (size_t pos = 0; pos + tl <= base; pos++) {
            unsigned char t[400];
            up_lines(t, sizeof t, 70);
            memcpy(t + pos, tricks[k], tl);
            /* Whatever the trick made of the line, the body still ends with CRLF.CRLF. */
            memcpy(t + base - 2, "\r\n.\r\n", 5);
            up_check(t, base + 3, 1000, pos % 8 == 0 ? up_all_aligns : up_few_aligns,
                     pos % 8 == 0 ? sizeof up_all_aligns / sizeof up_all_aligns[0] : 3, pos,
                     tricks[k]);
        }
    }
}

/* One bare CR, bare LF, NUL or 8-bit byte at every offset, in bodies without and with
 * stuffed lines (so the byte also lands in blocks cut short at a line-leading dot): its
 * flag is raised wherever it lands, by every path. */
Test(unstuff_paths, flag_bytes_at_every_offset)
{
    static const unsigned char specials[] = {'\r', '\n', 0, 0x80, 0xff};
    static const size_t dots[] = {0, 1, 2, 3};
    unsigned char s[500];
    for (size_t d = 0; d < sizeof dots / sizeof dots[0]; d++) {
        size_t n = up_dot_lines(s, sizeof s, 62 + d, dots[d]);
        for (size_t k = 0; k < sizeof specials; k++)
            for (size_t pos = 0; pos + 5 < n; pos++) {
                unsigned char t[500];
                memcpy(t, s, n);
                t[pos] = specials[k];
                up_check(t, n, 1000, UP_FEW_ALIGNS, pos, "flag byte");
            }
    }
}

/* Lines around max_line (64 to 300, the block paths' range) in a run of short lines. */
Test(unstuff_paths, long_line_edges)
{
    unsigned char s[2000];
    for (size_t L = 60; L < 300; L += 3) {
        size_t n = 0;
        for (int j = 0; j < 8; j++) {
            size_t len = j == 5 ? L : 30 + (size_t)j;
            if (j == 6 && L % 2 == 0) /* the long line's block is cut at the next line */
                s[n++] = '.';
            for (size_t i = 0; i < len; i++)
                s[n++] = 'y';
            s[n++] = '\r';
            s[n++] = '\n';
        }
        memcpy(s + n, ".\r\n", 3);
        for (size_t m = L; m < L + 4; m++)
            up_check(s, n + 3, m, UP_FEW_ALIGNS, L, "long line");
    }
}

/* Random bodies, mostly clean text with sparse or dense specials, at every alignment,
 * whole and in random pieces. */
Test(unstuff_paths, random_bodies_match_model)
{
    uint64_t st = 0x0dd5eed5a1b2c3d4u;
    unsigned char s[3000];
    for (int iter = 0; iter < 120; iter++) {
        size_t target = 100 + (size_t)(up_rng(&st) % 2800);
        unsigned density = 3 + (unsigned)(up_rng(&st) % 2000);
        size_t n = 0;
        while (n + 90 < target) {
            size_t l = (size_t)(up_rng(&st) % 120);
            if (up_rng(&st) % 16 == 0)
                s[n++] = '.';
            for (size_t i = 0; i < l; i++) {
                unsigned r = (unsigned)(up_rng(&st) % density);
                s[n++] = r == 0   ? '\r'
                         : r == 1 ? '\n'
                         : r == 2 ? 0
                         : r == 3 ? 0x80
                         : r == 4 ? '.'
                                  : (unsigned char)('a' + r % 26);
            }
            s[n++] = '\r';
            s[n++] = '\n';
        }
        for (size_t i = 0; i + 5 <= n; i++)
            if (memcmp(s + i, "\r\n.\r\n", 5) == 0)
                s[i + 2] = 'q';
        if (n >= 3 && memcmp(s, ".\r\n", 3) == 0)
            s[0] = 'q';
        memcpy(s + n, ".\r\n", 3);
        size_t max_line = (size_t)(up_rng(&st) % 4) == 0 ? 64 + (size_t)(up_rng(&st) % 60) : 1000;
        up_check(s, n + 3, max_line, iter % 4 == 0 ? up_all_aligns : up_few_aligns,
                 iter % 4 == 0 ? sizeof up_all_aligns / sizeof up_all_aligns[0] : 3,
                 (uint64_t)iter + 1, "random");
    }
}

/* Without an end in sight, every path holds back the same undecided bytes and reports
 * the same content, flags and size as the line-wise path, fed the same pieces. */
Test(unstuff_paths, unended_input_agrees_with_linewise)
{
    uint64_t st = 0x1234abcd9876ef01u;
    unsigned char s[1500];
    for (int iter = 0; iter < 300; iter++) {
        size_t n = 1 + (size_t)(up_rng(&st) % sizeof s);
        for (size_t i = 0; i < n; i++) {
            unsigned r = (unsigned)(up_rng(&st) % 40);
            s[i] = r == 0 ? '\r' : r == 1 ? '\n' : r == 2 ? '.' : (unsigned char)('a' + r);
            if (s[i] == '\r' && i + 1 < n && (up_rng(&st) & 7) != 0)
                s[++i] = '\n';
        }
        for (size_t i = 0; i + 5 <= n; i++)
            if (memcmp(s + i, "\r\n.\r\n", 5) == 0)
                s[i + 2] = 'q';
        if (n >= 3 && memcmp(s, ".\r\n", 3) == 0)
            s[0] = 'q';
        size_t chunk = (up_rng(&st) & 1) ? 0 : SIZE_MAX;
        up_result ref = up_run(SC_UNSTUFF_PATH_SCALAR, s, n, 80, 0, chunk, (uint64_t)iter);
        cr_assert_eq(ref.end_at, -1);
        for (int path = 1; path <= up_best(); path++) {
            up_result got = up_run(path, s, n, 80, (size_t)iter % 64, chunk, (uint64_t)iter);
            up_expect(&ref, &got, "unended", path, (size_t)iter % 64, chunk);
            free(got.content);
        }
        free(ref.content);
    }
}
