/* SPDX-License-Identifier: MIT */
/* Client transaction API: host input is checked (injection, syntax, what the server
 * offers) before anything is queued, so an invalid command is never sent. */
#include <string.h>

#include "abi.h"
#include "client_internal.h"
#include "command.h"
#include "syntax.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with its CRLF; servers
 * (ours included) refuse longer ones, so the client never sends them. */
#define SC_CMD_LINE_MAX 512

static int has_ext(const smtpcore_client *c, uint32_t ext)
{
    return c->caps.esmtp && (c->caps.extensions & ext) != 0;
}

static int str_safe(const char *s, size_t n) { return n == 0 || sc_command_check_arg(s, n) == 0; }

static int can_start(const smtpcore_client *c)
{
    return c->state == SC_CS_READY && c->tx.state == SC_TX_NONE && !c->quit_queued;
}

/* RFC 2920 3.1: message content may be followed by the next commands in the same group,
 * so with PIPELINING the next MAIL goes out right behind the "." of a DATA transaction
 * (one round trip per message instead of two). Not behind BDAT LAST: a refused chunk's
 * verdict may still be on its way and belongs to that transaction. */
static int can_overtake(const smtpcore_client *c)
{
    return c->state == SC_CS_READY && c->tx.state == SC_TX_FINAL && !c->tx.bdat && c->pipelining &&
           !c->fin_pending && !c->quit_queued;
}

/* Validates a mailbox ("" allowed for the reverse path only). */
static int check_mailbox(const char *s, size_t n, int allow_null, int utf8_ok)
{
    if (!str_safe(s, n))
        return SMTPCORE_ERR_INJECTION;
    if (n == 0)
        return allow_null ? SMTPCORE_OK : SMTPCORE_ERR_SYNTAX;
    int utf8 = 0;
    if (!sc_mailbox_valid(s, n, utf8_ok ? SC_SYN_UTF8 : 0, &utf8))
        return SMTPCORE_ERR_SYNTAX;
    return SMTPCORE_OK;
}

/* Formats a command straight into the queue. */
static int queue_mail(smtpcore_client *c, const char *from, size_t n, const smtpcore_mail_params *p)
{
    size_t cap;
    char *q = sc_client_enqueue_begin(c, &cap);
    if (!q)
        return SMTPCORE_ERR_BUFFER_FULL;
    size_t len = sc_command_write_mail(q, cap, from, n, p);
    if (len == (size_t)-1)
        return cap >= SC_CMD_LINE_MAX ? SMTPCORE_ERR_TOO_LONG : SMTPCORE_ERR_BUFFER_FULL;
    if (len > SC_CMD_LINE_MAX)
        return SMTPCORE_ERR_TOO_LONG;
    return sc_client_enqueue_commit(c, SC_CK_MAIL, len);
}

int smtpcore_client_mail(smtpcore_client *c, const char *from, const smtpcore_mail_params *params)
{
    if (!c || !from)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* The host's struct may be older (smaller) than ours: read it by the ABI rule. */
    smtpcore_mail_params in;
    if (params) {
        smtpcore_mail_params_init(&in);
        if (sc_abi_read(&in, sizeof in, params) != SMTPCORE_OK)
            return SMTPCORE_ERR_INVALID_ARGUMENT;
        params = &in;
    }
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    int overtake = can_overtake(c);
    if (!can_start(c) && !overtake)
        return SMTPCORE_ERR_INVALID_STATE;
    size_t fl = strlen(from);
    smtpcore_mail_params p;
    smtpcore_mail_params_init(&p);
    if (params) {
        if (!str_safe(params->envid.ptr, params->envid.len) ||
            !str_safe(params->auth.ptr, params->auth.len) || !str_safe(from, fl))
            return SMTPCORE_ERR_INJECTION;
        if (params->body == SMTPCORE_BODY_8BITMIME && !has_ext(c, SMTPCORE_EXT_8BITMIME) &&
            !(c->quirks & SMTPCORE_QUIRK_SEND_8BIT))
            return SMTPCORE_ERR_8BIT_NOT_OFFERED;
        if (params->body == SMTPCORE_BODY_BINARYMIME &&
            (!has_ext(c, SMTPCORE_EXT_BINARYMIME) || !has_ext(c, SMTPCORE_EXT_CHUNKING) ||
             (c->quirks & SMTPCORE_QUIRK_NO_CHUNKING)))
            return SMTPCORE_ERR_UNSUPPORTED;
        if (params->smtputf8 && !has_ext(c, SMTPCORE_EXT_SMTPUTF8))
            return SMTPCORE_ERR_UNSUPPORTED;
        if (params->has_size && has_ext(c, SMTPCORE_EXT_SIZE)) {
            if (c->caps.size_limit && params->size > c->caps.size_limit)
                return SMTPCORE_ERR_TOO_LONG;
            p.has_size = 1;
            p.size = params->size;
        }
        if (c->caps.esmtp) {
            p.body = params->body;
            /* BODY= belongs to 8BITMIME (RFC 6152) or BINARYMIME; 7BIT is the default
             * anyway, so without them it is simply left out. */
            if (p.body == SMTPCORE_BODY_7BIT &&
                !has_ext(c, SMTPCORE_EXT_8BITMIME | SMTPCORE_EXT_BINARYMIME))
                p.body = SMTPCORE_BODY_UNSPECIFIED;
            /* QUIRK_SEND_8BIT: the body goes as is, undeclared (as MTAs did before 8BITMIME). */
            if (p.body == SMTPCORE_BODY_8BITMIME && !has_ext(c, SMTPCORE_EXT_8BITMIME))
                p.body = SMTPCORE_BODY_UNSPECIFIED;
            p.smtputf8 = params->smtputf8 ? 1 : 0;
            if (has_ext(c, SMTPCORE_EXT_DSN)) {
                p.ret = params->ret;
                p.envid = params->envid;
            }
            if (has_ext(c, SMTPCORE_EXT_AUTH))
                p.auth = params->auth;
        }
    }
    int rc = check_mailbox(from, fl, 1, p.smtputf8);
    if (rc != SMTPCORE_OK)
        return rc;

    /* A released session (smtpcore_client_release_idle()) takes its buffers back here,
     * before anything changes, so NOMEM leaves it as it was. */
    rc = sc_client_block_take(c);
    if (rc != SMTPCORE_OK)
        return rc;
    /* The automatic RSET and MAIL go in together or not at all. */
    size_t mark = sc_client_queue_mark(c);
    if (c->need_rset) {
        rc = sc_client_enqueue(c, SC_CK_RSET_TXN, "RSET\r\n", 6);
        if (rc != SMTPCORE_OK)
            return rc;
    }
    rc = queue_mail(c, from, fl, &p);
    if (rc != SMTPCORE_OK) {
        sc_client_queue_rewind(c, mark);
        return rc;
    }
    if (overtake) {
        /* The earlier transaction keeps only its "." (the sole entry it has left in the
         * ring: its 354 came after every MAIL/RCPT reply) and its counts. */
        c->fin_pending = 1;
        c->fin_rcpt_accepted = c->tx.rcpt_accepted;
        c->fin_rcpt_total = c->tx.rcpt_total;
        c->tx_outstanding = 0;
    }
    c->need_rset = 0;
    c->body_discard = 0;
    sc_client_tx_reset(c); /* after fin_pending is set: an overtaken message keeps its own */
    c->tx.state = SC_TX_ENVELOPE;
    c->tx.utf8 = p.smtputf8;
    c->tx.binary = p.body == SMTPCORE_BODY_BINARYMIME;
    c->tx.only_7bit = !c->tx.binary && !has_ext(c, SMTPCORE_EXT_8BITMIME) &&
                      !(c->quirks & SMTPCORE_QUIRK_SEND_8BIT);
    c->tx.bdat = c->tx.binary || (has_ext(c, SMTPCORE_EXT_CHUNKING) &&
                                  !(c->quirks & SMTPCORE_QUIRK_NO_CHUNKING));
    sc_client_pump(c);
    return SMTPCORE_OK;
}

int smtpcore_client_rcpt(smtpcore_client *c, const char *to, const smtpcore_rcpt_params *params)
{
    if (!c || !to)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->tx.state != SC_TX_ENVELOPE || c->tx.data_requested || c->tx.mail_failed)
        return SMTPCORE_ERR_INVALID_STATE;
    size_t tl = strlen(to);
    smtpcore_rcpt_params p;
    memset(&p, 0, sizeof p);
    if (params) {
        if (!str_safe(params->orcpt.ptr, params->orcpt.len))
            return SMTPCORE_ERR_INJECTION;
        if (has_ext(c, SMTPCORE_EXT_DSN))
            p = *params;
    }
    int rc = check_mailbox(to, tl, 0, c->tx.utf8);
    if (rc != SMTPCORE_OK)
        return rc;
    if (c->tx.rcpt_total >= c->max_recipients)
        return SMTPCORE_ERR_TOO_LONG;
    size_t cap;
    char *q = sc_client_enqueue_begin(c, &cap);
    if (!q)
        return SMTPCORE_ERR_BUFFER_FULL;
    size_t len = sc_command_write_rcpt(q, cap, to, tl, &p);
    if (len == (size_t)-1)
        return cap >= SC_CMD_LINE_MAX ? SMTPCORE_ERR_TOO_LONG : SMTPCORE_ERR_BUFFER_FULL;
    if (len > SC_CMD_LINE_MAX)
        return SMTPCORE_ERR_TOO_LONG;
    rc = sc_client_enqueue_commit(c, SC_CK_RCPT, len);
    if (rc != SMTPCORE_OK)
        return rc;
    c->tx.rcpt_total++;
    sc_client_pump(c);
    return SMTPCORE_OK;
}

int smtpcore_client_data(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->tx.state != SC_TX_ENVELOPE || c->tx.data_requested || c->tx.rcpt_total == 0 ||
        c->tx.mail_failed)
        return SMTPCORE_ERR_INVALID_STATE;
    int rc = c->tx.bdat ? sc_client_enqueue(c, SC_CK_BODY_MARK, NULL, 0)
                        : sc_client_enqueue(c, SC_CK_DATA, "DATA\r\n", 6);
    if (rc != SMTPCORE_OK)
        return rc;
    c->tx.data_requested = 1;
    if (c->tx.bdat)
        sc_stuffer_init(&c->tx.stuffer, 0, c->tx.binary);
    sc_client_pump(c);
    return SMTPCORE_OK;
}

/* Without pipelining a BDAT chunk waits for the previous chunk's reply. */
static int bdat_can_send(smtpcore_client *c)
{
    /* In the body state the whole envelope is out (the pump reached the body mark), so
     * anything still queued (QUIT) belongs after the body. */
    if (c->ring_len + 1 >= c->ring_cap)
        return 0;
    return c->pipelining || c->ring_len == 0;
}

#define SC_BDAT_HDR 32

static int has_8bit(const char *p, size_t n)
{
    unsigned char acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= (unsigned char)p[i];
    return (acc & 0x80) != 0;
}

/* RFC 6152: an 8-bit body must not go to a server without 8BITMIME. The "." was not sent,
 * so ending the session here makes the server discard what it got (RFC 5321 4.1.1.4). */
static int refuse_8bit(smtpcore_client *c)
{
    static const char why[] = "8-bit body but the server does not offer 8BITMIME";
    /* close() pushed MESSAGE_RESULT (the body state means a transaction is open), then
     * CLOSED: say why on the former. */
    sc_cev *result = sc_client_close(c, SMTPCORE_FAIL_LOCAL, NULL, SMTPCORE_V_8BIT, 0);
    if (result) {
        result->ev.message.ptr = why;
        result->ev.message.len = sizeof why - 1;
    }
    return SMTPCORE_ERR_8BIT_NOT_OFFERED;
}

int smtpcore_client_body(smtpcore_client *c, const char *data, size_t len, size_t *consumed)
{
    if (consumed)
        *consumed = 0;
    if (!c || !consumed || (!data && len))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->body_discard) {
        /* A chunk was refused: the host's loop runs to its end, nothing more is sent. */
        *consumed = len;
        return SMTPCORE_OK;
    }
    if (c->tx.state != SC_TX_BODY)
        return SMTPCORE_ERR_INVALID_STATE;
    if (len == 0)
        return SMTPCORE_OK;
    /* Only what this call can take (at most the output room) is scanned: a caller
     * offering a whole large message per call must not make it quadratic. */
    size_t scan = len < sc_buf_room(&c->out) ? len : sc_buf_room(&c->out);
    if (c->tx.only_7bit && has_8bit(data, scan))
        return refuse_8bit(c);
    if (!c->tx.bdat) {
        size_t room = sc_buf_room(&c->out);
        if (room < 3)
            return SMTPCORE_OK;
        char *o = sc_buf_reserve(&c->out, room);
        size_t w = sc_stuff(&c->tx.stuffer, data, len, o, room, consumed);
        sc_buf_commit(&c->out, w);
        return SMTPCORE_OK;
    }
    if (!bdat_can_send(c))
        return SMTPCORE_OK;
    size_t room = sc_buf_room(&c->out);
    if (room < SC_BDAT_HDR + 3)
        return SMTPCORE_OK;
    char *o = sc_buf_reserve(&c->out, room);
    size_t w = sc_stuff(&c->tx.stuffer, data, len, o + SC_BDAT_HDR, room - SC_BDAT_HDR, consumed);
    if (w == 0)
        return SMTPCORE_OK;
    char hdr[SC_BDAT_HDR];
    size_t hl = sc_command_write_bdat(hdr, sizeof hdr, w, 0);
    memcpy(o, hdr, hl);
    memmove(o + hl, o + SC_BDAT_HDR, w);
    sc_buf_commit(&c->out, hl + w);
    (void)sc_client_ring_push(c, SC_CK_BDAT);
    return SMTPCORE_OK;
}

int smtpcore_client_body_end(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->body_discard) {
        /* No BDAT LAST after a refused chunk; MESSAGE_RESULT comes (or came) anyway. */
        if (c->tx.state == SC_TX_BODY)
            c->tx.state = SC_TX_FINAL;
        return SMTPCORE_OK;
    }
    if (c->tx.state != SC_TX_BODY)
        return SMTPCORE_ERR_INVALID_STATE;
    char tail[8];
    if (!c->tx.bdat) {
        /* sc_stuff_finish() moves the stuffer on; a refused append must leave it as it
         * was, or the retry would lose the body's final CRLF. */
        sc_stuffer save = c->tx.stuffer;
        size_t n = sc_stuff_finish(&c->tx.stuffer, tail, sizeof tail);
        if (n == (size_t)-1 || sc_buf_append_all(&c->out, tail, n) != 0) {
            c->tx.stuffer = save;
            return SMTPCORE_ERR_BUFFER_FULL;
        }
        c->tx.state = SC_TX_FINAL;
        (void)sc_client_ring_push(c, SC_CK_DOT);
        sc_client_pump(c);
        return SMTPCORE_OK;
    }
    if (!bdat_can_send(c))
        return SMTPCORE_ERR_BUFFER_FULL;
    sc_stuffer save = c->tx.stuffer;
    size_t n = sc_stuff_finish(&c->tx.stuffer, tail, sizeof tail);
    char hdr[SC_BDAT_HDR];
    size_t hl = sc_command_write_bdat(hdr, sizeof hdr, n == (size_t)-1 ? 0 : n, 1);
    if (n == (size_t)-1 || sc_buf_room(&c->out) < hl + n) {
        c->tx.stuffer = save;
        return SMTPCORE_ERR_BUFFER_FULL;
    }
    (void)sc_buf_append_all(&c->out, hdr, hl);
    (void)sc_buf_append_all(&c->out, tail, n);
    c->tx.state = SC_TX_FINAL;
    (void)sc_client_ring_push(c, SC_CK_BDAT_LAST);
    sc_client_pump(c);
    return SMTPCORE_OK;
}

int smtpcore_client_rset(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->state != SC_CS_READY || c->quit_queued)
        return SMTPCORE_ERR_INVALID_STATE;
    if (c->tx.state != SC_TX_NONE && (c->tx.state != SC_TX_ENVELOPE || c->tx.data_sent))
        return SMTPCORE_ERR_INVALID_STATE;
    int rc = sc_client_block_take(c);
    if (rc != SMTPCORE_OK)
        return rc;
    rc = sc_client_enqueue(c, SC_CK_RSET_USER, "RSET\r\n", 6);
    if (rc != SMTPCORE_OK)
        return rc;
    if (c->tx.state == SC_TX_ENVELOPE) {
        /* Abort: unsent commands vanish, replies to sent ones are swallowed. */
        sc_client_queue_drop_tx(c);
        c->tx_aborted = c->tx_outstanding;
        sc_client_tx_reset(c);
    }
    c->need_rset = 0;
    sc_client_pump(c);
    return SMTPCORE_OK;
}

int smtpcore_client_noop(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (!can_start(c))
        return SMTPCORE_ERR_INVALID_STATE;
    int rc = sc_client_block_take(c);
    if (rc == SMTPCORE_OK)
        rc = sc_client_enqueue(c, SC_CK_NOOP, "NOOP\r\n", 6);
    if (rc == SMTPCORE_OK)
        sc_client_pump(c);
    return rc;
}

int smtpcore_client_quit(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->quit_queued)
        return SMTPCORE_OK;
    int rc = sc_client_block_take(c);
    if (rc != SMTPCORE_OK)
        return rc;
    rc = sc_client_enqueue(c, SC_CK_QUIT, "QUIT\r\n", 6);
    if (rc != SMTPCORE_OK)
        return rc;
    c->quit_queued = 1;
    sc_client_pump(c);
    return SMTPCORE_OK;
}
