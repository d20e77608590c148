/* SPDX-License-Identifier: MIT */
/* Fuzzes a whole server session through the public API, as a host would drive it.
 *
 * Input layout (fuzz_common.h): 8 configuration bytes at the front (all zero = defaults;
 * see config()), then the client's bytes; decision bytes are taken from the back: read
 * sizes, how much output the host writes, and how the host answers each event.
 * Bit 7 of the third configuration byte selects the structured mode, where each client
 * byte picks one well-formed unit (a command, or a DATA/AUTH exchange) from a table.
 *
 * Invariants checked on every run:
 * - the output only ever holds legal SMTP reply lines (fz_reply_checker);
 * - smtpcore_server_memory() never changes after creation (bounded memory), but for
 *   the buffers: release mode (config) gives them back (smtpcore_server_release_idle())
 *   at every moment the session is idle, and the call succeeds exactly then; the
 *   session is then smaller by them until a call takes them back, with one allocation
 *   per release and nothing else allocated, and it behaves as it would with them;
 * - every event slice lies inside live memory, and raw slices (line, address, body data)
 *   are bytes the client really sent;
 * - answers the API refuses are refused with the documented errors and leave the event
 *   answerable; answering without a pending event is refused;
 * - the session never gets stuck: input is always taken once events and output are
 *   drained, and EOF always ends in a CLOSE event;
 * - raw mode: never more final replies than lines received (+ greeting and 421);
 *   structured mode: exactly one final reply per unit until the session closes;
 * - LMTP (config): the host answers the recipients of a message one by one in a fuzzed
 *   order, partly only after next_event() returned NONE, with fuzzed (also refused)
 *   answers; the unanswered count follows every answer, and a message gets exactly one
 *   reply per accepted recipient (raw mode: at most two replies per line received);
 * - host close (config): the host ends the session (smtpcore_server_shutdown/close_with)
 *   at a fuzzed point of the input, or instead of answering an event: the call succeeds
 *   once (later ones get SMTPCORE_ERR_CLOSED), the session wants to close, is no longer
 *   in a message, takes no more input and ends with CLOSE; bad arguments are refused;
 * - accept_next mode (config): the host pulls events with smtpcore_server_accept_next()
 *   and leaves the default answers to it (also after a refused answer), with the same
 *   invariants as with next_event() and accept(), except AUTH, which accept_next()
 *   never answers by default (INVALID_STATE; the host answers it). */
#include "fuzz_common.h"

#include <smtpcore/smtpcore.h>

#define MAX_INPUT 16384

typedef struct host {
    smtpcore_server *s;
    fz_src src;
    const char *sent;     /* everything the client sent so far is sent[0, sent_len) */
    size_t sent_len;
    const char *pend;     /* offered but not yet taken */
    size_t pend_len;
    size_t mem0;
    fz_alloc_stats alloc;  /* counts through the session's allocator */
    size_t allocs0;        /* allocations made by smtpcore_server_new() */
    fz_reply_checker chk;
    int closed;           /* receive() returned CLOSED or CLOSE was seen */
    int saw_close;
    int tls;              /* STARTTLS pending: host must call tls_started */
    size_t lfs;           /* LF bytes taken by the session */
    int lmtp;
    size_t lmtp_n;        /* recipients of the message being answered */
    size_t acc;           /* rcpt_count of the last event that ended a message */
    int close_mode;       /* the host ends the session at some point */
    size_t close_at;      /* raw mode: after this many client bytes */
    int host_closed;      /* it did */
    int release_mode;     /* give the buffers back whenever idle */
    size_t releases;      /* successful releases that freed the buffers */
    size_t bufs;          /* the bytes they freed */
    int next_mode;        /* accept_next(): default answers are left to the next call */
} host;

static const char *const own_names[] = {"localhost", "mx.example.org", "[192.0.2.1]"};

static void check_mem(host *h)
{
    fz_check_release_memory(smtpcore_server_memory(h->s), h->mem0, &h->alloc, h->allocs0, h->releases,
                            h->bufs);
}

/* Release mode: the session is idle here (events drained to NONE; the caller checks the
 * rest), so the call succeeds exactly when nothing is pending and no input unprocessed. */
static void maybe_release(host *h)
{
    if (!h->release_mode)
        return;
    const char *o;
    size_t before = smtpcore_server_memory(h->s);
    int idle = smtpcore_server_output(h->s, &o) == 0 && !smtpcore_server_rcpt_unanswered(h->s);
    size_t freed = 1;
    int rc = smtpcore_server_release_idle(h->s, &freed);
    FZ_CHECK(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_INVALID_STATE);
    FZ_CHECK(idle || rc == SMTPCORE_ERR_INVALID_STATE);
    fz_check_release_call(rc, freed, before, smtpcore_server_memory(h->s), h->mem0, &h->releases,
                          &h->bufs);
    if (rc == SMTPCORE_OK)
        check_mem(h);
}

/* Raw slices must be bytes the client sent (only checked on small inputs: quadratic). */
static void check_sent(host *h, smtpcore_str x)
{
    fz_touch(x.ptr, x.len);
    if (h->sent && h->sent_len <= 4096 && !fz_contains(h->sent, h->sent_len, x.ptr, x.len)) {
        fprintf(stderr, "slice of %zu bytes not among the %zu bytes sent:", x.len, h->sent_len);
        for (size_t i = 0; i < x.len; i++)
            fprintf(stderr, " %02x", (unsigned char)x.ptr[i]);
        fprintf(stderr, "\n");
        fz_fail(__FILE__, __LINE__, "event slice holds bytes the client never sent");
    }
}

static const smtpcore_mail_params zero_mail;

static void check_event(host *h, const smtpcore_server_event *ev)
{
    FZ_CHECK(ev->type >= SMTPCORE_SEV_NONE && ev->type <= SMTPCORE_SEV_CLOSE);
    check_sent(h, ev->line);
    FZ_CHECK(memchr(ev->line.ptr ? ev->line.ptr : "", '\n', ev->line.len) == NULL);
    fz_touch(ev->address.ptr, ev->address.len);
    fz_touch(ev->message.ptr, ev->message.len);
    /* The members of the event's union are read for their own type only: the others
     * share their storage. Every other type leaves the union zero. */
    switch (ev->type) {
    case SMTPCORE_SEV_MAIL:
        fz_touch(ev->mail.envid.ptr, ev->mail.envid.len);
        fz_touch(ev->mail.auth.ptr, ev->mail.auth.len);
        FZ_CHECK(fz_within(ev->line.ptr, ev->line.len, ev->address.ptr, ev->address.len));
        FZ_CHECK(fz_within(ev->line.ptr, ev->line.len, ev->mail.envid.ptr, ev->mail.envid.len));
        FZ_CHECK(fz_within(ev->line.ptr, ev->line.len, ev->mail.auth.ptr, ev->mail.auth.len));
        break;
    case SMTPCORE_SEV_RCPT:
        fz_touch(ev->rcpt.orcpt.ptr, ev->rcpt.orcpt.len);
        FZ_CHECK(fz_within(ev->line.ptr, ev->line.len, ev->address.ptr, ev->address.len));
        FZ_CHECK(fz_within(ev->line.ptr, ev->line.len, ev->rcpt.orcpt.ptr, ev->rcpt.orcpt.len));
        break;
    case SMTPCORE_SEV_AUTH:
        fz_touch(ev->authzid.ptr, ev->authzid.len);
        fz_touch(ev->username.ptr, ev->username.len);
        fz_touch(ev->password.ptr, ev->password.len);
        break;
    case SMTPCORE_SEV_BODY:
        FZ_CHECK(ev->data.len > 0);
        check_sent(h, ev->data);
        break;
    default:
        /* mail is the union's largest member (a static_assert in the library's
         * server_core.h), so this compares the whole union. */
        FZ_CHECK(memcmp(&ev->mail, &zero_mail, sizeof zero_mail) == 0);
        break;
    }
    if (ev->type == SMTPCORE_SEV_PROTOCOL_ERROR)
        FZ_CHECK(ev->violation != SMTPCORE_V_NONE);
    /* Every violation the engine reports has a description. */
    const char *vs = smtpcore_violation_str((int)ev->violation);
    FZ_CHECK(vs != NULL && vs[0] != '\0');
    if (ev->reply_code)
        FZ_CHECK(ev->reply_code >= 200 && ev->reply_code <= 599);
}

static const char *pick_text(fz_src *src)
{
    static const char *const texts[] = {
        NULL, "Ok", "", "line one\nline two\nline three", "trailing newline\n",
        "tab\there", "caf\xc3\xa9", "\n", "a\n\nb", "x",
    };
    return texts[fz_ctl(src) % (sizeof texts / sizeof texts[0])];
}

static const char *pick_enhanced(fz_src *src, int code)
{
    static char buf[16];
    switch (fz_ctl(src) & 3u) {
    case 0: return NULL;
    case 1:
        snprintf(buf, sizeof buf, "%d.1.1", code / 100);
        return buf;
    case 2: return "2.0.0"; /* wrong class unless code is 2xx */
    default: return "9.99.999";
    }
}

static int ok_refusal(int rc)
{
    return rc == SMTPCORE_ERR_INVALID_ARGUMENT || rc == SMTPCORE_ERR_INJECTION ||
           rc == SMTPCORE_ERR_TOO_LONG;
}

static void drain_output(host *h, int all);

/* LMTP: answers recipients of the ended message until all are answered or the fuzzer
 * defers the rest to a later call (made when next_event() returns NONE). */
static void lmtp_step(host *h)
{
    static const int codes[] = {250, 251, 252, 220, 450, 451, 452, 421, 550, 552, 553, 554,
                                354, 199, 600, 260};
    smtpcore_server *s = h->s;
    for (int guard = 0; guard < 1000; guard++) {
        size_t left = smtpcore_server_rcpt_unanswered(s);
        if (left == 0) {
            FZ_CHECK(smtpcore_server_accept(s) == SMTPCORE_ERR_NO_ANSWER_PENDING);
            FZ_CHECK(smtpcore_server_reply_rcpt(s, 0, 250, NULL, NULL) ==
                     SMTPCORE_ERR_NO_ANSWER_PENDING);
            return;
        }
        FZ_CHECK(left <= h->lmtp_n);
        uint8_t a = fz_ctl(&h->src);
        if (guard > 0 && (a & 7u) == 7u)
            return; /* later */
        int rc;
        if ((a & 7u) == 6u) {
            /* One answer for everyone left. */
            if (a & 8u)
                rc = smtpcore_server_accept(s);
            else
                rc = smtpcore_server_reject(s, 452, pick_enhanced(&h->src, 452),
                                            pick_text(&h->src));
            FZ_CHECK(rc == SMTPCORE_OK || rc == SMTPCORE_ERR_INVALID_ARGUMENT);
            if (rc == SMTPCORE_OK)
                FZ_CHECK(smtpcore_server_rcpt_unanswered(s) == 0);
            continue;
        }
        size_t idx = fz_ctl(&h->src) % (h->lmtp_n + 1);
        int code = codes[fz_ctl(&h->src) % (sizeof codes / sizeof codes[0])];
        rc = smtpcore_server_reply_rcpt(s, idx, code, pick_enhanced(&h->src, code),
                                        pick_text(&h->src));
        if (fz_trace_on())
            fprintf(stderr, "  reply_rcpt(%zu, %d) -> %d\n", idx, code, rc);
        if (idx >= h->lmtp_n || code / 100 == 3 || code < 200 || code > 599)
            FZ_CHECK(rc == SMTPCORE_ERR_INVALID_ARGUMENT);
        FZ_CHECK(rc == SMTPCORE_OK || ok_refusal(rc) || rc == SMTPCORE_ERR_BUFFER_FULL);
        FZ_CHECK(smtpcore_server_rcpt_unanswered(s) == (rc == SMTPCORE_OK ? left - 1 : left));
        if (rc == SMTPCORE_ERR_BUFFER_FULL)
            drain_output(h, 1);
        check_mem(h);
    }
    if (smtpcore_server_rcpt_unanswered(s))
        FZ_CHECK(smtpcore_server_accept(s) == SMTPCORE_OK);
}

/* The host ends the session (its timeout, a deadline, shutdown), in whatever phase. */
static void host_close(host *h)
{
    smtpcore_server *s = h->s;
    int closing = smtpcore_server_want_close(s);
    uint8_t k = fz_ctl(&h->src);
    int rc;
    switch (k & 3u) {
    case 0: rc = smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_TIMEOUT); break;
    case 1: rc = smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_SERVICE); break;
    case 2: rc = smtpcore_server_close_with(s, 421, pick_enhanced(&h->src, 421),
                                            pick_text(&h->src)); break;
    default: {
        int code = 300 + (int)(fz_ctl32(&h->src) % 300u);
        rc = smtpcore_server_close_with(s, code, pick_enhanced(&h->src, code),
                                        pick_text(&h->src));
        if (code < 400)
            FZ_CHECK(rc == SMTPCORE_ERR_INVALID_ARGUMENT);
        break;
    }
    }
    if (fz_trace_on())
        fprintf(stderr, "  host close %u -> %d\n", k & 3u, rc);
    FZ_CHECK(rc == SMTPCORE_OK || ok_refusal(rc) || (closing && rc == SMTPCORE_ERR_CLOSED));
    if (rc == SMTPCORE_OK) {
        FZ_CHECK(!closing);
        h->host_closed = 1;
        FZ_CHECK(smtpcore_server_want_close(s));
        FZ_CHECK(!smtpcore_server_in_message(s));
        FZ_CHECK(smtpcore_server_accept(s) == SMTPCORE_ERR_NO_ANSWER_PENDING);
        FZ_CHECK(smtpcore_server_shutdown(s, SMTPCORE_SHUTDOWN_TIMEOUT) == SMTPCORE_ERR_CLOSED);
        size_t used = 1;
        FZ_CHECK(smtpcore_server_receive(s, "NOOP\r\n", 6, &used) == SMTPCORE_ERR_CLOSED);
        FZ_CHECK(used == 0);
    }
    check_mem(h);
}

/* The host's answer to an answer-required event, chosen by the fuzzer. Returns 1 when
 * the event is left for accept_next() to answer with its default (accept_next mode). */
static int answer(host *h, const smtpcore_server_event *ev)
{
    if (h->close_mode && !h->host_closed && (fz_ctl(&h->src) & 7u) == 0) {
        host_close(h);
        if (h->host_closed)
            return 0;
    }
    if (ev->type == SMTPCORE_SEV_MESSAGE_END && h->lmtp) {
        FZ_CHECK(ev->rcpt_count > 0);
        FZ_CHECK(smtpcore_server_rcpt_unanswered(h->s) == ev->rcpt_count);
        h->lmtp_n = ev->rcpt_count;
        lmtp_step(h);
        return 0;
    }
    static const int refusals[] = {421, 450, 451, 452, 454, 500, 501, 503, 530, 535,
                                   550, 551, 552, 553, 554, 555};
    static const int positives[] = {250, 251, 252, 235, 354, 220, 221, 214, 211, 200};
    uint8_t a = fz_ctl(&h->src);
    int rc = SMTPCORE_OK, answered = 0;
    switch (a & 7u) {
    case 3: {
        int code = refusals[fz_ctl(&h->src) % (sizeof refusals / sizeof refusals[0])];
        rc = smtpcore_server_reject(h->s, code, pick_enhanced(&h->src, code), pick_text(&h->src));
        answered = rc == SMTPCORE_OK;
        break;
    }
    case 4: {
        int code = positives[fz_ctl(&h->src) % (sizeof positives / sizeof positives[0])];
        rc = smtpcore_server_reply(h->s, code, pick_enhanced(&h->src, code), pick_text(&h->src));
        answered = rc == SMTPCORE_OK;
        break;
    }
    case 5: { /* any code at all, including ones the API must refuse */
        int code = 100 + (int)(fz_ctl32(&h->src) % 600u);
        rc = smtpcore_server_reply(h->s, code, pick_enhanced(&h->src, code), pick_text(&h->src));
        answered = rc == SMTPCORE_OK;
        if (answered)
            FZ_CHECK(code >= 200 && code <= 599);
        break;
    }
    case 6: { /* hostile text: CR injection, or a line over 512 octets */
        char text[700];
        int code = refusals[fz_ctl(&h->src) % (sizeof refusals / sizeof refusals[0])];
        if (fz_ctl(&h->src) & 1u) {
            snprintf(text, sizeof text, "evil\r\n250 forged");
            rc = smtpcore_server_reject(h->s, code, NULL, text);
            FZ_CHECK(rc == SMTPCORE_ERR_INJECTION || rc == SMTPCORE_ERR_INVALID_ARGUMENT);
        } else {
            size_t n = 400 + fz_ctl(&h->src);
            memset(text, 'x', n);
            text[n] = '\0';
            rc = smtpcore_server_reject(h->s, code, NULL, text);
            if (n + 4 + 12 + 2 > 512)
                FZ_CHECK(rc == SMTPCORE_ERR_TOO_LONG || rc == SMTPCORE_ERR_INVALID_ARGUMENT);
            answered = rc == SMTPCORE_OK;
        }
        break;
    }
    case 7:
        if (ev->type != SMTPCORE_SEV_CONNECT) {
            rc = smtpcore_server_reject(h->s, 250, NULL, NULL); /* not a refusal code */
            FZ_CHECK(rc == SMTPCORE_ERR_INVALID_ARGUMENT);
        }
        if (!h->tls)
            FZ_CHECK(smtpcore_server_tls_started(h->s) == SMTPCORE_ERR_INVALID_STATE);
        break;
    default:
        break;
    }
    if (fz_trace_on())
        fprintf(stderr, "  answer choice %u rc=%d\n", a & 7u, rc);
    FZ_CHECK(rc == SMTPCORE_OK || ok_refusal(rc));
    FZ_CHECK(smtpcore_strerror(rc) != NULL);
    /* A refused answer leaves the event pending: the default must still work (in
     * accept_next mode it is the next call that gives it). */
    if (!answered && h->next_mode) {
        if (ev->type != SMTPCORE_SEV_AUTH)
            return 1;
        /* Never a default login: accept_next() refuses and leaves it pending. */
        const smtpcore_server_event *again = NULL;
        FZ_CHECK(smtpcore_server_accept_next(h->s, &again) == SMTPCORE_ERR_INVALID_STATE);
        FZ_CHECK(again == ev && again->type == SMTPCORE_SEV_AUTH && again->answer_required);
    }
    if (!answered)
        FZ_CHECK(smtpcore_server_accept(h->s) == SMTPCORE_OK);
    /* Exactly one answer per event. */
    FZ_CHECK(smtpcore_server_accept(h->s) == SMTPCORE_ERR_NO_ANSWER_PENDING);
    check_mem(h);
    return 0;
}

static void drain_output(host *h, int all)
{
    for (int guard = 0; guard < 100000; guard++) {
        const char *out = NULL;
        size_t n = smtpcore_server_output(h->s, &out);
        check_mem(h);
        if (n == 0)
            return;
        size_t k = n;
        uint8_t c = all ? 0 : fz_ctl(&h->src);
        if (c)
            k = c < n ? c : n;
        if (fz_trace_on())
            fprintf(stderr, "output %.*s", (int)k, out);
        if (c & 1u) {
            /* The view is only valid until the next call: keep a copy to compare. */
            char tmp[256], view[256];
            size_t want = k < sizeof tmp ? k : sizeof tmp;
            memcpy(view, out, want);
            size_t got = smtpcore_server_copy_output(h->s, tmp, want);
            FZ_CHECK(got == want && memcmp(tmp, view, got) == 0);
            fz_reply_check(&h->chk, tmp, got);
        } else {
            fz_reply_check(&h->chk, out, k);
            FZ_CHECK(smtpcore_server_consume(h->s, k) == SMTPCORE_OK);
        }
        if (!all)
            return;
    }
    fz_fail(__FILE__, __LINE__, "output never drains");
}

/* Handles events until NONE; returns how many there were. */
static size_t drain_events(host *h)
{
    size_t count = 0;
    for (int guard = 0; guard < 100000; guard++) {
        const smtpcore_server_event *ev = NULL;
        /* LMTP recipients answered one by one stay the host's until all are: there the
         * default for the rest would end the fuzzed order early. */
        int one_call = h->next_mode && !(h->lmtp && smtpcore_server_rcpt_unanswered(h->s));
        FZ_CHECK((one_call ? smtpcore_server_accept_next(h->s, &ev)
                           : smtpcore_server_next_event(h->s, &ev)) == SMTPCORE_OK);
        FZ_CHECK(ev != NULL);
        if (one_call && ev->type != SMTPCORE_SEV_NONE && !ev->answer_required)
            FZ_CHECK(smtpcore_server_accept(h->s) == SMTPCORE_ERR_NO_ANSWER_PENDING);
        check_mem(h);
        if (ev->type == SMTPCORE_SEV_NONE) {
            FZ_CHECK(!ev->answer_required);
            if (h->lmtp && smtpcore_server_rcpt_unanswered(h->s)) {
                lmtp_step(h); /* answers given after a NONE */
                continue;
            }
            maybe_release(h);
            return count;
        }
        count++;
        if (fz_trace_on())
            fprintf(stderr, "event %d answer=%d violation=%d reply=%d line=%.*s\n", (int)ev->type,
                    ev->answer_required, (int)ev->violation, ev->reply_code, (int)ev->line.len,
                    ev->line.ptr ? ev->line.ptr : "");
        check_event(h, ev);
        if (ev->type == SMTPCORE_SEV_MESSAGE_END || ev->type == SMTPCORE_SEV_MESSAGE_ABORTED ||
            (ev->type == SMTPCORE_SEV_PROTOCOL_ERROR &&
             ev->violation == SMTPCORE_V_MESSAGE_TOO_BIG))
            h->acc = ev->rcpt_count;
        if (ev->type == SMTPCORE_SEV_CLOSE) {
            h->saw_close = 1;
            h->closed = 1;
        }
        if (ev->answer_required) {
            (void)answer(h, ev);
        } else {
            FZ_CHECK(smtpcore_server_accept(h->s) == SMTPCORE_ERR_NO_ANSWER_PENDING);
        }
        if (ev->type == SMTPCORE_SEV_STARTTLS) {
            /* Flush, then "TLS is up". The STARTTLS reply must be complete by now. */
            drain_output(h, 1);
            FZ_CHECK(fz_reply_checker_idle(&h->chk));
            h->tls = 1;
            if (!h->closed && !smtpcore_server_want_close(h->s)) {
                FZ_CHECK(smtpcore_server_tls_started(h->s) == SMTPCORE_OK);
                h->tls = 0;
            }
        }
    }
    fz_fail(__FILE__, __LINE__, "events never end");
    return count;
}

/* Events and output until both are empty (the session may hold events back until its
 * output is written). */
static void drain_all(host *h)
{
    for (int guard = 0; guard < 100000; guard++) {
        size_t evs = drain_events(h);
        const char *o;
        size_t pending = smtpcore_server_output(h->s, &o);
        drain_output(h, 1);
        if (evs == 0 && pending == 0)
            return;
    }
    fz_fail(__FILE__, __LINE__, "session never settles");
}

/* Offers bytes; returns how many the session took. */
static size_t feed(host *h, const char *p, size_t n)
{
    size_t used = (size_t)-1;
    int rc = smtpcore_server_receive(h->s, p, n, &used);
    if (fz_trace_on())
        fprintf(stderr, "receive %zu -> rc=%d used=%zu\n", n, rc, used);
    check_mem(h);
    if (rc == SMTPCORE_ERR_CLOSED) {
        h->closed = 1;
        return 0;
    }
    FZ_CHECK(rc == SMTPCORE_OK);
    FZ_CHECK(used <= n);
    for (size_t i = 0; i < used; i++)
        h->lfs += p[i] == '\n';
    return used;
}

/* Feeds n bytes completely (draining between reads) unless the session closes. */
static void feed_all(host *h, const char *p, size_t n)
{
    int stuck = 0;
    while (n > 0 && !h->closed) {
        size_t used = feed(h, p, n);
        p += used;
        n -= used;
        size_t evs = drain_events(h);
        drain_output(h, used == 0);
        if (used == 0 && evs == 0 && !h->closed) {
            /* Events and output are drained: the session must take input now. */
            FZ_CHECK(++stuck < 3);
        } else {
            stuck = 0;
        }
    }
}

static int config(smtpcore_server_config *c, const uint8_t *hdr)
{
    smtpcore_server_config_init(c);
    c->extensions ^= ((uint32_t)hdr[0] | ((uint32_t)(hdr[1] & 0x0fu) << 8));
    c->auth_mechs ^= (uint32_t)(hdr[1] >> 4) & 7u; /* PLAIN, LOGIN, XOAUTH2 */
    if (c->auth_mechs == 0)
        c->auth_mechs = SMTPCORE_AUTH_PLAIN;
    uint8_t p = hdr[2];
    c->helo_policy = (p & 1u) ? SMTPCORE_HELO_OPTIONAL : SMTPCORE_HELO_REQUIRED;
    c->bare_lf_policy = (p & 2u) ? SMTPCORE_BARE_LF_ACCEPT : SMTPCORE_BARE_LF_REJECT;
    c->talker_policy = (p & 4u) ? SMTPCORE_TALKER_REJECT : SMTPCORE_TALKER_NOTE;
    c->injection_policy = (p & 8u) ? SMTPCORE_INJECTION_DISCARD : SMTPCORE_INJECTION_REJECT;
    c->allow_plaintext_auth = (p & 16u) != 0;
    c->tls_active = (p & 32u) != 0;
    /* Bit 0 of the output-size byte (p has no bit left): the sync policy. */
    c->sync_policy = (hdr[5] & 1u) ? SMTPCORE_SYNC_UNAUTH : SMTPCORE_SYNC_OFF;
    c->nul_policy = (hdr[5] & 2u) ? SMTPCORE_NUL_ACCEPT : SMTPCORE_NUL_REJECT;
    if (p & 64u) {
        c->own_names = own_names;
        c->own_names_count = sizeof own_names / sizeof own_names[0];
    }
    if (hdr[3] & 15u)
        c->max_errors = hdr[3] & 15u;
    if (hdr[3] >> 4)
        c->max_recipients = hdr[3] >> 4;
    if (hdr[6]) {
        c->max_command_line = 16 + (size_t)hdr[6] * 4;
        c->max_text_line = 3 + (size_t)hdr[6];
    }
    if (hdr[4])
        c->input_buffer_size = c->max_command_line + 2 + (size_t)hdr[4] * 8;
    if (hdr[5])
        c->output_buffer_size = 1024 + (size_t)hdr[5] * 16;
    if (hdr[7])
        c->max_message_size = (uint64_t)hdr[7] * 16;
    c->lmtp = (hdr[1] & 0x80u) != 0;
    return (p & 128u) != 0;
}

/* Structured units: bytes and how many final replies they must get. */
typedef struct unit {
    const char *bytes;
    size_t len;
    int replies;
} unit;

#define U(s, r) {s, sizeof(s) - 1, r}

static const unit units[] = {
    U("EHLO c.example\r\n", 1),
    U("HELO c.example\r\n", 1),
    U("EHLO [192.0.2.1]\r\n", 1),
    U("HELO this is Jupiter\r\n", 1),
    U("EHLO mx.example.org\r\n", 1),
    U("MAIL FROM:<a@example.org>\r\n", 1),
    U("MAIL FROM:<> SIZE=100 BODY=8BITMIME\r\n", 1),
    U("MAIL FROM:<a@example.org> SIZE=99999999999\r\n", 1),
    U("MAIL FROM:<\xc3\xa9@example.org> SMTPUTF8\r\n", 1),
    U("MAIL FROM:<a@example.org> RET=HDRS ENVID=x+2By AUTH=<>\r\n", 1),
    U("MAIL FROM:<a@example.org> BODY=BINARYMIME\r\n", 1),
    U("MAIL FROM:bad\r\n", 1),
    U("RCPT TO:<b@example.net>\r\n", 1),
    U("RCPT TO:<c@example.net> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;c+40example.net\r\n", 1),
    U("RCPT TO:<@relay.example:d@example.net>\r\n", 1),
    U("RSET\r\n", 1),
    U("NOOP\r\n", 1),
    U("VRFY bob\r\n", 1),
    U("EXPN list\r\n", 1),
    U("HELP\r\n", 1),
    U("XYZZY\r\n", 1),
    U("\r\n", 1),
    U("DATA\r\n.\r\n", 2),
    U("BDAT 0 LAST\r\n", 1),
    U("BDAT 5\r\nhello", 1),
    U("BDAT 5 LAST\r\n.\r\n\r\n", 1),
    U("AUTH PLAIN AHVzZXIAcGFzcw==\r\n", 1),
    U("AUTH PLAIN !!!\r\n", 1),
    U("AUTH LOGIN\r\n*\r\n", 2),
    U("AUTH XOAUTH2\r\n*\r\n", 2),
    U("STARTTLS\r\n", 1),
    U("NOOP\n", 1),
    U("NOOP\r\r\n", 1),
    U("NOOP \x00\r\n", 1),
    U("VRFY xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", 1),
    U("NOOP x\r\n", 1),
    U("RSET x\r\n", 1),
    U("HELP MAIL\r\n", 1),
    U("VRFY\r\n", 1),
    U("EXPN\r\n", 1),
    U("DATA x\r\n", 1),
    U("STARTTLS x\r\n", 1),
    U("EHLO\r\n", 1),
    U("HELO\r\n", 1),
    U("MAIL FROM:<a@example.org> FOO=BAR\r\n", 1),
    U("MAIL FROM:<a@example.org> SIZE=1 SIZE=2\r\n", 1),
    U("RCPT TO:<b@example.net> NOTIFY=NEVER\r\n", 1),
    U("RCPT TO:<>\r\n", 1),
    U("TURN\r\n", 1),
    U("ETRN example.org\r\n", 1),
    U("BDAT x\r\n", 1),
    U("BDAT 18446744073709551616\r\n", 1),
    U("AUTH\r\n", 1),
    U("AUTH FOO\r\n", 1),
    U("mail from:<a@example.org>\r\n", 1),
    U("noop\r\n", 1),
    U("NOOP\t\r\n", 1),
    U("QUIT\r\n", 1),
    U("LHLO c.example\r\n", 1), /* appended: the seeds name units by index */
};

static void run_structured(host *h)
{
    size_t expected = 1; /* the greeting (or the 554 refusal) */
    drain_all(h);
    size_t n_units = sizeof units / sizeof units[0];
    while (h->src.n > 0 && !h->closed) {
        const unit *u = &units[fz_byte(&h->src) % n_units];
        /* In pieces (a decision byte each; 0 = the rest), draining after each piece. */
        for (size_t at = 0; at < u->len && !h->closed;) {
            size_t k = fz_ctl(&h->src);
            if (k == 0 || k > u->len - at)
                k = u->len - at;
            feed_all(h, u->bytes + at, k);
            at += k;
        }
        drain_all(h);
        if (h->closed || smtpcore_server_want_close(h->s))
            break;
        expected += (size_t)u->replies;
        /* LMTP: the end of a message (DATA + ".", BDAT ... LAST) gets one reply per
         * accepted recipient: acc - 1 more, or none more when it never got that far. */
        int ends = (u->len >= 6 && memcmp(u->bytes, "DATA\r\n", 6) == 0) ||
                   (u->len > 10 && memcmp(u->bytes, "BDAT", 4) == 0 &&
                    memchr(u->bytes, 'L', u->len) != NULL);
        if (h->lmtp && ends && h->acc > 1 && h->chk.finals == expected + h->acc - 1)
            expected += h->acc - 1;
        h->acc = 0;
        FZ_CHECK(fz_reply_checker_idle(&h->chk));
        if (h->chk.finals != expected)
            fprintf(stderr, "unit %.*s: %zu replies, expected %zu\n", (int)u->len, u->bytes,
                    h->chk.finals, expected);
        FZ_CHECK(h->chk.finals == expected);
    }
    h->closed = 1;
}

static void run_raw(host *h)
{
    int eof = 0;
    for (size_t iter = 0; iter < 4 * MAX_INPUT + 100; iter++) {
        drain_events(h);
        drain_output(h, 0);
        if (h->closed)
            break;
        if (h->close_mode && !h->host_closed && !h->closed && h->sent_len >= h->close_at) {
            host_close(h);
            continue;
        }
        if (h->pend_len == 0 && h->src.n > 0) {
            size_t k = fz_ctl(&h->src);
            const uint8_t *p;
            size_t got = fz_take(&h->src, k ? k : h->src.n, &p);
            h->pend = (const char *)p;
            h->pend_len = got;
            h->sent_len += got; /* sent is the contiguous prefix of the wire bytes */
        }
        if (h->pend_len > 0) {
            size_t used = feed(h, h->pend, h->pend_len);
            h->pend += used;
            h->pend_len -= used;
            if (used == 0 && !h->closed) {
                /* Full: the session must make progress once events and output drain. */
                size_t evs = drain_events(h);
                const char *o;
                size_t before = smtpcore_server_output(h->s, &o);
                drain_output(h, 1);
                if (evs == 0 && before == 0 && !h->closed) {
                    size_t again = feed(h, h->pend, h->pend_len);
                    FZ_CHECK(again > 0 || h->closed);
                    h->pend += again;
                    h->pend_len -= again;
                }
            }
            continue;
        }
        if (!eof) {
            FZ_CHECK(smtpcore_server_receive_eof(h->s) == SMTPCORE_OK);
            if (fz_trace_on())
                fprintf(stderr, "eof\n");
            check_mem(h);
            eof = 1;
            continue;
        }
        /* After EOF, once everything is drained, the session has said CLOSE. */
        drain_all(h);
        FZ_CHECK(h->saw_close);
        break;
    }
    drain_all(h);
    /* Each reply answers a line; a 421 (errors, EOF) may come on top, and the greeting. */
    /* LMTP: an accepted RCPT line gets a second reply after the data. */
    /* The host's close adds its reply. */
    FZ_CHECK(h->chk.finals <= (h->lmtp ? 2 : 1) * h->lfs + 3 + (size_t)h->host_closed);
    if (h->host_closed)
        FZ_CHECK(h->saw_close);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size > MAX_INPUT)
        return 0;
    smtpcore_server_config cfg;
    int structured = config(&cfg, data);
    static host h;
    memset(&h, 0, sizeof h);
    smtpcore_allocator alloc = fz_counting_allocator(&h.alloc);
    cfg.allocator = &alloc;
    fz_init(&h.src, data + 8, size - 8);
    h.sent = (const char *)data + 8;
    fz_reply_checker_init(&h.chk);
    /* Bit 2 of the output-size byte: the host closes the session at some point. */
    h.close_mode = (data[5] & 4u) != 0;
    if (h.close_mode)
        h.close_at = fz_ctl32(&h.src) % (size - 8 + 1);
    /* Bit 3 of it: the host gives the buffers back whenever the session is idle. */
    h.release_mode = (data[5] & 8u) != 0;
    /* Bit 4 of it: the host loop is accept_next(). */
    h.next_mode = (data[5] & 16u) != 0;
    if (smtpcore_server_new(&h.s, &cfg) != SMTPCORE_OK)
        return 0;
    h.mem0 = smtpcore_server_memory(h.s);
    h.lmtp = smtpcore_server_lmtp(h.s);
    FZ_CHECK(h.lmtp == (cfg.lmtp != 0));
    h.allocs0 = h.alloc.mallocs + h.alloc.reallocs;
    FZ_CHECK(h.mem0 > 0 && h.allocs0 > 0);
    if (structured) {
        h.sent = NULL; /* the wire bytes come from the unit table */
        run_structured(&h);
    }
    else
        run_raw(&h);
    /* Output never ends in the middle of a reply line. */
    FZ_CHECK(fz_reply_checker_idle(&h.chk));
    smtpcore_server_del(h.s);
    FZ_CHECK(h.alloc.live == 0); /* everything freed, through the host's allocator */
    return 0;
}
