/* SPDX-License-Identifier: MIT */
/* Server: the host ends a session (smtpcore_server_close_with/shutdown), the message
 * query for deadlines, the transaction query, and the AUTH failure limit, through the
 * public API. The protocol cases per phase are transcripts
 * (tests/transcripts/server/close_*.txt, auth_limit_*). */
#include <criterion/criterion.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

typedef struct tsc_out {
    char buf[16384];
    size_t len;
} tsc_out;

static void tsc_take(smtpcore_server *s, tsc_out *o)
{
    o->len += smtpcore_server_copy_output(s, o->buf + o->len, sizeof(o->buf) - 1 - o->len);
    o->buf[o->len] = '\0';
}

static size_t tsc_feed(smtpcore_server *s, const char *text)
{
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(s, text, strlen(text), &used), SMTPCORE_OK);
    return used;
}

/* Handles events until NONE, accepting everything; returns the last event's type and
 * keeps the types seen in `seen` (a bit per type). */
/* next_event() into a copy the test keeps across later calls (the session's own event
 * changes at the next one). */
static int tsc_next(smtpcore_server *s, smtpcore_server_event *copy)
{
    const smtpcore_server_event *ev = NULL;
    int rc = smtpcore_server_next_event(s, &ev);
    cr_assert_not_null(ev);
    *copy = *ev;
    return rc;
}

static unsigned tsc_drain(smtpcore_server *s, smtpcore_server_event *last)
{
    unsigned seen = 0;
    for (int i = 0; i < 1000; i++) {
        smtpcore_server_event ev;
        cr_assert_eq(tsc_next(s, &ev), SMTPCORE_OK);
        if (ev.type == SMTPCORE_SEV_NONE)
            return seen;
        seen |= 1u << ev.type;
        if (last)
            *last = ev;
        if (ev.answer_required)
            cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    }
    cr_assert_fail("events never end");
    return seen;
}

static smtpcore_server *tsc_ready(smtpcore_server_config *c, tsc_out *o)
{
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, c), SMTPCORE_OK);
    tsc_drain(s, NULL);
    tsc_take(s, o);
    tsc_feed(s, "EHLO c.example\r\n");
    tsc_drain(s, NULL);
    tsc_take(s, o);
    o->len = 0;
    return s;
}

Test(server_close, arguments_and_second_call)
{
    tsc_out o = {.len = 0};
    smtpcore_server *s = tsc_ready(NULL, &o);
    cr_expect_eq(smtpcore_server_close_with(NULL, 421, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_close_with(s, 250, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_close_with(s, 461, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_close_with(s, 421, "5.0.0", NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_close_with(s, 421, NULL, "bye\r\n250 forged"),
                 SMTPCORE_ERR_INJECTION);
    char longtext[600];
    memset(longtext, 'x', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    cr_expect_eq(smtpcore_server_close_with(s, 421, NULL, longtext), SMTPCORE_ERR_TOO_LONG);
    cr_expect_eq(smtpcore_server_shutdown(s, (smtpcore_shutdown_reason)7),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    /* Refused calls changed nothing. */
    cr_expect_eq(smtpcore_server_want_close(s), 0);
    tsc_take(s, &o);
    cr_expect_eq(o.len, 0);

    cr_expect_eq(smtpcore_server_close_with(s, 421, NULL, NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_want_close(s), 1);
    tsc_take(s, &o);
    cr_expect_str_eq(o.buf, "421 4.3.0 localhost Service not available, closing transmission "
                            "channel\r\n");
    smtpcore_server_event ev;
    unsigned seen = tsc_drain(s, &ev);
    cr_expect_eq(seen, 1u << SMTPCORE_SEV_CLOSE);
    cr_expect_eq(ev.violation, SMTPCORE_V_HOST_CLOSE);
    cr_expect_eq(ev.reply_code, 421);
    cr_expect_eq(smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_TIMEOUT), SMTPCORE_ERR_CLOSED);
    size_t used = 0;
    cr_expect_eq(smtpcore_server_receive(s, "NOOP\r\n", 6, &used), SMTPCORE_ERR_CLOSED);
    smtpcore_server_del(s);
}

/* A peer that sends commands and never reads stalls the session once the output holds
 * all but a step's room; the host's timeout then still has room for its reply, which
 * goes after the replies already pending. */
Test(server_close, after_pending_output)
{
    tsc_out o = {.len = 0};
    smtpcore_server *s = tsc_ready(NULL, &o);
    for (int i = 0; i < 200; i++) {
        size_t used = 0;
        (void)smtpcore_server_receive(s, "NOOP\r\n", 6, &used);
        tsc_drain(s, NULL);
    }
    const char *p;
    size_t pending = smtpcore_server_output(s, &p);
    cr_assert_gt(pending, 14 * 10);
    cr_expect_eq(smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_TIMEOUT), SMTPCORE_OK);
    smtpcore_server_event ev;
    tsc_drain(s, &ev);
    cr_expect_eq(ev.type, SMTPCORE_SEV_CLOSE);
    cr_expect_eq(ev.reply_code, 421);
    tsc_take(s, &o);
    static const char t[] = "250 2.0.0 Ok\r\n421 4.4.2 localhost Error: timeout exceeded\r\n";
    cr_expect_eq(o.len, pending + sizeof t - 1 - 14);
    cr_expect_str_eq(o.buf + o.len - (sizeof t - 1), t);
    smtpcore_server_del(s);
}

Test(server_close, in_message_follows_the_phase)
{
    tsc_out o = {.len = 0};
    smtpcore_server *s = tsc_ready(NULL, &o);
    cr_expect_eq(smtpcore_server_in_message(NULL), 0);
    cr_expect_eq(smtpcore_server_in_message(s), 0);
    tsc_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_message(s), 1);
    tsc_feed(s, "Subject: x\r\n\r\nbody\r\n");
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_message(s), 1);
    tsc_feed(s, ".\r\n");
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_message(s), 0);
    tsc_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 10\r\nabc");
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_message(s), 1);
    tsc_feed(s, "defghij");
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_message(s), 0); /* between chunks: command lines */
    tsc_feed(s, "BDAT 4 LAST\r\nab");
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_message(s), 1);
    /* The host's deadline fires mid-chunk: the message ends early. */
    cr_expect_eq(smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_TIMEOUT), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_in_message(s), 0);
    smtpcore_server_event ev;
    unsigned seen = tsc_drain(s, &ev);
    cr_expect(seen & (1u << SMTPCORE_SEV_MESSAGE_ABORTED));
    cr_expect_eq(ev.type, SMTPCORE_SEV_CLOSE);
    smtpcore_server_del(s);
}

/* AUTH failures are counted for the host, whoever refused, and end the session at the
 * limit; the default limit is 3; an older, smaller config struct gets it too. */
/* The transaction query (smtpcore_server_in_transaction): open from an accepted MAIL to
 * every way a transaction ends; a refused MAIL opens none; a released session answers. */
Test(server_close, in_transaction_from_mail_to_its_end)
{
    tsc_out o = {.len = 0};
    smtpcore_server *s = tsc_ready(NULL, &o);
    static const struct {
        const char *in;
        int open;
    } steps[] = {
        {"MAIL FROM:<a@example.org>\r\n", 1},
        {"RCPT TO:<b@example.org>\r\nDATA\r\n", 1},
        {"Subject: x\r\n\r\nbody\r\n", 1},
        {".\r\n", 0},
        {"MAIL FROM:<a@example.org>\r\n", 1},
        {"RSET\r\n", 0},
        {"MAIL FROM:<a@example.org>\r\n", 1},
        {"EHLO c.example\r\n", 0},
        {"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nBDAT 3\r\nabc", 1},
        {"BDAT 2 LAST\r\nde", 0},
        {"NOOP\r\n", 0},
    };
    cr_expect_eq(smtpcore_server_in_transaction(NULL), 0);
    cr_expect_eq(smtpcore_server_in_transaction(s), 0);
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        tsc_feed(s, steps[i].in);
        tsc_drain(s, NULL);
        tsc_take(s, &o);
        o.len = 0;
        cr_expect_eq(smtpcore_server_in_transaction(s), steps[i].open, "step %zu", i);
    }
    /* Refused MAIL: no transaction. Accepted, then the session is released (idle,
     * output taken): still open, as the struct keeps it. */
    smtpcore_server_event ev;
    tsc_feed(s, "MAIL FROM:<a@example.org>\r\n");
    cr_assert_eq(tsc_next(s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev.type, SMTPCORE_SEV_MAIL);
    cr_expect_eq(smtpcore_server_in_transaction(s), 0); /* not answered yet */
    cr_assert_eq(smtpcore_server_reject(s, 550, "5.7.1", NULL), SMTPCORE_OK);
    tsc_drain(s, NULL);
    cr_expect_eq(smtpcore_server_in_transaction(s), 0);
    tsc_feed(s, "MAIL FROM:<a@example.org>\r\n");
    tsc_drain(s, NULL);
    tsc_take(s, &o);
    size_t freed = 0;
    cr_assert_eq(smtpcore_server_release_idle(s, &freed), SMTPCORE_OK);
    cr_expect_gt(freed, 0);
    cr_expect_eq(smtpcore_server_in_transaction(s), 1);
    /* The end of the session ends it too. */
    cr_assert_eq(smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_TIMEOUT), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_in_transaction(s), 0);
    smtpcore_server_del(s);
}

Test(server_close, auth_failures_counted_and_limited)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    cr_expect_eq(c.max_auth_failures, 3);
    c.extensions |= SMTPCORE_EXT_AUTH;
    c.allow_plaintext_auth = 1;
    c.struct_size = offsetof(smtpcore_server_config, max_auth_failures);
    c.max_auth_failures = 0; /* beyond the old struct: ignored */
    tsc_out o = {.len = 0};
    smtpcore_server *s = tsc_ready(&c, &o);
    cr_expect_eq(smtpcore_server_auth_failures(s), 0);
    cr_expect_eq(smtpcore_server_auth_failures(NULL), 0);
    /* 1: refused by the host. */
    tsc_feed(s, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    smtpcore_server_event ev;
    cr_assert_eq(tsc_next(s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_assert_eq(smtpcore_server_reject(s, 535, NULL, NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_auth_failures(s), 1);
    /* 2: refused by the engine (bad base64). */
    tsc_feed(s, "AUTH PLAIN\r\n");
    tsc_drain(s, NULL);
    tsc_feed(s, "!!!!\r\n");
    tsc_drain(s, &ev);
    cr_expect_eq(ev.violation, SMTPCORE_V_AUTH_FAILED);
    cr_expect_eq(smtpcore_server_auth_failures(s), 2);
    cr_expect_eq(smtpcore_server_want_close(s), 0);
    /* 3: cancelled: the limit. */
    tsc_feed(s, "AUTH LOGIN\r\n");
    tsc_drain(s, NULL);
    tsc_feed(s, "*\r\n");
    unsigned seen = tsc_drain(s, &ev);
    cr_expect(seen & (1u << SMTPCORE_SEV_PROTOCOL_ERROR));
    cr_expect_eq(ev.type, SMTPCORE_SEV_CLOSE);
    cr_expect_eq(ev.violation, SMTPCORE_V_TOO_MANY_AUTH_FAILURES);
    cr_expect_eq(smtpcore_server_auth_failures(s), 3);
    cr_expect_eq(smtpcore_server_want_close(s), 1);
    tsc_take(s, &o);
    cr_expect(strstr(o.buf, "535 5.7.8 Authentication credentials invalid\r\n") != NULL);
    cr_expect(strstr(o.buf, "501 5.0.0 Authentication cancelled\r\n"
                            "421 4.7.0 localhost Error: too many failed authentications\r\n") !=
              NULL);
    smtpcore_server_del(s);
}

/* A long host refusal of the failure that hits the limit still leaves room for the 421. */
Test(server_close, long_refusal_then_limit)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_AUTH;
    c.allow_plaintext_auth = 1;
    c.max_auth_failures = 1;
    c.output_buffer_size = 512;
    tsc_out o = {.len = 0};
    smtpcore_server *s = tsc_ready(&c, &o);
    tsc_feed(s, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
    smtpcore_server_event ev;
    cr_assert_eq(tsc_next(s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    char text[495];
    memset(text, 'n', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    cr_expect_eq(smtpcore_server_reject(s, 535, NULL, text), SMTPCORE_ERR_TOO_LONG);
    cr_expect_eq(smtpcore_server_reject(s, 535, NULL, "no"), SMTPCORE_OK);
    tsc_drain(s, &ev);
    cr_expect_eq(ev.type, SMTPCORE_SEV_CLOSE);
    tsc_take(s, &o);
    cr_expect_str_eq(o.buf, "535 5.7.8 no\r\n"
                            "421 4.7.0 localhost Error: too many failed authentications\r\n");
    smtpcore_server_del(s);
}
