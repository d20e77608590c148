/* SPDX-License-Identifier: MIT */
/* Client transcript runner (the shared dialect: tests/transcripts/README.md).
 *
 * The script is interpreted line by line. Consecutive S: lines form one block of server
 * bytes, fed (split according to the mode) when the next other line comes; events are
 * drained after every receive and every host action (H:), and all output is collected.
 * E= / E~ and C: lines then consume, in order, from the logs of events and output: so the
 * result is the same whatever the split, and nothing may be left unchecked at the end.
 * E! lines are checked against the whole event log at the end. */
#include "client_script.h"
#include "transcript_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>



static const char *const ccs_ev_names[] = {
    "NONE", "GREETING", "STARTTLS", "AUTH_CHALLENGE", "AUTH_RESULT", "READY", "MAIL_RESULT",
    "RCPT_RESULT", "SEND_BODY", "MESSAGE_RESULT", "REPLY", "PROTOCOL_ERROR", "CLOSED",
    "DELIVERY_RESULT", "XCLIENT_RESULT"};

static const char *ccs_failure_name(smtpcore_failure f)
{
    switch (f) {
    case SMTPCORE_SUCCESS: return "OK";
    case SMTPCORE_FAIL_TRANSIENT: return "TRANSIENT";
    case SMTPCORE_FAIL_PERMANENT: return "PERMANENT";
    case SMTPCORE_FAIL_LOCAL: return "LOCAL";
    }
    return "?";
}

static const char *ccs_viol(int v)
{
    return ts_violation_name(v);
}

void ccs_format_event(const void *evp, char *out, size_t cap)
{
    const smtpcore_client_event *ev = evp;
    size_t n = sizeof(ccs_ev_names) / sizeof(ccs_ev_names[0]);
    const char *name = (size_t)ev->type < n ? ccs_ev_names[ev->type] : "?";
    const char *fl = ccs_failure_name(ev->failure);
    switch (ev->type) {
    case SMTPCORE_CEV_GREETING:
        snprintf(out, cap, "%s %d", name, ev->reply.code);
        break;
    case SMTPCORE_CEV_AUTH_CHALLENGE: {
        char esc[512];
        size_t o = 0;
        for (size_t i = 0; i < ev->data.len && o + 5 < sizeof esc; i++) {
            unsigned char ch = (unsigned char)ev->data.ptr[i];
            if (ch > 32 && ch < 127 && ch != '\\')
                esc[o++] = (char)ch;
            else
                o += (size_t)snprintf(esc + o, sizeof esc - o, "\\x%02x", ch);
        }
        esc[o] = '\0';
        snprintf(out, cap, "%s %s", name, esc);
        break;
    }
    case SMTPCORE_CEV_AUTH_RESULT:
        snprintf(out, cap, "%s %d %s %s", name, ev->reply.code, fl, ccs_viol(ev->violation));
        break;
    case SMTPCORE_CEV_MAIL_RESULT:
    case SMTPCORE_CEV_REPLY:
    case SMTPCORE_CEV_XCLIENT_RESULT:
        snprintf(out, cap, "%s %d %s", name, ev->reply.code, fl);
        break;
    case SMTPCORE_CEV_RCPT_RESULT:
    case SMTPCORE_CEV_DELIVERY_RESULT:
        snprintf(out, cap, "%s %zu %d %s", name, ev->rcpt_index, ev->reply.code, fl);
        break;
    case SMTPCORE_CEV_MESSAGE_RESULT:
        snprintf(out, cap, "%s %d %s %zu/%zu %s", name, ev->reply.code, fl, ev->rcpt_accepted,
                 ev->rcpt_total, ccs_viol(ev->violation));
        break;
    case SMTPCORE_CEV_PROTOCOL_ERROR:
        snprintf(out, cap, "%s %s %d", name, ccs_viol(ev->violation), ev->reply.code);
        break;
    case SMTPCORE_CEV_CLOSED:
        snprintf(out, cap, "%s %s %s %d", name, fl, ccs_viol(ev->violation), ev->reply.code);
        break;
    default:
        snprintf(out, cap, "%s", name);
        break;
    }
    /* Then the reply's whole text as the host sees it (smtpcore_reply_text(), lines
     * joined by \n), quoted and escaped, so E: lines may check it; prefix matching lets
     * them leave it out. */
    if (ev->type != SMTPCORE_CEV_AUTH_CHALLENGE && ev->reply.code != 0) {
        char text[1024];
        size_t tl = smtpcore_reply_text(&ev->reply, text, sizeof text);
        if (tl >= sizeof text)
            tl = sizeof text - 1;
        size_t o = strlen(out);
        if (o + 2 < cap) {
            out[o++] = ' ';
            out[o++] = '"';
        }
        for (size_t i = 0; i < tl && o + 5 < cap; i++) {
            unsigned char ch = (unsigned char)text[i];
            if (ch == '\n')
                o += (size_t)snprintf(out + o, cap - o, "\\n");
            else if (ch >= 32 && ch < 127 && ch != '"' && ch != '\\')
                out[o++] = (char)ch;
            else
                o += (size_t)snprintf(out + o, cap - o, "\\x%02x", ch);
        }
        if (o + 1 < cap)
            out[o++] = '"';
        out[o < cap ? o : cap - 1] = '\0';
    }
}

typedef struct ccs_run {
    const char *name;
    ccs_mode mode;
    uint64_t param, rng;
    smtpcore_client_config cfg;
    char strs[6][1024]; /* helo, user, pass, mech, proxy source, proxy destination */
    smtpcore_client *c;
    ts_bytes events; /* formatted events, one per line */
    ts_bytes out;    /* client output */
    ts_bytes block;  /* pending server bytes */
    ts_bytes never;  /* E! lines, one per line, checked at the end */
    int bad_value;   /* a value did not fit its buffer (ccs_unescape failed) */
    size_t lineno;
    char *err;
    size_t errcap;
} ccs_run;

static int ccs_fail(ccs_run *r, const char *fmt, ...)
{
    int n = snprintf(r->err, r->errcap, "%s:%zu (mode %d/%llu): ", r->name, r->lineno,
                     (int)r->mode, (unsigned long long)r->param);
    if (n < 0 || (size_t)n >= r->errcap)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errcap - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Decodes an escaped value into out[cap] and NUL-terminates it; a value that does not fit
 * fails the file instead of being cut. *n gets the decoded length. */
static int ccs_unescape(ccs_run *r, const char *in, char *out, size_t cap, size_t *n)
{
    size_t len = strlen(in);
    if (ts_unescaped_len(in, len) >= cap) {
        r->bad_value = 1;
        return ccs_fail(r, "value longer than the runner's %zu bytes: %.60s", cap - 1, in);
    }
    *n = ts_unescape(in, len, out, cap - 1);
    out[*n] = '\0';
    return 0;
}

static void ccs_collect(ccs_run *r)
{
    const char *p;
    size_t n = smtpcore_client_output(r->c, &p);
    if (n) {
        ts_put(&r->out, p, n);
        smtpcore_client_consume(r->c, n);
    }
}

static int ccs_drain(ccs_run *r)
{
    for (int guard = 0; guard < 100000; guard++) {
        ccs_collect(r);
        const smtpcore_client_event *ev;
        if (smtpcore_client_next_event(r->c, &ev) != SMTPCORE_OK)
            return ccs_fail(r, "next_event failed");
        if (ev->type == SMTPCORE_CEV_NONE) {
            ccs_collect(r);
            return 0;
        }
        /* Slices must be readable (ASan checks the whole reply). */
        volatile char sink = 0;
        for (size_t i = 0; i < ev->reply.raw.len; i++)
            sink ^= ev->reply.raw.ptr[i];
        (void)sink;
        char line[1024];
        ccs_format_event(ev, line, sizeof line);
        ts_put(&r->events, line, strlen(line));
        ts_put(&r->events, "\n", 1);
    }
    return ccs_fail(r, "events never end");
}

static int ccs_deliver(ccs_run *r, const char *p, size_t n)
{
    int stuck = 0;
    while (n > 0) {
        size_t used = 0;
        int rc = smtpcore_client_receive(r->c, p, n, &used);
        if (rc == SMTPCORE_ERR_CLOSED)
            return 0; /* the rest is never read */
        if (rc != SMTPCORE_OK)
            return ccs_fail(r, "receive: %s", smtpcore_strerror(rc));
        p += used;
        n -= used;
        if (ccs_drain(r) != 0)
            return -1;
        if (used == 0 && ++stuck > 3)
            return ccs_fail(r, "receive takes no bytes");
    }
    return 0;
}

static int ccs_flush_block(ccs_run *r)
{
    size_t len = r->block.len;
    const char *p = r->block.p;
    r->block.len = 0;
    if (len == 0)
        return 0;
    size_t pos = 0;
    while (pos < len) {
        size_t k = len - pos;
        switch (r->mode) {
        case CCS_WHOLE: break;
        case CCS_BYTES: k = 1; break;
        case CCS_SPLIT_AT:
            if (pos == 0 && r->param > 0 && r->param < len)
                k = (size_t)r->param;
            break;
        case CCS_RANDOM: k = 1 + (size_t)(ts_rand(&r->rng) % (len - pos < 40 ? len - pos : 40)); break;
        }
        if (ccs_deliver(r, p + pos, k) != 0)
            return -1;
        pos += k;
    }
    return ccs_drain(r);
}

static int ccs_error_code(const char *s)
{
#define CCS_ERR(name) {#name, SMTPCORE_ERR_##name}
    static const struct { const char *n; int v; } t[] = {
        {"OK", SMTPCORE_OK}, CCS_ERR(INVALID_ARGUMENT), CCS_ERR(NOMEM),
        CCS_ERR(INVALID_STATE), CCS_ERR(BUFFER_FULL), CCS_ERR(CLOSED), CCS_ERR(INJECTION),
        CCS_ERR(SYNTAX), CCS_ERR(UNSUPPORTED), CCS_ERR(TOO_LONG), CCS_ERR(NO_ANSWER_PENDING),
        CCS_ERR(8BIT_NOT_OFFERED)};
#undef CCS_ERR
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (strcmp(t[i].n, s) == 0)
            return t[i].v;
    return 1;
}

static int ccs_config(ccs_run *r, const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return ccs_fail(r, "bad @config: %s", kv);
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
    smtpcore_client_config *c = &r->cfg;
#define KEY(k) (kl == strlen(k) && memcmp(kv, k, kl) == 0)
    size_t sl = 0;
#define STR(i) (ccs_unescape(r, v, r->strs[i], sizeof r->strs[i], &sl) == 0 ? r->strs[i] : NULL)
    if (KEY("helo"))
        c->helo_name = STR(0);
    else if (KEY("user"))
        c->auth_user = STR(1);
    else if (KEY("pass"))
        c->auth_password = STR(2);
    else if (KEY("mech"))
        c->auth_mechanism = STR(3);
    else if (KEY("tls"))
        c->tls_policy = strcmp(v, "never") == 0      ? SMTPCORE_TLS_NEVER
                        : strcmp(v, "required") == 0 ? SMTPCORE_TLS_REQUIRED
                                                     : SMTPCORE_TLS_OPPORTUNISTIC;
    else if (KEY("tls_active"))
        c->tls_active = atoi(v);
    else if (KEY("lmtp"))
        c->lmtp = atoi(v);
    else if (KEY("proxy"))
        c->proxy_protocol = strcmp(v, "v1") == 0   ? SMTPCORE_PROXY_V1
                            : strcmp(v, "v2") == 0 ? SMTPCORE_PROXY_V2
                            : strcmp(v, "any") == 0 ? SMTPCORE_PROXY_ANY
                                                    : SMTPCORE_PROXY_OFF;
    else if (KEY("proxy_src") || KEY("proxy_dst")) {
        /* ADDR PORT (a space: IPv6 addresses hold colons) */
        int src = KEY("proxy_src");
        char *a = STR(src ? 4 : 5);
        char *sp = strchr(a, ' ');
        unsigned port = sp ? (unsigned)strtoul(sp + 1, NULL, 10) : 0;
        if (sp)
            *sp = '\0';
        if (src) {
            c->proxy_src_addr = a;
            c->proxy_src_port = (uint16_t)port;
        } else {
            c->proxy_dst_addr = a;
            c->proxy_dst_port = (uint16_t)port;
        }
    }
    else if (KEY("quirks")) {
        c->quirks = 0;
        if (strstr(v, "no_pipelining"))
            c->quirks |= SMTPCORE_QUIRK_NO_PIPELINING;
        if (strstr(v, "split_quit"))
            c->quirks |= SMTPCORE_QUIRK_SPLIT_QUIT;
        if (strstr(v, "no_chunking"))
            c->quirks |= SMTPCORE_QUIRK_NO_CHUNKING;
        if (strstr(v, "helo_only"))
            c->quirks |= SMTPCORE_QUIRK_HELO_ONLY;
        if (strstr(v, "send_8bit"))
            c->quirks |= SMTPCORE_QUIRK_SEND_8BIT;
    } else if (KEY("input_buffer_size"))
        c->input_buffer_size = strtoul(v, NULL, 10);
    else if (KEY("output_buffer_size"))
        c->output_buffer_size = strtoul(v, NULL, 10);
    else if (KEY("max_reply_line"))
        c->max_reply_line = strtoul(v, NULL, 10);
    else if (KEY("max_recipients"))
        c->max_recipients = strtoul(v, NULL, 10);
    else if (KEY("envelope_buffer_size"))
        c->envelope_buffer_size = strtoul(v, NULL, 10);
    else
        return ccs_fail(r, "unknown @config key: %s", kv);
#undef KEY
#undef STR
    return r->bad_value ? -1 : 0; /* a value too long for its buffer (ccs_unescape) */
}

/* Splits "args -> ERR" into args and the expected return code. */
static int ccs_split_expect(ccs_run *r, char *args, int *expect)
{
    *expect = 0;
    char *arrow = strstr(args, " -> ");
    if (!arrow && strncmp(args, "-> ", 3) == 0)
        arrow = args - 1;
    if (!arrow)
        return 0;
    *expect = ccs_error_code(arrow + 4);
    if (*expect == 1)
        return ccs_fail(r, "unknown error name: %s", arrow + 4);
    if (arrow >= args)
        *arrow = '\0';
    else
        *args = '\0';
    return 0;
}

static char *ccs_word(char **s)
{
    while (**s == ' ')
        (*s)++;
    if (!**s)
        return NULL;
    char *w = *s;
    while (**s && **s != ' ')
        (*s)++;
    if (**s)
        *(*s)++ = '\0';
    return w;
}

static int ccs_mail(ccs_run *r, char *args, int *rc)
{
    char from[512], envid[256], auth[256];
    size_t n = 0;
    smtpcore_mail_params p;
    smtpcore_mail_params_init(&p);
    char *w = ccs_word(&args);
    if (!w)
        return ccs_fail(r, "mail needs an address");
    if (strcmp(w, "<>") == 0)
        from[0] = '\0';
    else
        if (ccs_unescape(r, w, from, sizeof from, &n) != 0)
            return -1;
    while ((w = ccs_word(&args)) != NULL) {
        if (strncmp(w, "SIZE=", 5) == 0) {
            p.has_size = 1;
            p.size = strtoull(w + 5, NULL, 10);
        } else if (strcmp(w, "BODY=8BITMIME") == 0) {
            p.body = SMTPCORE_BODY_8BITMIME;
        } else if (strcmp(w, "BODY=BINARYMIME") == 0) {
            p.body = SMTPCORE_BODY_BINARYMIME;
        } else if (strcmp(w, "BODY=7BIT") == 0) {
            p.body = SMTPCORE_BODY_7BIT;
        } else if (strcmp(w, "SMTPUTF8") == 0) {
            p.smtputf8 = 1;
        } else if (strcmp(w, "RET=FULL") == 0) {
            p.ret = SMTPCORE_RET_FULL;
        } else if (strcmp(w, "RET=HDRS") == 0) {
            p.ret = SMTPCORE_RET_HDRS;
        } else if (strncmp(w, "ENVID=", 6) == 0) {
            if (ccs_unescape(r, w + 6, envid, sizeof envid, &p.envid.len) != 0)
                return -1;
            p.envid.ptr = envid;
        } else if (strncmp(w, "AUTH=", 5) == 0) {
            if (ccs_unescape(r, w + 5, auth, sizeof auth, &p.auth.len) != 0)
                return -1;
            p.auth.ptr = auth;
        } else {
            return ccs_fail(r, "unknown mail parameter %s", w);
        }
    }
    *rc = smtpcore_client_mail(r->c, from, &p);
    return 0;
}

static int ccs_rcpt(ccs_run *r, char *args, int *rc)
{
    char to[512], orcpt[256];
    smtpcore_rcpt_params p;
    memset(&p, 0, sizeof p);
    char *w = ccs_word(&args);
    if (!w)
        return ccs_fail(r, "rcpt needs an address");
    size_t n = 0;
    if (ccs_unescape(r, w, to, sizeof to, &n) != 0)
        return -1;
    while ((w = ccs_word(&args)) != NULL) {
        if (strncmp(w, "NOTIFY=", 7) == 0) {
            if (strstr(w, "NEVER"))
                p.notify |= SMTPCORE_NOTIFY_NEVER;
            if (strstr(w, "SUCCESS"))
                p.notify |= SMTPCORE_NOTIFY_SUCCESS;
            if (strstr(w, "FAILURE"))
                p.notify |= SMTPCORE_NOTIFY_FAILURE;
            if (strstr(w, "DELAY"))
                p.notify |= SMTPCORE_NOTIFY_DELAY;
        } else if (strncmp(w, "ORCPT=", 6) == 0) {
            if (ccs_unescape(r, w + 6, orcpt, sizeof orcpt, &p.orcpt.len) != 0)
                return -1;
            p.orcpt.ptr = orcpt;
        } else {
            return ccs_fail(r, "unknown rcpt parameter %s", w);
        }
    }
    *rc = smtpcore_client_rcpt(r->c, to, &p);
    return 0;
}

/* Feeds a body through smtpcore_client_body(), writing output whenever it fills. */
static int ccs_body(ccs_run *r, const char *data, size_t n, int *rc)
{
    for (int guard = 0; n > 0 && guard < 100000; guard++) {
        size_t used = 0;
        *rc = smtpcore_client_body(r->c, data, n, &used);
        if (*rc != SMTPCORE_OK)
            return 0;
        data += used;
        n -= used;
        if (ccs_drain(r) != 0)
            return -1;
        if (used == 0)
            return ccs_fail(r, "body takes no bytes (waiting for a reply?)");
    }
    return 0;
}

static int ccs_host(ccs_run *r, char *line)
{
    char *args = line;
    char *verb = ccs_word(&args);
    if (!verb)
        return ccs_fail(r, "empty H: line");
    int expect = 0, rc = 0;
    char buf[4096];
    if (strcmp(verb, "body") == 0 || strcmp(verb, "auth") == 0) {
        /* The rest of the line is data (escaped), then an optional "-> ERR" suffix. */
        if (ccs_split_expect(r, args, &expect) != 0)
            return -1;
        while (*args == ' ')
            args++;
        size_t n = 0;
        if (ccs_unescape(r, args, buf, sizeof buf, &n) != 0)
            return -1;
        if (verb[0] == 'b') {
            if (ccs_body(r, buf, n, &rc) != 0)
                return -1;
        } else {
            rc = smtpcore_client_auth_respond(r->c, buf, n);
        }
    } else {
        if (ccs_split_expect(r, args, &expect) != 0)
            return -1;
        if (strcmp(verb, "mail") == 0) {
            if (ccs_mail(r, args, &rc) != 0)
                return -1;
        } else if (strcmp(verb, "rcpt") == 0) {
            if (ccs_rcpt(r, args, &rc) != 0)
                return -1;
        } else if (strcmp(verb, "data") == 0) {
            rc = smtpcore_client_data(r->c);
        } else if (strcmp(verb, "end") == 0) {
            rc = smtpcore_client_body_end(r->c);
        } else if (strcmp(verb, "rset") == 0) {
            rc = smtpcore_client_rset(r->c);
        } else if (strcmp(verb, "noop") == 0) {
            rc = smtpcore_client_noop(r->c);
        } else if (strcmp(verb, "quit") == 0) {
            rc = smtpcore_client_quit(r->c);
        } else if (strcmp(verb, "tls") == 0) {
            rc = smtpcore_client_tls_started(r->c);
        } else if (strcmp(verb, "eof") == 0) {
            rc = smtpcore_client_receive_eof(r->c);
        } else if (strcmp(verb, "xclient") == 0) {
            /* NAME=VALUE words (values escaped like S| lines, \s for a space) */
            const char *names[16], *values[16];
            char store[16][256];
            size_t n = 0;
            for (char *w = ccs_word(&args); w; w = ccs_word(&args)) {
                size_t l = 0;
                if (n == 16)
                    return ccs_fail(r, "more than 16 xclient attributes");
                if (ccs_unescape(r, w, store[n], sizeof store[n], &l) != 0)
                    return -1;
                char *eq = strchr(store[n], '=');
                if (!eq)
                    return ccs_fail(r, "xclient wants NAME=VALUE: %s", w);
                *eq = '\0';
                names[n] = store[n];
                values[n] = eq + 1;
                n++;
            }
            rc = smtpcore_client_xclient(r->c, names, values, n);
        } else if (strcmp(verb, "auth-cancel") == 0) {
            rc = smtpcore_client_auth_respond(r->c, NULL, 0);
        } else {
            return ccs_fail(r, "unknown host action: %s", verb);
        }
    }
    if (rc != expect)
        return ccs_fail(r, "%s returned %d (%s), expected %d", verb, rc, smtpcore_strerror(rc),
                        expect);
    return ccs_drain(r);
}

/* E= (how NEXT): the next event in the log; E~ (LATER): skips events up to a match. */
static int ccs_expect_event(ccs_run *r, const char *want, ts_expect how)
{
    if (!*want)
        return ccs_fail(r, "event line without an event");
    for (;;) {
        const char *have = r->events.p ? r->events.p + r->events.pos : "";
        const char *nl = strchr(have, '\n');
        if (!nl)
            return ccs_fail(r, "expected event \"%s\", got %s", want,
                            how == TS_EXPECT_NEXT ? "none" : "no such event");
        size_t hl = (size_t)(nl - have);
        r->events.pos += hl + 1;
        if (ts_event_matches(have, hl, want))
            return 0;
        if (how == TS_EXPECT_NEXT)
            return ccs_fail(r, "expected event \"%s\", got \"%.*s\"", want, (int)hl, have);
    }
}

/* E! lines: no event of the whole run may match. */
static int ccs_check_never(ccs_run *r)
{
    const char *want = r->never.p;
    for (size_t at = 0; at < r->never.len; at += strlen(want + at) + 1) {
        const char *have = r->events.p ? r->events.p : "";
        for (const char *nl; (nl = strchr(have, '\n')) != NULL; have = nl + 1)
            if (ts_event_matches(have, (size_t)(nl - have), want + at))
                return ccs_fail(r, "event \"%.*s\" happened (E! %s)", (int)(nl - have),
                                have, want + at);
    }
    return 0;
}

static int ccs_expect_out(ccs_run *r, const char *want, size_t wl)
{
    size_t avail = r->out.len - r->out.pos;
    const char *have = r->out.p ? r->out.p + r->out.pos : "";
    if (avail < wl || memcmp(have, want, wl) != 0) {
        size_t show = avail < 200 ? avail : 200;
        return ccs_fail(r, "expected client output \"%.*s\", have \"%.*s\"", (int)wl, want,
                        (int)show, have);
    }
    r->out.pos += wl;
    return 0;
}

static int ccs_start(ccs_run *r)
{
    if (r->c)
        return 0;
    int rc = smtpcore_client_new(&r->c, &r->cfg);
    if (rc != SMTPCORE_OK)
        return ccs_fail(r, "client_new: %s", smtpcore_strerror(rc));
    /* A PROXY header is output before anything is received. */
    return ccs_drain(r);
}

static int ccs_exec(ccs_run *r, char *text)
{
    char *save = NULL;
    r->lineno = 0;
    char *cursor = text;
    while (cursor && *cursor) {
        char *line = cursor;
        char *nl = strchr(cursor, '\n');
        if (nl) {
            *nl = '\0';
            cursor = nl + 1;
        } else {
            cursor = NULL;
        }
        r->lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (l == 0 || line[0] == '#')
            continue;
        if (strncmp(line, "@config ", 8) == 0) {
            if (r->c)
                return ccs_fail(r, "@config after the session started");
            if (ccs_config(r, line + 8) != 0)
                return -1;
            continue;
        }
        const char *carg;
        size_t pl = ts_prefix(line, &carg);
        char p0 = line[0], p1 = pl == 2 ? line[1] : '\0';
        int known = ((p0 == 'S' || p0 == 'C') && (p1 == ':' || p1 == '|')) ||
                    (p0 == 'H' && p1 == ':') ||
                    (p0 == 'E' && (p1 == '=' || p1 == '~' || p1 == '!'));
        if (!known)
            return ccs_fail(r,
                            "unknown line prefix in \"%s\" (dialect: tests/transcripts/README.md;"
                            " @modes, B, P: and X: lines are for the server runner only)",
                            line);
        if (ccs_start(r) != 0)
            return -1;
        char *arg = line + (carg - line);
        size_t al = strlen(arg);
        int raw = p1 == '|';
        if (p0 == 'S') {
            if (raw) {
                ts_put_unescaped(&r->block, arg, al);
            } else {
                ts_put(&r->block, arg, al);
                ts_put(&r->block, "\r\n", 2);
            }
            continue;
        }
        if (ccs_flush_block(r) != 0)
            return -1;
        switch (p0) {
        case 'C': {
            ts_bytes want = {0};
            if (raw) {
                ts_put_unescaped(&want, arg, al);
            } else {
                ts_put(&want, arg, al);
                ts_put(&want, "\r\n", 2);
            }
            int bad = ccs_expect_out(r, want.p, want.len);
            free(want.p);
            if (bad != 0)
                return -1;
            break;
        }
        case 'E':
            if (p1 == '!') {
                if (!*arg)
                    return ccs_fail(r, "event line without an event");
                ts_put(&r->never, arg, al + 1); /* with its NUL as separator */
            } else if (ccs_expect_event(r, arg, p1 == '=' ? TS_EXPECT_NEXT
                                                          : TS_EXPECT_LATER) != 0) {
                return -1;
            }
            break;
        case 'H':
            if (ccs_host(r, arg) != 0)
                return -1;
            break;
        default:
            return ccs_fail(r, "bad line: %s", line);
        }
    }
    (void)save;
    if (ccs_start(r) != 0 || ccs_flush_block(r) != 0)
        return -1;
    r->lineno++;
    if (ccs_check_never(r) != 0)
        return -1;
    if (r->events.pos < r->events.len)
        return ccs_fail(r, "unchecked events at the end:\n%s", r->events.p + r->events.pos);
    if (r->out.pos < r->out.len)
        return ccs_fail(r, "unchecked client output at the end: \"%.*s\"",
                        (int)(r->out.len - r->out.pos), r->out.p + r->out.pos);
    return 0;
}

int ccs_run_text(const char *name, const char *text, size_t len, ccs_mode mode, uint64_t param,
                 char *err, size_t errcap)
{
    ccs_run r;
    memset(&r, 0, sizeof r);
    r.name = name;
    r.mode = mode;
    r.param = param;
    r.rng = param * 0x9E3779B97F4A7C15ull + 1;
    r.err = err;
    r.errcap = errcap;
    smtpcore_client_config_init(&r.cfg);
    strcpy(r.strs[0], "client.example.org");
    r.cfg.helo_name = r.strs[0];
    char *copy = malloc(len + 1);
    if (!copy)
        abort();
    memcpy(copy, text, len);
    copy[len] = '\0';
    int rc = ccs_exec(&r, copy);
    free(copy);
    smtpcore_client_del(r.c);
    free(r.events.p);
    free(r.out.p);
    free(r.block.p);
    free(r.never.p);
    return rc;
}

/* Longest block of consecutive S: lines, to bound the split-at offsets. */
static size_t ccs_longest_block(const char *text)
{
    size_t best = 0, cur = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (l >= 2 && p[0] == 'S' && (p[1] == ':' || p[1] == '|'))
            cur += l + 2;
        else if (l > 0 && p[0] != '#')
            cur = 0;
        if (cur > best)
            best = cur;
        p += l + (nl ? 1 : 0);
    }
    return best;
}

int ccs_run_file_all(const char *path, unsigned random_runs, char *err, size_t errcap)
{
    ts_bytes b = {0};
    if (ts_read_file(path, &b) != 0) {
        free(b.p);
        snprintf(err, errcap, "cannot read %s", path);
        return -1;
    }
    const char *text = b.p;
    size_t len = b.len;
    int rc = ccs_run_text(path, text, len, CCS_WHOLE, 0, err, errcap);
    if (rc == 0)
        rc = ccs_run_text(path, text, len, CCS_BYTES, 0, err, errcap);
    size_t longest = ccs_longest_block(text);
    for (size_t k = 1; rc == 0 && k < longest; k++)
        rc = ccs_run_text(path, text, len, CCS_SPLIT_AT, k, err, errcap);
    for (unsigned s = 1; rc == 0 && s <= random_runs; s++)
        rc = ccs_run_text(path, text, len, CCS_RANDOM, s, err, errcap);
    free(b.p);
    return rc;
}
