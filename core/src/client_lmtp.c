/* SPDX-License-Identifier: MIT */
/* Client: LMTP (RFC 2033 4.2). After the end of the data the server sends one reply per
 * recipient that RCPT accepted, in RCPT order: each becomes a DELIVERY_RESULT naming the
 * recipient by its rcpt() index, then MESSAGE_RESULT carries the totals. The replies are
 * taken ahead of the command ring (they all answer the one "." or BDAT LAST), so the
 * commands of a next transaction pipelined behind the dot get the replies after them. */
#include <string.h>

#include "client_internal.h"

void sc_client_lmtp_accepted(smtpcore_client *c, size_t index)
{
    if (c->lmtp_acc && index / 8 < c->lmtp_acc_bytes)
        c->lmtp_acc[index / 8] |= (uint8_t)(1u << (index % 8));
}

/* The first reply to "." or BDAT LAST arrived: from now on the next `accepted` replies
 * are delivery replies. Returns 0 when no recipient was accepted (one reply, as SMTP). */
int sc_client_lmtp_start(smtpcore_client *c, int fin)
{
    size_t accepted = fin ? c->fin_rcpt_accepted : c->tx.rcpt_accepted;
    if (!c->lmtp || accepted == 0)
        return 0;
    c->lmtp_left = accepted;
    c->lmtp_limit = fin ? c->fin_rcpt_total : c->tx.rcpt_total;
    c->lmtp_cursor = 0;
    c->lmtp_ok = 0;
    c->lmtp_transient = 0;
    c->lmtp_fin = fin;
    /* From here on the counts mean "delivered", also in a MESSAGE_RESULT that a closing
     * connection produces before every reply came. */
    if (fin)
        c->fin_rcpt_accepted = 0;
    else
        c->tx.rcpt_accepted = 0;
    return 1;
}

/* The index of the next accepted recipient, cleared from the bitmap. */
static size_t next_accepted(smtpcore_client *c)
{
    size_t i = c->lmtp_cursor;
    while (i < c->lmtp_limit && i / 8 < c->lmtp_acc_bytes &&
           !(c->lmtp_acc[i / 8] & (1u << (i % 8))))
        i++;
    if (i / 8 < c->lmtp_acc_bytes)
        c->lmtp_acc[i / 8] &= (uint8_t)~(1u << (i % 8));
    c->lmtp_cursor = i + 1;
    return i;
}

void sc_client_lmtp_delivery(smtpcore_client *c, const smtpcore_reply *r)
{
    int cls = r->code / 100;
    if (cls != 2 && cls != 4 && cls != 5) {
        sc_client_protocol_error(c, r, SMTPCORE_V_UNEXPECTED_REPLY,
                                 "LMTP delivery reply is not 2xx, 4xx or 5xx");
        return;
    }
    smtpcore_failure f = sc_client_class(r->code);
    sc_cev *e = sc_client_push_ev(c, SMTPCORE_CEV_DELIVERY_RESULT, f, r);
    e->ev.rcpt_index = next_accepted(c);
    if (f == SMTPCORE_SUCCESS) {
        c->lmtp_ok++;
        if (c->lmtp_fin)
            c->fin_rcpt_accepted++;
        else
            c->tx.rcpt_accepted++;
    } else if (f == SMTPCORE_FAIL_TRANSIENT) {
        c->lmtp_transient = 1;
    }
    if (--c->lmtp_left > 0)
        return;
    smtpcore_failure mf = c->lmtp_ok ? SMTPCORE_SUCCESS
                                     : c->lmtp_transient ? SMTPCORE_FAIL_TRANSIENT
                                                         : SMTPCORE_FAIL_PERMANENT;
    int fin = c->lmtp_fin;
    c->lmtp_fin = 0;
    if (fin) {
        sc_client_fin_result(c, mf, r, SMTPCORE_V_NONE, NULL);
        return;
    }
    if (c->tx.bdat_fail != SMTPCORE_SUCCESS) {
        /* A chunk was refused earlier: that verdict decides, as in SMTP. */
        sc_client_bdat_check_done(c);
        return;
    }
    sc_client_tx_finish(c, mf, r, SMTPCORE_V_NONE);
}
