/* SPDX-License-Identifier: MIT */
/* Property: the server's replies, events and message contents do not depend on how the
 * peer's bytes are split into reads. Random conversations (valid and hostile commands,
 * DATA bodies with smuggling sequences, BDAT chunks, over-long lines) are fed whole, one
 * byte at a time and in random chunks; every run must produce identical results. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

typedef struct tss_buf {
    char *p;
    size_t len, cap;
} tss_buf;

static void tss_put(tss_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        cr_assert_not_null(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void tss_puts(tss_buf *b, const char *s)
{
    tss_put(b, s, strlen(s));
}

static uint64_t tss_next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void tss_body(tss_buf *b, uint64_t *rng)
{
    static const char *const pieces[] = {
        "plain text line\r\n", "..stuffed\r\n", ".\n", "\n.\n", "\r\n.\r", "x\r.\r",
        "\0.\r\n", "MAIL FROM:<evil@example.com>\r\n", "\r\n", ".x\r\n", "long line",
        "\xc3\xa9t\xc3\xa9\r\n"};
    size_t n = tss_next(rng) % 8;
    for (size_t i = 0; i < n; i++) {
        size_t k = tss_next(rng) % (sizeof(pieces) / sizeof(pieces[0]));
        tss_put(b, pieces[k], k == 6 ? 5 : strlen(pieces[k]));
    }
    tss_puts(b, "\r\n.\r\n");
}

static void tss_conversation(tss_buf *b, uint64_t seed)
{
    uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 7;
    size_t n = 5 + tss_next(&rng) % 40;
    for (size_t i = 0; i < n; i++) {
        switch (tss_next(&rng) % 17) {
        case 0:
        case 1: tss_puts(b, "MAIL FROM:<a@example.org>\r\n"); break;
        case 2: tss_puts(b, "MAIL FROM:<a@example.org> SIZE=99999999\r\n"); break;
        case 3:
        case 4: tss_puts(b, "RCPT TO:<b@example.net>\r\n"); break;
        case 5: tss_puts(b, "RSET\r\nNOOP\r\n"); break;
        case 6:
        case 7:
            tss_puts(b, "DATA\r\n");
            tss_body(b, &rng);
            break;
        case 8: {
            char hdr[64];
            size_t len = tss_next(&rng) % 20;
            int last = (tss_next(&rng) & 1) != 0;
            snprintf(hdr, sizeof(hdr), "BDAT %zu%s\r\n", len, last ? " LAST" : "");
            tss_puts(b, hdr);
            for (size_t k = 0; k < len; k++) {
                char c = (char)(tss_next(&rng) & 0xff);
                tss_put(b, &c, 1);
            }
            break;
        }
        case 9: tss_puts(b, "VRFY postmaster\r\nHELP\r\n"); break;
        case 10: tss_puts(b, "HELO this is Jupiter\r\n"); break;
        case 11: {
            for (int k = 0; k < 70; k++)
                tss_puts(b, "overlong ");
            tss_puts(b, "\r\n");
            break;
        }
        case 12: tss_puts(b, "NOOP\n"); break;
        case 13: tss_puts(b, "FOO\r\n"); break;
        case 14: tss_puts(b, "EHLO [192.0.2.1]\r\n"); break;
        case 15: {
            static const char *const auth[] = {"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
                                               "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n",
                                               "AUTH PLAIN\r\n*\r\n", "AUTH LOGIN\r\n!!\r\n"};
            tss_puts(b, auth[tss_next(&rng) % 4]);
            break;
        }
        default: tss_puts(b, "RCPT TO:<c@example.net> NOTIFY=NEVER\r\n"); break;
        }
    }
    if (tss_next(&rng) & 1)
        tss_puts(b, "QUIT\r\n");
}

typedef struct tss_result {
    tss_buf out;
    tss_buf log;    /* event types and violations, one letter pair each */
    tss_buf bodies; /* all BODY bytes, with a separator at each message end */
    size_t msg_start; /* offset in bodies where the current message began */
} tss_result;

/* Deterministic host: refuses every fifth answer-required event. */
static void tss_answer(smtpcore_server *s, const smtpcore_server_event *ev, size_t *n)
{
    size_t k = (*n)++;
    if (ev->type == SMTPCORE_SEV_CONNECT || ev->type == SMTPCORE_SEV_HELO || k % 5 != 4) {
        cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
        return;
    }
    cr_assert_eq(smtpcore_server_reject(s, 550, NULL, "no"), SMTPCORE_OK);
}

static void tss_drain(smtpcore_server *s, tss_result *r, size_t *answers)
{
    for (int guard = 0; guard < 1000000; guard++) {
        const smtpcore_server_event *ev;
        cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE) {
            char buf[1024];
            size_t n = smtpcore_server_copy_output(s, buf, sizeof(buf));
            if (n == 0)
                return;
            tss_put(&r->out, buf, n);
            continue;
        }
        if (ev->type == SMTPCORE_SEV_BODY) {
            tss_put(&r->bodies, ev->data.ptr, ev->data.len);
            continue;
        }
        char tag[2] = {(char)('A' + (int)ev->type), (char)('a' + (int)ev->violation)};
        tss_put(&r->log, tag, 2);
        /* How much of a refused message was handed out before the refusal depends on
         * the reads (the host discards it anyway); only finished messages must match. */
        if (ev->type == SMTPCORE_SEV_MESSAGE_ABORTED) {
            r->bodies.len = r->msg_start;
            tss_puts(&r->bodies, "|ABORTED|");
            r->msg_start = r->bodies.len;
        }
        if (ev->type == SMTPCORE_SEV_MESSAGE_END) {
            tss_puts(&r->bodies, "|END|");
            r->msg_start = r->bodies.len;
        }
        if (ev->answer_required)
            tss_answer(s, ev, answers);
    }
    cr_assert_fail("drain did not settle");
}

/* mode 0: whole, 1: bytes, 2: random chunks */
static void tss_run(const tss_buf *in, int mode, uint64_t seed, tss_result *r)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_BINARYMIME | SMTPCORE_EXT_HELP | SMTPCORE_EXT_AUTH;
    c.allow_plaintext_auth = 1;
    c.max_message_size = 200;
    c.max_recipients = 3;
    c.max_errors = 0;
    c.input_buffer_size = 600;
    c.output_buffer_size = 1024;
    smtpcore_server *s;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    size_t answers = 0;
    tss_drain(s, r, &answers);
    /* EHLO on its own: pipelining is legal only after its reply. */
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(s, "EHLO client.example\r\n", 21, &used), SMTPCORE_OK);
    tss_drain(s, r, &answers);
    uint64_t rng = seed + 99;
    size_t at = 0;
    int stuck = 0;
    while (at < in->len) {
        size_t chunk = in->len - at;
        if (mode == 1)
            chunk = 1;
        else if (mode == 2) {
            size_t k = 1 + tss_next(&rng) % 64;
            if (k < chunk)
                chunk = k;
        }
        used = 0;
        int rc = smtpcore_server_receive(s, in->p + at, chunk, &used);
        if (rc == SMTPCORE_ERR_CLOSED)
            break;
        cr_assert_eq(rc, SMTPCORE_OK);
        at += used;
        tss_drain(s, r, &answers);
        stuck = used ? 0 : stuck + 1;
        cr_assert_lt(stuck, 3, "input stuck");
    }
    smtpcore_server_receive_eof(s);
    tss_drain(s, r, &answers);
    smtpcore_server_del(s);
}

static int tss_same(const tss_buf *a, const tss_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->p, b->p, a->len) == 0);
}

static void tss_free(tss_result *r)
{
    free(r->out.p);
    free(r->log.p);
    free(r->bodies.p);
}

Test(server_splits, random_conversations_are_split_independent)
{
    size_t total_out = 0;
    for (uint64_t seed = 1; seed <= 300; seed++) {
        tss_buf in = {0};
        tss_conversation(&in, seed);
        tss_result whole = {0};
        tss_run(&in, 0, seed, &whole);
        total_out += whole.out.len;
        for (int mode = 1; mode <= 2; mode++) {
            tss_result other = {0};
            tss_run(&in, mode, seed, &other);
            cr_expect(tss_same(&whole.out, &other.out), "seed %llu mode %d: output differs",
                      (unsigned long long)seed, mode);
            if (getenv("TSS_DUMP") && !tss_same(&whole.out, &other.out)) {
                FILE *f = fopen("/tmp/tss_whole.txt", "wb");
                fwrite(whole.out.p, 1, whole.out.len, f);
                fclose(f);
                f = fopen("/tmp/tss_other.txt", "wb");
                fwrite(other.out.p, 1, other.out.len, f);
                fclose(f);
                f = fopen("/tmp/tss_in.txt", "wb");
                fwrite(in.p, 1, in.len, f);
                fclose(f);
            }
            cr_expect(tss_same(&whole.log, &other.log), "seed %llu mode %d: events differ",
                      (unsigned long long)seed, mode);
            cr_expect(tss_same(&whole.bodies, &other.bodies),
                      "seed %llu mode %d: message content differs",
                      (unsigned long long)seed, mode);
            tss_free(&other);
        }
        tss_free(&whole);
        free(in.p);
    }
    cr_expect_gt(total_out, 10000);
}
