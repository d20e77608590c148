/* SPDX-License-Identifier: MIT */
/* The stuffer's code paths (scalar, SSE2, AVX2 and AVX-512 blocks) against a byte-at-a-time
 * model of the contract in data.h. Each path is forced through sc_stuffer.path; paths
 * this CPU cannot run are skipped, the rest must agree with the model exactly, over any
 * split of the input and any output room. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

static uint64_t paths_rng(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* The contract, one byte at a time: every CR, LF or CRLF becomes CRLF, a dot starting a
 * line is doubled when stuffing, and the finish adds CRLF (if needed) and ".\r\n". */
static size_t paths_model(const unsigned char *in, size_t len, int dot, char *out)
{
    size_t o = 0;
    int bol = 1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = in[i];
        if (c == '\r' || c == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            if (c == '\r' && i + 1 < len && in[i + 1] == '\n')
                i++;
            bol = 1;
            continue;
        }
        if (bol && dot && c == '.')
            out[o++] = '.';
        out[o++] = (char)c;
        bol = 0;
    }
    if (dot) {
        if (!bol) {
            out[o++] = '\r';
            out[o++] = '\n';
        }
        memcpy(out + o, ".\r\n", 3);
        o += 3;
    }
    return o;
}

/* The paths this CPU can run: every path up to the one init picks. */
static int paths_best(void)
{
    sc_stuffer s;
    sc_stuffer_init(&s, 1, 0);
    return s.path;
}

/* Stuffs in[0, len) with the given path, `chunk` input bytes and `cap` output bytes per
 * call (0 = all), checking the per-call contract, then finishes. */
static size_t paths_stuff(int path, const unsigned char *in, size_t len, int dot, size_t chunk,
                          size_t cap, char *out, size_t out_cap)
{
    sc_stuffer s;
    sc_stuffer_init(&s, dot, 0);
    cr_assert(path <= s.path);
    s.path = path;
    size_t ip = 0, op = 0, guard = 0;
    while (ip < len) {
        size_t n = chunk && chunk < len - ip ? chunk : len - ip;
        size_t room = cap && cap < out_cap - op ? cap : out_cap - op;
        size_t used = 12345;
        size_t w = sc_stuff(&s, (const char *)in + ip, n, out + op, room, &used);
        cr_assert(w <= room && used <= n);
        cr_assert(w > 0 || used > 0, "no progress, path %d room %zu", path, room);
        cr_assert(w <= 2 * used + 1);
        cr_assert_eq(s.path, path, "the path must stay as forced");
        ip += used;
        op += w;
        cr_assert(++guard < 4 * len + 10);
    }
    size_t f = sc_stuff_finish(&s, out + op, out_cap - op);
    cr_assert_neq(f, (size_t)-1);
    return op + f;
}

/* Every runnable path, whole and in pieces, must give the model's output: each from an
 * exact-size heap copy of the input (ASan sees any read past either end) at offset 0 and
 * at an offset that varies with the length, into an output at yet another offset. */
static void paths_expect_model(const unsigned char *in, size_t len, int dot, size_t chunk,
                               size_t cap, const char *what)
{
    char *want = malloc(2 * len + 8);
    cr_assert(want);
    size_t wl = paths_model(in, len, dot, want);
    const size_t aligns[2] = {0, 1 + (len + chunk) % 63};
    for (size_t a = 0; a < 2; a++) {
        unsigned char *inmem = malloc(aligns[a] + len + 1);
        char *outmem = malloc(64 + 2 * len + 8);
        cr_assert(inmem && outmem);
        unsigned char *cin = inmem + aligns[a];
        char *got = outmem + (aligns[a] * 7) % 64;
        if (len)
            memcpy(cin, in, len);
        for (int path = 0; path <= paths_best(); path++) {
            size_t gl = paths_stuff(path, cin, len, dot, chunk, cap, got, 2 * len + 8);
            cr_assert_eq(gl, wl, "%s: path %d align %zu chunk %zu cap %zu: %zu bytes, want %zu",
                         what, path, aligns[a], chunk, cap, gl, wl);
            cr_assert_eq(memcmp(got, want, wl), 0, "%s: path %d align %zu chunk %zu cap %zu",
                         what, path, aligns[a], chunk, cap);
        }
        free(inmem);
        free(outmem);
    }
    free(want);
}

/* A normal body: CRLF lines of `line` bytes, letters only. */
static void paths_lines(unsigned char *s, size_t n, size_t line)
{
    for (size_t i = 0; i < n; i++) {
        size_t col = i % (line + 2);
        s[i] = col == line ? '\r' : col == line + 1 ? '\n' : (unsigned char)('a' + col % 26);
    }
}

Test(stuff_paths, init_picks_the_best_the_cpu_runs)
{
    int best = paths_best();
#if defined(__GNUC__) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi"))
        cr_assert_eq(best, SC_STUFF_PATH_AVX512);
    else
#endif
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (__builtin_cpu_supports("avx2"))
        cr_assert_eq(best, SC_STUFF_PATH_AVX2);
    else
        cr_assert_lt(best, SC_STUFF_PATH_AVX2);
#endif
#if defined(__SSE2__)
    cr_assert_geq(best, SC_STUFF_PATH_SSE2);
#endif
    cr_assert_geq(best, SC_STUFF_PATH_SCALAR);
    cr_assert_leq(best, SC_STUFF_PATH_AVX512);
}

/* Clean bodies of many line lengths pass unchanged (bar the terminator) on every path,
 * so CRLF pairs at every block offset and split across blocks count as clean. */
Test(stuff_paths, clean_body_is_copied_verbatim)
{
    unsigned char s[1500];
    char out[3100];
    for (size_t line = 0; line < 140; line++) {
        paths_lines(s, sizeof s - 2, line);
        s[sizeof s - 2] = '\r';
        s[sizeof s - 1] = '\n';
        for (int path = 0; path <= paths_best(); path++) {
            size_t n = paths_stuff(path, s, sizeof s, 1, 0, 0, out, sizeof out);
            cr_assert_eq(n, sizeof s + 3, "line %zu path %d", line, path);
            cr_assert_eq(memcmp(out, s, sizeof s), 0, "line %zu path %d", line, path);
        }
    }
}

/* One bare CR, bare LF, CR CR, line-leading dot or dot after a bare LF at every offset of
 * a clean multi-block body: each path must rewrite it wherever it lands (lanes 0 and 63,
 * block edges, the first byte of a call, tails). */
Test(stuff_paths, special_at_every_offset)
{
    /* 0x8a, 0x8d and 0xae share their low seven bits with LF, CR and the dot. */
    static const char *const specials[] = {"\r",       "\n",       "\r\r",      ".",
                                           "\n.",      "\r.",      "\r\n.",     "\r\x8a",
                                           "\x8d\n",   "\n\xae",   "\r\n\xae",  "\x8a.",
                                           "\r\n\x8d"};
    unsigned char s[700];
    for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++) {
        size_t sl = strlen(specials[k]);
        for (size_t pos = 0; pos + sl <= sizeof s; pos++) {
            paths_lines(s, sizeof s, 70);
            memcpy(s + pos, specials[k], sl);
            paths_expect_model(s, sizeof s, 1, 0, 0, specials[k]);
            paths_expect_model(s, sizeof s, 0, 0, 0, specials[k]);
        }
    }
}

/* A line-leading dot right after a CRLF at every offset, with both halves of the CRLF
 * and the dot landing on each side of every block edge. */
Test(stuff_paths, crlf_dot_at_every_offset)
{
    unsigned char s[600];
    for (size_t pos = 0; pos + 3 <= sizeof s; pos++) {
        memset(s, 'x', sizeof s);
        memcpy(s + pos, "\r\n.", 3);
        paths_expect_model(s, sizeof s, 1, 0, 0, "crlf dot");
        paths_expect_model(s, sizeof s, 0, 0, 0, "crlf dot, no stuffing");
    }
}

/* A CR as the last byte of a call, of a block and of the output room: the LF it owes
 * must appear once, whether or not the next call starts with LF. */
Test(stuff_paths, cr_at_call_and_room_edges)
{
    unsigned char s[520];
    const size_t chunks[] = {0, 1, 63, 64, 65, 66, 127, 128, 129, 200};
    const size_t caps[] = {0, 3, 64, 65, 66, 129, 130, 131};
    for (size_t line = 60; line < 70; line++) {
        paths_lines(s, sizeof s, line);
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
            for (size_t r = 0; r < sizeof caps / sizeof caps[0]; r++)
                paths_expect_model(s, sizeof s, 1, chunks[c], caps[r], "edges");
        /* Same with every LF dropped: all CRs are bare. */
        for (size_t i = 0; i < sizeof s; i++)
            if (s[i] == '\n')
                s[i] = 'y';
        for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++)
            for (size_t r = 0; r < sizeof caps / sizeof caps[0]; r++)
                paths_expect_model(s, sizeof s, 1, chunks[c], caps[r], "bare cr edges");
    }
}

/* Random bodies, mostly clean text with sparse or dense specials, random splits and room:
 * every path agrees with the model. */
Test(stuff_paths, random_bodies_match_model)
{
    uint64_t st = 0x5eed5eed12345678u;
    unsigned char s[2000];
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = (size_t)(paths_rng(&st) % sizeof s);
        unsigned density = 4 + (unsigned)(paths_rng(&st) % 300);
        for (size_t i = 0; i < len; i++) {
            unsigned r = (unsigned)(paths_rng(&st) % density);
            s[i] = r == 0   ? '\r'
                   : r == 1 ? '\n'
                   : r == 2 ? '.'
                   : r == 3 ? (unsigned char)"\xff\x8a\x8d\xae"[i & 3]
                   : r == 4 ? 0
                            : (unsigned char)('a' + r % 26);
            /* Mostly proper CRLF so the block paths run long. */
            if (s[i] == '\r' && i + 1 < len && (paths_rng(&st) & 3) != 0)
                s[++i] = '\n';
        }
        size_t chunk = (paths_rng(&st) & 1) ? 0 : 1 + (size_t)(paths_rng(&st) % 300);
        size_t cap = (paths_rng(&st) & 1) ? 0 : 3 + (size_t)(paths_rng(&st) % 300);
        int dot = (int)(paths_rng(&st) & 1);
        paths_expect_model(s, len, dot, chunk, cap, "random");
    }
}

/* The output never holds a bare CR or LF, on any path, for any bytes at all. */
Test(stuff_paths, output_has_no_bare_cr_or_lf)
{
    uint64_t st = 0xabcdef0123456789u;
    unsigned char s[1024];
    char out[2100];
    for (int iter = 0; iter < 500; iter++) {
        for (size_t i = 0; i < sizeof s; i++)
            s[i] = paths_rng(&st) % 16 == 0 ? (unsigned char)"\r\n."[paths_rng(&st) % 3]
                                             : (unsigned char)paths_rng(&st);
        for (int path = 0; path <= paths_best(); path++) {
            size_t n = paths_stuff(path, s, sizeof s, 1, 0, 0, out, sizeof out);
            for (size_t i = 0; i < n; i++) {
                if (out[i] == '\r')
                    cr_assert(i + 1 < n && out[i + 1] == '\n', "bare CR at %zu", i);
                if (out[i] == '\n')
                    cr_assert(i > 0 && out[i - 1] == '\r', "bare LF at %zu", i);
            }
        }
    }
}

/* Every input alignment (0 to 63), with a trouble byte near each block edge of the
 * aligned copy, whole and in 100-byte pieces. */
Test(stuff_paths, every_alignment)
{
    unsigned char s[800];
    char want[1700], got[1700 + 64];
    for (size_t align = 0; align < 64; align++) {
        paths_lines(s, sizeof s, 70);
        for (size_t pos = 63 - align % 7; pos + 2 < sizeof s; pos += 131)
            memcpy(s + pos, pos % 2 ? "\n." : "\r\xae", 2);
        size_t wl = paths_model(s, sizeof s, 1, want);
        unsigned char *mem = malloc(align + sizeof s);
        cr_assert_not_null(mem);
        memcpy(mem + align, s, sizeof s);
        for (int path = 0; path <= paths_best(); path++)
            for (size_t chunk = 0; chunk <= 100; chunk += 100) {
                char *out = got + (align * 3) % 64;
                size_t gl = paths_stuff(path, mem + align, sizeof s, 1, chunk, 0, out, 1700);
                cr_assert_eq(gl, wl, "align %zu path %d chunk %zu", align, path, chunk);
                cr_assert_eq(memcmp(out, want, wl), 0, "align %zu path %d chunk %zu", align,
                             path, chunk);
            }
        free(mem);
    }
}
