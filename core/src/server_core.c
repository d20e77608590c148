/* SPDX-License-Identifier: MIT */
/* Server session core, the bottom layer (see server_core.h): the event queue and its
 * staging, engine replies, refusals, the close and the transaction reset. Everything
 * above calls into this file; it calls nothing of the server but server_reply.c's
 * formats (through server_core.h), so every call runs downward. */
#include <string.h>

#include "command.h"
#include "reply.h"
#include "sc_assert.h"
#include "sc_text.h"
#include "server_core.h"

static uint32_t cred_off(const smtpcore_server *s, smtpcore_str v, uint32_t *len)
{
    *len = (uint32_t)v.len;
    if (!v.ptr)
        return SC_REC_NONE;
    return (uint32_t)(v.ptr - (const char *)s->in.data);
}

static smtpcore_str cred_str(const smtpcore_server *s, uint32_t off, uint32_t len)
{
    smtpcore_str r = {NULL, len};
    if (off != SC_REC_NONE)
        r.ptr = s->in.data + off;
    return r;
}

static void rec_slice(sc_srv_rec *r, smtpcore_str v)
{
    r->u.v.a = v.ptr;
    r->u.v.a_len = (uint32_t)v.len;
}

static smtpcore_str rec_str(const sc_srv_rec *r)
{
    return sc_mkstr(r->u.v.a, r->u.v.a_len);
}

/* Compacts the staged event into the queue. */
void sc_srv_commit_stage(smtpcore_server *s)
{
    const smtpcore_server_event *e = s->stage;
    s->staged = 0;
    sc_srv_rec *r;
    if (s->evq_len < SC_SRV_EVQ) {
        r = &s->evq[(s->evq_head + s->evq_len) % SC_SRV_EVQ];
        s->evq_len++;
    } else {
        /* The queue is sized for the longest chain one step produces; overflowing it is
         * an engine bug. Release builds reuse the last slot rather than writing out of
         * bounds. */
        SC_ASSERT(s->evq_len < SC_SRV_EVQ);
        r = &s->evq[(s->evq_head + SC_SRV_EVQ - 1) % SC_SRV_EVQ];
    }
    memset(r, 0, sizeof(*r));
    r->type = (uint8_t)e->type;
    r->violation = (uint8_t)e->violation;
    r->helo_class = (uint8_t)e->helo_class;
    r->bits = (uint8_t)((e->answer_required ? SC_REC_ANSWER : 0u) | (e->esmtp ? SC_REC_ESMTP : 0u) |
                        (e->bdat ? SC_REC_BDAT : 0u) | (e->long_lines ? SC_REC_LONG_LINES : 0u) |
                        (e->address_utf8 ? SC_REC_UTF8 : 0u) |
                        (e->helo_is_own_name ? SC_REC_OWN_NAME : 0u));
    r->reply_code = (uint16_t)e->reply_code;
    r->auth_mech = (uint8_t)e->auth_mech;
    r->rcpt_count = e->rcpt_count;
    r->line = e->line.ptr;
    r->line_len = (uint32_t)e->line.len;
    switch (e->type) {
    case SMTPCORE_SEV_AUTH:
        r->u.cred[0] = cred_off(s, e->authzid, &r->u.cred[1]);
        r->u.cred[2] = cred_off(s, e->username, &r->u.cred[3]);
        r->u.cred[4] = cred_off(s, e->password, &r->u.cred[5]);
        break;
    case SMTPCORE_SEV_BODY: rec_slice(r, e->data); break;
    case SMTPCORE_SEV_PROTOCOL_ERROR:
    case SMTPCORE_SEV_MESSAGE_ABORTED:
    case SMTPCORE_SEV_STARTTLS:
    case SMTPCORE_SEV_CLOSE:
        rec_slice(r, e->message);
        r->u.v.n = e->type == SMTPCORE_SEV_MESSAGE_ABORTED ? e->message_size : e->discarded;
        break;
    case SMTPCORE_SEV_MESSAGE_END: r->u.v.n = e->message_size; break;
    default: rec_slice(r, e->address); break;
    }
}

/* Expands a queued record into the public event. */
static void expand(const smtpcore_server *s, const sc_srv_rec *r, smtpcore_server_event *ev)
{
    sc_srv_zero_event(ev);
    ev->type = (smtpcore_server_event_type)r->type;
    ev->answer_required = (r->bits & SC_REC_ANSWER) != 0;
    ev->esmtp = (r->bits & SC_REC_ESMTP) != 0;
    ev->bdat = (r->bits & SC_REC_BDAT) != 0;
    ev->long_lines = (r->bits & SC_REC_LONG_LINES) != 0;
    ev->address_utf8 = (r->bits & SC_REC_UTF8) != 0;
    ev->helo_is_own_name = (r->bits & SC_REC_OWN_NAME) != 0;
    ev->violation = (smtpcore_violation)r->violation;
    ev->helo_class = (smtpcore_helo_class)r->helo_class;
    ev->reply_code = r->reply_code;
    ev->auth_mech = r->auth_mech;
    ev->rcpt_count = r->rcpt_count;
    ev->line = sc_mkstr(r->line, r->line_len);
    switch (ev->type) {
    case SMTPCORE_SEV_AUTH:
        ev->authzid = cred_str(s, r->u.cred[0], r->u.cred[1]);
        ev->username = cred_str(s, r->u.cred[2], r->u.cred[3]);
        ev->password = cred_str(s, r->u.cred[4], r->u.cred[5]);
        break;
    case SMTPCORE_SEV_BODY: ev->data = rec_str(r); break;
    case SMTPCORE_SEV_PROTOCOL_ERROR:
    case SMTPCORE_SEV_MESSAGE_ABORTED:
    case SMTPCORE_SEV_STARTTLS:
    case SMTPCORE_SEV_CLOSE:
        ev->message = rec_str(r);
        if (ev->type == SMTPCORE_SEV_MESSAGE_ABORTED)
            ev->message_size = r->u.v.n;
        else
            ev->discarded = (size_t)r->u.v.n;
        break;
    case SMTPCORE_SEV_MESSAGE_END: ev->message_size = r->u.v.n; break;
    case SMTPCORE_SEV_MAIL:
    case SMTPCORE_SEV_RCPT: {
        /* The line was accepted by the parser when the event was made, and it is still
         * in the input buffer: parsing it again gives the same parameters. */
        sc_command c;
        sc_reply_spec err;
        int rc = sc_command_parse(r->line, r->line_len, s->cfg.extensions, &c, &err);
        SC_ASSERT(rc == 0);
        (void)rc;
        ev->address = c.mailbox;
        if (ev->type == SMTPCORE_SEV_MAIL)
            ev->mail = c.mail;
        else
            ev->rcpt = c.rcpt;
        break;
    }
    default: ev->address = rec_str(r); break;
    }
}

smtpcore_server_event *sc_srv_push_staged(smtpcore_server *s, smtpcore_server_event_type type)
{
    if (s->staged)
        sc_srv_commit_stage(s);
    smtpcore_server_event *ev = s->stage;
    s->staged = 1;
    sc_srv_zero_event(ev);
    ev->type = type;
    s->step_made = 1;
    return ev;
}

void sc_srv_pop_queued(smtpcore_server *s, smtpcore_server_event *ev)
{
    SC_ASSERT(s->evq_len > 0);
    expand(s, &s->evq[s->evq_head], ev);
    s->evq_head = (uint8_t)((s->evq_head + 1) % SC_SRV_EVQ);
    s->evq_len--;
    if (ev->answer_required)
        s->awaiting = ev->type;
}

int sc_srv_buffers_acquire(smtpcore_server *s)
{
    if (s->evq)
        return SMTPCORE_OK;
    size_t n = SC_SRV_EVQ_BYTES + s->in_size + s->out_size;
    char *b = s->malloc_fn(n, s->alloc_user);
    if (!b)
        return SMTPCORE_ERR_NOMEM;
    s->evq = (sc_srv_rec *)(void *)b; /* the allocator's alignment suits the records */
    b += SC_SRV_EVQ_BYTES;
    s->in = (sc_buf){b, 0, 0, s->in_size};
    s->out = (sc_buf){b + s->in_size, 0, 0, s->out_size};
    return SMTPCORE_OK;
}

size_t sc_srv_buffers_release(smtpcore_server *s)
{
    if (!s->evq)
        return 0;
    s->free_fn(s->evq, s->alloc_user);
    s->evq = NULL;
    s->evq_head = s->evq_len = 0;
    s->in = (sc_buf){NULL, 0, 0, 0};
    s->out = (sc_buf){NULL, 0, 0, 0};
    s->in_done = 0;
    return SC_SRV_EVQ_BYTES + s->in_size + s->out_size;
}

void sc_srv_auth_release(smtpcore_server *s)
{
    /* The kept bytes become processed input: dropped at the next call, so slices into
     * them stay valid until then. */
    s->in_done += s->auth_keep;
    s->auth_keep = 0;
}

/* Writes one reply; -1 when it does not fit. Enhanced codes are dropped when the
 * extension is not advertised (RFC 2034: only a client that saw it expects them). */
static int write_reply(smtpcore_server *s, int code, const smtpcore_enhanced *e,
                       const char *text, size_t len)
{
    const smtpcore_enhanced *use = (e && e->cls && sc_srv_enh_on(s)) ? e : NULL;
    char *dst = sc_buf_reserve(&s->out, sc_buf_room(&s->out));
    if (!dst)
        return -1;
    size_t n = sc_reply_write(dst, s->out.cap - s->out.end, code, use, text, len);
    if (n == (size_t)-1)
        return -1;
    sc_buf_commit(&s->out, n);
    return 0;
}

static smtpcore_enhanced enh_from(const char *e)
{
    smtpcore_enhanced r = {0, 0, 0};
    if (e)
        (void)sc_enhanced_parse(e, strlen(e), &r);
    return r;
}


void sc_srv_reply(smtpcore_server *s, int code, const char *enh, const char *text)
{
    smtpcore_enhanced e = enh_from(enh);
    /* Only engine texts come here, and a reply is never queued without
     * s->reserve bytes of room, so this cannot fail. */
    int rc = write_reply(s, code, &e, text, strlen(text));
    SC_ASSERT(rc == 0);
    (void)rc;
}

smtpcore_server_event *sc_srv_close(smtpcore_server *s, smtpcore_violation v)
{
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_CLOSE);
    ev->violation = v;
    sc_srv_auth_release(s);
    s->phase = SC_PH_CLOSED;
    s->want_close = 1;
    s->group_end = 1;
    return ev;
}

int sc_srv_reply_raw(smtpcore_server *s, int code, const char *text, size_t len)
{
    return write_reply(s, code, NULL, text, len);
}

smtpcore_server_event *sc_srv_refuse(smtpcore_server *s, smtpcore_str line, int code,
                                     const char *enh, const char *text, smtpcore_violation v,
                                     int counts)
{
    smtpcore_enhanced e = enh_from(enh);
    return sc_srv_refuse_e(s, line, code, &e, text, v, counts);
}

smtpcore_server_event *sc_srv_refuse_e(smtpcore_server *s, smtpcore_str line, int code,
                                       const smtpcore_enhanced *enh, const char *text,
                                       smtpcore_violation v, int counts)
{
    (void)write_reply(s, code, enh, text, strlen(text));
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
    smtpcore_server_event *first = ev;
    ev->line = line;
    ev->violation = v;
    ev->reply_code = code;
    ev->message = sc_cstr(text);
    if (!counts)
        return first;
    s->errors++;
    if (s->cfg.max_errors == 0 || s->errors < s->cfg.max_errors)
        return first;
    sc_srv_too_many(s, SMTPCORE_V_TOO_MANY_ERRORS, "Error: too many errors", 1);
    return first;
}

void sc_srv_host_text(const smtpcore_server *s, const char *text, char *buf, size_t size)
{
    sc_wr w = sc_wr_init(buf, size - 1);
    sc_wr_puts(&w, s->cfg.hostname);
    sc_wr_put(&w, " ", 1);
    sc_wr_puts(&w, text);
    SC_ASSERT(!w.full); /* release builds keep what fits */
    buf[w.len] = '\0';
}

void sc_srv_too_many(smtpcore_server *s, smtpcore_violation v, const char *text, int say)
{
    if (say) {
        char buf[SC_SRV_HOST_TEXT_SIZE(SC_SRV_TOO_MANY_TEXT_MAX)];
        sc_srv_host_text(s, text, buf, sizeof buf);
        sc_srv_reply(s, 421, "4.7.0", buf);
    }
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
    ev->violation = v;
    ev->reply_code = say ? 421 : 0;
    ev->message = sc_cstr(text);
    sc_srv_close(s, v);
}

void sc_srv_reset_txn(smtpcore_server *s)
{
    s->mail_open = 0;
    s->rcpt_count = 0;
    s->body_type = SMTPCORE_BODY_UNSPECIFIED;
    s->txn_utf8 = 0;
    s->bdat_used = 0;
    s->bdat_failed = 0;
    s->bdat_nul = 0;
    s->msg_size = 0;
}
