/* SPDX-License-Identifier: MIT */
/* LMTP server mode (RFC 2033): configuration, smtpcore_server_reply_rcpt() argument and
 * state checks, the reply store bound, replies reaching the host through output() and
 * consume() alone, and a counting allocator over many hostile transactions (nothing is
 * allocated after creation, the session's memory never changes). Protocol cases are the
 * lmtp_*.txt transcripts. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

typedef struct tl_env {
    test_alloc count;
    smtpcore_allocator alloc;
    smtpcore_server *s;
    char out[1 << 16];
    size_t out_len;
    smtpcore_server_event last; /* the last answer-required event */
} tl_env;

static void tl_open(tl_env *e, uint32_t max_rcpt, size_t out_size)
{
    memset(e, 0, sizeof(*e));
    e->alloc = test_alloc_allocator(&e->count);
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.allocator = &e->alloc;
    c.lmtp = 1;
    c.max_recipients = max_rcpt;
    c.max_errors = 0;
    c.extensions = 0;
    if (out_size)
        c.output_buffer_size = out_size;
    c.input_buffer_size = 4096;
    cr_assert_eq(smtpcore_server_new(&e->s, &c), SMTPCORE_OK);
}

static void tl_read_output(tl_env *e)
{
    const char *p;
    size_t n;
    while ((n = smtpcore_server_output(e->s, &p)) > 0) {
        cr_assert_lt(e->out_len + n, sizeof(e->out));
        memcpy(e->out + e->out_len, p, n);
        e->out_len += n;
        cr_assert_eq(smtpcore_server_consume(e->s, n), SMTPCORE_OK);
    }
}

/* Runs events, accepting all but MESSAGE_END (left pending in e->last). */
static void tl_pump(tl_env *e, int read_output)
{
    for (int i = 0; i < 100000; i++) {
        const smtpcore_server_event *ev;
        cr_assert_eq(smtpcore_server_next_event(e->s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            if (!read_output || smtpcore_server_output(e->s, &p) == 0)
                return;
            tl_read_output(e);
            continue;
        }
        if (!ev->answer_required)
            continue;
        e->last = *ev;
        if (ev->type == SMTPCORE_SEV_MESSAGE_END)
            return;
        cr_assert_eq(smtpcore_server_accept(e->s), SMTPCORE_OK);
    }
    cr_assert_fail("pump did not settle");
}

static void tl_feed(tl_env *e, const char *data, int read_output)
{
    size_t len = strlen(data), at = 0;
    for (int i = 0; at < len && i < 100000; i++) {
        size_t used = 0;
        cr_assert_eq(smtpcore_server_receive(e->s, data + at, len - at, &used), SMTPCORE_OK);
        at += used;
        tl_pump(e, read_output);
        if (e->last.type == SMTPCORE_SEV_MESSAGE_END && smtpcore_server_rcpt_unanswered(e->s))
            break;
    }
}

/* Greeting, LHLO, and a transaction with n recipients up to the end of the data. */
static void tl_message(tl_env *e, unsigned n)
{
    static char buf[1 << 16];
    size_t k = 0;
    k += (size_t)snprintf(buf + k, sizeof(buf) - k, "MAIL FROM:<a@example.org>\r\n");
    for (unsigned i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "RCPT TO:<u%u@example.net>\r\n", i);
    snprintf(buf + k, sizeof(buf) - k, "DATA\r\nhello\r\n.\r\n");
    memset(&e->last, 0, sizeof(e->last));
    tl_feed(e, buf, 1);
    cr_assert_eq(e->last.type, SMTPCORE_SEV_MESSAGE_END);
    cr_assert_eq(e->last.rcpt_count, n);
    tl_read_output(e); /* the replies to MAIL, RCPT and DATA */
    e->out_len = 0;
}

static void tl_start(tl_env *e)
{
    tl_pump(e, 1);
    tl_feed(e, "LHLO c.example\r\n", 1);
    cr_assert_eq(e->last.type, SMTPCORE_SEV_HELO);
    cr_assert_eq(e->last.esmtp, 1);
    e->out_len = 0;
}

static void tl_close(tl_env *e)
{
    smtpcore_server_del(e->s);
    cr_expect_eq(e->count.live, 0);
}

Test(server_lmtp, config)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    cr_expect_eq(c.lmtp, 0);
    smtpcore_server *s;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    size_t smtp_mem = smtpcore_server_memory(s);
    cr_expect_eq(smtpcore_server_lmtp(s), 0);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 250, NULL, NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_server_rcpt_unanswered(s), 0);
    smtpcore_server_del(s);

    c.lmtp = 1;
    c.max_recipients = 0; /* unlimited: nothing to size the reply table by */
    cr_expect_eq(smtpcore_server_new(&s, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    c.max_recipients = 100;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_lmtp(s), 1);
    /* The documented bound: 8-byte slots and 64 bytes of store per recipient, plus the
     * bulk reply (the output buffer's size), the LMTP state (at most 64 bytes: only an
     * LMTP session carries it) and alignment padding. */
    size_t extra = smtpcore_server_memory(s) - smtp_mem;
    size_t want = 100 * 8 + 100 * 64 + c.output_buffer_size;
    cr_expect(extra >= want && extra <= want + 64 + 7 + 16, "extra %zu want %zu", extra, want);
    const char *p;
    const smtpcore_server_event *ev;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    size_t n = smtpcore_server_output(s, &p);
    cr_expect_eq(n, strlen("220 localhost LMTP smtpcore\r\n"));
    cr_expect(memcmp(p, "220 localhost LMTP smtpcore\r\n", n) == 0);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 250, NULL, NULL),
                 SMTPCORE_ERR_NO_ANSWER_PENDING);
    smtpcore_server_del(s);

    /* A custom greeting text is kept. */
    c.greeting_text = "LMTP Dovecot-like ready";
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    n = smtpcore_server_output(s, &p);
    cr_expect(n > 20 && memcmp(p, "220 localhost LMTP Dovecot-like ready\r\n", n) == 0);
    smtpcore_server_del(s);

    /* An older caller's smaller struct (without lmtp) still works: SMTP mode. */
    smtpcore_server_config_init(&c);
    c.struct_size = offsetof(smtpcore_server_config, lmtp);
    c.lmtp = 1; /* beyond the struct the caller says it has: ignored */
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_lmtp(s), 0);
    smtpcore_server_del(s);
}

Test(server_lmtp, reply_rcpt_checks)
{
    tl_env *e = calloc(1, sizeof(*e));
    tl_open(e, 10, 0);
    tl_start(e);
    tl_message(e, 3);
    smtpcore_server *s = e->s;
    cr_expect_eq(smtpcore_server_rcpt_unanswered(s), 3);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 3, 250, NULL, NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 354, NULL, NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 199, NULL, NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 260, NULL, NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 250, "5.0.0", NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 250, "2.0", NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 250, NULL, "a\r\nRSET"),
                 SMTPCORE_ERR_INJECTION);
    char longtext[600];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 1, 250, NULL, longtext), SMTPCORE_ERR_TOO_LONG);
    cr_expect_eq(smtpcore_server_rcpt_unanswered(s), 3, "failed answers answer nothing");

    cr_expect_eq(smtpcore_server_reply_rcpt(s, 1, 550, NULL, NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 1, 250, NULL, NULL),
                 SMTPCORE_ERR_INVALID_ARGUMENT, "answered twice");
    cr_expect_eq(smtpcore_server_rcpt_unanswered(s), 2);
    tl_read_output(e);
    cr_expect_eq(e->out_len, 0, "recipient 1 waits for recipient 0");
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 0, 250, NULL, "first\nsecond line"),
                 SMTPCORE_OK);
    tl_read_output(e);
    const char *want = "250-2.0.0 first\r\n250 2.0.0 second line\r\n"
                       "550 5.0.0 Requested action not taken: mailbox unavailable\r\n";
    cr_expect_eq(e->out_len, strlen(want));
    cr_expect(memcmp(e->out, want, strlen(want)) == 0, "%.*s", (int)e->out_len, e->out);
    /* next_event() holds while one recipient is unanswered. */
    const smtpcore_server_event *ev;
    size_t used;
    cr_assert_eq(smtpcore_server_receive(s, "NOOP\r\n", 6, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_expect_eq(ev->type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_want_flush(s), 0);
    cr_expect_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_rcpt_unanswered(s), 0);
    cr_expect_eq(smtpcore_server_accept(s), SMTPCORE_ERR_NO_ANSWER_PENDING);
    cr_expect_eq(smtpcore_server_reply_rcpt(s, 2, 250, NULL, NULL),
                 SMTPCORE_ERR_NO_ANSWER_PENDING);
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_expect_eq(ev->type, SMTPCORE_SEV_NOOP);
    e->out_len = 0;
    tl_read_output(e);
    want = "250 2.0.0 Ok: queued\r\n250 2.0.0 Ok\r\n";
    cr_expect_eq(e->out_len, strlen(want));
    cr_expect(memcmp(e->out, want, strlen(want)) == 0, "%.*s", (int)e->out_len, e->out);
    tl_close(e);
    free(e);
}

/* The reply store is bounded: out-of-order answers beyond it are refused with
 * BUFFER_FULL (nothing is lost or half-stored), and the in-order one still goes out. */
Test(server_lmtp, store_full)
{
    tl_env *e = calloc(1, sizeof(*e));
    tl_open(e, 10, 0); /* store: 1 KiB (the minimum) */
    tl_start(e);
    tl_message(e, 10);
    char text[400];
    memset(text, 'y', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    int full = 0;
    size_t answered = 0;
    for (size_t i = 9; i >= 1; i--) {
        int rc = smtpcore_server_reply_rcpt(e->s, i, 250, NULL, text);
        if (rc == SMTPCORE_ERR_BUFFER_FULL) {
            full = 1;
            break;
        }
        cr_assert_eq(rc, SMTPCORE_OK);
        answered++;
    }
    cr_expect(full, "the store should fill");
    cr_expect_eq(answered, 2, "1 KiB holds two 411-byte replies");
    cr_expect_eq(smtpcore_server_rcpt_unanswered(e->s), 10 - answered);
    /* Recipient 0 is next in order: it goes to the output directly. */
    cr_expect_eq(smtpcore_server_reply_rcpt(e->s, 0, 250, NULL, "zero"), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_accept(e->s), SMTPCORE_OK);
    tl_read_output(e);
    /* zero, 7 default replies (1..7), then the two stored ones (8, 9). */
    const char *p = e->out;
    cr_expect(strncmp(p, "250 2.0.0 zero\r\n", 16) == 0);
    size_t lines = 0;
    for (size_t i = 0; i < e->out_len; i++)
        lines += e->out[i] == '\n';
    cr_expect_eq(lines, 10);
    cr_expect_eq(e->out_len, 16 + 7 * strlen("250 2.0.0 Ok: queued\r\n") + 2 * (10 + 399 + 2));
    tl_close(e);
    free(e);
}

/* A host that answers and then only writes output (no next_event) gets every reply. */
Test(server_lmtp, output_alone_moves_stored_replies)
{
    tl_env *e = calloc(1, sizeof(*e));
    tl_open(e, 50, 512);
    tl_start(e);
    tl_message(e, 50);
    for (size_t i = 0; i < 50; i++)
        cr_assert_eq(smtpcore_server_reply_rcpt(e->s, i, 250, "2.1.5",
                                                "<someone@example.net> delivered fine"),
                     SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_rcpt_unanswered(e->s), 0);
    cr_expect_eq(smtpcore_server_want_flush(e->s), 1);
    tl_read_output(e);
    size_t one = strlen("250 2.1.5 <someone@example.net> delivered fine\r\n");
    cr_expect_eq(e->out_len, 50 * one);
    tl_close(e);
    free(e);
}

/* Hostile LMTP traffic under a counting allocator: many transactions with up to the
 * recipient limit, answered in scrambled order with long and short texts, smuggling
 * attempts, bare LFs, oversized BDAT, output read only now and then. */
Test(server_lmtp, no_allocation_after_creation)
{
    tl_env *e = calloc(1, sizeof(*e));
    tl_open(e, 100, 0);
    size_t calls = e->count.calls;
    size_t mem = smtpcore_server_memory(e->s);
    tl_start(e);
    uint64_t x = 88172645463325252ull;
    char text[300];
    for (int round = 0; round < 300; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned n = 1 + (unsigned)(x % 100);
        if (round % 7 == 3) {
            /* refused by the engine: once per recipient */
            char buf[8192];
            size_t k = (size_t)snprintf(buf, sizeof(buf), "MAIL FROM:<a@example.org>\r\n");
            for (unsigned i = 0; i < n && k < sizeof(buf) - 100; i++)
                k += (size_t)snprintf(buf + k, sizeof(buf) - k, "RCPT TO:<u%u@x.example>\r\n", i);
            snprintf(buf + k, sizeof(buf) - k, "DATA\r\nevil\n.\nMAIL FROM:<e@x>\r\n.\r\n");
            tl_feed(e, buf, 1);
            continue;
        }
        e->out_len = 0;
        tl_message(e, n);
        for (unsigned i = 0; i < n; i++) {
            unsigned idx = (unsigned)((i * 37u + (unsigned)round) % n);
            if (smtpcore_server_rcpt_unanswered(e->s) == 0)
                break;
            size_t tl = (size_t)((x >> (i % 32)) % 200);
            memset(text, 'a' + (int)(i % 26), tl);
            text[tl] = '\0';
            int rc = smtpcore_server_reply_rcpt(e->s, idx, (i & 1) ? 250 : 452, NULL, text);
            if (rc == SMTPCORE_ERR_INVALID_ARGUMENT)
                continue; /* the scramble repeats an index when gcd(37, n) > 1 */
            if (rc == SMTPCORE_ERR_BUFFER_FULL) {
                tl_read_output(e);
                continue;
            }
            cr_assert_eq(rc, SMTPCORE_OK);
            if (i % 16 == 0)
                tl_read_output(e);
        }
        if (smtpcore_server_rcpt_unanswered(e->s))
            cr_assert_eq(smtpcore_server_reject(e->s, 450, NULL, NULL), SMTPCORE_OK);
        tl_read_output(e);
        size_t lines = 0;
        for (size_t i = 0; i < e->out_len; i++)
            lines += e->out[i] == '\n';
        cr_assert_eq(lines, n, "round %d: %zu replies for %u recipients", round, lines, n);
    }
    cr_expect_eq(e->count.calls, calls, "allocations after creation");
    cr_expect_eq(smtpcore_server_memory(e->s), mem);
    tl_close(e);
    free(e);
}
