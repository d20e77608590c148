/* SPDX-License-Identifier: MIT */
/* Server, layer 1 (see server_core.h): message content, through DATA (unstuffed) and BDAT
 * (raw octets). */
#include <string.h>

#include "sc_text.h"
#include "server_internal.h"

static void aborted(smtpcore_server *s, smtpcore_violation v, int code, const char *text,
                    uint64_t size, int bdat)
{
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_MESSAGE_ABORTED);
    ev->violation = v;
    ev->reply_code = code;
    ev->message = sc_cstr(text);
    ev->message_size = size;
    ev->bdat = bdat ? 1 : 0;
    ev->rcpt_count = s->rcpt_count;
}

/* The engine's refusal of a whole message: in LMTP mode once per recipient (RFC 2033
 * 4.2), since the client reads one reply for each. */
static void refuse_message(smtpcore_server *s, int code, const char *enh, const char *text)
{
    if (s->cfg.lmtp)
        sc_srv_lmtp_refuse_all(s, code, enh, text);
    else
        sc_srv_reply(s, code, enh, text);
}

void sc_srv_abort_body(smtpcore_server *s, smtpcore_violation v)
{
    int bdat = s->phase == SC_PH_BDAT;
    uint64_t size = bdat ? s->msg_size : s->unstuffer.size;
    aborted(s, v, 0, "connection closed during message content", size, bdat);
}

/* Once the message is doomed, content is not handed out but still read to its real end,
 * so that body lines are never taken as commands. */
static void data_check(smtpcore_server *s)
{
    if (s->data_refuse)
        return;
    const sc_unstuffer *u = &s->unstuffer;
    if (s->cfg.max_message_size && u->size > s->cfg.max_message_size)
        s->data_refuse = SMTPCORE_V_MESSAGE_TOO_BIG;
    else if (s->cfg.bare_lf_policy == SMTPCORE_BARE_LF_REJECT && (u->flags & SC_DATA_BARE_LF))
        s->data_refuse = SMTPCORE_V_BARE_LF;
    else if (s->cfg.bare_lf_policy == SMTPCORE_BARE_LF_REJECT && (u->flags & SC_DATA_BARE_CR))
        s->data_refuse = SMTPCORE_V_BARE_CR;
    else if (s->cfg.nul_policy == SMTPCORE_NUL_REJECT && (u->flags & SC_DATA_NUL))
        s->data_refuse = SMTPCORE_V_NUL;
}

static const char nul_text[] = "Error: NUL character in message content";

int sc_srv_data_step(smtpcore_server *s)
{
    const char *p;
    size_t n = sc_srv_unprocessed(s, &p);
    size_t off = 0, len = 0, used = 0;
    sc_unstuff_status st = sc_unstuff_next(&s->unstuffer, p, n, &off, &len, &used);
    s->in_done += used;
    if (st == SC_UNSTUFF_NEED_MORE)
        return used > 0;
    data_check(s);
    if (st == SC_UNSTUFF_SEGMENT) {
        if (!s->data_refuse && len) {
            smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_BODY);
            ev->data = sc_mkstr(p + off, len);
        }
        return 1;
    }
    s->phase = SC_PH_CMD;
    s->group_end = 1;
    const sc_unstuffer *u = &s->unstuffer;
    /* Which refusal wins is decided on the whole message, so that it does not depend on
     * where the reads happened to split it. */
    if (s->data_refuse) {
        s->data_refuse = 0;
        data_check(s);
    }
    switch (s->data_refuse) {
    case SMTPCORE_V_NONE: {
        smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_MESSAGE_END);
        ev->message_size = u->size;
        ev->long_lines = (u->flags & SC_DATA_LONG_LINE) ? 1 : 0;
        ev->rcpt_count = s->rcpt_count;
        sc_srv_await(s, ev);
        if (s->cfg.lmtp)
            sc_srv_lmtp_begin(s);
        return 1;
    }
    case SMTPCORE_V_MESSAGE_TOO_BIG:
        refuse_message(s, 552, "5.3.4", "Message size exceeds fixed limit");
        aborted(s, SMTPCORE_V_MESSAGE_TOO_BIG, 552, "Message size exceeds fixed limit", u->size,
                0);
        break;
    case SMTPCORE_V_BARE_CR:
        refuse_message(s, 550, "5.5.2", "Error: bare <CR> received");
        aborted(s, SMTPCORE_V_BARE_CR, 550, "Error: bare <CR> received", u->size, 0);
        break;
    case SMTPCORE_V_NUL:
        refuse_message(s, 550, "5.6.0", nul_text);
        aborted(s, SMTPCORE_V_NUL, 550, nul_text, u->size, 0);
        break;
    default:
        refuse_message(s, 550, "5.5.2", "Error: bare <LF> received");
        aborted(s, SMTPCORE_V_BARE_LF, 550, "Error: bare <LF> received", u->size, 0);
        break;
    }
    sc_srv_reset_txn(s);
    return 1;
}

void sc_srv_bdat_start(smtpcore_server *s, uint64_t n, int last, sc_bdat_mode mode)
{
    s->phase = SC_PH_BDAT;
    s->bdat_remaining = n;
    s->bdat_chunk = n;
    s->bdat_last = last ? 1 : 0;
    s->bdat_mode = (uint8_t)mode;
    s->data_refuse = 0;
    if (mode == SC_BDAT_STREAM || mode == SC_BDAT_TOO_BIG)
        s->bdat_used = 1;
}

static void bdat_finish(smtpcore_server *s)
{
    smtpcore_str none = {NULL, 0};
    s->phase = SC_PH_CMD;
    switch (s->bdat_mode) {
    case SC_BDAT_STREAM:
        if (s->bdat_last && s->bdat_nul) {
            s->group_end = 1;
            refuse_message(s, 550, "5.6.0", nul_text);
            aborted(s, SMTPCORE_V_NUL, 550, nul_text, s->msg_size, 1);
            sc_srv_reset_txn(s);
        } else if (s->bdat_last) {
            s->group_end = 1;
            smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_MESSAGE_END);
            ev->message_size = s->msg_size;
            ev->bdat = 1;
            ev->rcpt_count = s->rcpt_count;
            sc_srv_await(s, ev);
            if (s->cfg.lmtp)
                sc_srv_lmtp_begin(s);
        } else {
            static const char octets[] = " octets received";
            char text[SC_DEC_U64_MAX + sizeof octets];
            size_t k = sc_dec_u64(text, s->bdat_chunk);
            memcpy(text + k, octets, sizeof octets);
            sc_srv_reply(s, 250, "2.0.0", text);
        }
        return;
    case SC_BDAT_TOO_BIG:
        /* The chunk that crossed the limit reports the abort; later chunks of the failed
         * transaction (already pipelined by the client) get the same 552 until LAST. */
        /* LMTP: the reply to BDAT LAST is one per recipient, a refusal included. */
        if (s->bdat_last)
            refuse_message(s, 552, "5.3.4", "Message size exceeds fixed limit");
        else
            sc_srv_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
        if (s->data_refuse) {
            aborted(s, SMTPCORE_V_MESSAGE_TOO_BIG, 552, "Message size exceeds fixed limit",
                    s->msg_size, 1);
        } else {
            smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
            ev->violation = SMTPCORE_V_MESSAGE_TOO_BIG;
            ev->reply_code = 552;
            ev->rcpt_count = s->rcpt_count;
            ev->message = sc_cstr("Message size exceeds fixed limit");
        }
        if (s->bdat_last) {
            s->group_end = 1;
            sc_srv_reset_txn(s);
        }
        return;
    case SC_BDAT_NO_EXT:
        sc_srv_refuse(s, none, 502, "5.5.1", "Error: command not implemented",
                      SMTPCORE_V_UNKNOWN_COMMAND, 1);
        return;
    case SC_BDAT_NO_RCPT:
        sc_srv_refuse(s, none, 554, "5.5.1", "Error: no valid recipients",
                      SMTPCORE_V_BAD_SEQUENCE, 1);
        sc_srv_reset_txn(s);
        return;
    case SC_BDAT_NO_TXN:
    default:
        sc_srv_refuse(s, none, 503, "5.5.1",
                      s->refused ? "Error: service refused, send QUIT" : "Error: need MAIL command",
                      SMTPCORE_V_BAD_SEQUENCE, 1);
        return;
    }
}

int sc_srv_bdat_step(smtpcore_server *s)
{
    if (s->bdat_remaining == 0) {
        bdat_finish(s);
        return 1;
    }
    const char *p;
    size_t n = sc_srv_unprocessed(s, &p);
    if (n == 0)
        return 0;
    size_t take = (uint64_t)n < s->bdat_remaining ? n : (size_t)s->bdat_remaining;
    s->in_done += take;
    s->bdat_remaining -= take;
    if (s->bdat_mode != SC_BDAT_STREAM)
        return 1;
    s->msg_size += take;
    if (s->cfg.max_message_size && s->msg_size > s->cfg.max_message_size) {
        s->bdat_mode = SC_BDAT_TOO_BIG;
        s->bdat_failed = 1;
        s->data_refuse = SMTPCORE_V_MESSAGE_TOO_BIG;
        return 1;
    }
    /* NUL is legal only in BINARYMIME content; otherwise the message is refused at LAST
     * and its content is no longer handed out (as DATA does). */
    if (!s->bdat_nul && s->cfg.nul_policy == SMTPCORE_NUL_REJECT &&
        s->body_type != SMTPCORE_BODY_BINARYMIME && memchr(p, 0, take) != NULL)
        s->bdat_nul = 1;
    if (s->bdat_nul)
        return 1;
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_BODY);
    ev->data = sc_mkstr(p, take);
    ev->bdat = 1;
    return 1;
}
