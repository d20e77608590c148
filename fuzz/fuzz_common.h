/* SPDX-License-Identifier: MIT */
/* Helpers shared by the fuzz targets (header-only, so each target stays one .c file as
 * OSS-Fuzz builds them).
 *
 * Input layout used by the session targets, like LLVM's FuzzedDataProvider: wire bytes
 * are taken from the front of the input, decisions (read sizes, host answers, API calls)
 * from the back. A seed that is a plain transcript therefore still works: when the
 * decision bytes run out every decision takes its default (0).
 *
 * Invariant violations call fz_fail(), which prints the reason and aborts, so libFuzzer
 * records the input as a crash just like a sanitizer report. */
#ifndef SMTPCORE_FUZZ_COMMON_H
#define SMTPCORE_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "data.h" /* the unstuffer the shared body model runs */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding that cannot be fixed at once is tolerated under #ifndef FZ_STRICT so that
 * fuzzing can go on past it (see fuzz/KNOWN_ISSUES.md); none is open now. */

#define FZ_CHECK(cond)                                                                      \
    do {                                                                                    \
        if (!(cond))                                                                        \
            fz_fail(__FILE__, __LINE__, #cond);                                             \
    } while (0)

static inline void fz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n", file, line, what);
    abort();
}

/* ---- input provider ---- */

typedef struct fz_src {
    const uint8_t *p; /* remaining input is p[0, n) */
    size_t n;
} fz_src;

static inline void fz_init(fz_src *s, const uint8_t *data, size_t size)
{
    s->p = data;
    s->n = size;
}

/* One decision byte from the back; 0 once exhausted. */
static inline uint8_t fz_ctl(fz_src *s)
{
    if (s->n == 0)
        return 0;
    s->n--;
    return s->p[s->n];
}

static inline uint32_t fz_ctl32(fz_src *s)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 8) | fz_ctl(s);
    return v;
}

/* One byte from the front; 0 once exhausted. */
static inline uint8_t fz_byte(fz_src *s)
{
    if (s->n == 0)
        return 0;
    uint8_t b = s->p[0];
    s->p++;
    s->n--;
    return b;
}

/* Up to k bytes from the front. */
static inline size_t fz_take(fz_src *s, size_t k, const uint8_t **out)
{
    if (k > s->n)
        k = s->n;
    *out = s->p;
    s->p += k;
    s->n -= k;
    return k;
}

/* Up to k bytes from the back (decision side), in input order. */
static inline size_t fz_take_back(fz_src *s, size_t k, const uint8_t **out)
{
    if (k > s->n)
        k = s->n;
    s->n -= k;
    *out = s->p + s->n;
    return k;
}

/* Splits the front bytes at the first occurrence of byte sep (consumed, not returned);
 * without one, returns everything left. */
static inline size_t fz_take_until(fz_src *s, uint8_t sep, const uint8_t **out)
{
    const uint8_t *hit = s->n ? memchr(s->p, sep, s->n) : NULL;
    size_t k = hit ? (size_t)(hit - s->p) : s->n;
    fz_take(s, k, out);
    if (hit) {
        s->p++;
        s->n--;
    }
    return k;
}

/* A small PRNG (xorshift32) for read splits in the differential targets, which must
 * replay the same wire bytes twice and so cannot draw decisions lazily. */
typedef struct fz_rng {
    uint32_t x;
} fz_rng;

static inline void fz_rng_init(fz_rng *r, uint32_t seed) { r->x = seed ? seed : 0x9e3779b9u; }

static inline uint32_t fz_rng_next(fz_rng *r)
{
    uint32_t x = r->x;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    r->x = x;
    return x;
}

/* A read size in [1, max]: mostly tiny, sometimes large, to hit every boundary. */
static inline size_t fz_rng_split(fz_rng *r, size_t max)
{
    uint32_t v = fz_rng_next(r);
    size_t n;
    switch (v & 3u) {
    case 0: n = 1; break;
    case 1: n = 1 + ((v >> 2) & 7u); break;
    case 2: n = 1 + ((v >> 2) & 63u); break;
    default: n = 1 + ((v >> 2) & 1023u); break;
    }
    return n < max ? n : max;
}

/* ---- reference models shared by the targets ----
 * What the engine must produce, written the plain way, once: the stuffing target checks
 * the transforms with them and the client target checks the bodies it sees on the wire. */

/* DATA content: CRLF, bare CR and bare LF each become CRLF. out holds at least 2 * n. */
static inline size_t fz_normalise_crlf(const char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\r') {
            out[o++] = '\r';
            out[o++] = '\n';
            if (i + 1 < n && in[i + 1] == '\n')
                i++;
        } else if (in[i] == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
        } else {
            out[o++] = in[i];
        }
    }
    return o;
}

/* What a body the host gave after DATA unstuffs to on the server: normalised, plus CRLF
 * when it is not empty and does not end with one. out holds at least 2 * n + 2. */
static inline size_t fz_data_content(const char *in, size_t n, char *out)
{
    size_t o = fz_normalise_crlf(in, n, out);
    if (o > 0 && !(o >= 2 && out[o - 2] == '\r' && out[o - 1] == '\n')) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    return o;
}

typedef struct fz_unstuffed {
    size_t len;    /* content bytes */
    size_t end_at; /* offset just past the end sequence, or 0 when not ended */
    uint32_t flags;
    uint64_t size;
} fz_unstuffed;

/* Runs the server's unstuffer (sc_unstuff_next) over s[0, n), whole when rng is NULL or in
 * pseudo-random pieces, copying the content to content (n bytes at most) and checking the
 * unstuffer's own contract on the way: segments inside what was used, END right after
 * ".\r\n", at most "\r\n.\r" held back undecided, size equal to the content. */
static inline fz_unstuffed fz_unstuff_all(const char *s, size_t n, size_t max_line,
                                          fz_rng *rng, char *content)
{
    sc_unstuffer u;
    sc_unstuffer_init(&u, max_line);
    size_t start = 0, avail = rng ? 0 : n;
    fz_unstuffed r = {0, 0, 0, 0};
    for (int guard = 0;; guard++) {
        FZ_CHECK(guard < 1000000);
        size_t off = 0, len = 0, used = 0;
        sc_unstuff_status st = sc_unstuff_next(&u, s + start, avail - start, &off, &len, &used);
        FZ_CHECK(used <= avail - start);
        if (st == SC_UNSTUFF_SEGMENT) {
            FZ_CHECK(len > 0 && off + len <= avail - start && off + len <= used);
            memcpy(content + r.len, s + start + off, len);
            r.len += len;
        } else if (st == SC_UNSTUFF_END) {
            FZ_CHECK(used >= 3 && memcmp(s + start + used - 3, ".\r\n", 3) == 0);
            start += used;
            r.end_at = start;
            break;
        } else {
            FZ_CHECK(st == SC_UNSTUFF_NEED_MORE);
            FZ_CHECK(avail - start - used <= 4);
            if (used == 0 && avail == n)
                break;
        }
        start += used;
        if (st == SC_UNSTUFF_NEED_MORE && avail < n)
            avail += fz_rng_split(rng, n - avail);
    }
    r.flags = u.flags;
    r.size = u.size;
    FZ_CHECK(r.size == r.len);
    return r;
}

/* FZ_TRACE=1 in the environment makes a target print what its host does (to read a
 * crash); read once. */
static inline int fz_trace_on(void)
{
    static int on = -1; /* the one cache of an environment variable, not session state */
    if (on < 0)
        on = getenv("FZ_TRACE") != NULL;
    return on;
}

/* ---- memory checks ---- */

/* Reads every byte of a slice so ASan reports a slice pointing outside live memory.
 * The returned sum keeps the reads from being optimised away. */
static inline unsigned fz_touch(const char *p, size_t n)
{
    FZ_CHECK(n == 0 || p != NULL);
    volatile unsigned acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (unsigned char)p[i];
    return acc;
}

/* Does needle[0, n) occur in hay[0, hn)? An empty needle always does. */
static inline int fz_contains(const char *hay, size_t hn, const char *needle, size_t n)
{
    if (n == 0)
        return 1;
    if (n > hn)
        return 0;
    for (size_t i = 0; i + n <= hn; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return 1;
    return 0;
}

/* Is the slice [p, p + n) inside [base, base + bn)? */
static inline int fz_within(const char *base, size_t bn, const char *p, size_t n)
{
    if (n == 0)
        return 1;
    uintptr_t b = (uintptr_t)base, q = (uintptr_t)p;
    return q >= b && q - b <= bn && n <= bn - (q - b);
}

/* ---- a counting allocator: sessions must not allocate after creation ---- */

typedef struct fz_alloc_stats {
    size_t mallocs, reallocs, frees;
    size_t live;
} fz_alloc_stats;

static inline void *fz_malloc(size_t n, void *user)
{
    fz_alloc_stats *st = user;
    st->mallocs++;
    st->live++;
    return malloc(n);
}

static inline void *fz_realloc(void *p, size_t n, void *user)
{
    fz_alloc_stats *st = user;
    st->reallocs++;
    if (!p)
        st->live++;
    return realloc(p, n);
}

static inline void fz_free(void *p, void *user)
{
    fz_alloc_stats *st = user;
    st->frees++;
    if (p)
        st->live--;
    free(p);
}

/* The memory rule of a session whose host may give its buffers back (the server's and
 * the client's release_idle()): `mem` is what the session reports now and `mem0` with its
 * buffers held; released, it is smaller by exactly the `bufs` the releases freed. Each of
 * the `releases` is followed by at most one allocation, the one that takes the buffers
 * back, and nothing else is allocated after the `allocs0` of creating the session. */
static inline void fz_check_release_memory(size_t mem, size_t mem0, const fz_alloc_stats *a,
                                           size_t allocs0, size_t releases, size_t bufs)
{
    int released = mem != mem0;
    FZ_CHECK(!released || (releases > 0 && mem == mem0 - bufs));
    FZ_CHECK(a->mallocs + a->reallocs == allocs0 + releases - (size_t)released);
    FZ_CHECK(a->live == allocs0 - (size_t)released);
}

/* What one release_idle() call did, against the rule: refused (INVALID_STATE), nothing
 * freed and the memory as `before`; done, either the buffers freed (always the same
 * amount, counted in `releases`, kept in `bufs`) or nothing when they were already
 * released; `after` is the session's memory once the call returned. */
static inline void fz_check_release_call(int rc, size_t freed, size_t before, size_t after,
                                         size_t mem0, size_t *releases, size_t *bufs)
{
    if (rc != SMTPCORE_OK) {
        FZ_CHECK(freed == 0 && after == before);
        return;
    }
    if (freed) {
        FZ_CHECK(before == mem0 && (*bufs == 0 || *bufs == freed));
        *bufs = freed;
        ++*releases;
    } else {
        FZ_CHECK(before != mem0);
    }
    FZ_CHECK(after == mem0 - *bufs);
}

static inline smtpcore_allocator fz_counting_allocator(fz_alloc_stats *st)
{
    memset(st, 0, sizeof *st);
    smtpcore_allocator a = {fz_malloc, fz_realloc, fz_free, st};
    return a;
}

/* ---- streaming check of server output: only legal SMTP reply lines ----
 * RFC 5321 4.2: Reply-line = *( code "-" [ text ] CRLF ) code [ SP text ] CRLF, code 2xx-5xx,
 * text without CR, LF or NUL (RFC textstring is HT / 32-126, but the API lets a host pass
 * other controls and UTF-8, which are not framing hazards), lines at
 * most 512 octets including CRLF (4.5.3.1.5), all lines of one reply with one code. */
typedef struct fz_reply_checker {
    size_t pos;        /* bytes of the current line so far */
    char code[3];      /* code of the current line */
    char first[3];     /* code of the reply's first line */
    int in_reply;      /* a "xyz-" line was seen */
    int last_line;     /* current line is a last line */
    int cr;            /* the previous byte was CR */
    size_t finals;     /* complete replies seen */
    size_t lines;      /* complete lines seen */
    char last_code[3]; /* code of the last complete reply */
} fz_reply_checker;

static inline void fz_reply_checker_init(fz_reply_checker *c) { memset(c, 0, sizeof *c); }

static inline void fz_reply_byte(fz_reply_checker *c, unsigned char b)
{
    if (c->cr) {
        FZ_CHECK(b == '\n'); /* bare CR */
        FZ_CHECK(c->pos >= 4 || (c->pos == 3 && c->last_line));
        c->lines++;
        if (c->last_line) {
            c->finals++;
            memcpy(c->last_code, c->code, 3);
            c->in_reply = 0;
        }
        c->pos = 0;
        c->cr = 0;
        c->last_line = 0;
        return;
    }
    FZ_CHECK(b != '\n'); /* bare LF */
    if (c->pos < 3) {
        FZ_CHECK(b >= '0' && b <= '9');
        if (c->pos == 0)
            FZ_CHECK(b >= '2' && b <= '5');
        if (c->pos == 1)
            FZ_CHECK(b <= '5'); /* RFC 5321 4.2: second digit 0-5 (found: KI-1) */
        c->code[c->pos] = (char)b;
    } else if (c->pos == 3) {
        if (c->in_reply)
            FZ_CHECK(memcmp(c->code, c->first, 3) == 0); /* mixed codes in one reply */
        else
            memcpy(c->first, c->code, 3);
        if (b == '-') {
            c->in_reply = 1;
        } else if (b == ' ' || b == '\r') {
            c->last_line = 1;
        } else {
            fz_fail(__FILE__, __LINE__, "bad separator after reply code");
        }
    } else {
        /* Only CR, LF and NUL are forbidden in text: the host may pass other controls. */
        FZ_CHECK(b != 0);
    }
    if (b == '\r')
        c->cr = 1;
    c->pos++;
    FZ_CHECK(c->pos <= 511); /* with the LF still to come: at most 512 octets */
}

static inline void fz_reply_check(fz_reply_checker *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fz_reply_byte(c, (unsigned char)p[i]);
}

/* At a point where the server must have completed its replies (never mid-line). */
static inline int fz_reply_checker_idle(const fz_reply_checker *c)
{
    return c->pos == 0 && !c->in_reply;
}

#endif
