/* SPDX-License-Identifier: MIT */
/* Client session internals shared by client*.c. Not part of the public API.
 *
 * Model: API calls format commands into a bounded queue (sc_cq); a pump moves them into the
 * output buffer when RFC 2920 grouping allows; every command sent is remembered as a kind
 * in a small ring so replies can be matched in order. Replies stay whole in the input
 * buffer while the events that reference them are pending. */
#ifndef SC_CLIENT_INTERNAL_H
#define SC_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

#include "buf.h"
#include "data.h"
#include "line.h"
#include "reply.h"

/* What a sent command (or queued entry) is, so its reply can be interpreted. */
typedef enum sc_ckind {
    SC_CK_GREETING = 1,
    SC_CK_EHLO,
    SC_CK_HELO,
    SC_CK_RSET_FALLBACK, /* RSET between a refused EHLO and HELO: reply ignored */
    SC_CK_STARTTLS,
    SC_CK_AUTH,          /* AUTH and every line answering a 334 */
    SC_CK_RSET_TXN,      /* automatic RSET before MAIL after a failed transaction */
    SC_CK_RSET_USER,     /* smtpcore_client_rset(): CEV_REPLY */
    SC_CK_NOOP,
    SC_CK_MAIL,
    SC_CK_RCPT,
    SC_CK_DATA,
    SC_CK_BODY_MARK,     /* queue-only: BDAT body may start here */
    SC_CK_DOT,           /* end of DATA body */
    SC_CK_DOT_SWALLOW,   /* lone "." after 354 with no accepted recipient */
    SC_CK_BDAT,
    SC_CK_BDAT_LAST,
    SC_CK_QUIT,
    SC_CK_XCLIENT        /* client_xclient.c */
} sc_ckind;

typedef enum sc_cstate {
    SC_CS_GREETING = 0, /* waiting for 220 */
    SC_CS_SETUP,        /* EHLO/HELO/STARTTLS/AUTH in progress */
    SC_CS_TLS_WAIT,     /* 220 to STARTTLS seen; waiting for tls_started() */
    SC_CS_AUTH_HOST,    /* a challenge is with the host */
    SC_CS_READY,        /* setup done */
    SC_CS_CLOSED
} sc_cstate;

typedef enum sc_txstate {
    SC_TX_NONE = 0,
    SC_TX_ENVELOPE, /* MAIL queued; RCPT/DATA may follow */
    SC_TX_BODY,     /* host feeds the body */
    SC_TX_FINAL     /* end of body sent; waiting for the final reply */
} sc_txstate;

typedef enum sc_auth_mode {
    SC_AM_NONE = 0, SC_AM_PLAIN, SC_AM_LOGIN, SC_AM_XOAUTH2, SC_AM_HOST
} sc_auth_mode;

#define SC_CEV_QUEUE 16

/* A pending event; with_reply means its reply is the held reply at the input front. */
typedef struct sc_cev {
    smtpcore_client_event ev;
    int with_reply;
} sc_cev;

/* One transaction, from mail() to its MESSAGE_RESULT. Every field starts at zero
 * (SC_TX_NONE, SMTPCORE_SUCCESS) and sc_client_tx_reset() is the only place that clears
 * them, so no field can carry over into the next transaction. */
typedef struct sc_client_tx {
    sc_txstate state;
    int bdat, binary, utf8;
    int only_7bit; /* RFC 6152: the body must stay 7-bit (undeclared, no 8BITMIME) */
    int mail_failed, data_requested, data_sent;
    smtpcore_failure fail; /* class of the refused MAIL */
    size_t rcpt_total, rcpt_replied, rcpt_accepted;
    int rcpt_transient; /* some RCPT failed with a transient class */
    sc_stuffer stuffer;
    /* RFC 3030 2: the class and reply of the first refused BDAT chunk. The reply is kept
     * (raw bytes in scratch, unused outside AUTH) until the replies to chunks already
     * sent are in. */
    smtpcore_failure bdat_fail;
    smtpcore_reply bdat_reply;
    /* The reply that decided a failed envelope (the refused MAIL, or the first refused
     * RCPT of the deciding class), copied to scratch because the input front moves on:
     * MESSAGE_RESULT carries it rather than the 503/554 that DATA got as a consequence.
     * It and bdat_reply never both need scratch: RCPT replies come before any chunk's,
     * so a chunk refused after a failed envelope just points at this copy. */
    smtpcore_reply env_reply;
    smtpcore_failure env_kept; /* its class; SUCCESS when none is kept */
} sc_client_tx;

struct smtpcore_client {
    smtpcore_allocator alloc;
    /* configuration (strings point into strbuf) */
    const char *helo_name;
    const char *auth_user;
    const char *auth_password;
    const char *auth_mechanism;
    size_t user_len, pass_len;
    char *strbuf;
    size_t strbuf_len;
    uint32_t quirks;
    smtpcore_tls_policy tls_policy;
    int tls_active;
    size_t max_recipients;

    /* The buffers block (sc_client_block_acquire()): the event queue, input, output,
     * envelope queue, scratch, the ring of sent commands and the LMTP bitmap, one
     * allocation of block_size bytes that smtpcore_client_release_idle() gives back. While
     * released, evq, scratch, ring and lmtp_acc are NULL and the three buffers have
     * capacity 0 (pointing at no_buffer, so that reading an empty buffer's front stays
     * defined and costs the hot paths no test): a path that missed the re-acquire finds
     * no room rather than freed memory. The sizes stay. */
    sc_buf in, out, queue;
    char *scratch; /* AUTH: decoded challenges and raw credentials */
    size_t scratch_cap;
    size_t in_size, out_size, queue_size; /* the configured capacities */
    size_t block_size;

    /* input framing */
    sc_line_framer framer;
    sc_reply_parser parser;
    size_t rpos; /* bytes of the reply in progress already framed */
    size_t hold; /* bytes at the input front referenced by pending events */
    int eof;
    char no_buffer; /* what the released buffers point at (above): never written */
    size_t discarded; /* STARTTLS: plaintext dropped after the 220 */

    /* commands sent and not yet answered (in the block) */
    uint8_t *ring;
    size_t ring_cap, ring_head, ring_len;
    int last_sent_ends_group;
    size_t tx_outstanding;   /* ring entries belonging to the transaction */
    size_t rset_outstanding; /* RSETs awaiting a reply (QUIRK_SPLIT_QUIT) */

    /* pending events: SC_CEV_QUEUE of them at the start of the block; empty whenever the
     * session may be released, and reached only when a reply or a call makes events. */
    sc_cev *evq;
    size_t evq_head, evq_len;
    /* The event next_event() hands out (a const pointer to it): the library owns it, so
     * fields can be added without breaking compiled hosts. Only next_event() writes it. */
    smtpcore_client_event current;

    /* session */
    sc_cstate state;
    smtpcore_caps caps;
    int pipelining; /* offered and not disabled */
    int tls_tried;  /* STARTTLS answered (refused under OPPORTUNISTIC) */
    int auth_done;
    sc_auth_mode auth_mode;
    int auth_step;
    int quit_queued;
    int closed_emitted;
    int need_rset;

    /* The transaction in progress (sc_client_tx_reset() clears it). */
    sc_client_tx tx;
    /* RFC 3030 2: after a refused chunk, body()/body_end() take and drop the rest of the
     * body until the next MAIL; this outlives the transaction (its MESSAGE_RESULT may
     * come while the host is still feeding the body). */
    int body_discard;
    size_t tx_aborted; /* replies to commands of an aborted transaction still to swallow */

    /* RFC 2920 3.1: with PIPELINING the next transaction may start right behind the final
     * "." of a DATA transaction. The earlier one then only waits for the reply to its ".":
     * that reply is its MESSAGE_RESULT, with the counts kept here. At most one such
     * transaction exists: the next one's body cannot start before its 354, which comes
     * after the reply to the earlier ".". */
    int fin_pending;
    size_t fin_rcpt_accepted, fin_rcpt_total;

    /* LMTP (client_lmtp.c, RFC 2033 4.2): after the data, one reply per accepted
     * recipient. The bitmap marks accepted recipients (by rcpt() index); it is in the block
     * (max_recipients bits) only in LMTP mode. */
    int lmtp;
    uint8_t *lmtp_acc;
    size_t lmtp_acc_bytes;
    size_t lmtp_left;   /* delivery replies still due for the message in flight */
    size_t lmtp_cursor; /* next bitmap position to look at */
    size_t lmtp_limit;  /* recipients submitted in that transaction */
    size_t lmtp_ok;     /* 2xx delivery replies so far */
    int lmtp_transient; /* a 4xx delivery reply was seen */
    int lmtp_fin;       /* the message is an overtaken one (see fin_pending) */
};

/* The layers, bottom up. A file calls only functions of the layers below it (and its own),
 * so every call runs downward; scripts/check_layers.sh checks it.
 *   client_queue.c   command queue and the ring of sent commands
 *   client_core.c    events, transaction reset and end, close, the pump, the hello
 *   client_tx.c client_auth.c client_lmtp.c client_xclient.c   the concerns
 *   client_proto.c   what each reply means (calls auth, lmtp, xclient)
 *   client.c         lifecycle, input/output and the next_event loop */

/* client_queue.c; the pieces the pump runs per command are inline, below. The block:
 * acquire() allocates it when released (SMTPCORE_ERR_NOMEM, nothing changed, when the
 * allocator fails; OK at once when held), release() frees it and returns its size. */
int sc_client_block_acquire(smtpcore_client *c);
size_t sc_client_block_release(smtpcore_client *c);

/* What the calls that need the block use: held, it costs one test and no call. */
static inline int sc_client_block_take(smtpcore_client *c)
{
    return c->evq ? SMTPCORE_OK : sc_client_block_acquire(c);
}

int sc_client_enqueue(smtpcore_client *c, sc_ckind kind, const char *bytes, size_t len);
char *sc_client_enqueue_begin(smtpcore_client *c, size_t *cap);
int sc_client_enqueue_commit(smtpcore_client *c, sc_ckind kind, size_t len);
size_t sc_client_queue_mark(const smtpcore_client *c);
void sc_client_queue_rewind(smtpcore_client *c, size_t mark);
void sc_client_queue_clear(smtpcore_client *c);
void sc_client_queue_drop_tx(smtpcore_client *c);
sc_ckind sc_client_ring_pop(smtpcore_client *c);

/* Does a command of this kind end an RFC 2920 group (the pump then waits for replies)? */
static inline int sc_client_ends_group(sc_ckind k)
{
    switch (k) {
    case SC_CK_RSET_TXN:
    case SC_CK_RSET_USER:
    case SC_CK_MAIL:
    case SC_CK_RCPT:
    case SC_CK_BDAT:
    case SC_CK_BODY_MARK:
    case SC_CK_DOT:
    case SC_CK_DOT_SWALLOW:
        return 0;
    default:
        return 1;
    }
}

static inline int sc_client_is_tx_kind(sc_ckind k)
{
    switch (k) {
    case SC_CK_MAIL:
    case SC_CK_RCPT:
    case SC_CK_DATA:
    case SC_CK_BODY_MARK:
    case SC_CK_DOT:
    case SC_CK_DOT_SWALLOW:
    case SC_CK_BDAT:
    case SC_CK_BDAT_LAST:
        return 1;
    default:
        return 0;
    }
}

/* Queue entry header: kind, then the length as two big-endian bytes. */
#define SC_CLIENT_QHDR 3u

static inline void sc_client_queue_peek(const smtpcore_client *c, size_t off, sc_ckind *kind,
                                        size_t *len)
{
    const unsigned char *h = (const unsigned char *)c->queue.data + c->queue.start + off;
    *kind = (sc_ckind)h[0];
    *len = ((size_t)h[1] << 8) | h[2];
}

/* The oldest queued entry: 1 with its kind and bytes, 0 when the queue is empty. */
static inline int sc_client_queue_front(const smtpcore_client *c, sc_ckind *kind,
                                        const char **bytes, size_t *len)
{
    if (sc_buf_len(&c->queue) == 0)
        return 0;
    sc_client_queue_peek(c, 0, kind, len);
    *bytes = c->queue.data + c->queue.start + SC_CLIENT_QHDR;
    return 1;
}

/* Drops the oldest entry, whose length the caller just read with queue_front(). */
static inline void sc_client_queue_pop(smtpcore_client *c, size_t len)
{
    sc_buf_consume(&c->queue, len + SC_CLIENT_QHDR);
}

/* Remembers a command sent, so that its reply can be matched. -1 when the ring is full. */
static inline int sc_client_ring_push(smtpcore_client *c, sc_ckind kind)
{
    if (c->ring_len == c->ring_cap)
        return -1;
    c->ring[(c->ring_head + c->ring_len) % c->ring_cap] = (uint8_t)kind;
    c->ring_len++;
    if (sc_client_is_tx_kind(kind))
        c->tx_outstanding++;
    if (kind == SC_CK_RSET_TXN || kind == SC_CK_RSET_USER || kind == SC_CK_RSET_FALLBACK)
        c->rset_outstanding++;
    c->last_sent_ends_group = c->pipelining ? sc_client_ends_group(kind) : 1;
    return 0;
}

/* client_core.c. A push returns the queued event (never NULL): callers that add fields
 * do so through that pointer. */
smtpcore_failure sc_client_class(int code);
sc_cev *sc_client_push_ev(smtpcore_client *c, smtpcore_client_event_type t,
                          smtpcore_failure f, const smtpcore_reply *reply);
sc_cev *sc_client_push(smtpcore_client *c, smtpcore_client_event_type t, smtpcore_failure f,
                       const smtpcore_reply *reply, smtpcore_violation v, const char *msg);
void sc_client_ready(smtpcore_client *c);
void sc_client_tx_reset(smtpcore_client *c);
smtpcore_failure sc_client_env_failure(const smtpcore_client *c);
smtpcore_failure sc_client_bdat_failure(const smtpcore_client *c);
void sc_client_tx_finish(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *r,
                         smtpcore_violation v);
void sc_client_tx_check_done(smtpcore_client *c);
void sc_client_bdat_check_done(smtpcore_client *c);
void sc_client_fin_result(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *r,
                          smtpcore_violation v, const char *msg);
/* Returns the MESSAGE_RESULT it pushed for an open transaction, or NULL. */
sc_cev *sc_client_close(smtpcore_client *c, smtpcore_failure f, const smtpcore_reply *reply,
                        smtpcore_violation v, int send_quit);
void sc_client_protocol_error(smtpcore_client *c, const smtpcore_reply *reply,
                              smtpcore_violation v, const char *msg);
void sc_client_pump(smtpcore_client *c);
int sc_client_send_hello(smtpcore_client *c);

/* client_lmtp.c */
void sc_client_lmtp_accepted(smtpcore_client *c, size_t index);
int sc_client_lmtp_start(smtpcore_client *c, int fin);
void sc_client_lmtp_delivery(smtpcore_client *c, const smtpcore_reply *r);

/* client_auth.c */
void sc_client_auth_start(smtpcore_client *c);
void sc_client_auth_reply(smtpcore_client *c, const smtpcore_reply *r);

/* client_xclient.c: the reply to XCLIENT */
void sc_client_xclient_reply(smtpcore_client *c, const smtpcore_reply *r);

/* client_proto.c: interpreting replies, session setup */
void sc_client_on_reply(smtpcore_client *c, const smtpcore_reply *r);

#endif
