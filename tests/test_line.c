/* SPDX-License-Identifier: MIT */
/* Line framer: policy cases and split-invariance. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "line.h"
#include "scan.h"

/* ---- helpers ---- */

typedef struct ev {
    int status;
    size_t start; /* stream offset of the line (COMPLETE only) */
    size_t line_len;
    uint32_t flags;
    size_t end; /* stream offset after the event */
} ev;

typedef struct evlist {
    ev *v;
    size_t n, cap;
} evlist;

static void ev_push(evlist *l, ev e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        cr_assert_not_null(l->v);
    }
    l->v[l->n++] = e;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Feeds stream in chunks: chunk sizes come from `fixed` (>0) or from the PRNG (fixed==0,
 * 1..maxchunk). Returns the events; *total_consumed gets the consumed sum. */
static evlist run_framer(const char *s, size_t len, size_t max_len, size_t fixed,
                         uint64_t seed, size_t maxchunk, size_t *total_consumed)
{
    evlist out = {0};
    sc_line_framer f;
    sc_line_init(&f, max_len);
    size_t fed = 0, done = 0;
    uint64_t st = seed ? seed : 1;
    while (fed < len) {
        size_t c = fixed ? fixed : 1 + (size_t)(xorshift(&st) % maxchunk);
        if (c > len - fed)
            c = len - fed;
        fed += c;
        for (;;) {
            size_t ll = 99, cons = 99;
            uint32_t fl = 99;
            sc_line_status r = sc_line_next(&f, s + done, fed - done, &ll, &cons, &fl);
            cr_assert(cons <= fed - done);
            size_t start = done;
            done += cons;
            if (r == SC_LINE_NEED_MORE) {
                /* Memory bound: never more than max_len unconsumed bytes are needed. */
                cr_assert(fed - done < max_len, "holding %zu bytes", fed - done);
                break;
            }
            ev e = {(int)r, r == SC_LINE_COMPLETE ? start : 0,
                    r == SC_LINE_COMPLETE ? ll : 0, fl, done};
            ev_push(&out, e);
        }
    }
    *total_consumed = done;
    return out;
}

static void assert_same(const evlist *a, const evlist *b)
{
    cr_assert_eq(a->n, b->n, "event counts differ: %zu vs %zu", a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        cr_assert_eq(a->v[i].status, b->v[i].status, "event %zu status", i);
        cr_assert_eq(a->v[i].start, b->v[i].start, "event %zu start", i);
        cr_assert_eq(a->v[i].line_len, b->v[i].line_len, "event %zu len", i);
        cr_assert_eq(a->v[i].flags, b->v[i].flags, "event %zu flags %x vs %x", i,
                     a->v[i].flags, b->v[i].flags);
        cr_assert_eq(a->v[i].end, b->v[i].end, "event %zu end", i);
    }
}

/* One call on a whole buffer. */
static sc_line_status one(size_t max_len, const char *s, size_t len, size_t *ll, size_t *cons,
                          uint32_t *fl)
{
    sc_line_framer f;
    sc_line_init(&f, max_len);
    return sc_line_next(&f, s, len, ll, cons, fl);
}

#define ONE(max, lit, ll, cons, fl) one((max), (lit), sizeof(lit) - 1, (ll), (cons), (fl))

/* ---- policy cases ---- */

Test(line, crlf)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(512, "HELO x\r\nNOOP\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 6);
    cr_assert_eq(c, 8);
    cr_assert_eq(fl, 0);
}

Test(line, empty_lines)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(512, "\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 0);
    cr_assert_eq(c, 2);
    cr_assert_eq(fl, 0);
    cr_assert_eq(ONE(512, "\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 0);
    cr_assert_eq(c, 1);
    cr_assert_eq(fl, SC_LINE_BARE_LF);
}

Test(line, bare_lf_ends_line_and_is_flagged)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(512, "QUIT\nNOOP\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 4);
    cr_assert_eq(c, 5);
    cr_assert_eq(fl, SC_LINE_BARE_LF);
}

Test(line, bare_cr_inside)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(512, "A\rB\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 3);
    cr_assert_eq(fl, SC_LINE_BARE_CR);
    /* CR CR LF: the first CR is bare, the second belongs to the terminator. */
    cr_assert_eq(ONE(512, "A\r\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 2);
    cr_assert_eq(c, 4);
    cr_assert_eq(fl, SC_LINE_BARE_CR);
    /* A lone CR never ends a line. */
    cr_assert_eq(ONE(512, "A\rB", &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(c, 0);
}

Test(line, nul_and_8bit)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(512, "A\0B\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 3);
    cr_assert_eq(fl, SC_LINE_NUL);
    cr_assert_eq(ONE(512, "caf\xc3\xa9\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(fl, SC_LINE_8BIT);
    cr_assert_eq(ONE(512, "\x80\0\r\rX\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(fl, SC_LINE_8BIT | SC_LINE_NUL | SC_LINE_BARE_CR | SC_LINE_BARE_LF);
}

/* Every special byte at every position of lines long enough to use the word path. */
Test(line, flags_at_every_position)
{
    const unsigned char specials[] = {'\r', 0, 0x80, 0xff};
    const uint32_t want[] = {SC_LINE_BARE_CR, SC_LINE_NUL, SC_LINE_8BIT, SC_LINE_8BIT};
    char buf[64];
    for (size_t n = 1; n < 40; n++) {
        for (size_t pos = 0; pos < n; pos++) {
            for (size_t k = 0; k < sizeof specials; k++) {
                memset(buf, 'a', n);
                buf[pos] = (char)specials[k];
                buf[n] = '\r';
                buf[n + 1] = '\n';
                size_t ll, c;
                uint32_t fl;
                cr_assert_eq(one(512, buf, n + 2, &ll, &c, &fl), SC_LINE_COMPLETE);
                cr_assert_eq(ll, n);
                cr_assert_eq(fl, want[k], "n=%zu pos=%zu k=%zu fl=%x", n, pos, k, fl);
            }
        }
        memset(buf, 'a', n);
        buf[n] = '\r';
        buf[n + 1] = '\n';
        size_t ll, c;
        uint32_t fl;
        cr_assert_eq(one(512, buf, n + 2, &ll, &c, &fl), SC_LINE_COMPLETE);
        cr_assert_eq(fl, 0);
    }
}

Test(line, exactly_max_len)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(10, "12345678\r\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 8);
    cr_assert_eq(c, 10);
    cr_assert_eq(ONE(10, "123456789\n", &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 9);
    cr_assert_eq(fl, SC_LINE_BARE_LF);
}

Test(line, max_len_plus_one)
{
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(ONE(10, "123456789\r\nNEXT", &ll, &c, &fl), SC_LINE_OVERLONG);
    cr_assert_eq(c, 11);
    cr_assert_eq(fl, 0);
}

Test(line, overlong_then_normal_line_incremental)
{
    sc_line_framer f;
    sc_line_init(&f, 10);
    size_t ll, c;
    uint32_t fl;
    const char *s = "0123456789abcdef\r\nOK\r\n";
    /* 9 bytes: still may become a line. */
    cr_assert_eq(sc_line_next(&f, s, 9, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(c, 0);
    cr_assert_eq(f.scanned, 9);
    /* 10 bytes without LF: dropped at once, discard mode. */
    cr_assert_eq(sc_line_next(&f, s, 10, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(c, 10);
    cr_assert(f.discarding);
    s += 10;
    cr_assert_eq(sc_line_next(&f, s, 3, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(c, 3);
    s += 3;
    cr_assert_eq(sc_line_next(&f, s, 9, &ll, &c, &fl), SC_LINE_OVERLONG);
    cr_assert_eq(c, 5);
    cr_assert_eq(fl, 0);
    s += 5;
    cr_assert_eq(sc_line_next(&f, s, 4, &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 2);
    cr_assert_eq(c, 4);
    cr_assert_eq(memcmp(s, "OK", 2), 0);
}

Test(line, overlong_ended_by_bare_lf)
{
    size_t total;
    const char s[] = "0123456789abcdef\nOK\r\n";
    for (size_t chunk = 1; chunk <= sizeof s; chunk++) {
        evlist l = run_framer(s, sizeof s - 1, 10, chunk, 0, 0, &total);
        cr_assert_eq(l.n, 2);
        cr_assert_eq(l.v[0].status, SC_LINE_OVERLONG);
        cr_assert_eq(l.v[0].flags, SC_LINE_BARE_LF, "chunk %zu", chunk);
        cr_assert_eq(l.v[0].end, 17);
        cr_assert_eq(l.v[1].status, SC_LINE_COMPLETE);
        cr_assert_eq(l.v[1].line_len, 2);
        cr_assert_eq(total, sizeof s - 1);
        free(l.v);
    }
}

Test(line, overlong_crlf_split_across_discard)
{
    /* The CR that fills max_len and its LF arrive in different calls: still a CRLF. */
    const char s[] = "012345678\r\nOK\r\n";
    for (size_t chunk = 1; chunk <= sizeof s; chunk++) {
        size_t total;
        evlist l = run_framer(s, sizeof s - 1, 10, chunk, 0, 0, &total);
        cr_assert_eq(l.n, 2);
        cr_assert_eq(l.v[0].status, SC_LINE_OVERLONG);
        cr_assert_eq(l.v[0].flags, 0, "chunk %zu flags %x", chunk, l.v[0].flags);
        cr_assert_eq(l.v[0].end, 11);
        cr_assert_eq(l.v[1].status, SC_LINE_COMPLETE);
        free(l.v);
    }
}

Test(line, cr_split_from_lf)
{
    sc_line_framer f;
    sc_line_init(&f, 512);
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(sc_line_next(&f, "AB\r", 3, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(sc_line_next(&f, "AB\r\n", 4, &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 2);
    cr_assert_eq(fl, 0);
    sc_line_init(&f, 512);
    cr_assert_eq(sc_line_next(&f, "AB\r", 3, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(sc_line_next(&f, "AB\rX\r\n", 6, &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 4);
    cr_assert_eq(fl, SC_LINE_BARE_CR);
}

Test(line, reset_forgets_progress)
{
    sc_line_framer f;
    sc_line_init(&f, 10);
    size_t ll, c;
    uint32_t fl;
    cr_assert_eq(sc_line_next(&f, "ABCDEFGHIJK", 11, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert(f.discarding);
    sc_line_reset(&f);
    cr_assert_eq(sc_line_next(&f, "OK\r\n", 4, &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 2);
    /* A shorter buffer than already scanned (contract breach) rescans safely. */
    cr_assert_eq(sc_line_next(&f, "ABCDEF", 6, &ll, &c, &fl), SC_LINE_NEED_MORE);
    cr_assert_eq(sc_line_next(&f, "A\r\n", 3, &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 1);
}

Test(line, need_more_resumes_where_it_stopped)
{
    sc_line_framer f;
    sc_line_init(&f, 1000);
    char buf[900];
    memset(buf, 'x', sizeof buf);
    size_t ll, c;
    uint32_t fl;
    for (size_t n = 1; n < 800; n++) {
        cr_assert_eq(sc_line_next(&f, buf, n, &ll, &c, &fl), SC_LINE_NEED_MORE);
        cr_assert_eq(f.scanned, n);
        cr_assert_eq(c, 0);
    }
    buf[800] = '\r';
    buf[801] = '\n';
    cr_assert_eq(sc_line_next(&f, buf, 802, &ll, &c, &fl), SC_LINE_COMPLETE);
    cr_assert_eq(ll, 800);
    cr_assert_eq(fl, 0);
}

/* ---- split invariance over a large varied stream ---- */

static char *make_stream(uint64_t seed, size_t target, size_t max_len, size_t *out_len)
{
    char *s = malloc(target + 4096);
    cr_assert_not_null(s);
    size_t n = 0;
    uint64_t st = seed;
    while (n < target) {
        unsigned kind = (unsigned)(xorshift(&st) % 12);
        size_t l;
        switch (kind) {
        case 0: l = max_len - 2; break;                  /* exactly max_len with CRLF */
        case 1: l = max_len - 1; break;                  /* one over */
        case 2: l = max_len + (size_t)(xorshift(&st) % 300); break; /* over-long */
        default: l = (size_t)(xorshift(&st) % (max_len - 1)); break;
        }
        if (l > 3000)
            l = 3000;
        for (size_t i = 0; i < l; i++) {
            unsigned r = (unsigned)(xorshift(&st) % 100);
            char c = (char)('a' + r % 26);
            if (r == 0)
                c = '\r';
            else if (r == 1)
                c = '\0';
            else if (r == 2)
                c = (char)0xe9;
            s[n++] = c;
        }
        unsigned t = (unsigned)(xorshift(&st) % 10);
        if (t < 7) {
            s[n++] = '\r';
            s[n++] = '\n';
        } else if (t < 9) {
            s[n++] = '\n';
        } else {
            s[n++] = '\r';
            s[n++] = '\r';
            s[n++] = '\n';
        }
    }
    *out_len = n;
    return s;
}

Test(line, split_invariance)
{
    const size_t maxes[] = {16, 64, 512, 1000};
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        size_t len;
        char *s = make_stream(0x9e3779b97f4a7c15u + m, 200000, maxes[m], &len);
        size_t t_whole, t_bytes, t_rand;
        evlist whole = run_framer(s, len, maxes[m], len, 0, 0, &t_whole);
        evlist bytes = run_framer(s, len, maxes[m], 1, 0, 0, &t_bytes);
        cr_assert_gt(whole.n, 100);
        assert_same(&whole, &bytes);
        cr_assert_eq(t_whole, t_bytes);
        for (uint64_t seed = 1; seed <= 8; seed++) {
            evlist r = run_framer(s, len, maxes[m], 0, seed * 7919, maxes[m] * 2, &t_rand);
            assert_same(&whole, &r);
            cr_assert_eq(t_whole, t_rand);
            free(r.v);
        }
        /* Sanity: the whole-stream run saw every kind of outcome. */
        int seen_over = 0, seen_flags = 0;
        for (size_t i = 0; i < whole.n; i++) {
            seen_over |= whole.v[i].status == SC_LINE_OVERLONG;
            seen_flags |= (int)whole.v[i].flags;
        }
        cr_assert(seen_over);
        cr_assert_eq(seen_flags & 0xf, 0xf);
        free(whole.v);
        free(bytes.v);
        free(s);
    }
}

/* Byte-by-byte statement of what sc_line_scan promises (line.h). */
static size_t scan_reference(const unsigned char *p, size_t from, size_t len, uint32_t *bits)
{
    size_t i = from;
    while (i < len && p[i] != '\n')
        i++;
    uint32_t b = 0;
    for (size_t j = from; j < i; j++) {
        if (p[j] == 0)
            b |= SC_SCAN_NUL;
        if (p[j] >= 0x80)
            b |= SC_SCAN_8BIT;
        if (p[j] == '\r' && j + 1 < i)
            b |= SC_SCAN_CR;
    }
    *bits = b;
    return i;
}

/* The SSE2 scan (16-byte blocks, a shifted or copied tail, a fallback to the portable scan
 * for lines that are not clean) and the portable scan against the reference, on every
 * start inside random buffers: the special bytes land on block edges, in the tail, just
 * before and after the LF. */
Test(line, scan_paths_agree_with_reference)
{
    static const unsigned char odd[] = {'a', '\r', '\r', '\n', '\n', 0, 0x80, 0xff, ' '};
    uint64_t seed = 0x2545f4914f6cdd1du;
    unsigned char buf[80];
    for (int round = 0; round < 3000; round++) {
        size_t len = (size_t)(xorshift(&seed) % sizeof buf);
        /* Mostly plain bytes, so that long runs without an LF occur. */
        uint64_t density = xorshift(&seed) % 4;
        for (size_t i = 0; i < len; i++) {
            uint64_t r = xorshift(&seed);
            buf[i] = (r % 16 < density) ? odd[(r >> 8) % sizeof odd] : 'x';
        }
        for (size_t from = 0; from <= len; from++) {
            uint32_t want = 0, got = 0, port = 0;
            size_t wi = scan_reference(buf, from, len, &want);
            size_t gi = sc_line_scan(buf, from, len, &got);
            size_t pi = sc_line_scan_portable(buf, from, len, &port);
            cr_assert_eq(gi, wi, "round %d from %zu len %zu", round, from, len);
            cr_assert_eq(pi, wi, "round %d from %zu len %zu", round, from, len);
            cr_assert_eq(got, want, "round %d from %zu len %zu: %x, want %x", round, from, len,
                         got, want);
            cr_assert_eq(port, want, "round %d from %zu len %zu: %x, want %x", round, from,
                         len, port, want);
        }
    }
}

/* A line decided in one call from a buffer with at least 32 bytes (the fast path for
 * clean CRLF lines) must give what feeding the same bytes one at a time gives (the
 * general path): every line length around the 32-byte steps, a special byte at every
 * position, each terminator, several limits, with more input behind the line. */
Test(line, whole_buffer_agrees_with_byte_feed)
{
    static const unsigned char specials[] = {'x', '\r', 0, 0x80, 0xff, '\n'};
    static const char *const ends[] = {"\r\n", "\n", "\r\r\n", "\r"};
    const size_t maxes[] = {16, 31, 32, 33, 64, 512};
    char buf[200];
    for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
        for (size_t n = 0; n < 100; n++)
            for (size_t e = 0; e < sizeof ends / sizeof ends[0]; e++)
                for (size_t k = 0; k < sizeof specials; k++)
                    for (size_t pos = 0; pos < (k == 0 ? 1 : n); pos++) {
                        memset(buf, 'a', n);
                        if (n)
                            buf[pos] = (char)specials[k];
                        size_t el = strlen(ends[e]);
                        memcpy(buf + n, ends[e], el);
                        size_t len = n + el;
                        memset(buf + len, 'z', 70);
                        memcpy(buf + len + 70, "\r\n", 2);
                        len += 72;
                        size_t t_whole, t_bytes;
                        evlist whole = run_framer(buf, len, maxes[m], len, 0, 0, &t_whole);
                        evlist bytes = run_framer(buf, len, maxes[m], 1, 0, 0, &t_bytes);
                        assert_same(&whole, &bytes);
                        cr_assert_eq(t_whole, t_bytes);
                        free(whole.v);
                        free(bytes.v);
                    }
}
