/* SPDX-License-Identifier: MIT */
/* Fuzzes the client's reply path: line framer -> sc_reply_parser_feed -> smtpcore_reply
 * -> smtpcore_reply_line / smtpcore_caps_parse, as the client engine wires them.
 *
 * Input: the bytes a server sends, then 5 decision bytes at the end (line limit choice and
 * a seed for the read splits). The stream is framed twice, whole and in pseudo-random
 * reads, and both runs must give the same lines and replies at the same offsets.
 *
 * Invariants: framer results stay inside the buffer and respect the limit; flags match
 * the line's bytes; reply raw text and every line's text lie inside the stream; capability
 * bits are consistent. */
#include "fuzz_common.h"

#include "line.h"
#include "reply.h"

#define MAX_EVENTS 8192

typedef struct ev {
    int kind; /* 1 line, 2 overlong, 3 reply done, 4 invalid */
    size_t off, len, consumed;
    uint32_t flags;
    int code;
    size_t nlines;
    smtpcore_enhanced enh;
} ev;

typedef struct run {
    ev evs[MAX_EVENTS];
    size_t n;
} run;

static void log_ev(run *r, ev e)
{
    FZ_CHECK(r->n < MAX_EVENTS);
    r->evs[r->n++] = e;
}

static uint32_t expected_flags(const char *p, size_t n)
{
    uint32_t f = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)p[i];
        if (b == 0)
            f |= SC_LINE_NUL;
        else if (b == '\r')
            f |= SC_LINE_BARE_CR;
        else if (b >= 0x80)
            f |= SC_LINE_8BIT;
    }
    return f;
}

static void check_reply(const char *buf, size_t size, const smtpcore_reply *rep)
{
    FZ_CHECK(fz_within(buf, size, rep->raw.ptr, rep->raw.len));
    FZ_CHECK(rep->nlines >= 1);
    FZ_CHECK(rep->code >= 0 && rep->code <= 999);
    size_t total = 0;
    for (size_t i = 0; i < rep->nlines; i++) {
        smtpcore_str t;
        FZ_CHECK(smtpcore_reply_line(rep, i, &t) == SMTPCORE_OK);
        FZ_CHECK(fz_within(rep->raw.ptr, rep->raw.len, t.ptr, t.len));
        FZ_CHECK(memchr(t.ptr, '\n', t.len) == NULL);
        fz_touch(t.ptr, t.len);
        total += t.len;
    }
    FZ_CHECK(total <= rep->raw.len);
    smtpcore_str t;
    FZ_CHECK(smtpcore_reply_line(rep, rep->nlines, &t) == SMTPCORE_ERR_INVALID_ARGUMENT);

    smtpcore_caps caps;
    memset(&caps, 0xA5, sizeof caps);
    int rc = smtpcore_caps_parse(rep, &caps);
    if (rep->code != 250) { /* only an EHLO reply (250) carries capabilities */
        FZ_CHECK(rc == SMTPCORE_ERR_INVALID_ARGUMENT);
        return;
    }
    FZ_CHECK(rc == SMTPCORE_OK);
    if (caps.auth_mechs)
        FZ_CHECK(caps.extensions & SMTPCORE_EXT_AUTH);
    if (caps.size_limit)
        FZ_CHECK(caps.extensions & SMTPCORE_EXT_SIZE);
    FZ_CHECK((caps.extensions & ~0xfffu) == 0);
    FZ_CHECK(caps.esmtp == 0 || caps.esmtp == 1);
    smtpcore_caps again;
    memset(&again, 0, sizeof again);
    FZ_CHECK(smtpcore_caps_parse(rep, &again) == SMTPCORE_OK);
    FZ_CHECK(memcmp(&caps, &again, sizeof caps) == 0);
}

/* Frames buf[0, size) feeding it in reads of pseudo-random sizes (whole when rng NULL). */
static void frame(const char *buf, size_t size, size_t max_len, fz_rng *rng, run *out)
{
    sc_line_framer f;
    sc_line_init(&f, max_len);
    sc_reply_parser rp;
    sc_reply_parser_init(&rp);
    size_t start = 0;       /* first unconsumed byte */
    size_t avail = rng ? 0 : size;
    size_t reply_start = 0; /* first byte of the reply being assembled */
    out->n = 0;

    for (;;) {
        size_t line_len = 0, consumed = 0;
        uint32_t flags = 0;
        sc_line_status st = sc_line_next(&f, buf + start, avail - start, &line_len, &consumed, &flags);
        FZ_CHECK(consumed <= avail - start);
        if (st == SC_LINE_NEED_MORE) {
            FZ_CHECK(line_len == 0);
            start += consumed;
            if (consumed)
                reply_start = start; /* discarded bytes never belong to a reply */
            if (avail == size)
                break;
            avail += fz_rng_split(rng, size - avail);
            continue;
        }
        const char *line = buf + start;
        if (st == SC_LINE_OVERLONG) {
            FZ_CHECK(consumed >= 1 && line[consumed - 1] == '\n');
            /* Where an over-long line started depends on the reads; where it ended not. */
            log_ev(out, (ev){2, start + consumed, 0, 0, flags, 0, 0, {0, 0, 0}});
            start += consumed;
            sc_reply_parser_init(&rp);
            reply_start = start;
            continue;
        }
        FZ_CHECK(st == SC_LINE_COMPLETE);
        FZ_CHECK(consumed <= max_len || max_len < 2);
        FZ_CHECK(line[consumed - 1] == '\n');
        if (flags & SC_LINE_BARE_LF) {
            FZ_CHECK(consumed == line_len + 1);
        } else {
            FZ_CHECK(consumed == line_len + 2 && line[line_len] == '\r');
        }
        FZ_CHECK(memchr(line, '\n', line_len) == NULL);
        FZ_CHECK((flags & ~(uint32_t)SC_LINE_BARE_LF) == expected_flags(line, line_len));
        log_ev(out, (ev){1, start, line_len, consumed, flags, 0, 0, {0, 0, 0}});

        sc_reply_status rs = sc_reply_parser_feed(&rp, line, line_len, consumed, flags);
        start += consumed;
        if (rs == SC_REPLY_INVALID) {
            log_ev(out, (ev){4, start, 0, 0, 0, 0, 0, {0, 0, 0}});
            sc_reply_parser_init(&rp);
            reply_start = start;
        } else if (rs == SC_REPLY_DONE) {
            smtpcore_reply rep;
            memset(&rep, 0, sizeof rep);
            rep.code = rp.code;
            rep.enhanced = rp.enhanced;
            rep.raw.ptr = buf + reply_start;
            rep.raw.len = start - reply_start;
            rep.nlines = rp.nlines;
            rep.flags = rp.flags;
            FZ_CHECK(rep.code == (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
            if (rep.enhanced.cls)
                FZ_CHECK(rep.enhanced.cls == 2 || rep.enhanced.cls == 4 || rep.enhanced.cls == 5);
            check_reply(buf, size, &rep);
            log_ev(out, (ev){3, reply_start, rep.raw.len, 0, rep.flags, rep.code, rep.nlines,
                             rep.enhanced});
            sc_reply_parser_init(&rp);
            reply_start = start;
        } else {
            FZ_CHECK(rs == SC_REPLY_CONTINUE);
        }
    }
}

static run run_whole, run_split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384)
        return 0;
    fz_src src;
    fz_init(&src, data, size);
    static const size_t limits[8] = {512, 1000, 2, 3, 16, 64, 513, 0};
    size_t max_len = limits[fz_ctl(&src) & 7u];
    uint32_t seed = fz_ctl32(&src);

    char *buf = malloc(src.n ? src.n : 1);
    FZ_CHECK(buf != NULL);
    if (src.n)
        memcpy(buf, src.p, src.n);

    frame(buf, src.n, max_len, NULL, &run_whole);
    fz_rng rng;
    fz_rng_init(&rng, seed);
    frame(buf, src.n, max_len, &rng, &run_split);

    FZ_CHECK(run_whole.n == run_split.n);
    for (size_t i = 0; i < run_whole.n; i++) {
        const ev *a = &run_whole.evs[i], *b = &run_split.evs[i];
        FZ_CHECK(a->kind == b->kind && a->off == b->off && a->len == b->len &&
                 a->consumed == b->consumed && a->flags == b->flags && a->code == b->code &&
                 a->nlines == b->nlines);
        FZ_CHECK(memcmp(&a->enh, &b->enh, sizeof a->enh) == 0);
    }
    free(buf);
    return 0;
}
