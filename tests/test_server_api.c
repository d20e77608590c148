/* SPDX-License-Identifier: MIT */
/* Server session API: configuration checks, answer validation, event fields, hints. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

typedef struct tsa_out {
    char buf[16384];
    size_t len;
} tsa_out;

static smtpcore_server *tsa_new(smtpcore_server_config *cfg)
{
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, cfg), SMTPCORE_OK);
    return s;
}

static void tsa_feed(smtpcore_server *s, const char *text)
{
    size_t used = 0;
    size_t len = strlen(text);
    cr_assert_eq(smtpcore_server_receive(s, text, len, &used), SMTPCORE_OK);
    cr_assert_eq(used, len);
}

static void tsa_take(smtpcore_server *s, tsa_out *o)
{
    o->len += smtpcore_server_copy_output(s, o->buf + o->len, sizeof(o->buf) - 1 - o->len);
    o->buf[o->len] = '\0';
}

/* Returns the next event that is not BODY, answering nothing. */
static smtpcore_server_event tsa_next(smtpcore_server *s)
{
    const smtpcore_server_event *ev;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    return *ev; /* a snapshot: the session's event changes at the next call */
}

/* Greets and answers EHLO; leaves the output empty. */
static smtpcore_server *tsa_ready(smtpcore_server_config *cfg)
{
    smtpcore_server *s = tsa_new(cfg);
    tsa_out o = {.len = 0};
    smtpcore_server_event ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsa_take(s, &o);
    tsa_feed(s, "EHLO client.example.org\r\n");
    ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_HELO);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsa_take(s, &o);
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_NONE);
    return s;
}

Test(server_api, config_defaults_and_validation)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    cr_expect_eq(c.struct_size, sizeof(c));
    cr_expect_eq(c.max_command_line, 512);
    cr_expect_eq(c.bare_lf_policy, SMTPCORE_BARE_LF_REJECT);
    cr_expect(c.extensions & SMTPCORE_EXT_PIPELINING);

    smtpcore_server *s = NULL;
    cr_expect_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    smtpcore_server_del(s);
    cr_expect_eq(smtpcore_server_new(NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);

    smtpcore_server_config bad = c;
    bad.input_buffer_size = bad.max_command_line + 1;
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.output_buffer_size = 511; /* below one full reply line */
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.hostname = "two words";
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.greeting_text = "evil\r\n250 injected";
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.auth_mechs = SMTPCORE_AUTH_CRAM_MD5;
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.struct_size = 0;
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    bad = c;
    bad.own_names_count = 2;
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_ERR_INVALID_ARGUMENT);
    smtpcore_allocator partial = {.malloc_fn = NULL, .realloc_fn = NULL, .free_fn = NULL};
    partial.free_fn = (void (*)(void *, void *))0;
    bad = c;
    bad.allocator = &partial; /* all NULL: means default */
    cr_expect_eq(smtpcore_server_new(&s, &bad), SMTPCORE_OK);
    smtpcore_server_del(s);
}

Test(server_api, config_strings_are_copied)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    char host[32] = "mx.example.org";
    c.hostname = host;
    c.greeting_text = "hi";
    smtpcore_server *s = tsa_new(&c);
    strcpy(host, "changed.example");
    tsa_next(s);
    smtpcore_server_accept(s);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "220 mx.example.org hi\r\n");
    smtpcore_server_del(s);
}

Test(server_api, connect_first_and_answers_block)
{
    smtpcore_server *s = tsa_new(NULL);
    cr_expect_eq(smtpcore_server_accept(s), SMTPCORE_ERR_NO_ANSWER_PENDING);
    smtpcore_server_event ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_CONNECT);
    cr_expect(ev.answer_required);
    /* Nothing else happens until the greeting is answered. */
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_reply(s, 250, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reject(s, 220, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 220, NULL, "mx ready"), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_accept(s), SMTPCORE_ERR_NO_ANSWER_PENDING);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "220 mx ready\r\n");
    smtpcore_server_del(s);
}

Test(server_api, reply_validation)
{
    smtpcore_server *s = tsa_ready(NULL);
    tsa_feed(s, "MAIL FROM:<a@example.org>\r\n");
    smtpcore_server_event ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_MAIL);
    cr_expect_eq(smtpcore_server_reply(s, 199, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 600, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 354, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 262, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reject(s, 470, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 550, "4.1.1", NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 550, "5.1", NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 550, NULL, "a\r\n250 forged"), SMTPCORE_ERR_INJECTION);
    char big[600];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cr_expect_eq(smtpcore_server_reply(s, 550, NULL, big), SMTPCORE_ERR_TOO_LONG);
    cr_expect_eq(smtpcore_server_reject(s, 550, "5.7.1", "Not you"), SMTPCORE_OK);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "550 5.7.1 Not you\r\n");

    tsa_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_MAIL);
    smtpcore_server_accept(s);
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_RCPT);
    cr_expect_eq(smtpcore_server_reply(s, 251, NULL, NULL), SMTPCORE_OK);
    ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_DATA);
    cr_expect_eq(ev.rcpt_count, 1);
    cr_expect_eq(smtpcore_server_reply(s, 250, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_reply(s, 354, NULL, "Go ahead"), SMTPCORE_OK);
    o.len = 0;
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "250 2.1.0 Ok\r\n251 2.1.5 Ok\r\n354 Go ahead\r\n");
    smtpcore_server_del(s);
}

Test(server_api, event_fields)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    const char *own[] = {"mx.example.org"};
    c.own_names = own;
    c.own_names_count = 1;
    c.output_buffer_size = 4096; /* the replies are never read here */
    smtpcore_server *s = tsa_new(&c);
    tsa_next(s);
    smtpcore_server_accept(s);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    tsa_feed(s, "EHLO MX.example.org\r\n");
    smtpcore_server_event ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_HELO);
    cr_expect_eq(ev.esmtp, 1);
    cr_expect_eq(ev.helo_class, SMTPCORE_HELO_FQDN);
    cr_expect_eq(ev.helo_is_own_name, 1);
    cr_expect_eq(ev.violation, SMTPCORE_V_LOOP_DETECTED);
    cr_expect_eq(ev.address.len, 14);
    cr_expect(memcmp(ev.address.ptr, "MX.example.org", 14) == 0);
    cr_expect_eq(ev.line.len, 19);
    smtpcore_server_accept(s);

    tsa_feed(s, "MAIL FROM:<@relay.example:a@example.org> SIZE=1234 BODY=8BITMIME\r\n");
    ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_MAIL);
    cr_expect_eq(ev.address.len, 13);
    cr_expect(memcmp(ev.address.ptr, "a@example.org", 13) == 0);
    cr_expect_eq(ev.mail.has_size, 1);
    cr_expect_eq(ev.mail.size, 1234);
    cr_expect_eq(ev.mail.body, SMTPCORE_BODY_8BITMIME);
    smtpcore_server_accept(s);

    tsa_feed(s, "RCPT TO:<x@example.net>\r\nRCPT TO:<y@example.net> NOTIFY=NEVER\r\n"
                "RCPT TO:<z@example.net>\r\n");
    ev = tsa_next(s);
    cr_expect_eq(ev.rcpt_count, 0);
    smtpcore_server_reject(s, 550, NULL, NULL);
    ev = tsa_next(s);
    cr_expect_eq(ev.rcpt_count, 0);
    cr_expect_eq(ev.rcpt.notify, SMTPCORE_NOTIFY_NEVER);
    smtpcore_server_accept(s);
    ev = tsa_next(s);
    cr_expect_eq(ev.rcpt_count, 1);
    smtpcore_server_accept(s);

    tsa_feed(s, "DATA\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_DATA);
    smtpcore_server_accept(s);
    tsa_feed(s, "short\r\n..a line longer than the limit, far beyond one thousand? no: "
                "the limit is the default 1000, so this is not long\r\n.\r\n");
    char body[256];
    size_t blen = 0;
    for (;;) {
        ev = tsa_next(s);
        if (ev.type != SMTPCORE_SEV_BODY)
            break;
        cr_assert(blen + ev.data.len < sizeof(body));
        memcpy(body + blen, ev.data.ptr, ev.data.len);
        blen += ev.data.len;
    }
    cr_assert_eq(ev.type, SMTPCORE_SEV_MESSAGE_END);
    cr_expect_eq(ev.message_size, blen);
    cr_expect_eq(ev.long_lines, 0);
    cr_expect_eq(ev.rcpt_count, 2);
    cr_expect(memcmp(body, "short\r\n.a line", 14) == 0);
    smtpcore_server_del(s);
}

Test(server_api, long_lines_flagged)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.max_text_line = 10;
    smtpcore_server *s = tsa_ready(&c);
    tsa_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    tsa_next(s), smtpcore_server_accept(s);
    tsa_next(s), smtpcore_server_accept(s);
    tsa_next(s), smtpcore_server_accept(s);
    tsa_feed(s, "0123456789abcdef\r\n.\r\n");
    smtpcore_server_event ev;
    do
        ev = tsa_next(s);
    while (ev.type == SMTPCORE_SEV_BODY);
    cr_assert_eq(ev.type, SMTPCORE_SEV_MESSAGE_END);
    cr_expect_eq(ev.long_lines, 1);
    cr_expect_eq(ev.message_size, 18);
    smtpcore_server_del(s);
}

Test(server_api, auth_slices_and_hidden_lines)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_AUTH;
    c.tls_active = 1;
    smtpcore_server *s = tsa_ready(&c);
    tsa_feed(s, "AUTH PLAIN YXV0aHoAYWxpY2UAc2VjcmV0\r\n");
    smtpcore_server_event ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect_eq(ev.auth_mech, SMTPCORE_AUTH_PLAIN);
    cr_expect_eq(ev.authzid.len, 5);
    cr_expect(memcmp(ev.authzid.ptr, "authz", 5) == 0);
    cr_expect_eq(ev.username.len, 5);
    cr_expect(memcmp(ev.username.ptr, "alice", 5) == 0);
    cr_expect_eq(ev.password.len, 6);
    cr_expect(memcmp(ev.password.ptr, "secret", 6) == 0);
    /* The credentials never appear in the line. */
    cr_expect_eq(ev.line.len, 10);
    cr_expect(memcmp(ev.line.ptr, "AUTH PLAIN", 10) == 0);
    smtpcore_server_reject(s, 535, NULL, NULL);

    tsa_feed(s, "AUTH LOGIN\r\nYWxpY2U=\r\nc2VjcmV0\r\n");
    ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect_eq(ev.auth_mech, SMTPCORE_AUTH_LOGIN);
    cr_expect_eq(ev.line.len, 0);
    cr_expect_eq(ev.username.len, 5);
    cr_expect_eq(ev.password.len, 6);
    cr_expect(memcmp(ev.password.ptr, "secret", 6) == 0);
    cr_expect_eq(smtpcore_server_reply(s, 250, NULL, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "535 5.7.8 Authentication credentials invalid\r\n334 VXNlcm5hbWU6\r\n"
                            "334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n");
    smtpcore_server_del(s);
}

Test(server_api, starttls_discard_counts)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_STARTTLS;
    c.injection_policy = SMTPCORE_INJECTION_DISCARD;
    smtpcore_server *s = tsa_ready(&c);
    cr_expect_eq(smtpcore_server_tls_started(s), SMTPCORE_ERR_INVALID_STATE);
    tsa_feed(s, "STARTTLS\r\nMAIL FROM:<x@example.org>\r\n");
    smtpcore_server_event ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_STARTTLS);
    cr_expect_eq(ev.discarded, 27);
    cr_expect_eq(ev.violation, SMTPCORE_V_STARTTLS_INJECTION);
    cr_expect(smtpcore_server_want_flush(s));
    /* Bytes before tls_started() are plaintext too. */
    tsa_feed(s, "RSET\r\n");
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_NONE);
    cr_expect_eq(smtpcore_server_tls_started(s), SMTPCORE_OK);
    ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.violation, SMTPCORE_V_STARTTLS_INJECTION);
    cr_expect_eq(ev.discarded, 6);
    cr_expect_eq(smtpcore_server_want_close(s), 0);
    tsa_feed(s, "MAIL FROM:<x@example.org>\r\n");
    ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.reply_code, 503);
    smtpcore_server_del(s);
}

Test(server_api, flush_hint_follows_pipelining)
{
    smtpcore_server *s = tsa_ready(NULL);
    cr_expect_eq(smtpcore_server_want_flush(s), 0);
    tsa_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_MAIL);
    smtpcore_server_accept(s);
    /* A complete command is still waiting: keep batching. */
    cr_expect_eq(smtpcore_server_want_flush(s), 0);
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_RCPT);
    smtpcore_server_accept(s);
    /* Input ran dry: flush. */
    cr_expect_eq(smtpcore_server_want_flush(s), 1);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    cr_expect_eq(smtpcore_server_want_flush(s), 0);
    tsa_feed(s, "NOOP\r\nRSET\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_NOOP);
    /* NOOP ends a group even though RSET follows. */
    cr_expect_eq(smtpcore_server_want_flush(s), 1);
    smtpcore_server_del(s);
}

Test(server_api, backpressure_when_output_is_not_read)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.output_buffer_size = 2048;
    smtpcore_server *s = tsa_ready(&c);
    size_t events = 0;
    for (int i = 0; i < 200; i++) {
        size_t used = 0;
        smtpcore_server_receive(s, "RSET\r\n", 6, &used);
        const smtpcore_server_event *ev;
        while (smtpcore_server_next_event(s, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_SEV_NONE)
            events++;
    }
    const char *p;
    size_t pending = smtpcore_server_output(s, &p);
    cr_expect_leq(pending, 2048);
    cr_expect_lt(events, 200);
    cr_expect(smtpcore_server_want_flush(s));
    /* Reading the output lets the session continue where it stopped. */
    smtpcore_server_consume(s, pending);
    const smtpcore_server_event *ev;
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_RSET);
    (void)ev;
    smtpcore_server_del(s);
}

Test(server_api, receive_takes_what_fits)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.input_buffer_size = 600;
    smtpcore_server *s = tsa_ready(&c);
    char big[1000];
    memset(big, 'a', sizeof(big));
    size_t used = 0;
    cr_expect_eq(smtpcore_server_receive(s, big, sizeof(big), &used), SMTPCORE_OK);
    cr_expect_eq(used, 600);
    cr_expect_eq(smtpcore_server_receive(s, NULL, 1, &used), SMTPCORE_ERR_INVALID_ARGUMENT);
    smtpcore_server_del(s);
}

Test(server_api, helo_name_survives_compaction)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions = 0;
    smtpcore_server *s = tsa_new(&c);
    tsa_next(s);
    smtpcore_server_accept(s);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    tsa_feed(s, "EHLO first.example\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_HELO);
    /* The host reads more input before answering; the buffer may move. */
    char fill[3000];
    memset(fill, 'N', sizeof(fill));
    size_t used;
    smtpcore_server_receive(s, fill, sizeof(fill), &used);
    smtpcore_server_accept(s);
    o.len = 0;
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "250 localhost Hello first.example\r\n");
    smtpcore_server_del(s);
}

Test(server_api, quit_closes)
{
    smtpcore_server *s = tsa_ready(NULL);
    tsa_feed(s, "QUIT\r\n");
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_QUIT);
    smtpcore_server_event ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_CLOSE);
    cr_expect_eq(ev.violation, SMTPCORE_V_NONE);
    cr_expect(smtpcore_server_want_close(s));
    cr_expect(smtpcore_server_want_flush(s));
    size_t used = 1;
    cr_expect_eq(smtpcore_server_receive(s, "NOOP\r\n", 6, &used), SMTPCORE_ERR_CLOSED);
    cr_expect_eq(used, 0);
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_NONE);
    smtpcore_server_del(s);
}

Test(server_api, refusals_are_reported)
{
    smtpcore_server *s = tsa_ready(NULL);
    tsa_feed(s, "RCPT TO:<b@example.org>\r\n");
    smtpcore_server_event ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.violation, SMTPCORE_V_BAD_SEQUENCE);
    cr_expect_eq(ev.reply_code, 503);
    cr_expect_gt(ev.message.len, 0);
    cr_expect_eq(ev.line.len, 23);
    cr_expect_eq(ev.answer_required, 0);
    smtpcore_server_del(s);
}

Test(server_api, early_talker_note)
{
    smtpcore_server *s = tsa_new(NULL);
    tsa_feed(s, "EHLO x.example\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_CONNECT);
    smtpcore_server_accept(s);
    smtpcore_server_event ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.violation, SMTPCORE_V_EARLY_TALKER);
    cr_expect_eq(ev.reply_code, 0);
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_HELO);
    smtpcore_server_del(s);
}

Test(server_api, null_arguments)
{
    const smtpcore_server_event *ev;
    cr_expect_eq(smtpcore_server_next_event(NULL, &ev), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_accept(NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_receive_eof(NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_server_want_flush(NULL), 0);
    cr_expect_eq(smtpcore_server_memory(NULL), 0);
    smtpcore_server_del(NULL);
    smtpcore_server *s = tsa_new(NULL);
    cr_expect_eq(smtpcore_server_consume(s, 1), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_gt(smtpcore_server_memory(s), 514 + 768); /* state + default buffers */
    smtpcore_server_del(s);
}

Test(server_api, queued_events_survive_receive)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions = SMTPCORE_EXT_ENHANCEDSTATUSCODES; /* no PIPELINING */
    smtpcore_server *s = tsa_new(&c);
    tsa_next(s);
    smtpcore_server_accept(s);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    tsa_feed(s, "HELO c.example\r\nNOOP\r\nRSET\r\n");
    cr_assert_eq(tsa_next(s).type, SMTPCORE_SEV_HELO);
    smtpcore_server_accept(s);
    /* NOOP arrived before the HELO reply: the note comes first, NOOP waits in the queue. */
    smtpcore_server_event ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.violation, SMTPCORE_V_IMPROPER_PIPELINING);
    char fill[2000];
    memset(fill, 'Z', sizeof(fill));
    size_t used = 0;
    cr_expect_eq(smtpcore_server_receive(s, fill, sizeof(fill), &used), SMTPCORE_OK);
    cr_expect_gt(used, 0);
    ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_NOOP);
    cr_assert_eq(ev.line.len, 4);
    cr_expect(memcmp(ev.line.ptr, "NOOP", 4) == 0);
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_RSET);
    smtpcore_server_del(s);
}

Test(server_api, copy_output_partial_and_flush_in_data)
{
    smtpcore_server *s = tsa_ready(NULL);
    tsa_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    for (int i = 0; i < 3; i++) {
        tsa_next(s);
        smtpcore_server_accept(s);
    }
    char b[5];
    cr_expect_eq(smtpcore_server_copy_output(s, b, sizeof(b)), 5);
    cr_expect(memcmp(b, "250 2", 5) == 0);
    cr_expect_eq(smtpcore_server_copy_output(s, NULL, 0), 0);
    /* In DATA with little input left and output pending: flush. */
    cr_expect_eq(smtpcore_server_want_flush(s), 1);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    tsa_feed(s, "body line\r\n.\r\n");
    smtpcore_server_event ev;
    do
        ev = tsa_next(s);
    while (ev.type == SMTPCORE_SEV_BODY);
    cr_expect_eq(ev.type, SMTPCORE_SEV_MESSAGE_END);
    smtpcore_server_del(s);
}

Test(server_api, out_of_memory_at_every_step)
{
    for (int ok = 0; ok < 6; ok++) {
        test_alloc f = {.fail_from = (size_t)ok + 1}; /* ok allocations succeed */
        smtpcore_allocator a = test_alloc_allocator(&f);
        smtpcore_server_config c;
        smtpcore_server_config_init(&c);
        c.allocator = &a;
        smtpcore_server *s = NULL;
        int rc = smtpcore_server_new(&s, &c);
        /* The session is two allocations (state and strings; both buffers). */
        if (ok < 2) {
            cr_expect_eq(rc, SMTPCORE_ERR_NOMEM, "with %d allocations", ok);
            cr_expect_null(s);
        } else {
            cr_expect_eq(rc, SMTPCORE_OK);
        }
        smtpcore_server_del(s);
        cr_expect_eq(f.live, 0, "leak with %d allocations", ok);
    }
}

Test(server_api, auth_edge_cases)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions |= SMTPCORE_EXT_AUTH;
    c.auth_mechs = SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_XOAUTH2;
    c.allow_plaintext_auth = 1;
    c.max_command_line = 2000;
    c.input_buffer_size = 4096;
    c.output_buffer_size = 4096; /* the replies are never read here */
    c.max_auth_failures = 0;     /* seven failed exchanges in one session */
    smtpcore_server *s = tsa_ready(&c);
    smtpcore_server_event ev;
    /* "=" is an empty initial response: an empty PLAIN message is malformed. */
    tsa_feed(s, "AUTH PLAIN =\r\n");
    ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.reply_code, 501);
    /* A response decoding to more than the 1 KiB scratch area. */
    char line[1700];
    memcpy(line, "AUTH PLAIN ", 11);
    memset(line + 11, 'Q', 1600);
    memcpy(line + 1611, "\r\n", 3);
    tsa_feed(s, line);
    ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.reply_code, 500);
    /* NUL inside a continuation line. */
    tsa_feed(s, "AUTH XOAUTH2\r\n");
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_NONE);
    size_t used;
    smtpcore_server_receive(s, "AA\0A\r\n", 6, &used);
    ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.reply_code, 501);
    cr_expect_eq(ev.line.len, 0);
    /* XOAUTH2 messages that are not user=...^Aauth=Bearer ...^A^A. */
    static const char *bad[] = {
        "AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIHQB\r\n",        /* one ^A at the end */
        "AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmFzaWMgdAEB\r\n",        /* auth=Basic */
        "AUTH XOAUTH2 dXNlcj1hAWF1dGg9QmVhcmVyIAEB\r\n",        /* empty token */
        "AUTH XOAUTH2 bmFtZT1hAWF1dGg9QmVhcmVyIHQBAQ==\r\n",    /* name= */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tsa_feed(s, bad[i]);
        ev = tsa_next(s);
        cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR, "case %zu", i);
        cr_expect_eq(ev.reply_code, 501, "case %zu", i);
    }
    tsa_feed(s, "AUTH XOAUTH2 dXNlcj1hAWF1dGg9YmVhcmVyIHRvawEB\r\n"); /* lower-case bearer */
    ev = tsa_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect_eq(ev.username.len, 1);
    cr_expect_eq(ev.password.len, 3);
    cr_expect(memcmp(ev.password.ptr, "tok", 3) == 0);
    smtpcore_server_del(s);
}

Test(server_api, bdat_after_refused_greeting)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    smtpcore_server *s = tsa_new(&c);
    tsa_next(s);
    cr_expect_eq(smtpcore_server_reject(s, 554, NULL, NULL), SMTPCORE_OK);
    tsa_out o = {.len = 0};
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "554 Transaction failed\r\n");
    tsa_feed(s, "BDAT 6\r\nQUIT\r\nQUIT\r\n");
    smtpcore_server_event ev = tsa_next(s);
    cr_expect_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.reply_code, 503);
    cr_expect_eq(tsa_next(s).type, SMTPCORE_SEV_QUIT);
    o.len = 0;
    tsa_take(s, &o);
    cr_expect_str_eq(o.buf, "503 5.5.1 Error: service refused, send QUIT\r\n221 2.0.0 Bye\r\n");
    smtpcore_server_del(s);
}
