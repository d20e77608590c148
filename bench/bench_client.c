/* SPDX-License-Identifier: MIT */
/* Client session throughput through the public API: full transactions (MAIL, three RCPT,
 * DATA, a small body, final reply) on one pipelined session against canned server
 * replies, so both command building and reply parsing are measured; then whole sessions
 * (greeting, EHLO, one transaction, QUIT). A counting allocator shows allocations after
 * session creation (expected 0). Prints numbers only; best of several repetitions. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smtpcore/smtpcore.h>

#include "bench_common.h"

#define REPS 5

static volatile size_t sink;

static const char GREETING[] = "220 mx.example.net ESMTP\r\n";
static const char EHLO_REPLY[] = "250-mx.example.net Hello\r\n250-PIPELINING\r\n250-SIZE 10485760\r\n"
                                 "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n";
static const char TX_REPLIES[] = "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
                                 "354 End data with <CR><LF>.<CR><LF>\r\n";
static const char FINAL_REPLY[] = "250 2.0.0 Ok: queued as 4FDB2C0A1\r\n";
static const char BODY[] = "From: a@example.org\nTo: b@example.net\nSubject: bench\n\n"
                           "Hello,\n.a line with a leading dot\nand some more text here.\n";

static void feed(smtpcore_client *c, const char *s, size_t n)
{
    size_t used = 0;
    if (smtpcore_client_receive(c, s, n, &used) != SMTPCORE_OK || used != n) {
        fprintf(stderr, "receive failed\n");
        exit(1);
    }
}

static void drain_output(smtpcore_client *c)
{
    const char *p;
    size_t n = smtpcore_client_output(c, &p);
    sink += n;
    smtpcore_client_consume(c, n);
}

/* Returns the type of the last event before NONE. */
static smtpcore_client_event_type drain_events(smtpcore_client *c, size_t *count)
{
    const smtpcore_client_event *ev;
    smtpcore_client_event_type last = SMTPCORE_CEV_NONE;
    while (smtpcore_client_next_event(c, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_CEV_NONE) {
        last = ev->type;
        (*count)++;
        sink += ev->reply.raw.len;
    }
    return last;
}

static smtpcore_client *ready_session(const smtpcore_allocator *a)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.allocator = a;
    smtpcore_client *c;
    if (smtpcore_client_new(&c, &cfg) != SMTPCORE_OK)
        exit(1);
    size_t n = 0;
    feed(c, GREETING, sizeof GREETING - 1);
    drain_events(c, &n);
    drain_output(c);
    feed(c, EHLO_REPLY, sizeof EHLO_REPLY - 1);
    if (drain_events(c, &n) != SMTPCORE_CEV_READY) {
        fprintf(stderr, "not ready\n");
        exit(1);
    }
    return c;
}

static void one_transaction(smtpcore_client *c, size_t *events)
{
    smtpcore_mail_params p;
    smtpcore_mail_params_init(&p);
    p.has_size = 1;
    p.size = sizeof BODY;
    if (smtpcore_client_mail(c, "sender@example.org", &p) != SMTPCORE_OK ||
        smtpcore_client_rcpt(c, "one@example.net", NULL) != SMTPCORE_OK ||
        smtpcore_client_rcpt(c, "two@example.net", NULL) != SMTPCORE_OK ||
        smtpcore_client_rcpt(c, "three@example.net", NULL) != SMTPCORE_OK ||
        smtpcore_client_data(c) != SMTPCORE_OK) {
        fprintf(stderr, "envelope refused\n");
        exit(1);
    }
    drain_output(c);
    feed(c, TX_REPLIES, sizeof TX_REPLIES - 1);
    if (drain_events(c, events) != SMTPCORE_CEV_SEND_BODY) {
        fprintf(stderr, "no SEND_BODY\n");
        exit(1);
    }
    size_t used = 0;
    smtpcore_client_body(c, BODY, sizeof BODY - 1, &used);
    smtpcore_client_body_end(c);
    drain_output(c);
    feed(c, FINAL_REPLY, sizeof FINAL_REPLY - 1);
    if (drain_events(c, events) != SMTPCORE_CEV_READY) {
        fprintf(stderr, "no READY after the message\n");
        exit(1);
    }
}

int main(void)
{
    bench_count count = {0};
    smtpcore_allocator a = bench_counting_allocator(&count);
    const size_t txs = 200000;
    double best = 1e9;
    size_t events = 0, allocs_after_new = 0;
    for (int r = 0; r < REPS; r++) {
        smtpcore_client *c = ready_session(&a);
        size_t before = count.calls;
        events = 0;
        double t0 = bench_now();
        for (size_t i = 0; i < txs; i++)
            one_transaction(c, &events);
        double dt = bench_now() - t0;
        allocs_after_new = count.calls - before;
        if (dt < best)
            best = dt;
        smtpcore_client_del(c);
    }
    printf("client transactions (pipelined, 3 RCPT, %zu-byte body): %.0f tx/s, %.0f events/s, "
           "%.1f ns/tx, allocations during %zu tx: %zu\n",
           sizeof BODY - 1, (double)txs / best, (double)events / best, best * 1e9 / (double)txs,
           txs, allocs_after_new);

    const size_t sessions = 50000;
    best = 1e9;
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        for (size_t i = 0; i < sessions; i++) {
            smtpcore_client *c = ready_session(NULL);
            size_t ev = 0;
            one_transaction(c, &ev);
            smtpcore_client_quit(c);
            drain_output(c);
            feed(c, "221 2.0.0 Bye\r\n", 15);
            drain_events(c, &ev);
            smtpcore_client_del(c);
        }
        double dt = bench_now() - t0;
        if (dt < best)
            best = dt;
    }
    printf("client sessions (new, greeting, EHLO, 1 tx, QUIT, del): %.0f sessions/s\n",
           (double)sessions / best);
    return (int)(sink & 0);
}
