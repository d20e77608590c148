/* SPDX-License-Identifier: MIT */
/* Hostile inputs against a session with a counting allocator: nothing is allocated after
 * creation and the session's memory never changes, whatever the peer sends. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

typedef struct tsm_env {
    test_alloc count;
    smtpcore_allocator alloc;
    smtpcore_server *s;
    size_t calls_after_new;
    size_t memory;
    uint64_t body_bytes;
    size_t events[32];
} tsm_env;

static void tsm_open(tsm_env *e, uint32_t extensions, uint64_t max_size)
{
    memset(e, 0, sizeof(*e));
    e->alloc = test_alloc_allocator(&e->count);
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.allocator = &e->alloc;
    c.extensions = extensions;
    c.max_message_size = max_size;
    c.max_errors = 0; /* never give up: keep the session under pressure */
    cr_assert_eq(smtpcore_server_new(&e->s, &c), SMTPCORE_OK);
    e->calls_after_new = e->count.calls;
    e->memory = smtpcore_server_memory(e->s);
    cr_assert_gt(e->memory, c.input_buffer_size + c.output_buffer_size);
}

/* Runs events (accepting everything); optionally drains the output. */
static void tsm_pump(tsm_env *e, int read_output)
{
    for (int i = 0; i < 1000000; i++) {
        const smtpcore_server_event *ev;
        cr_assert_eq(smtpcore_server_next_event(e->s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            size_t n = smtpcore_server_output(e->s, &p);
            if (!read_output || n == 0)
                return;
            smtpcore_server_consume(e->s, n);
            continue;
        }
        e->events[ev->type]++;
        if (ev->type == SMTPCORE_SEV_BODY)
            e->body_bytes += ev->data.len;
        if (ev->answer_required)
            cr_assert_eq(smtpcore_server_accept(e->s), SMTPCORE_OK);
    }
    cr_assert_fail("pump did not settle");
}

/* Feeds all of data (draining as needed); returns bytes the session refused to take
 * while the output was not being read. */
static size_t tsm_feed(tsm_env *e, const char *data, size_t len, int read_output)
{
    size_t at = 0;
    int stalls = 0;
    while (at < len) {
        size_t used = 0;
        cr_assert_eq(smtpcore_server_receive(e->s, data + at, len - at, &used), SMTPCORE_OK);
        at += used;
        tsm_pump(e, read_output);
        if (used == 0 && ++stalls > 3)
            return len - at;
    }
    return 0;
}

static void tsm_check(tsm_env *e)
{
    cr_expect_eq(e->count.calls, e->calls_after_new, "allocations after creation: %zu",
                 e->count.calls - e->calls_after_new);
    cr_expect_eq(smtpcore_server_memory(e->s), e->memory);
}

static void tsm_close(tsm_env *e)
{
    smtpcore_server_del(e->s);
    cr_expect_eq(e->count.live, 0);
}

static void tsm_greet(tsm_env *e, const char *more)
{
    tsm_pump(e, 1);
    tsm_feed(e, "EHLO c.example\r\n", 16, 1);
    if (more)
        tsm_feed(e, more, strlen(more), 1);
}

Test(server_memory, endless_line)
{
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING, 0);
    tsm_greet(&e, NULL);
    char chunk[65536];
    memset(chunk, 'A', sizeof(chunk));
    for (int i = 0; i < 160; i++) /* 10 MiB without a line end */
        cr_assert_eq(tsm_feed(&e, chunk, sizeof(chunk), 1), 0);
    tsm_feed(&e, "\r\nNOOP\r\n", 8, 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_PROTOCOL_ERROR], 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_NOOP], 1);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, endless_pipelining_without_reading)
{
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING, 0);
    tsm_greet(&e, NULL);
    static const char cmds[] = "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRSET\r\n";
    size_t refused = 0;
    for (int i = 0; i < 100000 && refused == 0; i++)
        refused = tsm_feed(&e, cmds, sizeof(cmds) - 1, 0);
    /* The session stopped taking input instead of growing. */
    cr_expect_gt(refused, 0);
    const char *p;
    cr_expect_leq(smtpcore_server_output(e.s, &p), 4096);
    cr_expect(smtpcore_server_want_flush(e.s));
    tsm_check(&e);
    /* Once the peer reads, everything buffered is answered. */
    tsm_pump(&e, 1);
    cr_expect_gt(e.events[SMTPCORE_SEV_RSET], 10);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, giant_bdat)
{
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING, 0);
    tsm_greet(&e, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
                  "BDAT 1000000000000000 LAST\r\n");
    char chunk[65536];
    memset(chunk, 'b', sizeof(chunk));
    for (int i = 0; i < 800; i++) /* 50 MiB of it */
        cr_assert_eq(tsm_feed(&e, chunk, sizeof(chunk), 1), 0);
    cr_expect_eq(e.body_bytes, 800ull * sizeof(chunk));
    cr_expect_eq(e.events[SMTPCORE_SEV_MESSAGE_END], 0);
    tsm_check(&e);
    smtpcore_server_receive_eof(e.s);
    tsm_pump(&e, 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_MESSAGE_ABORTED], 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_CLOSE], 1);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, giant_bdat_over_limit)
{
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING, 1000);
    tsm_greet(&e, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n"
                  "BDAT 1000000000000000 LAST\r\n");
    char chunk[65536];
    memset(chunk, 'b', sizeof(chunk));
    for (int i = 0; i < 100; i++)
        cr_assert_eq(tsm_feed(&e, chunk, sizeof(chunk), 1), 0);
    cr_expect_leq(e.body_bytes, 1000);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, many_one_byte_chunks)
{
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING, 0);
    tsm_greet(&e, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
    static const char one[] = "BDAT 1\r\nx";
    char block[90000];
    size_t n = 0;
    for (int i = 0; i < 10000; i++) {
        memcpy(block + n, one, sizeof(one) - 1);
        n += sizeof(one) - 1;
    }
    for (int round = 0; round < 5; round++) /* 50,000 chunks */
        cr_assert_eq(tsm_feed(&e, block, n, 1), 0);
    tsm_feed(&e, "BDAT 0 LAST\r\n", 13, 1);
    cr_expect_eq(e.body_bytes, 50000);
    cr_expect_eq(e.events[SMTPCORE_SEV_MESSAGE_END], 1);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, many_one_byte_chunks_unread)
{
    /* The same flood while the peer never reads a reply: bounded by backpressure. */
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING, 0);
    tsm_greet(&e, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
    static const char one[] = "BDAT 1\r\nx";
    size_t refused = 0;
    for (int i = 0; i < 50000 && refused == 0; i++)
        refused = tsm_feed(&e, one, sizeof(one) - 1, 0);
    cr_expect_gt(refused, 0);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, long_dot_stuffed_message)
{
    tsm_env e;
    tsm_open(&e, SMTPCORE_EXT_PIPELINING, 0);
    tsm_greet(&e, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    static const char lines[] = "..\r\n.x\r\nplain line\r\n\n\r\r\n";
    for (int i = 0; i < 20000; i++)
        tsm_feed(&e, lines, sizeof(lines) - 1, 1);
    tsm_feed(&e, ".\r\n", 3, 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_MESSAGE_ABORTED], 1); /* bare LF: refused */
    tsm_check(&e);
    tsm_close(&e);
}

/* ---- PROXY headers (issue 13): hostile headers never allocate nor grow the session ---- */

static void tsm_open_proxy(tsm_env *e, smtpcore_proxy_mode mode, size_t max_header)
{
    memset(e, 0, sizeof(*e));
    e->alloc = test_alloc_allocator(&e->count);
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.allocator = &e->alloc;
    c.proxy_protocol = mode;
    if (max_header)
        c.proxy_max_header = max_header;
    cr_assert_eq(smtpcore_server_new(&e->s, &c), SMTPCORE_OK);
    e->calls_after_new = e->count.calls;
    e->memory = smtpcore_server_memory(e->s);
    /* The header is bounded by the configuration, and so is the session. */
    cr_assert_gt(e->memory, c.proxy_max_header);
    cr_assert_lt(e->memory, 2 * c.proxy_max_header + c.input_buffer_size + 4096);
}

/* Feeds data until it is all taken or the session refuses it as closed; returns 1 when
 * the session closed. */
static int tsm_feed_proxy(tsm_env *e, const char *data, size_t len)
{
    size_t at = 0;
    int stalls = 0;
    while (at < len) {
        size_t used = 0;
        int rc = smtpcore_server_receive(e->s, data + at, len - at, &used);
        if (rc == SMTPCORE_ERR_CLOSED)
            return 1;
        cr_assert_eq(rc, SMTPCORE_OK);
        at += used;
        tsm_pump(e, 1);
        if (used == 0 && ++stalls > 3)
            cr_assert_fail("input stuck at %zu", at);
    }
    return smtpcore_server_want_close(e->s);
}

Test(server_memory, proxy_v1_endless_line)
{
    tsm_env e;
    tsm_open_proxy(&e, SMTPCORE_PROXY_ANY, 0);
    static char block[4096];
    memset(block, 'A', sizeof block);
    memcpy(block, "PROXY ", 6);
    int closed = 0;
    for (int i = 0; i < 256 && !closed; i++) /* up to 1 MiB */
        closed = tsm_feed_proxy(&e, block, sizeof block);
    cr_expect(closed);
    cr_expect_eq(e.events[SMTPCORE_SEV_CLOSE], 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_CONNECT], 0);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, proxy_v2_largest_header_then_flood)
{
    /* The largest header the protocol allows (16 + 65535), all zero-length TLVs, then a
     * flood of early bytes: the session holds the header once and stays the same size. */
    tsm_env e;
    tsm_open_proxy(&e, SMTPCORE_PROXY_V2, 16 + 65535);
    static char hdr[16 + 65535];
    memcpy(hdr, "\r\n\r\n\0\r\nQUIT\n", 12);
    hdr[12] = 0x21;
    hdr[13] = 0x00; /* AF_UNSPEC: the whole block is TLVs (3-byte zero TLVs) */
    hdr[14] = (char)0xff;
    hdr[15] = (char)0xff;
    memset(hdr + 16, 0, 65535);
    tsm_feed_proxy(&e, hdr, sizeof hdr);
    cr_expect_eq(e.events[SMTPCORE_SEV_PROXY], 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_CONNECT], 1);
    const smtpcore_proxy_header *h = smtpcore_server_proxy_header(e.s);
    cr_assert_not_null(h);
    cr_expect_eq(h->tlvs.len, 65535);
    static char flood[8192];
    memset(flood, 'x', sizeof flood);
    for (int i = 0; i < 64; i++)
        tsm_feed_proxy(&e, flood, sizeof flood);
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, proxy_v2_length_over_limit_and_garbage)
{
    tsm_env e;
    tsm_open_proxy(&e, SMTPCORE_PROXY_V2, 0);
    static char hdr[70000];
    memset(hdr, 0x5a, sizeof hdr);
    memcpy(hdr, "\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff", 16);
    cr_expect(tsm_feed_proxy(&e, hdr, sizeof hdr));
    cr_expect_eq(e.events[SMTPCORE_SEV_PROTOCOL_ERROR], 1);
    cr_expect_eq(e.events[SMTPCORE_SEV_CLOSE], 1);
    cr_expect_null(smtpcore_server_proxy_header(e.s));
    tsm_check(&e);
    tsm_close(&e);
}

Test(server_memory, proxy_many_sessions_one_byte_at_a_time)
{
    /* A header trickled byte by byte, with the split points a slow proxy would make. */
    static const char hdr[] = "PROXY TCP6 2001:db8::1 2001:db8::2 65535 25\r\nEHLO c.example\r\n";
    for (int k = 0; k < 50; k++) {
        tsm_env e;
        tsm_open_proxy(&e, SMTPCORE_PROXY_V1, 0);
        for (size_t i = 0; i + 1 < sizeof hdr; i++)
            tsm_feed_proxy(&e, hdr + i, 1);
        cr_expect_eq(e.events[SMTPCORE_SEV_PROXY], 1);
        cr_expect_eq(e.events[SMTPCORE_SEV_HELO], 1);
        tsm_check(&e);
        tsm_close(&e);
    }
}

/* smtpcore_server_memory() is what the session allocated (its block, whatever the
 * configuration adds to it: LMTP area, PROXY area, own names; and its buffers' block),
 * and what is left of it after smtpcore_server_release_idle(). */
Test(server_memory, memory_is_what_was_allocated)
{
    static const char *const names[] = {"mx.example.org", "[192.0.2.1]"};
    for (int k = 0; k < 4; k++) {
        test_alloc count = {0};
        smtpcore_allocator a = test_alloc_allocator(&count);
        smtpcore_server_config c;
        smtpcore_server_config_init(&c);
        c.allocator = &a;
        if (k == 1)
            c.lmtp = 1;
        if (k == 2)
            c.proxy_protocol = SMTPCORE_PROXY_V2;
        if (k == 3) {
            c.lmtp = 1;
            c.proxy_protocol = SMTPCORE_PROXY_ANY;
            c.own_names = names;
            c.own_names_count = 2;
        }
        smtpcore_server *s;
        cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
        cr_expect_eq(count.calls, 2);
        cr_expect_eq(smtpcore_server_memory(s), count.bytes, "config %d: %zu reported, %zu allocated",
                     k, smtpcore_server_memory(s), count.bytes);
        size_t freed = 0;
        cr_assert_eq(smtpcore_server_release_idle(s, &freed), SMTPCORE_OK);
        cr_expect_geq(freed, c.input_buffer_size + c.output_buffer_size); /* PROXY: more in */
        cr_expect_eq(count.live, 1);
        cr_expect_eq(smtpcore_server_memory(s), count.bytes - freed);
        smtpcore_server_del(s);
        cr_expect_eq(count.live, 0);
    }
}

/* docs/performance.md row 5a: an idle server session with the default buffers (514 + 768
 * bytes) takes at most 2 KiB, so that 100,000 of them fit in about 200 MiB. */
Test(server_memory, default_session_is_at_most_2_kib)
{
    smtpcore_server *s;
    cr_assert_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    cr_expect_leq(smtpcore_server_memory(s), 2048, "%zu bytes", smtpcore_server_memory(s));
    smtpcore_server_del(s);
}
