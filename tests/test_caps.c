/* SPDX-License-Identifier: MIT */
/* EHLO capability parsing on real-world replies. */
#include <criterion/criterion.h>

#include <string.h>

#include <smtpcore/smtpcore.h>

static smtpcore_reply mkreply(const char *raw)
{
    smtpcore_reply r;
    memset(&r, 0, sizeof r);
    r.code = 250;
    r.raw.ptr = raw;
    r.raw.len = strlen(raw);
    for (const char *p = raw; *p; p++)
        r.nlines += *p == '\n';
    return r;
}

static smtpcore_caps caps_of(const char *raw)
{
    smtpcore_reply r = mkreply(raw);
    smtpcore_caps c;
    memset(&c, 0xAB, sizeof c);
    cr_assert_eq(smtpcore_caps_parse(&r, &c), SMTPCORE_OK);
    cr_assert_eq(c.esmtp, 1);
    return c;
}

Test(caps, postfix)
{
    smtpcore_caps c = caps_of("250-mail.example.org\r\n"
                              "250-PIPELINING\r\n"
                              "250-SIZE 10240000\r\n"
                              "250-VRFY\r\n"
                              "250-ETRN\r\n"
                              "250-STARTTLS\r\n"
                              "250-AUTH PLAIN LOGIN\r\n"
                              "250-AUTH=PLAIN LOGIN\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250-8BITMIME\r\n"
                              "250-DSN\r\n"
                              "250-SMTPUTF8\r\n"
                              "250 CHUNKING\r\n");
    cr_assert_eq(c.extensions, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_SIZE | SMTPCORE_EXT_STARTTLS |
                                   SMTPCORE_EXT_AUTH | SMTPCORE_EXT_ENHANCEDSTATUSCODES |
                                   SMTPCORE_EXT_8BITMIME | SMTPCORE_EXT_DSN |
                                   SMTPCORE_EXT_SMTPUTF8 | SMTPCORE_EXT_CHUNKING);
    cr_assert_eq(c.size_limit, 10240000u);
    cr_assert_eq(c.auth_mechs, SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_LOGIN);
}

/* Exchange 2007, from seed 003 (postfix-users, "FrontBridge RFC 2920 write-up"). */
Test(caps, exchange_2007_seed_003)
{
    smtpcore_caps c = caps_of("250-exchange.example.com Hello [192.0.2.1]\r\n"
                              "250-SIZE 29999104\r\n"
                              "250-PIPELINING\r\n"
                              "250-DSN\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250-STARTTLS\r\n"
                              "250-AUTH\r\n"
                              "250-8BITMIME\r\n"
                              "250-BINARYMIME\r\n"
                              "250-CHUNKING\r\n"
                              "250 XEXCH50\r\n");
    cr_assert_eq(c.extensions, SMTPCORE_EXT_SIZE | SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_DSN |
                                   SMTPCORE_EXT_ENHANCEDSTATUSCODES | SMTPCORE_EXT_STARTTLS |
                                   SMTPCORE_EXT_AUTH | SMTPCORE_EXT_8BITMIME |
                                   SMTPCORE_EXT_BINARYMIME | SMTPCORE_EXT_CHUNKING);
    cr_assert_eq(c.size_limit, 29999104u);
    cr_assert_eq(c.auth_mechs, 0); /* bare AUTH: no mechanism offered yet */
}

Test(caps, gmail_like)
{
    smtpcore_caps c = caps_of("250-smtp.gmail.com at your service, [203.0.113.9]\r\n"
                              "250-SIZE 35882577\r\n"
                              "250-8BITMIME\r\n"
                              "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250-PIPELINING\r\n"
                              "250-CHUNKING\r\n"
                              "250 SMTPUTF8\r\n");
    cr_assert_eq(c.size_limit, 35882577u);
    cr_assert_eq(c.auth_mechs, SMTPCORE_AUTH_LOGIN | SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_XOAUTH2 |
                                   SMTPCORE_AUTH_OTHER);
    cr_assert(c.extensions & SMTPCORE_EXT_SMTPUTF8);
    cr_assert(c.extensions & SMTPCORE_EXT_CHUNKING);
    cr_assert_eq(c.extensions & SMTPCORE_EXT_STARTTLS, 0);
}

Test(caps, sendmail_with_help_and_cram)
{
    smtpcore_caps c = caps_of("250-castaway.example.net Hello localhost [127.0.0.1], pleased to meet you\r\n"
                              "250-ENHANCEDSTATUSCODES\r\n"
                              "250-PIPELINING\r\n"
                              "250-8BITMIME\r\n"
                              "250-SIZE\r\n"
                              "250-DSN\r\n"
                              "250-ETRN\r\n"
                              "250-AUTH GSSAPI DIGEST-MD5 CRAM-MD5\r\n"
                              "250-DELIVERBY\r\n"
                              "250 HELP\r\n");
    cr_assert(c.extensions & SMTPCORE_EXT_SIZE);
    cr_assert_eq(c.size_limit, 0);
    cr_assert(c.extensions & SMTPCORE_EXT_HELP);
    cr_assert_eq(c.auth_mechs, SMTPCORE_AUTH_CRAM_MD5 | SMTPCORE_AUTH_OTHER);
}

Test(caps, lower_case_and_odd_spacing)
{
    smtpcore_caps c = caps_of("250-host greets you\n"
                              "250-  pipelining  \r\n"
                              "250-size\t 1000\r\n"
                              "250-auth   plain\t login \r\n"
                              "250-StartTLS\r\n"
                              "250-\r\n"
                              "250-8bitmime\r\n"
                              "250 help\r\n");
    cr_assert_eq(c.extensions, SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_SIZE | SMTPCORE_EXT_AUTH |
                                   SMTPCORE_EXT_STARTTLS | SMTPCORE_EXT_8BITMIME |
                                   SMTPCORE_EXT_HELP);
    cr_assert_eq(c.size_limit, 1000);
    cr_assert_eq(c.auth_mechs, SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_LOGIN);
}

Test(caps, greeting_line_is_not_a_keyword)
{
    smtpcore_caps c = caps_of("250 PIPELINING\r\n");
    cr_assert_eq(c.extensions, 0);
    c = caps_of("250-STARTTLS\r\n250 DSN\r\n");
    cr_assert_eq(c.extensions, SMTPCORE_EXT_DSN);
}

Test(caps, keywords_must_match_exactly)
{
    smtpcore_caps c = caps_of("250-x\r\n250-PIPELININGX\r\n250-XDSN\r\n250-DSNX\r\n"
                              "250-SIZEX 5\r\n250-AUTHX PLAIN\r\n250 VRFY\r\n");
    cr_assert_eq(c.extensions, 0);
    cr_assert_eq(c.size_limit, 0);
    cr_assert_eq(c.auth_mechs, 0);
}

Test(caps, size_values)
{
    cr_assert_eq(caps_of("250-x\r\n250 SIZE 0\r\n").size_limit, 0);
    cr_assert_eq(caps_of("250-x\r\n250 SIZE 18446744073709551615\r\n").size_limit,
                 UINT64_MAX);
    cr_assert_eq(caps_of("250-x\r\n250 SIZE 18446744073709551616\r\n").size_limit,
                 UINT64_MAX);
    cr_assert_eq(caps_of("250-x\r\n250 SIZE 99999999999999999999999999\r\n").size_limit,
                 UINT64_MAX);
    cr_assert_eq(caps_of("250-x\r\n250 SIZE 12ab\r\n").size_limit, 0);
    cr_assert_eq(caps_of("250-x\r\n250 SIZE -5\r\n").size_limit, 0);
    smtpcore_caps c = caps_of("250-x\r\n250 SIZE 12ab\r\n");
    cr_assert(c.extensions & SMTPCORE_EXT_SIZE);
}

Test(caps, old_auth_equals_form)
{
    smtpcore_caps c = caps_of("250-x\r\n250 AUTH=LOGIN PLAIN\r\n");
    cr_assert(c.extensions & SMTPCORE_EXT_AUTH);
    cr_assert_eq(c.auth_mechs, SMTPCORE_AUTH_LOGIN | SMTPCORE_AUTH_PLAIN);
    c = caps_of("250-x\r\n250 auth=\r\n");
    cr_assert(c.extensions & SMTPCORE_EXT_AUTH);
    cr_assert_eq(c.auth_mechs, 0);
}

Test(caps, unterminated_last_line_and_short_lines)
{
    smtpcore_caps c = caps_of("250-x\r\n250-DSN\r\n250");
    cr_assert_eq(c.extensions, SMTPCORE_EXT_DSN);
    c = caps_of("250-x\r\n250 CHUNKING");
    cr_assert_eq(c.extensions, SMTPCORE_EXT_CHUNKING);
}

Test(caps, invalid_arguments)
{
    smtpcore_caps c;
    smtpcore_reply r = mkreply("250-x\r\n250 DSN\r\n");
    cr_assert_eq(smtpcore_caps_parse(NULL, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_eq(smtpcore_caps_parse(&r, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    r.code = 550;
    cr_assert_eq(smtpcore_caps_parse(&r, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    r.code = 250;
    r.raw.ptr = NULL;
    cr_assert_eq(smtpcore_caps_parse(&r, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
}
