/* SPDX-License-Identifier: MIT */
/* The ABI rule (smtpcore.h): one struct_size rule for every struct the host fills in
 * (server config, client config, MAIL parameters), checked with "old" structs (a prefix
 * of today's, as a host built against an older header would pass) and with too large
 * ones; events owned by the session and handed out as const pointers; the error classes. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

/* ---- "old" structs: the members up to a point, in today's order ---- */

/* smtpcore_server_config as it was before LMTP (it ends at allocator). */
typedef struct old_server_config {
    size_t struct_size;
    const char *hostname;
    const char *greeting_text;
    uint32_t extensions;
    uint32_t auth_mechs;
    uint64_t max_message_size;
    uint32_t max_recipients;
    uint32_t max_errors;
    size_t max_command_line;
    size_t max_text_line;
    size_t input_buffer_size;
    size_t output_buffer_size;
    smtpcore_helo_policy helo_policy;
    smtpcore_bare_lf_policy bare_lf_policy;
    smtpcore_talker_policy talker_policy;
    smtpcore_injection_policy injection_policy;
    int allow_plaintext_auth;
    int tls_active;
    const char *const *own_names;
    size_t own_names_count;
    const smtpcore_allocator *allocator;
} old_server_config;
_Static_assert(sizeof(old_server_config) ==
                   offsetof(smtpcore_server_config, allocator) + sizeof(void *),
               "old_server_config is a prefix of smtpcore_server_config");

/* smtpcore_client_config as it was before LMTP and PROXY (it ends at allocator). */
typedef struct old_client_config {
    size_t struct_size;
    const char *helo_name;
    uint32_t quirks;
    smtpcore_tls_policy tls_policy;
    int tls_active;
    const char *auth_user;
    const char *auth_password;
    const char *auth_mechanism;
    size_t max_reply_line;
    size_t input_buffer_size;
    size_t output_buffer_size;
    size_t max_recipients;
    size_t envelope_buffer_size;
    const smtpcore_allocator *allocator;
} old_client_config;
_Static_assert(sizeof(old_client_config) ==
                   offsetof(smtpcore_client_config, allocator) + sizeof(void *),
               "old_client_config is a prefix of smtpcore_client_config");

/* smtpcore_mail_params without the DSN and AUTH strings (it ends at ret). */
typedef struct old_mail_params {
    size_t struct_size;
    uint64_t size;
    int has_size;
    smtpcore_body_type body;
    int smtputf8;
    smtpcore_dsn_ret ret;
} old_mail_params;
_Static_assert(sizeof(old_mail_params) == offsetof(smtpcore_mail_params, envid),
               "old_mail_params is a prefix of smtpcore_mail_params");

/* An old struct at the front of a block whose tail is poisoned: a library that read past
 * struct_size would see 0xA5 bytes (ASan would also catch a read past an exact-size
 * block, see the server test). */
static void *poisoned_copy(const void *old, size_t old_size, size_t full_size)
{
    unsigned char *p = malloc(full_size);
    cr_assert_not_null(p);
    memset(p, 0xA5, full_size);
    memcpy(p, old, old_size);
    return p;
}

/* ---- helpers ---- */

static void srv_take(smtpcore_server *s, char *buf, size_t cap)
{
    size_t n = smtpcore_server_copy_output(s, buf, cap - 1);
    buf[n] = '\0';
}

static const smtpcore_server_event *srv_next(smtpcore_server *s)
{
    const smtpcore_server_event *ev = NULL;
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_assert_not_null(ev);
    return ev;
}

static void srv_feed(smtpcore_server *s, const char *text)
{
    size_t used = 0;
    cr_assert_eq(smtpcore_server_receive(s, text, strlen(text), &used), SMTPCORE_OK);
    cr_assert_eq(used, strlen(text));
}

static void cli_feed(smtpcore_client *c, const char *text)
{
    size_t used = 0;
    cr_assert_eq(smtpcore_client_receive(c, text, strlen(text), &used), SMTPCORE_OK);
    cr_assert_eq(used, strlen(text));
}

static void cli_take(smtpcore_client *c, char *buf, size_t cap)
{
    size_t n = smtpcore_client_copy_output(c, buf, cap - 1);
    buf[n] = '\0';
}

/* Drains client events up to READY (or none). */
static smtpcore_client_event_type cli_until_ready(smtpcore_client *c)
{
    for (int i = 0; i < 32; i++) {
        const smtpcore_client_event *ev = NULL;
        cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
        cr_assert_not_null(ev);
        if (ev->type == SMTPCORE_CEV_READY || ev->type == SMTPCORE_CEV_NONE)
            return ev->type;
    }
    cr_assert_fail("no READY");
    return SMTPCORE_CEV_NONE;
}

/* A client at READY after an EHLO reply offering SIZE, DSN and AUTH. */
static smtpcore_client *cli_ready(void)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.tls_policy = SMTPCORE_TLS_NEVER;
    smtpcore_client *c = NULL;
    cr_assert_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_OK);
    char out[1024];
    cli_feed(c, "220 mx.example.org ESMTP\r\n");
    cr_assert_eq(cli_until_ready(c), SMTPCORE_CEV_NONE);
    cli_take(c, out, sizeof out);
    cli_feed(c, "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-DSN\r\n"
                "250 AUTH PLAIN\r\n");
    cr_assert_eq(cli_until_ready(c), SMTPCORE_CEV_READY);
    return c;
}

/* ---- server config ---- */

Test(abi_server_config, old_struct_gets_defaults_for_the_rest)
{
    smtpcore_server_config now;
    smtpcore_server_config_init(&now);
    old_server_config old;
    memcpy(&old, &now, sizeof old); /* what an old _init() set: the same defaults */
    old.struct_size = sizeof old;
    old.hostname = "old.example.org";
    /* AUTH offered without TLS, so that failed AUTHs can show max_auth_failures (a member
     * after the old struct's end) at its default. */
    old.extensions |= SMTPCORE_EXT_AUTH;
    old.auth_mechs = SMTPCORE_AUTH_PLAIN;
    old.allow_plaintext_auth = 1;
    /* Exactly its size, so ASan sees any read past it. */
    old_server_config *exact = malloc(sizeof old);
    cr_assert_not_null(exact);
    memcpy(exact, &old, sizeof old);
    void *poisoned = poisoned_copy(&old, sizeof old, sizeof now);
    const void *cfgs[] = {exact, poisoned};
    for (size_t i = 0; i < 2; i++) {
        smtpcore_server *s = NULL;
        cr_assert_eq(smtpcore_server_new(&s, (const smtpcore_server_config *)cfgs[i]),
                     SMTPCORE_OK, "%zu", i);
        char out[1024];
        cr_assert_eq(srv_next(s)->type, SMTPCORE_SEV_CONNECT);
        cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
        srv_take(s, out, sizeof out);
        cr_expect_str_eq(out, "220 old.example.org ESMTP smtpcore\r\n");
        /* lmtp, proxy_protocol, sync_policy...: defaults, not the poison (LMTP would
         * refuse EHLO, PROXY would wait for a header). */
        cr_expect_eq(smtpcore_server_lmtp(s), 0);
        srv_feed(s, "EHLO c.example\r\n");
        cr_assert_eq(srv_next(s)->type, SMTPCORE_SEV_HELO);
        cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
        srv_take(s, out, sizeof out);
        cr_expect(strncmp(out, "250-old.example.org", 19) == 0, "%s", out);
        /* max_auth_failures keeps its default (3): not 0xA5A5A5A5, not 0. An initial
         * response that is not base64 is a failed AUTH; the third ends the session. */
        for (int try = 1; try <= 3; try++) {
            srv_feed(s, "AUTH PLAIN !!!\r\n");
            const smtpcore_server_event *ev = NULL;
            for (int n = 0; n < 8; n++) {
                cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
                if (ev->type == SMTPCORE_SEV_NONE)
                    break;
            }
            srv_take(s, out, sizeof out);
            cr_expect_eq(smtpcore_server_auth_failures(s), (uint32_t)try, "%zu", i);
            if (try < 3)
                cr_expect(strstr(out, "421") == NULL, "try %d: %s", try, out);
            else
                cr_expect(strstr(out, "421 4.7.0 old.example.org") != NULL, "%s", out);
        }
        smtpcore_server_del(s);
    }
    free(exact);
    free(poisoned);
}

Test(abi_server_config, zero_tiny_and_larger_refused)
{
    smtpcore_server_config c;
    smtpcore_server *s = (smtpcore_server *)1;
    smtpcore_server_config_init(&c);
    c.struct_size = 0;
    cr_expect_eq(smtpcore_server_new(&s, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_null(s);
    c.struct_size = sizeof(size_t) - 1;
    cr_expect_eq(smtpcore_server_new(&s, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    /* A newer header's struct, even with an all-zero tail. */
    unsigned char *big = calloc(1, sizeof c + 16);
    cr_assert_not_null(big);
    smtpcore_server_config_init((smtpcore_server_config *)(void *)big);
    size_t n = sizeof c + 16;
    memcpy(big, &n, sizeof n);
    cr_expect_eq(smtpcore_server_new(&s, (smtpcore_server_config *)(void *)big),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    free(big);
    /* Exactly today's size and the smallest sensible one are fine. */
    c.struct_size = sizeof c;
    cr_expect_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    smtpcore_server_del(s);
    c.struct_size = sizeof(size_t); /* only struct_size: every field a default */
    cr_expect_eq(smtpcore_server_new(&s, &c), SMTPCORE_OK);
    smtpcore_server_del(s);
}

/* ---- client config ---- */

Test(abi_client_config, old_struct_gets_defaults_for_the_rest)
{
    smtpcore_client_config now;
    smtpcore_client_config_init(&now);
    old_client_config old;
    memcpy(&old, &now, sizeof old);
    old.struct_size = sizeof old;
    old.helo_name = "old.example.org";
    old_client_config *exact = malloc(sizeof old);
    cr_assert_not_null(exact);
    memcpy(exact, &old, sizeof old);
    void *poisoned = poisoned_copy(&old, sizeof old, sizeof now);
    const void *cfgs[] = {exact, poisoned};
    for (size_t i = 0; i < 2; i++) {
        smtpcore_client *c = NULL;
        cr_assert_eq(smtpcore_client_new(&c, (const smtpcore_client_config *)cfgs[i]),
                     SMTPCORE_OK, "%zu", i);
        char out[1024];
        /* No PROXY header first (proxy_protocol is OFF, not the poison). */
        cli_take(c, out, sizeof out);
        cr_expect_str_eq(out, "");
        cli_feed(c, "220 mx.example.org ESMTP\r\n");
        cr_expect_eq(cli_until_ready(c), SMTPCORE_CEV_NONE);
        cli_take(c, out, sizeof out);
        /* EHLO, not LHLO (lmtp is 0). */
        cr_expect_str_eq(out, "EHLO old.example.org\r\n");
        smtpcore_client_del(c);
    }
    free(exact);
    free(poisoned);
}

Test(abi_client_config, zero_tiny_and_larger_refused)
{
    smtpcore_client_config c;
    smtpcore_client *cl = (smtpcore_client *)1;
    smtpcore_client_config_init(&c);
    c.helo_name = "client.example.org";
    c.struct_size = 0;
    cr_expect_eq(smtpcore_client_new(&cl, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_null(cl);
    c.struct_size = sizeof(size_t) - 1;
    cr_expect_eq(smtpcore_client_new(&cl, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
    unsigned char *big = calloc(1, sizeof c + 16);
    cr_assert_not_null(big);
    memcpy(big, &c, sizeof c);
    size_t n = sizeof c + 16;
    memcpy(big, &n, sizeof n);
    cr_expect_eq(smtpcore_client_new(&cl, (smtpcore_client_config *)(void *)big),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    free(big);
    c.struct_size = sizeof c;
    cr_expect_eq(smtpcore_client_new(&cl, &c), SMTPCORE_OK);
    smtpcore_client_del(cl);
    /* Only struct_size: helo_name (required) is then missing. */
    c.struct_size = sizeof(size_t);
    cr_expect_eq(smtpcore_client_new(&cl, &c), SMTPCORE_ERR_INVALID_ARGUMENT);
}

/* ---- MAIL parameters ---- */

Test(abi_mail_params, init)
{
    smtpcore_mail_params p;
    memset(&p, 0xff, sizeof p);
    smtpcore_mail_params_init(&p);
    cr_expect_eq(p.struct_size, sizeof p);
    cr_expect_eq(p.has_size, 0);
    cr_expect_eq(p.body, SMTPCORE_BODY_UNSPECIFIED);
    cr_expect_eq(p.ret, SMTPCORE_RET_UNSPECIFIED);
    cr_expect_null(p.envid.ptr);
    cr_expect_null(p.auth.ptr);
    smtpcore_mail_params_init(NULL); /* ignored */
}

Test(abi_mail_params, old_struct_gets_defaults_for_the_rest)
{
    old_mail_params old;
    memset(&old, 0, sizeof old);
    old.struct_size = sizeof old;
    old.size = 1234;
    old.has_size = 1;
    old.ret = SMTPCORE_RET_HDRS;
    /* The tail (envid, auth) is poison: a library reading it would send ENVID=/AUTH= or
     * crash on the pointers. */
    void *poisoned = poisoned_copy(&old, sizeof old, sizeof(smtpcore_mail_params));
    smtpcore_client *c = cli_ready();
    char out[1024];
    cli_take(c, out, sizeof out);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", poisoned), SMTPCORE_OK);
    cli_take(c, out, sizeof out);
    cr_expect_str_eq(out, "MAIL FROM:<a@example.org> SIZE=1234 RET=HDRS\r\n");
    smtpcore_client_del(c);
    free(poisoned);
}

Test(abi_mail_params, zero_tiny_and_larger_refused)
{
    smtpcore_client *c = cli_ready();
    char out[1024];
    cli_take(c, out, sizeof out);
    smtpcore_mail_params p;
    memset(&p, 0, sizeof p); /* not initialised: struct_size 0 */
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", &p), SMTPCORE_ERR_INVALID_ARGUMENT);
    p.struct_size = sizeof(size_t) - 1;
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", &p), SMTPCORE_ERR_INVALID_ARGUMENT);
    unsigned char big[sizeof p + 16];
    memset(big, 0, sizeof big);
    size_t n = sizeof big;
    memcpy(big, &n, sizeof n);
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", (void *)big),
                 SMTPCORE_ERR_INVALID_ARGUMENT);
    /* Refused calls sent nothing and left the session as it was. */
    cli_take(c, out, sizeof out);
    cr_expect_str_eq(out, "");
    smtpcore_mail_params_init(&p);
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", &p), SMTPCORE_OK);
    cli_take(c, out, sizeof out);
    cr_expect_str_eq(out, "MAIL FROM:<a@example.org>\r\n");
    smtpcore_client_del(c);
}

/* The server's MAIL event carries the library's struct_size. */
Test(abi_mail_params, server_event_struct_size)
{
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    char out[1024];
    cr_assert_eq(srv_next(s)->type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    srv_take(s, out, sizeof out); /* the greeting goes out before the client speaks */
    srv_feed(s, "EHLO c.example\r\n");
    cr_assert_eq(srv_next(s)->type, SMTPCORE_SEV_HELO);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    srv_take(s, out, sizeof out);
    srv_feed(s, "MAIL FROM:<a@example.org> SIZE=99\r\n");
    const smtpcore_server_event *ev = srv_next(s);
    cr_assert_eq(ev->type, SMTPCORE_SEV_MAIL);
    cr_expect_eq(ev->mail.struct_size, sizeof(smtpcore_mail_params));
    cr_expect_eq(ev->mail.size, 99);
    smtpcore_server_del(s);
}

/* ---- library-owned events ---- */

Test(abi_events, server_event_survives_answers_and_output)
{
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    char out[1024];
    cr_assert_eq(srv_next(s)->type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    srv_take(s, out, sizeof out); /* the greeting goes out before the client speaks */
    srv_feed(s, "EHLO c.example\r\n");
    const smtpcore_server_event *ev = srv_next(s);
    cr_assert_eq(ev->type, SMTPCORE_SEV_HELO);
    cr_assert_eq(smtpcore_server_accept(s), SMTPCORE_OK);
    srv_take(s, out, sizeof out);
    srv_feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n");
    ev = srv_next(s);
    cr_assert_eq(ev->type, SMTPCORE_SEV_MAIL);
    smtpcore_server_event before = *ev;
    /* A refusal, output and a consume: the host still reads the same event. */
    cr_assert_eq(smtpcore_server_reject(s, 550, "5.7.1", "no"), SMTPCORE_OK);
    srv_take(s, out, sizeof out);
    cr_expect(memcmp(&before, ev, sizeof before) == 0);
    cr_expect_eq(ev->address.len, strlen("a@example.org"));
    cr_expect(memcmp(ev->address.ptr, "a@example.org", ev->address.len) == 0);
    /* The next call reuses the same storage: the event was the session's. */
    const smtpcore_server_event *next = srv_next(s);
    cr_expect_eq(next->type, SMTPCORE_SEV_PROTOCOL_ERROR); /* RCPT without MAIL */
    /* Nothing to do: a NONE event, never NULL. */
    for (int i = 0; i < 4 && next->type != SMTPCORE_SEV_NONE; i++)
        next = srv_next(s);
    cr_expect_eq(next->type, SMTPCORE_SEV_NONE);
    smtpcore_server_del(s);
}

Test(abi_events, server_bad_arguments)
{
    const smtpcore_server_event *ev = NULL;
    cr_expect_eq(smtpcore_server_next_event(NULL, &ev), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(ev);
    cr_expect_eq(ev->type, SMTPCORE_SEV_NONE);
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_next_event(s, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    smtpcore_server_del(s);
}

/* accept_next() hands out the same session-owned event as next_event(), and a bad
 * call gets the same static NONE event. */
Test(abi_events, server_accept_next_same_event)
{
    const smtpcore_server_event *ev = NULL, *ev2 = NULL;
    cr_expect_eq(smtpcore_server_accept_next(NULL, &ev), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(ev);
    cr_expect_eq(smtpcore_server_next_event(NULL, &ev2), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(ev, ev2);
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_server_accept_next(s, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_eq(smtpcore_server_next_event(s, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_SEV_CONNECT);
    cr_assert_eq(smtpcore_server_accept_next(s, &ev2), SMTPCORE_OK);
    cr_expect_eq(ev2, ev);
    cr_expect_eq(ev2->type, SMTPCORE_SEV_NONE);
    smtpcore_server_del(s);
}

Test(abi_events, client_event_survives_calls_and_output)
{
    smtpcore_client *c = cli_ready();
    const smtpcore_client_event *ev = NULL;
    char out[1024];
    cli_take(c, out, sizeof out);
    cr_assert_eq(smtpcore_client_noop(c), SMTPCORE_OK);
    cli_take(c, out, sizeof out);
    cr_expect_str_eq(out, "NOOP\r\n");
    cli_feed(c, "250 2.0.0 fine\r\n");
    cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
    cr_assert_eq(ev->type, SMTPCORE_CEV_REPLY);
    smtpcore_client_event before = *ev;
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_OK);
    cli_take(c, out, sizeof out);
    cr_expect(memcmp(&before, ev, sizeof before) == 0);
    cr_expect_eq(ev->reply.code, 250);
    smtpcore_client_del(c);
}

Test(abi_events, client_bad_arguments)
{
    const smtpcore_client_event *ev = NULL;
    cr_expect_eq(smtpcore_client_next_event(NULL, &ev), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_not_null(ev);
    cr_expect_eq(ev->type, SMTPCORE_CEV_NONE);
    smtpcore_client *c = cli_ready();
    cr_expect_eq(smtpcore_client_next_event(c, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
    cr_expect_eq(ev->type, SMTPCORE_CEV_NONE);
    smtpcore_client_del(c);
}

/* ---- error classes ---- */

Test(abi_errors, fatal_retryable_and_refused)
{
    cr_expect_eq(smtpcore_error_is_fatal(SMTPCORE_OK), 0);
    cr_expect_eq(smtpcore_error_is_fatal(SMTPCORE_ERR_BUFFER_FULL), 0);
    cr_expect_neq(smtpcore_error_is_fatal(SMTPCORE_ERR_NOMEM), 0);
    cr_expect_neq(smtpcore_error_is_fatal(SMTPCORE_ERR_CLOSED), 0);
    const int refused[] = {SMTPCORE_ERR_INVALID_ARGUMENT, SMTPCORE_ERR_INVALID_STATE,
                           SMTPCORE_ERR_INJECTION,        SMTPCORE_ERR_SYNTAX,
                           SMTPCORE_ERR_UNSUPPORTED,      SMTPCORE_ERR_TOO_LONG,
                           SMTPCORE_ERR_NO_ANSWER_PENDING, SMTPCORE_ERR_8BIT_NOT_OFFERED};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        cr_expect_eq(smtpcore_error_is_fatal(refused[i]), 0, "%d", refused[i]);
    cr_expect_neq(smtpcore_error_is_fatal(-1000), 0); /* unknown: fatal */
    /* A closed session's refusal is the fatal class. */
    smtpcore_server *s = NULL;
    cr_assert_eq(smtpcore_server_new(&s, NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_server_receive_eof(s), SMTPCORE_OK);
    size_t used = 0;
    int rc = smtpcore_server_receive(s, "x", 1, &used);
    cr_expect_eq(rc, SMTPCORE_ERR_CLOSED);
    cr_expect_neq(smtpcore_error_is_fatal(rc), 0);
    smtpcore_server_del(s);
}
