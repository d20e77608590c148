/* SPDX-License-Identifier: MIT */
/* RFC 3030 2: a refused BDAT chunk that is not the last one. Reproduces the Python
 * binding author's report (output_buffer_size 1024, the host writes only 1500 bytes
 * before the 554 arrives) and checks what the transcripts cannot: the reply text kept
 * for MESSAGE_RESULT and the exact output after the refusal. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#define BODY_LEN 5002 /* 5000 x 'x' + CRLF */

static void bf_feed(smtpcore_client *c, const char *s)
{
    size_t n = strlen(s), used = 0;
    cr_assert_eq(smtpcore_client_receive(c, s, n, &used), SMTPCORE_OK);
    cr_assert_eq(used, n);
}

static smtpcore_client_event bf_next(smtpcore_client *c)
{
    const smtpcore_client_event *ev;
    cr_assert_eq(smtpcore_client_next_event(c, &ev), SMTPCORE_OK);
    return *ev; /* a snapshot: the session's event changes at the next call */
}

/* Writes at most *budget output bytes into w (at *wlen), like a host whose socket
 * stops accepting data. */
static void bf_write(smtpcore_client *c, char *w, size_t *wlen, size_t *budget)
{
    const char *p;
    size_t n = smtpcore_client_output(c, &p);
    if (n > *budget)
        n = *budget;
    memcpy(w + *wlen, p, n);
    *wlen += n;
    *budget -= n;
    cr_assert_eq(smtpcore_client_consume(c, n), SMTPCORE_OK);
}

/* Counts "BDAT " command lines in the bytes the server got (the body is all 'x'). */
static size_t bf_count_bdat(const char *w, size_t n, size_t *last)
{
    size_t count = 0;
    *last = 0;
    for (size_t i = 0; i + 5 <= n; i++) {
        if (memcmp(w + i, "BDAT ", 5) == 0) {
            count++;
            if (n - i >= 11 && memcmp(w + i, "BDAT 0 LAST", 11) == 0)
                *last = 1;
        }
    }
    return count;
}

static smtpcore_client *bf_session(int pipelining)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "c.example.org";
    cfg.tls_policy = SMTPCORE_TLS_NEVER;
    cfg.output_buffer_size = 1024;
    smtpcore_client *c = NULL;
    cr_assert_eq(smtpcore_client_new(&c, &cfg), SMTPCORE_OK);
    bf_feed(c, "220 mx ESMTP\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_GREETING);
    bf_feed(c, pipelining ? "250-mx\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
                          : "250-mx\r\n250 CHUNKING\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_READY);
    char drop[64];
    (void)smtpcore_client_copy_output(c, drop, sizeof drop);
    cr_assert_eq(smtpcore_client_mail(c, "a@example.com", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_rcpt(c, "b@example.com", NULL), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_data(c), SMTPCORE_OK);
    return c;
}

Test(client_bdat_fail, python_repro_middle_chunk)
{
    static char body[BODY_LEN];
    static char wire[16384];
    memset(body, 'x', BODY_LEN - 2);
    body[BODY_LEN - 2] = '\r';
    body[BODY_LEN - 1] = '\n';
    smtpcore_client *c = bf_session(1);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_SEND_BODY);

    size_t off = 0, wlen = 0, budget = 1500;
    for (int i = 0; i < 100 && off < BODY_LEN; i++) {
        size_t used = 0;
        cr_assert_eq(smtpcore_client_body(c, body + off, BODY_LEN - off, &used), SMTPCORE_OK);
        off += used;
        if (used == 0)
            break; /* the output is full and the host writes no more */
        bf_write(c, wire, &wlen, &budget);
    }
    cr_assert_eq(wlen, 1500);
    cr_assert(off < BODY_LEN, "the whole body fitted: the scenario needs a refusal mid-body");
    size_t last = 0;
    size_t chunks = bf_count_bdat(wire, wlen, &last);
    cr_assert(chunks >= 2);
    cr_assert_eq(last, 0);
    cr_assert(memcmp(wire + 52, "BDAT 940\r\n", 10) == 0, "got %.20s", wire + 52);

    bf_feed(c, "250 ok\r\n250 ok\r\n554 5.6.0 chunk refused\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_MAIL_RESULT);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_RCPT_RESULT);
    /* Chunks after the first are still unanswered: no result yet. */
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_NONE);

    /* The host goes on with its loop: everything is taken, nothing new is formatted. */
    size_t pending = smtpcore_client_output(c, NULL);
    size_t used = 0;
    cr_assert_eq(smtpcore_client_body(c, body + off, BODY_LEN - off, &used), SMTPCORE_OK);
    cr_assert_eq(used, BODY_LEN - off);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_output(c, NULL), pending);

    /* The bytes already formatted still go out whole (a chunk cannot be cut short). */
    budget = sizeof wire - wlen;
    bf_write(c, wire, &wlen, &budget);
    size_t all = bf_count_bdat(wire, wlen, &last);
    cr_assert_eq(last, 0, "BDAT 0 LAST must not follow a refused chunk");
    cr_assert(all >= 2);

    /* The server answers the remaining chunks; the result carries the 554. */
    for (size_t i = 1; i < all; i++)
        bf_feed(c, "503 5.5.1 no transaction\r\n");
    smtpcore_client_event ev = bf_next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_MESSAGE_RESULT);
    cr_assert_eq(ev.reply.code, 554);
    cr_assert_eq(ev.failure, SMTPCORE_FAIL_PERMANENT);
    cr_assert_eq(ev.reply.enhanced.cls, 5);
    cr_assert_eq(ev.reply.enhanced.subject, 6);
    cr_assert_eq(ev.reply.raw.len, strlen("554 5.6.0 chunk refused\r\n"));
    cr_assert(memcmp(ev.reply.raw.ptr, "554 5.6.0 chunk refused\r\n", ev.reply.raw.len) == 0);
    smtpcore_str line;
    cr_assert_eq(smtpcore_reply_line(&ev.reply, 0, &line), SMTPCORE_OK);
    cr_assert_eq(line.len, strlen("5.6.0 chunk refused"));
    cr_assert(memcmp(line.ptr, "5.6.0 chunk refused", line.len) == 0);
    cr_assert_eq(ev.rcpt_accepted, 1);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_READY);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_NONE);

    /* Late calls from the host's loop stay harmless until the next MAIL. */
    cr_assert_eq(smtpcore_client_body(c, "y", 1, &used), SMTPCORE_OK);
    cr_assert_eq(used, 1);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_output(c, NULL), 0);

    cr_assert_eq(smtpcore_client_mail(c, "a@example.com", NULL), SMTPCORE_OK);
    char out[128];
    size_t n = smtpcore_client_copy_output(c, out, sizeof out - 1);
    out[n] = '\0';
    cr_assert_str_eq(out, "RSET\r\nMAIL FROM:<a@example.com>\r\n");
    /* A new transaction's body is not discarded. */
    cr_assert_eq(smtpcore_client_body(c, "y", 1, &used), SMTPCORE_ERR_INVALID_STATE);
    smtpcore_client_del(c);
}

/* The kept reply survives a multi-line form and later replies arriving in one block. */
Test(client_bdat_fail, multiline_reply_kept)
{
    smtpcore_client *c = bf_session(1);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_SEND_BODY);
    size_t used = 0;
    cr_assert_eq(smtpcore_client_body(c, "abc", 3, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_body(c, "def", 3, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    char drop[256];
    (void)smtpcore_client_copy_output(c, drop, sizeof drop);
    bf_feed(c, "250 ok\r\n250 ok\r\n451-4.3.0 try\r\n451 4.3.0 later\r\n"
               "250 ok\r\n250 2.0.0 queued\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_MAIL_RESULT);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_RCPT_RESULT);
    smtpcore_client_event ev = bf_next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_MESSAGE_RESULT);
    cr_assert_eq(ev.failure, SMTPCORE_FAIL_TRANSIENT);
    cr_assert_eq(ev.reply.code, 451);
    cr_assert_eq(ev.reply.nlines, 2);
    const char *want = "451-4.3.0 try\r\n451 4.3.0 later\r\n";
    cr_assert_eq(ev.reply.raw.len, strlen(want));
    cr_assert(memcmp(ev.reply.raw.ptr, want, ev.reply.raw.len) == 0);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_READY);
    smtpcore_client_del(c);
}

/* Without pipelining the refusal ends the transaction at once, with no SEND_BODY. */
Test(client_bdat_fail, nonpipelined)
{
    smtpcore_client *c = bf_session(0);
    char drop[256];
    (void)smtpcore_client_copy_output(c, drop, sizeof drop);
    bf_feed(c, "250 ok\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_MAIL_RESULT);
    (void)smtpcore_client_copy_output(c, drop, sizeof drop);
    bf_feed(c, "250 ok\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_RCPT_RESULT);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_SEND_BODY);
    size_t used = 0;
    cr_assert_eq(smtpcore_client_body(c, "abc", 3, &used), SMTPCORE_OK);
    cr_assert_eq(used, 3);
    (void)smtpcore_client_copy_output(c, drop, sizeof drop);
    bf_feed(c, "554 5.6.0 no\r\n");
    smtpcore_client_event ev = bf_next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_MESSAGE_RESULT);
    cr_assert_eq(ev.reply.code, 554);
    cr_assert(memcmp(ev.reply.raw.ptr, "554 5.6.0 no\r\n", 14) == 0);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_READY);
    cr_assert_eq(smtpcore_client_body_end(c), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_output(c, NULL), 0);
    smtpcore_client_del(c);
}

/* A 421 after the refusal: MESSAGE_RESULT keeps the refused chunk's text, CLOSED the 421's
 * (two events pointing at different storage, both valid until the next call). */
Test(client_bdat_fail, close_after_refusal_keeps_both_replies)
{
    smtpcore_client *c = bf_session(1);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_SEND_BODY);
    size_t used = 0;
    cr_assert_eq(smtpcore_client_body(c, "abc", 3, &used), SMTPCORE_OK);
    cr_assert_eq(smtpcore_client_body(c, "def", 3, &used), SMTPCORE_OK);
    char drop[256];
    (void)smtpcore_client_copy_output(c, drop, sizeof drop);
    bf_feed(c, "250 ok\r\n250 ok\r\n554 5.6.0 refused\r\n421 4.3.2 bye\r\n");
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_MAIL_RESULT);
    cr_assert_eq(bf_next(c).type, SMTPCORE_CEV_RCPT_RESULT);
    smtpcore_client_event ev = bf_next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_MESSAGE_RESULT);
    cr_assert_eq(ev.failure, SMTPCORE_FAIL_PERMANENT);
    cr_assert_eq(ev.violation, SMTPCORE_V_SERVICE_UNAVAILABLE);
    cr_assert_eq(ev.reply.raw.len, 19);
    cr_assert(memcmp(ev.reply.raw.ptr, "554 5.6.0 refused\r\n", 19) == 0);
    ev = bf_next(c);
    cr_assert_eq(ev.type, SMTPCORE_CEV_CLOSED);
    cr_assert_eq(ev.reply.code, 421);
    cr_assert(memcmp(ev.reply.raw.ptr, "421 4.3.2 bye\r\n", 15) == 0);
    cr_assert_eq(smtpcore_client_body(c, "x", 1, &used), SMTPCORE_ERR_CLOSED);
    cr_assert_eq(smtpcore_client_output(c, NULL), 0);
    smtpcore_client_del(c);
}
