/* SPDX-License-Identifier: MIT */
/* smtpcore_client_release_idle(): an idle client session gives its buffers back and takes
 * them again when it needs them, with the same conversation as a session that never did,
 * and a defined error when the allocator fails at that moment. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

/* One step of a conversation: the server's bytes, or a call of the host. */
typedef enum tcr_kind {
    TCR_SERVER, TCR_MAIL, TCR_RCPT, TCR_DATA, TCR_BODY, TCR_END, TCR_NOOP, TCR_RSET, TCR_QUIT,
    TCR_EOF, TCR_STOP
} tcr_kind;

typedef struct tcr_step {
    tcr_kind kind;
    const char *arg;
} tcr_step;

typedef struct tcr_env {
    test_alloc count;
    smtpcore_allocator alloc;
    smtpcore_client *c;
    int release;  /* try a release after every step, event and fed chunk */
    size_t chunk; /* feed the server's bytes this many at a time (0: whole) */
    char log[32768]; /* events and output, in the order the host saw them */
    size_t log_len;
    size_t released; /* releases that freed something */
    size_t freed;    /* what each of them freed (all the same) */
    size_t mem_held; /* smtpcore_client_memory() with the buffers */
} tcr_env;

static void tcr_open(tcr_env *e, int lmtp)
{
    memset(e, 0, sizeof *e);
    e->alloc = test_alloc_allocator(&e->count);
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.allocator = &e->alloc;
    cfg.lmtp = lmtp;
    cr_assert_eq(smtpcore_client_new(&e->c, &cfg), SMTPCORE_OK);
    e->mem_held = smtpcore_client_memory(e->c);
}

static void tcr_close(tcr_env *e)
{
    smtpcore_client_del(e->c);
    cr_expect_eq(e->count.live, 0, "leak");
}

static void tcr_log(tcr_env *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tcr_log(tcr_env *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(e->log + e->log_len, sizeof e->log - e->log_len, fmt, ap);
    va_end(ap);
    cr_assert(w > 0 && (size_t)w < sizeof e->log - e->log_len);
    e->log_len += (size_t)w;
}

/* A release where the session may or may not be idle: refused changes nothing, done
 * frees the whole block and memory() drops by it. */
static void tcr_try_release(tcr_env *e)
{
    if (!e->release)
        return;
    size_t before = smtpcore_client_memory(e->c), freed = 7;
    int rc = smtpcore_client_release_idle(e->c, &freed);
    if (rc == SMTPCORE_ERR_INVALID_STATE) {
        cr_assert_eq(freed, 0);
        cr_assert_eq(smtpcore_client_memory(e->c), before);
        return;
    }
    cr_assert_eq(rc, SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_memory(e->c), before - freed);
    if (freed) {
        if (e->released)
            cr_assert_eq(freed, e->freed);
        e->freed = freed;
        e->released++;
        cr_assert_eq(before, e->mem_held);
    }
}

static void tcr_drain(tcr_env *e)
{
    for (;;) {
        const smtpcore_client_event *ev;
        cr_assert_eq(smtpcore_client_next_event(e->c, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_CEV_NONE)
            break;
        tcr_log(e, "ev %d %d %d i%zu a%zu t%zu v%d [%.*s]\n", (int)ev->type, (int)ev->failure,
                ev->reply.code, ev->rcpt_index, ev->rcpt_accepted, ev->rcpt_total,
                (int)ev->violation, (int)ev->reply.raw.len,
                ev->reply.raw.ptr ? ev->reply.raw.ptr : "");
        /* An event is alive (its slices point into the buffers): never idle. */
        if (e->release) {
            size_t freed = 7;
            cr_assert_eq(smtpcore_client_release_idle(e->c, &freed), SMTPCORE_ERR_INVALID_STATE);
            cr_assert_eq(freed, 0);
        }
    }
    const char *p;
    size_t n;
    while ((n = smtpcore_client_output(e->c, &p)) > 0) {
        tcr_log(e, "> [%.*s]\n", (int)n, p);
        cr_assert_eq(smtpcore_client_consume(e->c, n), SMTPCORE_OK);
    }
    tcr_try_release(e);
}

static void tcr_server(tcr_env *e, const char *s)
{
    size_t n = strlen(s), at = 0;
    while (at < n) {
        size_t k = e->chunk && e->chunk < n - at ? e->chunk : n - at, used = 0;
        cr_assert_eq(smtpcore_client_receive(e->c, s + at, k, &used), SMTPCORE_OK);
        cr_assert_eq(used, k);
        at += k;
        tcr_drain(e);
    }
}

static void tcr_run(tcr_env *e, const tcr_step *steps)
{
    size_t used;
    tcr_drain(e);
    for (const tcr_step *st = steps; st->kind != TCR_STOP; st++) {
        switch (st->kind) {
        case TCR_SERVER: tcr_server(e, st->arg); break;
        case TCR_MAIL: cr_assert_eq(smtpcore_client_mail(e->c, st->arg, NULL), SMTPCORE_OK); break;
        case TCR_RCPT: cr_assert_eq(smtpcore_client_rcpt(e->c, st->arg, NULL), SMTPCORE_OK); break;
        case TCR_DATA: cr_assert_eq(smtpcore_client_data(e->c), SMTPCORE_OK); break;
        case TCR_BODY:
            cr_assert_eq(smtpcore_client_body(e->c, st->arg, strlen(st->arg), &used), SMTPCORE_OK);
            cr_assert_eq(used, strlen(st->arg));
            break;
        case TCR_END: cr_assert_eq(smtpcore_client_body_end(e->c), SMTPCORE_OK); break;
        case TCR_NOOP: cr_assert_eq(smtpcore_client_noop(e->c), SMTPCORE_OK); break;
        case TCR_RSET: cr_assert_eq(smtpcore_client_rset(e->c), SMTPCORE_OK); break;
        case TCR_QUIT: cr_assert_eq(smtpcore_client_quit(e->c), SMTPCORE_OK); break;
        case TCR_EOF: cr_assert_eq(smtpcore_client_receive_eof(e->c), SMTPCORE_OK); break;
        case TCR_STOP: break;
        }
        tcr_drain(e);
    }
}

#define EHLO_REPLY "250-mx.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 100000\r\n"

/* Two DATA transactions (the second overtaking the first behind its "."), a refused
 * recipient, NOOP, RSET, QUIT. */
static const tcr_step smtp_script[] = {
    {TCR_SERVER, "220 mx.example ESMTP\r\n"},
    {TCR_SERVER, EHLO_REPLY},
    {TCR_NOOP, NULL},
    {TCR_SERVER, "250 2.0.0 OK\r\n"},
    {TCR_MAIL, "a@example.org"},
    {TCR_RCPT, "b@example.net"},
    {TCR_RCPT, "c@example.net"},
    {TCR_DATA, NULL},
    {TCR_SERVER, "250 2.1.0 OK\r\n250 2.1.5 OK\r\n550 5.1.1 no such user\r\n354 go ahead\r\n"},
    {TCR_BODY, "Subject: one\r\n\r\n.dot\r\nbody\r\n"},
    {TCR_END, NULL},
    {TCR_SERVER, "250 2.0.0 queued as 1\r\n"},
    {TCR_RSET, NULL},
    {TCR_SERVER, "250 2.0.0 reset\r\n"},
    {TCR_MAIL, "a@example.org"},
    {TCR_RCPT, "d@example.net"},
    {TCR_DATA, NULL},
    {TCR_SERVER, "250 OK\r\n250 OK\r\n354 go ahead\r\n"},
    {TCR_BODY, "Subject: two\r\n\r\nx\r\n"},
    {TCR_END, NULL},
    {TCR_MAIL, "e@example.org"},
    {TCR_RCPT, "f@example.net"},
    {TCR_DATA, NULL},
    {TCR_SERVER, "250 queued as 2\r\n250 OK\r\n250 OK\r\n354 go ahead\r\n"},
    {TCR_BODY, "Subject: three\r\n\r\ny\r\n"},
    {TCR_END, NULL},
    {TCR_SERVER, "451 4.3.0 try later\r\n"},
    {TCR_QUIT, NULL},
    {TCR_SERVER, "221 2.0.0 bye\r\n"},
    {TCR_EOF, NULL},
    {TCR_STOP, NULL},
};

/* LMTP: one reply per accepted recipient after the data. */
static const tcr_step lmtp_script[] = {
    {TCR_SERVER, "220 store.example LMTP\r\n"},
    {TCR_SERVER, "250-store.example\r\n250 PIPELINING\r\n"},
    {TCR_MAIL, "a@example.org"},
    {TCR_RCPT, "b@example.net"},
    {TCR_RCPT, "c@example.net"},
    {TCR_RCPT, "d@example.net"},
    {TCR_DATA, NULL},
    {TCR_SERVER, "250 OK\r\n250 OK\r\n550 no\r\n250 OK\r\n354 go\r\n"},
    {TCR_BODY, "Subject: l\r\n\r\nz\r\n"},
    {TCR_END, NULL},
    {TCR_SERVER, "250 2.0.0 b delivered\r\n452 4.2.2 d over quota\r\n"},
    {TCR_MAIL, "a@example.org"},
    {TCR_RCPT, "b@example.net"},
    {TCR_DATA, NULL},
    {TCR_SERVER, "250 OK\r\n250 OK\r\n354 go\r\n"},
    {TCR_BODY, "Subject: m\r\n\r\nz\r\n"},
    {TCR_END, NULL},
    {TCR_SERVER, "250 2.0.0 b delivered\r\n"},
    {TCR_QUIT, NULL},
    {TCR_SERVER, "221 bye\r\n"},
    {TCR_STOP, NULL},
};

/* A quiet session that the server drops: while released, its 421 arrives, then EOF. */
static const tcr_step dropped_script[] = {
    {TCR_SERVER, "220 mx.example ESMTP\r\n"},
    {TCR_SERVER, EHLO_REPLY},
    {TCR_SERVER, "421 4.4.2 idle too long\r\n"},
    {TCR_EOF, NULL},
    {TCR_STOP, NULL},
};

/* The connection is lost while released: next_event() takes the block back to say so. */
static const tcr_step lost_script[] = {
    {TCR_SERVER, "220 mx.example ESMTP\r\n"},
    {TCR_SERVER, EHLO_REPLY},
    {TCR_EOF, NULL},
    {TCR_STOP, NULL},
};

/* Runs the script with and without releases (whole replies and byte by byte) and checks
 * the host saw the same bytes and events; returns the releases made byte by byte. */
static size_t same_with_release(const tcr_step *script, int lmtp, size_t min_releases)
{
    size_t chunks[] = {0, 1};
    size_t total = 0;
    for (size_t i = 0; i < 2; i++) {
        static tcr_env plain, rel;
        tcr_open(&plain, lmtp);
        plain.chunk = chunks[i];
        tcr_run(&plain, script);
        tcr_open(&rel, lmtp);
        rel.chunk = chunks[i];
        rel.release = 1;
        tcr_run(&rel, script);
        cr_assert_eq(plain.log_len, rel.log_len, "chunk %zu:\n%s\n---\n%s", chunks[i], plain.log,
                     rel.log);
        cr_assert_eq(memcmp(plain.log, rel.log, plain.log_len), 0, "chunk %zu:\n%s\n---\n%s",
                     chunks[i], plain.log, rel.log);
        cr_assert_geq(rel.released, min_releases, "chunk %zu: %zu releases", chunks[i],
                      rel.released);
        /* new() makes three allocations (the session, its strings, the block); a session
         * never released makes no more, one released makes one per re-acquire. */
        cr_expect_eq(plain.count.calls, 3);
        size_t now_released = smtpcore_client_memory(rel.c) < rel.mem_held;
        cr_expect_eq(rel.count.calls, 3 + rel.released - now_released);
        total += rel.released;
        tcr_close(&plain);
        tcr_close(&rel);
    }
    return total;
}

Test(client_release, same_conversation_as_without_release)
{
    /* Idle after READY, after NOOP's reply, after the first MESSAGE_RESULT, after RSET's
     * reply, after the overtaken pair's results, after CLOSED. */
    same_with_release(smtp_script, 0, 5);
}

Test(client_release, lmtp_same_conversation)
{
    same_with_release(lmtp_script, 1, 3);
}

Test(client_release, server_drops_a_released_session)
{
    same_with_release(dropped_script, 0, 2);
}

Test(client_release, connection_lost_while_released)
{
    same_with_release(lost_script, 0, 2);
}

static void feed(smtpcore_client *c, const char *s)
{
    size_t n = strlen(s), used = 0;
    cr_assert_eq(smtpcore_client_receive(c, s, n, &used), SMTPCORE_OK);
    cr_assert_eq(used, n);
}

static smtpcore_client_event_type next_type(smtpcore_client *c)
{
    const smtpcore_client_event *ev;
    cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
    return ev->type;
}

static void drop_output(smtpcore_client *c)
{
    const char *p;
    size_t n = smtpcore_client_output(c, &p);
    cr_assert_eq(smtpcore_client_consume(c, n), SMTPCORE_OK);
}

static size_t output_is(smtpcore_client *c, const char *want)
{
    const char *p;
    size_t n = smtpcore_client_output(c, &p);
    cr_expect_eq(n, strlen(want));
    if (n == strlen(want))
        cr_expect_eq(memcmp(p, want, n), 0, "%.*s", (int)n, p);
    cr_assert_eq(smtpcore_client_consume(c, n), SMTPCORE_OK);
    return n;
}

/* A session at READY with nothing pending, made through @p e's allocator. */
static void ready(tcr_env *e, const char *ehlo_reply)
{
    tcr_open(e, 0);
    feed(e->c, "220 mx.example ESMTP\r\n");
    cr_assert_eq(next_type(e->c), SMTPCORE_CEV_GREETING);
    drop_output(e->c);
    feed(e->c, ehlo_reply);
    cr_assert_eq(next_type(e->c), SMTPCORE_CEV_READY);
    cr_assert_eq(next_type(e->c), SMTPCORE_CEV_NONE);
}

static void release_ok(smtpcore_client *c)
{
    size_t freed = 0, before = smtpcore_client_memory(c);
    cr_assert_eq(smtpcore_client_release_idle(c, &freed), SMTPCORE_OK);
    cr_assert_gt(freed, 0);
    cr_assert_eq(smtpcore_client_memory(c), before - freed);
}

static void refused(smtpcore_client *c, const char *why)
{
    size_t freed = 7, before = smtpcore_client_memory(c);
    cr_expect_eq(smtpcore_client_release_idle(c, &freed), SMTPCORE_ERR_INVALID_STATE, "%s", why);
    cr_expect_eq(freed, 0, "%s", why);
    cr_expect_eq(smtpcore_client_memory(c), before, "%s", why);
}

Test(client_release, refused_unless_idle)
{
    tcr_env e;
    tcr_open(&e, 0);
    refused(e.c, "greeting awaited");
    feed(e.c, "220 mx.exa");
    refused(e.c, "part of a reply");
    feed(e.c, "mple ESMTP\r\n");
    refused(e.c, "bytes not processed");
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_GREETING);
    refused(e.c, "an event alive");
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_NONE);
    refused(e.c, "EHLO to write, and its reply awaited");
    drop_output(e.c);
    refused(e.c, "EHLO's reply awaited");
    feed(e.c, EHLO_REPLY);
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_READY);
    refused(e.c, "READY alive");
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_NONE);
    cr_assert_eq(smtpcore_client_mail(e.c, "a@example.org", NULL), SMTPCORE_OK);
    refused(e.c, "MAIL to write");
    drop_output(e.c);
    refused(e.c, "in a transaction");
    cr_assert_eq(smtpcore_client_rcpt(e.c, "b@example.net", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_data(e.c), SMTPCORE_OK);
    drop_output(e.c);
    feed(e.c, "250 OK\r\n250 OK\r\n354 go\r\n");
    while (next_type(e.c) != SMTPCORE_CEV_NONE)
        ;
    refused(e.c, "the body is due");
    cr_assert_eq(smtpcore_client_body_end(e.c), SMTPCORE_OK);
    drop_output(e.c);
    refused(e.c, "the final reply awaited");
    feed(e.c, "250 queued\r\n");
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_MESSAGE_RESULT);
    refused(e.c, "MESSAGE_RESULT alive");
    while (next_type(e.c) != SMTPCORE_CEV_NONE)
        ;
    release_ok(e.c);
    tcr_close(&e);
}

Test(client_release, refused_while_tls_or_auth_waits_for_the_host)
{
    tcr_env e;
    tcr_open(&e, 0);
    feed(e.c, "220 mx.example ESMTP\r\n");
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_GREETING);
    drop_output(e.c);
    feed(e.c, "250-mx.example\r\n250 STARTTLS\r\n");
    while (next_type(e.c) != SMTPCORE_CEV_NONE)
        ;
    output_is(e.c, "STARTTLS\r\n");
    feed(e.c, "220 go ahead\r\n");
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_STARTTLS);
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_NONE);
    refused(e.c, "TLS handshake due");
    cr_assert_eq(smtpcore_client_tls_started(e.c), SMTPCORE_OK);
    output_is(e.c, "EHLO client.example.org\r\n");
    feed(e.c, EHLO_REPLY);
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_READY);
    cr_assert_eq(next_type(e.c), SMTPCORE_CEV_NONE);
    release_ok(e.c);
    /* The session goes on over TLS with the block back. */
    cr_assert_eq(smtpcore_client_noop(e.c), SMTPCORE_OK);
    output_is(e.c, "NOOP\r\n");
    tcr_close(&e);
}

Test(client_release, released_twice_and_del_while_released)
{
    tcr_env e;
    ready(&e, EHLO_REPLY);
    size_t held = smtpcore_client_memory(e.c);
    release_ok(e.c);
    size_t released = smtpcore_client_memory(e.c);
    cr_expect_lt(released, held);
    size_t freed = 7;
    cr_expect_eq(smtpcore_client_release_idle(e.c, &freed), SMTPCORE_OK);
    cr_expect_eq(freed, 0);
    cr_expect_eq(smtpcore_client_release_idle(e.c, NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_client_memory(e.c), released);
    cr_expect_eq(smtpcore_client_release_idle(NULL, &freed), SMTPCORE_ERR_INVALID_ARGUMENT);
    /* Nothing to do while released: NONE, no output, no allocation. */
    size_t calls = e.count.calls;
    cr_expect_eq(next_type(e.c), SMTPCORE_CEV_NONE);
    const char *p = "x";
    cr_expect_eq(smtpcore_client_output(e.c, &p), 0);
    cr_expect_eq(smtpcore_client_consume(e.c, 0), SMTPCORE_OK);
    cr_expect_eq(smtpcore_client_consume(e.c, 1), SMTPCORE_ERR_INVALID_ARGUMENT);
    char buf[8];
    cr_expect_eq(smtpcore_client_copy_output(e.c, buf, sizeof buf), 0);
    size_t used = 9;
    cr_expect_eq(smtpcore_client_receive(e.c, "", 0, &used), SMTPCORE_OK);
    cr_expect_eq(used, 0);
    cr_expect_eq(smtpcore_client_rcpt(e.c, "b@example.net", NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_data(e.c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_body_end(e.c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_body(e.c, "x", 1, &used), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_tls_started(e.c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_auth_respond(e.c, NULL, 0), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(e.count.calls, calls);
    cr_expect_eq(smtpcore_client_memory(e.c), released);
    tcr_close(&e); /* del while released: the allocator sees every block back */
}

/* Each call that takes the block back, with the allocator failing at that moment:
 * NOMEM, nothing done (still released, no output, no event); then, with the allocator
 * working, the same call succeeds. */
Test(client_release, allocation_failure_on_reacquire)
{
    enum { RECEIVE, MAIL, RSET, NOOP, QUIT, XCLIENT, EOF_EVENT, N };
    for (int call = 0; call < N; call++) {
        tcr_env e;
        ready(&e, "250-mx.example\r\n250-PIPELINING\r\n250 XCLIENT ADDR NAME\r\n");
        release_ok(e.c);
        size_t released = smtpcore_client_memory(e.c);
        const char *names[] = {"ADDR"}, *values[] = {"192.0.2.1"};
        for (int attempt = 0; attempt < 2; attempt++) {
            e.count.fail = attempt == 0;
            size_t calls = e.count.calls, used = 9;
            int rc = 0;
            const smtpcore_client_event *ev = NULL;
            switch (call) {
            case RECEIVE: rc = smtpcore_client_receive(e.c, "250 x\r\n", 7, &used); break;
            case MAIL: rc = smtpcore_client_mail(e.c, "a@example.org", NULL); break;
            case RSET: rc = smtpcore_client_rset(e.c); break;
            case NOOP: rc = smtpcore_client_noop(e.c); break;
            case QUIT: rc = smtpcore_client_quit(e.c); break;
            case XCLIENT: rc = smtpcore_client_xclient(e.c, names, values, 1); break;
            case EOF_EVENT:
                if (attempt == 0)
                    cr_assert_eq(smtpcore_client_receive_eof(e.c), SMTPCORE_OK);
                rc = smtpcore_client_next_event(e.c, &ev);
                cr_assert_not_null(ev);
                break;
            }
            cr_expect_eq(e.count.calls, calls + 1, "call %d: one allocation", call);
            if (attempt == 0) {
                cr_assert_eq(rc, SMTPCORE_ERR_NOMEM, "call %d", call);
                cr_expect(smtpcore_error_is_fatal(rc));
                cr_expect_eq(smtpcore_client_memory(e.c), released, "call %d", call);
                if (call == RECEIVE)
                    cr_expect_eq(used, 0);
                if (ev)
                    cr_expect_eq(ev->type, SMTPCORE_CEV_NONE);
                const char *p;
                cr_expect_eq(smtpcore_client_output(e.c, &p), 0, "call %d", call);
                cr_expect_eq(smtpcore_client_want_close(e.c), 0, "call %d", call);
                continue;
            }
            cr_assert_eq(rc, SMTPCORE_OK, "call %d", call);
            cr_expect_eq(smtpcore_client_memory(e.c), e.mem_held, "call %d", call);
            switch (call) {
            case RECEIVE:
                cr_expect_eq(used, 7);
                /* A reply nobody asked for breaks the protocol. */
                cr_expect_eq(next_type(e.c), SMTPCORE_CEV_PROTOCOL_ERROR);
                break;
            case MAIL: output_is(e.c, "MAIL FROM:<a@example.org>\r\n"); break;
            case RSET: output_is(e.c, "RSET\r\n"); break;
            case NOOP: output_is(e.c, "NOOP\r\n"); break;
            case QUIT: output_is(e.c, "QUIT\r\n"); break;
            case XCLIENT: output_is(e.c, "XCLIENT ADDR=192.0.2.1\r\n"); break;
            case EOF_EVENT:
                cr_expect_eq(ev->type, SMTPCORE_CEV_CLOSED);
                cr_expect_eq(ev->violation, SMTPCORE_V_CONNECTION_LOST);
                break;
            }
        }
        tcr_close(&e);
    }
}

Test(client_release, frees_the_configured_buffers)
{
    tcr_env e;
    ready(&e, EHLO_REPLY);
    size_t freed = 0;
    cr_assert_eq(smtpcore_client_release_idle(e.c, &freed), SMTPCORE_OK);
    /* input, output, envelope queue, scratch (the input's size), the ring (max_recipients
     * + 16), and the event queue */
    cr_expect_gt(freed, 8192 + 8192 + 65536 + 8192 + 1016);
    cr_expect_lt(smtpcore_client_memory(e.c), 4096);
    /* Back at the first call that needs them, the same size. */
    cr_assert_eq(smtpcore_client_noop(e.c), SMTPCORE_OK);
    cr_expect_eq(smtpcore_client_memory(e.c), e.mem_held);
    tcr_close(&e);
}
