/* SPDX-License-Identifier: MIT */
/* Server, layer 2 (see server_core.h): the host ends a session with a reply of its own
 * choosing (its idle timeout or a deadline fired, or it is shutting down), in whatever
 * phase the session is. Uses the core's staging, push and close and the LMTP reply
 * table; nothing calls into it but the host. */
#include <string.h>

#include "reply.h"
#include "sc_text.h"
#include "server_internal.h"

/* A queued event the host has not taken yet and that would need an answer is about
 * input the session will no longer serve: it is dropped (it can only be the last of a
 * step's chain). Returns its type, or SMTPCORE_SEV_NONE. */
static smtpcore_server_event_type drop_queued_answer(smtpcore_server *s)
{
    if (s->evq_len == 0)
        return SMTPCORE_SEV_NONE;
    sc_srv_rec *last = &s->evq[((unsigned)s->evq_head + s->evq_len - 1u) % SC_SRV_EVQ];
    if (!(last->bits & SC_REC_ANSWER))
        return SMTPCORE_SEV_NONE;
    s->evq_len--;
    return (smtpcore_server_event_type)last->type;
}

/* Formats the close reply into dst (at least SC_SRV_CLOSE_MAX bytes). */
static int format_close(const smtpcore_server *s, int code, const char *enhanced,
                        const char *text, char *dst, size_t cap, size_t *n)
{
    if (code < 400 || code > 599 || (code / 10) % 10 > 5)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    smtpcore_enhanced e = {0, 0, 0};
    if (enhanced) {
        size_t el = strlen(enhanced);
        if (sc_enhanced_parse(enhanced, el, &e) != el || e.cls != (uint16_t)(code / 100))
            return SMTPCORE_ERR_INVALID_ARGUMENT;
    } else {
        e = sc_enhanced_default(code);
    }
    /* Without a text, RFC 5321 4.2.3's "<domain> Service not available, closing
     * transmission channel" (the host name first, as in every engine 421). */
    static const char t421[] = "Service not available, closing transmission channel";
    static const char tother[] = "Error: closing transmission channel";
    _Static_assert(sizeof t421 >= sizeof tother, "buf holds either text");
    char buf[SC_SRV_HOST_TEXT_SIZE(sizeof t421 - 1)];
    if (!text) {
        sc_srv_host_text(s, code == 421 ? t421 : tother, buf, sizeof buf);
        text = buf;
    }
    size_t len = strlen(text);
    int rc = sc_srv_text_check(text, len);
    if (rc != SMTPCORE_OK)
        return rc;
    const smtpcore_enhanced *use = (e.cls && sc_srv_enh_on(s)) ? &e : NULL;
    size_t w = sc_reply_write(dst, cap, code, use, text, len);
    if (w == (size_t)-1)
        return SMTPCORE_ERR_TOO_LONG;
    *n = w;
    return SMTPCORE_OK;
}

int smtpcore_server_close_with(smtpcore_server *s, int code, const char *enhanced,
                               const char *text)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    char reply[SC_SRV_CLOSE_MAX];
    size_t n = 0;
    int rc = format_close(s, code, enhanced, text, reply, sizeof reply, &n);
    if (rc != SMTPCORE_OK)
        return rc;
    if (s->want_close || s->phase == SC_PH_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    /* Its events are queued and its reply written: a released session takes its queue
     * and buffers back first, or does nothing. */
    if (sc_srv_buffers_acquire(s) != SMTPCORE_OK)
        return SMTPCORE_ERR_NOMEM;

    smtpcore_server_event tmp;
    sc_srv_stage_begin(s, &tmp);
    smtpcore_server_event_type dropped = drop_queued_answer(s);
    smtpcore_server_event_type pending = s->awaiting;
    s->awaiting = SMTPCORE_SEV_NONE;

    /* Content that streamed belongs to a message that now ends early: the host hears it
     * as for a connection lost mid-message. A message whose end the host already holds
     * (MESSAGE_END awaiting its answer) gets the close reply as that answer instead. */
    int in_body = s->phase == SC_PH_DATA ||
                  (s->phase == SC_PH_BDAT && s->bdat_mode == SC_BDAT_STREAM) ||
                  dropped == SMTPCORE_SEV_MESSAGE_END;
    int written = 0;
    if (s->cfg.lmtp && pending == SMTPCORE_SEV_MESSAGE_END) {
        /* LMTP: every recipient still without an answer gets the close reply, in its
         * place among the per-recipient replies (RFC 2033 4.2). */
        written = sc_srv_lmtp_close_all(s, reply, n) == 0;
    } else if (s->phase != SC_PH_TLS_WAIT && !s->lmtp_flushing) {
        /* After anything pending. Not while the peer is mid-TLS-handshake (the 220 to
         * STARTTLS is out), nor behind LMTP replies still waiting in their store: the
         * connection just closes. A peer that does not read may have filled the output
         * buffer; then there is no room and it closes without the reply. */
        written = sc_buf_append_all(&s->out, reply, n) == 0;
    }
    if (in_body) {
        smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_MESSAGE_ABORTED);
        ev->violation = SMTPCORE_V_HOST_CLOSE;
        ev->reply_code = written ? code : 0;
        ev->message = sc_cstr("the host ended the session during message content");
        ev->message_size = s->bdat_used ? s->msg_size : s->unstuffer.size;
        ev->bdat = s->bdat_used;
        ev->rcpt_count = s->rcpt_count;
    }
    s->auth_step = SC_AUTH_NONE;
    sc_srv_reset_txn(s);
    smtpcore_server_event *ev = sc_srv_close(s, SMTPCORE_V_HOST_CLOSE);
    ev->reply_code = written ? code : 0;
    ev->message = sc_cstr("the host ended the session");
    /* Whatever the peer sent that was not processed is not served any more. */
    s->in_done = sc_buf_len(&s->in);
    sc_srv_stage_end(s);
    return SMTPCORE_OK;
}

int smtpcore_server_shutdown(smtpcore_server *s, smtpcore_shutdown_reason why)
{
    if (!s || (unsigned)why > SMTPCORE_SHUTDOWN_SERVICE)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* Postfix's wording for its own timeouts; RFC 3463 4.4.2 "bad connection" and
     * 4.3.2 "system not accepting network messages". */
    static const char timeout[] = "Error: timeout exceeded";
    static const char service[] = "Service shutting down, closing transmission channel";
    const char *t = why == SMTPCORE_SHUTDOWN_TIMEOUT ? timeout : service;
    _Static_assert(sizeof service >= sizeof timeout, "buf holds either text");
    char buf[SC_SRV_HOST_TEXT_SIZE(sizeof service - 1)];
    sc_srv_host_text(s, t, buf, sizeof buf);
    return smtpcore_server_close_with(s, 421,
                                      why == SMTPCORE_SHUTDOWN_TIMEOUT ? "4.4.2" : "4.3.2", buf);
}

int smtpcore_server_in_message(const smtpcore_server *s)
{
    return s && (s->phase == SC_PH_DATA || s->phase == SC_PH_BDAT) ? 1 : 0;
}

int smtpcore_server_in_transaction(const smtpcore_server *s)
{
    return s && s->mail_open ? 1 : 0;
}
