/* SPDX-License-Identifier: MIT */
/* smtpcore_server_release_idle(): an idle session gives its buffers back and takes them
 * again when it needs them, with the same conversation as a session that never did, and
 * a defined error when the allocator fails at that moment. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

typedef struct tsr_env {
    test_alloc count;
    smtpcore_allocator alloc;
    smtpcore_server *s;
    char out[65536];
    size_t out_len;
    char log[65536]; /* one line per event: type, code, slices */
    size_t log_len;
    size_t released; /* successful releases that freed something */
} tsr_env;

static void tsr_open(tsr_env *e, const smtpcore_server_config *base)
{
    memset(e, 0, sizeof(*e));
    e->alloc = test_alloc_allocator(&e->count);
    smtpcore_server_config c;
    if (base)
        c = *base;
    else
        smtpcore_server_config_init(&c);
    c.allocator = &e->alloc;
    cr_assert_eq(smtpcore_server_new(&e->s, &c), SMTPCORE_OK);
}

static void tsr_close(tsr_env *e)
{
    smtpcore_server_del(e->s);
    cr_expect_eq(e->count.live, 0, "leak");
}

static void tsr_log(tsr_env *e, const char *fmt, size_t n, const char *p)
{
    int w = snprintf(e->log + e->log_len, sizeof(e->log) - e->log_len, fmt, (int)n, p ? p : "");
    cr_assert(w > 0 && (size_t)w < sizeof(e->log) - e->log_len);
    e->log_len += (size_t)w;
}

static void tsr_drain(tsr_env *e)
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

/* Handles every event (accepting what needs an answer; answering AUTH with 235), writes
 * the output, and with `release` gives the buffers back whenever the session is idle. */
static void tsr_pump(tsr_env *e, int release)
{
    for (int i = 0; i < 100000; i++) {
        const smtpcore_server_event *ev;
        cr_assert_eq(smtpcore_server_next_event(e->s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            if (smtpcore_server_output(e->s, &p) > 0) {
                tsr_drain(e);
                continue;
            }
            if (release) {
                size_t freed = 0;
                int rc = smtpcore_server_release_idle(e->s, &freed);
                cr_assert(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_INVALID_STATE, "rc %d", rc);
                if (rc == SMTPCORE_OK && freed)
                    e->released++;
            }
            return;
        }
        char head[64];
        snprintf(head, sizeof head, "%d/%d/%d:", (int)ev->type, ev->reply_code,
                 (int)ev->violation);
        tsr_log(e, "%.*s", strlen(head), head);
        tsr_log(e, "[%.*s]", ev->line.len, ev->line.ptr);
        if (ev->type == SMTPCORE_SEV_BODY)
            tsr_log(e, "{%.*s}", ev->data.len, ev->data.ptr);
        if (ev->type == SMTPCORE_SEV_MAIL || ev->type == SMTPCORE_SEV_RCPT)
            tsr_log(e, "<%.*s>", ev->address.len, ev->address.ptr);
        if (ev->type == SMTPCORE_SEV_AUTH)
            tsr_log(e, "(%.*s)", ev->username.len, ev->username.ptr);
        tsr_log(e, "%.*s\n", 0, NULL);
        if (ev->answer_required)
            cr_assert_eq(ev->type == SMTPCORE_SEV_AUTH
                             ? smtpcore_server_reply(e->s, 235, NULL, NULL)
                             : smtpcore_server_accept(e->s),
                         SMTPCORE_OK);
    }
    cr_assert_fail("pump did not settle");
}

/* Feeds `data` in pieces of `step` bytes, pumping after each. */
static void tsr_run(tsr_env *e, const char *data, size_t len, size_t step, int release)
{
    tsr_pump(e, release);
    for (size_t at = 0; at < len;) {
        size_t n = len - at < step ? len - at : step;
        size_t used = 0;
        cr_assert_eq(smtpcore_server_receive(e->s, data + at, n, &used), SMTPCORE_OK);
        at += used;
        tsr_pump(e, release);
    }
    cr_assert_eq(smtpcore_server_receive_eof(e->s), SMTPCORE_OK);
    tsr_pump(e, release);
}

static const char tsr_script[] =
    "EHLO client.example\r\n"
    "MAIL FROM:<alice@example.org> SIZE=100\r\nRCPT TO:<bob@example.com>\r\n"
    "RCPT TO:<carol@example.com>\r\nDATA\r\n"
    "Subject: hi\r\n\r\n..stuffed\r\nline two\r\n.\r\n"
    "NOOP\r\n"
    "AUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n"
    "MAIL FROM:<>\r\nRCPT TO:<dave@example.com>\r\nBDAT 12 LAST\r\nHello world!"
    "VRFY someone\r\n"
    "XXXX-unknown-verb\r\n"
    "RSET\r\n"
    "QUIT\r\n";

/* The conversation is the same whether the session gives its buffers back at every idle
 * moment or never, whatever the pieces the bytes come in; releasing happens, and every
 * buffer taken back was given back (no leak, and the allocator saw matching calls). */
Test(server_release, same_conversation_as_without_release)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_AUTH;
    c.allow_plaintext_auth = 1;
    static const size_t steps[] = {1, 2, 3, 7, 16, 64, 4096};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        tsr_env *plain = calloc(1, sizeof *plain), *rel = calloc(1, sizeof *rel);
        cr_assert(plain && rel);
        tsr_open(plain, &c);
        tsr_open(rel, &c);
        tsr_run(plain, tsr_script, sizeof tsr_script - 1, steps[k], 0);
        tsr_run(rel, tsr_script, sizeof tsr_script - 1, steps[k], 1);
        cr_expect_eq(plain->count.calls, 2, "a session that never releases allocates once");
        cr_expect_gt(rel->released, steps[k] < 64 ? 3u : 1u, "step %zu: released %zu times",
                     steps[k], rel->released);
        /* The session's block, then the buffers' each time they were (re)acquired. */
        cr_expect_eq(rel->count.calls, rel->released + rel->count.live);
        cr_expect_eq(plain->out_len, rel->out_len, "step %zu", steps[k]);
        cr_expect(memcmp(plain->out, rel->out, plain->out_len) == 0, "step %zu: output differs",
                  steps[k]);
        cr_expect_eq(plain->log_len, rel->log_len, "step %zu", steps[k]);
        cr_expect(memcmp(plain->log, rel->log, plain->log_len) == 0, "step %zu: events differ",
                  steps[k]);
        cr_expect(strstr(plain->out, "221 ") != NULL);
        tsr_close(plain);
        tsr_close(rel);
        free(plain);
        free(rel);
    }
}

static const smtpcore_server_event *tsr_next(smtpcore_server *s)
{
    const smtpcore_server_event *ev;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    return ev;
}

static void tsr_feed(smtpcore_server *s, const char *t)
{
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(s, t, strlen(t), &used), SMTPCORE_OK);
    cr_assert_eq(used, strlen(t));
}

/* What "idle" means: each thing that refers to the buffers refuses the release, and a
 * refused release changes nothing. */
Test(server_release, refused_unless_idle)
{
    tsr_env e;
    tsr_open(&e, NULL);
    smtpcore_server *s = e.s;
    size_t full = smtpcore_server_memory(s), freed = 99;
    cr_expect_eq(smtpcore_server_release_idle(NULL, &freed), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(freed, 0);
    /* CONNECT handed out and awaiting its answer. */
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_CONNECT);
    cr_expect_eq(smtpcore_server_release_idle(s, &freed), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    /* The greeting not yet written. */
    cr_expect_eq(smtpcore_server_release_idle(s, NULL), SMTPCORE_ERR_INVALID_STATE);
    tsr_drain(&e);
    /* The answered CONNECT is still the current event. */
    cr_expect_eq(smtpcore_server_release_idle(s, NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_NONE);
    /* A partial command line waits in the input. */
    tsr_feed(s, "EHLO cli");
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_release_idle(s, &freed), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(freed, 0);
    cr_expect_eq(smtpcore_server_memory(s), full);
    tsr_feed(s, "ent.example\r\nNOOP\r\n");
    const smtpcore_server_event *ev = tsr_next(s);
    cr_assert_eq(ev->type, SMTPCORE_SEV_HELO);
    cr_expect_eq(smtpcore_server_release_idle(s, NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsr_drain(&e);
    /* NOOP was pipelined behind the EHLO (a note on that first), unprocessed so far. */
    ev = tsr_next(s);
    cr_assert_eq(ev->type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(smtpcore_server_release_idle(s, NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_NOOP);
    cr_expect_eq(smtpcore_server_release_idle(s, NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_release_idle(s, NULL), SMTPCORE_ERR_INVALID_STATE,
                 "the NOOP's reply is not written yet");
    tsr_drain(&e);
    cr_assert_eq(smtpcore_server_release_idle(s, &freed), SMTPCORE_OK);
    cr_expect_gt(freed, 514 + 768, "the buffers and the event queue");
    cr_expect_eq(smtpcore_server_memory(s), full - freed);
    cr_expect_eq(e.count.live, 1);
    /* Twice is harmless. */
    size_t freed_before = freed;
    cr_expect_eq(smtpcore_server_release_idle(s, &freed), SMTPCORE_OK);
    cr_expect_eq(freed, 0);
    /* Calls that need no buffer keep it released. */
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_NONE);
    const char *p = "x";
    cr_expect_eq(smtpcore_server_output(s, &p), 0);
    cr_expect_null(p);
    cr_expect_eq(smtpcore_server_consume(s, 0), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_want_flush(s), 0);
    size_t used = 1;
    cr_expect_eq(smtpcore_server_receive(s, "", 0, &used), SMTPCORE_OK);
    cr_expect_eq(used, 0);
    cr_expect_eq(smtpcore_server_reply(s, 250, NULL, NULL), SMTPCORE_ERR_NO_ANSWER_PENDING);
    cr_expect_eq(e.count.calls, 2);
    cr_expect_eq(smtpcore_server_memory(s), full - freed_before);
    /* Bytes bring the buffers back. */
    tsr_feed(s, "QUIT\r\n");
    cr_expect_eq(smtpcore_server_memory(s), full);
    cr_assert_eq(tsr_next(s)->type, SMTPCORE_SEV_QUIT);
    tsr_close(&e);
}

/* Released before the greeting: CONNECT needs no buffer, its answer takes them back. */
Test(server_release, before_the_greeting)
{
    tsr_env e;
    tsr_open(&e, NULL);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    const smtpcore_server_event *ev = tsr_next(e.s);
    cr_assert_eq(ev->type, SMTPCORE_SEV_CONNECT);
    cr_expect_eq(e.count.calls, 2);
    e.count.fail = 1;
    cr_expect_eq(smtpcore_server_accept(e.s), SMTPCORE_ERR_NOMEM);
    cr_expect_eq(smtpcore_server_reply(e.s, 220, NULL, "hi"), SMTPCORE_ERR_NOMEM);
    e.count.fail = 0;
    cr_assert_eq(smtpcore_server_accept(e.s), SMTPCORE_OK, "still awaiting after NOMEM");
    tsr_drain(&e);
    cr_expect(strncmp(e.out, "220 localhost ESMTP smtpcore\r\n", e.out_len) == 0);
    tsr_close(&e);
}

/* The allocator fails when the buffers are needed again: receive takes nothing, the end
 * of input cannot be served yet, close_with() does nothing; when it works again, the
 * session carries on as if nothing happened. */
Test(server_release, allocation_failure_on_reacquire)
{
    tsr_env e;
    tsr_open(&e, NULL);
    tsr_pump(&e, 1);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    e.count.fail = 1;
    size_t used = 7;
    cr_expect_eq(smtpcore_server_receive(e.s, "NOOP\r\n", 6, &used), SMTPCORE_ERR_NOMEM);
    cr_expect_eq(used, 0);
    cr_expect(smtpcore_error_is_fatal(SMTPCORE_ERR_NOMEM));
    e.count.fail = 0;
    tsr_feed(e.s, "NOOP\r\n");
    cr_assert_eq(tsr_next(e.s)->type, SMTPCORE_SEV_NOOP);
    cr_assert_eq(tsr_next(e.s)->type, SMTPCORE_SEV_NONE);
    tsr_drain(&e);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    /* End of input inside a transaction: it needs the buffers for the step loop. */
    e.count.fail = 1;
    cr_expect_eq(smtpcore_server_receive_eof(e.s), SMTPCORE_OK);
    const smtpcore_server_event *ev = NULL;
    cr_expect_eq(smtpcore_server_next_event(e.s, &ev), SMTPCORE_ERR_NOMEM);
    cr_assert_not_null(ev);
    cr_expect_eq(ev->type, SMTPCORE_SEV_NONE);
    e.count.fail = 0;
    cr_assert_eq(tsr_next(e.s)->type, SMTPCORE_SEV_CLOSE);
    tsr_close(&e);

    /* close_with() on a released session whose allocator fails: nothing happens. */
    tsr_open(&e, NULL);
    tsr_pump(&e, 1);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    e.out_len = 0;
    e.count.fail = 1;
    cr_expect_eq(smtpcore_server_shutdown(e.s, SMTPCORE_SHUTDOWN_TIMEOUT), SMTPCORE_ERR_NOMEM);
    cr_expect_eq(smtpcore_server_close_with(e.s, 421, NULL, NULL), SMTPCORE_ERR_NOMEM);
    cr_expect(!smtpcore_server_want_close(e.s));
    cr_expect_eq(tsr_next(e.s)->type, SMTPCORE_SEV_NONE);
    e.count.fail = 0;
    tsr_close(&e);

    /* ... and with memory: the 421 is written. */
    tsr_open(&e, NULL);
    tsr_pump(&e, 1);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    e.out_len = 0;
    cr_expect_eq(smtpcore_server_shutdown(e.s, SMTPCORE_SHUTDOWN_TIMEOUT), SMTPCORE_OK);
    ev = tsr_next(e.s);
    cr_expect_eq(ev->type, SMTPCORE_SEV_CLOSE);
    cr_expect_eq(ev->reply_code, 421);
    tsr_drain(&e);
    cr_expect(e.out_len > 4 && memcmp(e.out, "421 4.4.2 ", 10) == 0);
    tsr_close(&e);
}

/* Released inside a message: the unstuffer's state is the session's, so the content
 * that follows is read as content and ends at the final dot. */
Test(server_release, inside_a_message)
{
    tsr_env e;
    tsr_open(&e, NULL);
    tsr_pump(&e, 1);
    const char *t = "HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\nline one\r\n.";
    tsr_feed(e.s, t);
    tsr_pump(&e, 1);
    /* The lone "." may be the start of the end: it stays unprocessed. */
    cr_expect_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_ERR_INVALID_STATE);
    tsr_feed(e.s, ".two\r\n");
    tsr_pump(&e, 1);
    cr_expect(smtpcore_server_in_message(e.s));
    cr_expect_lt(smtpcore_server_memory(e.s), 1024, "released mid-message");
    tsr_feed(e.s, ".\r\nQUIT\r\n");
    tsr_pump(&e, 1);
    cr_expect(strstr(e.log, "{.two\r\n}") != NULL, "%s", e.log);
    cr_expect(strstr(e.out, "250 2.0.0 ") != NULL, "%s", e.out);
    cr_expect(strstr(e.out, "221 ") != NULL);
    cr_expect(smtpcore_server_want_close(e.s));
    tsr_close(&e);
}

/* STARTTLS: released while the host runs the handshake; plaintext that comes in the
 * meantime is counted without taking the buffers back; tls_started() needs them only to
 * queue its note on that plaintext (and fails with NOMEM, doing nothing, without them). */
Test(server_release, across_starttls)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_STARTTLS;
    c.injection_policy = SMTPCORE_INJECTION_DISCARD;
    tsr_env e;
    tsr_open(&e, &c);
    tsr_pump(&e, 1);
    tsr_feed(e.s, "EHLO c\r\nSTARTTLS\r\n");
    const smtpcore_server_event *ev;
    while ((ev = tsr_next(e.s))->type != SMTPCORE_SEV_STARTTLS)
        if (ev->answer_required)
            cr_assert_eq(smtpcore_server_accept(e.s), SMTPCORE_OK);
    cr_assert_eq(tsr_next(e.s)->type, SMTPCORE_SEV_NONE);
    tsr_drain(&e);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    size_t calls = e.count.calls;
    tsr_feed(e.s, "NOOP\r\n"); /* plaintext after STARTTLS: discarded */
    cr_expect_eq(e.count.calls, calls);
    e.count.fail = 1;
    cr_expect_eq(smtpcore_server_tls_started(e.s), SMTPCORE_ERR_NOMEM);
    e.count.fail = 0;
    cr_assert_eq(smtpcore_server_tls_started(e.s), SMTPCORE_OK);
    ev = tsr_next(e.s);
    cr_expect_eq(ev->type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev->violation, SMTPCORE_V_STARTTLS_INJECTION);
    cr_expect_eq(ev->discarded, 6);
    cr_expect_eq(e.count.calls, calls + 2, "one failed, one took the block back");
    cr_assert_eq(tsr_next(e.s)->type, SMTPCORE_SEV_NONE);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    /* TLS started once only. */
    cr_assert_eq(smtpcore_server_tls_started(e.s), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_eq(tsr_next(e.s)->type, SMTPCORE_SEV_NONE);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    tsr_feed(e.s, "EHLO c\r\n");
    cr_expect_eq(tsr_next(e.s)->type, SMTPCORE_SEV_HELO);
    tsr_close(&e);
}

/* LMTP: replies stored for recipients not yet writable keep the session busy; once they
 * are out it can be released, and its per-recipient table (in the session's block) is
 * intact for the next message. */
Test(server_release, lmtp)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.lmtp = 1;
    for (int round = 0; round < 2; round++) {
        tsr_env e;
        tsr_open(&e, &c);
        const char *t = "LHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nRCPT TO:<g@h.i>\r\n"
                        "DATA\r\nx\r\n.\r\n";
        tsr_run(&e, t, strlen(t), round ? 5 : 4096, 1);
        cr_expect_eq(smtpcore_server_rcpt_unanswered(e.s), 0);
        const char *two = strstr(e.out, "250 2.1.5 ");
        cr_assert_not_null(two, "%s", e.out);
        tsr_close(&e);
    }
}

/* A session with bigger buffers frees what it was configured with. */
Test(server_release, frees_the_configured_buffers)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.input_buffer_size = 16384;
    c.output_buffer_size = 4096;
    tsr_env e;
    tsr_open(&e, &c);
    size_t full = smtpcore_server_memory(e.s), freed = 0;
    cr_assert_eq(smtpcore_server_release_idle(e.s, &freed), SMTPCORE_OK);
    cr_expect_gt(freed, 16384 + 4096);
    cr_expect_lt(freed, 16384 + 4096 + 1024);
    cr_expect_eq(smtpcore_server_memory(e.s), full - freed);
    cr_expect_lt(smtpcore_server_memory(e.s), 1024);
    tsr_close(&e);
}
