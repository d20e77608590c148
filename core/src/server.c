/* SPDX-License-Identifier: MIT */
/* Server session, layer 2 (see server_core.h): lifetime and buffers, receiving, the main
 * loop of next_event() and its steps, host answers and the state changes they bring,
 * output. Calls into the concerns (server_internal.h) and the core; nothing calls back. */
#include <string.h>

#include "abi.h"
#include "alloc.h"
#include "proxy.h"
#include "reply.h"
#include "sc_assert.h"
#include "sc_text.h"
#include "server_internal.h"
#include "syntax.h"

/* LMTP: the recipient table and reply store grow with max_recipients (about 72 bytes
 * each); beyond this the session would be larger than any real LMTP delivery needs. */
#define SC_SRV_LMTP_MAX_RCPT 1000000u

#define SC_SRV_ALLOWED_MECHS                                                            \
    ((uint32_t)SMTPCORE_AUTH_PLAIN | (uint32_t)SMTPCORE_AUTH_LOGIN |                    \
     (uint32_t)SMTPCORE_AUTH_XOAUTH2)

void smtpcore_server_config_init(smtpcore_server_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->struct_size = sizeof(*cfg);
    cfg->hostname = "localhost";
    cfg->greeting_text = "ESMTP smtpcore";
    cfg->extensions = SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_SIZE | SMTPCORE_EXT_8BITMIME |
                      SMTPCORE_EXT_SMTPUTF8 | SMTPCORE_EXT_DSN |
                      SMTPCORE_EXT_ENHANCEDSTATUSCODES | SMTPCORE_EXT_CHUNKING;
    cfg->auth_mechs = SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_LOGIN;
    cfg->max_message_size = 10u * 1024u * 1024u;
    cfg->max_recipients = 100;
    cfg->max_errors = 10;
    cfg->max_command_line = 512;
    cfg->max_text_line = 1000;
    /* Small by default so that many idle sessions are cheap: one command line in, and
     * out the reserve of one step (see reply_reserve()) plus room to batch the replies of
     * a pipelined group. Hosts that move much message content raise both. */
    cfg->input_buffer_size = 514;
    cfg->output_buffer_size = 768;
    cfg->proxy_protocol = SMTPCORE_PROXY_OFF;
    cfg->proxy_max_header = SC_PROXY_DEFAULT_HEADER;
    /* A password guesser gets a few tries per connection, then must reconnect, where
     * the host can delay and rate-limit it per address (Postfix closes on its error
     * limits; Dovecot's auth penalty is per address too). */
    cfg->max_auth_failures = 3;
}

/* A configured string goes verbatim into replies, so it must be one printable line. */
static int text_ok(const char *t, size_t max, int allow_space)
{
    size_t n = strlen(t);
    if (n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c < 0x20 || c == 0x7f || (!allow_space && c == ' '))
            return 0;
    }
    return 1;
}

/* The output room a step needs before it runs: the most the engine writes by itself in
 * one step or as a default answer. The EHLO reply is the largest: host name, the echoed
 * HELO name (at most SC_SRV_HELO_ECHO) and every extension line (under 220 bytes with
 * all of them); a refusal plus the 421 that may follow it is smaller. Never less than
 * one full reply line, the room a host answer is promised. */
static size_t reply_reserve(const smtpcore_server_config *c)
{
    size_t ehlo = sizeof("250-") - 1 + strlen(c->hostname) + sizeof(" Hello ") - 1 +
                  SC_SRV_HELO_ECHO + sizeof("\r\n") - 1 + SC_SRV_EHLO_EXT_MAX;
    return ehlo > SC_SRV_MIN_RESERVE ? ehlo : SC_SRV_MIN_RESERVE;
}

static int config_check(const smtpcore_server_config *c)
{
    if (!c->hostname || !c->hostname[0] || !text_ok(c->hostname, SC_SRV_MAX_HOSTNAME, 0))
        return -1;
    if (!c->greeting_text || !text_ok(c->greeting_text, SC_SRV_MAX_GREETING, 1))
        return -1;
    if (c->max_command_line < 16 || c->max_text_line < 3)
        return -1;
    /* Offsets into the buffers are kept in 32 bits (a session is meant to be small), and
     * the buffers are one block with the event queue: a 32-bit size_t must hold the sum. */
    if (c->input_buffer_size < c->max_command_line + 2 || c->input_buffer_size > UINT32_MAX ||
        c->output_buffer_size > UINT32_MAX || c->input_buffer_size > SIZE_MAX / 4 ||
        c->output_buffer_size > SIZE_MAX / 4)
        return -1;
    if (c->output_buffer_size < reply_reserve(c))
        return -1;
    if ((c->auth_mechs & ~SC_SRV_ALLOWED_MECHS) != 0)
        return -1;
    /* LMTP keeps one reply per recipient: the table is sized from the limit. */
    if (c->lmtp && (c->max_recipients == 0 || c->max_recipients > SC_SRV_LMTP_MAX_RCPT))
        return -1;
    if ((unsigned)c->helo_policy > SMTPCORE_HELO_OPTIONAL ||
        (unsigned)c->bare_lf_policy > SMTPCORE_BARE_LF_ACCEPT ||
        (unsigned)c->talker_policy > SMTPCORE_TALKER_REJECT ||
        (unsigned)c->injection_policy > SMTPCORE_INJECTION_DISCARD ||
        (unsigned)c->sync_policy > SMTPCORE_SYNC_ALL ||
        (unsigned)c->nul_policy > SMTPCORE_NUL_ACCEPT)
        return -1;
    if ((unsigned)c->proxy_protocol > SMTPCORE_PROXY_ANY)
        return -1;
    if (c->proxy_protocol != SMTPCORE_PROXY_OFF &&
        (c->proxy_max_header < SC_PROXY_MIN_HEADER || c->proxy_max_header > SC_PROXY_V2_MAX))
        return -1;
    if (c->own_names_count > 0) {
        if (!c->own_names || c->own_names_count > UINT32_MAX)
            return -1;
        for (size_t i = 0; i < c->own_names_count; i++)
            if (!c->own_names[i] || !text_ok(c->own_names[i], SC_SRV_MAX_HOSTNAME, 0))
                return -1;
    }
    if (c->allocator) {
        const smtpcore_allocator *a = c->allocator;
        int set = (a->malloc_fn != NULL) + (a->realloc_fn != NULL) + (a->free_fn != NULL);
        if (set != 0 && set != 3)
            return -1;
    }
    return 0;
}

static size_t strings_size(const smtpcore_server_config *c)
{
    size_t total = c->own_names_count * sizeof(const char *) + strlen(c->hostname) + 1 +
                   strlen(c->greeting_text) + 1;
    for (size_t i = 0; i < c->own_names_count; i++)
        total += strlen(c->own_names[i]) + 1;
    return total;
}

/* Copies hostname, greeting and own names into the session's block so the session does
 * not depend on the caller's strings after creation. */
static void copy_strings(smtpcore_server *s, const smtpcore_server_config *c, char *strings)
{
    size_t n_own = c->own_names_count;
    const char **tab = (const char **)(void *)strings;
    char *p = strings + n_own * sizeof(const char *);
    size_t len = strlen(c->hostname) + 1;
    memcpy(p, c->hostname, len);
    s->cfg.hostname = p;
    p += len;
    len = strlen(c->greeting_text) + 1;
    memcpy(p, c->greeting_text, len);
    s->cfg.greeting_text = p;
    p += len;
    for (size_t i = 0; i < n_own; i++) {
        len = strlen(c->own_names[i]) + 1;
        memcpy(p, c->own_names[i], len);
        tab[i] = p;
        p += len;
    }
    s->cfg.own_names = n_own ? tab : NULL;
}

/* The session's narrow copy of what it reads after creation (see sc_srv_cfg); the
 * strings are set by copy_strings(). */
static void keep_config(smtpcore_server *s, const smtpcore_server_config *c)
{
    sc_srv_cfg *k = &s->cfg;
    k->max_message_size = c->max_message_size;
    k->extensions = c->extensions;
    k->max_recipients = c->max_recipients;
    k->max_errors = c->max_errors;
    k->max_auth_failures = c->max_auth_failures;
    k->own_names_count = (uint32_t)c->own_names_count;
    k->auth_mechs = (uint8_t)c->auth_mechs;
    k->helo_policy = (uint8_t)c->helo_policy;
    k->bare_lf_policy = (uint8_t)c->bare_lf_policy;
    k->talker_policy = (uint8_t)c->talker_policy;
    k->injection_policy = (uint8_t)c->injection_policy;
    k->sync_policy = (uint8_t)c->sync_policy;
    k->nul_policy = (uint8_t)c->nul_policy;
    k->allow_plaintext_auth = c->allow_plaintext_auth ? 1 : 0;
    k->lmtp = c->lmtp ? 1 : 0;
    k->proxy_protocol = (uint8_t)c->proxy_protocol;
}

int smtpcore_server_new(smtpcore_server **out, const smtpcore_server_config *cfg)
{
    if (!out)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    if (cfg) {
        /* The ABI rule (abi.h): an older caller's smaller struct gets defaults for the
         * fields it lacks. */
        if (sc_abi_read(&c, sizeof c, cfg) != SMTPCORE_OK)
            return SMTPCORE_ERR_INVALID_ARGUMENT;
    }
    if (config_check(&c) != 0)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* With PROXY on, the whole header must fit the input buffer (the parser sees it in
     * one piece) and a copy is kept for smtpcore_server_proxy_header(). */
    size_t proxy_raw = 0;
    if (c.proxy_protocol != SMTPCORE_PROXY_OFF) {
        proxy_raw = c.proxy_protocol == SMTPCORE_PROXY_V1 ? SC_PROXY_V1_MAX : c.proxy_max_header;
        if (c.input_buffer_size < proxy_raw)
            c.input_buffer_size = proxy_raw;
    }
    /* BINARYMIME is only meaningful with BDAT (RFC 3030 3). */
    if (!(c.extensions & SMTPCORE_EXT_CHUNKING))
        c.extensions &= ~(uint32_t)SMTPCORE_EXT_BINARYMIME;
    if (c.auth_mechs == 0)
        c.extensions &= ~(uint32_t)SMTPCORE_EXT_AUTH;
    if (c.lmtp) {
        /* RFC 2033 4.1: an LMTP server always offers PIPELINING and ENHANCEDSTATUSCODES. */
        c.lmtp = 1;
        c.extensions |= SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_ENHANCEDSTATUSCODES;
        if (strcmp(c.greeting_text, "ESMTP smtpcore") == 0)
            c.greeting_text = "LMTP smtpcore";
    }

    /* Two blocks. The session's: the struct, the LMTP area (right after it, aligned by
     * the struct's size), the strings (a pointer table first: the LMTP area's size is
     * rounded up to keep it aligned) and the PROXY area. The buffers': input then
     * output, apart so that smtpcore_server_release_idle() can give them back. */
    size_t strs = strings_size(&c);
    size_t lmtp = (sc_srv_lmtp_size(&c) + (sizeof(void *) - 1)) & ~(sizeof(void *) - 1);
    size_t total = sizeof(smtpcore_server) + lmtp + strs;
    size_t proxy_off = (total + 15u) & ~(size_t)15u;
    if (proxy_raw)
        total = proxy_off + sizeof(sc_srv_proxy) + proxy_raw;
    smtpcore_allocator a;
    sc_alloc_resolve(&a, c.allocator);
    smtpcore_server *s = sc_malloc(&a, total);
    if (!s)
        return SMTPCORE_ERR_NOMEM;
    memset(s, 0, sizeof(*s));
    s->malloc_fn = a.malloc_fn;
    s->free_fn = a.free_fn;
    s->alloc_user = a.user;
    s->in_size = (uint32_t)c.input_buffer_size;
    s->out_size = (uint32_t)c.output_buffer_size;
    if (sc_srv_buffers_acquire(s) != SMTPCORE_OK) {
        sc_free(&a, s);
        return SMTPCORE_ERR_NOMEM;
    }
    keep_config(s, &c);
    s->tail_size = total - sizeof(*s);
    copy_strings(s, &c, (char *)(s + 1) + lmtp);
    s->reserve = (uint32_t)reply_reserve(&c);
    if (lmtp)
        sc_srv_lmtp_init(s);
    if (proxy_raw) {
        s->proxy_off = (uint32_t)proxy_off;
        sc_srv_proxy *px = sc_srv_proxy_area(s);
        memset(px, 0, sizeof(sc_srv_proxy));
        px->raw_cap = proxy_raw;
    }
    sc_line_init(&s->framer, c.max_command_line);
    /* The unstuffer keeps max_text_line for every message (after_answer() starts each
     * one with it), so the session needs no other copy. */
    sc_unstuffer_init(&s->unstuffer, c.max_text_line);
    s->tls_active = c.tls_active ? 1 : 0;
    s->xclient_allowed = c.xclient_allowed ? 1 : 0;
    s->phase = proxy_raw ? SC_PH_PROXY : SC_PH_GREETING;
    s->awaiting = SMTPCORE_SEV_NONE;
    *out = s;
    return SMTPCORE_OK;
}

void smtpcore_server_del(smtpcore_server *s)
{
    if (!s)
        return;
    sc_srv_buffers_release(s);
    s->free_fn(s, s->alloc_user);
}

/* ---- receiving ---- */

static void drop_done(smtpcore_server *s)
{
    /* The EHLO reply repeats the HELO name from the input: keep it in place. */
    if (!s->in_done || sc_srv_keeps_line(s))
        return;
    if (s->auth_keep) {
        char *keep_end = s->in.data + s->in.start + s->auth_keep;
        size_t rest = sc_buf_len(&s->in) - s->auth_keep - s->in_done;
        memmove(keep_end, keep_end + s->in_done, rest);
        s->in.end -= s->in_done;
    } else {
        sc_buf_consume(&s->in, s->in_done);
    }
    s->in_done = 0;
}

int smtpcore_server_receive(smtpcore_server *s, const char *data, size_t len, size_t *consumed)
{
    if (consumed)
        *consumed = 0;
    if (!s || !consumed || (!data && len))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (s->phase == SC_PH_CLOSED || s->eof)
        return SMTPCORE_ERR_CLOSED;
    if (len == 0)
        return SMTPCORE_OK;
    /* The PROXY header comes before the greeting by design; bytes behind it are judged
     * when it has been read (server_proxy.c). */
    if (!s->output_seen && s->phase != SC_PH_PROXY)
        s->early_talker = 1;
    if (s->phase == SC_PH_TLS_WAIT) {
        /* Plaintext that arrives before the host reports TLS up cannot be part of the
         * TLS conversation (RFC 3207 4.2 / CVE-2011-0411): drop and count it. */
        s->tls_late_discarded += len;
        *consumed = len;
        return SMTPCORE_OK;
    }
    /* A released session takes its buffers back for the bytes (the call does nothing
     * when it cannot). */
    if (!sc_srv_buffers_held(s) && sc_srv_buffers_acquire(s) != SMTPCORE_OK)
        return SMTPCORE_ERR_NOMEM;
    if (s->evq_len == 0 && !sc_srv_keeps_line(s)) {
        drop_done(s);
        *consumed = sc_buf_append(&s->in, data, len);
    } else {
        /* Queued events (or the name the EHLO reply repeats) still point into the
         * buffer: append without compacting. */
        size_t room = s->in.cap - s->in.end;
        size_t n = len < room ? len : room;
        if (n) {
            memcpy(s->in.data + s->in.end, data, n);
            s->in.end += n;
        }
        *consumed = n;
    }
    return SMTPCORE_OK;
}

int smtpcore_server_receive_eof(smtpcore_server *s)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* Input already buffered is still served (a client may send QUIT and close at once);
     * the loop turns EOF into events once it runs dry. */
    s->eof = 1;
    return SMTPCORE_OK;
}

/* Rare paths of the step loop, kept out of next_event() so that its common path saves
 * fewer registers. */
#if defined(__GNUC__)
#define SC_SRV_COLD __attribute__((noinline, cold))
#define SC_SRV_NOINLINE __attribute__((noinline))
#else
#define SC_SRV_COLD
#define SC_SRV_NOINLINE
#endif

SC_SRV_COLD static void finish_eof(smtpcore_server *s)
{
    smtpcore_violation v = SMTPCORE_V_NONE;
    if (s->phase == SC_PH_DATA || (s->phase == SC_PH_BDAT && s->bdat_mode == SC_BDAT_STREAM)) {
        sc_srv_abort_body(s, SMTPCORE_V_CONNECTION_LOST);
        v = SMTPCORE_V_CONNECTION_LOST;
    } else if (s->mail_open || s->phase == SC_PH_AUTH || s->phase == SC_PH_BDAT) {
        v = SMTPCORE_V_CONNECTION_LOST;
    }
    sc_srv_reset_txn(s);
    sc_srv_close(s, v);
}

SC_SRV_COLD static void early_talker(smtpcore_server *s)
{
    s->early_reported = 1;
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
    ev->violation = SMTPCORE_V_EARLY_TALKER;
    ev->message = sc_cstr("client sent data before the greeting");
    if (s->cfg.talker_policy != SMTPCORE_TALKER_REJECT || s->refused ||
        s->phase == SC_PH_CLOSED)
        return;
    /* The 220 has not been handed to the host yet (that is what made this an early
     * talker), so it can still be replaced by the refusal. */
    if (!s->output_seen)
        s->out.start = s->out.end = 0;
    sc_srv_reply(s, 554, "5.5.0", "Error: SMTP protocol synchronization");
    ev->reply_code = 554;
    s->in_done = sc_buf_len(&s->in);
    sc_srv_close(s, SMTPCORE_V_EARLY_TALKER);
}

/* One command line (or SASL line) from the framer; returns 0 when more input is needed.
 * Inlined in next_event() as it was while that was its only caller (accept_next() is
 * the second): a call per command line costs row 1 eight instructions per command. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int cmd_step(smtpcore_server *s)
{
    const char *p;
    size_t n = sc_srv_unprocessed(s, &p);
    size_t line_len, used; /* sc_line_next() sets all three on every path */
    uint32_t flags;
    sc_line_status st = sc_line_next(&s->framer, p, n, &line_len, &used, &flags);
    s->in_done += used;
    if (st == SC_LINE_NEED_MORE) {
        if (s->auth_keep && sc_buf_len(&s->in) == s->in.cap) {
            /* The LOGIN user name and the password line do not fit in the input
             * together: the line is over-long for this exchange. Discard it like the
             * framer discards any over-long line; its end fails the exchange. */
            sc_line_discard(&s->framer);
            s->in_done = n;
            sc_srv_auth_release(s);
            return 1;
        }
        return used > 0;
    }
    if (st == SC_LINE_OVERLONG) {
        if (s->phase == SC_PH_AUTH) {
            sc_srv_auth_overlong(s);
        } else {
            smtpcore_str none = {NULL, 0};
            sc_srv_refuse(s, none, 500, "5.5.2", "Line too long", SMTPCORE_V_LINE_TOO_LONG, 1);
        }
        return 1;
    }
    if (s->phase == SC_PH_AUTH) {
        /* A SASL response sent without waiting for the 334 is not a pipelined command. */
        s->improper_next = 0;
        sc_srv_auth_line(s, p, line_len, flags);
    }
    else
        sc_srv_command(s, p, line_len, flags, n - used);
    return 1;
}

/* next_event() on a released session (smtpcore_server_release_idle()): its input is
 * empty and its output has no room, so the step loop stops at the output check unless
 * the end of input or an early talker not yet reported is to be served: then it needs
 * the buffers back. (CONNECT needs none; CLOSED and TLS_WAIT stop before the check.) */
static int released_wants_buffers(const smtpcore_server *s)
{
    return !sc_srv_buffers_held(s) && s->phase != SC_PH_GREETING &&
           s->phase != SC_PH_CLOSED && s->phase != SC_PH_TLS_WAIT &&
           (s->eof || (s->early_talker && !s->early_reported));
}

/* At the output check of the step loop: 1 when the buffers were taken back (run the
 * step), 0 to stop (the output is full, or released with nothing to serve, or the
 * allocator failed: released_wants_buffers() still says so at the end). */
SC_SRV_COLD static int released_resume(smtpcore_server *s)
{
    return released_wants_buffers(s) && sc_srv_buffers_acquire(s) == SMTPCORE_OK;
}

/* What a NULL session hands out: never a NULL event pointer. */
static const smtpcore_server_event no_event;

static inline int accept_default(smtpcore_server *s);

/* next_event(), and with accept_first accept_next(): inlined in both, so that the
 * default answer is given inside next_event()'s frame (a call of its own per event
 * would save and restore registers around it, more than the answer's short path costs)
 * while next_event() itself keeps its code. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int next_event_body(smtpcore_server *s, const smtpcore_server_event **out,
                                  int accept_first)
{
    if (!s || !out) {
        if (out)
            *out = &no_event;
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    }
    smtpcore_server_event *ev = &s->current;
    if (accept_first && s->awaiting != SMTPCORE_SEV_NONE) {
        /* AUTH's default is 235: accepting it unseen would let a loop that forgot to
         * check credentials log anyone in. Only an explicit answer ends it. */
        if (s->awaiting == SMTPCORE_SEV_AUTH) {
            *out = ev;
            return SMTPCORE_ERR_INVALID_STATE;
        }
        int rc = accept_default(s);
        if (rc != SMTPCORE_OK) {
            /* Still awaiting its answer: the host may retry, reply or reject it. */
            *out = ev;
            return rc;
        }
    }
    *out = ev;
    if (sc_srv_pop(s, ev))
        return SMTPCORE_OK;
    drop_done(s);
    /* LMTP: commands behind a message wait until all its recipients' replies are out. */
    if (s->awaiting != SMTPCORE_SEV_NONE || (s->lmtp_flushing && sc_srv_lmtp_flush(s))) {
        sc_srv_zero_event(ev);
        return SMTPCORE_OK;
    }
    smtpcore_server_event tmp;
    sc_srv_stage_begin(s, &tmp);
    s->direct_on = 1;
    s->direct_used = 0;
    s->step_made = 0;
    if (s->phase == SC_PH_GREETING) {
        if (!s->connect_delivered) {
            s->connect_delivered = 1;
            sc_srv_await(s, sc_srv_push(s, SMTPCORE_SEV_CONNECT));
        }
    } else {
        /* Each pass consumes input or produces an event; the bound only guards against
         * an engine bug turning into a hang. */
        for (size_t guard = 0; guard < 1000000; guard++) {
            if (s->phase == SC_PH_CLOSED) {
                s->in_done = sc_buf_len(&s->in);
                break;
            }
            if (s->phase == SC_PH_TLS_WAIT)
                break;
            if (s->early_talker && !s->early_reported && sc_srv_buffers_held(s)) {
                early_talker(s); /* makes an event */
                break;
            }
            /* Backpressure: a peer that pipelines without reading its replies stalls
             * here instead of growing the output. (So does a released session.) */
            if (sc_buf_room(&s->out) < s->reserve) {
                if (sc_srv_buffers_held(s) || !released_resume(s))
                    break;
                continue;
            }
            int progress;
            switch (s->phase) {
            case SC_PH_DATA: progress = sc_srv_data_step(s); break;
            case SC_PH_BDAT: progress = sc_srv_bdat_step(s); break;
            case SC_PH_PROXY: progress = sc_srv_proxy_step(s); break;
            default: progress = cmd_step(s); break;
            }
            if (!progress) {
                if (s->eof)
                    finish_eof(s);
                break;
            }
            /* The input of a step that made an event stays until the next call (its
             * slices point into it); otherwise it goes before the next step. */
            if (s->step_made)
                break;
            drop_done(s);
        }
    }
    s->direct_on = 0;
    sc_srv_stage_end(s);
    if (s->direct_used) {
        if (ev->answer_required)
            s->awaiting = ev->type;
        return SMTPCORE_OK;
    }
    if (!sc_srv_pop(s, ev)) {
        sc_srv_zero_event(ev);
        if (released_wants_buffers(s))
            return SMTPCORE_ERR_NOMEM; /* released_resume() could not take them back */
    }
    return SMTPCORE_OK;
}

int smtpcore_server_next_event(smtpcore_server *s, const smtpcore_server_event **out)
{
    return next_event_body(s, out, 0);
}

int smtpcore_server_accept_next(smtpcore_server *s, const smtpcore_server_event **out)
{
    /* A bad call answers nothing: the body checks the arguments first. */
    return next_event_body(s, out, 1);
}

static void greeting(smtpcore_server *s)
{
    char buf[SC_SRV_MAX_HOSTNAME + sizeof(" ") - 1 + SC_SRV_MAX_GREETING];
    sc_wr w = sc_wr_init(buf, sizeof buf);
    sc_wr_puts(&w, s->cfg.hostname);
    if (s->cfg.greeting_text[0]) {
        sc_wr_put(&w, " ", 1);
        sc_wr_puts(&w, s->cfg.greeting_text);
    }
    SC_ASSERT(!w.full); /* the configuration check bounds both */
    (void)sc_srv_reply_raw(s, 220, buf, w.len);
}

/* Applies the state change of an answer whose reply is already written. Returns
 * SMTPCORE_OK, so that accept() can end in a call to it. */
static int after_answer(smtpcore_server *s, smtpcore_server_event_type t, int code)
{
    int ok = code < 400;
    switch (t) {
    case SMTPCORE_SEV_CONNECT:
        s->phase = SC_PH_CMD;
        if (code == 554)
            s->refused = 1;
        else if (code == 421)
            sc_srv_close(s, SMTPCORE_V_NONE);
        break;
    case SMTPCORE_SEV_HELO:
        s->group_end = 1;
        if (ok) {
            s->helo_done = 1;
            s->esmtp = s->pend_esmtp;
        }
        break;
    case SMTPCORE_SEV_MAIL:
        if (ok) {
            s->mail_open = 1;
            s->body_type = s->pend_body;
            s->txn_utf8 = s->pend_utf8;
        }
        break;
    case SMTPCORE_SEV_RCPT:
        if (ok)
            s->rcpt_count++;
        break;
    case SMTPCORE_SEV_DATA:
        s->group_end = 1;
        if (ok) {
            /* Content that came before the 354 is read as content: the pipelining check
             * is about commands, and the next one comes after the end of data. */
            s->improper_next = 0;
            s->phase = SC_PH_DATA;
            s->data_refuse = 0;
            sc_unstuffer_init(&s->unstuffer, s->unstuffer.max_line);
        } else {
            sc_srv_reset_txn(s);
        }
        break;
    case SMTPCORE_SEV_MESSAGE_END:
        s->group_end = 1;
        sc_srv_reset_txn(s);
        break;
    case SMTPCORE_SEV_AUTH:
        s->group_end = 1;
        if (ok)
            s->authenticated = 1;
        else
            sc_srv_auth_answered(s, code);
        break;
    case SMTPCORE_SEV_XCLIENT:
        s->group_end = 1;
        if (ok)
            sc_srv_xclient_restart(s);
        else if (code == 421)
            sc_srv_close(s, SMTPCORE_V_NONE);
        break;
    default: s->group_end = 1; break;
    }
    return SMTPCORE_OK;
}

static int answer_inner(smtpcore_server *s, int code, const char *enhanced, const char *text,
                        int use_default)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    smtpcore_server_event_type t = s->awaiting;
    if (t == SMTPCORE_SEV_NONE)
        return SMTPCORE_ERR_NO_ANSWER_PENDING;
    if (t == SMTPCORE_SEV_MESSAGE_END && s->cfg.lmtp)
        return sc_srv_lmtp_answer_all(s, code, enhanced, text, use_default);
    /* XCLIENT accepted without a text: the usual greeting, as after a new connection. */
    if (t == SMTPCORE_SEV_XCLIENT && code == 220 && !text)
        use_default = 1;
    if (use_default) {
        const sc_srv_default *d = sc_srv_default_for(t);
        if (d->len)
            sc_srv_say_default(s, d);
        else if (t == SMTPCORE_SEV_HELO)
            sc_srv_ehlo_reply(s);
        else
            greeting(s); /* CONNECT, XCLIENT */
        s->awaiting = SMTPCORE_SEV_NONE;
        return after_answer(s, t, d->code);
    }
    char *dst = sc_buf_reserve(&s->out, sc_buf_room(&s->out));
    /* A refused AUTH may end the session over a limit: leave room for its 421. */
    size_t keep = (t == SMTPCORE_SEV_AUTH && code >= 400) ? sc_srv_auth_fail_room(s) : 0;
    size_t cap = s->out.cap - s->out.end;
    size_t n = 0;
    int rc = dst && cap > keep ? sc_srv_format_answer(s, t, code, enhanced, text, 0, dst,
                                                      cap - keep, &n)
                               : SMTPCORE_ERR_BUFFER_FULL;
    if (rc == SMTPCORE_ERR_BUFFER_FULL)
        return SMTPCORE_ERR_TOO_LONG;
    if (rc != SMTPCORE_OK)
        return rc;
    sc_buf_commit(&s->out, n);
    s->awaiting = SMTPCORE_SEV_NONE;
    return after_answer(s, t, code);
}

/* Not inlined: accept()'s short path must not take on its staging frame (gcc inlined it
 * there once the event was small, and the short path saved six registers again). */
SC_SRV_NOINLINE static int answer(smtpcore_server *s, int code, const char *enhanced,
                                  const char *text, int use_default)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* A session released before its greeting needs its output buffer (and its queue)
     * back for the reply. */
    if (s->awaiting != SMTPCORE_SEV_NONE && !sc_srv_buffers_held(s) &&
        sc_srv_buffers_acquire(s) != SMTPCORE_OK)
        return SMTPCORE_ERR_NOMEM;
    smtpcore_server_event tmp;
    sc_srv_stage_begin(s, &tmp);
    int rc = answer_inner(s, code, enhanced, text, use_default);
    sc_srv_stage_end(s);
    return rc;
}

/* accept(), also inlined in accept_next(). */
static inline int accept_default(smtpcore_server *s)
{
    /* A preformatted default (every answered event but CONNECT, HELO and XCLIENT, and
     * LMTP's MESSAGE_END) is a copy and a state change that makes no event, so it needs
     * none of answer()'s staging: the short path of pipelined MAIL/RCPT. It takes only
     * the whole-line copy (sc_srv_say_default_fast()); the rest goes to answer(), so
     * that this path saves no registers and ends in a tail call. */
    if (s && s->awaiting != SMTPCORE_SEV_NONE &&
        !(s->awaiting == SMTPCORE_SEV_MESSAGE_END && s->cfg.lmtp)) {
        smtpcore_server_event_type t = s->awaiting;
        const sc_srv_default *d = sc_srv_default_for(t);
        if (d->len && sc_srv_say_default_fast(s, d)) {
            s->awaiting = SMTPCORE_SEV_NONE;
            return after_answer(s, t, d->code);
        }
    }
    return answer(s, 0, NULL, NULL, 1);
}

int smtpcore_server_accept(smtpcore_server *s)
{
    return accept_default(s);
}

int smtpcore_server_reply(smtpcore_server *s, int code, const char *enhanced, const char *text)
{
    return answer(s, code, enhanced, text, 0);
}

int smtpcore_server_reject(smtpcore_server *s, int code, const char *enhanced, const char *text)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (s->awaiting == SMTPCORE_SEV_NONE)
        return SMTPCORE_ERR_NO_ANSWER_PENDING;
    if (code < 400 || code > 599)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    return answer(s, code, enhanced, text, 0);
}

/* ---- output and hints ---- */

size_t smtpcore_server_output(smtpcore_server *s, const char **data)
{
    if (!s || !data) {
        if (data)
            *data = NULL;
        return 0;
    }
    if (s->lmtp_flushing)
        (void)sc_srv_lmtp_flush(s);
    size_t n = sc_buf_len(&s->out);
    *data = n ? sc_buf_ptr(&s->out) : NULL;
    if (n)
        s->output_seen = 1;
    return n;
}

int smtpcore_server_consume(smtpcore_server *s, size_t n)
{
    if (!s || n > sc_buf_len(&s->out))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    sc_buf_consume(&s->out, n);
    /* LMTP: stored recipient replies move out as room frees, so a host that only
     * writes output never waits for a next_event() call to see them. */
    if (s->lmtp_flushing)
        (void)sc_srv_lmtp_flush(s);
    if (sc_buf_len(&s->out) == 0)
        s->group_end = 0;
    return SMTPCORE_OK;
}

size_t smtpcore_server_copy_output(smtpcore_server *s, char *buf, size_t cap)
{
    if (!s || (!buf && cap))
        return 0;
    if (s->lmtp_flushing)
        (void)sc_srv_lmtp_flush(s);
    size_t n = sc_buf_len(&s->out);
    if (n > cap)
        n = cap;
    if (n) {
        s->output_seen = 1;
        memcpy(buf, sc_buf_ptr(&s->out), n);
        (void)smtpcore_server_consume(s, n);
    }
    return n;
}

int smtpcore_server_want_flush(const smtpcore_server *s)
{
    if (!s || sc_buf_len(&s->out) == 0)
        return 0;
    if (s->awaiting != SMTPCORE_SEV_NONE || s->group_end || s->want_close ||
        s->lmtp_flushing || sc_buf_room(&s->out) < s->reserve)
        return 1;
    const char *p;
    size_t n = sc_srv_unprocessed(s, &p);
    switch (s->phase) {
    case SC_PH_CMD:
    case SC_PH_AUTH: return n == 0 || memchr(p, '\n', n) == NULL;
    case SC_PH_DATA:
    case SC_PH_BDAT: return n < 8;
    default: return 1;
    }
}

int smtpcore_server_want_close(const smtpcore_server *s)
{
    return s ? s->want_close : 0;
}

int smtpcore_server_tls_started(smtpcore_server *s)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (s->phase != SC_PH_TLS_WAIT)
        return SMTPCORE_ERR_INVALID_STATE;
    /* The note on discarded plaintext is queued: a released session needs its queue. */
    if (s->tls_late_discarded && sc_srv_buffers_acquire(s) != SMTPCORE_OK)
        return SMTPCORE_ERR_NOMEM;
    smtpcore_server_event tmp;
    sc_srv_stage_begin(s, &tmp);
    /* RFC 3207 4.2: forget everything learnt in plaintext. */
    s->tls_active = 1;
    s->helo_done = 0;
    s->esmtp = 0;
    s->authenticated = 0;
    s->improper_next = 0;
    sc_srv_reset_txn(s);
    s->in.start = s->in.end = 0;
    s->in_done = 0;
    s->auth_keep = 0;
    sc_line_reset(&s->framer);
    s->phase = SC_PH_CMD;
    if (s->tls_late_discarded) {
        smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
        ev->violation = SMTPCORE_V_STARTTLS_INJECTION;
        ev->discarded = s->tls_late_discarded;
        ev->message = sc_cstr("plaintext received after STARTTLS was discarded");
        s->tls_late_discarded = 0;
        if (s->cfg.injection_policy == SMTPCORE_INJECTION_REJECT)
            sc_srv_close(s, SMTPCORE_V_STARTTLS_INJECTION);
    }
    sc_srv_stage_end(s);
    return SMTPCORE_OK;
}

uint32_t smtpcore_server_auth_failures(const smtpcore_server *s)
{
    return s ? s->auth_failures : 0;
}

size_t smtpcore_server_memory(const smtpcore_server *s)
{
    if (!s)
        return 0;
    size_t bufs = sc_srv_buffers_held(s) ? SC_SRV_EVQ_BYTES + s->in_size + s->out_size : 0;
    return sizeof(*s) + s->tail_size + bufs;
}

int smtpcore_server_release_idle(smtpcore_server *s, size_t *freed)
{
    if (freed)
        *freed = 0;
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* Idle: nothing refers to the buffers. The host has the last event's NONE (an
     * event's slices point into the input until the next next_event()), no answer is
     * awaited and none queued, every byte received was processed (a LOGIN user name
     * kept for the password line counts as unprocessed), no output waits, and no LMTP
     * reply is stored for later. The stream states (framer, unstuffer, counters) are in
     * the struct and stay. */
    if (s->current.type != SMTPCORE_SEV_NONE || s->awaiting != SMTPCORE_SEV_NONE ||
        s->evq_len != 0 || s->lmtp_flushing || s->auth_keep != 0 ||
        sc_buf_len(&s->in) != s->in_done || sc_buf_len(&s->out) != 0)
        return SMTPCORE_ERR_INVALID_STATE;
    size_t n = sc_srv_buffers_release(s);
    if (freed)
        *freed = n;
    return SMTPCORE_OK;
}

