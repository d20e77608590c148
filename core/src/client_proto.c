/* SPDX-License-Identifier: MIT */
/* Client: what each reply means for the command it answers, session setup (greeting,
 * EHLO with the RFC 1869 RSET/HELO fallback, STARTTLS) and the end of transactions. */
#include <string.h>

#include "client_internal.h"
#include "command.h"

/* RFC 5321 4.3.2 plus the extensions: which success/intermediate codes each command may
 * get. Any 4xx/5xx is a legal refusal. A code outside these means the reply stream no
 * longer matches our commands (e.g. a server that drops pipelined commands, 003 seed). */
static int code_allowed(sc_ckind k, int code)
{
    int cls = code / 100;
    if (cls == 4 || cls == 5 || k == SC_CK_RSET_FALLBACK)
        return 1; /* RFC 1869: whatever the fallback RSET gets is ignored */
    if (cls == 3)
        return (k == SC_CK_DATA && code == 354) || (k == SC_CK_AUTH && code == 334);
    if (cls != 2)
        return 0;
    switch (k) {
    case SC_CK_GREETING:
    case SC_CK_STARTTLS:
    case SC_CK_XCLIENT:
        return code == 220;
    case SC_CK_QUIT:
        return 1;
    case SC_CK_AUTH:
        return code == 235;
    case SC_CK_DATA:
        return 0;
    default:
        return code >= 250 && code <= 252;
    }
}

static void enqueue_simple(smtpcore_client *c, sc_ckind k, sc_verb v, const char *arg)
{
    char line[300];
    size_t n = sc_command_write_simple(line, sizeof line, v, arg, arg ? strlen(arg) : 0);
    if (n == (size_t)-1 || sc_client_enqueue(c, k, line, n) != SMTPCORE_OK)
        sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_NONE, 0);
}

static void setup_next(smtpcore_client *c)
{
    if (c->tls_policy != SMTPCORE_TLS_NEVER && !c->tls_active && !c->tls_tried) {
        if (c->caps.esmtp && (c->caps.extensions & SMTPCORE_EXT_STARTTLS)) {
            enqueue_simple(c, SC_CK_STARTTLS, SC_VERB_STARTTLS, NULL);
            return;
        }
    }
    if (c->tls_policy == SMTPCORE_TLS_REQUIRED && !c->tls_active) {
        /* Nothing but QUIT may travel in plaintext now. */
        sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_TLS_REQUIRED, 1);
        return;
    }
    if (c->auth_user && !c->auth_done) {
        sc_client_auth_start(c);
        return;
    }
    sc_client_ready(c);
}

/* Keeps r (in scratch) as the reply that decided a failed envelope. */
static void keep_env_reply(smtpcore_client *c, const smtpcore_reply *r, smtpcore_failure f)
{
    memcpy(c->scratch, r->raw.ptr, r->raw.len);
    c->tx.env_reply = *r;
    c->tx.env_reply.raw.ptr = c->scratch;
    c->tx.env_kept = f;
}

static void on_starttls_220(smtpcore_client *c, const smtpcore_reply *r)
{
    /* Anything after the 220 was sent before the handshake: it must never be read as a
     * reply to our post-TLS EHLO (Poddebniak et al. 2021). */
    size_t keep = c->in.start + c->hold;
    size_t extra = c->in.end - keep;
    c->in.end = keep;
    c->discarded = extra;
    c->rpos = 0;
    sc_line_reset(&c->framer);
    sc_reply_parser_init(&c->parser);
    c->state = SC_CS_TLS_WAIT;
    sc_cev *e = sc_client_push_ev(c, SMTPCORE_CEV_STARTTLS, SMTPCORE_SUCCESS, r);
    e->ev.discarded = extra;
    if (extra)
        e->ev.violation = SMTPCORE_V_STARTTLS_INJECTION;
}

int smtpcore_client_tls_started(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state != SC_CS_TLS_WAIT)
        return SMTPCORE_ERR_INVALID_STATE;
    c->tls_active = 1;
    c->discarded = 0;
    memset(&c->caps, 0, sizeof c->caps);
    c->pipelining = 0;
    c->state = SC_CS_SETUP;
    if (sc_client_send_hello(c) != SMTPCORE_OK)
        sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_NONE, 0);
    sc_client_pump(c);
    return SMTPCORE_OK;
}

static void on_greeting(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code == 220) {
        c->state = SC_CS_SETUP;
        sc_client_push(c, SMTPCORE_CEV_GREETING, SMTPCORE_SUCCESS, r, SMTPCORE_V_NONE, NULL);
        if (sc_client_send_hello(c) != SMTPCORE_OK)
            sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_NONE, 0);
        return;
    }
    sc_client_close(c, sc_client_class(r->code), r, SMTPCORE_V_SERVICE_UNAVAILABLE, 1);
}

static void on_ehlo(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code / 100 == 2) {
        memset(&c->caps, 0, sizeof c->caps);
        (void)smtpcore_caps_parse(r, &c->caps);
        c->caps.esmtp = 1;
        c->pipelining = (c->caps.extensions & SMTPCORE_EXT_PIPELINING) &&
                        !(c->quirks & SMTPCORE_QUIRK_NO_PIPELINING);
        setup_next(c);
        return;
    }
    if (r->code >= 500 && r->code <= 502 && !c->lmtp) {
        /* RFC 1869 4.7 / the 000 seed: RSET (whatever it gets back), then HELO. */
        enqueue_simple(c, SC_CK_RSET_FALLBACK, SC_VERB_RSET, NULL);
        enqueue_simple(c, SC_CK_HELO, SC_VERB_HELO, c->helo_name);
        return;
    }
    sc_client_close(c, sc_client_class(r->code), r,
                    r->code == 554 ? SMTPCORE_V_SERVICE_UNAVAILABLE : SMTPCORE_V_NONE, 1);
}

static void on_helo(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code / 100 == 2) {
        memset(&c->caps, 0, sizeof c->caps);
        c->pipelining = 0;
        setup_next(c);
        return;
    }
    sc_client_close(c, sc_client_class(r->code), r, SMTPCORE_V_NONE, 1);
}

static void on_rcpt(smtpcore_client *c, const smtpcore_reply *r)
{
    smtpcore_failure f = sc_client_class(r->code);
    /* RFC 5321 4.5.3.1.10: 552 "too many recipients" is to be treated as temporary. */
    if (r->code == 552)
        f = SMTPCORE_FAIL_TRANSIENT;
    sc_cev *e = sc_client_push_ev(c, SMTPCORE_CEV_RCPT_RESULT, f, r);
    e->ev.rcpt_index = c->tx.rcpt_replied;
    if (f == SMTPCORE_SUCCESS)
        sc_client_lmtp_accepted(c, c->tx.rcpt_replied);
    c->tx.rcpt_replied++;
    if (f == SMTPCORE_SUCCESS)
        c->tx.rcpt_accepted++;
    else if (f == SMTPCORE_FAIL_TRANSIENT)
        c->tx.rcpt_transient = 1;
    /* The first refusal, or the first transient one: a 4xx makes the class transient.
     * Once a recipient is accepted the envelope cannot decide a failure (LMTP later
     * recounts rcpt_accepted from the delivery replies, so this is settled here). */
    if (f == SMTPCORE_SUCCESS)
        c->tx.env_kept = SMTPCORE_SUCCESS;
    else if (!c->tx.mail_failed && c->tx.rcpt_accepted == 0 &&
             (c->tx.env_kept == SMTPCORE_SUCCESS ||
              (f == SMTPCORE_FAIL_TRANSIENT && c->tx.env_kept != SMTPCORE_FAIL_TRANSIENT)))
        keep_env_reply(c, r, f);
    sc_client_tx_check_done(c);
}

static void on_data(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code == 354) {
        if (c->tx.rcpt_accepted > 0 && !c->tx.mail_failed) {
            c->tx.state = SC_TX_BODY;
            sc_stuffer_init(&c->tx.stuffer, 1, 0);
            sc_client_push(c, SMTPCORE_CEV_SEND_BODY, SMTPCORE_SUCCESS, r, SMTPCORE_V_NONE,
                           NULL);
            return;
        }
        /* RFC 2920 3.1: DATA went out pipelined but no recipient was accepted, and the
         * server still wants a body: send an empty one and ignore its verdict. */
        if (sc_buf_append_all(&c->out, ".\r\n", 3) != 0) {
            sc_client_close(c, SMTPCORE_FAIL_LOCAL, r, SMTPCORE_V_NONE, 0);
            return;
        }
        (void)sc_client_ring_push(c, SC_CK_DOT_SWALLOW);
        return;
    }
    smtpcore_failure ef = sc_client_env_failure(c);
    sc_client_tx_finish(c, ef != SMTPCORE_SUCCESS ? ef : sc_client_class(r->code), r,
                        SMTPCORE_V_NONE);
}

/* LMTP: the first reply to "." or BDAT LAST is the first recipient's. */
static int lmtp_first(smtpcore_client *c, const smtpcore_reply *r, int fin)
{
    if (!sc_client_lmtp_start(c, fin))
        return 0;
    sc_client_lmtp_delivery(c, r);
    return 1;
}

/* RFC 3030 2: a 4xx/5xx to BDAT fails the transaction; the rest of the body is not sent
 * (the server still reads and answers the chunks already on their way). */
static void on_bdat_refused(smtpcore_client *c, const smtpcore_reply *r)
{
    if (c->tx.state != SC_TX_BODY && c->tx.state != SC_TX_FINAL)
        return;
    c->tx.bdat_fail = sc_client_class(r->code);
    c->body_discard = 1;
    if (c->tx_outstanding == 0) {
        sc_client_tx_finish(c, sc_client_bdat_failure(c), r, SMTPCORE_V_NONE);
        return;
    }
    if (sc_client_env_failure(c) != SMTPCORE_SUCCESS && c->tx.env_kept != SMTPCORE_SUCCESS) {
        /* The envelope's reply decides; scratch already holds it. */
        c->tx.bdat_reply = c->tx.env_reply;
        return;
    }
    /* The input front moves on with the next replies; a whole reply fits in the input
     * buffer and scratch is at least that large. */
    memcpy(c->scratch, r->raw.ptr, r->raw.len);
    c->tx.bdat_reply = *r;
    c->tx.bdat_reply.raw.ptr = c->scratch;
}

static void on_final(smtpcore_client *c, sc_ckind k, const smtpcore_reply *r)
{
    if (k != SC_CK_DOT_SWALLOW && lmtp_first(c, r, 0))
        return;
    if (k == SC_CK_BDAT_LAST && c->tx.bdat_fail != SMTPCORE_SUCCESS) {
        sc_client_bdat_check_done(c);
        return;
    }
    smtpcore_failure f = sc_client_env_failure(c);
    if (f == SMTPCORE_SUCCESS)
        f = sc_client_class(r->code);
    sc_client_tx_finish(c, f, r, SMTPCORE_V_NONE);
}

void sc_client_on_reply(smtpcore_client *c, const smtpcore_reply *r)
{
    if (r->code < 200 || r->code > 599) {
        sc_client_protocol_error(c, r, SMTPCORE_V_MALFORMED_REPLY, "reply code out of range");
        return;
    }
    if (r->code == 421) {
        /* RFC 5321 3.8: the server is shutting down, whatever was asked. */
        int quitting = c->ring_len > 0 && c->ring[c->ring_head] == SC_CK_QUIT;
        sc_client_close(c, quitting && c->tx.state == SC_TX_NONE ? SMTPCORE_SUCCESS
                                                          : SMTPCORE_FAIL_TRANSIENT,
                        r, SMTPCORE_V_SERVICE_UNAVAILABLE, 0);
        return;
    }
    if (c->lmtp_left > 0) {
        /* LMTP: the remaining per-recipient replies of the message come first. */
        sc_client_lmtp_delivery(c, r);
        return;
    }
    if (c->ring_len == 0) {
        sc_client_protocol_error(c, r, SMTPCORE_V_UNEXPECTED_REPLY,
                                 "reply without an outstanding command");
        return;
    }
    sc_ckind k = sc_client_ring_pop(c);
    if (!code_allowed(k, r->code)) {
        sc_client_protocol_error(c, r, SMTPCORE_V_UNEXPECTED_REPLY,
                                 "reply code not allowed for the command");
        return;
    }
    /* Ahead of the swallowing below: an aborted transaction is always the later one. */
    if (k == SC_CK_DOT && c->fin_pending) {
        if (!lmtp_first(c, r, 1))
            sc_client_fin_result(c, sc_client_class(r->code), r, SMTPCORE_V_NONE, NULL);
        return;
    }
    if (sc_client_is_tx_kind(k) && c->tx_aborted > 0) {
        c->tx_aborted--;
        return;
    }
    switch (k) {
    case SC_CK_GREETING: on_greeting(c, r); break;
    case SC_CK_EHLO: on_ehlo(c, r); break;
    case SC_CK_HELO: on_helo(c, r); break;
    case SC_CK_RSET_FALLBACK: break;
    case SC_CK_STARTTLS:
        if (r->code == 220) {
            on_starttls_220(c, r);
        } else {
            c->tls_tried = 1;
            if (c->tls_policy == SMTPCORE_TLS_REQUIRED)
                sc_client_close(c, sc_client_class(r->code), r, SMTPCORE_V_TLS_REQUIRED, 1);
            else
                setup_next(c);
        }
        break;
    case SC_CK_AUTH: sc_client_auth_reply(c, r); break;
    case SC_CK_RSET_TXN:
        c->need_rset = 0;
        break;
    case SC_CK_RSET_USER:
        if (r->code / 100 == 2)
            c->need_rset = 0;
        sc_client_push(c, SMTPCORE_CEV_REPLY, sc_client_class(r->code), r, SMTPCORE_V_NONE,
                       NULL);
        break;
    case SC_CK_NOOP:
        sc_client_push(c, SMTPCORE_CEV_REPLY, sc_client_class(r->code), r, SMTPCORE_V_NONE,
                       NULL);
        break;
    case SC_CK_MAIL:
        sc_client_push(c, SMTPCORE_CEV_MAIL_RESULT, sc_client_class(r->code), r,
                       SMTPCORE_V_NONE, NULL);
        if (r->code / 100 != 2) {
            c->tx.mail_failed = 1;
            c->tx.fail = sc_client_class(r->code);
            keep_env_reply(c, r, c->tx.fail);
            sc_client_queue_drop_tx(c);
            sc_client_tx_check_done(c);
        }
        break;
    case SC_CK_RCPT:
        on_rcpt(c, r);
        break;
    case SC_CK_DATA: on_data(c, r); break;
    case SC_CK_DOT:
    case SC_CK_DOT_SWALLOW:
    case SC_CK_BDAT_LAST:
        on_final(c, k, r);
        break;
    case SC_CK_BDAT:
        if (c->tx.bdat_fail != SMTPCORE_SUCCESS) {
            /* A later chunk of a failed transaction: its verdict adds nothing. */
            sc_client_bdat_check_done(c);
            break;
        }
        if (r->code / 100 != 2) {
            on_bdat_refused(c, r);
            break;
        }
        /* One chunk at a time without pipelining: ask for the next one. */
        if (!c->pipelining && c->tx.state == SC_TX_BODY)
            sc_client_push(c, SMTPCORE_CEV_SEND_BODY, SMTPCORE_SUCCESS, r, SMTPCORE_V_NONE,
                           NULL);
        break;
    case SC_CK_QUIT:
        sc_client_close(c, sc_client_class(r->code), r, SMTPCORE_V_NONE, 0);
        break;
    case SC_CK_BODY_MARK:
        break;
    case SC_CK_XCLIENT: sc_client_xclient_reply(c, r); break;
    }
}
