/* SPDX-License-Identifier: MIT */
/* Server session, layer 0: the session core. Not installed, not part of the API.
 *
 * The server runs in three layers and every call runs downward (scripts/check_layers.sh,
 * run by ctest, fails on a file that calls into one that calls it back):
 *
 *   2  public API and main loop   server.c (lifetime, receive, next_event and its step
 *                                 loop, answers and their state changes, output),
 *                                 server_close.c (close_with, shutdown)
 *   1  concerns                   server_cmd.c (command dispatch, EHLO reply)
 *                                   -> server_auth.c, server_xclient.c, server_data.c
 *                                 server_data.c -> server_lmtp.c; server_proxy.c
 *                                 (declared in server_internal.h)
 *   0  session core               server_core.c (event queue and staging, replies,
 *                                 refusals, close, transaction reset), server_reply.c
 *                                 (default answers, answer formatting); this header
 *
 * Layer 0 files include only this header, so they cannot call upward.
 *
 * Life of the input buffer: bytes the state machine has finished with are not dropped at
 * once but counted in in_done and dropped at the start of the next call, so the slices
 * of the event just returned stay valid until then. While events are queued (one command
 * can yield several), nothing is dropped and the buffer is never compacted. */
#ifndef SC_SERVER_CORE_H
#define SC_SERVER_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "buf.h"
#include "data.h"
#include "line.h"
#include "proxy.h"
#include "reply.h"
#include "sc_assert.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included. */
#define SC_SRV_REPLY_LINE_MAX 512u
/* The longest text of one line of a host's reply: the line less "ccc-", the room kept
 * for an enhanced code (SC_REPLY_ENH_ROOM) and CRLF. */
#define SC_SRV_REPLY_TEXT_MAX                                                               \
    (SC_SRV_REPLY_LINE_MAX - (sizeof("ccc-") - 1) - SC_REPLY_ENH_ROOM - (sizeof("\r\n") - 1))
/* The least output room a step and a host answer get, and so the smallest output
 * buffer: one reply line of the RFC 5321 maximum. A step may need more when the host
 * name is long (the EHLO reply repeats it); see reply_reserve() in server.c. */
#define SC_SRV_MIN_RESERVE SC_SRV_REPLY_LINE_MAX
/* Decoded SASL responses of one exchange are limited to this (500 5.5.6 beyond). */
#define SC_SRV_AUTH_MAX 1024u
/* The part of the HELO/EHLO name the EHLO reply repeats. */
#define SC_SRV_HELO_ECHO 255u
/* The longest chain one step produces: note, refusal, too-many-errors, close. The
 * first of them goes straight to the caller. */
#define SC_SRV_EVQ 4u
#define SC_SRV_MAX_HOSTNAME 255u
#define SC_SRV_MAX_GREETING 400u
/* The longest reply smtpcore_server_close_with() takes: one full reply line. */
#define SC_SRV_CLOSE_MAX SC_SRV_REPLY_LINE_MAX
/* The EHLO reply's extension lines at most, each with "250-" and CRLF: 203 octets with
 * every extension and the longest SIZE, rounded up (static_assert in server_cmd.c). The
 * XCLIENT line adds 62; when it is advertised the echoed HELO name is cut by
 * SC_SRV_XCLIENT_ECHO_CUT instead, so the reserve (and the smallest output buffer) stays
 * what it was. */
#define SC_SRV_EHLO_EXT_MAX 220u
#define SC_SRV_XCLIENT_ECHO_CUT 64u
/* The XCLIENT keyword line of the EHLO reply (Postfix's attribute list). */
#define SC_SRV_XCLIENT_EHLO "XCLIENT NAME ADDR PORT PROTO HELO LOGIN DESTADDR DESTPORT"

/* The PROXY header, kept for smtpcore_server_proxy_header(): allocated with the session
 * (after its buffers) only when PROXY is on. */
typedef struct sc_srv_proxy {
    smtpcore_proxy_header hdr;
    sc_proxy_text txt;
    size_t raw_cap;             /* the longest header accepted */
    int done;                   /* hdr is valid */
    char raw[];                 /* the header's bytes, as received */
} sc_srv_proxy;

typedef enum sc_srv_phase {
    SC_PH_GREETING = 0, /* CONNECT not yet answered */
    SC_PH_CMD,          /* reading command lines */
    SC_PH_DATA,         /* reading a DATA body through the unstuffer */
    SC_PH_BDAT,         /* reading the octets of a BDAT chunk */
    SC_PH_AUTH,         /* waiting for a SASL continuation line */
    SC_PH_TLS_WAIT,     /* 220 to STARTTLS queued; waiting for tls_started() */
    SC_PH_CLOSED,       /* QUIT, 421 or EOF: input is ignored */
    SC_PH_PROXY         /* reading the PROXY header (server_proxy.c), before GREETING */
} sc_srv_phase;

/* What happens to the octets of a BDAT chunk. */
typedef enum sc_bdat_mode {
    SC_BDAT_STREAM = 0,  /* part of the transaction: BODY events */
    SC_BDAT_TOO_BIG,     /* the transaction failed on size: read through, 552 */
    SC_BDAT_NO_EXT,      /* CHUNKING not advertised: read through, 502 */
    SC_BDAT_NO_TXN,      /* no transaction (or refused session): read through, 503 */
    SC_BDAT_NO_RCPT      /* MAIL but no accepted RCPT: read through, 554, transaction gone */
} sc_bdat_mode;

/* A queued event, compact: the public event is 152 bytes and mostly zero, so only what
 * the engine can set is kept and next_event() expands it. MAIL/RCPT parameters are not
 * kept but parsed again from the line, which stays in the input buffer while events are
 * queued; AUTH credentials are kept as offsets into the input buffer. Slice lengths fit
 * 32 bits: a slice lies in the input buffer (at most UINT32_MAX, config_check()), in the
 * PROXY header or in a static text. */
enum {
    SC_REC_ANSWER = 1u << 0,
    SC_REC_ESMTP = 1u << 1,
    SC_REC_BDAT = 1u << 2,
    SC_REC_LONG_LINES = 1u << 3,
    SC_REC_UTF8 = 1u << 4,
    SC_REC_OWN_NAME = 1u << 5
};
#define SC_REC_NONE UINT32_MAX

typedef struct sc_srv_rec {
    uint8_t type;
    uint8_t violation;
    uint8_t helo_class;
    uint8_t bits;       /* SC_REC_* */
    uint16_t reply_code;
    uint8_t auth_mech;
    uint32_t rcpt_count;
    uint32_t line_len;
    const char *line;
    union {
        struct {
            const char *a;  /* address, data or message, by type */
            uint64_t n;     /* message_size or discarded, by type */
            uint32_t a_len;
        } v;
        uint32_t cred[6]; /* AUTH: offset and length of authzid, username, password */
    } u;
} sc_srv_rec;

typedef enum sc_auth_step {
    SC_AUTH_NONE = 0,
    SC_AUTH_PLAIN_WAIT,  /* "334 " sent, waiting for the PLAIN response */
    SC_AUTH_XOAUTH2_WAIT,
    SC_AUTH_LOGIN_USER,  /* "334 VXNlcm5hbWU6" sent */
    SC_AUTH_LOGIN_PASS   /* "334 UGFzc3dvcmQ6" sent */
} sc_auth_step;

/* What the session reads of its configuration after smtpcore_server_new(), in types as
 * narrow as config_check() bounds them (the public config is 160 bytes, this 64). The
 * rest is used at creation: buffer sizes and limits go into the buffers, the framer,
 * the unstuffer (max_text_line stays in it for every message) and the LMTP area. */
typedef struct sc_srv_cfg {
    const char *hostname;         /* these three point into the strings after the struct */
    const char *greeting_text;
    const char *const *own_names;
    uint64_t max_message_size;
    uint32_t extensions;
    uint32_t max_recipients;
    uint32_t max_errors;
    uint32_t max_auth_failures;
    uint32_t own_names_count;
    uint8_t auth_mechs;           /* SMTPCORE_AUTH_*: three bits */
    uint8_t helo_policy;          /* the smtpcore_*_policy enums, 0 to 2 */
    uint8_t bare_lf_policy;
    uint8_t talker_policy;
    uint8_t injection_policy;
    uint8_t sync_policy;
    uint8_t nul_policy;
    uint8_t allow_plaintext_auth; /* 0 or 1 */
    uint8_t lmtp;                 /* 0 or 1 */
    uint8_t proxy_protocol;       /* smtpcore_proxy_mode */
} sc_srv_cfg;

/* LMTP state (server_lmtp.c), at the start of the LMTP area of the session's block, which
 * only an LMTP session has: an SMTP session carries none of it. */
typedef struct sc_srv_lmtp {
    struct sc_lmtp_slot *slots;   /* max_recipients entries */
    char *store;                  /* formatted replies that could not be written yet */
    char *bulk;                   /* the one reply of accept()/reply()/reject() or a refusal */
    uint32_t store_cap, store_used, stored;
    uint32_t bulk_cap, bulk_len;
    uint32_t n;                   /* recipients of the ended message */
    uint32_t next;                /* the next one to write (all before it are written) */
    uint32_t answered;
} sc_srv_lmtp;

/* The MAIL parameters are the largest member of the event's union, so a zero `mail`
 * means a zero union (the server fuzzer checks that for every other type). */
_Static_assert(sizeof(smtpcore_mail_params) >= sizeof(smtpcore_rcpt_params) &&
                   sizeof(smtpcore_mail_params) >= 3 * sizeof(smtpcore_str),
               "mail is the largest member of the event's union");

/* Flags are bytes and sizes that the config bounds are 32-bit: an idle session is
 * meant to stay small, under 2 KiB with its default buffers, 152 bytes of it the event
 * next_event() hands out (see smtpcore_server_memory(); docs/performance.md, row 5a). */
struct smtpcore_server {
    /* The host allocator's malloc and free: the buffers are taken back after
     * smtpcore_server_release_idle() and given back by del(). */
    void *(*malloc_fn)(size_t size, void *user);
    void (*free_fn)(void *ptr, void *user);
    void *alloc_user;
    sc_srv_cfg cfg;
    size_t tail_size;           /* the block after the struct: LMTP area, strings
                                   (hostname, greeting, own names, their pointer table),
                                   PROXY area */

    /* The event queue and the input and output buffers: one block of their own (the
     * queue at its start, then in_size + out_size bytes), so that an idle session can
     * give it back (sc_srv_buffers_release()). While released, evq is NULL (nothing is
     * queued then) and both buffers are empty with data NULL and cap 0: nothing fits, so
     * a writer that missed sc_srv_buffers_acquire() finds no room rather than a dangling
     * pointer. */
    sc_srv_rec *evq;
    sc_buf in;
    sc_buf out;
    uint32_t in_size, out_size; /* the capacities the configuration chose */
    size_t in_done;             /* processed bytes after auth_keep, dropped lazily */
    size_t tls_late_discarded;  /* plaintext received while waiting for tls_started() */
    sc_line_framer framer;
    sc_unstuffer unstuffer;
    uint64_t msg_size;          /* BDAT: octets received in this transaction */
    uint64_t bdat_remaining;    /* current BDAT chunk */
    uint64_t bdat_chunk;
    /* Inside next_event() (direct_on): `current`, filled in place by the first push of a
     * step (the common case of one event per step costs no queue copy). Later pushes are
     * filled in `stage` (on the stack of the public call) and compacted into the queue at
     * the next push or at the end of the call. */
    smtpcore_server_event *stage;
    /* A slice of the input kept in place (neither dropped nor compacted) while its event
     * awaits an answer (sc_srv_keeps_line()): the name the EHLO reply repeats, or the
     * XCLIENT arguments, decoded and compacted by server_xclient.c. */
    const char *helo_name;
    /* The event next_event() hands out (a const pointer to it): the library owns it, so
     * fields can be added without breaking compiled hosts. Only next_event() writes it;
     * answers and other calls push into the queue through `stage`. */
    smtpcore_server_event current;

    smtpcore_server_event_type awaiting; /* event waiting for an answer, or SEV_NONE */
    smtpcore_body_type body_type;
    smtpcore_body_type pend_body; /* MAIL event: BODY= */
    uint32_t reserve;           /* output room a step needs (see reply_reserve()) */
    uint32_t errors;
    uint32_t auth_failures;     /* failed AUTH attempts (max_auth_failures) */
    uint32_t rcpt_count;
    uint32_t helo_name_len;
    uint32_t auth_used;         /* LOGIN: length of the decoded user name */
    uint32_t auth_user_off;     /* LOGIN: where it starts, from the front of the input */
    uint32_t auth_keep;         /* LOGIN: bytes at the front of the input kept for it */

    uint8_t phase;              /* sc_srv_phase */
    uint8_t auth_step;          /* sc_auth_step */
    uint8_t auth_mech;          /* SMTPCORE_AUTH_* of the exchange */
    uint8_t bdat_mode;          /* sc_bdat_mode */
    uint8_t evq_head, evq_len;
    uint8_t direct_on;
    uint8_t direct_used;
    uint8_t staged;
    /* Set by every push; the step loop tests only this byte (a wider load of the flags
     * above right after their byte stores stalled store forwarding). */
    uint8_t step_made;

    /* connection state */
    uint8_t connect_delivered;
    uint8_t refused;            /* greeting was 554: only QUIT is served */
    uint8_t output_seen;        /* the host has looked at the output at least once */
    uint8_t early_talker;       /* bytes arrived before the greeting was handed out */
    uint8_t early_reported;
    uint8_t improper_reported;
    uint8_t improper_next;      /* the next command arrived before its predecessor's reply */
    uint8_t eof;
    uint8_t want_close;
    uint8_t group_end;          /* a group-ending reply is queued: flush */
    uint8_t tls_active;

    /* HELO / AUTH */
    uint8_t helo_done;
    uint8_t esmtp;
    uint8_t authenticated;

    /* transaction */
    uint8_t mail_open;
    uint8_t txn_utf8;           /* the MAIL carried SMTPUTF8 (RFC 6531) */
    uint8_t bdat_used;
    uint8_t bdat_failed;        /* BDAT total crossed the size limit; read until LAST */
    uint8_t bdat_nul;           /* BDAT content held a NUL (NUL_REJECT): refused at LAST */

    /* current DATA / BDAT */
    uint8_t data_refuse;        /* 0, or the violation that stops BODY events */
    uint8_t bdat_last;
    uint8_t pend_esmtp;         /* HELO event: EHLO (1) or HELO (0) */
    uint8_t pend_utf8;          /* MAIL event: SMTPUTF8 */

    /* LMTP (server_lmtp.c): the per-recipient replies of the ended message, kept in the
     * LMTP area (sc_srv_lmtp_area()); this flag is here, tested on every call. */
    uint8_t lmtp_flushing;      /* replies still to write: no command is processed */

    /* PROXY / XCLIENT (server_proxy.c, server_xclient.c), in the tail padding */
    uint8_t xclient_allowed;    /* XCLIENT advertised and served */
    uint32_t proxy_off;         /* where the sc_srv_proxy sits in the block; 0: PROXY off
                                   (an offset, not a pointer: it fits the padding) */
};

/* One recipient's reply: len 0 = not answered yet; off SC_LMTP_BULK = the bulk reply. */
typedef struct sc_lmtp_slot {
    uint32_t off;
    uint32_t len;
} sc_lmtp_slot;
#define SC_LMTP_BULK UINT32_MAX


/* ---- the session core's calls (server_core.c, server_reply.c) ----
 * An event returned by sc_srv_push() (or sc_srv_refuse*()) may be filled in only until
 * the next push: later events of a step reuse one staging slot. Pushing cannot fail: the
 * queue holds the longest chain one step makes (SC_SRV_EVQ), which SC_ASSERT checks. */
static inline smtpcore_server_event *sc_srv_push(smtpcore_server *s,
                                                 smtpcore_server_event_type type);
/* The part of sc_srv_push() for a second event of a step, or one outside next_event(). */
smtpcore_server_event *sc_srv_push_staged(smtpcore_server *s, smtpcore_server_event_type type);
/* A reply of the engine's own (static text, enhanced code as "x.y.z" or NULL). */
void sc_srv_reply(smtpcore_server *s, int code, const char *enh, const char *text);
/* A reply without an enhanced code, text[0, len) may hold '\n' for more lines; -1 when
 * it does not fit the output. */
int sc_srv_reply_raw(smtpcore_server *s, int code, const char *text, size_t len);
/* An engine refusal: the reply, and a PROTOCOL_ERROR event showing `line` (counts: one
 * towards max_errors, whose limit ends the session with a 421). Returns the event. */
smtpcore_server_event *sc_srv_refuse(smtpcore_server *s, smtpcore_str line, int code,
                                     const char *enh, const char *text, smtpcore_violation v,
                                     int counts);
smtpcore_server_event *sc_srv_refuse_e(smtpcore_server *s, smtpcore_str line, int code,
                                       const smtpcore_enhanced *enh, const char *text,
                                       smtpcore_violation v, int counts);
/* "421 4.7.0 <hostname> <text>" (when say), PROTOCOL_ERROR v, CLOSE: the end of a session
 * over a limit. text is static and at most SC_SRV_TOO_MANY_TEXT_MAX bytes. */
#define SC_SRV_TOO_MANY_TEXT_MAX 64u
void sc_srv_too_many(smtpcore_server *s, smtpcore_violation v, const char *text, int say);
/* "<hostname> <text>" and a NUL into buf, as every engine 421 starts (RFC 5321 3.8): buf
 * holds SC_SRV_HOST_TEXT_SIZE(the longest text) bytes. */
#define SC_SRV_HOST_TEXT_SIZE(text_max) (SC_SRV_MAX_HOSTNAME + sizeof(" ") - 1 + (text_max) + 1)
void sc_srv_host_text(const smtpcore_server *s, const char *text, char *buf, size_t size);
/* The transaction is over (RSET, a new HELO, the end of a message, a refusal that ends
 * it): everything it set is cleared, in this one place. */
void sc_srv_reset_txn(smtpcore_server *s);
/* The CLOSE event; no more input is served. */
smtpcore_server_event *sc_srv_close(smtpcore_server *s, smtpcore_violation v);
/* The queue and buffers (see `evq`): acquire() takes them back after a release, or
 * returns SMTPCORE_ERR_NOMEM leaving the session as it was; release() gives them back
 * and returns the bytes freed (the caller checked that nothing refers to them). Every
 * call that can queue an event or write output outside the step loop acquires first. */
#define SC_SRV_EVQ_BYTES (SC_SRV_EVQ * sizeof(sc_srv_rec))
static inline int sc_srv_buffers_held(const smtpcore_server *s) { return s->evq != NULL; }
int sc_srv_buffers_acquire(smtpcore_server *s);
size_t sc_srv_buffers_release(smtpcore_server *s);
/* The LOGIN user name kept at the front of the input becomes processed input. */
void sc_srv_auth_release(smtpcore_server *s);
/* The queue: sc_srv_pop() hands out the oldest queued event. */
void sc_srv_commit_stage(smtpcore_server *s);
void sc_srv_pop_queued(smtpcore_server *s, smtpcore_server_event *ev);

/* server_reply.c: formats a host answer to an event of type t into dst, checking it like
 * smtpcore_server_reply() (code allowed, enhanced code, text). Returns SMTPCORE_OK with
 * *n set, an API error, or SMTPCORE_ERR_BUFFER_FULL when it does not fit cap. */
int sc_srv_format_answer(const smtpcore_server *s, smtpcore_server_event_type t, int code,
                         const char *enhanced, const char *text, int use_default, char *dst,
                         size_t cap, size_t *n);
/* A host's reply text: no CR (SMTPCORE_ERR_INJECTION), every line at most
 * SC_SRV_REPLY_TEXT_MAX (SMTPCORE_ERR_TOO_LONG), else SMTPCORE_OK. */
int sc_srv_text_check(const char *text, size_t len);

/* The engine's default answer to each event type (server_reply.c): code, enhanced code
 * (cls 0: none), text, and the same as one preformatted reply line in the SC_SRV_SAY form
 * ("ccc x.y.z text\r\n", enh_len the length of "x.y.z ") so that accept() is a copy.
 * CONNECT, HELO and XCLIENT have no line (len 0): their replies are built from the
 * configuration. */
#define SC_DEF_LINE_MAX 80u
typedef struct sc_srv_default {
    uint16_t code;
    smtpcore_enhanced enh;
    const char *text;
    char line[SC_DEF_LINE_MAX]; /* padded: sc_srv_say_default() copies it in fixed pieces */
    uint8_t len;                /* of line; 0: built, not preformatted */
    uint8_t enh_len;
} sc_srv_default;

#define SC_DEF_LINE(code, c, sub, det, text)                                               \
    {code, {c, sub, det}, text, #code " " #c "." #sub "." #det " " text "\r\n",             \
     (uint8_t)(sizeof(#code " " #c "." #sub "." #det " " text "\r\n") - 1),                \
     (uint8_t)sizeof(#c "." #sub "." #det)}
#define SC_DEF_LINE0(code, text)                                                           \
    {code, {0, 0, 0}, text, #code " " text "\r\n", (uint8_t)(sizeof(#code " " text "\r\n") - 1), 0}
#define SC_DEF_BUILT(code, text) {code, {0, 0, 0}, text, "", 0, 0}

#define SC_SRV_DEFAULTS_N ((size_t)SMTPCORE_SEV_XCLIENT + 1u)
extern const sc_srv_default sc_srv_defaults[SC_SRV_DEFAULTS_N];
extern const sc_srv_default sc_srv_default_generic; /* a type without an entry */

static inline const sc_srv_default *sc_srv_default_for(smtpcore_server_event_type t)
{
    size_t i = (size_t)t;
    return i < SC_SRV_DEFAULTS_N ? &sc_srv_defaults[i] : &sc_srv_default_generic;
}

/* ---- inline parts of the core (the hot path of every command) ---- */

static inline int sc_srv_enh_on(const smtpcore_server *s)
{
    return (s->cfg.extensions & SMTPCORE_EXT_ENHANCEDSTATUSCODES) != 0;
}

/* Clears an event. The public event is 152 bytes and is cleared once per event; a plain
 * memset of that size becomes `rep stos`, whose start-up cost was a sixth of the time of
 * a DATA body in bench_server. Unaligned 16-byte stores cost a few cycles. (The empty asm
 * keeps the compiler from recognising the loop as a memset again.) */
static inline void sc_srv_zero_event(smtpcore_server_event *ev)
{
#if defined(__SSE2__) && defined(__GNUC__)
    unsigned char *p = (unsigned char *)ev;
    const __m128i z = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= sizeof(*ev); i += 16) {
        _mm_storeu_si128((__m128i *)(void *)(p + i), z);
        __asm__ volatile("" : : : "memory");
    }
    if (i < sizeof(*ev))
        memset(p + i, 0, sizeof(*ev) - i);
#else
    memset(ev, 0, sizeof(*ev));
#endif
}

/* Every public call that can make events brackets itself with these: the first event
 * of a call may go straight to the caller (next_event()), later ones are staged on that
 * call's stack (tmp) and compacted into the queue. */
static inline void sc_srv_stage_begin(smtpcore_server *s, smtpcore_server_event *tmp)
{
    s->stage = tmp;
    s->staged = 0;
}

static inline void sc_srv_stage_end(smtpcore_server *s)
{
    if (s->staged)
        sc_srv_commit_stage(s);
    s->stage = NULL;
}

/* Inside next_event() the queue is empty when a step starts, so the first push of the
 * call may use the caller's event: that case, one event per command, is inline. */
static inline smtpcore_server_event *sc_srv_push(smtpcore_server *s,
                                                 smtpcore_server_event_type type)
{
    if (!s->direct_on || s->step_made)
        return sc_srv_push_staged(s, type);
    smtpcore_server_event *ev = &s->current;
    s->direct_used = 1;
    sc_srv_zero_event(ev);
    ev->type = type;
    s->step_made = 1;
    return ev;
}

/* Hands out the oldest queued event; 0 when none is queued. */
static inline int sc_srv_pop(smtpcore_server *s, smtpcore_server_event *ev)
{
    if (s->evq_len == 0)
        return 0;
    sc_srv_pop_queued(s, ev);
    return 1;
}

/* The event waits for the host's accept/reply/reject. */
static inline void sc_srv_await(smtpcore_server *s, smtpcore_server_event *ev)
{
    (void)s;
    ev->answer_required = 1;
}

/* The input not yet processed: after the LOGIN user name kept at the front and after
 * the bytes processed in this call. */
static inline size_t sc_srv_unprocessed(const smtpcore_server *s, const char **p)
{
    *p = s->in.data + s->in.start + s->auth_keep + s->in_done;
    return sc_buf_len(&s->in) - s->auth_keep - s->in_done;
}

/* A writable view of bytes of the session's own input buffer (p points into it, held
 * through a const slice such as a framed line or a parsed argument): what the in-place
 * decoders (SASL responses, XCLIENT arguments) write to. The buffer is the session's,
 * never the caller's, so writing it is legitimate; the check keeps it so. */
static inline char *sc_srv_input_writable(smtpcore_server *s, const char *p)
{
    size_t off = (size_t)(p - (const char *)s->in.data);
    SC_ASSERT(p >= (const char *)s->in.data && off <= s->in.cap);
    return s->in.data + off;
}

/* Writes an engine reply "ccc x.y.z text\r\n" (enh_len: the length of "x.y.z ", 0 when
 * there is none), without the enhanced code when ENHANCEDSTATUSCODES is not advertised.
 * Room for it is guaranteed: a step starts only with s->reserve bytes free. Inline, so
 * that the copy of a literal has a constant length. */
static inline void sc_srv_say(smtpcore_server *s, const char *r, size_t len, size_t enh_len)
{
    int enh = sc_srv_enh_on(s);
    size_t n = enh ? len : len - enh_len;
    char *dst = sc_buf_reserve(&s->out, n);
    SC_ASSERT(dst != NULL); /* release builds drop the reply rather than overflow */
    if (!dst)
        return;
    if (enh) {
        memcpy(dst, r, len);
    } else {
        memcpy(dst, r, 4);
        memcpy(dst + 4, r + 4 + enh_len, len - 4 - enh_len);
    }
    sc_buf_commit(&s->out, n);
}
/* A one-line engine reply written from one literal "ccc x.y.z text\r\n": no formatting
 * on the hot path, only a copy (the "x.y.z " part is skipped when ENHANCEDSTATUSCODES is
 * not advertised). */
#define SC_SRV_SAY(s, code, enh, text)                                                      \
    sc_srv_say((s), code " " enh " " text "\r\n", sizeof(code " " enh " " text "\r\n") - 1,  \
               sizeof(enh))

/* Writes a preformatted default reply. Output room for a whole line is guaranteed to an
 * answer (a step starts only with s->reserve >= SC_SRV_MIN_RESERVE bytes free), so the
 * copy is by fixed-size pieces of the padded line: the bytes past its end land in free
 * room and are not committed. The _fast part returns 0, writing nothing, when that
 * cannot be done (less than a padded line of room, or the enhanced code to drop). */
static inline int sc_srv_say_default_fast(smtpcore_server *s, const sc_srv_default *d)
{
    char *dst = sc_buf_reserve(&s->out, SC_DEF_LINE_MAX);
    if (!dst || (d->enh_len && !sc_srv_enh_on(s)))
        return 0;
    if (d->len <= 16)
        memcpy(dst, d->line, 16);
    else
        memcpy(dst, d->line, SC_DEF_LINE_MAX);
    sc_buf_commit(&s->out, d->len);
    return 1;
}

static inline void sc_srv_say_default(smtpcore_server *s, const sc_srv_default *d)
{
    if (!sc_srv_say_default_fast(s, d))
        sc_srv_say(s, d->line, d->len, d->enh_len);
}

/* The LMTP area of the session's block: right after the struct (whose size keeps it
 * aligned). Only for a session with cfg.lmtp set. */
_Static_assert(sizeof(struct smtpcore_server) % _Alignof(sc_srv_lmtp) == 0,
               "the LMTP area follows the session's struct aligned");
static inline sc_srv_lmtp *sc_srv_lmtp_area(const smtpcore_server *s)
{
    return (sc_srv_lmtp *)(void *)((char *)(uintptr_t)s + sizeof(*s));
}

/* The PROXY area of the session's block, or NULL when PROXY is off. */
static inline sc_srv_proxy *sc_srv_proxy_area(const smtpcore_server *s)
{
    return s->proxy_off ? (sc_srv_proxy *)(void *)((char *)(uintptr_t)s + s->proxy_off) : NULL;
}

/* The pending event's line must stay where it is (see helo_name). */
static inline int sc_srv_keeps_line(const smtpcore_server *s)
{
    return s->awaiting == SMTPCORE_SEV_HELO || s->awaiting == SMTPCORE_SEV_XCLIENT;
}

#endif
