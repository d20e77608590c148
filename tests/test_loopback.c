/* SPDX-License-Identifier: MIT */
/* Engine against engine: a client session and a server session wired back to back in
 * memory. Thousands of random transactions (random recipients, some refused; random
 * bodies with lone dots, leading dots, bare LF/CR, 8-bit bytes) must each arrive
 * byte-identical to the normalised body: CRLF-normalised, plus a final CRLF for DATA;
 * unchanged for BINARYMIME. Fixed-seed PRNG, bytes moved in random piece sizes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

typedef struct lb_rng {
    uint64_t s;
} lb_rng;

static uint64_t lb_next(lb_rng *r)
{
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->s = x;
    return x;
}

static size_t lb_below(lb_rng *r, size_t n) { return n ? (size_t)(lb_next(r) % n) : 0; }

#define LB_MAX_BODY 6000

typedef struct lb_tx {
    char body[LB_MAX_BODY];
    size_t body_len;
    char expect[2 * LB_MAX_BODY + 2];
    size_t expect_len;
    char rcpts[6][64];
    size_t nrcpt, accepted_expected;
} lb_tx;

typedef struct lb_world {
    lb_rng rng;
    smtpcore_client *c;
    smtpcore_server *s;
    int chunking, binary, pipelining;
    lb_tx tx;
    size_t tx_done, tx_wanted;
    /* server side */
    char got[2 * LB_MAX_BODY + 2];
    size_t got_len;
    int in_message;
    size_t delivered, mismatches, server_aborted, ends_without_rcpt;
    /* client side */
    int sending;
    size_t body_off;
    int closed;
    size_t results_ok, results_failed;
    /* STARTTLS / AUTH (a pretend handshake: both sides are told TLS is up) */
    int server_tls_pending, client_tls_pending;
    size_t tls_done, auth_ok, auth_events;
    const char *user, *pass;
    char failure[512];
} lb_world;

/* What the client must turn the body into (docs/wire-lines-replies.md, "DATA on the
 * client": every CR, LF or CRLF becomes one CRLF; DATA ends with a CRLF when the body does
 * not). */
static void lb_expect(lb_world *w)
{
    lb_tx *t = &w->tx;
    size_t o = 0;
    if (w->binary) {
        memcpy(t->expect, t->body, t->body_len);
        t->expect_len = t->body_len;
        return;
    }
    for (size_t i = 0; i < t->body_len; i++) {
        char ch = t->body[i];
        if (ch == '\r') {
            if (i + 1 < t->body_len && t->body[i + 1] == '\n')
                i++;
            t->expect[o++] = '\r';
            t->expect[o++] = '\n';
        } else if (ch == '\n') {
            t->expect[o++] = '\r';
            t->expect[o++] = '\n';
        } else {
            t->expect[o++] = ch;
        }
    }
    if (!w->chunking && o > 0 && !(o >= 2 && t->expect[o - 2] == '\r' && t->expect[o - 1] == '\n')) {
        t->expect[o++] = '\r';
        t->expect[o++] = '\n';
    }
    t->expect_len = o;
}

static void lb_make_tx(lb_world *w)
{
    lb_tx *t = &w->tx;
    static const char pieces[][8] = {".", "..", "\n", "\r", "\r\n", "\n.\n", "\r\n.\r\n",
                                     "\r.\r", "a", "hello", " ", "\xc3\xa9", "\xff", "\t",
                                     ".\r\n", "\n..", "From "};
    size_t target = lb_below(&w->rng, 8) == 0 ? 0 : lb_below(&w->rng, LB_MAX_BODY - 16);
    t->body_len = 0;
    while (t->body_len < target) {
        const char *p = pieces[lb_below(&w->rng, sizeof pieces / sizeof pieces[0])];
        size_t n = strlen(p);
        if (t->body_len + n > LB_MAX_BODY)
            break;
        memcpy(t->body + t->body_len, p, n);
        t->body_len += n;
    }
    if (w->binary && t->body_len > 2)
        t->body[lb_below(&w->rng, t->body_len)] = '\0';
    lb_expect(w);
    t->nrcpt = 1 + lb_below(&w->rng, 5);
    t->accepted_expected = 0;
    for (size_t i = 0; i < t->nrcpt; i++) {
        int refuse = lb_below(&w->rng, 4) == 0;
        snprintf(t->rcpts[i], sizeof t->rcpts[i], "%s%zu@example.net", refuse ? "reject" : "user",
                 i);
        if (!refuse)
            t->accepted_expected++;
    }
}

static void lb_fail(lb_world *w, const char *what)
{
    if (!w->failure[0])
        snprintf(w->failure, sizeof w->failure, "tx %zu: %s", w->tx_done, what);
}

static void lb_start_tx(lb_world *w)
{
    lb_make_tx(w);
    smtpcore_mail_params p;
    smtpcore_mail_params_init(&p);
    p.has_size = 1;
    p.size = w->tx.expect_len;
    if (w->binary)
        p.body = SMTPCORE_BODY_BINARYMIME;
    else if (lb_below(&w->rng, 2))
        p.body = SMTPCORE_BODY_8BITMIME;
    const char *from = lb_below(&w->rng, 5) == 0 ? "" : "sender@example.org";
    if (smtpcore_client_mail(w->c, from, &p) != SMTPCORE_OK)
        return lb_fail(w, "mail() refused");
    for (size_t i = 0; i < w->tx.nrcpt; i++)
        if (smtpcore_client_rcpt(w->c, w->tx.rcpts[i], NULL) != SMTPCORE_OK)
            return lb_fail(w, "rcpt() refused");
    if (smtpcore_client_data(w->c) != SMTPCORE_OK)
        return lb_fail(w, "data() refused");
    w->body_off = 0;
}

static void lb_client_events(lb_world *w)
{
    for (int guard = 0; guard < 10000; guard++) {
        const smtpcore_client_event *ev;
        if (smtpcore_client_next_event(w->c, &ev) != SMTPCORE_OK)
            return lb_fail(w, "client next_event");
        switch (ev->type) {
        case SMTPCORE_CEV_NONE: return;
        case SMTPCORE_CEV_READY:
            if (w->tx_done < w->tx_wanted)
                lb_start_tx(w);
            else if (smtpcore_client_quit(w->c) != SMTPCORE_OK)
                lb_fail(w, "quit() refused");
            break;
        case SMTPCORE_CEV_SEND_BODY:
            w->sending = 1;
            break;
        case SMTPCORE_CEV_STARTTLS:
            w->client_tls_pending = 1;
            break;
        case SMTPCORE_CEV_AUTH_RESULT:
            if (ev->failure != SMTPCORE_SUCCESS)
                lb_fail(w, "AUTH failed");
            else
                w->auth_ok++;
            break;
        case SMTPCORE_CEV_MESSAGE_RESULT: {
            int want_ok = w->tx.accepted_expected > 0;
            if ((ev->failure == SMTPCORE_SUCCESS) != want_ok)
                lb_fail(w, "unexpected message outcome");
            if (ev->rcpt_accepted != w->tx.accepted_expected || ev->rcpt_total != w->tx.nrcpt)
                lb_fail(w, "recipient counts differ");
            if (ev->failure == SMTPCORE_SUCCESS)
                w->results_ok++;
            else
                w->results_failed++;
            w->sending = 0;
            w->tx_done++;
            break;
        }
        case SMTPCORE_CEV_PROTOCOL_ERROR: {
            char m[256];
            snprintf(m, sizeof m, "client protocol error %d (%.*s)", (int)ev->violation,
                     (int)ev->reply.raw.len, ev->reply.raw.ptr);
            lb_fail(w, m);
            break;
        }
        case SMTPCORE_CEV_CLOSED:
            w->closed = 1;
            if (ev->failure != SMTPCORE_SUCCESS)
                lb_fail(w, "closed with a failure");
            break;
        default: break;
        }
    }
    lb_fail(w, "client events never end");
}

static void lb_server_events(lb_world *w)
{
    for (int guard = 0; guard < 10000; guard++) {
        const smtpcore_server_event *ev;
        if (smtpcore_server_next_event(w->s, &ev) != SMTPCORE_OK)
            return lb_fail(w, "server next_event");
        switch (ev->type) {
        case SMTPCORE_SEV_NONE: return;
        case SMTPCORE_SEV_STARTTLS:
            w->server_tls_pending = 1;
            break;
        case SMTPCORE_SEV_AUTH:
            w->auth_events++;
            if (ev->username.len != strlen(w->user) || ev->password.len != strlen(w->pass) ||
                memcmp(ev->username.ptr, w->user, ev->username.len) != 0 ||
                memcmp(ev->password.ptr, w->pass, ev->password.len) != 0) {
                lb_fail(w, "server saw other credentials");
                smtpcore_server_reject(w->s, 535, "5.7.8", "bad credentials");
                continue;
            }
            break;
        case SMTPCORE_SEV_RCPT:
            if (ev->address.len >= 6 && memcmp(ev->address.ptr, "reject", 6) == 0)
                smtpcore_server_reject(w->s, 550, "5.1.1", "no such user");
            else
                smtpcore_server_accept(w->s);
            continue;
        case SMTPCORE_SEV_BODY:
            if (w->got_len + ev->data.len > sizeof w->got) {
                lb_fail(w, "server got too much body");
            } else {
                memcpy(w->got + w->got_len, ev->data.ptr, ev->data.len);
                w->got_len += ev->data.len;
            }
            break;
        case SMTPCORE_SEV_MESSAGE_END:
            if (w->tx.accepted_expected == 0) {
                /* The server engine lets a BDAT message without recipients reach the host
                 * (noted in the H4 report); a host refuses it. */
                w->got_len = 0;
                w->ends_without_rcpt++;
                smtpcore_server_reject(w->s, 554, "5.5.1", "no valid recipients");
                continue;
            }
            if (w->got_len != w->tx.expect_len || memcmp(w->got, w->tx.expect, w->got_len) != 0) {
                w->mismatches++;
                size_t d = 0;
                while (d < w->got_len && d < w->tx.expect_len && w->got[d] == w->tx.expect[d])
                    d++;
                char m[300];
                snprintf(m, sizeof m, "body differs at %zu (got %zu, want %zu bytes, body %zu): "
                         "got [%.*s] want [%.*s]", d, w->got_len, w->tx.expect_len,
                         w->tx.body_len, (int)(w->got_len - d < 20 ? w->got_len - d : 20),
                         w->got + d, (int)(w->tx.expect_len - d < 20 ? w->tx.expect_len - d : 20),
                         w->tx.expect + d);
                lb_fail(w, m);
            }
            w->delivered++;
            w->got_len = 0;
            break;
        case SMTPCORE_SEV_MESSAGE_ABORTED:
            w->server_aborted++;
            w->got_len = 0;
            lb_fail(w, "server aborted a message");
            break;
        case SMTPCORE_SEV_PROTOCOL_ERROR: {
            /* RFC 2920 3.1: a pipelined DATA after refused recipients gets 503/554. */
            if (w->tx.accepted_expected == 0 && ev->violation == SMTPCORE_V_BAD_SEQUENCE)
                break;
            char m[256];
            snprintf(m, sizeof m, "server protocol error %d reply %d (%.*s)", (int)ev->violation,
                     ev->reply_code, (int)(ev->line.len < 100 ? ev->line.len : 100), ev->line.ptr);
            lb_fail(w, m);
            break;
        }
        default: break;
        }
        if (ev->answer_required && smtpcore_server_accept(w->s) != SMTPCORE_OK)
            lb_fail(w, "server accept failed");
        if (ev->type == SMTPCORE_SEV_MESSAGE_END)
            w->got_len = 0;
    }
    lb_fail(w, "server events never end");
}

/* Moves up to a random number of pending bytes from one side to the other. */
static int lb_move_c2s(lb_world *w)
{
    const char *p;
    size_t n = smtpcore_client_output(w->c, &p);
    if (n == 0)
        return 0;
    size_t k = 1 + lb_below(&w->rng, n < 3000 ? n : 3000);
    size_t used = 0;
    int rc = smtpcore_server_receive(w->s, p, k, &used);
    if (rc == SMTPCORE_ERR_CLOSED)
        return 0;
    smtpcore_client_consume(w->c, used);
    return used > 0;
}

static int lb_move_s2c(lb_world *w)
{
    const char *p;
    size_t n = smtpcore_server_output(w->s, &p);
    if (n == 0)
        return 0;
    size_t k = 1 + lb_below(&w->rng, n);
    size_t used = 0;
    int rc = smtpcore_client_receive(w->c, p, k, &used);
    if (rc == SMTPCORE_ERR_CLOSED) {
        smtpcore_server_consume(w->s, n);
        return 1;
    }
    smtpcore_server_consume(w->s, used);
    return used > 0;
}

static void lb_feed_body(lb_world *w)
{
    if (!w->sending)
        return;
    if (w->body_off < w->tx.body_len) {
        size_t piece = 1 + lb_below(&w->rng, w->tx.body_len - w->body_off);
        size_t used = 0;
        if (smtpcore_client_body(w->c, w->tx.body + w->body_off, piece, &used) != SMTPCORE_OK)
            return lb_fail(w, "body() failed");
        w->body_off += used;
    }
    if (w->body_off == w->tx.body_len) {
        int rc = smtpcore_client_body_end(w->c);
        if (rc == SMTPCORE_OK)
            w->sending = 0;
        else if (rc != SMTPCORE_ERR_BUFFER_FULL)
            lb_fail(w, "body_end() failed");
    }
}

typedef struct lb_auth {
    uint32_t server_mechs;
    const char *mech, *user, *pass;
} lb_auth;

static void lb_run_auth(uint64_t seed, uint32_t ext, uint32_t quirks, int binary, size_t txs,
                        const lb_auth *auth)
{
    lb_world *w = calloc(1, sizeof *w);
    cr_assert_not_null(w);
    w->rng.s = seed;
    w->tx_wanted = txs;
    w->binary = binary;
    w->chunking = (ext & SMTPCORE_EXT_CHUNKING) && !(quirks & SMTPCORE_QUIRK_NO_CHUNKING);
    smtpcore_server_config sc;
    smtpcore_server_config_init(&sc);
    sc.extensions = ext;
    sc.hostname = "mx.example.net";
    sc.max_errors = 1000000; /* refused recipients count as errors */
    if (auth) {
        sc.extensions |= SMTPCORE_EXT_STARTTLS | SMTPCORE_EXT_AUTH;
        sc.auth_mechs = auth->server_mechs;
    }
    cr_assert_eq(smtpcore_server_new(&w->s, &sc), SMTPCORE_OK);
    smtpcore_client_config cc;
    smtpcore_client_config_init(&cc);
    cc.helo_name = "client.example.org";
    cc.quirks = quirks;
    cc.output_buffer_size = 1024 + lb_below(&w->rng, 8192);
    if (auth) {
        cc.tls_policy = SMTPCORE_TLS_REQUIRED;
        cc.auth_user = w->user = auth->user;
        cc.auth_password = w->pass = auth->pass;
        cc.auth_mechanism = auth->mech;
    }
    cr_assert_eq(smtpcore_client_new(&w->c, &cc), SMTPCORE_OK);

    size_t idle = 0;
    for (size_t step = 0; step < 50u * 1000u * 1000u && !w->closed && !w->failure[0]; step++) {
        int moved = 0;
        lb_server_events(w);
        moved |= lb_move_s2c(w);
        lb_client_events(w);
        lb_feed_body(w);
        moved |= lb_move_c2s(w);
        /* The handshake starts once each side has written everything before it. */
        if (w->server_tls_pending && smtpcore_server_output(w->s, NULL) == 0) {
            if (smtpcore_server_tls_started(w->s) != SMTPCORE_OK)
                lb_fail(w, "server tls_started");
            w->server_tls_pending = 0;
            moved = 1;
        }
        if (w->client_tls_pending && !w->server_tls_pending &&
            smtpcore_client_output(w->c, NULL) == 0) {
            if (smtpcore_client_tls_started(w->c) != SMTPCORE_OK)
                lb_fail(w, "client tls_started");
            w->client_tls_pending = 0;
            w->tls_done++;
            moved = 1;
        }
        if (!moved && !w->sending) {
            if (++idle > 100)
                break;
        } else {
            idle = 0;
        }
    }
    cr_expect_str_empty(w->failure, "seed %llu: %s", (unsigned long long)seed, w->failure);
    cr_expect(w->closed, "seed %llu: session did not close (tx %zu)", (unsigned long long)seed,
              w->tx_done);
    cr_expect_eq(w->tx_done, txs);
    cr_expect_eq(w->delivered, w->results_ok, "delivered %zu ok %zu failed %zu",
                 w->delivered, w->results_ok, w->results_failed);
    cr_expect_eq(w->mismatches, 0);
    cr_expect_gt(w->results_ok, txs / 2);
    cr_expect_gt(w->results_failed, 0);
    if (auth) {
        cr_expect_eq(w->tls_done, 1);
        cr_expect_eq(w->auth_ok, 1);
        cr_expect_eq(w->auth_events, 1);
    }
    smtpcore_client_del(w->c);
    smtpcore_server_del(w->s);
    free(w);
}

static void lb_run(uint64_t seed, uint32_t ext, uint32_t quirks, int binary, size_t txs)
{
    lb_run_auth(seed, ext, quirks, binary, txs, NULL);
}

#define LB_BASE (SMTPCORE_EXT_SIZE | SMTPCORE_EXT_8BITMIME | SMTPCORE_EXT_ENHANCEDSTATUSCODES)

Test(loopback, data_pipelined)
{
    lb_run(1, LB_BASE | SMTPCORE_EXT_PIPELINING, 0, 0, 1000);
}

Test(loopback, data_not_pipelined)
{
    lb_run(2, LB_BASE, 0, 0, 500);
}

Test(loopback, bdat_pipelined)
{
    lb_run(3, LB_BASE | SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING, 0, 0, 1000);
}

Test(loopback, bdat_not_pipelined)
{
    lb_run(4, LB_BASE | SMTPCORE_EXT_CHUNKING, 0, 0, 300);
}

Test(loopback, binarymime)
{
    lb_run(5, LB_BASE | SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING | SMTPCORE_EXT_BINARYMIME,
           0, 1, 500);
}

Test(loopback, quirks_split_quit_no_chunking)
{
    lb_run(6, LB_BASE | SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING,
           SMTPCORE_QUIRK_SPLIT_QUIT | SMTPCORE_QUIRK_NO_CHUNKING, 0, 500);
}

/* STARTTLS (required) then AUTH, against the server engine's own SASL code. UTF-8
 * credentials must arrive byte for byte. */
Test(loopback, starttls_auth_plain_utf8)
{
    lb_auth a = {SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_LOGIN, NULL, "j\xc3\xb6rg@example.org",
                 "p\xc3\xa4ss w\xe2\x82\xacrd"};
    lb_run_auth(7, LB_BASE | SMTPCORE_EXT_PIPELINING, 0, 0, 200, &a);
}

Test(loopback, starttls_auth_login)
{
    lb_auth a = {SMTPCORE_AUTH_LOGIN, "LOGIN", "user", "secret"};
    lb_run_auth(8, LB_BASE | SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_CHUNKING, 0, 0, 200, &a);
}

Test(loopback, starttls_auth_xoauth2)
{
    lb_auth a = {SMTPCORE_AUTH_XOAUTH2, "XOAUTH2", "someone@example.org", "ya29.a0token"};
    lb_run_auth(9, LB_BASE, 0, 0, 100, &a);
}

/* A mechanism name is taken in any case (client.h): "login" works against our server,
 * whose AUTH parser takes upper case only (RFC 4422 3.1). */
Test(loopback, auth_mechanism_any_case)
{
    lb_auth a = {SMTPCORE_AUTH_LOGIN, "login", "user", "secret"};
    lb_run_auth(10, LB_BASE, 0, 0, 50, &a);
}
