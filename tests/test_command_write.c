/* SPDX-License-Identifier: MIT */
/* Client-side command writer: exact bytes, bounds, and writer -> parser round trips. */
#include <criterion/criterion.h>
#include <string.h>

#include "command.h"
#include "syntax.h"

#define ALL_EXT                                                                           \
    (SMTPCORE_EXT_SIZE | SMTPCORE_EXT_8BITMIME | SMTPCORE_EXT_SMTPUTF8 | SMTPCORE_EXT_DSN | \
     SMTPCORE_EXT_BINARYMIME | SMTPCORE_EXT_AUTH)

static smtpcore_str lit(const char *s) { return (smtpcore_str){s, strlen(s)}; }

static void expect_bytes(const char *out, size_t n, const char *want)
{
    cr_assert_neq(n, (size_t)-1, "writer failed, want '%s'", want);
    cr_assert_eq(n, strlen(want), "length %zu, want %zu ('%.*s')", n, strlen(want), (int)n, out);
    cr_assert_eq(memcmp(out, want, n), 0, "got '%.*s' want '%s'", (int)n, out, want);
}

/* Every cap below the exact length fails, the exact length succeeds, and no byte past
 * cap is touched. */
static void check_bounds(size_t (*w)(char *, size_t, void *), void *ctx, const char *want)
{
    size_t n = strlen(want);
    char buf[1024];
    for (size_t cap = 0; cap <= n; cap++) {
        memset(buf, '#', sizeof buf);
        size_t r = w(buf, cap, ctx);
        if (cap < n)
            cr_assert_eq(r, (size_t)-1, "cap %zu of %zu accepted", cap, n);
        else
            expect_bytes(buf, r, want);
        for (size_t k = cap; k < sizeof buf; k++)
            cr_assert_eq(buf[k], '#', "byte %zu past cap %zu written", k, cap);
    }
}

typedef struct mail_ctx {
    const char *from;
    const smtpcore_mail_params *p;
} mail_ctx;

static size_t wr_mail(char *o, size_t cap, void *c)
{
    mail_ctx *m = c;
    return sc_command_write_mail(o, cap, m->from, strlen(m->from), m->p);
}

typedef struct rcpt_ctx {
    const char *to;
    const smtpcore_rcpt_params *p;
} rcpt_ctx;

static size_t wr_rcpt(char *o, size_t cap, void *c)
{
    rcpt_ctx *r = c;
    return sc_command_write_rcpt(o, cap, r->to, strlen(r->to), r->p);
}

static size_t wr_bdat(char *o, size_t cap, void *c)
{
    (void)c;
    return sc_command_write_bdat(o, cap, 18446744073709551615u, 1);
}

static size_t wr_ehlo(char *o, size_t cap, void *c)
{
    (void)c;
    return sc_command_write_simple(o, cap, SC_VERB_EHLO, "client.example", 14);
}

Test(write_mail, plain_and_null)
{
    char out[256];
    expect_bytes(out, sc_command_write_mail(out, sizeof out, "a@b.example", 11, NULL),
                 "MAIL FROM:<a@b.example>\r\n");
    smtpcore_mail_params p = {0};
    expect_bytes(out, sc_command_write_mail(out, sizeof out, "", 0, &p), "MAIL FROM:<>\r\n");
}

Test(write_mail, all_params)
{
    char out[512];
    smtpcore_mail_params p = {0};
    p.has_size = 1;
    p.size = 12345;
    p.body = SMTPCORE_BODY_8BITMIME;
    p.smtputf8 = 1;
    p.ret = SMTPCORE_RET_HDRS;
    p.envid = lit("id+1=2 x");
    p.auth = lit("e+mc2@example.com");
    const char *want = "MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS "
                       "ENVID=id+2B1+3D2+20x AUTH=e+2Bmc2@example.com\r\n";
    expect_bytes(out, sc_command_write_mail(out, sizeof out, "a@b.example", 11, &p), want);
    mail_ctx c = {"a@b.example", &p};
    check_bounds(wr_mail, &c, want);
}

Test(write_mail, body_ret_variants_and_auth_null)
{
    char out[256];
    smtpcore_mail_params p = {0};
    p.body = SMTPCORE_BODY_7BIT;
    p.ret = SMTPCORE_RET_FULL;
    p.auth = lit("<>");
    p.has_size = 1;
    p.size = 0;
    expect_bytes(out, sc_command_write_mail(out, sizeof out, "x@y", 3, &p),
                 "MAIL FROM:<x@y> SIZE=0 BODY=7BIT RET=FULL AUTH=<>\r\n");
    p = (smtpcore_mail_params){0};
    p.body = SMTPCORE_BODY_BINARYMIME;
    expect_bytes(out, sc_command_write_mail(out, sizeof out, "x@y", 3, &p),
                 "MAIL FROM:<x@y> BODY=BINARYMIME\r\n");
}

Test(write_rcpt, params)
{
    char out[256];
    expect_bytes(out, sc_command_write_rcpt(out, sizeof out, "u@x", 3, NULL), "RCPT TO:<u@x>\r\n");
    smtpcore_rcpt_params p = {0};
    p.notify = SMTPCORE_NOTIFY_SUCCESS | SMTPCORE_NOTIFY_FAILURE | SMTPCORE_NOTIFY_DELAY;
    p.orcpt = lit("rfc822;u+x=y@example.com");
    const char *want = "RCPT TO:<u@x> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;u+2Bx+3Dy@example.com\r\n";
    expect_bytes(out, sc_command_write_rcpt(out, sizeof out, "u@x", 3, &p), want);
    rcpt_ctx c = {"u@x", &p};
    check_bounds(wr_rcpt, &c, want);
    p.notify = SMTPCORE_NOTIFY_NEVER;
    p.orcpt = lit("");
    expect_bytes(out, sc_command_write_rcpt(out, sizeof out, "u@x", 3, &p),
                 "RCPT TO:<u@x> NOTIFY=NEVER\r\n");
    p.notify = SMTPCORE_NOTIFY_DELAY;
    expect_bytes(out, sc_command_write_rcpt(out, sizeof out, "u@x", 3, &p),
                 "RCPT TO:<u@x> NOTIFY=DELAY\r\n");
    p.notify = 0;
    p.orcpt = lit("u@x"); /* no type given: rfc822 is assumed */
    expect_bytes(out, sc_command_write_rcpt(out, sizeof out, "u@x", 3, &p),
                 "RCPT TO:<u@x> ORCPT=rfc822;u@x\r\n");
}

Test(write_simple, verbs)
{
    char out[64];
    expect_bytes(out, sc_command_write_simple(out, sizeof out, SC_VERB_DATA, NULL, 0), "DATA\r\n");
    expect_bytes(out, sc_command_write_simple(out, sizeof out, SC_VERB_QUIT, NULL, 0), "QUIT\r\n");
    expect_bytes(out, sc_command_write_simple(out, sizeof out, SC_VERB_STARTTLS, NULL, 0),
                 "STARTTLS\r\n");
    expect_bytes(out, sc_command_write_simple(out, sizeof out, SC_VERB_RSET, "", 0), "RSET\r\n");
    expect_bytes(out, sc_command_write_simple(out, sizeof out, SC_VERB_AUTH, "PLAIN =", 7),
                 "AUTH PLAIN =\r\n");
    cr_assert_eq(sc_command_write_simple(out, sizeof out, SC_VERB_UNKNOWN, NULL, 0), (size_t)-1);
    check_bounds(wr_ehlo, NULL, "EHLO client.example\r\n");
}

Test(write_bdat, forms)
{
    char out[64];
    expect_bytes(out, sc_command_write_bdat(out, sizeof out, 0, 0), "BDAT 0\r\n");
    expect_bytes(out, sc_command_write_bdat(out, sizeof out, 4096, 1), "BDAT 4096 LAST\r\n");
    check_bounds(wr_bdat, NULL, "BDAT 18446744073709551615 LAST\r\n");
}

/* ---- writer -> parser ---- */

static void parse_written(const char *out, size_t n, sc_command *cmd)
{
    cr_assert_neq(n, (size_t)-1);
    cr_assert_geq(n, 2);
    cr_assert_eq(memcmp(out + n - 2, "\r\n", 2), 0);
    sc_reply_spec err;
    int r = sc_command_parse(out, n - 2, ALL_EXT, cmd, &err);
    cr_assert_eq(r, 0, "'%.*s' refused: %d %s", (int)n - 2, out, err.code, err.text);
}

Test(round_trip, mail)
{
    char out[512], dec[128];
    smtpcore_mail_params p = {0};
    p.has_size = 1;
    p.size = UINT64_MAX - 1;
    p.body = SMTPCORE_BODY_BINARYMIME;
    p.smtputf8 = 1;
    p.ret = SMTPCORE_RET_FULL;
    p.envid = lit("env id+=\x01");
    p.auth = lit("\xc3\xa9@example.com");
    const char *from = "\"q \\\" x\"@ex\xc3\xa4mple.com";
    sc_command cmd;
    parse_written(out, sc_command_write_mail(out, sizeof out, from, strlen(from), &p), &cmd);
    cr_assert_eq(cmd.verb, SC_VERB_MAIL);
    cr_assert_eq(cmd.mailbox.len, strlen(from));
    cr_assert_eq(memcmp(cmd.mailbox.ptr, from, cmd.mailbox.len), 0);
    cr_assert_eq(cmd.mailbox_utf8, 1);
    cr_assert_eq(cmd.mail.has_size, 1);
    cr_assert_eq(cmd.mail.size, UINT64_MAX - 1);
    cr_assert_eq(cmd.mail.body, SMTPCORE_BODY_BINARYMIME);
    cr_assert_eq(cmd.mail.smtputf8, 1);
    cr_assert_eq(cmd.mail.ret, SMTPCORE_RET_FULL);
    size_t dl;
    cr_assert_eq(smtpcore_xtext_decode(cmd.mail.envid.ptr, cmd.mail.envid.len, dec, sizeof dec, &dl), 0);
    cr_assert_eq(dl, p.envid.len);
    cr_assert_eq(memcmp(dec, p.envid.ptr, dl), 0);
    cr_assert_eq(smtpcore_xtext_decode(cmd.mail.auth.ptr, cmd.mail.auth.len, dec, sizeof dec, &dl), 0);
    cr_assert_eq(dl, p.auth.len);
    cr_assert_eq(memcmp(dec, p.auth.ptr, dl), 0);
}

Test(round_trip, rcpt_and_simple)
{
    char out[256], dec[128];
    smtpcore_rcpt_params p = {0};
    p.notify = SMTPCORE_NOTIFY_FAILURE | SMTPCORE_NOTIFY_DELAY;
    p.orcpt = lit("rfc822;a+b@example.com");
    sc_command cmd;
    parse_written(out, sc_command_write_rcpt(out, sizeof out, "a@b.example", 11, &p), &cmd);
    cr_assert_eq(cmd.verb, SC_VERB_RCPT);
    cr_assert_eq(cmd.rcpt.notify, p.notify);
    const char *semi = memchr(cmd.rcpt.orcpt.ptr, ';', cmd.rcpt.orcpt.len);
    cr_assert_not_null(semi);
    size_t dl;
    size_t tl = (size_t)(semi - cmd.rcpt.orcpt.ptr);
    cr_assert_eq(smtpcore_xtext_decode(semi + 1, cmd.rcpt.orcpt.len - tl - 1, dec, sizeof dec, &dl), 0);
    cr_assert_eq(dl, strlen("a+b@example.com"));
    cr_assert_eq(memcmp(dec, "a+b@example.com", dl), 0);

    parse_written(out, sc_command_write_bdat(out, sizeof out, 77, 1), &cmd);
    cr_assert_eq(cmd.verb, SC_VERB_BDAT);
    cr_assert_eq(cmd.chunk_size, 77);
    cr_assert_eq(cmd.last, 1);
    parse_written(out, sc_command_write_simple(out, sizeof out, SC_VERB_EHLO, "[IPv6:::1]", 10), &cmd);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_IPV6_LITERAL);
    for (int v = SC_VERB_HELO; v < SC_VERB_COUNT; v++) {
        size_t n = sc_command_write_simple(out, sizeof out, (sc_verb)v, NULL, 0);
        cr_assert_neq(n, (size_t)-1);
        sc_reply_spec err;
        sc_command_parse(out, n - 2, ALL_EXT, &cmd, &err);
        cr_assert_eq(cmd.verb, (sc_verb)v);
    }
}
