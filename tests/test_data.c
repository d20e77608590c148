/* SPDX-License-Identifier: MIT */
/* DATA transforms: unstuffing (with SMTP smuggling variants) and stuffing. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- unstuffer driver ---- */

typedef struct unstuff_result {
    char *content;
    size_t content_len;
    long end_at; /* stream offset just after ".\r\n", or -1 */
    uint32_t flags;
    uint64_t size;
} unstuff_result;

/* Feeds s in chunks (`fixed` bytes, or PRNG sizes 1..maxchunk when fixed == 0; `split`
 * > 0 means two chunks [0, split) and the rest). */
static unstuff_result unstuff_run(const char *s, size_t len, size_t max_line, size_t fixed,
                                  uint64_t seed, size_t maxchunk, size_t split)
{
    unstuff_result r = {malloc(len + 1), 0, -1, 0, 0};
    cr_assert_not_null(r.content);
    sc_unstuffer u;
    sc_unstuffer_init(&u, max_line);
    size_t fed = 0, done = 0;
    uint64_t st = seed ? seed : 1;
    int first = 1;
    while (fed < len && r.end_at < 0) {
        size_t c;
        if (split)
            c = first ? split : len - fed;
        else
            c = fixed ? fixed : 1 + (size_t)(xorshift(&st) % maxchunk);
        first = 0;
        if (c > len - fed)
            c = len - fed;
        fed += c;
        for (;;) {
            size_t off = 77, sl = 77, cons = 77;
            sc_unstuff_status rs = sc_unstuff_next(&u, s + done, fed - done, &off, &sl, &cons);
            cr_assert(cons <= fed - done);
            if (rs == SC_UNSTUFF_SEGMENT) {
                cr_assert(sl > 0);
                cr_assert(off + sl <= cons);
                memcpy(r.content + r.content_len, s + done + off, sl);
                r.content_len += sl;
                done += cons;
                continue;
            }
            done += cons;
            if (rs == SC_UNSTUFF_END) {
                r.end_at = (long)done;
                break;
            }
            /* NEED_MORE: at most "\r\n.\r" style bytes are left undecided. */
            cr_assert(fed - done <= 4, "holding %zu bytes", fed - done);
            break;
        }
    }
    r.flags = u.flags;
    r.size = u.size;
    return r;
}

static unstuff_result unstuff_whole(const char *s, size_t len)
{
    return unstuff_run(s, len, 1000, len ? len : 1, 0, 0, 0);
}

static void assert_same_result(const unstuff_result *a, const unstuff_result *b, const char *what)
{
    cr_assert_eq(a->content_len, b->content_len, "%s: content length", what);
    cr_assert_eq(memcmp(a->content, b->content, a->content_len), 0, "%s: content", what);
    cr_assert_eq(a->end_at, b->end_at, "%s: end", what);
    cr_assert_eq(a->flags, b->flags, "%s: flags %x vs %x", what, a->flags, b->flags);
    cr_assert_eq(a->size, b->size, "%s: size", what);
}

/* Checks content, end and flags of s, then the same over every split and byte by byte. */
static void expect_unstuff(const char *s, size_t len, const char *want, size_t want_len,
                           long end_at, uint32_t flags)
{
    unstuff_result w = unstuff_whole(s, len);
    cr_assert_eq(w.content_len, want_len, "content length %zu, want %zu", w.content_len,
                 want_len);
    cr_assert_eq(memcmp(w.content, want, want_len), 0, "content");
    cr_assert_eq(w.end_at, end_at, "end at %ld, want %ld", w.end_at, end_at);
    cr_assert_eq(w.flags, flags, "flags %x, want %x", w.flags, flags);
    cr_assert_eq(w.size, want_len);
    for (size_t k = 1; k < len; k++) {
        unstuff_result r = unstuff_run(s, len, 1000, 0, 0, 0, k);
        assert_same_result(&w, &r, "split");
        free(r.content);
    }
    unstuff_result b = unstuff_run(s, len, 1000, 1, 0, 0, 0);
    assert_same_result(&w, &b, "bytewise");
    free(b.content);
    free(w.content);
}

#define EXPECT(in, want, end, flags)                                                       \
    expect_unstuff((in), sizeof(in) - 1, (want), sizeof(want) - 1, (end), (flags))

/* ---- unstuffer cases ---- */

Test(unstuff, simple_body)
{
    EXPECT("Subject: x\r\n\r\nhello\r\n.\r\n", "Subject: x\r\n\r\nhello\r\n", 24, 0);
}

Test(unstuff, end_right_at_start)
{
    /* The DATA line's CRLF starts the first line: an empty message. */
    EXPECT(".\r\nQUIT\r\n", "", 3, 0);
}

Test(unstuff, stuffed_dots)
{
    EXPECT("..\r\n.\r\n", ".\r\n", 7, 0);
    EXPECT("a\r\n..b\r\n...\r\n.\r\n", "a\r\n.b\r\n..\r\n", 16, 0);
    EXPECT(".x\r\n.\r\n", "x\r\n", 7, 0);
}

Test(unstuff, dot_not_at_line_start_kept)
{
    EXPECT("a.\r\nb..\r\n.\r\n", "a.\r\nb..\r\n", 12, 0);
}

Test(unstuff, smuggling_lf_dot_lf)
{
    const char in[] = "a\n.\nMAIL FROM:<x>\r\n.\r\n";
    EXPECT(in, "a\n.\nMAIL FROM:<x>\r\n", 22, SC_DATA_BARE_LF);
}

Test(unstuff, smuggling_lf_dot_crlf)
{
    EXPECT("a\n.\r\nMAIL FROM:<x>\r\n.\r\n", "a\n.\r\nMAIL FROM:<x>\r\n", 23, SC_DATA_BARE_LF);
}

Test(unstuff, smuggling_crlf_dot_lf)
{
    /* A CRLF starts a line, so the dot is a leading dot on the line ".<LF>MAIL..." (a
     * bare LF does not end it) and is removed; nothing ends. */
    EXPECT("a\r\n.\nMAIL FROM:<x>\r\n.\r\n", "a\r\n\nMAIL FROM:<x>\r\n", 23, SC_DATA_BARE_LF);
}

Test(unstuff, smuggling_cr_dot_cr)
{
    EXPECT("a\r.\rMAIL FROM:<x>\r\n.\r\n", "a\r.\rMAIL FROM:<x>\r\n", 22, SC_DATA_BARE_CR);
}

Test(unstuff, smuggling_crlf_dot_cr)
{
    EXPECT("a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", 11, SC_DATA_BARE_CR);
    EXPECT("a\r\n.\r\r\n.\r\n", "a\r\n\r\r\n", 10, SC_DATA_BARE_CR);
}

Test(unstuff, smuggling_nul_tricks)
{
    EXPECT("a\r\n.\0\r\nb\r\n.\r\n", "a\r\n\0\r\nb\r\n", 13, SC_DATA_NUL);
    EXPECT("a\r\n\0.\r\n.\r\n", "a\r\n\0.\r\n", 10, SC_DATA_NUL);
    EXPECT("a\r\0\n.\r\n.\r\n", "a\r\0\n.\r\n", 10, SC_DATA_NUL | SC_DATA_BARE_CR | SC_DATA_BARE_LF);
    EXPECT("a\r\n.\r\0\n.\r\n", "a\r\n\r\0\n.\r\n", -1, SC_DATA_NUL | SC_DATA_BARE_CR | SC_DATA_BARE_LF);
}

Test(unstuff, no_end_without_crlf_dot_crlf)
{
    EXPECT("a\r\n.\r", "a\r\n", -1, 0);
    EXPECT("a\r\n.", "a\r\n", -1, 0);
    EXPECT("a\r\n", "a\r\n", -1, 0);
    EXPECT("a\n.\n", "a\n.\n", -1, SC_DATA_BARE_LF);
    EXPECT("a\r\n.\n", "a\r\n\n", -1, SC_DATA_BARE_LF);
}

Test(unstuff, flags)
{
    EXPECT("caf\xc3\xa9\r\n.\r\n", "caf\xc3\xa9\r\n", 10, SC_DATA_8BIT);
    EXPECT("a\rb\r\n.\r\n", "a\rb\r\n", 8, SC_DATA_BARE_CR);
    EXPECT("a\r\r\n.\r\n", "a\r\r\n", 7, SC_DATA_BARE_CR);
    EXPECT("x\r\n\r.\r\n.\r\n", "x\r\n\r.\r\n", 10, SC_DATA_BARE_CR);
}

static void check_flag_positions(size_t n)
{
    const unsigned char specials[] = {'\r', 0, 0x80};
    const uint32_t want[] = {SC_DATA_BARE_CR, SC_DATA_NUL, SC_DATA_8BIT};
    char buf[128];
    for (size_t pos = 0; pos < n; pos++) {
        for (size_t k = 0; k < 3; k++) {
            memset(buf, 'a', n);
            buf[pos] = (char)specials[k];
            memcpy(buf + n, "\r\n.\r\n", 5);
            unstuff_result r = unstuff_whole(buf, n + 5);
            cr_assert_eq(r.flags, want[k], "n=%zu pos=%zu", n, pos);
            cr_assert_eq(r.end_at, (long)(n + 5));
            free(r.content);
        }
    }
}

Test(unstuff, flags_at_every_position)
{
    for (size_t n = 1; n < 70; n++)
        check_flag_positions(n);
}

Test(unstuff, long_lines)
{
    char buf[2100];
    memset(buf, 'x', sizeof buf);
    /* 998 + CRLF = 1000: fine. */
    memcpy(buf + 998, "\r\n.\r\n", 5);
    unstuff_result r = unstuff_run(buf, 1003, 1000, 1003, 0, 0, 0);
    cr_assert_eq(r.flags, 0);
    free(r.content);
    memset(buf, 'x', sizeof buf);
    memcpy(buf + 999, "\r\n.\r\n", 5);
    for (size_t chunk = 1; chunk < 1100; chunk += 97) {
        r = unstuff_run(buf, 1004, 1000, chunk, 0, 0, 0);
        cr_assert_eq(r.flags, SC_DATA_LONG_LINE, "chunk %zu", chunk);
        cr_assert_eq(r.end_at, 1004);
        free(r.content);
    }
    /* A stuffed dot counts: it is on the wire. */
    memset(buf, 'x', sizeof buf);
    buf[0] = '.';
    buf[1] = '.';
    memcpy(buf + 998, "\r\n.\r\n", 5);
    r = unstuff_run(buf, 1003, 1000, 1003, 0, 0, 0);
    cr_assert_eq(r.flags, 0);
    cr_assert_eq(r.content_len, 999);
    free(r.content);
}

Test(unstuff, after_end_stays_ended)
{
    sc_unstuffer u;
    sc_unstuffer_init(&u, 1000);
    size_t off, sl, cons;
    cr_assert_eq(sc_unstuff_next(&u, ".\r\n", 3, &off, &sl, &cons), SC_UNSTUFF_END);
    cr_assert_eq(cons, 3);
    cr_assert_eq(sc_unstuff_next(&u, "QUIT\r\n", 6, &off, &sl, &cons), SC_UNSTUFF_END);
    cr_assert_eq(cons, 0);
    cr_assert_eq(sl, 0);
}

Test(unstuff, holds_back_only_undecided_dot)
{
    sc_unstuffer u;
    sc_unstuffer_init(&u, 1000);
    size_t off, sl, cons;
    cr_assert_eq(sc_unstuff_next(&u, "ab\r", 3, &off, &sl, &cons), SC_UNSTUFF_SEGMENT);
    cr_assert_eq(cons, 3); /* the CR is content either way */
    cr_assert_eq(sl, 3);
    cr_assert_eq(sc_unstuff_next(&u, "\n.\r", 3, &off, &sl, &cons), SC_UNSTUFF_SEGMENT);
    cr_assert_eq(sl, 1);
    cr_assert_eq(cons, 1);
    cr_assert_eq(sc_unstuff_next(&u, ".\r", 2, &off, &sl, &cons), SC_UNSTUFF_NEED_MORE);
    cr_assert_eq(cons, 0);
    cr_assert_eq(sc_unstuff_next(&u, ".\r\n", 3, &off, &sl, &cons), SC_UNSTUFF_END);
    cr_assert_eq(cons, 3);
}

/* A large mixed body: random splits, bytewise and whole agree. */
Test(unstuff, split_invariance_large)
{
    const char alphabet[] = "abcdefgh.\r\n\r\n\r\n..\0\x80 xyz";
    size_t len = 300000;
    char *s = malloc(len + 5);
    cr_assert_not_null(s);
    uint64_t st = 0x1234567u;
    for (size_t i = 0; i < len; i++)
        s[i] = alphabet[xorshift(&st) % (sizeof alphabet - 1)];
    /* Remove accidental ends, then add the real one. */
    for (size_t i = 0; i + 5 <= len; i++)
        if (memcmp(s + i, "\r\n.\r\n", 5) == 0)
            s[i + 2] = 'q';
    if (memcmp(s, ".\r\n", 3) == 0)
        s[0] = 'q';
    memset(s + 1000, 'x', 200); /* one long line for sure */
    memcpy(s + len, "\r\n.\r\n", 5);
    unstuff_result w = unstuff_run(s, len + 5, 80, len + 5, 0, 0, 0);
    cr_assert_eq(w.end_at, (long)(len + 5));
    cr_assert_eq(w.flags, SC_DATA_BARE_LF | SC_DATA_BARE_CR | SC_DATA_NUL | SC_DATA_8BIT |
                              SC_DATA_LONG_LINE);
    unstuff_result b = unstuff_run(s, len + 5, 80, 1, 0, 0, 0);
    assert_same_result(&w, &b, "bytewise");
    free(b.content);
    for (uint64_t seed = 1; seed < 20; seed++) {
        unstuff_result r = unstuff_run(s, len + 5, 80, 0, seed * 104729, 1 + seed * 13, 0);
        assert_same_result(&w, &r, "random");
        free(r.content);
    }
    free(w.content);
    free(s);
}

/* ---- stuffer ---- */

/* Stuffs in chunks of `chunk` input bytes with output room `cap` per call, then finishes. */
static size_t stuff_all(const char *in, size_t len, int dot, int bin, size_t chunk, size_t cap,
                        char *out, size_t out_cap)
{
    sc_stuffer s;
    sc_stuffer_init(&s, dot, bin);
    size_t ip = 0, op = 0;
    size_t guard = 0;
    while (ip < len) {
        size_t n = len - ip < chunk ? len - ip : chunk;
        size_t room = cap < out_cap - op ? cap : out_cap - op;
        size_t used = 999;
        size_t w = sc_stuff(&s, in + ip, n, out + op, room, &used);
        cr_assert(w <= room);
        cr_assert(used <= n);
        cr_assert(w > 0 || used > 0 || n == 0, "no progress with cap %zu", room);
        ip += used;
        op += w;
        cr_assert(++guard < 10 * len + 10);
    }
    size_t f = sc_stuff_finish(&s, out + op, out_cap - op);
    cr_assert_neq(f, (size_t)-1);
    return op + f;
}

static void expect_stuff(const char *in, size_t len, int dot, int bin, const char *want,
                         size_t want_len)
{
    char out[1024];
    const size_t chunks[] = {1, 2, 3, 7, 1024};
    const size_t caps[] = {3, 4, 5, 1024};
    for (size_t i = 0; i < 5; i++) {
        for (size_t j = 0; j < 4; j++) {
            size_t n = stuff_all(in, len, dot, bin, chunks[i], caps[j], out, sizeof out);
            cr_assert_eq(n, want_len, "chunk %zu cap %zu: len %zu want %zu", chunks[i],
                         caps[j], n, want_len);
            cr_assert_eq(memcmp(out, want, n), 0, "chunk %zu cap %zu: %.*s", chunks[i],
                         caps[j], (int)n, out);
        }
    }
}

#define STUFF(in, dot, bin, want) expect_stuff((in), sizeof(in) - 1, (dot), (bin), (want), sizeof(want) - 1)

Test(stuff, normalises_and_stuffs)
{
    STUFF("", 1, 0, ".\r\n");
    STUFF("a\r\nb\r\n", 1, 0, "a\r\nb\r\n.\r\n");
    STUFF("a\nb", 1, 0, "a\r\nb\r\n.\r\n");
    STUFF("a\rb", 1, 0, "a\r\nb\r\n.\r\n");
    STUFF("a\r\r\nb", 1, 0, "a\r\n\r\nb\r\n.\r\n");
    STUFF("a\n\rb", 1, 0, "a\r\n\r\nb\r\n.\r\n");
    STUFF(".a", 1, 0, "..a\r\n.\r\n");
    STUFF(".", 1, 0, "..\r\n.\r\n");
    STUFF("a\r\n.\r\nb", 1, 0, "a\r\n..\r\nb\r\n.\r\n");
    STUFF("a\n.\nb", 1, 0, "a\r\n..\r\nb\r\n.\r\n");
    STUFF("a\r.\rb", 1, 0, "a\r\n..\r\nb\r\n.\r\n");
    STUFF("a.b\r\n", 1, 0, "a.b\r\n.\r\n");
    STUFF("a\r", 1, 0, "a\r\n.\r\n");
}

Test(stuff, bdat_no_dot_stuffing)
{
    STUFF(".a\nb", 0, 0, ".a\r\nb");
    STUFF("a\r", 0, 0, "a\r\n");
    STUFF("", 0, 0, "");
}

Test(stuff, binary_passthrough)
{
    STUFF("a\nb\r.\r\n\0\xff.", 0, 1, "a\nb\r.\r\n\0\xff.");
}

Test(stuff, pending_cr_across_calls)
{
    sc_stuffer s;
    sc_stuffer_init(&s, 1, 0);
    char out[16];
    size_t used;
    cr_assert_eq(sc_stuff(&s, "a\r", 2, out, sizeof out, &used), 3);
    cr_assert_eq(used, 2);
    cr_assert(s.pending_cr);
    cr_assert_eq(sc_stuff(&s, "\n.b", 3, out, sizeof out, &used), 3);
    cr_assert_eq(memcmp(out, "..b", 3), 0);
    cr_assert_eq(used, 3);
}

Test(stuff, finish_needs_room)
{
    sc_stuffer s;
    sc_stuffer_init(&s, 1, 0);
    char out[8];
    cr_assert_eq(sc_stuff_finish(&s, out, 4), (size_t)-1);
    cr_assert_eq(sc_stuff_finish(&s, out, 5), 3);
}

Test(stuff, output_bound)
{
    /* Worst case: every byte doubles. */
    char in[200];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)("\n\r."[i % 3]);
    char out[1024];
    sc_stuffer s;
    sc_stuffer_init(&s, 1, 0);
    size_t used;
    size_t n = sc_stuff(&s, in, sizeof in, out, sizeof out, &used);
    cr_assert_eq(used, sizeof in);
    cr_assert(n <= 2 * sizeof in + 1);
}

/* ---- property: stuff then unstuff is the identity after normalisation ---- */

static size_t normalise(const unsigned char *in, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\r') {
            out[o++] = '\r';
            out[o++] = '\n';
            if (i + 1 < len && in[i + 1] == '\n')
                i++;
        } else if (in[i] == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
        } else {
            out[o++] = (char)in[i];
        }
    }
    if (o > 0 && !(o >= 2 && out[o - 2] == '\r' && out[o - 1] == '\n')) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    return o;
}

/* Dense specials stress the byte-wise paths; sparse ones the 16-byte block path. */
static void identity_property(const unsigned char *alphabet, size_t alen, uint64_t st)
{
    unsigned char in[300];
    char norm[700], stuffed[800];
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = (size_t)(xorshift(&st) % 300);
        for (size_t i = 0; i < len; i++)
            in[i] = alphabet[xorshift(&st) % alen];
        size_t nl = normalise(in, len, norm);
        size_t chunk = 1 + (size_t)(xorshift(&st) % 64);
        size_t cap = 3 + (size_t)(xorshift(&st) % 64);
        size_t sl = stuff_all((const char *)in, len, 1, 0, chunk, cap, stuffed, sizeof stuffed);
        unstuff_result r =
            unstuff_run(stuffed, sl, 1000, 0, xorshift(&st) | 1, 1 + (size_t)(xorshift(&st) % 40), 0);
        cr_assert_eq(r.end_at, (long)sl, "iter %d: end %ld of %zu", iter, r.end_at, sl);
        cr_assert_eq(r.content_len, nl, "iter %d: content %zu want %zu", iter, r.content_len, nl);
        cr_assert_eq(memcmp(r.content, norm, nl), 0, "iter %d", iter);
        cr_assert_eq(r.flags & (SC_DATA_BARE_CR | SC_DATA_BARE_LF), 0, "iter %d", iter);
        free(r.content);
    }
}

Test(stuff, stuff_unstuff_identity_property)
{
    const unsigned char dense[] = {'.', '.', '.', '\r', '\r', '\n', '\n', 'a', 'b', ' ', 0, 0xff};
    identity_property(dense, sizeof dense, 0xdeadbeefcafef00du);
    unsigned char sparse[64];
    memset(sparse, 'x', sizeof sparse);
    memcpy(sparse, ".\r\n\r\n\r\n\r\n\r\n.a\n\r", 16);
    identity_property(sparse, sizeof sparse, 0x0123456789abcdefu);
}

/* Long clean runs with CRLF at every offset: the block path must match the byte path. */
Test(stuff, block_path_matches_bytewise)
{
    char in[400], a[900], b[900];
    for (size_t gap = 1; gap < 40; gap++) {
        for (size_t i = 0; i < sizeof in; i++)
            in[i] = (char)('a' + i % 26);
        for (size_t i = gap; i + 2 < sizeof in; i += gap + 2) {
            in[i] = '\r';
            in[i + 1] = '\n';
            if (i + 2 < sizeof in && (i / gap) % 3 == 0)
                in[i + 2] = '.';
        }
        size_t na = stuff_all(in, sizeof in, 1, 0, sizeof in, sizeof a, a, sizeof a);
        size_t nb = stuff_all(in, sizeof in, 1, 0, 1, 3, b, sizeof b);
        cr_assert_eq(na, nb, "gap %zu", gap);
        cr_assert_eq(memcmp(a, b, na), 0, "gap %zu", gap);
    }
}

/* Mostly clean text with rare specials: the whole-buffer run takes the 64-byte block
 * path, the byte-wise run never can, so they check each other (flags included). */
Test(unstuff, block_path_matches_linewise)
{
    const size_t maxes[] = {64, 100, 1000};
    for (uint64_t seed = 1; seed <= 30; seed++) {
        uint64_t st = seed * 0x9e3779b97f4a7c15u;
        size_t cap = 20000, n = 0;
        char *s = malloc(cap + 8);
        cr_assert_not_null(s);
        unsigned density = 50 + (unsigned)(seed * 37 % 400);
        while (n + 200 < cap) {
            size_t l = (size_t)(xorshift(&st) % 160);
            if (xorshift(&st) % 20 == 0)
                s[n++] = '.';
            for (size_t i = 0; i < l; i++) {
                unsigned r = (unsigned)(xorshift(&st) % density);
                s[n++] = r == 0 ? '\r' : r == 1 ? '\n' : r == 2 ? '\0' : r == 3 ? (char)0x80
                                                                           : (char)('a' + r % 26);
            }
            s[n++] = '\r';
            s[n++] = '\n';
        }
        for (size_t i = 0; i + 5 <= n; i++)
            if (memcmp(s + i, "\r\n.\r\n", 5) == 0)
                s[i + 2] = 'q';
        memcpy(s + n, ".\r\n", 3);
        n += 3;
        for (size_t m = 0; m < 3; m++) {
            unstuff_result w = unstuff_run(s, n, maxes[m], n, 0, 0, 0);
            cr_assert_eq(w.end_at, (long)n, "seed %llu", (unsigned long long)seed);
            unstuff_result b = unstuff_run(s, n, maxes[m], 1, 0, 0, 0);
            assert_same_result(&w, &b, "block vs bytewise");
            unstuff_result r = unstuff_run(s, n, maxes[m], 0, seed, 300, 0);
            assert_same_result(&w, &r, "block vs random");
            free(w.content);
            free(b.content);
            free(r.content);
        }
        free(s);
    }
}

/* One special byte at every offset of a clean multi-block body: the flag must be raised
 * wherever it lands (block lanes, block edges, line-wise tails). */
Test(unstuff, single_special_at_every_offset)
{
    char base[700];
    size_t n = 0;
    while (n + 80 < sizeof base) {
        for (size_t i = 0; i < 70; i++)
            base[n++] = (char)('a' + i % 26);
        base[n++] = '\r';
        base[n++] = '\n';
    }
    const char specials[] = {'\r', '\n', '\0', (char)0x80};
    const uint32_t want[] = {SC_DATA_BARE_CR, SC_DATA_BARE_LF, SC_DATA_NUL, SC_DATA_8BIT};
    char s[720];
    for (size_t pos = 0; pos < n; pos++) {
        if (base[pos] == '\r' || base[pos] == '\n')
            continue;
        for (size_t k = 0; k < 4; k++) {
            memcpy(s, base, n);
            s[pos] = specials[k];
            memcpy(s + n, ".\r\n", 3);
            unstuff_result r = unstuff_run(s, n + 3, 1000, n + 3, 0, 0, 0);
            cr_assert_eq(r.flags, want[k], "pos %zu k %zu flags %x", pos, k, r.flags);
            cr_assert_eq(r.end_at, (long)(n + 3));
            cr_assert_eq(r.content_len, n);
            free(r.content);
        }
    }
}

/* Lines of exactly max_line octets pass, one more is flagged, for every line length the
 * block path handles. */
Test(unstuff, long_line_edges_in_blocks)
{
    char s[4000];
    for (size_t L = 64; L < 300; L += 7) {
        size_t n = 0;
        while (n + L + 8 < sizeof s) {
            for (size_t i = 0; i + 2 < L; i++)
                s[n++] = 'x';
            s[n++] = '\r';
            s[n++] = '\n';
        }
        memcpy(s + n, ".\r\n", 3);
        unstuff_result ok = unstuff_run(s, n + 3, L, n + 3, 0, 0, 0);
        cr_assert_eq(ok.flags, 0, "L %zu", L);
        unstuff_result bad = unstuff_run(s, n + 3, L - 1, n + 3, 0, 0, 0);
        cr_assert_eq(bad.flags, SC_DATA_LONG_LINE, "L %zu", L);
        free(ok.content);
        free(bad.content);
        /* One long line in the middle of short ones. */
        n = 0;
        for (int j = 0; j < 10; j++) {
            size_t len = j == 6 ? L - 1 : 40; /* j==6: L+1 octets with CRLF */
            for (size_t i = 0; i < len; i++)
                s[n++] = 'y';
            s[n++] = '\r';
            s[n++] = '\n';
        }
        memcpy(s + n, ".\r\n", 3);
        bad = unstuff_run(s, n + 3, L, n + 3, 0, 0, 0);
        cr_assert_eq(bad.flags, SC_DATA_LONG_LINE, "mid L %zu", L);
        ok = unstuff_run(s, n + 3, L + 1, n + 3, 0, 0, 0);
        cr_assert_eq(ok.flags, 0, "mid L %zu", L);
        free(ok.content);
        free(bad.content);
    }
}
