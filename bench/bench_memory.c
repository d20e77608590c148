/* SPDX-License-Identifier: MIT */
/* Memory per session: bytes an idle server and client session own (the engine's own
 * accounting next to what a counting allocator saw), and the resident set of many live
 * server sessions, each left in the middle of a transaction (after MAIL, RCPT, DATA and
 * part of the body), read from /proc/self/status; and the same for idle sessions whose
 * buffers were given back (smtpcore_server_release_idle(), and for the client
 * smtpcore_client_release_idle()). Prints key=value lines only.
 *
 * Usage: bench_memory [SESSIONS]   (default 100000) */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

/* Live bytes as requested from the allocator: a small header in front of each block
 * remembers its size so that free and realloc can subtract it. */
typedef struct bm_count {
    size_t live;
    size_t peak;
    size_t calls;
} bm_count;

#define BM_HDR 16u

static void *bm_malloc(size_t n, void *u)
{
    bm_count *c = u;
    unsigned char *p = malloc(n + BM_HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof n);
    c->calls++;
    c->live += n;
    if (c->live > c->peak)
        c->peak = c->live;
    return p + BM_HDR;
}

static void bm_free(void *q, void *u)
{
    if (!q)
        return;
    bm_count *c = u;
    unsigned char *p = (unsigned char *)q - BM_HDR;
    size_t n;
    memcpy(&n, p, sizeof n);
    c->live -= n;
    free(p);
}

static void *bm_realloc(void *q, size_t n, void *u)
{
    if (!q)
        return bm_malloc(n, u);
    bm_count *c = u;
    unsigned char *p = (unsigned char *)q - BM_HDR;
    size_t old;
    memcpy(&old, p, sizeof old);
    unsigned char *r = realloc(p, n + BM_HDR);
    if (!r)
        return NULL;
    memcpy(r, &n, sizeof n);
    c->calls++;
    c->live = c->live - old + n;
    if (c->live > c->peak)
        c->peak = c->live;
    return r + BM_HDR;
}

/* VmRSS in KiB, or 0 when /proc is unavailable. */
static size_t rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = (size_t)strtoull(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

/* Accepts everything and throws the output away, as a sink host would after write(). */
static int pump(smtpcore_server *s)
{
    for (;;) {
        const smtpcore_server_event *ev;
        if (smtpcore_server_next_event(s, &ev) != SMTPCORE_OK)
            return -1;
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            size_t n = smtpcore_server_output(s, &p);
            if (n == 0)
                return 0;
            smtpcore_server_consume(s, n);
            continue;
        }
        if (ev->answer_required && smtpcore_server_accept(s) != SMTPCORE_OK)
            return -1;
    }
}

static int feed(smtpcore_server *s, const char *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        size_t used = 0;
        if (smtpcore_server_receive(s, p + at, len - at, &used) != SMTPCORE_OK)
            return -1;
        at += used;
        if (pump(s) != 0 || (used == 0 && at < len))
            return -1;
    }
    return 0;
}

static void idle_sizes(const char *label, size_t in_buf, size_t out_buf)
{
    bm_count count = {0, 0, 0};
    smtpcore_allocator a = {bm_malloc, bm_realloc, bm_free, &count};
    smtpcore_server_config sc;
    smtpcore_server_config_init(&sc);
    sc.allocator = &a;
    if (in_buf)
        sc.input_buffer_size = in_buf;
    if (out_buf)
        sc.output_buffer_size = out_buf;
    smtpcore_server *s;
    if (smtpcore_server_new(&s, &sc) != SMTPCORE_OK) {
        printf("server_%s_error=new failed\n", label);
        return;
    }
    printf("server_%s_memory_api=%zu\n", label, smtpcore_server_memory(s));
    printf("server_%s_allocated=%zu\n", label, count.live);
    printf("server_%s_allocations=%zu\n", label, count.calls);
    printf("server_%s_input_buffer=%zu\n", label, sc.input_buffer_size);
    printf("server_%s_output_buffer=%zu\n", label, sc.output_buffer_size);
    /* The same session greeted and after EHLO, idle, with its buffers given back. */
    size_t freed = 0;
    if (pump(s) != 0 || feed(s, "EHLO client.example.org\r\n", 25) != 0 ||
        smtpcore_server_release_idle(s, &freed) != SMTPCORE_OK) {
        printf("server_%s_error=release failed\n", label);
    } else {
        printf("server_%s_released_memory_api=%zu\n", label, smtpcore_server_memory(s));
        printf("server_%s_released_allocated=%zu\n", label, count.live);
        printf("server_%s_released_freed=%zu\n", label, freed);
    }
    smtpcore_server_del(s);
    printf("server_%s_leaked=%zu\n", label, count.live);
}

static void idle_client(void)
{
    bm_count count = {0, 0, 0};
    smtpcore_allocator a = {bm_malloc, bm_realloc, bm_free, &count};
    smtpcore_client_config cc;
    smtpcore_client_config_init(&cc);
    cc.helo_name = "client.example.org";
    cc.allocator = &a;
    smtpcore_client *c;
    if (smtpcore_client_new(&c, &cc) != SMTPCORE_OK) {
        printf("client_default_error=new failed\n");
        return;
    }
    printf("client_default_memory_api=%zu\n", smtpcore_client_memory(c));
    printf("client_default_allocated=%zu\n", count.live);
    printf("client_default_allocations=%zu\n", count.calls);
    /* The same session greeted, after EHLO's reply (READY), idle, with its buffers given
     * back: what a connection cache or an LMTP client between deliveries pays. */
    static const char replies[] = "220 mx.example ESMTP\r\n"
                                  "250-mx.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
    size_t used = 0, freed = 0;
    int ready = smtpcore_client_receive(c, replies, sizeof replies - 1, &used) == SMTPCORE_OK &&
                used == sizeof replies - 1;
    for (int i = 0; ready && i < 8; i++) {
        const smtpcore_client_event *ev;
        const char *out;
        if (smtpcore_client_next_event(c, &ev) != SMTPCORE_OK)
            ready = 0;
        else if (ev->type == SMTPCORE_CEV_NONE)
            break;
        (void)smtpcore_client_consume(c, smtpcore_client_output(c, &out));
    }
    if (!ready || smtpcore_client_release_idle(c, &freed) != SMTPCORE_OK) {
        printf("client_default_error=release failed\n");
    } else {
        printf("client_default_released_memory_api=%zu\n", smtpcore_client_memory(c));
        printf("client_default_released_allocated=%zu\n", count.live);
        printf("client_default_released_freed=%zu\n", freed);
    }
    smtpcore_client_del(c);
    printf("client_default_leaked=%zu\n", count.live);
}

static void many_sessions(size_t n)
{
    static const char opening[] = "EHLO client.example.org\r\n"
                                  "MAIL FROM:<sender@example.org> SIZE=4000\r\n"
                                  "RCPT TO:<rcpt@example.net>\r\n"
                                  "DATA\r\n"
                                  "From: sender@example.org\r\n"
                                  "To: rcpt@example.net\r\n"
                                  "Subject: half a message\r\n"
                                  "\r\n"
                                  "The first lines of a body that has not ended yet, so the\r\n"
                                  "session stays inside DATA with its state and buffers live.\r\n";
    smtpcore_server **all = calloc(n, sizeof *all);
    if (!all) {
        printf("rss_error=calloc failed\n");
        return;
    }
    smtpcore_server_config sc;
    smtpcore_server_config_init(&sc);
    size_t before = rss_kib();
    size_t made = 0, api_bytes = 0;
    for (; made < n; made++) {
        if (smtpcore_server_new(&all[made], &sc) != SMTPCORE_OK || pump(all[made]) != 0 ||
            feed(all[made], opening, sizeof opening - 1) != 0) {
            printf("rss_error=session %zu failed\n", made);
            if (all[made])
                made++;
            break;
        }
        api_bytes += smtpcore_server_memory(all[made]);
    }
    size_t after = rss_kib();
    printf("rss_sessions=%zu\n", made);
    printf("rss_before_kib=%zu\n", before);
    printf("rss_after_kib=%zu\n", after);
    printf("rss_delta_kib=%zu\n", after - before);
    if (made) {
        printf("rss_per_session_bytes=%.0f\n", (double)(after - before) * 1024.0 / (double)made);
        printf("rss_api_bytes_per_session=%zu\n", api_bytes / made);
    }
    for (size_t i = 0; i < made; i++)
        smtpcore_server_del(all[i]);
    free(all);
}

/* The resident set of n greeted, idle sessions after EHLO with their buffers given back
 * (smtpcore_server_release_idle()): what a server holding many quiet connections pays. */
static void many_released(size_t n)
{
    smtpcore_server **all = calloc(n, sizeof *all);
    if (!all) {
        printf("rss_released_error=calloc failed\n");
        return;
    }
    smtpcore_server_config sc;
    smtpcore_server_config_init(&sc);
    size_t before = rss_kib();
    size_t made = 0, api_bytes = 0;
    for (; made < n; made++) {
        if (smtpcore_server_new(&all[made], &sc) != SMTPCORE_OK || pump(all[made]) != 0 ||
            feed(all[made], "EHLO client.example.org\r\n", 25) != 0 ||
            smtpcore_server_release_idle(all[made], NULL) != SMTPCORE_OK) {
            printf("rss_released_error=session %zu failed\n", made);
            if (all[made])
                made++;
            break;
        }
        api_bytes += smtpcore_server_memory(all[made]);
    }
    size_t after = rss_kib();
    printf("rss_released_sessions=%zu\n", made);
    printf("rss_released_delta_kib=%zu\n", after - before);
    if (made) {
        printf("rss_released_per_session_bytes=%.0f\n",
               (double)(after - before) * 1024.0 / (double)made);
        printf("rss_released_api_bytes_per_session=%zu\n", api_bytes / made);
    }
    for (size_t i = 0; i < made; i++)
        smtpcore_server_del(all[i]);
    free(all);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
    idle_sizes("default", 0, 0);
    /* What larger buffers cost (fewer receive calls for DATA at high rates). */
    idle_sizes("4k", 4096, 4096);
    idle_client();
    many_sessions(n);
    many_released(n);
    return 0;
}
