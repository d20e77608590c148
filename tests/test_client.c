/* SPDX-License-Identifier: MIT */
/* Client session API: configuration checks, memory bounds, event slices, STARTTLS
 * injection accounting, backpressure and robustness against garbage replies. The
 * conversation-level behaviour is covered by the client transcripts. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#include "test_alloc.h"

static void feed(smtpcore_client *c, const char *s)
{
    size_t n = strlen(s), used = 0;
    cr_assert_eq(smtpcore_client_receive(c, s, n, &used), SMTPCORE_OK);
    cr_assert_eq(used, n);
}

static smtpcore_client_event next(smtpcore_client *c)
{
    const smtpcore_client_event *ev;
    cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
    return *ev; /* a snapshot: the session's event changes at the next call */
}

/* Drops all pending output, returning it in buf (NUL-terminated). */
static size_t take(smtpcore_client *c, char *buf, size_t cap)
{
    size_t n = smtpcore_client_copy_output(c, buf, cap - 1);
    buf[n] = '\0';
    return n;
}

static smtpcore_client *make(smtpcore_client_config *cfg)
{
    smtpcore_client *c = NULL;
    cr_assert_eq(smtpcore_client_new(&c, cfg), SMTPCORE_OK);
    return c;
}

static smtpcore_client *ready_client(const char *ehlo_reply)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    smtpcore_client *c = make(&cfg);
    char out[512];
    feed(c, "220 mx ESMTP\r\n");
    cr_assert_eq(next(c).type, SMTPCORE_CEV_GREETING);
    take(c, out, sizeof out);
    cr_assert_str_eq(out, "EHLO client.example.org\r\n");
    feed(c, ehlo_reply);
    smtpcore_client_event ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_READY);
    return c;
}

Test(client_config, defaults)
{
    smtpcore_client_config cfg;
    memset(&cfg, 0xff, sizeof cfg);
    smtpcore_client_config_init(&cfg);
    cr_expect_eq(cfg.struct_size, sizeof cfg);
    cr_expect_eq(cfg.tls_policy, SMTPCORE_TLS_OPPORTUNISTIC);
    cr_expect_eq(cfg.max_reply_line, 1000);
    cr_expect_eq(cfg.input_buffer_size, 8192);
    cr_expect_eq(cfg.output_buffer_size, 8192);
    cr_expect_eq(cfg.max_recipients, 1000);
    cr_expect_eq(cfg.envelope_buffer_size, 65536);
    cr_expect_null(cfg.helo_name);
    cr_expect_null(cfg.allocator);
}

Test(client_config, refuses_bad_strings)
{
    smtpcore_client_config cfg;
    smtpcore_client *c = (smtpcore_client *)1;
    smtpcore_client_config_init(&cfg);
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_null(c);
    cr_expect_eq(smtpcore_client_new(NULL, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_client_new(&c, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);

    const char *bad_helo[] = {"a.example\r\nMAIL FROM:<x@y>", "a.example\n", "a.example\r"};
    for (size_t i = 0; i < 3; i++) {
        cfg.helo_name = bad_helo[i];
        cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INJECTION, "%zu", i);
    }
    cfg.helo_name = "this is Jupiter";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_SYNTAX);
    cfg.helo_name = "";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_SYNTAX);
    cfg.helo_name = "[999.1.1.1]";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_SYNTAX);

    cfg.helo_name = "client.example.org";
    cfg.auth_user = "user\r\nQUIT";
    cfg.auth_password = "pw";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INJECTION);
    cfg.auth_user = "user";
    cfg.auth_password = "pw\n";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INJECTION);
    cfg.auth_password = "pw";
    cfg.auth_mechanism = "PLAIN\r\n";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INJECTION);
    cfg.auth_mechanism = "PL AIN";
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_SYNTAX);
    cfg.auth_mechanism = "x.custom"; /* not a SASL mechanism character (RFC 4422 3.1) */
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_SYNTAX);
    cfg.auth_mechanism = "ABCDEFGHIJKLMNOPQRSTU"; /* 21 */
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_SYNTAX);
    cfg.auth_mechanism = NULL;
    cfg.auth_password = NULL;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cfg.auth_user = NULL;
    cfg.tls_policy = (smtpcore_tls_policy)7;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
}

/* Sizes outside their documented bounds are refused, not raised to the least value that
 * works (which the host would never learn of); the bounds themselves and 0 (the default)
 * are taken, and smtpcore_client_memory() shows the sizes asked for were used. */
Test(client_config, refuses_sizes_out_of_bounds)
{
    smtpcore_client_config base;
    smtpcore_client_config_init(&base);
    base.helo_name = "client.example.org";
    smtpcore_client_config cfg;
    smtpcore_client *c = (smtpcore_client *)1;

    cfg = base;
    cfg.max_reply_line = 7;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_null(c);
    cfg.max_reply_line = 8;
    cfg.input_buffer_size = 8;
    c = make(&cfg);
    smtpcore_client_del(c);

    cfg = base;
    cfg.max_reply_line = 2000; /* above the input buffer */
    cfg.input_buffer_size = 1999;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cfg.input_buffer_size = 0; /* the default, 8192, holds it */
    c = make(&cfg);
    smtpcore_client_del(c);
    cfg = base;
    cfg.input_buffer_size = 999; /* below the default max_reply_line */
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);

    cfg = base;
    cfg.output_buffer_size = 1023;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cfg.output_buffer_size = 1024;
    c = make(&cfg);
    size_t at_least = smtpcore_client_memory(c);
    smtpcore_client_del(c);
    cfg.output_buffer_size = 0;
    c = make(&cfg);
    cr_expect_eq(smtpcore_client_memory(c), at_least + 8192 - 1024);
    smtpcore_client_del(c);

    cfg = base;
    cfg.envelope_buffer_size = 1023;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cfg.envelope_buffer_size = 1024;
    c = make(&cfg);
    cr_expect_eq(smtpcore_client_memory(c), at_least + 8192 - 1024 - (65536 - 1024));
    smtpcore_client_del(c);

    cfg = base;
    cfg.max_recipients = 1000001;
    cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_INVALID_ARGUMENT);
    cfg.max_recipients = 1000000;
    c = make(&cfg);
    smtpcore_client_del(c);
}

Test(client_config, address_literals)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    char lit[64];
    cr_assert_gt(smtpcore_address_literal("2001:db8::1", lit, sizeof lit), 0);
    const char *names[] = {"[192.0.2.1]", lit, "mail.example.org"};
    for (size_t i = 0; i < 3; i++) {
        cfg.helo_name = names[i];
        smtpcore_client *c = make(&cfg);
        char out[512];
        feed(c, "220 mx\r\n");
        cr_expect_eq(next(c).type, SMTPCORE_CEV_GREETING);
        take(c, out, sizeof out);
        char want[128];
        snprintf(want, sizeof want, "EHLO %s\r\n", names[i]);
        cr_expect_str_eq(out, want);
        smtpcore_client_del(c);
    }
}

Test(client_memory, bounded_by_config)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    smtpcore_client *c = make(&cfg);
    size_t m1 = smtpcore_client_memory(c);
    cr_expect_geq(m1, 8192 + 8192 + 65536);
    cr_expect_lt(m1, 8192 + 8192 + 65536 + 8192 + 4096 + 2048);
    smtpcore_client_del(c);
    cfg.input_buffer_size = 65536;
    c = make(&cfg);
    cr_expect_geq(smtpcore_client_memory(c), m1 + 65536 - 8192);
    smtpcore_client_del(c);
    cr_expect_eq(smtpcore_client_memory(NULL), 0);
    smtpcore_client_del(NULL);
}

Test(client_memory, allocator_used_and_failures_clean)
{
    test_alloc k = {0};
    smtpcore_allocator a = test_alloc_allocator(&k);
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.allocator = &a;
    smtpcore_client *c = make(&cfg);
    size_t allocs = k.calls;
    cr_expect_gt(allocs, 0);
    /* A whole transaction allocates nothing more. */
    char out[4096];
    feed(c, "220 mx\r\n");
    next(c);
    take(c, out, sizeof out);
    feed(c, "250-mx\r\n250 PIPELINING\r\n");
    cr_assert_eq(next(c).type, SMTPCORE_CEV_READY);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_data(c), SMTPCORE_OK);
    take(c, out, sizeof out);
    feed(c, "250 ok\r\n250 ok\r\n354 go\r\n");
    while (next(c).type != SMTPCORE_CEV_SEND_BODY)
        ;
    size_t used;
    cr_assert_eq(smtpcore_client_body(c, "hi", 2, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    cr_expect_eq(k.calls, allocs);
    smtpcore_client_del(c);
    cr_expect_eq(k.live, 0);
    for (size_t f = 1; f <= allocs; f++) {
        k.live = 0;
        k.calls = 0;
        k.fail_at = f;
        c = NULL;
        cr_expect_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_ERR_NOMEM, "fail at %zu", f);
        cr_expect_null(c);
        cr_expect_eq(k.live, 0, "leak when allocation %zu fails", f);
    }
}

Test(client_events, reply_slices_and_lines)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    smtpcore_client *c = make(&cfg);
    const char *ehlo = "250-mx.example.net greets you\r\n250-\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";
    feed(c, "220-mx\r\n220 ready\r\n");
    smtpcore_client_event ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_GREETING);
    cr_expect_eq(ev.reply.nlines, 2);
    cr_expect_eq(ev.reply.raw.len, strlen("220-mx\r\n220 ready\r\n"));
    cr_expect(memcmp(ev.reply.raw.ptr, "220-mx\r\n220 ready\r\n", ev.reply.raw.len) == 0);
    feed(c, ehlo);
    ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_READY);
    cr_expect_eq(ev.caps.esmtp, 1);
    cr_expect(ev.caps.extensions & SMTPCORE_EXT_PIPELINING);
    cr_expect_eq(ev.caps.size_limit, 1000);
    const smtpcore_caps *caps = smtpcore_client_caps(c);
    cr_expect_eq(caps->size_limit, 1000);

    cr_assert_eq(smtpcore_client_noop(c), SMTPCORE_OK);
    const char *r = "250-2.0.0 first\r\n250-\r\n251 2.0.0 last\r\n";
    feed(c, r);
    ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_REPLY);
    cr_expect_eq(ev.reply.code, 251);
    cr_expect_eq(ev.reply.nlines, 3);
    cr_expect(ev.reply.flags & SMTPCORE_REPLY_MIXED_CODES);
    cr_expect_eq(ev.reply.enhanced.cls, 2);
    smtpcore_str line;
    cr_assert_eq(smtpcore_reply_line(&ev.reply, 1, &line), SMTPCORE_OK);
    cr_expect_eq(line.len, 0);
    cr_assert_eq(smtpcore_reply_line(&ev.reply, 2, &line), SMTPCORE_OK);
    cr_expect_eq(line.len, strlen("2.0.0 last"));
    cr_expect(memcmp(line.ptr, "2.0.0 last", line.len) == 0);
    cr_expect_eq(smtpcore_reply_line(&ev.reply, 3, &line), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(next(c).type, SMTPCORE_CEV_NONE);

    cr_assert_eq(smtpcore_client_noop(c), SMTPCORE_OK);
    feed(c, "250 bare\n");
    ev = next(c);
    cr_expect(ev.reply.flags & SMTPCORE_REPLY_BARE_LF);
    cr_assert_eq(smtpcore_client_noop(c), SMTPCORE_OK);
    feed(c, "250\tweird\r\n");
    ev = next(c);
    cr_expect_eq(ev.type, SMTPCORE_CEV_REPLY);
    cr_expect(ev.reply.flags & SMTPCORE_REPLY_BAD_SEPARATOR);
    smtpcore_client_del(c);
}

Test(client_events, message_result_keeps_whole_reply)
{
    smtpcore_client *c = ready_client("250-mx\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n");
    char out[1024];
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_data(c), SMTPCORE_OK);
    take(c, out, sizeof out);
    cr_expect_str_eq(out, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n");
    feed(c, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go\r\n");
    smtpcore_client_event ev = next(c);
    cr_expect_eq(ev.type, SMTPCORE_CEV_MAIL_RESULT);
    cr_expect_eq(ev.reply.enhanced.subject, 1);
    ev = next(c);
    cr_expect_eq(ev.type, SMTPCORE_CEV_RCPT_RESULT);
    cr_expect_eq(ev.reply.enhanced.detail, 5);
    cr_expect_eq(next(c).type, SMTPCORE_CEV_SEND_BODY);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    feed(c, "550-5.7.1 rejected\r\n550-5.7.1 see https://example.net/why\r\n550 5.7.1 bye\r\n");
    ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_MESSAGE_RESULT);
    cr_expect_eq(ev.failure, SMTPCORE_FAIL_PERMANENT);
    cr_expect_eq(ev.reply.nlines, 3);
    cr_expect_eq(ev.reply.enhanced.cls, 5);
    cr_expect_eq(ev.reply.enhanced.subject, 7);
    cr_expect_eq(ev.rcpt_accepted, 1);
    cr_expect_eq(ev.rcpt_total, 1);
    /* READY follows; the reply slice stays readable until the next call. */
    smtpcore_str l;
    cr_expect_eq(smtpcore_reply_line(&ev.reply, 1, &l), SMTPCORE_OK);
    cr_expect_eq(l.len, strlen("5.7.1 see https://example.net/why"));
    cr_expect_eq(next(c).type, SMTPCORE_CEV_READY);
    smtpcore_client_del(c);
}

Test(client_starttls, injected_bytes_counted)
{
    smtpcore_client *c = ready_client("250-mx\r\n250 PIPELINING\r\n");
    smtpcore_client_del(c);

    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    c = make(&cfg);
    char out[512];
    feed(c, "220 mx\r\n");
    next(c);
    take(c, out, sizeof out);
    feed(c, "250-mx\r\n250 STARTTLS\r\n");
    cr_expect_eq(next(c).type, SMTPCORE_CEV_NONE);
    take(c, out, sizeof out);
    cr_expect_str_eq(out, "STARTTLS\r\n");
    const char *inj = "250-evil\r\n250 AUTH PLAIN\r\n";
    char both[256];
    snprintf(both, sizeof both, "220 go\r\n%s", inj);
    feed(c, both);
    smtpcore_client_event ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_STARTTLS);
    cr_expect_eq(ev.discarded, strlen(inj));
    cr_expect_eq(ev.violation, SMTPCORE_V_STARTTLS_INJECTION);
    cr_expect_eq(ev.reply.code, 220);
    /* Still plaintext: anything more is dropped too, and nothing is sent. */
    feed(c, "250 more\r\n");
    cr_expect_eq(next(c).type, SMTPCORE_CEV_NONE);
    cr_expect_eq(take(c, out, sizeof out), 0);
    cr_assert_eq(smtpcore_client_tls_started(c), SMTPCORE_OK);
    cr_expect_eq(smtpcore_client_caps(c)->extensions, 0);
    take(c, out, sizeof out);
    cr_expect_str_eq(out, "EHLO client.example.org\r\n");
    feed(c, "250 mx\r\n");
    ev = next(c);
    cr_expect_eq(ev.type, SMTPCORE_CEV_READY);
    cr_expect_eq(ev.caps.auth_mechs, 0);
    smtpcore_client_del(c);
}

Test(client_starttls, clean_220_has_no_violation)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    smtpcore_client *c = make(&cfg);
    char out[512];
    feed(c, "220 mx\r\n");
    next(c);
    feed(c, "250-mx\r\n250 STARTTLS\r\n");
    next(c);
    take(c, out, sizeof out);
    feed(c, "220 go\r\n");
    smtpcore_client_event ev = next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_STARTTLS);
    cr_expect_eq(ev.discarded, 0);
    cr_expect_eq(ev.violation, SMTPCORE_V_NONE);
    smtpcore_client_del(c);
}

Test(client_api, state_errors)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    smtpcore_client *c = make(&cfg);
    size_t used = 99;
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_rcpt(c, "a@example.org", NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_data(c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_body(c, "x", 1, &used), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(used, 0);
    cr_expect_eq(smtpcore_client_body_end(c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_rset(c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_noop(c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_tls_started(c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_auth_respond(c, "x", 1), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_consume(c, 1), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_client_receive(c, NULL, 1, &used), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_client_next_event(c, NULL), SMTPCORE_ERR_INVALID_ARGUMENT);
    cr_expect_eq(smtpcore_client_want_close(c), 0);
    smtpcore_client_del(c);

    c = ready_client("250-mx\r\n250 PIPELINING\r\n");
    cr_expect_eq(smtpcore_client_mail(c, "not an address", NULL), SMTPCORE_ERR_SYNTAX);
    cr_expect_eq(smtpcore_client_mail(c, "a@", NULL), SMTPCORE_ERR_SYNTAX);
    cr_expect_eq(smtpcore_client_mail(c, "a@b\0c", NULL), SMTPCORE_OK); /* C string ends at NUL */
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_rcpt(c, "", NULL), SMTPCORE_ERR_SYNTAX);
    cr_expect_eq(smtpcore_client_data(c), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_body(c, "x", 1, &used), SMTPCORE_ERR_INVALID_STATE);
    cr_expect_eq(smtpcore_client_quit(c), SMTPCORE_OK);
    char out[256];
    take(c, out, sizeof out);
    cr_expect_str_eq(out, "MAIL FROM:<a@b>\r\nQUIT\r\n");
    feed(c, "250 ok\r\n221 bye\r\n");
    smtpcore_client_event ev;
    do
        ev = next(c);
    while (ev.type != SMTPCORE_CEV_CLOSED && ev.type != SMTPCORE_CEV_NONE);
    cr_expect_eq(ev.type, SMTPCORE_CEV_CLOSED);
    cr_expect_eq(smtpcore_client_want_close(c), 1);
    cr_expect_eq(smtpcore_client_receive(c, "x", 1, &used), SMTPCORE_ERR_CLOSED);
    cr_expect_eq(next(c).type, SMTPCORE_CEV_NONE);
    smtpcore_client_del(c);
}

Test(client_api, nul_in_params_refused)
{
    smtpcore_client *c = ready_client("250-mx\r\n250-DSN\r\n250 PIPELINING\r\n");
    smtpcore_mail_params p;
    smtpcore_mail_params_init(&p);
    p.envid.ptr = "ab\0c";
    p.envid.len = 4;
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", &p), SMTPCORE_ERR_INJECTION);
    p.envid.len = 2;
    cr_expect_eq(smtpcore_client_mail(c, "a@example.org", &p), SMTPCORE_OK);
    smtpcore_rcpt_params rp;
    memset(&rp, 0, sizeof rp);
    rp.orcpt.ptr = "rfc822;a\0b";
    rp.orcpt.len = 10;
    cr_expect_eq(smtpcore_client_rcpt(c, "b@example.org", &rp), SMTPCORE_ERR_INJECTION);
    char out[256];
    take(c, out, sizeof out);
    cr_expect_str_eq(out, "MAIL FROM:<a@example.org> ENVID=ab\r\n");
    smtpcore_client_del(c);
}

Test(client_api, recipient_and_envelope_limits)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.max_recipients = 3;
    cfg.envelope_buffer_size = 1024;
    cfg.quirks = SMTPCORE_QUIRK_NO_PIPELINING;
    smtpcore_client *c = make(&cfg);
    char out[4096];
    feed(c, "220 mx\r\n");
    next(c);
    feed(c, "250 mx\r\n");
    cr_assert_eq(next(c).type, SMTPCORE_CEV_READY);
    take(c, out, sizeof out);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    for (int i = 0; i < 3; i++)
        cr_expect_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_OK);
    cr_expect_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_ERR_TOO_LONG);
    smtpcore_client_del(c);

    cfg.max_recipients = 1000;
    c = make(&cfg);
    feed(c, "220 mx\r\n");
    next(c);
    feed(c, "250 mx\r\n");
    cr_assert_eq(next(c).type, SMTPCORE_CEV_READY);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    int rc = SMTPCORE_OK, n = 0;
    while (rc == SMTPCORE_OK && n < 1000) {
        rc = smtpcore_client_rcpt(c, "recipient@example.org", NULL);
        n++;
    }
    cr_expect_eq(rc, SMTPCORE_ERR_BUFFER_FULL);
    cr_expect_gt(n, 20);
    cr_expect_lt(n, 60);
    /* Replies drain the queue and make room again. */
    for (int i = 0; i < 5; i++) {
        take(c, out, sizeof out);
        feed(c, "250 ok\r\n");
        while (next(c).type != SMTPCORE_CEV_NONE)
            ;
    }
    cr_expect_eq(smtpcore_client_rcpt(c, "recipient@example.org", NULL), SMTPCORE_OK);
    smtpcore_client_del(c);
}

Test(client_body, backpressure_with_small_output)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.output_buffer_size = 1024;
    smtpcore_client *c = make(&cfg);
    char out[2048];
    feed(c, "220 mx\r\n");
    next(c);
    feed(c, "250-mx\r\n250 PIPELINING\r\n");
    cr_assert_eq(next(c).type, SMTPCORE_CEV_READY);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_data(c), SMTPCORE_OK);
    take(c, out, sizeof out);
    feed(c, "250 ok\r\n250 ok\r\n354 go\r\n");
    while (next(c).type != SMTPCORE_CEV_SEND_BODY)
        ;
    /* 100 000 bytes of ".\n" lines: every line doubles its dot and gains a CR. */
    size_t n = 100000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        body[i] = '.';
        body[i + 1] = '\n';
    }
    size_t off = 0, total = 0, rounds = 0;
    int ok = 1;
    while (off < n && rounds < 100000) {
        size_t used = 0;
        cr_assert_eq(smtpcore_client_body(c, body + off, n - off, &used), SMTPCORE_OK);
        off += used;
        size_t got = take(c, out, sizeof out);
        cr_assert_leq(got, 1024);
        for (size_t i = 0; i < got; i++) {
            size_t k = (total + i) % 4;
            char want = k < 2 ? '.' : (k == 2 ? '\r' : '\n');
            if (out[i] != want)
                ok = 0;
        }
        total += got;
        rounds++;
    }
    cr_expect(ok, "stuffed output differs");
    cr_expect_eq(off, n);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    total += take(c, out, sizeof out);
    cr_expect_eq(total, n * 2 + 3);
    free(body);
    smtpcore_client_del(c);
}

Test(client_robustness, random_garbage_never_crashes)
{
    uint64_t x = 0x1234567887654321ull;
    for (int run = 0; run < 300; run++) {
        smtpcore_client_config cfg;
        smtpcore_client_config_init(&cfg);
        cfg.helo_name = "client.example.org";
        cfg.input_buffer_size = 1024;
        cfg.max_reply_line = 512;
        cfg.auth_user = "u";
        cfg.auth_password = "p";
        smtpcore_client *c = make(&cfg);
        feed(c, "220 mx\r\n");
        for (int step = 0; step < 200 && !smtpcore_client_want_close(c); step++) {
            char buf[64];
            static const char alphabet[] = "2345-0 \r\n\r\n250-334 354 AUTH PIPELINING STARTTLS";
            size_t len = 1 + (size_t)(x % 63);
            for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf[i] = (x & 7) == 0 ? (char)(x >> 8) : alphabet[(x >> 8) % (sizeof alphabet - 1)];
            }
            size_t used;
            int rc = smtpcore_client_receive(c, buf, len, &used);
            cr_assert(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_CLOSED);
            cr_assert_leq(used, len);
            const smtpcore_client_event *ev;
            for (int k = 0; k < 1000; k++) {
                cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
                if (ev->type == SMTPCORE_CEV_NONE)
                    break;
                volatile char s = 0;
                for (size_t i = 0; i < ev->reply.raw.len; i++)
                    s ^= ev->reply.raw.ptr[i];
                (void)s;
                if (ev->type == SMTPCORE_CEV_STARTTLS)
                    smtpcore_client_tls_started(c);
                if (ev->type == SMTPCORE_CEV_READY && (x & 1)) {
                    if (smtpcore_client_mail(c, "a@example.org", NULL) == SMTPCORE_OK) {
                        smtpcore_client_rcpt(c, "b@example.org", NULL);
                        smtpcore_client_data(c);
                    }
                }
                if (ev->type == SMTPCORE_CEV_SEND_BODY) {
                    smtpcore_client_body(c, "x\n", 2, &used);
                    smtpcore_client_body_end(c);
                }
            }
            cr_assert_eq(ev->type, SMTPCORE_CEV_NONE, "events never end");
            char out[16384];
            take(c, out, sizeof out);
        }
        smtpcore_client_receive_eof(c);
        const smtpcore_client_event *ev;
        int closed = 0;
        for (int k = 0; k < 100; k++) {
            cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
            if (ev->type == SMTPCORE_CEV_CLOSED)
                closed = 1;
            if (ev->type == SMTPCORE_CEV_NONE)
                break;
        }
        cr_expect(smtpcore_client_want_close(c));
        (void)closed;
        smtpcore_client_del(c);
    }
}

/* body_end() refused with BUFFER_FULL must leave the body state unchanged, so the retry
 * still ends the body with CRLF "." CRLF (found by the Lua binding's tests). */
Test(client_body, body_end_retry_after_buffer_full)
{
    for (size_t fill = 1015; fill <= 1026; fill++) {
        smtpcore_client_config cfg;
        smtpcore_client_config_init(&cfg);
        cfg.helo_name = "client.example.org";
        cfg.output_buffer_size = 1024;
        smtpcore_client *c = make(&cfg);
        char out[4096];
        feed(c, "220 mx\r\n");
        next(c);
        feed(c, "250-mx\r\n250 PIPELINING\r\n");
        cr_assert_eq(next(c).type, SMTPCORE_CEV_READY);
        cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
        cr_assert_eq(smtpcore_client_rcpt(c, "b@example.org", NULL), SMTPCORE_OK);
        cr_assert_eq(smtpcore_client_data(c), SMTPCORE_OK);
        take(c, out, sizeof out);
        feed(c, "250 ok\r\n250 ok\r\n354 go\r\n");
        while (next(c).type != SMTPCORE_CEV_SEND_BODY)
            ;
        char body[1100];
        memset(body, 'x', fill);
        size_t used = 0, total = 0, sent = 0;
        cr_assert_eq(smtpcore_client_body(c, body, fill, &used), SMTPCORE_OK);
        char all[8192];
        if (used < fill) {
            sent += take(c, all + sent, sizeof all - sent);
            total = used;
            cr_assert_eq(smtpcore_client_body(c, body + total, fill - total, &used), SMTPCORE_OK);
            cr_assert_eq(total + used, fill);
        }
        int rc, tries = 0;
        while ((rc = smtpcore_client_body_end(c)) == SMTPCORE_ERR_BUFFER_FULL && tries++ < 5)
            sent += take(c, all + sent, sizeof all - sent);
        cr_assert_eq(rc, SMTPCORE_OK);
        sent += take(c, all + sent, sizeof all - sent);
        cr_expect_eq(sent, fill + 5, "fill %zu", fill);
        cr_expect(memcmp(all + sent - 6, "x\r\n.\r\n", 6) == 0, "fill %zu: end of data lost", fill);
        smtpcore_client_del(c);
    }
}

/* 1000 pipelined recipients: the envelope streams through a small output buffer, the
 * replies through a small input buffer (receive() takes what fits), every RCPT_RESULT
 * arrives in order. */
Test(client_api, thousand_pipelined_recipients)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.org";
    cfg.input_buffer_size = 2048;
    cfg.output_buffer_size = 1024;
    smtpcore_client *c = make(&cfg);
    char out[2048];
    feed(c, "220 mx\r\n");
    next(c);
    feed(c, "250-mx\r\n250 PIPELINING\r\n");
    cr_assert_eq(next(c).type, SMTPCORE_CEV_READY);
    take(c, out, sizeof out);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.org", NULL), SMTPCORE_OK);
    for (int i = 0; i < 1000; i++) {
        char to[64];
        snprintf(to, sizeof to, "r%d@example.net", i);
        cr_assert_eq(smtpcore_client_rcpt(c, to, NULL), SMTPCORE_OK, "rcpt %d", i);
    }
    cr_assert_eq(smtpcore_client_rcpt(c, "one-too-many@example.net", NULL),
                 SMTPCORE_ERR_TOO_LONG);
    cr_assert_eq(smtpcore_client_data(c), SMTPCORE_OK);
    /* Everything goes out as one group, 1 KiB at a time. */
    size_t commands = 0;
    for (int round = 0; round < 1000; round++) {
        size_t n = take(c, out, sizeof out);
        if (n == 0)
            break;
        for (size_t i = 0; i < n; i++)
            commands += out[i] == '\n';
    }
    cr_expect_eq(commands, 1002, "%zu commands", commands);
    /* The server answers all at once; receive() takes it in pieces. */
    size_t replies_len = 8 * 1001 + 8;
    char *replies = malloc(replies_len);
    for (size_t i = 0; i < 1001; i++)
        memcpy(replies + 8 * i, i % 7 == 3 ? "550 no\r\n" : "250 ok\r\n", 8);
    memcpy(replies + 8 * 1001, "354 go\r\n", 8);
    size_t off = 0, rcpt_seen = 0, accepted = 0;
    int send_body = 0, ok_order = 1;
    for (int guard = 0; guard < 100000 && !send_body; guard++) {
        size_t used = 0;
        if (off < replies_len) {
            cr_assert_eq(smtpcore_client_receive(c, replies + off, replies_len - off, &used),
                         SMTPCORE_OK);
            off += used;
        }
        const smtpcore_client_event *ev;
        while (smtpcore_client_next_event(c, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_CEV_NONE) {
            if (ev->type == SMTPCORE_CEV_RCPT_RESULT) {
                if (ev->rcpt_index != rcpt_seen)
                    ok_order = 0;
                if (ev->failure == SMTPCORE_SUCCESS)
                    accepted++;
                rcpt_seen++;
            } else if (ev->type == SMTPCORE_CEV_SEND_BODY) {
                send_body = 1;
            }
        }
    }
    free(replies);
    cr_expect(ok_order);
    cr_expect_eq(rcpt_seen, 1000);
    size_t want = 0;
    for (size_t i = 1; i <= 1000; i++)
        want += i % 7 != 3;
    cr_expect_eq(accepted, want);
    cr_expect(send_body);
    smtpcore_client_del(c);
}
