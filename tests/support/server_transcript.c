/* SPDX-License-Identifier: MIT */
/* Server transcript runner (format: tests/transcripts/README.md). */
#include "server_transcript.h"
#include "transcript_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

static void sct_puts(ts_bytes *b, const char *s)
{
    ts_put(b, s, strlen(s));
}

/* ---- names ---- */

static const char *const sct_event_names[] = {
    "NONE", "CONNECT", "HELO", "MAIL", "RCPT", "DATA", "BODY", "MESSAGE_END", "MESSAGE_ABORTED",
    "RSET", "NOOP", "VRFY", "EXPN", "HELP", "STARTTLS", "AUTH", "QUIT", "PROTOCOL_ERROR", "CLOSE",
    "PROXY", "XCLIENT"};

const char *sct_event_name(int type)
{
    size_t n = sizeof(sct_event_names) / sizeof(sct_event_names[0]);
    return type >= 0 && (size_t)type < n ? sct_event_names[type] : "?";
}

const char *sct_violation_name(int v)
{
    return ts_violation_name(v);
}


/* ---- parsed transcript ---- */

enum { SCT_OP_FEED, SCT_OP_SYNC, SCT_OP_TLS, SCT_OP_EOF, SCT_OP_CLOSE };

typedef struct sct_op {
    int kind;
    size_t off, len; /* FEED: slice of client bytes */
} sct_op;

typedef struct sct_answer {
    int type; /* event type it applies to, or -1 for the next answer-required event */
    size_t after_op; /* armed once the runner reaches this op (its place in the file) */
    int kind; /* 0 accept, 1 reject, 2 reply, 3 close_with, 4 shutdown (code: reason) */
    int code;
    char enh[16];
    int has_enh;
    char text[512];
    int has_text;
    /* LMTP: "H: answer MESSAGE_END rcpt N [later] accept|reject|reply ...", one recipient's
     * reply (smtpcore_server_reply_rcpt); "later": given only after next_event() has
     * returned NONE, one deferred answer per NONE. */
    int rcpt;
    size_t rcpt_index;
    int later;
} sct_answer;

typedef struct sct_expect_ev {
    int type;
    int violation; /* -1: any */
    ts_expect how; /* E=, E~ or E! */
} sct_expect_ev;

/* Limits of one transcript; a file that needs more fails with a message saying so. */
enum { SCT_MAX_OPS = 512, SCT_MAX_ANSWERS = 128, SCT_MAX_EXPECT = 128, SCT_MAX_EVENTS = 4096 };

typedef struct sct_script {
    smtpcore_server_config cfg;
    const char *own[8];
    char own_store[8][64];
    unsigned modes;
    ts_bytes client;
    ts_bytes expect_out;
    sct_op ops[SCT_MAX_OPS];
    size_t nops;
    sct_answer answers[SCT_MAX_ANSWERS];
    size_t nanswers;
    sct_expect_ev evs[SCT_MAX_EXPECT];
    size_t nevs;
    ts_bytes bodies[16];
    int body_skip[16];
    size_t nbodies;
    const char *proxy_expect; /* P: line, checked against smtpcore_server_proxy_header() */
    const char *xclient_expect[8]; /* X: lines, one per XCLIENT event, in order */
    size_t nxclient;
    sct_answer closes[8]; /* H: close / H: shutdown, by op.off */
    size_t ncloses;
} sct_script;

static int sct_fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int sct_lookup(const char *const *names, size_t n, const char *w, size_t wl)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == wl && memcmp(names[i], w, wl) == 0)
            return (int)i;
    return -1;
}

static uint32_t sct_ext_bit(const char *w, size_t n)
{
    static const struct { const char *name; uint32_t bit; } t[] = {
        {"PIPELINING", SMTPCORE_EXT_PIPELINING}, {"SIZE", SMTPCORE_EXT_SIZE},
        {"8BITMIME", SMTPCORE_EXT_8BITMIME}, {"SMTPUTF8", SMTPCORE_EXT_SMTPUTF8},
        {"DSN", SMTPCORE_EXT_DSN}, {"ENHANCEDSTATUSCODES", SMTPCORE_EXT_ENHANCEDSTATUSCODES},
        {"CHUNKING", SMTPCORE_EXT_CHUNKING}, {"BINARYMIME", SMTPCORE_EXT_BINARYMIME},
        {"STARTTLS", SMTPCORE_EXT_STARTTLS}, {"AUTH", SMTPCORE_EXT_AUTH},
        {"VRFY", SMTPCORE_EXT_VRFY}, {"HELP", SMTPCORE_EXT_HELP},
        {"PLAIN", SMTPCORE_AUTH_PLAIN}, {"LOGIN", SMTPCORE_AUTH_LOGIN},
        {"XOAUTH2", SMTPCORE_AUTH_XOAUTH2}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strlen(t[i].name) == n && memcmp(t[i].name, w, n) == 0)
            return t[i].bit;
    return 0;
}

/* "A,B,C" -> OR of bits; 0 and *ok = 0 on an unknown name. */
static uint32_t sct_bits(const char *v, int *ok)
{
    uint32_t r = 0;
    while (*v) {
        const char *e = strchr(v, ',');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        uint32_t b = sct_ext_bit(v, n);
        if (!b && n)
            *ok = 0;
        r |= b;
        v += n + (e ? 1 : 0);
    }
    return r;
}

static int sct_config(sct_script *sc, const char *kv, char *err, size_t cap)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return sct_fail(err, cap, "bad @config line: %s", kv);
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
    int ok = 1;
    smtpcore_server_config *c = &sc->cfg;
#define KEY(k) (kl == strlen(k) && memcmp(kv, k, kl) == 0)
    if (KEY("ext"))
        c->extensions = sct_bits(v, &ok);
    else if (KEY("ext+"))
        c->extensions |= sct_bits(v, &ok);
    else if (KEY("ext-"))
        c->extensions &= ~sct_bits(v, &ok);
    else if (KEY("auth"))
        c->auth_mechs = sct_bits(v, &ok);
    else if (KEY("max_message_size"))
        c->max_message_size = strtoull(v, NULL, 10);
    else if (KEY("max_recipients"))
        c->max_recipients = (uint32_t)strtoul(v, NULL, 10);
    else if (KEY("max_errors"))
        c->max_errors = (uint32_t)strtoul(v, NULL, 10);
    else if (KEY("max_auth_failures"))
        c->max_auth_failures = (uint32_t)strtoul(v, NULL, 10);
    else if (KEY("max_command_line"))
        c->max_command_line = strtoul(v, NULL, 10);
    else if (KEY("max_text_line"))
        c->max_text_line = strtoul(v, NULL, 10);
    else if (KEY("input_buffer_size"))
        c->input_buffer_size = strtoul(v, NULL, 10);
    else if (KEY("output_buffer_size"))
        c->output_buffer_size = strtoul(v, NULL, 10);
    else if (KEY("helo"))
        c->helo_policy = strcmp(v, "optional") == 0 ? SMTPCORE_HELO_OPTIONAL
                                                    : SMTPCORE_HELO_REQUIRED;
    else if (KEY("bare_lf"))
        c->bare_lf_policy = strcmp(v, "accept") == 0 ? SMTPCORE_BARE_LF_ACCEPT
                                                     : SMTPCORE_BARE_LF_REJECT;
    else if (KEY("talker"))
        c->talker_policy = strcmp(v, "reject") == 0 ? SMTPCORE_TALKER_REJECT
                                                    : SMTPCORE_TALKER_NOTE;
    else if (KEY("nul"))
        c->nul_policy = strcmp(v, "accept") == 0 ? SMTPCORE_NUL_ACCEPT : SMTPCORE_NUL_REJECT;
    else if (KEY("sync"))
        c->sync_policy = strcmp(v, "all") == 0      ? SMTPCORE_SYNC_ALL
                         : strcmp(v, "unauth") == 0 ? SMTPCORE_SYNC_UNAUTH
                                                    : SMTPCORE_SYNC_OFF;
    else if (KEY("injection"))
        c->injection_policy = strcmp(v, "discard") == 0 ? SMTPCORE_INJECTION_DISCARD
                                                        : SMTPCORE_INJECTION_REJECT;
    else if (KEY("plaintext_auth"))
        c->allow_plaintext_auth = atoi(v);
    else if (KEY("tls_active"))
        c->tls_active = atoi(v);
    else if (KEY("lmtp"))
        c->lmtp = atoi(v);
    else if (KEY("proxy")) {
        if (strcmp(v, "v1") == 0)
            c->proxy_protocol = SMTPCORE_PROXY_V1;
        else if (strcmp(v, "v2") == 0)
            c->proxy_protocol = SMTPCORE_PROXY_V2;
        else if (strcmp(v, "any") == 0)
            c->proxy_protocol = SMTPCORE_PROXY_ANY;
        else if (strcmp(v, "off") == 0)
            c->proxy_protocol = SMTPCORE_PROXY_OFF;
        else
            ok = 0;
    } else if (KEY("proxy_max_header"))
        c->proxy_max_header = strtoul(v, NULL, 10);
    else if (KEY("xclient"))
        c->xclient_allowed = atoi(v);
    else if (KEY("hostname"))
        c->hostname = v; /* points into the script text, alive during the run */
    else if (KEY("greeting"))
        c->greeting_text = v;
    else if (KEY("own_names")) {
        size_t n = 0;
        while (*v && n < 8) {
            const char *e = strchr(v, ',');
            size_t l = e ? (size_t)(e - v) : strlen(v);
            if (l >= sizeof(sc->own_store[0]))
                l = sizeof(sc->own_store[0]) - 1;
            memcpy(sc->own_store[n], v, l);
            sc->own_store[n][l] = '\0';
            sc->own[n] = sc->own_store[n];
            n++;
            v += l + (e ? 1 : 0);
        }
        c->own_names = sc->own;
        c->own_names_count = n;
    } else
        return sct_fail(err, cap, "unknown @config key: %s", kv);
#undef KEY
    return ok ? 0 : sct_fail(err, cap, "unknown name in: %s", kv);
}

static int sct_answer_parse(sct_answer *a, const char *s, char *err, size_t cap)
{
    memset(a, 0, sizeof(*a));
    size_t tl = strcspn(s, " ");
    a->type = sct_lookup(sct_event_names, sizeof(sct_event_names) / sizeof(char *), s, tl);
    if (a->type >= 0) {
        s += tl;
        while (*s == ' ')
            s++;
    }
    if (a->type == SMTPCORE_SEV_MESSAGE_END && strncmp(s, "rcpt ", 5) == 0) {
        char *end;
        a->rcpt = 1;
        a->rcpt_index = (size_t)strtoul(s + 5, &end, 10);
        s = end;
        while (*s == ' ')
            s++;
        if (strncmp(s, "later ", 6) == 0) {
            a->later = 1;
            s += 6;
        }
    }
    if (strncmp(s, "accept", 6) == 0) {
        a->kind = 0;
        return 0;
    }
    if (strncmp(s, "shutdown ", 9) == 0) {
        a->kind = 4;
        if (strcmp(s + 9, "timeout") == 0)
            a->code = SMTPCORE_SHUTDOWN_TIMEOUT;
        else if (strcmp(s + 9, "service") == 0)
            a->code = SMTPCORE_SHUTDOWN_SERVICE;
        else
            return sct_fail(err, cap, "bad shutdown reason: %s", s);
        return 0;
    }
    if (strncmp(s, "reject ", 7) == 0)
        a->kind = 1, s += 7;
    else if (strncmp(s, "reply ", 6) == 0)
        a->kind = 2, s += 6;
    else if (strncmp(s, "close ", 6) == 0)
        a->kind = 3, s += 6;
    else
        return sct_fail(err, cap, "bad answer: %s", s);
    char *end;
    a->code = (int)strtol(s, &end, 10);
    s = end;
    while (*s == ' ')
        s++;
    size_t wl = strcspn(s, " ");
    if (wl > 0 && wl < sizeof(a->enh) && s[0] >= '0' && s[0] <= '9' && memchr(s, '.', wl)) {
        memcpy(a->enh, s, wl);
        a->enh[wl] = '\0';
        a->has_enh = 1;
        s += wl;
    } else if (wl == 1 && s[0] == '-') {
        s += 1;
    }
    while (*s == ' ')
        s++;
    if (*s) {
        if (ts_unescaped_len(s, strlen(s)) >= sizeof(a->text))
            return sct_fail(err, cap, "reply text longer than %zu bytes: %s",
                            sizeof(a->text) - 1, s);
        size_t n = ts_unescape(s, strlen(s), a->text, sizeof(a->text) - 1);
        a->text[n] = '\0';
        a->has_text = 1;
    }
    return 0;
}

static int sct_flush_feed(sct_script *sc, size_t *feed_start, char *err, size_t cap)
{
    if (sc->client.len > *feed_start) {
        if (sc->nops >= SCT_MAX_OPS)
            return sct_fail(err, cap, "more than %d blocks and sync points", SCT_MAX_OPS);
        sct_op *op = &sc->ops[sc->nops++];
        op->kind = SCT_OP_FEED;
        op->off = *feed_start;
        op->len = sc->client.len - *feed_start;
    }
    *feed_start = sc->client.len;
    return 0;
}

static int sct_add_op(sct_script *sc, int kind, char *err, size_t cap)
{
    if (sc->nops >= SCT_MAX_OPS)
        return sct_fail(err, cap, "more than %d blocks and sync points", SCT_MAX_OPS);
    sc->ops[sc->nops++].kind = kind;
    return 0;
}

/* A line whose prefix the dialect does not have (an old-dialect file among them) fails
 * the file rather than being skipped. */
static int sct_unknown_prefix(const char *line, char *err, size_t cap)
{
    return sct_fail(err, cap,
                    "unknown line prefix in \"%s\" (dialect: tests/transcripts/README.md; "
                    "scripts/transcript_dialect.py converts the old one)",
                    line);
}

/* H: lines. "answer ..." is armed here and given to a later event (it does not end the
 * block of client bytes); tls, eof, shutdown and close happen now, at a sync point. */
static int sct_host(sct_script *sc, const char *arg, size_t *feed_start, char *err, size_t cap)
{
    if (strncmp(arg, "answer ", 7) == 0) {
        if (sc->nanswers >= SCT_MAX_ANSWERS)
            return sct_fail(err, cap, "more than %d H: answer lines", SCT_MAX_ANSWERS);
        if (sct_answer_parse(&sc->answers[sc->nanswers], arg + 7, err, cap) != 0)
            return -1;
        sc->answers[sc->nanswers++].after_op = sc->nops;
        return 0;
    }
    if (sct_flush_feed(sc, feed_start, err, cap) != 0)
        return -1;
    if (strcmp(arg, "tls") == 0)
        return sct_add_op(sc, SCT_OP_TLS, err, cap);
    if (strcmp(arg, "eof") == 0)
        return sct_add_op(sc, SCT_OP_EOF, err, cap);
    if (strncmp(arg, "close ", 6) == 0 || strncmp(arg, "shutdown ", 9) == 0) {
        if (sc->ncloses >= 8)
            return sct_fail(err, cap, "more than 8 H: close/shutdown lines");
        sct_answer *c = &sc->closes[sc->ncloses];
        if (sct_answer_parse(c, arg, err, cap) != 0 ||
            sct_add_op(sc, SCT_OP_CLOSE, err, cap) != 0)
            return -1;
        sc->ops[sc->nops - 1].off = sc->ncloses++;
        return 0;
    }
    return sct_fail(err, cap, "unknown host action: H: %s", arg);
}

/* E= / E~ / E! EVENT [VIOLATION], with the names checked here so a typo fails. */
static int sct_expect_parse(sct_script *sc, const char *line, const char *arg, char *err,
                            size_t cap)
{
    if (sc->nevs >= SCT_MAX_EXPECT)
        return sct_fail(err, cap, "more than %d event lines", SCT_MAX_EXPECT);
    sct_expect_ev *e = &sc->evs[sc->nevs++];
    size_t wl = strcspn(arg, " ");
    e->type = sct_lookup(sct_event_names, sizeof(sct_event_names) / sizeof(char *), arg, wl);
    e->violation = -1;
    e->how = line[1] == '=' ? TS_EXPECT_NEXT : line[1] == '~' ? TS_EXPECT_LATER
                                                              : TS_EXPECT_NEVER;
    if (e->type < 0)
        return sct_fail(err, cap, "unknown event: %s", line);
    if (arg[wl] == ' ') {
        const char *v = arg + wl + 1;
        e->violation = ts_violation_lookup(v, strlen(v));
        if (e->violation < 0)
            return sct_fail(err, cap, "unknown violation: %s", line);
    }
    return 0;
}

static int sct_parse(sct_script *sc, char *text, char *err, size_t cap)
{
    smtpcore_server_config_init(&sc->cfg);
    sc->modes = 7;
    size_t feed_start = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (l == 0 || line[0] == '#')
            continue;
        if (strncmp(line, "@config ", 8) == 0) {
            if (sct_config(sc, line + 8, err, cap) != 0)
                return -1;
            continue;
        }
        if (strncmp(line, "@modes ", 7) == 0) {
            sc->modes = 0;
            if (strstr(line, "whole"))
                sc->modes |= 1u << SCT_WHOLE;
            if (strstr(line, "bytes"))
                sc->modes |= 1u << SCT_BYTES;
            if (strstr(line, "random"))
                sc->modes |= 1u << SCT_RANDOM;
            continue;
        }
        const char *arg;
        size_t pl = ts_prefix(line, &arg);
        if (pl != 2)
            return sct_unknown_prefix(line, err, cap);
        size_t al = strlen(arg);
        char p0 = line[0], p1 = line[1];
        if (p0 == 'B' && p1 == '-') {
            /* a message whose body is not checked */
            if (sc->nbodies >= 16)
                return sct_fail(err, cap, "too many B lines");
            sc->body_skip[sc->nbodies++] = 1;
        } else if ((p0 == 'C' || p0 == 'S' || p0 == 'B') && (p1 == ':' || p1 == '|')) {
            ts_bytes *dst = p0 == 'C' ? &sc->client : &sc->expect_out;
            if (p0 == 'S' && (sct_flush_feed(sc, &feed_start, err, cap) != 0 ||
                              sct_add_op(sc, SCT_OP_SYNC, err, cap) != 0))
                return -1;
            if (p0 == 'B') {
                if (p1 != '|')
                    return sct_unknown_prefix(line, err, cap);
                if (sc->nbodies >= 16)
                    return sct_fail(err, cap, "too many B lines");
                dst = &sc->bodies[sc->nbodies++];
                ts_put(dst, "", 0);
            }
            if (p1 == '|') {
                ts_put_unescaped(dst, arg, al);
            } else {
                ts_put(dst, arg, al);
                ts_put(dst, "\r\n", 2);
            }
        } else if (p0 == 'H' && p1 == ':') {
            if (sct_host(sc, arg, &feed_start, err, cap) != 0)
                return -1;
        } else if (p0 == 'E' && (p1 == '=' || p1 == '~' || p1 == '!')) {
            if (sct_expect_parse(sc, line, arg, err, cap) != 0)
                return -1;
        } else if (p0 == 'P' && p1 == ':') {
            sc->proxy_expect = arg; /* points into the script text */
        } else if (p0 == 'X' && p1 == ':') {
            if (sc->nxclient >= 8)
                return sct_fail(err, cap, "too many X: lines");
            sc->xclient_expect[sc->nxclient++] = arg;
        } else {
            return sct_unknown_prefix(line, err, cap);
        }
    }
    if (sct_flush_feed(sc, &feed_start, err, cap) != 0)
        return -1;
    return sct_add_op(sc, SCT_OP_SYNC, err, cap);
}

/* ---- running ---- */

typedef struct sct_run {
    sct_script *sc;
    smtpcore_server *s;
    ts_bytes out;
    ts_bytes events; /* "TYPE VIOLATION\n" per event */
    int ev_types[SCT_MAX_EVENTS];
    int ev_viol[SCT_MAX_EVENTS];
    size_t nev;
    ts_bytes bodies[16];
    size_t nbodies;
    ts_bytes cur_body;
    size_t next_answer;
    size_t deferred[SCT_MAX_ANSWERS]; /* LMTP "later" answers, in file order */
    size_t ndeferred, deferred_at;
    size_t op; /* index of the op being run */
    int starttls_seen;
    int closed_input;
    ts_bytes xclient_seen[8]; /* attributes of each XCLIENT event, formatted like X: */
    size_t nxclient;
    uint64_t rng;
    char *err;
    size_t errcap;
    int too_many_events; /* more than SCT_MAX_EVENTS: the file fails */
} sct_run;

/* A plain answer (or the host ending the session instead of answering). */
static int sct_apply(sct_run *r, const sct_answer *a)
{
    const char *enh = a->has_enh ? a->enh : NULL;
    const char *text = a->has_text ? a->text : NULL;
    switch (a->kind) {
    case 0: return smtpcore_server_accept(r->s);
    case 1: return smtpcore_server_reject(r->s, a->code, enh, text);
    case 3: return smtpcore_server_close_with(r->s, a->code, enh, text);
    case 4: return smtpcore_server_shutdown(r->s, (smtpcore_shutdown_reason)a->code);
    default: return smtpcore_server_reply(r->s, a->code, enh, text);
    }
}

static int sct_give_rcpt(sct_run *r, const sct_answer *a)
{
    const char *enh = a->has_enh ? a->enh : NULL;
    const char *text = a->has_text ? a->text : NULL;
    return smtpcore_server_reply_rcpt(r->s, a->rcpt_index, a->kind == 0 ? 250 : a->code, enh,
                                      text);
}

/* LMTP: recipients no rcpt answer named get the next plain MESSAGE_END answer (one reply
 * for all of them), or accept. */
static int sct_give_rest(sct_run *r)
{
    if (smtpcore_server_rcpt_unanswered(r->s) == 0)
        return SMTPCORE_OK;
    if (r->next_answer < r->sc->nanswers) {
        const sct_answer *a = &r->sc->answers[r->next_answer];
        if (r->op >= a->after_op && !a->rcpt && a->type == SMTPCORE_SEV_MESSAGE_END) {
            r->next_answer++;
            return sct_apply(r, a);
        }
    }
    return smtpcore_server_accept(r->s);
}

static int sct_give_lmtp(sct_run *r)
{
    while (r->next_answer < r->sc->nanswers) {
        const sct_answer *a = &r->sc->answers[r->next_answer];
        if (!a->rcpt || r->op < a->after_op)
            break;
        r->next_answer++;
        if (a->later) {
            r->deferred[r->ndeferred++] = (size_t)(a - r->sc->answers); /* each once */
            continue;
        }
        int rc = sct_give_rcpt(r, a);
        if (rc != SMTPCORE_OK)
            return rc;
    }
    return r->deferred_at < r->ndeferred ? SMTPCORE_OK : sct_give_rest(r);
}

/* One deferred answer, given when next_event() returned NONE. */
static int sct_give_deferred(sct_run *r)
{
    int rc = sct_give_rcpt(r, &r->sc->answers[r->deferred[r->deferred_at++]]);
    if (rc == SMTPCORE_OK && r->deferred_at == r->ndeferred) {
        r->deferred_at = r->ndeferred = 0;
        rc = sct_give_rest(r);
    }
    return rc;
}

static int sct_give_answer(sct_run *r, const smtpcore_server_event *ev)
{
    if (ev->type == SMTPCORE_SEV_MESSAGE_END && smtpcore_server_lmtp(r->s))
        return sct_give_lmtp(r);
    if (r->next_answer >= r->sc->nanswers)
        return smtpcore_server_accept(r->s);
    const sct_answer *a = &r->sc->answers[r->next_answer];
    /* A typed answer waits for an event of its type; others get the default. */
    if (r->op < a->after_op || (a->type >= 0 && a->type != (int)ev->type))
        return smtpcore_server_accept(r->s);
    r->next_answer++;
    return sct_apply(r, a);
}

/* "NAME=value ADDR=[UNAVAILABLE] ..." for the attributes given, in the struct's order. */
static void sct_format_xclient(ts_bytes *b, const smtpcore_xclient_attrs *a)
{
    const struct { const char *n; const smtpcore_xclient_attr *v; } t[] = {
        {"NAME", &a->name}, {"ADDR", &a->addr}, {"PORT", &a->port}, {"PROTO", &a->proto},
        {"HELO", &a->helo}, {"LOGIN", &a->login}, {"DESTADDR", &a->destaddr},
        {"DESTPORT", &a->destport}};
    int first = 1;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].v->state == SMTPCORE_XCLIENT_ABSENT)
            continue;
        if (!first)
            sct_puts(b, " ");
        first = 0;
        sct_puts(b, t[i].n);
        sct_puts(b, "=");
        if (t[i].v->state == SMTPCORE_XCLIENT_UNAVAILABLE)
            sct_puts(b, "[UNAVAILABLE]");
        else if (t[i].v->state == SMTPCORE_XCLIENT_TEMPUNAVAIL)
            sct_puts(b, "[TEMPUNAVAIL]");
        else
            ts_put(b, t[i].v->value.ptr, t[i].v->value.len);
    }
    ts_put(b, "", 0);
}

/* "v2 PROXY INET6 STREAM 2001:db8::1 4711 2001:db8::2 25 tlvs=01:6832,05:6964". */
static void sct_format_proxy(ts_bytes *b, const smtpcore_proxy_header *h)
{
    static const char *const fam[] = {"UNSPEC", "INET", "INET6", "UNIX"};
    static const char *const tr[] = {"UNSPEC", "STREAM", "DGRAM"};
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "v%d %s %s %s ", h->version,
             h->command == SMTPCORE_PROXY_CMD_LOCAL ? "LOCAL" : "PROXY", fam[h->family & 3],
             tr[h->transport % 3]);
    sct_puts(b, tmp);
    ts_put(b, h->src_addr.ptr ? h->src_addr.ptr : "", h->src_addr.len);
    snprintf(tmp, sizeof(tmp), " %u ", (unsigned)h->src_port);
    sct_puts(b, tmp);
    ts_put(b, h->dst_addr.ptr ? h->dst_addr.ptr : "", h->dst_addr.len);
    snprintf(tmp, sizeof(tmp), " %u tlvs=", (unsigned)h->dst_port);
    sct_puts(b, tmp);
    smtpcore_str area = h->tlvs;
    smtpcore_proxy_tlv tlv;
    int first = 1;
    while (smtpcore_proxy_tlv_next(&area, &tlv) == 1) {
        snprintf(tmp, sizeof(tmp), "%s%02x:", first ? "" : ",", tlv.type);
        sct_puts(b, tmp);
        first = 0;
        for (size_t i = 0; i < tlv.value.len; i++) {
            snprintf(tmp, sizeof(tmp), "%02x", (unsigned char)tlv.value.ptr[i]);
            sct_puts(b, tmp);
        }
    }
    ts_put(b, "", 0);
}

static void sct_record(sct_run *r, const smtpcore_server_event *ev)
{
    if (ev->type == SMTPCORE_SEV_XCLIENT && r->nxclient < 8) {
        smtpcore_xclient_attrs a;
        if (smtpcore_server_xclient_attrs(r->s, &a, sizeof a) == SMTPCORE_OK)
            sct_format_xclient(&r->xclient_seen[r->nxclient], &a);
        r->nxclient++;
    }
    if (r->nev < SCT_MAX_EVENTS) {
        r->ev_types[r->nev] = (int)ev->type;
        r->ev_viol[r->nev] = (int)ev->violation;
        r->nev++;
    } else {
        r->too_many_events = 1;
    }
    char line[96];
    int n = snprintf(line, sizeof(line), "%s %s\n", sct_event_name((int)ev->type),
                     sct_violation_name((int)ev->violation));
    if (ev->type != SMTPCORE_SEV_BODY && n > 0)
        ts_put(&r->events, line, (size_t)n);
    if (ev->type == SMTPCORE_SEV_BODY)
        ts_put(&r->cur_body, ev->data.ptr, ev->data.len);
    if (ev->type == SMTPCORE_SEV_MESSAGE_END || ev->type == SMTPCORE_SEV_MESSAGE_ABORTED) {
        if (r->nbodies < 16) {
            r->bodies[r->nbodies] = r->cur_body;
            r->nbodies++;
        } else {
            free(r->cur_body.p);
        }
        memset(&r->cur_body, 0, sizeof(r->cur_body));
        ts_put(&r->cur_body, "", 0);
    }
    if (ev->type == SMTPCORE_SEV_STARTTLS)
        r->starttls_seen = 1;
}

static int sct_drain(sct_run *r)
{
    for (int guard = 0; guard < 10000000; guard++) {
        const smtpcore_server_event *ev;
        int rc = smtpcore_server_next_event(r->s, &ev);
        if (rc != SMTPCORE_OK)
            return sct_fail(r->err, r->errcap, "next_event returned %d", rc);
        if (ev->type == SMTPCORE_SEV_NONE && r->deferred_at < r->ndeferred) {
            rc = sct_give_deferred(r);
            if (rc != SMTPCORE_OK)
                return sct_fail(r->err, r->errcap, "deferred LMTP answer failed: %d", rc);
            continue;
        }
        if (ev->type == SMTPCORE_SEV_NONE) {
            char buf[512];
            size_t n = smtpcore_server_copy_output(r->s, buf, sizeof(buf));
            if (n == 0)
                return 0;
            ts_put(&r->out, buf, n);
            continue;
        }
        sct_record(r, ev);
        if (ev->answer_required) {
            rc = sct_give_answer(r, ev);
            if (rc != SMTPCORE_OK)
                return sct_fail(r->err, r->errcap, "answer to %s failed: %d",
                                sct_event_name((int)ev->type), rc);
        }
    }
    return sct_fail(r->err, r->errcap, "drain did not terminate");
}

static int sct_feed(sct_run *r, const char *p, size_t len, sct_mode mode)
{
    size_t at = 0;
    int stuck = 0;
    while (at < len && !r->closed_input) {
        size_t chunk = len - at;
        if (mode == SCT_BYTES)
            chunk = 1;
        else if (mode == SCT_RANDOM) {
            uint64_t x = ts_rand(&r->rng);
            size_t c = (x & 3) == 0 ? 1 + (size_t)(x >> 8) % 3 : 1 + (size_t)(x >> 8) % 40;
            if (c < chunk)
                chunk = c;
        }
        size_t used = 0;
        int rc = smtpcore_server_receive(r->s, p + at, chunk, &used);
        if (rc == SMTPCORE_ERR_CLOSED) {
            r->closed_input = 1;
            break;
        }
        if (rc != SMTPCORE_OK)
            return sct_fail(r->err, r->errcap, "receive returned %d", rc);
        at += used;
        if (sct_drain(r) != 0)
            return -1;
        stuck = used == 0 ? stuck + 1 : 0;
        if (stuck > 3)
            return sct_fail(r->err, r->errcap, "input stuck at byte %zu", at);
    }
    return 0;
}

static void sct_escape(ts_bytes *dst, const char *p, size_t n)
{
    for (size_t i = 0; i < n && dst->len < 3000; i++) {
        char c = p[i];
        char tmp[8];
        if (c == '\r')
            sct_puts(dst, "\\r");
        else if (c == '\n')
            sct_puts(dst, "\\n\n    ");
        else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", (unsigned char)c);
            ts_put(dst, tmp, 4);
        } else
            ts_put(dst, &c, 1);
    }
}

static int sct_ev_matches(const sct_run *r, size_t j, const sct_expect_ev *e)
{
    return r->ev_types[j] == e->type && (e->violation < 0 || r->ev_viol[j] == e->violation);
}

static int sct_check(sct_run *r, const char *name, sct_mode mode, uint64_t seed)
{
    sct_script *sc = r->sc;
    ts_bytes msg = {0};
    char tmpmsg[192];
    int bad = 0;
    if (r->out.len != sc->expect_out.len ||
        (r->out.len && memcmp(r->out.p, sc->expect_out.p, r->out.len) != 0)) {
        sct_puts(&msg, "output differs\n  expected:\n    ");
        sct_escape(&msg, sc->expect_out.p, sc->expect_out.len);
        sct_puts(&msg, "\n  got:\n    ");
        sct_escape(&msg, r->out.p, r->out.len);
        bad = 1;
    }
    if (r->too_many_events && !bad) {
        snprintf(tmpmsg, sizeof(tmpmsg), "more than %d events", SCT_MAX_EVENTS);
        sct_puts(&msg, tmpmsg);
        bad = 1;
    }
    /* E~ and E= lines consume the events in order: E~ skips to the next match, E= must
     * match the very next event (BODY slices skipped: their number depends on the split).
     * E! lines must match no event at all. */
    size_t k = 0;
    for (size_t i = 0; i < sc->nevs && !bad; i++) {
        const sct_expect_ev *e = &sc->evs[i];
        if (e->how == TS_EXPECT_NEVER) {
            for (size_t j = 0; j < r->nev; j++)
                if (sct_ev_matches(r, j, e)) {
                    sct_puts(&msg, "unexpected event ");
                    sct_puts(&msg, sct_event_name(e->type));
                    bad = 1;
                    break;
                }
            continue;
        }
        if (e->how == TS_EXPECT_NEXT) {
            while (k < r->nev && r->ev_types[k] == SMTPCORE_SEV_BODY)
                k++;
        } else {
            while (k < r->nev && !sct_ev_matches(r, k, e))
                k++;
        }
        if (k == r->nev || !sct_ev_matches(r, k, e)) {
            snprintf(tmpmsg, sizeof(tmpmsg),
                     "event line #%zu (%s %s %s) not matched%s\n  events were:\n", i,
                     e->how == TS_EXPECT_NEXT ? "E=" : "E~", sct_event_name(e->type),
                     e->violation < 0 ? "" : sct_violation_name(e->violation),
                     k < r->nev ? ": the next event differs" : "");
            sct_puts(&msg, tmpmsg);
            ts_put(&msg, r->events.p ? r->events.p : "", r->events.len);
            bad = 1;
        } else {
            k++;
        }
    }
    if (sc->proxy_expect && !bad) {
        const smtpcore_proxy_header *h = smtpcore_server_proxy_header(r->s);
        ts_bytes got = {0};
        if (h)
            sct_format_proxy(&got, h);
        else
            sct_puts(&got, "none");
        if (strcmp(got.p, sc->proxy_expect) != 0) {
            sct_puts(&msg, "PROXY header differs\n  expected: ");
            sct_puts(&msg, sc->proxy_expect);
            sct_puts(&msg, "\n  got:      ");
            sct_puts(&msg, got.p);
            bad = 1;
        }
        free(got.p);
    }
    for (size_t i = 0; i < sc->nxclient && !bad; i++) {
        const char *got = i < r->nxclient && r->xclient_seen[i].p ? r->xclient_seen[i].p
                                                                 : "(no XCLIENT event)";
        if (strcmp(got, sc->xclient_expect[i]) != 0) {
            sct_puts(&msg, "XCLIENT attributes differ\n  expected: ");
            sct_puts(&msg, sc->xclient_expect[i]);
            sct_puts(&msg, "\n  got:      ");
            sct_puts(&msg, got);
            bad = 1;
        }
    }
    for (size_t i = 0; i < sc->nbodies && !bad; i++) {
        if (sc->body_skip[i] && i < r->nbodies)
            continue;
        if (i >= r->nbodies || r->bodies[i].len != sc->bodies[i].len ||
            memcmp(r->bodies[i].p, sc->bodies[i].p, sc->bodies[i].len) != 0) {
            sct_puts(&msg, "body differs\n  expected:\n    ");
            sct_escape(&msg, sc->bodies[i].p, sc->bodies[i].len);
            sct_puts(&msg, "\n  got:\n    ");
            if (i < r->nbodies)
                sct_escape(&msg, r->bodies[i].p, r->bodies[i].len);
            else
                sct_puts(&msg, "(no message)");
            bad = 1;
        }
    }
    if (bad)
        snprintf(r->err, r->errcap, "%s [mode %d seed %llu]: %s", name, (int)mode,
                 (unsigned long long)seed, msg.p ? msg.p : "");
    free(msg.p);
    return bad ? -1 : 0;
}

static void sct_script_free(sct_script *sc)
{
    free(sc->client.p);
    free(sc->expect_out.p);
    for (size_t i = 0; i < sc->nbodies; i++)
        free(sc->bodies[i].p);
}

int sct_run_text(const char *name, const char *text, size_t len, sct_mode mode, uint64_t seed,
                 char *err, size_t errcap)
{
    char *copy = malloc(len + 1);
    sct_script *sc = calloc(1, sizeof(*sc));
    sct_run *r = calloc(1, sizeof(*r));
    if (!copy || !sc || !r)
        abort();
    memcpy(copy, text, len);
    copy[len] = '\0';
    err[0] = '\0';
    int result = 0;
    if (sct_parse(sc, copy, err, errcap) != 0) {
        result = -1;
        goto out;
    }
    if (!(sc->modes & (1u << mode))) {
        result = 1;
        goto out;
    }
    r->sc = sc;
    r->err = err;
    r->errcap = errcap;
    r->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    int rc = smtpcore_server_new(&r->s, &sc->cfg);
    if (rc != SMTPCORE_OK) {
        result = sct_fail(err, errcap, "%s: smtpcore_server_new failed: %d", name, rc);
        goto out;
    }
    ts_put(&r->cur_body, "", 0);
    for (size_t i = 0; i < sc->nops && result == 0; i++) {
        const sct_op *op = &sc->ops[i];
        r->op = i;
        switch (op->kind) {
        case SCT_OP_FEED: result = sct_feed(r, sc->client.p + op->off, op->len, mode); break;
        case SCT_OP_SYNC: result = sct_drain(r); break;
        case SCT_OP_TLS:
            result = sct_drain(r);
            if (result == 0 && !r->starttls_seen)
                result = sct_fail(err, errcap, "T: tls without a STARTTLS event");
            if (result == 0 && smtpcore_server_tls_started(r->s) != SMTPCORE_OK)
                result = sct_fail(err, errcap, "tls_started refused");
            r->starttls_seen = 0;
            if (result == 0)
                result = sct_drain(r);
            break;
        case SCT_OP_CLOSE:
            result = sct_drain(r);
            if (result == 0) {
                rc = sct_apply(r, &sc->closes[op->off]);
                if (rc != SMTPCORE_OK)
                    result = sct_fail(err, errcap, "T: close/shutdown refused: %d", rc);
            }
            if (result == 0 && !smtpcore_server_want_close(r->s))
                result = sct_fail(err, errcap, "T: close/shutdown: want_close is 0");
            if (result == 0 && smtpcore_server_in_message(r->s))
                result = sct_fail(err, errcap, "T: close/shutdown: still in a message");
            if (result == 0)
                result = sct_drain(r);
            break;
        case SCT_OP_EOF:
            result = sct_drain(r);
            if (result == 0)
                smtpcore_server_receive_eof(r->s);
            if (result == 0)
                result = sct_drain(r);
            break;
        default: break;
        }
    }
    if (result == 0)
        result = sct_check(r, name, mode, seed);
    else {
        char tmp[256];
        snprintf(tmp, sizeof(tmp), "%s", err);
        snprintf(err, errcap, "%s [mode %d seed %llu]: %s", name, (int)mode,
                 (unsigned long long)seed, tmp);
    }
    smtpcore_server_del(r->s);
    for (size_t i = 0; i < r->nxclient && i < 8; i++)
        free(r->xclient_seen[i].p);
out:
    free(r->out.p);
    free(r->events.p);
    free(r->cur_body.p);
    for (size_t i = 0; i < r->nbodies; i++)
        free(r->bodies[i].p);
    free(r);
    sct_script_free(sc);
    free(sc);
    free(copy);
    return result;
}

int sct_run_file(const char *path, sct_mode mode, uint64_t seed, char *err, size_t errcap)
{
    ts_bytes b = {0};
    if (ts_read_file(path, &b) != 0) {
        free(b.p);
        return sct_fail(err, errcap, "cannot read %s", path);
    }
    const char *name = strrchr(path, '/');
    name = name ? name + 1 : path;
    int rc = sct_run_text(name, b.p, b.len, mode, seed, err, errcap);
    free(b.p);
    return rc;
}
