/* SPDX-License-Identifier: MIT */
/* LMTP engine against engine: an LMTP client and an LMTP server wired back to back in
 * memory. Each recipient's address names the reply the server host gives it after the
 * data ("r250-...", "r452-...", "r550-..."; "x..." is refused at RCPT). The server host
 * answers the recipients in a random order, part of them only after later next_event()
 * calls; the client starts the next transaction behind the dot when it may. Every
 * DELIVERY_RESULT must name the right recipient and carry its reply, every
 * MESSAGE_RESULT the right totals; neither session allocates after creation. Fixed-seed
 * PRNG, bytes moved in random piece sizes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

#define LL_MAX_RCPT 12

typedef struct ll_tx {
    char rcpt[LL_MAX_RCPT][48];
    int code[LL_MAX_RCPT]; /* 0: refused at RCPT */
    size_t n;
    size_t delivered_expected, accepted_expected;
    size_t results; /* DELIVERY_RESULTs seen */
} ll_tx;

typedef struct ll_world {
    uint64_t rng;
    smtpcore_client *c;
    smtpcore_server *s;
    ll_tx tx[2]; /* the transaction in flight and the one behind its dot */
    size_t cur;  /* tx[cur % 2] receives the client's results */
    size_t started, finished, wanted;
    int sending, body_done, closed;
    /* server host */
    char srv_rcpt[LL_MAX_RCPT][48];
    size_t srv_n;
    size_t pending[LL_MAX_RCPT]; /* recipients not answered yet, in answer order */
    size_t npending;
    int awaiting_end;
    size_t deliveries, mismatches, messages, deferred_answers, overtaken;
} ll_world;

static uint64_t ll_next(ll_world *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    w->rng = x;
    return x;
}

static size_t ll_below(ll_world *w, size_t n) { return n ? (size_t)(ll_next(w) % n) : 0; }

static int ll_start_tx(ll_world *w)
{
    ll_tx *t = &w->tx[w->started % 2];
    memset(t, 0, sizeof(*t));
    t->n = 1 + ll_below(w, LL_MAX_RCPT);
    static const int codes[] = {250, 250, 250, 452, 550, 0};
    for (size_t i = 0; i < t->n; i++) {
        int code = codes[ll_below(w, 6)];
        t->code[i] = code;
        snprintf(t->rcpt[i], sizeof t->rcpt[i], "%c%d-%zu-%zu@example.net", code ? 'r' : 'x',
                 code ? code : 0, w->started, i);
        if (code)
            t->accepted_expected++;
        if (code == 250)
            t->delivered_expected++;
    }
    if (t->accepted_expected == 0) { /* keep every message deliverable to someone */
        t->code[0] = 250;
        snprintf(t->rcpt[0], sizeof t->rcpt[0], "r250-%zu-0@example.net", w->started);
        t->accepted_expected = t->delivered_expected = 1;
    }
    int rc = smtpcore_client_mail(w->c, "sender@example.org", NULL);
    if (rc == SMTPCORE_ERR_INVALID_STATE)
        return 0; /* not allowed behind this message's end (BDAT) */
    cr_assert_eq(rc, SMTPCORE_OK);
    for (size_t i = 0; i < t->n; i++)
        cr_assert_eq(smtpcore_client_rcpt(w->c, t->rcpt[i], NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_data(w->c), SMTPCORE_OK);
    w->started++;
    w->body_done = 0;
    return 1;
}

static void ll_client_events(ll_world *w)
{
    for (int guard = 0; guard < 10000; guard++) {
        const smtpcore_client_event *ev;
        cr_assert_eq(smtpcore_client_next_event(w->c, &ev), SMTPCORE_OK);
        ll_tx *t = &w->tx[w->cur % 2];
        switch (ev->type) {
        case SMTPCORE_CEV_NONE: return;
        case SMTPCORE_CEV_READY:
            if (w->started < w->wanted)
                cr_assert(ll_start_tx(w));
            else if (!w->closed) {
                w->closed = 1;
                cr_assert_eq(smtpcore_client_quit(w->c), SMTPCORE_OK);
            }
            break;
        case SMTPCORE_CEV_RCPT_RESULT:
            cr_assert_lt(ev->rcpt_index, t->n);
            cr_assert_eq(ev->reply.code == 250, t->code[ev->rcpt_index] != 0);
            break;
        case SMTPCORE_CEV_SEND_BODY:
            w->sending = 1;
            break;
        case SMTPCORE_CEV_DELIVERY_RESULT:
            cr_assert_lt(ev->rcpt_index, t->n);
            if (ev->reply.code != t->code[ev->rcpt_index])
                w->mismatches++;
            t->results++;
            w->deliveries++;
            break;
        case SMTPCORE_CEV_MESSAGE_RESULT:
            cr_assert_eq(t->results, t->accepted_expected, "tx %zu: %zu of %zu", w->cur,
                         t->results, t->accepted_expected);
            cr_assert_eq(ev->rcpt_accepted, t->delivered_expected);
            cr_assert_eq(ev->rcpt_total, t->n);
            cr_assert_eq(ev->failure == SMTPCORE_SUCCESS, t->delivered_expected > 0);
            w->cur++;
            w->finished++;
            break;
        case SMTPCORE_CEV_CLOSED:
            cr_assert_eq(ev->violation, SMTPCORE_V_NONE);
            return;
        case SMTPCORE_CEV_PROTOCOL_ERROR:
            cr_assert_fail("client protocol error %d", (int)ev->violation);
            break;
        default: break;
        }
    }
}

static void ll_feed_body(ll_world *w)
{
    if (!w->sending)
        return;
    static const char body[] = "Subject: lmtp\r\n\r\n.leading dot\r\nline\r\n";
    size_t used = 0;
    if (!w->body_done) {
        cr_assert_eq(smtpcore_client_body(w->c, body, sizeof(body) - 1, &used), SMTPCORE_OK);
        if (used < sizeof(body) - 1)
            return; /* a body this small always fits; be safe anyway */
        w->body_done = 1;
    }
    if (smtpcore_client_body_end(w->c) != SMTPCORE_OK)
        return;
    w->sending = 0;
    /* RFC 2920 3.1: the next transaction right behind the dot, half of the time. */
    if (w->started < w->wanted && ll_below(w, 2) && ll_start_tx(w))
        w->overtaken++;
}

/* The server host answers one pending recipient (a random one) by its address. */
static void ll_answer_one(ll_world *w)
{
    size_t k = ll_below(w, w->npending);
    size_t idx = w->pending[k];
    w->pending[k] = w->pending[--w->npending];
    int code = atoi(w->srv_rcpt[idx] + 1);
    char text[80];
    snprintf(text, sizeof text, "<%s> answer", w->srv_rcpt[idx]);
    cr_assert_eq(smtpcore_server_reply_rcpt(w->s, idx, code, NULL, text), SMTPCORE_OK);
}

static void ll_server_events(ll_world *w)
{
    /* Deferred answers: one per call, after next_event() has returned NONE. */
    if (w->npending) {
        ll_answer_one(w);
        w->deferred_answers++;
    }
    for (int guard = 0; guard < 10000; guard++) {
        const smtpcore_server_event *ev;
        cr_assert_eq(smtpcore_server_next_event(w->s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE)
            return;
        if (ev->type == SMTPCORE_SEV_MAIL)
            w->srv_n = 0;
        if (ev->type == SMTPCORE_SEV_RCPT) {
            if (ev->address.len && ev->address.ptr[0] == 'x') {
                cr_assert_eq(smtpcore_server_reject(w->s, 550, "5.1.1", NULL), SMTPCORE_OK);
                continue;
            }
            cr_assert_lt(w->srv_n, LL_MAX_RCPT);
            cr_assert_lt(ev->address.len, sizeof w->srv_rcpt[0]);
            memcpy(w->srv_rcpt[w->srv_n], ev->address.ptr, ev->address.len);
            w->srv_rcpt[w->srv_n][ev->address.len] = '\0';
            w->srv_n++;
        }
        if (ev->type == SMTPCORE_SEV_MESSAGE_END) {
            cr_assert_eq(ev->rcpt_count, w->srv_n);
            w->messages++;
            w->npending = w->srv_n;
            for (size_t i = 0; i < w->srv_n; i++)
                w->pending[i] = i;
            /* Some now, the rest later (or all now). */
            size_t now = ll_below(w, w->srv_n + 1);
            for (size_t i = 0; i < now; i++)
                ll_answer_one(w);
            continue;
        }
        if (ev->answer_required)
            cr_assert_eq(smtpcore_server_accept(w->s), SMTPCORE_OK);
    }
}

static int ll_move(ll_world *w, int c2s)
{
    const char *p;
    size_t n = c2s ? smtpcore_client_output(w->c, &p) : smtpcore_server_output(w->s, &p);
    if (n == 0)
        return 0;
    size_t piece = 1 + ll_below(w, n < 64 ? n : 64), used = 0;
    if (c2s) {
        if (smtpcore_server_receive(w->s, p, piece, &used) != SMTPCORE_OK)
            return 0;
        smtpcore_client_consume(w->c, used);
    } else {
        if (smtpcore_client_receive(w->c, p, piece, &used) != SMTPCORE_OK)
            return 0;
        smtpcore_server_consume(w->s, used);
    }
    return used > 0;
}

static void ll_run(uint64_t seed, uint32_t ext, size_t txs)
{
    ll_world *w = calloc(1, sizeof(*w));
    /* Counts allocations: none may happen once both sessions exist. */
    test_alloc count = {0};
    smtpcore_allocator alloc = test_alloc_allocator(&count);
    w->rng = seed;
    w->wanted = txs;
    smtpcore_server_config sc;
    smtpcore_server_config_init(&sc);
    sc.lmtp = 1;
    sc.extensions = ext;
    sc.max_recipients = LL_MAX_RCPT;
    sc.input_buffer_size = 2048;
    sc.allocator = &alloc;
    cr_assert_eq(smtpcore_server_new(&w->s, &sc), SMTPCORE_OK);
    smtpcore_client_config cc;
    smtpcore_client_config_init(&cc);
    cc.helo_name = "client.example.org";
    cc.lmtp = 1;
    cc.max_recipients = LL_MAX_RCPT;
    cc.allocator = &alloc;
    cr_assert_eq(smtpcore_client_new(&w->c, &cc), SMTPCORE_OK);
    size_t calls = count.calls;
    size_t smem = smtpcore_server_memory(w->s), cmem = smtpcore_client_memory(w->c);
    for (int step = 0; step < 5000000 && !smtpcore_client_want_close(w->c); step++) {
        ll_server_events(w);
        ll_client_events(w);
        ll_feed_body(w);
        int moved = ll_move(w, 1) | ll_move(w, 0);
        if (!moved && !w->npending && !w->sending) {
            ll_server_events(w);
            ll_client_events(w);
            if (!ll_move(w, 1) && !ll_move(w, 0) && !w->npending && !w->sending)
                break;
        }
    }
    cr_expect_eq(w->finished, txs, "finished %zu of %zu", w->finished, txs);
    cr_expect_eq(w->messages, txs);
    cr_expect_eq(w->mismatches, 0);
    cr_expect_gt(w->deliveries, txs);
    cr_expect_gt(w->deferred_answers, 0);
    if (!(ext & SMTPCORE_EXT_CHUNKING))
        cr_expect_gt(w->overtaken, txs / 4, "overtaken %zu", w->overtaken);
    cr_expect_eq(count.calls, calls, "allocations after creation");
    cr_expect_eq(smtpcore_server_memory(w->s), smem);
    cr_expect_eq(smtpcore_client_memory(w->c), cmem);
    smtpcore_client_del(w->c);
    smtpcore_server_del(w->s);
    cr_expect_eq(count.live, 0, "everything freed");
    free(w);
}

Test(lmtp_loopback, data_pipelined)
{
    ll_run(0x1234567u, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_ENHANCEDSTATUSCODES, 400);
}

Test(lmtp_loopback, bdat)
{
    ll_run(0x7654321u, SMTPCORE_EXT_CHUNKING, 400);
}
