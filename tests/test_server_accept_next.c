/* SPDX-License-Identifier: MIT */
/* smtpcore_server_accept_next(): the same conversation as next_event() plus accept() for
 * every event that awaits an answer, an answer of the host's own left alone, and the
 * error paths (bad arguments, nothing pending, allocation failure of a released
 * session, after shutdown). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

typedef struct tan_env {
    test_alloc count;
    smtpcore_allocator alloc;
    smtpcore_server *s;
    char out[16384];
    size_t out_len;
    char log[16384]; /* one line per event handed out */
    size_t log_len;
} tan_env;

static void tan_open_auth(tan_env *e, int lmtp, int auth)
{
    memset(e, 0, sizeof(*e));
    e->alloc = test_alloc_allocator(&e->count);
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.allocator = &e->alloc;
    c.lmtp = lmtp;
    if (auth) {
        c.extensions |= SMTPCORE_EXT_AUTH;
        c.auth_mechs = SMTPCORE_AUTH_PLAIN;
        c.allow_plaintext_auth = 1;
    }
    cr_assert_eq(smtpcore_server_new(&e->s, &c), SMTPCORE_OK);
}

static void tan_open(tan_env *e, int lmtp)
{
    tan_open_auth(e, lmtp, 0);
}

static void tan_close(tan_env *e)
{
    smtpcore_server_del(e->s);
    cr_expect_eq(e->count.live, 0, "leak");
}

static void tan_drain(tan_env *e)
{
    const char *p;
    size_t n;
    while ((n = smtpcore_server_output(e->s, &p)) > 0) {
        cr_assert_lt(e->out_len + n, sizeof(e->out));
        memcpy(e->out + e->out_len, p, n);
        e->out_len += n;
        cr_assert_eq(smtpcore_server_consume(e->s, n), SMTPCORE_OK);
    }
    e->out[e->out_len] = '\0';
}

static void tan_log(tan_env *e, const smtpcore_server_event *ev)
{
    int w = snprintf(e->log + e->log_len, sizeof(e->log) - e->log_len, "%d/%d/%d [%.*s] {%.*s}\n",
                     (int)ev->type, ev->reply_code, (int)ev->violation, (int)ev->line.len,
                     ev->line.ptr ? ev->line.ptr : "",
                     ev->type == SMTPCORE_SEV_BODY ? (int)ev->data.len : 0,
                     ev->type == SMTPCORE_SEV_BODY && ev->data.ptr ? ev->data.ptr : "");
    cr_assert(w > 0 && (size_t)w < sizeof(e->log) - e->log_len);
    e->log_len += (size_t)w;
}

/* The loop both ways: with `one_call`, accept_next() alone; otherwise next_event() and
 * accept() for each event that awaits an answer. Writes the output at each NONE. */
static void tan_pump(tan_env *e, int one_call)
{
    for (int i = 0; i < 10000; i++) {
        const smtpcore_server_event *ev = NULL;
        cr_assert_eq(one_call ? smtpcore_server_accept_next(e->s, &ev)
                              : smtpcore_server_next_event(e->s, &ev),
                     SMTPCORE_OK);
        cr_assert_not_null(ev);
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            if (smtpcore_server_output(e->s, &p) == 0)
                return;
            tan_drain(e);
            continue;
        }
        tan_log(e, ev);
        if (!one_call && ev->answer_required)
            cr_assert_eq(smtpcore_server_accept(e->s), SMTPCORE_OK);
    }
    cr_assert_fail("pump did not settle");
}

static void tan_run(tan_env *e, const char *data, size_t step, int one_call)
{
    size_t len = strlen(data);
    tan_pump(e, one_call);
    for (size_t at = 0; at < len;) {
        size_t n = len - at < step ? len - at : step;
        size_t used = 0;
        cr_assert_eq(smtpcore_server_receive(e->s, data + at, n, &used), SMTPCORE_OK);
        at += used;
        tan_pump(e, one_call);
    }
}

static const char CONVERSATION[] =
    "EHLO client.example.org\r\n"
    "MAIL FROM:<a@example.org> SIZE=100\r\n"
    "RCPT TO:<b@example.org>\r\n"
    "RCPT TO:<c@example.org>\r\n"
    "DATA\r\n"
    "Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\n"
    "NOOP\r\nVRFY b\r\nEXPN list\r\nHELP\r\nRSET\r\n"
    "MAIL FROM:<>\r\nRCPT TO:<d@example.org>\r\nBDAT 5 LAST\r\nabcde"
    "BOGUS\r\nQUIT\r\n";

/* The same events and the same bytes out as the two-call loop, whole or byte by byte. */
Test(server_accept_next, same_conversation_as_two_calls)
{
    static const size_t steps[] = {1, 7, 4096};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        tan_env *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
        cr_assert(a && b);
        tan_open(a, 0);
        tan_open(b, 0);
        tan_run(a, CONVERSATION, steps[i], 0);
        tan_run(b, CONVERSATION, steps[i], 1);
        cr_expect_str_eq(b->log, a->log, "step %zu", steps[i]);
        cr_expect_str_eq(b->out, a->out, "step %zu", steps[i]);
        cr_expect(strstr(a->out, "221 ") != NULL, "%s", a->out);
        cr_expect(smtpcore_server_want_close(b->s));
        tan_close(a);
        tan_close(b);
        free(a);
        free(b);
    }
}

Test(server_accept_next, bad_arguments_answer_nothing)
{
    tan_env e;
    tan_open(&e, 0);
    const smtpcore_server_event *ev = NULL;
    cr_expect_eq(smtpcore_server_accept_next(NULL, &ev), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(ev);
    cr_expect_eq(ev->type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_accept_next(NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_CONNECT);
    cr_expect_eq(smtpcore_server_accept_next(e.s, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    tan_drain(&e);
    cr_expect_eq(e.out_len, 0, "a bad call answered the CONNECT: %s", e.out);
    /* Still pending: a custom greeting is allowed. */
    cr_expect_eq(smtpcore_server_reply(e.s, 220, NULL, "hi"), SMTPCORE_OK);
    tan_close(&e);
}

/* Nothing pending: it is next_event(); at NONE it stays NONE and writes nothing. */
Test(server_accept_next, nothing_pending)
{
    tan_env e;
    tan_open(&e, 0);
    const smtpcore_server_event *ev = NULL;
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NONE);
    tan_drain(&e);
    cr_expect_str_eq(e.out, "220 localhost ESMTP smtpcore\r\n");
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_accept(e.s), SMTPCORE_ERR_NO_ANSWER_PENDING);
    /* An informative event (NOOP's 250 is the engine's own) is followed, not answered. */
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(e.s, "NOOP\r\n", 6, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NOOP);
    cr_expect_eq(ev->answer_required, 0);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NONE);
    tan_drain(&e);
    cr_expect_str_eq(e.out, "220 localhost ESMTP smtpcore\r\n250 2.0.0 Ok\r\n");
    tan_close(&e);
}

/* An event the host answered itself (a refused RCPT, an AUTH decided by the host) is
 * not answered again; the default goes only to the events left unanswered. */
Test(server_accept_next, custom_answer_is_kept)
{
    tan_env e;
    tan_open(&e, 0);
    const smtpcore_server_event *ev = NULL;
    const char *in = "EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<nobody@x.org>\r\n"
                     "RCPT TO:<b@x.org>\r\nDATA\r\n";
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(e.s, in, strlen(in), &used), SMTPCORE_OK);
    cr_assert_eq(used, strlen(in));
    int rcpts = 0;
    for (;;) {
        cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE)
            break;
        if (ev->type == SMTPCORE_SEV_RCPT && rcpts++ == 0)
            cr_assert_eq(smtpcore_server_reject(e.s, 550, "5.1.1", "No such user"), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_DATA)
            cr_assert_eq(smtpcore_server_reject(e.s, 554, NULL, "No thanks"), SMTPCORE_OK);
    }
    tan_drain(&e);
    const char *rcpt = strstr(e.out, "550 5.1.1 No such user\r\n250 2.1.5 Ok\r\n554 5.0.0 No thanks\r\n");
    cr_expect_not_null(rcpt, "%s", e.out);
    cr_expect_null(strstr(e.out, "354"), "%s", e.out);
    cr_expect_eq(rcpts, 2);
    tan_close(&e);
}

/* Released before the greeting: the default answer to CONNECT needs the buffers back. If
 * the allocator fails, nothing else happens and the CONNECT still awaits its answer. */
Test(server_accept_next, allocation_failure_after_release_idle)
{
    tan_env e;
    tan_open(&e, 0);
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    const smtpcore_server_event *ev = NULL;
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_CONNECT);
    e.count.fail = 1;
    ev = NULL;
    cr_expect_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_ERR_NOMEM);
    cr_assert_not_null(ev);
    cr_expect_eq(ev->type, SMTPCORE_SEV_CONNECT, "the event still awaiting its answer");
    cr_expect(ev->answer_required);
    e.count.fail = 0;
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NONE);
    tan_drain(&e);
    cr_expect_str_eq(e.out, "220 localhost ESMTP smtpcore\r\n");
    /* Idle again: released, then a command takes the buffers back as usual. */
    cr_assert_eq(smtpcore_server_release_idle(e.s, NULL), SMTPCORE_OK);
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(e.s, "HELO c\r\n", 8, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_HELO);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NONE);
    tan_drain(&e);
    cr_expect(strstr(e.out, "\r\n250 localhost\r\n") != NULL, "%s", e.out);
    tan_close(&e);
}

/* shutdown() answers the pending event with its 421: accept_next() adds nothing and
 * hands out the CLOSE. */
Test(server_accept_next, after_shutdown)
{
    tan_env e;
    tan_open(&e, 0);
    tan_pump(&e, 1);
    tan_run(&e, "EHLO c\r\n", 64, 1);
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(e.s, "MAIL FROM:<a@x.org>\r\n", 21, &used), SMTPCORE_OK);
    const smtpcore_server_event *ev = NULL;
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_MAIL);
    cr_assert_eq(smtpcore_server_shutdown(e.s, SMTPCORE_SHUTDOWN_SERVICE), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_expect_eq(ev->type, SMTPCORE_SEV_CLOSE);
    cr_expect_eq(ev->reply_code, 421);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_expect_eq(ev->type, SMTPCORE_SEV_NONE);
    tan_drain(&e);
    cr_expect_null(strstr(e.out, "250 2.1.0"), "MAIL accepted after shutdown: %s", e.out);
    cr_expect_not_null(strstr(e.out, "421 4.3.2 "), "%s", e.out);
    cr_expect(smtpcore_server_want_close(e.s));
    tan_close(&e);
}

/* LMTP: the default to MESSAGE_END answers every recipient not yet answered, after one
 * the host answered itself. */
Test(server_accept_next, lmtp_message_end)
{
    tan_env e;
    tan_open(&e, 1);
    tan_pump(&e, 1);
    const char *in = "LHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\n"
                     "RCPT TO:<d@x.org>\r\nDATA\r\nhi\r\n.\r\n";
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(e.s, in, strlen(in), &used), SMTPCORE_OK);
    const smtpcore_server_event *ev = NULL;
    int ended = 0;
    for (;;) {
        cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
        if (ev->type == SMTPCORE_SEV_NONE)
            break;
        if (ev->type == SMTPCORE_SEV_MESSAGE_END) {
            ended = 1;
            cr_assert_eq(ev->rcpt_count, 3);
            cr_assert_eq(smtpcore_server_reply_rcpt(e.s, 1, 452, NULL, "Full"), SMTPCORE_OK);
        }
    }
    cr_expect(ended);
    cr_expect_eq(smtpcore_server_rcpt_unanswered(e.s), 0);
    tan_drain(&e);
    const char *end = strstr(e.out, "250 2.0.0 Ok: queued\r\n452 4.3.1 Full\r\n250 2.0.0 Ok: queued\r\n");
    cr_expect_not_null(end, "%s", e.out);
    tan_close(&e);
}

/* AUTH's default answer is a successful login: accept_next() never gives it unseen. The
 * call refuses with INVALID_STATE, answers nothing, and the host's own answer (here a
 * refusal) goes out as usual. */
Test(server_accept_next, auth_is_never_accepted_by_default)
{
    tan_env e;
    tan_open_auth(&e, 0, 1);
    const smtpcore_server_event *ev = NULL;
    /* AUTH PLAIN with "\0u\0p". */
    const char *in = "EHLO c\r\nAUTH PLAIN AHUAcA==\r\n";
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(e.s, in, strlen(in), &used), SMTPCORE_OK);
    cr_assert_eq(used, strlen(in));
    do
        cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    while (ev->type != SMTPCORE_SEV_AUTH && ev->type != SMTPCORE_SEV_NONE);
    cr_assert_eq(ev->type, SMTPCORE_SEV_AUTH);
    ev = NULL;
    cr_expect_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_ERR_INVALID_STATE);
    cr_assert_not_null(ev);
    cr_expect_eq(ev->type, SMTPCORE_SEV_AUTH, "still awaiting its answer");
    cr_expect(ev->answer_required);
    tan_drain(&e);
    cr_expect_null(strstr(e.out, "235"), "%s", e.out);
    cr_assert_eq(smtpcore_server_reject(e.s, 535, NULL, NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_accept_next(e.s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_NONE);
    tan_drain(&e);
    cr_expect_not_null(strstr(e.out, "535 5.7.8"), "%s", e.out);
    cr_expect_null(strstr(e.out, "235"), "%s", e.out);
    tan_close(&e);
}
