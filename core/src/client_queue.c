/* SPDX-License-Identifier: MIT */
/* Client session, bottom layer: the bounded command queue (commands formatted by API
 * calls, not yet sent) and the ring of commands sent and not yet answered. Calls nothing
 * else of the client; everything above may call it. What the pump runs per command
 * (peek, front, pop, ring_push) is inline in client_internal.h. */
#include <string.h>

#include "alloc.h"
#include "client_internal.h"

#define SC_QHDR SC_CLIENT_QHDR
#define SC_QMAX 65535u

/* ---- command queue ---- */

/* Room usable after sc_client_enqueue_begin() for an entry body. */
static size_t enqueue_room(const smtpcore_client *c)
{
    size_t room = sc_buf_room(&c->queue);
    room = room > SC_QHDR ? room - SC_QHDR : 0;
    size_t lim = c->out.cap < SC_QMAX ? c->out.cap : SC_QMAX;
    return room < lim ? room : lim;
}

char *sc_client_enqueue_begin(smtpcore_client *c, size_t *cap)
{
    *cap = enqueue_room(c);
    if (*cap < 8)
        return NULL;
    char *p = sc_buf_reserve(&c->queue, *cap + SC_QHDR);
    return p ? p + SC_QHDR : NULL;
}

int sc_client_enqueue_commit(smtpcore_client *c, sc_ckind kind, size_t len)
{
    if (len > SC_QMAX || len > c->out.cap)
        return SMTPCORE_ERR_TOO_LONG;
    char *h = c->queue.data + c->queue.end;
    h[0] = (char)kind;
    h[1] = (char)((len >> 8) & 0xff);
    h[2] = (char)(len & 0xff);
    sc_buf_commit(&c->queue, len + SC_QHDR);
    return SMTPCORE_OK;
}

int sc_client_enqueue(smtpcore_client *c, sc_ckind kind, const char *bytes, size_t len)
{
    if (len > SC_QMAX || len > c->out.cap)
        return SMTPCORE_ERR_TOO_LONG;
    char *p = sc_buf_reserve(&c->queue, len + SC_QHDR);
    if (!p)
        return SMTPCORE_ERR_BUFFER_FULL;
    if (len)
        memcpy(p + SC_QHDR, bytes, len);
    return sc_client_enqueue_commit(c, kind, len);
}

size_t sc_client_queue_mark(const smtpcore_client *c) { return sc_buf_len(&c->queue); }

/* Compaction keeps the queued length, so truncating to a mark undoes every append made
 * after it. */
void sc_client_queue_rewind(smtpcore_client *c, size_t mark)
{
    c->queue.end = c->queue.start + mark;
}

void sc_client_queue_clear(smtpcore_client *c) { c->queue.start = c->queue.end = 0; }

/* Removes every queued transaction command (MAIL refused, or the host aborted). */
void sc_client_queue_drop_tx(smtpcore_client *c)
{
    char *base = c->queue.data + c->queue.start;
    size_t n = sc_buf_len(&c->queue), rd = 0, wr = 0;
    while (rd < n) {
        sc_ckind k;
        size_t len;
        sc_client_queue_peek(c, rd, &k, &len);
        size_t total = len + SC_QHDR;
        if (!sc_client_is_tx_kind(k)) {
            if (wr != rd)
                memmove(base + wr, base + rd, total);
            wr += total;
        }
        rd += total;
    }
    c->queue.end = c->queue.start + wr;
    if (wr == 0)
        c->queue.start = c->queue.end = 0;
}

/* ---- the buffers block ---- */

#define SC_EVQ_BYTES (SC_CEV_QUEUE * sizeof(sc_cev))

int sc_client_block_acquire(smtpcore_client *c)
{
    if (c->evq)
        return SMTPCORE_OK;
    char *b = sc_malloc(&c->alloc, c->block_size);
    if (!b)
        return SMTPCORE_ERR_NOMEM;
    /* The events first: the allocator's alignment suits them; the rest are bytes. */
    c->evq = (sc_cev *)(void *)b;
    c->evq_head = c->evq_len = 0;
    b += SC_EVQ_BYTES;
    c->in = (sc_buf){b, 0, 0, c->in_size};
    b += c->in_size;
    c->out = (sc_buf){b, 0, 0, c->out_size};
    b += c->out_size;
    c->queue = (sc_buf){b, 0, 0, c->queue_size};
    b += c->queue_size;
    c->scratch = b;
    b += c->scratch_cap;
    /* Idle means no command awaits a reply, so the ring starts over empty. */
    c->ring = (uint8_t *)b;
    c->ring_head = 0;
    b += c->ring_cap;
    if (c->lmtp) {
        /* No transaction while released: the bitmap starts clear, as tx_reset leaves it. */
        c->lmtp_acc = (uint8_t *)b;
        memset(c->lmtp_acc, 0, c->lmtp_acc_bytes);
    }
    return SMTPCORE_OK;
}

size_t sc_client_block_release(smtpcore_client *c)
{
    if (!c->evq)
        return 0;
    sc_free(&c->alloc, c->evq);
    c->evq = NULL;
    c->evq_head = c->evq_len = 0;
    c->in = (sc_buf){&c->no_buffer, 0, 0, 0};
    c->out = (sc_buf){&c->no_buffer, 0, 0, 0};
    c->queue = (sc_buf){&c->no_buffer, 0, 0, 0};
    c->scratch = NULL;
    c->ring = NULL;
    c->ring_head = 0;
    c->lmtp_acc = NULL;
    c->rpos = c->hold = 0;
    return c->block_size;
}

/* ---- commands sent and not yet answered (ring_push: client_internal.h) ---- */

sc_ckind sc_client_ring_pop(smtpcore_client *c)
{
    sc_ckind k = (sc_ckind)c->ring[c->ring_head];
    c->ring_head = (c->ring_head + 1) % c->ring_cap;
    c->ring_len--;
    /* The "." of a finishing transaction left tx_outstanding when the next one started. */
    if (sc_client_is_tx_kind(k) && c->tx_outstanding && !(k == SC_CK_DOT && c->fin_pending))
        c->tx_outstanding--;
    if ((k == SC_CK_RSET_TXN || k == SC_CK_RSET_USER || k == SC_CK_RSET_FALLBACK) &&
        c->rset_outstanding)
        c->rset_outstanding--;
    return k;
}
