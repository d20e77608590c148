/* SPDX-License-Identifier: MIT */
/* Events that wait in the session's compact queue (behind an earlier event of the same
 * step) must reach the host with every field an event made directly would carry. */
#include <criterion/criterion.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

static smtpcore_server_event tsq_next(smtpcore_server *s)
{
    const smtpcore_server_event *ev;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    return *ev; /* a snapshot: the session's event changes at the next call */
}

static void tsq_feed(smtpcore_server *s, const char *text)
{
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(s, text, strlen(text), &used), SMTPCORE_OK);
    cr_assert_eq(used, strlen(text));
}

static int tsq_is(smtpcore_str v, const char *want)
{
    return v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
}

/* Greeted session without PIPELINING: a command followed by more input makes the next
 * one an improper pipeliner, whose note comes first and pushes the command's own event
 * into the queue. */
static smtpcore_server *tsq_session(uint32_t ext)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions = ext;
    c.allow_plaintext_auth = 1;
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    char out[2048];
    (void)smtpcore_server_copy_output(s, out, sizeof out);
    tsq_feed(s, "EHLO c.example\r\n");
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_HELO);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    (void)smtpcore_server_copy_output(s, out, sizeof out);
    return s;
}

Test(server_queue, queued_mail_and_rcpt_keep_their_parameters)
{
    smtpcore_server *s = tsq_session(SMTPCORE_EXT_SIZE | SMTPCORE_EXT_DSN |
                                     SMTPCORE_EXT_8BITMIME);
    tsq_feed(s, "NOOP\r\nMAIL FROM:<a@example.org> SIZE=1234 BODY=8BITMIME RET=HDRS\r\n"
                "NOOP\r\nRCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net\r\n");
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_NOOP);
    smtpcore_server_event ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.violation, SMTPCORE_V_IMPROPER_PIPELINING);
    ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_MAIL);
    cr_expect(ev.answer_required);
    cr_expect(tsq_is(ev.address, "a@example.org"));
    cr_expect(tsq_is(ev.line, "MAIL FROM:<a@example.org> SIZE=1234 BODY=8BITMIME RET=HDRS"));
    cr_expect_eq(ev.mail.has_size, 1);
    cr_expect_eq(ev.mail.size, 1234);
    cr_expect_eq(ev.mail.body, SMTPCORE_BODY_8BITMIME);
    cr_expect_eq(ev.mail.ret, SMTPCORE_RET_HDRS);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_NOOP);
    ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_RCPT);
    cr_expect(tsq_is(ev.address, "b@example.net"));
    cr_expect_eq(ev.rcpt.notify, SMTPCORE_NOTIFY_SUCCESS | SMTPCORE_NOTIFY_FAILURE);
    cr_expect(tsq_is(ev.rcpt.orcpt, "rfc822;b@example.net"));
    cr_expect_eq(ev.rcpt_count, 0);
    smtpcore_server_del(s);
}

Test(server_queue, queued_auth_keeps_its_credentials)
{
    smtpcore_server *s = tsq_session(SMTPCORE_EXT_AUTH);
    /* "\0user\0secret" */
    tsq_feed(s, "NOOP\r\nAUTH PLAIN AHVzZXIAc2VjcmV0\r\n");
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_NOOP);
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_PROTOCOL_ERROR);
    smtpcore_server_event ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect(ev.answer_required);
    cr_expect_eq(ev.auth_mech, SMTPCORE_AUTH_PLAIN);
    cr_expect(tsq_is(ev.line, "AUTH PLAIN"));
    cr_expect_eq(ev.authzid.len, 0);
    cr_expect(tsq_is(ev.username, "user"));
    cr_expect(tsq_is(ev.password, "secret"));
    smtpcore_server_del(s);
}

Test(server_queue, queued_helo_and_vrfy)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions = SMTPCORE_EXT_VRFY;
    static const char *own[] = {"mx.example.org"};
    c.own_names = own;
    c.own_names_count = 1;
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    char out[2048];
    (void)smtpcore_server_copy_output(s, out, sizeof out);
    tsq_feed(s, "NOOP\r\nEHLO MX.example.org\r\nVRFY someone\r\n");
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_NOOP);
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_PROTOCOL_ERROR);
    smtpcore_server_event ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_HELO);
    cr_expect_eq(ev.esmtp, 1);
    cr_expect_eq(ev.helo_is_own_name, 1);
    cr_expect_eq(ev.violation, SMTPCORE_V_LOOP_DETECTED);
    cr_expect_eq(ev.helo_class, SMTPCORE_HELO_FQDN);
    cr_expect(tsq_is(ev.address, "MX.example.org"));
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    size_t n = smtpcore_server_copy_output(s, out, sizeof out - 1);
    out[n] = '\0';
    /* NOOP's reply, then the EHLO reply built from the queued event's name. */
    cr_expect(strstr(out, "250 Ok\r\n250-localhost Hello MX.example.org\r\n") == out,
              "%s", out);
    ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_VRFY);
    cr_expect(tsq_is(ev.address, "someone"));
    smtpcore_server_del(s);
}

Test(server_queue, note_before_auth_hides_the_initial_response)
{
    smtpcore_server *s = tsq_session(SMTPCORE_EXT_AUTH);
    tsq_feed(s, "NOOP\r\nAUTH LOGIN YWxpY2U=\r\n"); /* "alice" */
    cr_assert_eq(tsq_next(s).type, SMTPCORE_SEV_NOOP);
    smtpcore_server_event ev = tsq_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_PROTOCOL_ERROR);
    cr_expect_eq(ev.violation, SMTPCORE_V_IMPROPER_PIPELINING);
    cr_expect(tsq_is(ev.line, "AUTH LOGIN"));
    smtpcore_server_del(s);
}
