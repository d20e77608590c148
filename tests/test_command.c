/* SPDX-License-Identifier: MIT */
/* Server-side command parsing: verbs, arguments, paths, ESMTP parameters, error replies. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

#define ALL_EXT                                                                           \
    (SMTPCORE_EXT_SIZE | SMTPCORE_EXT_8BITMIME | SMTPCORE_EXT_SMTPUTF8 | SMTPCORE_EXT_DSN | \
     SMTPCORE_EXT_BINARYMIME | SMTPCORE_EXT_AUTH | SMTPCORE_EXT_CHUNKING)

static sc_command cmd;
static sc_reply_spec err;

static int parse_ext(const char *line, uint32_t ext)
{
    return sc_command_parse(line, strlen(line), ext, &cmd, &err);
}

static int parse(const char *line) { return parse_ext(line, ALL_EXT); }

static void expect_ok(const char *line, sc_verb v)
{
    int r = parse(line);
    cr_assert_eq(r, 0, "'%s' refused: %d %s", line, err.code, err.text ? err.text : "");
    cr_assert_eq(cmd.verb, v, "'%s'", line);
}

static void expect_err_ext(const char *line, uint32_t ext, int code, int sub, int det,
                           smtpcore_violation viol)
{
    int r = parse_ext(line, ext);
    cr_assert_eq(r, -1, "'%s' accepted", line);
    cr_assert_eq(err.code, code, "'%s': code %d, want %d", line, err.code, code);
    cr_assert_eq(err.enhanced.cls, code / 100, "'%s'", line);
    cr_assert_eq(err.enhanced.subject, sub, "'%s': subject %d", line, err.enhanced.subject);
    cr_assert_eq(err.enhanced.detail, det, "'%s': detail %d", line, err.enhanced.detail);
    cr_assert_eq(err.violation, viol, "'%s': violation %d", line, err.violation);
    cr_assert_not_null(err.text);
    cr_assert_gt(strlen(err.text), 0);
}

static void expect_err(const char *line, int code, int sub, int det, smtpcore_violation viol)
{
    expect_err_ext(line, ALL_EXT, code, sub, det, viol);
}

static int str_is(smtpcore_str s, const char *lit)
{
    return s.len == strlen(lit) && (s.len == 0 || memcmp(s.ptr, lit, s.len) == 0);
}

/* ---- verb lookup ---- */

Test(verb, lookup_all_case_insensitive)
{
    static const struct { const char *name; sc_verb v; } t[] = {
        {"HELO", SC_VERB_HELO}, {"ehlo", SC_VERB_EHLO}, {"Mail", SC_VERB_MAIL},
        {"rCpT", SC_VERB_RCPT}, {"data", SC_VERB_DATA}, {"BDAT", SC_VERB_BDAT},
        {"rset", SC_VERB_RSET}, {"NOOP", SC_VERB_NOOP}, {"vrfy", SC_VERB_VRFY},
        {"EXPN", SC_VERB_EXPN}, {"help", SC_VERB_HELP}, {"QuIt", SC_VERB_QUIT},
        {"starttls", SC_VERB_STARTTLS}, {"AUTH", SC_VERB_AUTH}, {"turn", SC_VERB_TURN},
        {"ETRN", SC_VERB_ETRN},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cr_assert_eq(sc_verb_lookup(t[i].name, strlen(t[i].name)), t[i].v, "%s", t[i].name);
        cr_assert_not_null(sc_verb_name(t[i].v));
        cr_assert_eq(sc_verb_lookup(sc_verb_name(t[i].v), strlen(sc_verb_name(t[i].v))), t[i].v);
    }
}

/* The four-letter verbs are found by a perfect hash (command.c): every verb in every
 * case variant finds itself, and a word one bit away from a verb (other than the case
 * bit of a letter) finds nothing. */
Test(verb, every_verb_every_case)
{
    for (int v = SC_VERB_UNKNOWN + 1; v < SC_VERB_COUNT; v++) {
        const char *name = sc_verb_name((sc_verb)v);
        cr_assert_not_null(name);
        size_t n = strlen(name);
        char w[16];
        for (unsigned mask = 0; mask < (1u << n); mask++) {
            for (size_t i = 0; i < n; i++)
                w[i] = (char)((mask >> i) & 1u ? name[i] | 0x20 : name[i]);
            cr_assert_eq(sc_verb_lookup(w, n), (sc_verb)v, "%.*s", (int)n, w);
        }
        for (size_t i = 0; i < n; i++) {
            for (unsigned bit = 0; bit < 8; bit++) {
                if (bit == 5)
                    continue;
                memcpy(w, name, n);
                w[i] = (char)((unsigned char)w[i] ^ (1u << bit));
                cr_assert_eq(sc_verb_lookup(w, n), SC_VERB_UNKNOWN, "%s, byte %zu bit %u", name,
                             i, bit);
            }
        }
    }
}

Test(verb, lookup_rejects)
{
    const char *bad[] = {"HELX", "HEL", "HELOO", "MAIX", "STARTTLX", "STARTTL", "XXXX", "",
                         "RCPX", "RSEX", "EHLX", "EXPX", "ETRX", "H\xc5LO", "HEL\x0f", "ZZZZ",
                         "12345678", "MAI@"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sc_verb_lookup(bad[i], strlen(bad[i])), SC_VERB_UNKNOWN, "%s", bad[i]);
    cr_assert_eq(sc_verb_lookup(NULL, 4), SC_VERB_UNKNOWN);
    cr_assert_null(sc_verb_name(SC_VERB_UNKNOWN));
    cr_assert_null(sc_verb_name(SC_VERB_COUNT));
}

Test(verb, unknown_command)
{
    expect_err("FOO bar", 500, 5, 1, SMTPCORE_V_UNKNOWN_COMMAND);
    cr_assert_eq(cmd.verb, SC_VERB_UNKNOWN);
    expect_err("", 500, 5, 1, SMTPCORE_V_UNKNOWN_COMMAND);
    expect_err("MAIL:FROM:<a@b>", 500, 5, 1, SMTPCORE_V_UNKNOWN_COMMAND);
    expect_err(" MAIL FROM:<a@b>", 500, 5, 1, SMTPCORE_V_UNKNOWN_COMMAND);
}

/* ---- simple verbs ---- */

Test(simple, no_argument_verbs)
{
    expect_ok("DATA", SC_VERB_DATA);
    expect_ok("rset", SC_VERB_RSET);
    expect_ok("QUIT", SC_VERB_QUIT);
    expect_ok("STARTTLS", SC_VERB_STARTTLS);
    expect_ok("TURN", SC_VERB_TURN);
    expect_ok("DATA  ", SC_VERB_DATA); /* trailing spaces ignored */
    cr_assert_eq(cmd.arg.len, 0);
    const char *bad[] = {"DATA x", "RSET now", "QUIT bye", "STARTTLS yes", "TURN x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_err(bad[i], 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
        cr_assert_neq(cmd.verb, SC_VERB_UNKNOWN);
    }
}

Test(simple, argument_verbs)
{
    expect_ok("VRFY postmaster", SC_VERB_VRFY);
    cr_assert(str_is(cmd.arg, "postmaster"));
    expect_ok("EXPN list  ", SC_VERB_EXPN);
    cr_assert(str_is(cmd.arg, "list"));
    expect_ok("ETRN example.com", SC_VERB_ETRN);
    expect_err("VRFY", 501, 5, 2, SMTPCORE_V_SYNTAX);
    cr_assert_eq(err.enhanced.detail, 2);
    expect_err("EXPN   ", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("ETRN", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_ok("NOOP", SC_VERB_NOOP);
    expect_ok("NOOP anything at all", SC_VERB_NOOP);
    cr_assert(str_is(cmd.arg, "anything at all"));
    expect_ok("HELP", SC_VERB_HELP);
    expect_ok("HELP MAIL", SC_VERB_HELP);
}

/* ---- HELO / EHLO ---- */

Test(helo, valid_names)
{
    expect_ok("EHLO mail.example.com", SC_VERB_EHLO);
    cr_assert(str_is(cmd.domain, "mail.example.com"));
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_FQDN);
    expect_ok("HELO localhost", SC_VERB_HELO);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_SINGLE_LABEL);
    expect_ok("EHLO [192.0.2.1]", SC_VERB_EHLO);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_IPV4_LITERAL);
    expect_ok("EHLO [IPv6:::1]", SC_VERB_EHLO);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_IPV6_LITERAL);
    expect_ok("ehlo [tag:x]", SC_VERB_EHLO);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_GENERAL_LITERAL);
}

Test(helo, invalid_names)
{
    expect_err("HELO this is Jupiter", 501, 5, 2, SMTPCORE_V_SYNTAX);
    cr_assert_eq(err.enhanced.detail, 2);
    cr_assert_eq(cmd.verb, SC_VERB_HELO);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_INVALID);
    expect_err("EHLO", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("EHLO my_pc", 501, 5, 2, SMTPCORE_V_SYNTAX);
    cr_assert_eq(cmd.helo_class, SMTPCORE_HELO_INVALID);
    expect_err("EHLO [1.2.3.999]", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("EHLO -bad.example", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("EHLO host.example.", 501, 5, 2, SMTPCORE_V_SYNTAX); /* trailing dot */
}

/* ---- MAIL ---- */

Test(mail, basic)
{
    expect_ok("MAIL FROM:<a@b.example>", SC_VERB_MAIL);
    cr_assert(str_is(cmd.mailbox, "a@b.example"));
    cr_assert_eq(cmd.mailbox_utf8, 0);
    expect_ok("mail from:<a@b.example>", SC_VERB_MAIL);
    expect_ok("MAIL FROM: <a@b.example>", SC_VERB_MAIL); /* liberal */
    cr_assert(str_is(cmd.mailbox, "a@b.example"));
    expect_ok("MAIL FROM:<>", SC_VERB_MAIL);
    cr_assert_eq(cmd.mailbox.len, 0);
    expect_ok("MAIL FROM:<@r1.example,@r2.example:u@c.example>", SC_VERB_MAIL);
    cr_assert(str_is(cmd.mailbox, "u@c.example"));
    expect_ok("MAIL FROM:<\"john \\\"q\\\" doe\"@example.com>", SC_VERB_MAIL);
    cr_assert(str_is(cmd.mailbox, "\"john \\\"q\\\" doe\"@example.com"));
    expect_ok("MAIL FROM:<u@[IPv6:2001:db8::1]>", SC_VERB_MAIL);
}

Test(mail, bad_paths)
{
    expect_err("MAIL FROM:a@b.example", 501, 1, 7, SMTPCORE_V_SYNTAX);
    cr_assert_eq(err.enhanced.detail, 7);
    expect_err("MAIL FROM:<a@b.example", 501, 1, 7, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM:<a b@example>", 501, 1, 7, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM:<a@b.example>x", 501, 1, 7, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM:", 501, 1, 7, SMTPCORE_V_SYNTAX);
    expect_err("MAIL TO:<a@b.example>", 501, 5, 2, SMTPCORE_V_SYNTAX);
    cr_assert_eq(err.enhanced.detail, 2);
    expect_err("MAIL", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM <a@b.example>", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM:<postmaster>", 501, 1, 7, SMTPCORE_V_SYNTAX);
}

Test(mail, local_part_limit)
{
    char line[256];
    char lp[80];
    memset(lp, 'x', 64);
    lp[64] = '\0';
    snprintf(line, sizeof line, "MAIL FROM:<%s@example.com>", lp);
    expect_ok(line, SC_VERB_MAIL);
    memset(lp, 'x', 65);
    lp[65] = '\0';
    snprintf(line, sizeof line, "MAIL FROM:<%s@example.com>", lp);
    expect_err(line, 501, 1, 7, SMTPCORE_V_SYNTAX);
}

Test(mail, utf8_address)
{
    const char *line = "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8";
    expect_ok(line, SC_VERB_MAIL);
    cr_assert_eq(cmd.mailbox_utf8, 1);
    cr_assert_eq(cmd.mail.smtputf8, 1);
    expect_err("MAIL FROM:<j\xc3\xb6rg@example.com>", 553, 6, 7, SMTPCORE_V_8BIT);
    cr_assert_eq(err.enhanced.detail, 7);
    expect_err("MAIL FROM:<a@b\xc3\xbc" "cher.example>", 553, 6, 7, SMTPCORE_V_8BIT);
    expect_err("MAIL FROM:<a\xc0\x80@example.com> SMTPUTF8", 501, 1, 7, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM:<a\xed\xa0\x80@example.com> SMTPUTF8", 501, 1, 7, SMTPCORE_V_SYNTAX);
    expect_err("MAIL FROM:<a\xf4\x90\x80\x80@example.com> SMTPUTF8", 501, 1, 7, SMTPCORE_V_SYNTAX);
    /* SMTPUTF8 not advertised: the parameter itself is refused. */
    expect_err_ext(line, SMTPCORE_EXT_SIZE, 555, 5, 4, SMTPCORE_V_UNKNOWN_PARAMETER);
}

/* ---- MAIL parameters ---- */

Test(mail_params, size)
{
    expect_ok("MAIL FROM:<a@b> SIZE=12345", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.has_size, 1);
    cr_assert_eq(cmd.mail.size, 12345);
    expect_ok("MAIL FROM:<a@b> size=0", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.has_size, 1);
    cr_assert_eq(cmd.mail.size, 0);
    expect_ok("MAIL FROM:<a@b> SIZE=18446744073709551615", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.size, UINT64_MAX);
    expect_ok("MAIL FROM:<a@b> SIZE=99999999999999999999999", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.size, UINT64_MAX); /* saturates: the size check refuses it */
    expect_ok("MAIL FROM:<a@b> SIZE=18446744073709551616", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.size, UINT64_MAX);
    expect_err("MAIL FROM:<a@b> SIZE=12a", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    cr_assert_eq(err.enhanced.detail, 4);
    expect_err("MAIL FROM:<a@b> SIZE=-1", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> SIZE=", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> SIZE", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> SIZE=1 SIZE=2", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> SIZE=1", SMTPCORE_EXT_8BITMIME, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
    cr_assert_eq(err.enhanced.detail, 4);
}

Test(mail_params, body)
{
    expect_ok("MAIL FROM:<a@b> BODY=8BITMIME", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.body, SMTPCORE_BODY_8BITMIME);
    expect_ok("MAIL FROM:<a@b> body=7bit", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.body, SMTPCORE_BODY_7BIT);
    expect_ok("MAIL FROM:<a@b> BODY=BinaryMIME", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.body, SMTPCORE_BODY_BINARYMIME);
    expect_err("MAIL FROM:<a@b> BODY=9BIT", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> BODY", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> BODY=7BIT BODY=8BITMIME", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> BODY=8BITMIME", SMTPCORE_EXT_BINARYMIME, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> BODY=BINARYMIME", SMTPCORE_EXT_8BITMIME, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> BODY=7BIT", SMTPCORE_EXT_SIZE, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
    cr_assert_eq(parse_ext("MAIL FROM:<a@b> BODY=7BIT", SMTPCORE_EXT_8BITMIME), 0);
}

Test(mail_params, smtputf8)
{
    expect_ok("MAIL FROM:<a@b> SMTPUTF8", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.smtputf8, 1);
    expect_ok("MAIL FROM:<a@b> smtputf8", SC_VERB_MAIL);
    expect_err("MAIL FROM:<a@b> SMTPUTF8=yes", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> SMTPUTF8 SMTPUTF8", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
}

Test(mail_params, ret_envid)
{
    expect_ok("MAIL FROM:<a@b> RET=FULL ENVID=QQ314159", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.ret, SMTPCORE_RET_FULL);
    cr_assert(str_is(cmd.mail.envid, "QQ314159"));
    expect_ok("MAIL FROM:<a@b> ret=hdrs", SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.ret, SMTPCORE_RET_HDRS);
    expect_ok("MAIL FROM:<a@b> ENVID=a+2Bb", SC_VERB_MAIL);
    cr_assert(str_is(cmd.mail.envid, "a+2Bb")); /* raw, still encoded */
    expect_err("MAIL FROM:<a@b> RET=SOME", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> RET=FULL RET=HDRS", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> ENVID=a+2b", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> ENVID=x ENVID=y", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    char line[200], v[120];
    memset(v, 'e', 100);
    v[100] = '\0';
    snprintf(line, sizeof line, "MAIL FROM:<a@b> ENVID=%s", v);
    expect_ok(line, SC_VERB_MAIL);
    memset(v, 'e', 101);
    v[101] = '\0';
    snprintf(line, sizeof line, "MAIL FROM:<a@b> ENVID=%s", v);
    expect_err(line, 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> RET=FULL", SMTPCORE_EXT_SIZE, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> ENVID=x", SMTPCORE_EXT_SIZE, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
}

Test(mail_params, auth)
{
    expect_ok("MAIL FROM:<a@b> AUTH=<>", SC_VERB_MAIL);
    cr_assert(str_is(cmd.mail.auth, "<>"));
    expect_ok("MAIL FROM:<a@b> AUTH=e+2Bmc2@example.com", SC_VERB_MAIL);
    cr_assert(str_is(cmd.mail.auth, "e+2Bmc2@example.com"));
    expect_err("MAIL FROM:<a@b> AUTH=a+zz", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> AUTH=<> AUTH=<>", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err_ext("MAIL FROM:<a@b> AUTH=<>", SMTPCORE_EXT_DSN, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
}

Test(mail_params, unknown_wrong_command_and_malformed)
{
    expect_err("MAIL FROM:<a@b> FOO=bar", 555, 5, 4, SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err("MAIL FROM:<a@b> NOTIFY=NEVER", 555, 5, 4, SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err("MAIL FROM:<a@b> ORCPT=rfc822;a@b", 555, 5, 4, SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err("MAIL FROM:<a@b> =x", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> -X=1", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> SIZE=1=2", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err("MAIL FROM:<a@b> X_Y", 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    /* Several spaces between parameters are accepted; all are parsed. */
    expect_ok("MAIL FROM:<a@b>   SIZE=10    BODY=8BITMIME  SMTPUTF8 RET=HDRS ENVID=id AUTH=<>",
              SC_VERB_MAIL);
    cr_assert_eq(cmd.mail.size, 10);
    cr_assert_eq(cmd.mail.body, SMTPCORE_BODY_8BITMIME);
    cr_assert_eq(cmd.mail.smtputf8, 1);
    cr_assert_eq(cmd.mail.ret, SMTPCORE_RET_HDRS);
    cr_assert(str_is(cmd.mail.envid, "id"));
    cr_assert(str_is(cmd.mail.auth, "<>"));
}

/* ---- RCPT ---- */

Test(rcpt, basic)
{
    expect_ok("RCPT TO:<u@example.com>", SC_VERB_RCPT);
    cr_assert(str_is(cmd.mailbox, "u@example.com"));
    expect_ok("rcpt to: <u@example.com>", SC_VERB_RCPT);
    expect_ok("RCPT TO:<Postmaster>", SC_VERB_RCPT);
    cr_assert(str_is(cmd.mailbox, "Postmaster"));
    expect_ok("RCPT TO:<POSTMASTER>", SC_VERB_RCPT);
    expect_ok("RCPT TO:<postmaster@example.com>", SC_VERB_RCPT);
    expect_ok("RCPT TO:<@hop.example:u@example.com>", SC_VERB_RCPT);
    cr_assert(str_is(cmd.mailbox, "u@example.com"));
    expect_err("RCPT TO:<>", 501, 1, 3, SMTPCORE_V_SYNTAX);
    cr_assert_eq(err.enhanced.detail, 3);
    expect_err("RCPT TO:<postmistress>", 501, 1, 3, SMTPCORE_V_SYNTAX);
    expect_err("RCPT TO:u@example.com", 501, 1, 3, SMTPCORE_V_SYNTAX);
    expect_err("RCPT FROM:<u@example.com>", 501, 5, 2, SMTPCORE_V_SYNTAX);
    expect_err("RCPT TO:<u@example.com> SIZE=1", 555, 5, 4, SMTPCORE_V_UNKNOWN_PARAMETER);
    expect_err("RCPT TO:<u@example.com> SMTPUTF8", 555, 5, 4, SMTPCORE_V_UNKNOWN_PARAMETER);
}

Test(rcpt, utf8)
{
    expect_ok("RCPT TO:<\xc3\xa9@example.com>", SC_VERB_RCPT);
    cr_assert_eq(cmd.mailbox_utf8, 1);
    expect_err_ext("RCPT TO:<\xc3\xa9@example.com>", SMTPCORE_EXT_DSN, 553, 6, 7, SMTPCORE_V_8BIT);
}

Test(rcpt_params, notify)
{
    expect_ok("RCPT TO:<u@x> NOTIFY=NEVER", SC_VERB_RCPT);
    cr_assert_eq(cmd.rcpt.notify, SMTPCORE_NOTIFY_NEVER);
    expect_ok("RCPT TO:<u@x> NOTIFY=SUCCESS,FAILURE,DELAY", SC_VERB_RCPT);
    cr_assert_eq(cmd.rcpt.notify,
                 SMTPCORE_NOTIFY_SUCCESS | SMTPCORE_NOTIFY_FAILURE | SMTPCORE_NOTIFY_DELAY);
    expect_ok("RCPT TO:<u@x> notify=delay", SC_VERB_RCPT);
    cr_assert_eq(cmd.rcpt.notify, SMTPCORE_NOTIFY_DELAY);
    const char *bad[] = {"RCPT TO:<u@x> NOTIFY=NEVER,SUCCESS", "RCPT TO:<u@x> NOTIFY=SUCCESS,",
                         "RCPT TO:<u@x> NOTIFY=,DELAY", "RCPT TO:<u@x> NOTIFY=SOMETIMES",
                         "RCPT TO:<u@x> NOTIFY=DELAY,DELAY", "RCPT TO:<u@x> NOTIFY",
                         "RCPT TO:<u@x> NOTIFY=NEVER NOTIFY=NEVER"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_err(bad[i], 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err_ext("RCPT TO:<u@x> NOTIFY=NEVER", SMTPCORE_EXT_SIZE, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
}

Test(rcpt_params, orcpt)
{
    expect_ok("RCPT TO:<u@x> ORCPT=rfc822;u+2Bx@example.com", SC_VERB_RCPT);
    cr_assert(str_is(cmd.rcpt.orcpt, "rfc822;u+2Bx@example.com"));
    expect_ok("RCPT TO:<u@x> ORCPT=utf-8;u@x NOTIFY=FAILURE", SC_VERB_RCPT);
    expect_ok("RCPT TO:<u@x> ORCPT=rfc822;", SC_VERB_RCPT); /* xtext may be empty (RFC 3461) */
    cr_assert(str_is(cmd.rcpt.orcpt, "rfc822;"));
    const char *bad[] = {"RCPT TO:<u@x> ORCPT=rfc822", "RCPT TO:<u@x> ORCPT=;u@x",
                         "RCPT TO:<u@x> ORCPT=rfc822;a+zz",
                         "RCPT TO:<u@x> ORCPT=rf(c;a", "RCPT TO:<u@x> ORCPT=a;b ORCPT=a;b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_err(bad[i], 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
    expect_err_ext("RCPT TO:<u@x> ORCPT=rfc822;a", SMTPCORE_EXT_SIZE, 555, 5, 4,
                   SMTPCORE_V_UNKNOWN_PARAMETER);
}

/* ---- BDAT ---- */

Test(bdat, forms)
{
    expect_ok("BDAT 1000", SC_VERB_BDAT);
    cr_assert_eq(cmd.chunk_size, 1000);
    cr_assert_eq(cmd.last, 0);
    expect_ok("BDAT 0 LAST", SC_VERB_BDAT);
    cr_assert_eq(cmd.chunk_size, 0);
    cr_assert_eq(cmd.last, 1);
    expect_ok("bdat 5 last", SC_VERB_BDAT);
    cr_assert_eq(cmd.last, 1);
    expect_ok("BDAT 18446744073709551614", SC_VERB_BDAT);
    cr_assert_eq(cmd.chunk_size, UINT64_MAX - 1);
    const char *bad[] = {"BDAT", "BDAT x", "BDAT 10 FIRST", "BDAT -1", "BDAT 10 LAST x",
                         "BDAT 99999999999999999999999", "BDAT 18446744073709551615",
                         "BDAT 1x LAST"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_err(bad[i], 501, 5, 4, SMTPCORE_V_BAD_PARAMETER);
        cr_assert_eq(err.enhanced.detail, 4);
        cr_assert_eq(cmd.verb, SC_VERB_BDAT);
    }
}

/* ---- AUTH ---- */

Test(auth, forms)
{
    expect_ok("AUTH PLAIN", SC_VERB_AUTH);
    cr_assert(str_is(cmd.mechanism, "PLAIN"));
    cr_assert_eq(cmd.initial_response.len, 0);
    expect_ok("AUTH PLAIN AGFsaWNlAHNlY3JldA==", SC_VERB_AUTH);
    cr_assert(str_is(cmd.initial_response, "AGFsaWNlAHNlY3JldA=="));
    expect_ok("AUTH PLAIN =", SC_VERB_AUTH);
    cr_assert(str_is(cmd.initial_response, "="));
    expect_ok("AUTH SCRAM-SHA-256", SC_VERB_AUTH);
    expect_ok("AUTH X_Y1", SC_VERB_AUTH);
    expect_ok("AUTH ABCDEFGHIJKLMNOPQRST", SC_VERB_AUTH); /* 20 chars */
    const char *bad[] = {"AUTH", "AUTH plain", "AUTH ABCDEFGHIJKLMNOPQRSTU", "AUTH PL@IN",
                         "AUTH PLAIN abc", "AUTH PLAIN ab=c", "AUTH PLAIN a===",
                         "AUTH PLAIN AAAA BBBB", "AUTH PLAIN ==", "AUTH PLAIN A=AA"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_err(bad[i], 501, 5, 2, SMTPCORE_V_SYNTAX);
        cr_assert_eq(err.enhanced.detail, 2);
        cr_assert_eq(cmd.verb, SC_VERB_AUTH);
    }
}

/* ---- injection guard ---- */

Test(check_arg, crlf_nul)
{
    cr_assert_eq(sc_command_check_arg("abc", 3), 0);
    cr_assert_eq(sc_command_check_arg("", 0), 0);
    cr_assert_eq(sc_command_check_arg("a\rb", 3), -1);
    cr_assert_eq(sc_command_check_arg("a\nb", 3), -1);
    cr_assert_eq(sc_command_check_arg("a\0b", 3), -1);
    cr_assert_eq(sc_command_check_arg(NULL, 0), 0);
    cr_assert_eq(sc_command_check_arg(NULL, 1), -1);
}

/* Zero-copy: every slice points into the line. */
Test(zero_copy, slices_in_line)
{
    const char *line = "MAIL FROM:<a@b.example> ENVID=x AUTH=<>";
    cr_assert_eq(parse(line), 0);
    cr_assert(cmd.mailbox.ptr > line && cmd.mailbox.ptr < line + strlen(line));
    cr_assert(cmd.mail.envid.ptr > line && cmd.mail.envid.ptr < line + strlen(line));
    cr_assert_eq(cmd.arg.ptr, line + 5);
}

/* Deterministic mutation run: the parser must never read outside the line (ASan checks it
 * in sanitizer builds) and every slice it returns must lie inside the line. */
static int in_line(smtpcore_str s, const char *line, size_t len)
{
    if (s.len == 0)
        return 1;
    return s.ptr >= line && s.ptr + s.len <= line + len;
}

Test(robustness, mutated_lines_stay_in_bounds)
{
    static const char *seeds[] = {
        ("MAIL FROM:<@a.example,@b.example:\"q\\\"x\"@[IPv6:1::2]> SIZE=10 BODY=8BITMIME "
         "SMTPUTF8 RET=FULL ENVID=a+2B AUTH=<>"),
        "RCPT TO:<Postmaster> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;a+2Bb@c",
        "EHLO [IPv6:::ffff:192.0.2.1]", "BDAT 123 LAST", "AUTH PLAIN AGFsaWNlAHNlY3JldA==",
        "RCPT TO:<\xc3\xa9@b\xc3\xbc.example>", "MAIL FROM:<u@[tag:a>b]>",
    };
    uint32_t rng = 12345;
    for (size_t iter = 0; iter < 40000; iter++) {
        const char *seed = seeds[iter % (sizeof seeds / sizeof seeds[0])];
        size_t len = strlen(seed);
        /* Exact-size heap copy so ASan catches any read past the end. */
        char *line = malloc(len ? len : 1);
        cr_assert_not_null(line);
        memcpy(line, seed, len);
        int muts = (int)(iter % 4) + 1;
        for (int k = 0; k < muts; k++) {
            rng = rng * 1103515245u + 12345u;
            size_t pos = (rng >> 8) % len;
            rng = rng * 1103515245u + 12345u;
            unsigned op = (rng >> 16) % 4;
            if (op == 0)
                line[pos] = (char)(rng >> 24);
            else if (op == 1)
                line[pos] = "<>@:[]\".=, \\+"[(rng >> 24) % 13];
            else if (op == 2)
                len = pos + 1; /* truncate */
            else
                line[pos] = ' ';
        }
        int r = sc_command_parse(line, len, ALL_EXT, &cmd, &err);
        if (r == 0) {
            cr_assert(in_line(cmd.arg, line, len));
            cr_assert(in_line(cmd.domain, line, len));
            cr_assert(in_line(cmd.mailbox, line, len));
            cr_assert(in_line(cmd.mail.envid, line, len));
            cr_assert(in_line(cmd.mail.auth, line, len));
            cr_assert(in_line(cmd.rcpt.orcpt, line, len));
            cr_assert(in_line(cmd.mechanism, line, len));
            cr_assert(in_line(cmd.initial_response, line, len));
        } else {
            cr_assert(err.code == 500 || err.code == 501 || err.code == 553 || err.code == 555);
            cr_assert_not_null(err.text);
        }
        free(line);
    }
}
