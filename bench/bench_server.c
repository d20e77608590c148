/* SPDX-License-Identifier: MIT */
/* Server session throughput through the public API: pipelined MAIL/RCPT/RSET commands,
 * message content through DATA (unstuffing) and BDAT, next to a plain memchr pass over
 * the same bytes. A counting allocator shows the allocations per command (expected 0).
 * Prints numbers only; best of several repetitions. Run it from a Release build tree. */
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

static char *repeat(const char *unit, size_t target, size_t *out_len)
{
    size_t ul = strlen(unit);
    size_t n = target / ul + 1;
    char *s = malloc(n * ul);
    if (!s)
        exit(1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    *out_len = n * ul;
    return s;
}

typedef struct bs_stats {
    size_t commands;
    uint64_t body;
} bs_stats;

/* Accepts everything, counts commands and body octets, throws the output away. */
static void pump(smtpcore_server *s, bs_stats *st)
{
    for (;;) {
        const smtpcore_server_event *ev;
        smtpcore_server_next_event(s, &ev);
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            size_t n = smtpcore_server_output(s, &p);
            if (n == 0)
                return;
            smtpcore_server_consume(s, n);
            continue;
        }
        if (ev->type == SMTPCORE_SEV_BODY)
            st->body += ev->data.len;
        else
            st->commands++;
        if (ev->answer_required)
            smtpcore_server_accept(s);
    }
}

static void feed(smtpcore_server *s, const char *p, size_t len, bs_stats *st)
{
    size_t at = 0;
    while (at < len) {
        size_t used = 0;
        if (smtpcore_server_receive(s, p + at, len - at, &used) != SMTPCORE_OK)
            exit(2);
        at += used;
        pump(s, st);
    }
}

static smtpcore_server *session(bench_count *count, smtpcore_allocator *a, uint32_t ext)
{
    *a = bench_counting_allocator(count);
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.allocator = a;
    c.extensions = ext;
    c.max_message_size = 0;
    c.input_buffer_size = 65536;
    c.output_buffer_size = 65536;
    smtpcore_server *s;
    if (smtpcore_server_new(&s, &c) != SMTPCORE_OK)
        exit(1);
    bs_stats st = {0, 0};
    pump(s, &st);
    static const char ehlo[] = "EHLO bench.example\r\n";
    feed(s, ehlo, sizeof(ehlo) - 1, &st);
    return s;
}

static void bench_commands(void)
{
    size_t len;
    char *in = repeat("MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nRSET\r\n",
                      4u << 20, &len);
    double best = 1e30;
    size_t cmds = 0, allocs = 0;
    for (int r = 0; r < REPS; r++) {
        bench_count count = {0};
        smtpcore_allocator a;
        smtpcore_server *s = session(&count, &a, SMTPCORE_EXT_PIPELINING |
                                                     SMTPCORE_EXT_ENHANCEDSTATUSCODES);
        size_t before = count.calls;
        bs_stats st = {0, 0};
        double t0 = bench_now();
        feed(s, in, len, &st);
        double t = bench_now() - t0;
        allocs = count.calls - before;
        cmds = st.commands;
        if (t < best)
            best = t;
        smtpcore_server_del(s);
    }
    printf("server session, pipelined MAIL/RCPT/RSET (receive + events + replies):\n");
    printf("  commands            %zu\n", cmds);
    printf("  ns per command      %.1f\n", best * 1e9 / (double)cmds);
    printf("  commands per second %.0f\n", (double)cmds / best);
    printf("  allocations/command %.3f (%zu in total)\n", (double)allocs / (double)cmds, allocs);
    free(in);
}

static double memchr_pass(const char *p, size_t len)
{
    double best = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        size_t lines = 0;
        const char *q = p, *end = p + len;
        while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
            lines++;
            q++;
        }
        double t = bench_now() - t0;
        sink += lines;
        if (t < best)
            best = t;
    }
    return best;
}

static void bench_body(void)
{
    size_t len;
    char *body = repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod\r\n"
                        "..a stuffed line\r\n"
                        "tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim\r\n",
                        64u << 20, &len);
    static const char start[] = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n";
    double best = 1e30;
    uint64_t got = 0;
    for (int r = 0; r < REPS; r++) {
        bench_count count = {0};
        smtpcore_allocator a;
        smtpcore_server *s = session(&count, &a, SMTPCORE_EXT_PIPELINING);
        bs_stats st = {0, 0};
        feed(s, start, sizeof(start) - 1, &st);
        double t0 = bench_now();
        feed(s, body, len, &st);
        feed(s, ".\r\n", 3, &st);
        double t = bench_now() - t0;
        got = st.body;
        if (t < best)
            best = t;
        smtpcore_server_del(s);
    }
    double mc = memchr_pass(body, len);
    printf("message content through DATA (framing + unstuffing + BODY events), %zu MiB:\n",
           len >> 20);
    printf("  DATA     %.2f GB/s  (%llu content octets)\n", (double)len / best / 1e9,
           (unsigned long long)got);
    printf("  memchr   %.2f GB/s\n", (double)len / mc / 1e9);
    printf("  ratio    %.2f (memchr / DATA)\n", best / mc);

    /* BDAT: raw octets, no unstuffing; one 1 MiB chunk after another. */
    best = 1e30;
    for (int r = 0; r < REPS; r++) {
        bench_count count = {0};
        smtpcore_allocator a;
        smtpcore_server *s = session(&count, &a,
                                     SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING);
        bs_stats st = {0, 0};
        static const char mail[] = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n";
        feed(s, mail, sizeof(mail) - 1, &st);
        double t0 = bench_now();
        const size_t chunk = 1u << 20;
        for (size_t off = 0; off + chunk <= len; off += chunk) {
            char hdr[40];
            int n = snprintf(hdr, sizeof(hdr), "BDAT %zu\r\n", chunk);
            feed(s, hdr, (size_t)n, &st);
            feed(s, body + off, chunk, &st);
        }
        feed(s, "BDAT 0 LAST\r\n", 13, &st);
        double t = bench_now() - t0;
        got = st.body;
        if (t < best)
            best = t;
        smtpcore_server_del(s);
    }
    printf("  BDAT     %.2f GB/s  (%llu octets in 1 MiB chunks)\n", (double)got / best / 1e9,
           (unsigned long long)got);
    free(body);
}

int main(void)
{
    bench_commands();
    bench_body();
    return 0;
}
