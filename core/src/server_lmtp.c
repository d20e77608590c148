/* SPDX-License-Identifier: MIT */
/* Server, layer 1 (see server_core.h): LMTP (RFC 2033 4.2), one reply per accepted recipient after the end of a
 * message, in RCPT order, whatever order the host answers them in.
 *
 * Memory: a table of max_recipients slots, a store for replies that cannot be written
 * yet, and one bulk reply, all sized at creation in the session's block. A reply goes
 * straight to the output when it is the next one due and fits; otherwise it is
 * formatted into the store and copied out by sc_srv_lmtp_flush() as soon as the replies
 * before it are out and the output has room. The flush runs from next_event(), answers,
 * output() and consume(), so neither a slow host nor a full output buffer stalls it, and
 * the session processes no command behind the message until every reply is out. */
#include <string.h>

#include "reply.h"
#include "server_internal.h"

/* Bytes of store per recipient: Dovecot's "250 2.0.0 <user@domain> <id> Saved" is about
 * 60; longer replies are still stored, while the store has room. */
#define SC_LMTP_STORE_PER_RCPT 64u
#define SC_LMTP_STORE_MIN 1024u

static size_t store_cap(uint32_t max_recipients)
{
    size_t n = (size_t)max_recipients * SC_LMTP_STORE_PER_RCPT;
    return n < SC_LMTP_STORE_MIN ? SC_LMTP_STORE_MIN : n;
}

/* The bulk reply gets the room a host answer is promised (see reply_reserve()); the
 * output buffer is at least that large, so the bulk reply always fits in it. */
static size_t bulk_cap(size_t output_buffer_size)
{
    return output_buffer_size < SC_SRV_MIN_RESERVE ? SC_SRV_MIN_RESERVE : output_buffer_size;
}

size_t sc_srv_lmtp_size(const smtpcore_server_config *c)
{
    if (!c->lmtp)
        return 0;
    /* alignment padding + state + slots + store + bulk (the slots follow the state
     * aligned, as its size is a multiple of their alignment) */
    return (_Alignof(sc_srv_lmtp) - 1) + sizeof(sc_srv_lmtp) +
           (size_t)c->max_recipients * sizeof(sc_lmtp_slot) + store_cap(c->max_recipients) +
           bulk_cap(c->output_buffer_size);
}

void sc_srv_lmtp_init(smtpcore_server *s)
{
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    char *p = (char *)(L + 1);
    L->slots = (sc_lmtp_slot *)(void *)p;
    p += (size_t)s->cfg.max_recipients * sizeof(sc_lmtp_slot);
    L->store = p;
    L->store_cap = (uint32_t)store_cap(s->cfg.max_recipients);
    p += L->store_cap;
    L->bulk = p;
    L->bulk_cap = (uint32_t)bulk_cap(s->out_size);
}

_Static_assert(sizeof(sc_srv_lmtp) % _Alignof(sc_lmtp_slot) == 0,
               "the slots follow the LMTP state aligned");

static void start(smtpcore_server *s)
{
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    L->n = s->rcpt_count;
    L->next = 0;
    L->answered = 0;
    L->store_used = 0;
    L->stored = 0;
    L->bulk_len = 0;
    memset(L->slots, 0, (size_t)L->n * sizeof(sc_lmtp_slot));
    s->lmtp_flushing = 1;
}

void sc_srv_lmtp_begin(smtpcore_server *s)
{
    start(s);
}

/* Every recipient is answered: the transaction is over, as after the SMTP answer. */
static void all_answered(smtpcore_server *s)
{
    s->awaiting = SMTPCORE_SEV_NONE;
    s->group_end = 1;
    sc_srv_reset_txn(s);
}

int sc_srv_lmtp_flush(smtpcore_server *s)
{
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    while (L->next < L->n) {
        sc_lmtp_slot *sl = &L->slots[L->next];
        if (sl->len == 0)
            break;
        const char *r = sl->off == SC_LMTP_BULK ? L->bulk : L->store + sl->off;
        if (sc_buf_append_all(&s->out, r, sl->len) != 0)
            break;
        if (sl->off != SC_LMTP_BULK && --L->stored == 0)
            L->store_used = 0; /* nothing stored is left: the store starts again */
        L->next++;
    }
    if (L->next < L->n)
        return 1;
    s->lmtp_flushing = 0;
    s->group_end = 1;
    return 0;
}

int sc_srv_lmtp_answer_all(smtpcore_server *s, int code, const char *enhanced,
                           const char *text, int use_default)
{
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    size_t n = 0;
    int rc = sc_srv_format_answer(s, SMTPCORE_SEV_MESSAGE_END, code, enhanced, text,
                                  use_default, L->bulk, L->bulk_cap, &n);
    if (rc == SMTPCORE_ERR_BUFFER_FULL)
        return SMTPCORE_ERR_TOO_LONG; /* as a reply that does not fit the output */
    if (rc != SMTPCORE_OK)
        return rc;
    L->bulk_len = (uint32_t)n;
    for (uint32_t i = 0; i < L->n; i++) {
        sc_lmtp_slot *sl = &L->slots[i];
        if (sl->len == 0) {
            sl->off = SC_LMTP_BULK;
            sl->len = (uint32_t)n;
        }
    }
    L->answered = L->n;
    all_answered(s);
    (void)sc_srv_lmtp_flush(s);
    return SMTPCORE_OK;
}

int sc_srv_lmtp_close_all(smtpcore_server *s, const char *r, size_t n)
{
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    if (n > L->bulk_cap)
        return -1;
    /* The bulk reply may already be what earlier recipients got (a host's bulk answer
     * comes last, so none is in use yet while some recipient is unanswered). */
    memcpy(L->bulk, r, n);
    L->bulk_len = (uint32_t)n;
    for (uint32_t i = 0; i < L->n; i++) {
        sc_lmtp_slot *sl = &L->slots[i];
        if (sl->len == 0) {
            sl->off = SC_LMTP_BULK;
            sl->len = (uint32_t)n;
        }
    }
    L->answered = L->n;
    all_answered(s);
    (void)sc_srv_lmtp_flush(s);
    return 0;
}

void sc_srv_lmtp_refuse_all(smtpcore_server *s, int code, const char *enh, const char *text)
{
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    /* The engine's own texts are short single lines: formatting cannot fail. */
    start(s);
    smtpcore_enhanced e = {0, 0, 0};
    (void)sc_enhanced_parse(enh, strlen(enh), &e);
    size_t n = sc_reply_write(L->bulk, L->bulk_cap, code, &e, text, strlen(text));
    L->bulk_len = (uint32_t)n;
    for (uint32_t i = 0; i < L->n; i++) {
        L->slots[i].off = SC_LMTP_BULK;
        L->slots[i].len = (uint32_t)n;
    }
    L->answered = L->n;
    (void)sc_srv_lmtp_flush(s);
}

int smtpcore_server_lmtp(const smtpcore_server *s)
{
    return s && s->cfg.lmtp ? 1 : 0;
}

size_t smtpcore_server_rcpt_unanswered(const smtpcore_server *s)
{
    if (!s || !s->cfg.lmtp || s->awaiting != SMTPCORE_SEV_MESSAGE_END)
        return 0;
    const sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    return (size_t)(L->n - L->answered);
}

int smtpcore_server_reply_rcpt(smtpcore_server *s, size_t index, int code, const char *enhanced,
                               const char *text)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (!s->cfg.lmtp)
        return SMTPCORE_ERR_INVALID_STATE;
    if (s->awaiting != SMTPCORE_SEV_MESSAGE_END)
        return SMTPCORE_ERR_NO_ANSWER_PENDING;
    sc_srv_lmtp *L = sc_srv_lmtp_area(s);
    if (index >= L->n || L->slots[index].len != 0)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    sc_lmtp_slot *sl = &L->slots[index];
    size_t n = 0;
    int rc = SMTPCORE_ERR_BUFFER_FULL;
    if (index == L->next) {
        /* Next in RCPT order: straight into the output when it fits. */
        char *dst = sc_buf_reserve(&s->out, sc_buf_room(&s->out));
        if (dst) {
            rc = sc_srv_format_answer(s, SMTPCORE_SEV_MESSAGE_END, code, enhanced, text, 0,
                                      dst, s->out.cap - s->out.end, &n);
            if (rc == SMTPCORE_OK) {
                sc_buf_commit(&s->out, n);
                sl->off = SC_LMTP_BULK - 1; /* written; never read again */
                sl->len = (uint32_t)n;
                L->next++;
            }
        }
    }
    if (rc == SMTPCORE_ERR_BUFFER_FULL) {
        /* Stored entries must fit the output buffer once it is empty. */
        size_t room = L->store_cap - L->store_used;
        if (room > s->out.cap)
            room = s->out.cap;
        rc = sc_srv_format_answer(s, SMTPCORE_SEV_MESSAGE_END, code, enhanced, text, 0,
                                  L->store + L->store_used, room, &n);
        if (rc == SMTPCORE_OK) {
            sl->off = L->store_used;
            sl->len = (uint32_t)n;
            L->store_used += (uint32_t)n;
            L->stored++;
        }
    }
    if (rc != SMTPCORE_OK)
        return rc;
    if (++L->answered == L->n)
        all_answered(s);
    (void)sc_srv_lmtp_flush(s);
    return SMTPCORE_OK;
}
