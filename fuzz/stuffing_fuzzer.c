/* SPDX-License-Identifier: MIT */
/* Round trip of the DATA body transforms: client stuffing (sc_stuff, sc_stuff_finish) then
 * server unstuffing (sc_unstuff_next) gives back the body, CRLF-normalised.
 *
 * Input: the body as the host hands it to the client, then 6 decision bytes at the end
 * (mode, output buffer size, a seed for the read splits of both sides).
 *
 * Invariants: the stuffed stream never holds a bare CR or LF, never holds CRLF.CRLF
 * before its end, and unstuffs to exactly fz_data_content(body) (fuzz_common.h: CRLF
 * normalised, + CRLF when the body did not end with one), with the END at the last byte;
 * unstuffing the same stream whole and in pieces gives the same content, flags and size;
 * BDAT mode and BINARYMIME mode are checked against their own expectations. */
#include "fuzz_common.h"

#include "data.h"

/* Runs the client side over body in pseudo-random pieces with a small output buffer. */
static size_t stuff_all(const char *body, size_t n, int dot, int binary, size_t ocap, fz_rng *rng,
                        char *out, size_t out_cap)
{
    sc_stuffer st;
    sc_stuffer_init(&st, dot, binary);
    size_t ip = 0, op = 0;
    char tmp[64];
    FZ_CHECK(ocap >= 3 && ocap <= sizeof tmp);
    while (ip < n) {
        size_t piece = fz_rng_split(rng, n - ip);
        size_t used = 0;
        size_t w = sc_stuff(&st, body + ip, piece, tmp, ocap, &used);
        FZ_CHECK(w <= ocap && used <= piece);
        FZ_CHECK(w > 0 || used > 0); /* progress with cap >= 3 */
        FZ_CHECK(op + w <= out_cap);
        memcpy(out + op, tmp, w);
        op += w;
        ip += used;
    }
    size_t w = sc_stuff_finish(&st, tmp, ocap < 5 ? 5 : ocap);
    FZ_CHECK(w != (size_t)-1 && w <= 5);
    FZ_CHECK(op + w <= out_cap);
    memcpy(out + op, tmp, w);
    op += w;
    return op;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    fz_src src;
    fz_init(&src, data, size);
    uint8_t mode = fz_ctl(&src);
    size_t ocap = 3 + (fz_ctl(&src) % 62u);
    uint32_t seed = fz_ctl32(&src);
    int dot = (mode & 1u) == 0;    /* DATA by default, BDAT otherwise */
    int binary = !dot && (mode & 2u); /* BINARYMIME only with BDAT */
    static const size_t line_limits[4] = {1000, 0, 1, 78};
    size_t max_line = line_limits[(mode >> 2) & 3u];

    const char *body = (const char *)src.p;
    size_t n = src.n;
    size_t cap = 2 * n + 8;
    char *stuffed = malloc(cap);
    char *want = malloc(cap);
    char *got = malloc(cap);
    char *got2 = malloc(cap);
    FZ_CHECK(stuffed && want && got && got2);

    fz_rng rng;
    fz_rng_init(&rng, seed);
    size_t sl = stuff_all(body, n, dot, binary, ocap, &rng, stuffed, cap);

    if (binary) {
        FZ_CHECK(sl == n && (n == 0 || memcmp(stuffed, body, n) == 0));
        goto out;
    }
    size_t wl = fz_normalise_crlf(body, n, want);
    /* Never a bare CR or LF on the wire. */
    for (size_t i = 0; i < sl; i++) {
        if (stuffed[i] == '\r')
            FZ_CHECK(i + 1 < sl && stuffed[i + 1] == '\n');
        if (stuffed[i] == '\n')
            FZ_CHECK(i > 0 && stuffed[i - 1] == '\r');
    }
    if (!dot) {
        /* BDAT: no stuffing, no terminator; only the line endings change. */
        FZ_CHECK(sl == wl && (wl == 0 || memcmp(stuffed, want, wl) == 0));
        goto out;
    }
    wl = fz_data_content(body, n, want);

    /* The end sequence appears exactly once, at the very end. */
    FZ_CHECK(sl >= 3 && memcmp(stuffed + sl - 3, ".\r\n", 3) == 0);
    FZ_CHECK(sl == 3 || (sl >= 5 && memcmp(stuffed + sl - 5, "\r\n.\r\n", 5) == 0));
    for (size_t i = 0; i + 5 < sl; i++)
        FZ_CHECK(memcmp(stuffed + i, "\r\n.\r\n", 5) != 0);

    fz_unstuffed a = fz_unstuff_all(stuffed, sl, max_line, NULL, got);
    FZ_CHECK(a.end_at == sl);
    FZ_CHECK(a.len == wl && (wl == 0 || memcmp(got, want, wl) == 0));
    FZ_CHECK((a.flags & (SC_DATA_BARE_LF | SC_DATA_BARE_CR)) == 0);
    FZ_CHECK(((a.flags & SC_DATA_NUL) != 0) == (memchr(body, 0, n) != NULL));

    fz_unstuffed b = fz_unstuff_all(stuffed, sl, max_line, &rng, got2);
    FZ_CHECK(b.end_at == a.end_at && b.len == a.len && b.flags == a.flags && b.size == a.size);
    FZ_CHECK(a.len == 0 || memcmp(got, got2, a.len) == 0);

    /* The raw body fed to the server unstuffer directly (no client in between): whole
     * and split must agree, whatever smuggling tricks the bytes hold. */
    fz_unstuffed c = fz_unstuff_all(body, n, max_line, NULL, got);
    fz_unstuffed d = fz_unstuff_all(body, n, max_line, &rng, got2);
    FZ_CHECK(c.end_at == d.end_at && c.len == d.len && c.size == d.size);
    FZ_CHECK(c.len == 0 || memcmp(got, got2, c.len) == 0);
    if (c.end_at) /* when ended, the flags cover the same bytes */
        FZ_CHECK(c.flags == d.flags);
    if (c.end_at) { /* it ended at a real CRLF.CRLF (or .CRLF at the very start) */
        FZ_CHECK(c.end_at == 3 || (c.end_at >= 5 && memcmp(body + c.end_at - 5, "\r\n.\r\n", 5) == 0));
        FZ_CHECK(memcmp(body + c.end_at - 3, ".\r\n", 3) == 0);
    }

out:
    free(stuffed);
    free(want);
    free(got);
    free(got2);
    return 0;
}
