/* SPDX-License-Identifier: MIT */
/* Client session core: the event queue, the end and reset of a transaction, closing, the
 * RFC 2920 pump that moves queued commands to the output, and the hello command. It calls
 * only the command queue (client_queue.c); the concern files (client_proto.c, client_tx.c,
 * client_auth.c, client_lmtp.c, client_xclient.c) and the public loop in client.c call
 * it, never the other way round. */
#include <string.h>

#include "client_internal.h"
#include "command.h"
#include "sc_assert.h"

smtpcore_failure sc_client_class(int code)
{
    if (code >= 500)
        return SMTPCORE_FAIL_PERMANENT;
    if (code >= 400)
        return SMTPCORE_FAIL_TRANSIENT;
    return SMTPCORE_SUCCESS;
}

/* ---- events ---- */

sc_cev *sc_client_push_ev(smtpcore_client *c, smtpcore_client_event_type t, smtpcore_failure f,
                          const smtpcore_reply *reply)
{
    sc_cev *e;
    if (c->evq_len < SC_CEV_QUEUE) {
        e = &c->evq[(c->evq_head + c->evq_len) % SC_CEV_QUEUE];
        c->evq_len++;
    } else {
        /* next_event() takes a reply only with the queue empty, and one reply or API call
         * pushes a few events: overflowing is an engine bug. Release builds reuse the last
         * slot rather than write out of bounds. */
        SC_ASSERT(c->evq_len < SC_CEV_QUEUE);
        e = &c->evq[(c->evq_head + SC_CEV_QUEUE - 1) % SC_CEV_QUEUE];
    }
    memset(e, 0, sizeof *e);
    e->ev.type = t;
    e->ev.failure = f;
    if (reply) {
        e->ev.reply = *reply;
        e->with_reply = 1;
    }
    e->ev.caps = c->caps;
    return e;
}

sc_cev *sc_client_push(smtpcore_client *c, smtpcore_client_event_type t, smtpcore_failure f,
                       const smtpcore_reply *reply, smtpcore_violation v, const char *msg)
{
    sc_cev *e = sc_client_push_ev(c, t, f, reply);
    e->ev.violation = v;
    if (msg) {
        e->ev.message.ptr = msg;
        e->ev.message.len = strlen(msg);
    }
    return e;
}

void sc_client_ready(smtpcore_client *c)
{
    c->state = SC_CS_READY;
    sc_client_push(c, SMTPCORE_CEV_READY, SMTPCORE_SUCCESS, NULL, SMTPCORE_V_NONE, NULL);
}

/* ---- the transaction: reset and end ---- */

static void lmtp_clear(smtpcore_client *c)
{
    if (c->lmtp_acc)
        memset(c->lmtp_acc, 0, c->lmtp_acc_bytes);
    c->lmtp_left = c->lmtp_cursor = c->lmtp_limit = c->lmtp_ok = 0;
    c->lmtp_transient = c->lmtp_fin = 0;
}

void sc_client_tx_reset(smtpcore_client *c)
{
    memset(&c->tx, 0, sizeof c->tx);
    /* LMTP: the bitmap holds the accepted recipients of the transaction being dropped,
     * unless an overtaken message (fin_pending) still waits for its delivery replies:
     * then it holds that message's, and the dropped one has not had a RCPT reply yet
     * (they come after the earlier message's replies). */
    if (!c->fin_pending)
        lmtp_clear(c);
}

smtpcore_failure sc_client_env_failure(const smtpcore_client *c)
{
    if (c->tx.mail_failed)
        return c->tx.fail;
    if (c->tx.rcpt_accepted == 0)
        return c->tx.rcpt_transient ? SMTPCORE_FAIL_TRANSIENT : SMTPCORE_FAIL_PERMANENT;
    return SMTPCORE_SUCCESS;
}

smtpcore_failure sc_client_bdat_failure(const smtpcore_client *c)
{
    smtpcore_failure f = sc_client_env_failure(c);
    return f != SMTPCORE_SUCCESS ? f : c->tx.bdat_fail;
}

void sc_client_tx_finish(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *r,
                         smtpcore_violation v)
{
    /* A failed envelope decided the outcome: quote it, not what DATA got for it. */
    if (f != SMTPCORE_SUCCESS && c->tx.env_kept != SMTPCORE_SUCCESS &&
        sc_client_env_failure(c) != SMTPCORE_SUCCESS)
        r = &c->tx.env_reply;
    sc_cev *e = sc_client_push_ev(c, SMTPCORE_CEV_MESSAGE_RESULT, f, r);
    /* Kept replies live in scratch, not at the input front. */
    if (r == &c->tx.bdat_reply || r == &c->tx.env_reply)
        e->with_reply = 0;
    e->ev.violation = v;
    e->ev.rcpt_accepted = c->tx.rcpt_accepted;
    e->ev.rcpt_total = c->tx.rcpt_total;
    /* Whatever of this transaction is still queued will never be sent. */
    sc_client_queue_drop_tx(c);
    c->need_rset = f != SMTPCORE_SUCCESS;
    sc_client_tx_reset(c);
    sc_client_ready(c);
}

/* The reply to the "." of a transaction that the next one overtook (or the connection
 * closing before it came): its MESSAGE_RESULT, and nothing else changes. The next
 * transaction is under way, so no READY follows; and after a reply to "." the server
 * has no transaction state left, so no RSET is needed whatever the verdict. */
void sc_client_fin_result(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *r,
                          smtpcore_violation v, const char *msg)
{
    c->fin_pending = 0;
    sc_cev *e = sc_client_push(c, SMTPCORE_CEV_MESSAGE_RESULT, f, r, v, msg);
    e->ev.rcpt_accepted = c->fin_rcpt_accepted;
    e->ev.rcpt_total = c->fin_rcpt_total;
}

void sc_client_tx_check_done(smtpcore_client *c)
{
    if (c->tx.state != SC_TX_ENVELOPE || c->tx_outstanding > 0)
        return;
    int hopeless = c->tx.mail_failed ||
                   (c->tx.data_requested && !c->tx.data_sent &&
                    c->tx.rcpt_replied == c->tx.rcpt_total && c->tx.rcpt_accepted == 0);
    if (hopeless)
        sc_client_tx_finish(c, sc_client_env_failure(c), NULL, SMTPCORE_V_NONE);
}

/* A chunk was refused earlier: the transaction ends with that chunk's reply once every
 * chunk already sent (and BDAT LAST, if it went out) has been answered. */
void sc_client_bdat_check_done(smtpcore_client *c)
{
    if (c->tx.bdat_fail == SMTPCORE_SUCCESS || c->tx_outstanding > 0 ||
        (c->tx.state != SC_TX_BODY && c->tx.state != SC_TX_FINAL))
        return;
    sc_client_tx_finish(c, sc_client_bdat_failure(c), &c->tx.bdat_reply, SMTPCORE_V_NONE);
}

/* ---- closing ---- */

/* Ends the conversation. Pending commands are dropped; QUIT is written only when asked and
 * when it cannot be mistaken for body content. */
sc_cev *sc_client_close(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *reply,
                        smtpcore_violation v, int send_quit)
{
    if (c->state == SC_CS_CLOSED)
        return NULL;
    if (c->fin_pending)
        sc_client_fin_result(c, f == SMTPCORE_SUCCESS ? SMTPCORE_FAIL_TRANSIENT : f, reply, v,
                             "transaction aborted: connection closing");
    sc_cev *result = NULL;
    if (c->tx.state != SC_TX_NONE) {
        if (c->tx.bdat_fail != SMTPCORE_SUCCESS) {
            /* The server already refused a chunk: that verdict is the message's outcome;
             * the closing reason stays in violation and in CLOSED. */
            result = sc_client_push(c, SMTPCORE_CEV_MESSAGE_RESULT, c->tx.bdat_fail,
                                    &c->tx.bdat_reply, v,
                                    "transaction failed (BDAT chunk refused); connection "
                                    "closing");
            result->with_reply = 0;
        } else {
            result = sc_client_push(c, SMTPCORE_CEV_MESSAGE_RESULT,
                                    f == SMTPCORE_SUCCESS ? SMTPCORE_FAIL_TRANSIENT : f, reply,
                                    v, "transaction aborted: connection closing");
        }
        result->ev.rcpt_accepted = c->tx.rcpt_accepted;
        result->ev.rcpt_total = c->tx.rcpt_total;
    }
    sc_client_tx_reset(c); /* fin_pending is 0 now: LMTP state goes too */
    sc_client_queue_clear(c);
    if (send_quit && !c->quit_queued)
        (void)sc_buf_append_all(&c->out, "QUIT\r\n", 6);
    c->state = SC_CS_CLOSED;
    c->closed_emitted = 1;
    sc_client_push(c, SMTPCORE_CEV_CLOSED, f, reply, v, NULL);
    return result;
}

void sc_client_protocol_error(smtpcore_client *c, const smtpcore_reply *reply,
                              smtpcore_violation v, const char *msg)
{
    if (c->state == SC_CS_CLOSED)
        return;
    sc_client_push(c, SMTPCORE_CEV_PROTOCOL_ERROR, SMTPCORE_FAIL_PERMANENT, reply, v, msg);
    /* The reply stream can no longer be matched to commands: nothing more is sent. */
    (void)sc_client_close(c, SMTPCORE_FAIL_PERMANENT, reply, v, 0);
}

/* ---- the pump ---- */

/* Should a queued DATA / body mark be dropped because the transaction cannot succeed? */
static int tx_hopeless(const smtpcore_client *c)
{
    return c->tx.mail_failed ||
           (c->tx.rcpt_replied == c->tx.rcpt_total && c->tx.rcpt_accepted == 0);
}

void sc_client_pump(smtpcore_client *c)
{
    sc_ckind k;
    const char *bytes;
    size_t len;
    while (c->state != SC_CS_CLOSED && sc_client_queue_front(c, &k, &bytes, &len)) {
        /* Body bytes own the stream between 354 and the final dot; after a 220 to
         * STARTTLS the next bytes must be the TLS handshake. */
        if (c->tx.state == SC_TX_BODY || c->state == SC_CS_TLS_WAIT)
            return;
        if (c->ring_len > 0 && (c->last_sent_ends_group || !c->pipelining))
            return;
        if (k == SC_CK_QUIT && (c->quirks & SMTPCORE_QUIRK_SPLIT_QUIT) && c->rset_outstanding)
            return;
        if ((k == SC_CK_DATA || k == SC_CK_BODY_MARK) && tx_hopeless(c)) {
            sc_client_queue_pop(c, len);
            sc_client_tx_check_done(c);
            continue;
        }
        if (k == SC_CK_BODY_MARK) {
            /* Not a command: the body may flow from here (BDAT). */
            sc_client_queue_pop(c, len);
            c->tx.state = SC_TX_BODY;
            sc_client_push(c, SMTPCORE_CEV_SEND_BODY, SMTPCORE_SUCCESS, NULL, SMTPCORE_V_NONE,
                           NULL);
            continue;
        }
        if (c->ring_len == c->ring_cap || sc_buf_room(&c->out) < len)
            return;
        (void)sc_buf_append_all(&c->out, bytes, len);
        sc_client_queue_pop(c, len);
        (void)sc_client_ring_push(c, k);
        if (k == SC_CK_DATA)
            c->tx.data_sent = 1;
    }
}

/* ---- the hello ---- */

int sc_client_send_hello(smtpcore_client *c)
{
    char line[300];
    /* LMTP (RFC 2033 4.1): LHLO, answered like EHLO; HELO_ONLY does not apply. */
    int helo = !c->lmtp && (c->quirks & SMTPCORE_QUIRK_HELO_ONLY) != 0;
    sc_verb v = c->lmtp ? SC_VERB_LHLO : helo ? SC_VERB_HELO : SC_VERB_EHLO;
    size_t n = sc_command_write_simple(line, sizeof line, v, c->helo_name, strlen(c->helo_name));
    if (n == (size_t)-1)
        return SMTPCORE_ERR_TOO_LONG;
    return sc_client_enqueue(c, helo ? SC_CK_HELO : SC_CK_EHLO, line, n);
}
