/* SPDX-License-Identifier: MIT */
/* Fuzzes a whole client session through the public API: the fuzzer plays the server
 * (its bytes, split into reads) and the host (API calls chosen at each event).
 *
 * Input layout (fuzz_common.h): 8 configuration bytes at the front (all zero = defaults,
 * see config()), then the server's bytes; decisions come from the back: read sizes, how
 * much output is written, and what the host does at READY, SEND_BODY and challenges.
 *
 * Invariants:
 * - the client's output is only well-formed SMTP: every command line parses with the
 *   server's own parser using only extensions the server advertised, is at most 512
 *   octets and ends in CRLF; AUTH continuation lines are base64 or "*"; DATA bodies hold
 *   no bare CR/LF and no CRLF.CRLF before the real end, and unstuff to exactly the body
 *   the host gave (CRLF-normalised); BDAT chunks carry exactly the body, LAST once;
 * - smtpcore_client_memory() never changes and nothing is allocated after new(), except
 *   for the buffers: release mode (config) gives them back
 *   (smtpcore_client_release_idle()) whenever the host has drained the events and the
 *   output; memory() then drops by exactly them, they come back with one allocation per
 *   release and nothing else allocated, a release never succeeds with output pending or
 *   a body or a transaction open, and every other invariant holds as without;
 * - event slices lie inside live memory; reply text is bytes the server sent;
 * - result accounting: one MAIL_RESULT per transaction, RCPT_RESULT indexes unique and
 *   below the recipients submitted, MESSAGE_RESULT totals consistent; when the host
 *   starts the next transaction right behind a "." (RFC 2920 3.1), the earlier one's
 *   MESSAGE_RESULT comes first with its own totals and no READY comes before it;
 * - LMTP (config): DELIVERY_RESULTs only in LMTP mode, each for a distinct recipient of
 *   the transaction they end that RCPT accepted; MESSAGE_RESULT counts as delivered
 *   exactly the 2xx ones;
 * - API calls return only their documented codes; CR/LF in addresses is refused;
 * - the session never gets stuck, and after EOF it always reports CLOSED. */
#include "fuzz_common.h"

#include <smtpcore/smtpcore.h>

#include "base64.h"
#include "command.h"
#include "data.h"
#include "proxy.h"

#define MAX_INPUT 16384
#define MAX_BODY 4096

typedef struct outp {
    /* command-line mode */
    char line[1100];
    size_t len;
    int cr;
    sc_verb last;      /* last command verb seen */
    int in_auth;       /* AUTH sent: base64 lines may follow */
    /* BDAT chunk data still to skip */
    uint64_t chunk_left;
    int chunk_last;
    /* DATA body mode */
    int body;
    char *bbuf;
    size_t blen, bcap;
    int lost;          /* a transaction was cut off: stop exact body checks */
} outp;

typedef struct host {
    smtpcore_client *c;
    fz_src src;
    const char *sent;
    size_t sent_len;
    const char *pend;
    size_t pend_len;
    size_t mem0;
    fz_alloc_stats alloc;
    size_t allocs0;
    outp o;
    int closed, saw_closed;
    /* transaction bookkeeping */
    int tx;             /* MAIL accepted by the API */
    int mail_result;
    size_t rcpts;       /* RCPT calls accepted by the API */
    uint64_t rcpt_seen; /* bitmap of RCPT_RESULT indexes (first 64) */
    uint64_t rcpt_ok;   /* ... of those that were 2xx */
    int lmtp;
    /* PROXY header the client must write first (config), and XCLIENT in flight */
    smtpcore_proxy_mode proxy;
    const char *proxy_src, *proxy_dst;
    char phdr[240];
    size_t phdr_len;
    int phdr_done;
    /* smtpcore_client_xclient() calls accepted, XCLIENT lines seen, results seen (output
     * is checked after the events that followed it, so these are counts, not flags) */
    size_t xclient_calls, xclient_lines, xclient_results;
    uint64_t deliv_seen;  /* LMTP: DELIVERY_RESULT indexes of the transaction ending */
    size_t deliv_ok, deliv_n;
    uint64_t fin_rcpt_ok;
    int body_mode;      /* SEND_BODY seen, body_end not yet done */
    int body_started;   /* SEND_BODY seen in this transaction */
    int body_done;      /* body_end returned OK */
    const char *body;
    size_t body_len, body_off;
    char fed[MAX_BODY]; /* body bytes the client took */
    size_t fed_len;
    uint64_t chunk_total; /* BDAT data bytes seen in output for this message */
    char *chunks;
    size_t chunks_len;
    int binary;
    /* A transaction overtaken by the next MAIL, waiting for the reply to its "." */
    int fin;
    size_t fin_rcpts;
    int data_mode; /* the body goes after DATA (not in BDAT chunks) */
    int body_first;   /* feed the whole body before pulling the next event ... */
    int body_stalled; /* ... unless the engine takes nothing (it waits for a reply) */
    int release_mode; /* give the buffers back whenever the host sees the session idle */
    size_t releases;  /* successful releases that freed the buffers */
    size_t bufs;      /* the bytes they freed */
} host;

static void check_mem(host *h)
{
    fz_check_release_memory(smtpcore_client_memory(h->c), h->mem0, &h->alloc, h->allocs0, h->releases,
                            h->bufs);
}

/* Release mode, called where the host has drained the events to NONE or the output to
 * nothing: the call succeeds only when the session is idle, which the host can partly
 * see (no output, no body to feed, no transaction waiting for its result). */
static void maybe_release(host *h)
{
    if (!h->release_mode)
        return;
    const char *o;
    size_t before = smtpcore_client_memory(h->c);
    int maybe_idle = smtpcore_client_output(h->c, &o) == 0 && !h->body_mode && !h->fin;
    size_t freed = 1;
    int rc = smtpcore_client_release_idle(h->c, &freed);
    FZ_CHECK(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_INVALID_STATE);
    FZ_CHECK(maybe_idle || rc == SMTPCORE_ERR_INVALID_STATE);
    fz_check_release_call(rc, freed, before, smtpcore_client_memory(h->c), h->mem0, &h->releases,
                          &h->bufs);
    if (rc == SMTPCORE_OK)
        check_mem(h);
}

/* The DATA body ended at bbuf[0, end): it must unstuff to what the host fed (the models
 * the stuffing target checks the transforms with, fuzz_common.h). */
static void check_data_body(host *h, size_t end)
{
    outp *o = &h->o;
    if (o->lost)
        return;
    char *content = malloc(end + 1);
    char *want = malloc(2 * h->fed_len + 3);
    FZ_CHECK(content != NULL && want != NULL);
    fz_unstuffed u = fz_unstuff_all(o->bbuf, end, 0, NULL, content);
    FZ_CHECK(u.end_at == end);
    FZ_CHECK((u.flags & (SC_DATA_BARE_LF | SC_DATA_BARE_CR)) == 0);
    size_t wl = fz_data_content(h->fed, h->fed_len, want);
    FZ_CHECK(u.len == wl && (wl == 0 || memcmp(content, want, wl) == 0));
    free(want);
    free(content);
}

/* The last BDAT chunk is out: the chunks carry exactly what the host fed. */
static void bdat_done(host *h)
{
    outp *o = &h->o;
    if (!o->lost) {
        char *want = malloc(2 * h->fed_len + 3);
        FZ_CHECK(want != NULL);
        size_t wl = h->binary ? h->fed_len : fz_normalise_crlf(h->fed, h->fed_len, want);
        const char *w = h->binary ? h->fed : want;
        FZ_CHECK(h->chunks_len == wl && (wl == 0 || memcmp(h->chunks, w, wl) == 0));
        free(want);
    }
    h->chunks_len = 0;
    o->chunk_last = 0;
}

static void check_command(host *h, const char *l, size_t n)
{
    outp *o = &h->o;
    FZ_CHECK(n + 2 <= 512); /* RFC 5321 4.5.3.1.4 */
    FZ_CHECK(memchr(l, '\r', n) == NULL && memchr(l, '\0', n) == NULL);
    if (o->in_auth) {
        char tmp[1100];
        if ((n == 1 && l[0] == '*') || n == 0 || sc_base64_decode(l, n, tmp, sizeof tmp) != (size_t)-1)
            return; /* a SASL response line */
    }
    if (n == 1 && l[0] == '.' && o->last == SC_VERB_DATA) {
        o->last = SC_VERB_UNKNOWN; /* empty body after a 354 with no recipient left */
        return;
    }
    const smtpcore_caps *caps = smtpcore_client_caps(h->c);
    uint32_t ext = caps->extensions; /* only what the server advertised */
    sc_command cmd;
    sc_reply_spec err;
    memset(&cmd, 0, sizeof cmd);
    memset(&err, 0, sizeof err);
    int r = sc_command_parse(l, n, ext, &cmd, &err);
    if (r != 0)
        fprintf(stderr, "client sent an invalid command (%d %s): %.*s\n", err.code, err.text,
                (int)n, l);
    FZ_CHECK(r == 0);
    /* LMTP sessions say LHLO and never HELO/EHLO; SMTP ones never LHLO. */
    if (h->lmtp)
        FZ_CHECK(cmd.verb != SC_VERB_HELO && cmd.verb != SC_VERB_EHLO);
    else
        FZ_CHECK(cmd.verb != SC_VERB_LHLO);
    if (cmd.verb == SC_VERB_XCLIENT)
        FZ_CHECK(h->xclient_lines++ < h->xclient_calls);
    o->last = cmd.verb;
    o->in_auth = cmd.verb == SC_VERB_AUTH;
    if (cmd.verb == SC_VERB_BDAT) {
        FZ_CHECK(caps->extensions & SMTPCORE_EXT_CHUNKING);
        o->chunk_left = cmd.chunk_size;
        o->chunk_last = cmd.last;
        FZ_CHECK(cmd.chunk_size <= MAX_INPUT * 3 + 64);
        if (cmd.chunk_size == 0 && cmd.last)
            bdat_done(h);
    }
}

/* Consumes client output bytes, validating as it goes. */
/* The PROXY header comes first, whole, and says what the config gave. Returns the bytes
 * of p it took. */
static size_t proxy_bytes(host *h, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && !h->phdr_done) {
        FZ_CHECK(h->phdr_len < sizeof h->phdr); /* a header is at most 232 octets */
        h->phdr[h->phdr_len++] = p[i++];
        smtpcore_proxy_header ph;
        sc_proxy_text txt;
        sc_proxy_error err;
        long r = sc_proxy_parse(h->phdr, h->phdr_len, h->proxy, sizeof h->phdr, 0, &ph, &txt,
                                &err);
        FZ_CHECK(r >= 0); /* the client never writes a header the server would refuse */
        if (r == 0)
            continue;
        FZ_CHECK((size_t)r == h->phdr_len);
        FZ_CHECK(ph.version == (h->proxy == SMTPCORE_PROXY_V1 ? 1 : 2));
        if (h->proxy_src) {
            FZ_CHECK(ph.command == SMTPCORE_PROXY_CMD_PROXY);
            FZ_CHECK(ph.src_addr.len == strlen(h->proxy_src) &&
                     memcmp(ph.src_addr.ptr, h->proxy_src, ph.src_addr.len) == 0);
            FZ_CHECK(ph.dst_addr.len == strlen(h->proxy_dst) &&
                     memcmp(ph.dst_addr.ptr, h->proxy_dst, ph.dst_addr.len) == 0);
            FZ_CHECK(ph.src_port == 40000 && ph.dst_port == 25);
        } else {
            FZ_CHECK(ph.family == SMTPCORE_PROXY_AF_UNSPEC && ph.src_addr.len == 0);
        }
        h->phdr_done = 1;
    }
    return i;
}

static void out_bytes(host *h, const char *p, size_t n)
{
    outp *o = &h->o;
    if (h->proxy != SMTPCORE_PROXY_OFF && !h->phdr_done) {
        size_t k = proxy_bytes(h, p, n);
        p += k;
        n -= k;
    }
    for (size_t i = 0; i < n;) {
        if (o->chunk_left > 0) {
            size_t k = (size_t)(o->chunk_left < n - i ? o->chunk_left : n - i);
            if (h->chunks_len + k <= 3 * MAX_BODY + 64) {
                memcpy(h->chunks + h->chunks_len, p + i, k);
                h->chunks_len += k;
            } else {
                o->lost = 1;
            }
            h->chunk_total += k;
            o->chunk_left -= k;
            i += k;
            if (o->chunk_left == 0 && o->chunk_last)
                bdat_done(h);
            continue;
        }
        char b = p[i++];
        if (o->body) {
            /* Body bytes: no bare CR/LF, and the end sequence only at the real end. */
            if (o->blen == o->bcap) {
                o->lost = 1; /* too long to keep: only check framing from here */
                o->blen = 0;
            }
            o->bbuf[o->blen++] = b;
            if (b == '\n')
                FZ_CHECK(o->blen >= 2 && o->bbuf[o->blen - 2] == '\r');
            if (o->blen >= 2 && o->bbuf[o->blen - 2] == '\r')
                FZ_CHECK(b == '\n');
            int end = (o->blen == 3 && memcmp(o->bbuf, ".\r\n", 3) == 0 && !o->lost) ||
                      (o->blen >= 5 && memcmp(o->bbuf + o->blen - 5, "\r\n.\r\n", 5) == 0);
            if (end) {
                FZ_CHECK(h->body_done); /* never before the host ended the body */
                check_data_body(h, o->blen);
                o->body = 0;
                o->blen = 0;
                o->last = SC_VERB_UNKNOWN;
            }
            continue;
        }
        if (o->cr) {
            FZ_CHECK(b == '\n'); /* bare CR in a command */
            o->cr = 0;
            check_command(h, o->line, o->len);
            o->len = 0;
            continue;
        }
        FZ_CHECK(b != '\n'); /* bare LF in a command */
        if (b == '\r') {
            o->cr = 1;
            continue;
        }
        FZ_CHECK(o->len < 510);
        o->line[o->len++] = b;
    }
}

static void drain_output(host *h, int all)
{
    for (int guard = 0; guard < 100000; guard++) {
        const char *out = NULL;
        size_t n = smtpcore_client_output(h->c, &out);
        check_mem(h);
        if (n == 0) {
            maybe_release(h);
            return;
        }
        uint8_t c = all ? 0 : fz_ctl(&h->src);
        size_t k = c ? (c < n ? c : n) : n;
        if (fz_trace_on())
            fprintf(stderr, "output %.*s", (int)k, out);
        if (c & 1u) {
            /* The view is only valid until the next call: keep a copy to compare. */
            char tmp[256], view[256];
            size_t want = k < sizeof tmp ? k : sizeof tmp;
            memcpy(view, out, want);
            size_t got = smtpcore_client_copy_output(h->c, tmp, want);
            FZ_CHECK(got == want && memcmp(tmp, view, got) == 0);
            out_bytes(h, tmp, got);
        } else {
            out_bytes(h, out, k);
            FZ_CHECK(smtpcore_client_consume(h->c, k) == SMTPCORE_OK);
        }
        if (!all)
            return;
    }
    fz_fail(__FILE__, __LINE__, "output never drains");
}

static int api_ok(int rc)
{
    FZ_CHECK(smtpcore_strerror(rc) != NULL);
    return rc == SMTPCORE_OK || rc == SMTPCORE_ERR_INVALID_STATE || rc == SMTPCORE_ERR_CLOSED ||
           rc == SMTPCORE_ERR_INJECTION || rc == SMTPCORE_ERR_SYNTAX ||
           rc == SMTPCORE_ERR_UNSUPPORTED || rc == SMTPCORE_ERR_TOO_LONG ||
           rc == SMTPCORE_ERR_BUFFER_FULL || rc == SMTPCORE_ERR_8BIT_NOT_OFFERED;
}

static const char *const froms[] = {
    "a@example.org", "", "\xc3\xa9l\xc3\xa8ve@\xc3\xa9\x63ole.example", "\"quoted local\"@example.org",
    "a@[192.0.2.1]", "bad address", "a@example.org\r\nRCPT TO:<evil@example.com>", "a@b",
};
static const char *const tos[] = {
    "b@example.net", "c@example.net", "postmaster", "\xc3\xa9@example.net",
    "d@example.net>\r\nDATA", "@relay:e@example.net", "x@[IPv6:2001:db8::1]",
};
static const char *const bodies[] = {
    "Subject: hi\r\n\r\nhello\r\n", "", ".\r\n", "\r\n.\r\n", "a\n.\nb", "x\r.\rY", ".dot\n..two\n",
    "no newline at end", "\r\n.\r\nMAIL FROM:<evil@example.com>\r\n", "\0\0.\0\r\n", "\xff\xfe binary \x80",
};

/* Returns nonzero when the engine accepted the MAIL. */
static int start_transaction(host *h, uint8_t how)
{
    /* Output of the previous transaction is checked against that transaction's body
     * and mode, so write it all before this one changes them. */
    drain_output(h, 1);
    smtpcore_mail_params mp;
    smtpcore_mail_params_init(&mp);
    uint8_t k = fz_ctl(&h->src);
    if (how & 8u) {
        mp.has_size = 1;
        mp.size = (uint64_t)fz_ctl32(&h->src);
        mp.body = (smtpcore_body_type)(k & 3u);
        mp.smtputf8 = (k >> 2) & 1u;
        mp.ret = (smtpcore_dsn_ret)((k >> 3) % 3u);
        if (k & 32u) {
            mp.envid.ptr = "env+id=1";
            mp.envid.len = 8;
        }
        if (k & 64u) {
            mp.auth.ptr = "<>";
            mp.auth.len = 2;
        }
    }
    const char *from = froms[fz_ctl(&h->src) % (sizeof froms / sizeof froms[0])];
    int rc = smtpcore_client_mail(h->c, from, (how & 8u) ? &mp : NULL);
    check_mem(h);
    if (fz_trace_on())
        fprintf(stderr, "mail(%s) -> %d\n", from, rc);
    FZ_CHECK(api_ok(rc) && rc != SMTPCORE_ERR_BUFFER_FULL);
    if (strpbrk(from, "\r\n"))
        FZ_CHECK(rc != SMTPCORE_OK);
    if (rc != SMTPCORE_OK)
        return 0;
    h->tx = 1;
    h->body_started = 0;
    h->body_done = 0;
    h->mail_result = 0;
    h->rcpts = 0;
    h->rcpt_seen = 0;
    h->rcpt_ok = 0;
    h->binary = mp.body == SMTPCORE_BODY_BINARYMIME;
    size_t n = 1 + fz_ctl(&h->src) % 4u;
    for (size_t i = 0; i < n; i++) {
        smtpcore_rcpt_params rp;
        memset(&rp, 0, sizeof rp);
        uint8_t r = fz_ctl(&h->src);
        if (r & 1u)
            rp.notify = SMTPCORE_NOTIFY_SUCCESS | SMTPCORE_NOTIFY_FAILURE;
        if (r & 2u) {
            rp.orcpt.ptr = "rfc822;b@example.net";
            rp.orcpt.len = 20;
        }
        const char *to = tos[(r >> 2) % (sizeof tos / sizeof tos[0])];
        rc = smtpcore_client_rcpt(h->c, to, &rp);
        check_mem(h);
        FZ_CHECK(api_ok(rc));
        if (strpbrk(to, "\r\n"))
            FZ_CHECK(rc != SMTPCORE_OK);
        if (rc == SMTPCORE_OK)
            h->rcpts++;
    }
    if (!(how & 16u)) {
        rc = smtpcore_client_data(h->c);
        FZ_CHECK(api_ok(rc));
        if (h->rcpts == 0)
            FZ_CHECK(rc != SMTPCORE_OK);
    }
    return 1;
}

/* XCLIENT with 1-3 attributes picked by the fuzzer, some of them bad on purpose. */
static void send_xclient(host *h, uint8_t a)
{
    static const char *const names[] = {"ADDR", "NAME", "PORT",     "PROTO", "HELO",
                                        "LOGIN", "DESTADDR", "DESTPORT", "addr", "BAD NAME"};
    static const char *const values[] = {"192.0.2.9",       "[UNAVAILABLE]", "[TEMPUNAVAIL]",
                                         "mail.example.org", "2525",          "ESMTP",
                                         "x+y =z",           "IPV6:2001:db8::9",
                                         "bad\r\nRSET",      "\xc3\xa9t\xc3\xa9"};
    const char *nv[3], *vv[3];
    size_t n = 1 + (size_t)((a >> 4) % 3u);
    int injected = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = fz_ctl(&h->src);
        nv[i] = names[b % (sizeof names / sizeof names[0])];
        vv[i] = values[(b >> 4) % (sizeof values / sizeof values[0])];
        injected |= strpbrk(vv[i], "\r\n") != NULL;
    }
    int offered = (smtpcore_client_caps(h->c)->extensions & SMTPCORE_EXT_XCLIENT) != 0;
    int rc = smtpcore_client_xclient(h->c, nv, vv, n);
    check_mem(h);
    FZ_CHECK(api_ok(rc));
    if (!offered || injected)
        FZ_CHECK(rc != SMTPCORE_OK); /* refused at the API: nothing goes out */
    if (rc == SMTPCORE_OK)
        h->xclient_calls++;
}

static void on_ready(host *h)
{
    uint8_t a = fz_ctl(&h->src);
    int rc = SMTPCORE_OK;
    if ((a & 15u) == 15u) {
        send_xclient(h, a);
        return;
    }
    switch (a & 7u) {
    case 3: rc = smtpcore_client_noop(h->c); break;
    case 4: rc = smtpcore_client_rset(h->c); break;
    case 5: rc = smtpcore_client_quit(h->c); break;
    case 6: break; /* idle: let the server talk */
    default: start_transaction(h, a); return;
    }
    check_mem(h);
    FZ_CHECK(api_ok(rc));
}

static void on_event(host *h, const smtpcore_client_event *ev)
{
    FZ_CHECK(ev->type >= SMTPCORE_CEV_NONE && ev->type <= SMTPCORE_CEV_XCLIENT_RESULT);
    if (ev->reply.code) {
        FZ_CHECK(ev->reply.nlines >= 1 && ev->reply.raw.len >= 4);
        fz_touch(ev->reply.raw.ptr, ev->reply.raw.len);
        if (h->sent_len <= 4096)
            FZ_CHECK(fz_contains(h->sent, h->sent_len, ev->reply.raw.ptr, ev->reply.raw.len));
        for (size_t i = 0; i < ev->reply.nlines; i++) {
            smtpcore_str t;
            FZ_CHECK(smtpcore_reply_line(&ev->reply, i, &t) == SMTPCORE_OK);
            FZ_CHECK(fz_within(ev->reply.raw.ptr, ev->reply.raw.len, t.ptr, t.len));
        }
    }
    fz_touch(ev->data.ptr, ev->data.len);
    fz_touch(ev->message.ptr, ev->message.len);
    const char *vs = smtpcore_violation_str((int)ev->violation);
    FZ_CHECK(vs != NULL && vs[0] != '\0');
    switch (ev->type) {
    case SMTPCORE_CEV_MAIL_RESULT:
        FZ_CHECK(h->tx && !h->mail_result);
        h->mail_result = 1;
        break;
    case SMTPCORE_CEV_RCPT_RESULT:
        FZ_CHECK(h->tx && ev->rcpt_index < h->rcpts);
        if (ev->rcpt_index < 64) {
            FZ_CHECK(!(h->rcpt_seen & (1ull << ev->rcpt_index)));
            h->rcpt_seen |= 1ull << ev->rcpt_index;
            if (ev->failure == SMTPCORE_SUCCESS)
                h->rcpt_ok |= 1ull << ev->rcpt_index;
        }
        break;
    case SMTPCORE_CEV_DELIVERY_RESULT: {
        FZ_CHECK(h->lmtp);
        /* It ends the overtaken transaction when there is one, else the current one. */
        size_t n = h->fin ? h->fin_rcpts : h->rcpts;
        uint64_t ok = h->fin ? h->fin_rcpt_ok : h->rcpt_ok;
        FZ_CHECK(h->fin || h->tx);
        FZ_CHECK(ev->rcpt_index < n);
        int cls = ev->reply.code / 100;
        FZ_CHECK(cls == 2 || cls == 4 || cls == 5);
        FZ_CHECK((ev->failure == SMTPCORE_SUCCESS) == (cls == 2));
        if (ev->rcpt_index < 64) {
            FZ_CHECK(ok & (1ull << ev->rcpt_index));
            FZ_CHECK(!(h->deliv_seen & (1ull << ev->rcpt_index)));
            h->deliv_seen |= 1ull << ev->rcpt_index;
        }
        h->deliv_n++;
        h->deliv_ok += cls == 2;
        break;
    }
    case SMTPCORE_CEV_MESSAGE_RESULT:
        if (h->fin) {
            /* The overtaken transaction's verdict comes before anything that ends the
             * later one. */
            FZ_CHECK(ev->rcpt_total == h->fin_rcpts && ev->rcpt_accepted <= ev->rcpt_total);
            if (h->deliv_n)
                FZ_CHECK(ev->rcpt_accepted == h->deliv_ok);
            h->deliv_seen = 0;
            h->deliv_n = h->deliv_ok = 0;
            h->fin = 0;
            break;
        }
        FZ_CHECK(h->tx);
        FZ_CHECK(ev->rcpt_total == h->rcpts && ev->rcpt_accepted <= ev->rcpt_total);
        if (h->deliv_n)
            FZ_CHECK(ev->rcpt_accepted == h->deliv_ok);
        h->deliv_seen = 0;
        h->deliv_n = h->deliv_ok = 0;
        h->tx = 0;
        h->body_mode = 0;
        break;
    case SMTPCORE_CEV_XCLIENT_RESULT:
        FZ_CHECK(h->xclient_results++ < h->xclient_calls && !h->tx);
        break;
    case SMTPCORE_CEV_READY:
        FZ_CHECK(!h->body_mode && !h->fin && h->xclient_results == h->xclient_calls);
        h->tx = 0;
        if (!h->closed)
            on_ready(h);
        break;
    case SMTPCORE_CEV_SEND_BODY:
        FZ_CHECK(h->tx && !h->body_done);
        /* Without pipelining, BDAT asks again after each chunk's reply: keep feeding. */
        if (h->body_started)
            break;
        h->body_started = 1;
        drain_output(h, 1);
        h->data_mode = h->o.last == SC_VERB_DATA;
        h->body_mode = 1;
        h->body_stalled = 0;
        h->body_done = 0;
        h->fed_len = 0;
        h->chunks_len = 0;
        uint8_t pick = fz_ctl(&h->src);
        /* Hosts either feed the whole body before they look at events again (then replies
         * the server sent early stay unread until the "." is out) or watch events while
         * feeding (a refused BDAT chunk, a 421). */
        h->body_first = !(pick & 0x40u);
        if (pick & 0x80u) {
            /* Fuzzer bytes as the body (from the decision side, so that the server's
             * bytes stay one contiguous run). */
            const uint8_t *p;
            h->body_len = fz_take_back(&h->src, fz_ctl(&h->src), &p);
            h->body = (const char *)p;
        } else {
            h->body = bodies[pick % (sizeof bodies / sizeof bodies[0])];
            h->body_len = strlen(h->body);
            if (h->body == bodies[9])
                h->body_len = 7; /* the NUL body */
        }
        h->body_off = 0;
        if (h->o.last == SC_VERB_DATA && !h->o.cr && h->o.len == 0) {
            h->o.body = 1;
            h->o.blen = 0;
        }
        break;
    case SMTPCORE_CEV_STARTTLS:
        drain_output(h, 1);
        FZ_CHECK(smtpcore_client_tls_started(h->c) == SMTPCORE_OK);
        break;
    case SMTPCORE_CEV_AUTH_CHALLENGE: {
        uint8_t a = fz_ctl(&h->src);
        int rc = (a & 1u) ? smtpcore_client_auth_respond(h->c, NULL, 0)
                          : smtpcore_client_auth_respond(h->c, "response", 8);
        FZ_CHECK(api_ok(rc));
        break;
    }
    case SMTPCORE_CEV_CLOSED:
        h->saw_closed = 1;
        h->closed = 1;
        h->o.lost = 1;
        break;
    default:
        break;
    }
}

static size_t drain_events(host *h)
{
    size_t count = 0;
    for (int guard = 0; guard < 100000; guard++) {
        if (h->body_mode && h->body_first && !h->body_stalled && !h->closed)
            return count;
        const smtpcore_client_event *ev = NULL;
        FZ_CHECK(smtpcore_client_next_event(h->c, &ev) == SMTPCORE_OK);
        FZ_CHECK(ev != NULL);
        check_mem(h);
        if (ev->type == SMTPCORE_CEV_NONE) {
            maybe_release(h);
            return count;
        }
        if (fz_trace_on())
            fprintf(stderr, "event %d failure=%d code=%d violation=%d\n", (int)ev->type,
                    (int)ev->failure, ev->reply.code, (int)ev->violation);
        count++;
        on_event(h, ev);
    }
    fz_fail(__FILE__, __LINE__, "events never end");
    return count;
}

/* Feeds the chosen body; returns nonzero when something happened. */
static int pump_body(host *h)
{
    if (!h->body_mode || h->closed)
        return 0;
    if (h->body_off < h->body_len) {
        size_t used = (size_t)-1;
        size_t piece = h->body_len - h->body_off;
        uint8_t c = fz_ctl(&h->src);
        if (c && c < piece)
            piece = c;
        int rc = smtpcore_client_body(h->c, h->body + h->body_off, piece, &used);
        check_mem(h);
        FZ_CHECK(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_INVALID_STATE || rc == SMTPCORE_ERR_CLOSED ||
                 rc == SMTPCORE_ERR_8BIT_NOT_OFFERED);
        /* RFC 6152: the engine ends the session rather than send 8 bits undeclared. */
        if (rc == SMTPCORE_ERR_8BIT_NOT_OFFERED)
            FZ_CHECK(used == 0 && smtpcore_client_want_close(h->c));
        if (rc != SMTPCORE_OK) {
            h->body_mode = 0;
            h->o.lost = 1;
            return 1;
        }
        FZ_CHECK(used <= piece);
        memcpy(h->fed + h->fed_len, h->body + h->body_off, used);
        h->fed_len += used;
        h->body_off += used;
        h->body_stalled = used == 0;
        return used > 0;
    }
    int rc = smtpcore_client_body_end(h->c);
    check_mem(h);
    FZ_CHECK(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_BUFFER_FULL ||
             rc == SMTPCORE_ERR_INVALID_STATE || rc == SMTPCORE_ERR_CLOSED);
    h->body_stalled = rc == SMTPCORE_ERR_BUFFER_FULL;
    if (rc == SMTPCORE_ERR_BUFFER_FULL)
        return 0;
    h->body_mode = 0;
    h->body_done = rc == SMTPCORE_OK;
    if (!h->body_done) {
        h->o.lost = 1;
        return 1;
    }
    /* Sometimes the next transaction starts at once, behind the "." (allowed with
     * PIPELINING after DATA; refused with INVALID_STATE otherwise). */
    uint8_t next = fz_ctl(&h->src);
    if (fz_trace_on())
        fprintf(stderr, "body_end ok (%s mode)\n", h->data_mode ? "DATA" : "BDAT");
    if ((next & 3u) == 0 && h->data_mode && h->tx && !h->closed) {
        size_t rcpts = h->rcpts;
        uint64_t rcpt_ok = h->rcpt_ok;
        if (start_transaction(h, next)) {
            if (fz_trace_on())
                fprintf(stderr, "next transaction started behind the dot\n");
            h->fin = 1;
            h->fin_rcpts = rcpts;
            h->fin_rcpt_ok = rcpt_ok;
        }
    }
    return 1;
}

static void config(smtpcore_client_config *c, const uint8_t *hdr)
{
    smtpcore_client_config_init(c);
    static const char *const helos[] = {"client.example.org", "[192.0.2.7]", "localhost",
                                        "[IPv6:2001:db8::7]"};
    c->helo_name = helos[(hdr[0] >> 6) & 3u];
    c->quirks = hdr[0] & 15u;
    if (hdr[1] & 8u) /* bit 3 of hdr[1] was unused */
        c->quirks |= SMTPCORE_QUIRK_SEND_8BIT;
    c->tls_policy = (smtpcore_tls_policy)((hdr[0] >> 4) % 3u);
    c->tls_active = (hdr[1] >> 7) & 1u;
    static const char *const mechs[] = {NULL, "PLAIN", "LOGIN", "XOAUTH2", "CRAM-MD5", NULL};
    uint8_t a = hdr[1] & 7u;
    if (a % 6u) {
        c->auth_user = "user\xc3\xa9";
        c->auth_password = "pass word";
        c->auth_mechanism = mechs[a % 6u];
    }
    if (hdr[2])
        c->input_buffer_size = 64 + (size_t)hdr[2] * 16;
    if (hdr[3])
        c->output_buffer_size = 1024 + (size_t)hdr[3] * 8;
    if (hdr[4])
        c->max_reply_line = 8 + (size_t)hdr[4] * 4;
    /* The engine refuses an input buffer smaller than a reply line: make it one line. */
    size_t line = c->max_reply_line ? c->max_reply_line : 1000;
    if (c->input_buffer_size && c->input_buffer_size < line)
        c->input_buffer_size = line;
    if (hdr[5])
        c->max_recipients = hdr[5];
    if (hdr[6])
        c->envelope_buffer_size = 1024 + (size_t)hdr[6] * 8;
    c->lmtp = (hdr[7] & 1u) != 0;
    /* bit 4: release mode (LLVMFuzzerTestOneInput) */
    /* bits 1-2: a PROXY header first (v1 TCP4, v2 TCP6, or without addresses: v1 UNKNOWN
     * or v2 LOCAL by bit 3) */
    switch ((hdr[7] >> 1) & 3u) {
    case 1:
        c->proxy_protocol = SMTPCORE_PROXY_V1;
        c->proxy_src_addr = "192.0.2.1";
        c->proxy_dst_addr = "198.51.100.2";
        break;
    case 2:
        c->proxy_protocol = SMTPCORE_PROXY_V2;
        c->proxy_src_addr = "2001:db8::1";
        c->proxy_dst_addr = "2001:db8::2";
        break;
    case 3:
        c->proxy_protocol = (hdr[7] & 8u) ? SMTPCORE_PROXY_V2 : SMTPCORE_PROXY_V1;
        break;
    default:
        break;
    }
    c->proxy_src_port = 40000;
    c->proxy_dst_port = 25;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size > MAX_INPUT)
        return 0;
    smtpcore_client_config cfg;
    config(&cfg, data);
    static host h;
    memset(&h, 0, sizeof h);
    fz_init(&h.src, data + 8, size - 8);
    h.sent = (const char *)data + 8;
    h.lmtp = cfg.lmtp;
    h.proxy = cfg.proxy_protocol;
    h.release_mode = (data[7] & 16u) != 0;
    h.proxy_src = cfg.proxy_src_addr;
    h.proxy_dst = cfg.proxy_dst_addr;
    smtpcore_allocator alloc = fz_counting_allocator(&h.alloc);
    cfg.allocator = &alloc;
    h.o.bcap = 4 * MAX_BODY;
    h.o.bbuf = malloc(h.o.bcap);
    h.chunks = malloc(3 * MAX_BODY + 64);
    FZ_CHECK(h.o.bbuf && h.chunks);
    int rc = smtpcore_client_new(&h.c, &cfg);
    if (rc != SMTPCORE_OK) {
        FZ_CHECK(rc == SMTPCORE_ERR_TOO_LONG || rc == SMTPCORE_ERR_INVALID_ARGUMENT);
        goto out;
    }
    h.mem0 = smtpcore_client_memory(h.c);
    h.allocs0 = h.alloc.mallocs + h.alloc.reallocs;
    FZ_CHECK(h.mem0 > 0 && h.allocs0 > 0);

    int eof = 0, idle = 0;
    for (size_t iter = 0; iter < 4 * MAX_INPUT + 1000; iter++) {
        int progress = drain_events(&h) > 0;
        progress |= pump_body(&h);
        const char *o;
        progress |= smtpcore_client_output(h.c, &o) > 0;
        drain_output(&h, 0);
        if (h.closed && !eof)
            break;
        if (h.pend_len == 0 && h.src.n > 0) {
            size_t k = fz_ctl(&h.src);
            const uint8_t *p;
            size_t got = fz_take(&h.src, k ? k : h.src.n, &p);
            h.pend = (const char *)p;
            h.pend_len = got;
            h.sent_len += got;
        }
        if (h.pend_len > 0) {
            size_t used = (size_t)-1;
            rc = smtpcore_client_receive(h.c, h.pend, h.pend_len, &used);
            check_mem(&h);
            if (fz_trace_on())
                fprintf(stderr, "receive %zu -> %d used %zu\n", h.pend_len, rc, used);
            if (rc == SMTPCORE_ERR_CLOSED) {
                h.closed = 1;
                break;
            }
            FZ_CHECK(rc == SMTPCORE_OK && used <= h.pend_len);
            h.pend += used;
            h.pend_len -= used;
            progress |= used > 0;
        } else if (!eof) {
            FZ_CHECK(smtpcore_client_receive_eof(h.c) == SMTPCORE_OK);
            eof = 1;
            progress = 1;
        }
        if (progress) {
            idle = 0;
        } else if (++idle > 3) {
            /* Nothing moves: that is only fine once the server's bytes are all given. */
            FZ_CHECK(eof && h.pend_len == 0);
            break;
        }
    }
    /* Drain the rest: after EOF the client must have said CLOSED. */
    for (int i = 0; i < 100; i++) {
        size_t evs = drain_events(&h);
        int moved = pump_body(&h);
        const char *o;
        size_t pending = smtpcore_client_output(h.c, &o);
        drain_output(&h, 1);
        if (evs == 0 && pending == 0 && !moved)
            break;
    }
    if (eof)
        FZ_CHECK(h.saw_closed || h.closed);
    smtpcore_client_del(h.c);
    FZ_CHECK(h.alloc.live == 0); /* everything freed, through the host's allocator */
out:
    free(h.o.bbuf);
    free(h.chunks);
    return 0;
}
