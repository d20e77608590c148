/* SPDX-License-Identifier: MIT */
/* Client session, top layer: the public lifecycle, output and input calls and the
 * smtpcore_client_next_event() loop, which frames replies and hands each to client_proto.c.
 * Below it: client_proto.c (what a reply means), client_tx.c, client_auth.c,
 * client_lmtp.c and client_xclient.c, then the session core (client_core.c) and the
 * command queue (client_queue.c). Calls only go down (scripts/check_layers.sh). */
#include <string.h>

#include "abi.h"
#include "alloc.h"
#include "base64.h"
#include "client_internal.h"
#include "command.h"
#include "proxy.h"
#include "syntax.h"

/* Defaults (smtpcore_client_config_init(), and 0 in a field) and the bounds
 * smtpcore_client_new() holds the sizes to: a value out of bounds is refused, never
 * silently raised (client.h documents the numbers). */
#define SC_CLIENT_DEF_REPLY_LINE 1000u
#define SC_CLIENT_MIN_REPLY_LINE 8u /* "250 x" and CRLF */
#define SC_CLIENT_DEF_INPUT 8192u   /* at least max_reply_line: a reply line must fit */
#define SC_CLIENT_DEF_OUTPUT 8192u
#define SC_CLIENT_MIN_OUTPUT 1024u /* a command line, a PROXY header, a BDAT chunk header */
#define SC_CLIENT_DEF_ENVELOPE 65536u
#define SC_CLIENT_MIN_ENVELOPE 1024u /* a command line with its queue header */
#define SC_CLIENT_DEF_RCPT 1000u
#define SC_CLIENT_MAX_RCPT 1000000u
/* User name and password together; their longest AUTH line (XOAUTH2 as an initial
 * response: SC_AUTH_FRAMING bytes of framing around them, base64, then the command word
 * and CRLF in as many again) must also fit the output buffer. */
#define SC_CLIENT_MAX_CREDENTIALS 16384u
#define SC_AUTH_FRAMING 32u

void smtpcore_client_config_init(smtpcore_client_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->struct_size = sizeof *cfg;
    cfg->tls_policy = SMTPCORE_TLS_OPPORTUNISTIC;
    cfg->max_reply_line = SC_CLIENT_DEF_REPLY_LINE;
    cfg->input_buffer_size = SC_CLIENT_DEF_INPUT;
    cfg->output_buffer_size = SC_CLIENT_DEF_OUTPUT;
    cfg->max_recipients = SC_CLIENT_DEF_RCPT;
    cfg->envelope_buffer_size = SC_CLIENT_DEF_ENVELOPE;
}

static size_t opt_strlen(const char *s) { return s ? strlen(s) : 0; }

/* A string from the host that will end up on the wire: no CR, LF or NUL. */
static int safe_str(const char *s)
{
    return !s || sc_command_check_arg(s, strlen(s)) == 0;
}

static char *copy_str(char **dst, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *p = *dst;
    memcpy(p, s, n + 1);
    *dst += n + 1;
    return p;
}

int smtpcore_client_new(smtpcore_client **out, const smtpcore_client_config *cfg)
{
    if (!out)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    *out = NULL;
    if (!cfg)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* The ABI rule (abi.h): an older caller's smaller struct gets defaults for the
     * fields it lacks. */
    smtpcore_client_config full;
    smtpcore_client_config_init(&full);
    if (sc_abi_read(&full, sizeof full, cfg) != SMTPCORE_OK)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    cfg = &full;
    if (!cfg->helo_name)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (cfg->tls_policy != SMTPCORE_TLS_NEVER && cfg->tls_policy != SMTPCORE_TLS_OPPORTUNISTIC &&
        cfg->tls_policy != SMTPCORE_TLS_REQUIRED)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (cfg->proxy_protocol != SMTPCORE_PROXY_OFF && cfg->proxy_protocol != SMTPCORE_PROXY_V1 &&
        cfg->proxy_protocol != SMTPCORE_PROXY_V2)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    /* The PROXY header is formatted now (it is the session's first output), which also
     * checks the addresses before anything is allocated. */
    char proxy_hdr[SC_PROXY_V1_MAX + 1];
    _Static_assert(sizeof proxy_hdr <= SC_CLIENT_MIN_OUTPUT, "the PROXY header fits any output");
    int proxy_len = 0;
    if (cfg->proxy_protocol != SMTPCORE_PROXY_OFF) {
        proxy_len = sc_proxy_write(proxy_hdr, sizeof proxy_hdr, cfg->proxy_protocol,
                                   cfg->proxy_src_addr, cfg->proxy_dst_addr,
                                   cfg->proxy_src_port, cfg->proxy_dst_port);
        if (proxy_len < 0)
            return proxy_len;
    }
    if (!safe_str(cfg->helo_name) || !safe_str(cfg->auth_user) ||
        !safe_str(cfg->auth_password) || !safe_str(cfg->auth_mechanism))
        return SMTPCORE_ERR_INJECTION;
    size_t hl = strlen(cfg->helo_name);
    int helo_ok = hl > 0 && (sc_domain_valid(cfg->helo_name, hl, 0) ||
                             sc_address_literal_class(cfg->helo_name, hl) != SMTPCORE_HELO_INVALID);
    if (!helo_ok || hl > 255)
        return SMTPCORE_ERR_SYNTAX;
    if (cfg->auth_user && !cfg->auth_password)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (cfg->auth_mechanism) {
        /* Any case here; the copy is upper-cased, as the name is sent (RFC 4422). */
        size_t ml = strlen(cfg->auth_mechanism);
        if (ml == 0 || ml > SC_SASL_MECH_MAX)
            return SMTPCORE_ERR_SYNTAX;
        for (size_t i = 0; i < ml; i++) {
            unsigned char ch = (unsigned char)cfg->auth_mechanism[i];
            if (!sc_sasl_mech_char(ch >= 'a' && ch <= 'z' ? (unsigned char)(ch - 32) : ch))
                return SMTPCORE_ERR_SYNTAX;
        }
    }

    size_t max_line = cfg->max_reply_line ? cfg->max_reply_line : SC_CLIENT_DEF_REPLY_LINE;
    size_t in_cap = cfg->input_buffer_size ? cfg->input_buffer_size : SC_CLIENT_DEF_INPUT;
    size_t out_cap = cfg->output_buffer_size ? cfg->output_buffer_size : SC_CLIENT_DEF_OUTPUT;
    size_t q_cap = cfg->envelope_buffer_size ? cfg->envelope_buffer_size
                                             : SC_CLIENT_DEF_ENVELOPE;
    size_t max_rcpt = cfg->max_recipients ? cfg->max_recipients : SC_CLIENT_DEF_RCPT;
    if (max_line < SC_CLIENT_MIN_REPLY_LINE || in_cap < max_line ||
        out_cap < SC_CLIENT_MIN_OUTPUT || q_cap < SC_CLIENT_MIN_ENVELOPE ||
        max_rcpt > SC_CLIENT_MAX_RCPT)
        return SMTPCORE_ERR_INVALID_ARGUMENT;

    size_t ul = opt_strlen(cfg->auth_user), pl = opt_strlen(cfg->auth_password);
    if (ul + pl > SC_CLIENT_MAX_CREDENTIALS ||
        sc_base64_encoded_len(ul + pl + SC_AUTH_FRAMING) + SC_AUTH_FRAMING > out_cap)
        return SMTPCORE_ERR_TOO_LONG;

    /* The block (sc_client_block_acquire()): every buffer a transaction or a read needs,
     * one allocation whose size must not wrap. */
    size_t scratch_cap = in_cap > ul + pl + 64 ? in_cap : ul + pl + 64;
    size_t ring_cap = max_rcpt + 16;
    size_t acc_bytes = cfg->lmtp ? (max_rcpt + 7) / 8 : 0;
    const size_t parts[] = {SC_CEV_QUEUE * sizeof(sc_cev), in_cap, out_cap, q_cap, scratch_cap,
                            ring_cap, acc_bytes};
    size_t block = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i] > SIZE_MAX - block)
            return SMTPCORE_ERR_INVALID_ARGUMENT;
        block += parts[i];
    }

    smtpcore_allocator a;
    sc_alloc_resolve(&a, cfg->allocator);
    smtpcore_client *c = sc_malloc(&a, sizeof *c);
    if (!c)
        return SMTPCORE_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->alloc = a;
    c->strbuf_len = hl + 1 + (cfg->auth_user ? ul + 1 : 0) + (cfg->auth_password ? pl + 1 : 0) +
                    (cfg->auth_mechanism ? strlen(cfg->auth_mechanism) + 1 : 0);
    c->strbuf = sc_malloc(&a, c->strbuf_len);
    c->in_size = in_cap;
    c->out_size = out_cap;
    c->queue_size = q_cap;
    c->scratch_cap = scratch_cap;
    c->ring_cap = ring_cap;
    c->lmtp = cfg->lmtp ? 1 : 0;
    c->lmtp_acc_bytes = acc_bytes;
    c->block_size = block;
    if (!c->strbuf || sc_client_block_acquire(c) != SMTPCORE_OK) {
        smtpcore_client_del(c);
        return SMTPCORE_ERR_NOMEM;
    }
    char *sp = c->strbuf;
    c->helo_name = copy_str(&sp, cfg->helo_name);
    c->auth_user = copy_str(&sp, cfg->auth_user);
    c->auth_password = copy_str(&sp, cfg->auth_password);
    char *mech = copy_str(&sp, cfg->auth_mechanism);
    for (char *m = mech; m && *m; m++)
        if (*m >= 'a' && *m <= 'z')
            *m = (char)(*m - 32);
    c->auth_mechanism = mech;
    c->user_len = ul;
    c->pass_len = pl;
    c->quirks = cfg->quirks;
    c->tls_policy = cfg->tls_policy;
    c->tls_active = cfg->tls_active ? 1 : 0;
    c->max_recipients = max_rcpt;
    sc_line_init(&c->framer, max_line);
    sc_reply_parser_init(&c->parser);
    c->state = SC_CS_GREETING;
    c->ring[0] = SC_CK_GREETING;
    c->ring_len = 1;
    c->last_sent_ends_group = 1;
    if (proxy_len > 0)
        (void)sc_buf_append_all(&c->out, proxy_hdr, (size_t)proxy_len); /* fits: asserted */
    *out = c;
    return SMTPCORE_OK;
}

void smtpcore_client_del(smtpcore_client *c)
{
    if (!c)
        return;
    smtpcore_allocator a = c->alloc;
    (void)sc_client_block_release(c);
    sc_free(&a, c->strbuf);
    sc_free(&a, c);
}

size_t smtpcore_client_memory(const smtpcore_client *c)
{
    if (!c)
        return 0;
    return sizeof *c + c->strbuf_len + (c->evq ? c->block_size : 0);
}

int smtpcore_client_release_idle(smtpcore_client *c, size_t *freed)
{
    if (freed)
        *freed = 0;
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (!c->evq)
        return SMTPCORE_OK;
    /* Idle: nothing refers to the block. The host has the last event's NONE (a reply's
     * slice points into the input, a kept reply or an AUTH challenge into scratch, until
     * the next next_event()); every byte received is processed (a partial reply is not);
     * nothing waits to be sent, queued or written; no command awaits its reply (the ring
     * is empty), so no transaction is open or finishing: rcpt(), data(), body() and
     * body_end() need a transaction, which only mail() opens, after taking the block
     * back. TLS_WAIT and AUTH_HOST wait for the host, which answers with a call that
     * needs the block at once. */
    if (c->current.type != SMTPCORE_CEV_NONE || c->evq_len != 0 || c->hold != 0 ||
        sc_buf_len(&c->in) != 0 || sc_buf_len(&c->out) != 0 || sc_buf_len(&c->queue) != 0 ||
        c->ring_len != 0 || c->tx.state != SC_TX_NONE || c->fin_pending || c->lmtp_left ||
        c->tx_aborted || c->state == SC_CS_TLS_WAIT || c->state == SC_CS_AUTH_HOST)
        return SMTPCORE_ERR_INVALID_STATE;
    size_t n = sc_client_block_release(c);
    if (freed)
        *freed = n;
    return SMTPCORE_OK;
}

const smtpcore_caps *smtpcore_client_caps(const smtpcore_client *c)
{
    static const smtpcore_caps none = {0, 0, 0, 0};
    return c ? &c->caps : &none;
}

int smtpcore_client_want_close(const smtpcore_client *c)
{
    return c ? c->state == SC_CS_CLOSED : 1;
}

/* ---- output ---- */

size_t smtpcore_client_output(smtpcore_client *c, const char **data)
{
    if (!c) {
        if (data)
            *data = NULL;
        return 0;
    }
    if (data)
        *data = sc_buf_ptr(&c->out);
    return sc_buf_len(&c->out);
}

int smtpcore_client_consume(smtpcore_client *c, size_t n)
{
    if (!c || n > sc_buf_len(&c->out))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    sc_buf_consume(&c->out, n); /* released: n is 0 and the pump finds nothing queued */
    sc_client_pump(c);
    return SMTPCORE_OK;
}

size_t smtpcore_client_copy_output(smtpcore_client *c, char *buf, size_t cap)
{
    if (!c || !buf)
        return 0;
    size_t n = sc_buf_len(&c->out);
    if (n > cap)
        n = cap;
    if (n)
        memcpy(buf, sc_buf_ptr(&c->out), n);
    smtpcore_client_consume(c, n);
    return n;
}

/* ---- input ---- */

/* receive() on a released session (smtpcore_client_release_idle()): bytes need the block
 * back, or nothing is taken. Out of line, so that the common path keeps no registers
 * across its one call. */
#if defined(__GNUC__)
__attribute__((noinline, cold))
#endif
static int receive_released(smtpcore_client *c, const char *data, size_t len, size_t *consumed)
{
    if (len == 0)
        return SMTPCORE_OK;
    if (sc_client_block_acquire(c) != SMTPCORE_OK)
        return SMTPCORE_ERR_NOMEM;
    *consumed = sc_buf_append(&c->in, data, len);
    return SMTPCORE_OK;
}

int smtpcore_client_receive(smtpcore_client *c, const char *data, size_t len, size_t *consumed)
{
    if (consumed)
        *consumed = 0;
    if (!c || !consumed || (!data && len))
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (c->state == SC_CS_CLOSED)
        return SMTPCORE_ERR_CLOSED;
    if (c->state == SC_CS_TLS_WAIT) {
        /* Plaintext between the 220 and the handshake can only be an injection. */
        c->discarded += len;
        *consumed = len;
        return SMTPCORE_OK;
    }
    if (!c->evq)
        return receive_released(c, data, len, consumed);
    *consumed = sc_buf_append(&c->in, data, len);
    return SMTPCORE_OK;
}

int smtpcore_client_receive_eof(smtpcore_client *c)
{
    if (!c)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    c->eof = 1;
    return SMTPCORE_OK;
}

/* Frames and parses the next whole reply. Returns 1 with *r set, 0 when more input is
 * needed, -1 after a protocol error was raised. */
static int parse_reply(smtpcore_client *c, smtpcore_reply *r)
{
    for (;;) {
        const char *base = sc_buf_ptr(&c->in);
        size_t avail = sc_buf_len(&c->in) - c->rpos;
        size_t line_len = 0, used = 0;
        uint32_t flags = 0;
        sc_line_status st = sc_line_next(&c->framer, base + c->rpos, avail, &line_len, &used,
                                         &flags);
        if (st == SC_LINE_OVERLONG || (st == SC_LINE_NEED_MORE && used > 0)) {
            sc_client_protocol_error(c, NULL, SMTPCORE_V_LINE_TOO_LONG,
                                     "reply line over max_reply_line");
            return -1;
        }
        if (st == SC_LINE_NEED_MORE) {
            /* A released session's input is empty and has no room: nothing to parse. */
            if (sc_buf_len(&c->in) == c->in.cap && c->evq) {
                sc_client_protocol_error(c, NULL, SMTPCORE_V_REPLY_TOO_LONG,
                                         "reply larger than the input buffer");
                return -1;
            }
            return 0;
        }
        sc_reply_status rs = sc_reply_parser_feed(&c->parser, base + c->rpos, line_len, used,
                                                  flags);
        if (rs == SC_REPLY_INVALID) {
            smtpcore_reply bad;
            memset(&bad, 0, sizeof bad);
            bad.raw.ptr = base;
            bad.raw.len = c->rpos + used;
            bad.nlines = c->parser.nlines + 1;
            bad.flags = c->parser.flags;
            c->hold = bad.raw.len;
            c->rpos = 0;
            sc_client_protocol_error(c, &bad, SMTPCORE_V_MALFORMED_REPLY,
                                     "reply line without a 3-digit code");
            return -1;
        }
        c->rpos += used;
        if (rs == SC_REPLY_CONTINUE)
            continue;
        memset(r, 0, sizeof *r);
        r->code = c->parser.code;
        r->enhanced = c->parser.enhanced;
        r->raw.ptr = base;
        r->raw.len = c->rpos;
        r->nlines = c->parser.nlines;
        r->flags = c->parser.flags;
        c->hold = c->rpos;
        c->rpos = 0;
        sc_reply_parser_init(&c->parser);
        return 1;
    }
}

static void lost(smtpcore_client *c)
{
    (void)sc_client_close(c, SMTPCORE_FAIL_TRANSIENT, NULL, SMTPCORE_V_CONNECTION_LOST, 0);
}

/* What a NULL session hands out: never a NULL event pointer. */
static const smtpcore_client_event no_event;

int smtpcore_client_next_event(smtpcore_client *c, const smtpcore_client_event **out)
{
    if (!c || !out) {
        if (out)
            *out = &no_event;
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    }
    smtpcore_client_event *ev = &c->current;
    *out = ev;
    for (;;) {
        if (c->evq_len > 0) {
            sc_cev *e = &c->evq[c->evq_head];
            c->evq_head = (c->evq_head + 1) % SC_CEV_QUEUE;
            c->evq_len--;
            *ev = e->ev;
            if (e->with_reply)
                ev->reply.raw.ptr = sc_buf_ptr(&c->in);
            if (ev->type == SMTPCORE_CEV_READY || ev->type == SMTPCORE_CEV_MESSAGE_RESULT)
                ev->caps = c->caps;
            return SMTPCORE_OK;
        }
        if (c->hold) {
            sc_buf_consume(&c->in, c->hold);
            c->hold = 0;
        }
        memset(ev, 0, sizeof *ev);
        if (c->state == SC_CS_TLS_WAIT && c->eof) {
            lost(c);
            continue;
        }
        if (c->state == SC_CS_CLOSED || c->state == SC_CS_TLS_WAIT)
            return SMTPCORE_OK;
        smtpcore_reply r;
        int got = parse_reply(c, &r);
        if (got < 0)
            continue;
        if (got == 0) {
            if (c->eof) {
                /* Released (smtpcore_client_release_idle()), the events this makes need
                 * the block back; NOMEM leaves the session as it was and the event NONE. */
                if (!c->evq && sc_client_block_acquire(c) != SMTPCORE_OK)
                    return SMTPCORE_ERR_NOMEM;
                lost(c);
                continue;
            }
            sc_client_pump(c);
            if (c->evq_len > 0)
                continue;
            return SMTPCORE_OK;
        }
        sc_client_on_reply(c, &r);
        sc_client_pump(c);
    }
}
