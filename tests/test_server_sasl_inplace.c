/* SPDX-License-Identifier: MIT */
/* SASL responses are decoded in place in the input buffer; the LOGIN user name waits at
 * the front of it for the password line. These cases split and squeeze that buffer. */
#include <criterion/criterion.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

typedef struct tsi_out {
    char buf[8192];
    size_t len;
} tsi_out;

static void tsi_take(smtpcore_server *s, tsi_out *o)
{
    o->len += smtpcore_server_copy_output(s, o->buf + o->len, sizeof(o->buf) - 1 - o->len);
    o->buf[o->len] = '\0';
}

static void tsi_feed(smtpcore_server *s, const char *p, size_t len)
{
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(s, p, len, &used), SMTPCORE_OK);
    cr_assert_eq(used, len);
}

static smtpcore_server_event tsi_next(smtpcore_server *s)
{
    const smtpcore_server_event *ev;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    return *ev; /* a snapshot: the session's event changes at the next call */
}

static smtpcore_server *tsi_session(tsi_out *o)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c); /* default (small) buffers */
    c.extensions |= SMTPCORE_EXT_AUTH;
    c.auth_mechs = SMTPCORE_AUTH_LOGIN | SMTPCORE_AUTH_PLAIN;
    c.allow_plaintext_auth = 1;
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    cr_assert_eq(tsi_next(s).type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsi_take(s, o);
    tsi_feed(s, "EHLO c.example\r\n", 16);
    cr_assert_eq(tsi_next(s).type, SMTPCORE_SEV_HELO);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsi_take(s, o);
    o->len = 0;
    return s;
}

static int tsi_is(smtpcore_str v, const char *want)
{
    return v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0;
}

/* Feeds text one byte at a time, draining output between bytes, until an event. */
static smtpcore_server_event tsi_bytes(smtpcore_server *s, const char *text, tsi_out *o)
{
    size_t n = strlen(text);
    for (size_t i = 0; i < n; i++) {
        tsi_feed(s, text + i, 1);
        smtpcore_server_event ev = tsi_next(s);
        tsi_take(s, o);
        if (ev.type != SMTPCORE_SEV_NONE) {
            cr_assert_eq(i, n - 1, "event before the end of the input");
            return ev;
        }
    }
    return tsi_next(s);
}

Test(server_sasl_inplace, login_split_into_bytes)
{
    tsi_out o = {.len = 0};
    smtpcore_server *s = tsi_session(&o);
    cr_expect_eq(tsi_bytes(s, "AUTH LOGIN\r\n", &o).type, SMTPCORE_SEV_NONE);
    cr_expect_eq(tsi_bytes(s, "dXNlcm5hbWU=\r\n", &o).type, SMTPCORE_SEV_NONE); /* username */
    smtpcore_server_event ev = tsi_bytes(s, "c2VjcmV0\r\n", &o);        /* secret */
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect_eq(ev.auth_mech, SMTPCORE_AUTH_LOGIN);
    cr_expect(tsi_is(ev.username, "username"));
    cr_expect(tsi_is(ev.password, "secret"));
    cr_expect_eq(ev.line.len, 0);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    tsi_take(s, &o);
    cr_expect_str_eq(o.buf, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0 Authentication successful\r\n");
    /* The kept name is gone: the session reads commands from a clean buffer again. */
    o.len = 0;
    tsi_feed(s, "NOOP\r\n", 6);
    cr_expect_eq(tsi_next(s).type, SMTPCORE_SEV_NOOP);
    tsi_take(s, &o);
    cr_expect_str_eq(o.buf, "250 2.0.0 Ok\r\n");
    smtpcore_server_del(s);
}

Test(server_sasl_inplace, login_initial_response_then_pipelined_password)
{
    tsi_out o = {.len = 0};
    smtpcore_server *s = tsi_session(&o);
    tsi_feed(s, "AUTH LOGIN dXNlcg==\r\n", 21); /* user */
    cr_expect_eq(tsi_next(s).type, SMTPCORE_SEV_NONE);
    tsi_take(s, &o);
    cr_expect_str_eq(o.buf, "334 UGFzc3dvcmQ6\r\n");
    /* Password and the next command in one read: the command behind the password line
     * must survive the shuffling around the kept name. */
    tsi_feed(s, "cGFzcw==\r\nNOOP\r\n", 16); /* pass */
    smtpcore_server_event ev = tsi_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect(tsi_is(ev.username, "user"));
    cr_expect(tsi_is(ev.password, "pass"));
    cr_assert_eq(smtpcore_server_reject(s, 535, NULL, NULL), SMTPCORE_OK);
    cr_expect_eq(tsi_next(s).type, SMTPCORE_SEV_NOOP);
    smtpcore_server_del(s);
}

Test(server_sasl_inplace, login_name_and_password_too_big_for_the_input)
{
    tsi_out o = {.len = 0};
    smtpcore_server *s = tsi_session(&o);
    tsi_feed(s, "AUTH LOGIN\r\n", 12);
    cr_expect_eq(tsi_next(s).type, SMTPCORE_SEV_NONE);
    /* A 300-byte name (400 base64 characters) waits in the 514-byte input buffer... */
    char line[512];
    memset(line, 'Q', 400);
    memcpy(line + 400, "\r\n", 2);
    tsi_feed(s, line, 402);
    cr_expect_eq(tsi_next(s).type, SMTPCORE_SEV_NONE);
    tsi_take(s, &o);
    /* ...so a 300-character password line cannot follow it: it is refused as too long
     * (without a stall), and the session goes on. */
    memset(line, 'Q', 300);
    memcpy(line + 300, "\r\nNOOP\r\n", 8);
    size_t at = 0, rounds = 0;
    smtpcore_server_event ev = {0};
    while (rounds++ < 100 && ev.type != SMTPCORE_SEV_NOOP) {
        size_t used = 0;
        cr_assert_eq(smtpcore_server_receive(s, line + at, 308 - at, &used), SMTPCORE_OK);
        at += used;
        ev = tsi_next(s);
        if (ev.type == SMTPCORE_SEV_PROTOCOL_ERROR) {
            cr_expect_eq(ev.reply_code, 500);
            cr_expect_eq(ev.violation, SMTPCORE_V_AUTH_FAILED);
        }
        tsi_take(s, &o);
    }
    cr_expect_eq(ev.type, SMTPCORE_SEV_NOOP);
    cr_expect_str_eq(o.buf, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n500 5.5.6 Authentication exchange line is too long\r\n"
                            "250 2.0.0 Ok\r\n");
    smtpcore_server_del(s);
}

Test(server_sasl_inplace, plain_initial_response_keeps_the_line_clean)
{
    tsi_out o = {.len = 0};
    smtpcore_server *s = tsi_session(&o);
    tsi_feed(s, "AUTH PLAIN emlkAHVzZXIAcGFzcw==\r\n", 33); /* "zid\0user\0pass" */
    smtpcore_server_event ev = tsi_next(s);
    cr_assert_eq(ev.type, SMTPCORE_SEV_AUTH);
    cr_expect(tsi_is(ev.line, "AUTH PLAIN"));
    cr_expect(tsi_is(ev.authzid, "zid"));
    cr_expect(tsi_is(ev.username, "user"));
    cr_expect(tsi_is(ev.password, "pass"));
    smtpcore_server_del(s);
}
