/* smtpcore-send: sends one message through the smtpcore client engine. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smtpcore/smtpcore.h>

#include "cli.h"
#include "net.h"
#include "tls.h"
#include "transcript.h"

enum {
    EXIT_OK = 0,
    EXIT_PARTIAL = 1,
    EXIT_TEMPFAIL = 2,
    EXIT_PERMFAIL = 3,
    EXIT_LOCAL = 4,
    MAX_MESSAGE = 256 * 1024 * 1024,
    MAX_RCPTS = 1000
};

static const char usage_text[] =
"NAME\n"
"    smtpcore-send - send one message over SMTP with the smtpcore client engine\n"
"\n"
"SYNOPSIS\n"
"    smtpcore-send --from ADDR --to ADDR [--to ADDR ...] [OPTIONS] HOST[:PORT] [FILE]\n"
"    smtpcore-send --from ADDR --to ADDR [--to ADDR ...] [OPTIONS] unix:PATH [FILE]\n"
"\n"
"DESCRIPTION\n"
"    Connects to HOST:PORT (default port 25) or to the Unix-domain socket PATH, says\n"
"    EHLO (falling back to HELO when the server refuses EHLO), optionally starts TLS and\n"
"    authenticates, and sends the message read from FILE (or standard input when FILE is\n"
"    absent or \"-\") to every --to recipient in one transaction. MAIL, RCPT and DATA\n"
"    are pipelined when the server offers PIPELINING. Line ends are normalised to CRLF\n"
"    and lines starting with '.' are dot-stuffed by the engine; the message is otherwise\n"
"    sent as is. MAIL FROM carries SIZE= when the server offers SIZE, BODY=8BITMIME when\n"
"    the message has 8-bit bytes and the server offers 8BITMIME, and SMTPUTF8 when an\n"
"    address is not ASCII (then the server must offer SMTPUTF8, or the message fails\n"
"    with status 3).\n"
"\n"
"OPTIONS\n"
"    --from ADDR          Envelope sender (\"\" for the null reverse path).\n"
"    --to ADDR            Envelope recipient; repeat for more (up to 1000).\n"
"    --helo NAME          Name for EHLO/HELO: a domain or an address literal. Default:\n"
"                         this host's name when it is a fully qualified domain, otherwise\n"
"                         the local address literal such as [127.0.0.1].\n"
"    --starttls           Use STARTTLS when the server offers it.\n"
"    --tls-required       Use STARTTLS and fail (exit 3) when it is not available.\n"
"                         Certificates are not verified (opportunistic TLS, as MTAs do).\n"
"    --tls-verify         Like --tls-required, and the server's certificate must chain to\n"
"                         a trusted CA (the system's, or --cafile) and be for HOST (a\n"
"                         name, or an IP address in its subjectAltName); exit 3 if not.\n"
"    --cafile FILE        Trust the CA certificates in FILE (PEM); implies --tls-verify.\n"
"    --auth USER:PASS     Authenticate (PLAIN or LOGIN, the best offered).\n"
"    --auth-mech MECH     Force PLAIN, LOGIN or XOAUTH2.\n"
"    --lmtp               Speak LMTP (RFC 2033): LHLO instead of EHLO (no HELO fallback),\n"
"                         and one delivery reply per accepted recipient after the data.\n"
"                         The default port becomes 24. Each recipient's outcome is\n"
"                         printed (see RESULT LINES).\n"
"    --no-pipelining      Send one command at a time even when PIPELINING is offered.\n"
"    --quirk NAME         Work around a broken server; repeatable or comma-separated:\n"
"                         split-quit (never put QUIT in a group after RSET),\n"
"                         no-pipelining, no-chunking, helo-only.\n"
"    --timeout SECONDS    Give up when the server is silent this long (default 60).\n"
"    -v, --verbose        Print the transcript on stdout: \"C: \" lines sent, \"S: \" lines\n"
"                         received (a bare LF shows as \\n, a bare CR as \\r).\n"
"    -q, --quiet          No result line on stderr.\n"
"    -h, --help           This text.\n"
"\n"
"RESULT LINES (stderr, unless -q)\n"
"    SMTP: \"<ADDR> refused: REPLY\" per refused recipient, then \"accepted for N of M\n"
"    recipients: REPLY\" or \"temporary|permanent failure: WHY\". LMTP: one line per\n"
"    recipient, \"<ADDR> delivered|deferred|refused: REPLY\" (its RCPT reply when RCPT was\n"
"    refused, else its reply after the data), then \"delivered to N of M recipients\" or\n"
"    the failure line.\n"
"\n"
"EXIT STATUS\n"
"    0  the message was accepted for every recipient (LMTP: delivered to every one)\n"
"    1  partial: accepted, but some recipients were refused (LMTP: delivered to some,\n"
"       refused or deferred at RCPT or after the data for the others)\n"
"    2  temporary failure (4xx, connection lost or refused, timeout): try again later\n"
"    3  permanent failure (5xx, TLS required but unavailable or its certificate refused,\n"
"       message refused locally because the server cannot take it, e.g. over its SIZE)\n"
"    4  usage or local error (bad options, unreadable file)\n";

typedef struct send_opts {
    char host[256];
    uint16_t port;
    const char *from;
    const char *to[MAX_RCPTS];
    size_t nto;
    const char *file;
    int tls_verify;     /* check the certificate chain and the host name */
    const char *cafile; /* trust anchors for tls_verify; NULL = the system's */
    const char *helo;
    const char *auth;
    const char *auth_mech;
    smtpcore_tls_policy tls;
    uint32_t quirks;
    int lmtp;
    int verbose;
    int quiet;
    uint32_t timeout_s;
} send_opts;

/* What the conversation produced; reply texts are copied out of the engine. */
typedef struct send_result {
    int mail_failure;            /* smtpcore_failure of MAIL FROM, -1 when not seen */
    char mail_reply[256];
    int rcpt_failure[MAX_RCPTS]; /* -1 when not seen */
    char rcpt_reply[MAX_RCPTS][128];
    int delivery_failure[MAX_RCPTS]; /* LMTP: reply after the data, -1 when not seen */
    char delivery_reply[MAX_RCPTS][128];
    int have_message_result;
    int message_failure;
    size_t rcpt_accepted;
    char message_reply[256];
    int auth_failure;            /* 0, or the failure class of AUTH */
    char auth_reply[256];
    int closed;
    smtpcore_violation close_violation;
    char close_message[256];
    int protocol_error;
    char error_message[256];
} send_result;

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "smtpcore-send: %s%s%s\nTry 'smtpcore-send --help'.\n", msg,
            arg ? ": " : "", arg ? arg : "");
    return EXIT_LOCAL;
}

static int add_quirks(send_opts *o, const char *list)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *q = strtok_r(buf, ",", &save); q; q = strtok_r(NULL, ",", &save)) {
        if (!strcmp(q, "split-quit"))
            o->quirks |= SMTPCORE_QUIRK_SPLIT_QUIT;
        else if (!strcmp(q, "no-pipelining"))
            o->quirks |= SMTPCORE_QUIRK_NO_PIPELINING;
        else if (!strcmp(q, "no-chunking"))
            o->quirks |= SMTPCORE_QUIRK_NO_CHUNKING;
        else if (!strcmp(q, "helo-only"))
            o->quirks |= SMTPCORE_QUIRK_HELO_ONLY;
        else
            return -1;
    }
    return 0;
}

/* Returns -1 to continue, or an exit status. */
static int parse_args(send_opts *o, int argc, char **argv)
{
    const char *target = NULL;
    o->tls = SMTPCORE_TLS_NEVER;
    o->timeout_s = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        uint64_t n;
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if ((r = tool_opt_value(argc, argv, &i, "--from", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->from = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--to", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            if (o->nto >= MAX_RCPTS)
                return usage_error("too many --to", v);
            o->to[o->nto++] = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--helo", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->helo = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--auth-mech", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->auth_mech = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--auth", &v)) != 0) {
            if (r < 0 || strchr(v, ':') == NULL)
                return usage_error("--auth takes USER:PASS", v);
            o->auth = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--quirk", &v)) != 0) {
            if (r < 0 || add_quirks(o, v) != 0)
                return usage_error("unknown quirk", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--timeout", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 86400, &n) || n == 0)
                return usage_error("bad --timeout", v);
            o->timeout_s = (uint32_t)n;
        } else if (!strcmp(a, "--starttls")) {
            if (o->tls == SMTPCORE_TLS_NEVER)
                o->tls = SMTPCORE_TLS_OPPORTUNISTIC;
        } else if (!strcmp(a, "--tls-required")) {
            o->tls = SMTPCORE_TLS_REQUIRED;
        } else if (!strcmp(a, "--tls-verify")) {
            o->tls = SMTPCORE_TLS_REQUIRED;
            o->tls_verify = 1;
        } else if ((r = tool_opt_value(argc, argv, &i, "--cafile", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->tls = SMTPCORE_TLS_REQUIRED;
            o->tls_verify = 1;
            o->cafile = v;
        } else if (!strcmp(a, "--lmtp")) {
            o->lmtp = 1;
        } else if (!strcmp(a, "--no-pipelining")) {
            o->quirks |= SMTPCORE_QUIRK_NO_PIPELINING;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option", a);
        } else if (target == NULL) {
            target = a;
        } else if (o->file == NULL) {
            o->file = a;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (target == NULL)
        return usage_error("missing HOST:PORT", NULL);
    if (tool_parse_hostport(target, o->lmtp ? 24 : 25, 0, o->host, sizeof o->host, &o->port) != 0)
        return usage_error("bad HOST:PORT", target);
    if (o->from == NULL)
        return usage_error("missing --from", NULL);
    if (o->nto == 0)
        return usage_error("missing --to", NULL);
    return -1;
}

static char *read_message(const char *file, size_t *len)
{
    FILE *f = (file == NULL || !strcmp(file, "-")) ? stdin : fopen(file, "rb");
    if (f == NULL) {
        fprintf(stderr, "smtpcore-send: cannot open %s: %s\n", file, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            if (cap >= MAX_MESSAGE) {
                fprintf(stderr, "smtpcore-send: message larger than %d bytes\n", MAX_MESSAGE);
                free(buf);
                buf = NULL;
                break;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f)) {
                fprintf(stderr, "smtpcore-send: read error: %s\n", strerror(errno));
                free(buf);
                buf = NULL;
            }
            break;
        }
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

/* First line of a reply, without code/terminator noise, for messages. */
static void reply_text(const smtpcore_reply *r, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    if (r == NULL || r->code == 0 || r->raw.ptr == NULL)
        return;
    for (size_t i = 0; i < r->raw.len && n + 1 < cap; i++) {
        char ch = r->raw.ptr[i];
        if (ch == '\r' || ch == '\n')
            break;
        out[n++] = (unsigned char)ch < 0x20 ? '?' : ch;
    }
    out[n] = '\0';
}

static void copy_slice(smtpcore_str s, char *out, size_t cap)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n > 0)
        memcpy(out, s.ptr, n);
    out[n] = '\0';
}

typedef struct send_session {
    send_opts *o;
    send_result *res;
    smtpcore_client *c;
    tool_stream st;
    SSL_CTX *tls_ctx;
    tool_transcript tc, ts;
    const char *msg;
    size_t msg_len, msg_off;
    int submitted, sending_body, body_ended, quit_sent, eof_given;
    int sock_eof; /* the server closed; EOF goes to the engine once in[] is taken */
    char in[16384];
    size_t in_len;
    int64_t deadline;
    int local_error;
    int tls_refused; /* --tls-verify: the certificate (or the trust store) was refused */
} send_session;

/* Writes all pending output, waiting for the socket as needed. Returns 0 or -1. */
static int flush_all(send_session *ss)
{
    const char *p;
    size_t n;
    while ((n = smtpcore_client_output(ss->c, &p)) > 0) {
        short want;
        long w = tool_stream_write(&ss->st, p, n, &want);
        if (w > 0) {
            tool_transcript_feed(&ss->tc, p, (size_t)w);
            smtpcore_client_consume(ss->c, (size_t)w);
            ss->deadline = tool_now_ms() + (int64_t)ss->o->timeout_s * 1000;
            continue;
        }
        if (w != TOOL_IO_AGAIN || tool_wait(ss->st.fd, want, ss->deadline) != 1)
            return -1;
    }
    return 0;
}

static int start_tls(send_session *ss)
{
    char err[256];
    if (flush_all(ss) != 0)
        return -1;
    if (ss->tls_ctx == NULL) {
        ss->tls_ctx = tool_tls_client_ctx(err, sizeof err);
        if (ss->tls_ctx != NULL && ss->o->tls_verify &&
            tool_tls_client_verify(ss->tls_ctx, ss->o->cafile, err, sizeof err) != 0) {
            fprintf(stderr, "smtpcore-send: %s\n", err);
            ss->tls_refused = 1;
            return -1;
        }
    }
    const char *sni = tool_is_unix(ss->o->host) ? NULL : ss->o->host;
    if (ss->tls_ctx == NULL || tool_tls_begin(&ss->st, ss->tls_ctx, 0, sni) != 0 ||
        (ss->o->tls_verify && tool_tls_expect_host(&ss->st, ss->o->host) != 0)) {
        fprintf(stderr, "smtpcore-send: TLS setup failed\n");
        return -1;
    }
    /* Server bytes that came with the 220 in plaintext must not be read as TLS-protected:
     * the engine discards what it buffered; we drop ours. */
    ss->in_len = 0;
    for (;;) {
        short want = POLLIN;
        int rc = tool_tls_handshake(&ss->st, 0, &want, err, sizeof err);
        if (rc == 1)
            break;
        if (rc < 0 || tool_wait(ss->st.fd, want, ss->deadline) != 1) {
            fprintf(stderr, "smtpcore-send: %s\n", rc < 0 ? err : "TLS handshake timed out");
            /* A certificate we were told to check and cannot accept will not get better
             * by trying again: permanent, like TLS that is required but not offered. */
            if (rc < 0 && ss->o->tls_verify && strstr(err, "certificate not accepted"))
                ss->tls_refused = 1;
            return -1;
        }
    }
    char desc[128];
    tool_tls_describe(&ss->st, desc, sizeof desc);
    char note[160];
    snprintf(note, sizeof note, "TLS established: %s", desc);
    tool_transcript_note(&ss->ts, note);
    return smtpcore_client_tls_started(ss->c) == SMTPCORE_OK ? 0 : -1;
}

static int has_8bit(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return 1;
    return 0;
}

/* Submits the transaction at the first READY. Returns 0, or an exit status.
 * MAIL parameters follow what the message needs and the server offers: SIZE when
 * offered, BODY=8BITMIME for 8-bit content when offered (sent as is otherwise, as most
 * MTAs do), SMTPUTF8 for non-ASCII addresses (refused by the engine when not offered). */
static int submit(send_session *ss, const smtpcore_caps *caps)
{
    smtpcore_mail_params mp;
    memset(&mp, 0, sizeof mp);
    if (caps->extensions & SMTPCORE_EXT_SIZE) {
        mp.has_size = 1;
        mp.size = ss->msg_len;
    }
    if ((caps->extensions & SMTPCORE_EXT_8BITMIME) && has_8bit(ss->msg, ss->msg_len))
        mp.body = SMTPCORE_BODY_8BITMIME;
    int utf8 = has_8bit(ss->o->from, strlen(ss->o->from));
    for (size_t i = 0; i < ss->o->nto; i++)
        utf8 |= has_8bit(ss->o->to[i], strlen(ss->o->to[i]));
    mp.smtputf8 = utf8;
    int rc = smtpcore_client_mail(ss->c, ss->o->from, &mp);
    const char *what = ss->o->from;
    for (size_t i = 0; rc == SMTPCORE_OK && i < ss->o->nto; i++) {
        what = ss->o->to[i];
        rc = smtpcore_client_rcpt(ss->c, ss->o->to[i], NULL);
    }
    if (rc == SMTPCORE_OK) {
        what = "DATA";
        rc = smtpcore_client_data(ss->c);
    }
    if (rc == SMTPCORE_OK) {
        ss->submitted = 1;
        return 0;
    }
    fprintf(stderr, "smtpcore-send: %s: %s\n", what, smtpcore_strerror(rc));
    smtpcore_client_quit(ss->c);
    ss->quit_sent = 1;
    ss->submitted = 1;
    return rc == SMTPCORE_ERR_UNSUPPORTED || rc == SMTPCORE_ERR_TOO_LONG ? EXIT_PERMFAIL
                                                                         : EXIT_LOCAL;
}

static void do_quit(send_session *ss)
{
    if (!ss->quit_sent && smtpcore_client_quit(ss->c) == SMTPCORE_OK)
        ss->quit_sent = 1;
}

/* Handles one event. Returns 0, or an exit status for a local failure. */
static int on_event(send_session *ss, const smtpcore_client_event *ev)
{
    send_result *r = ss->res;
    switch (ev->type) {
    case SMTPCORE_CEV_STARTTLS:
        if (start_tls(ss) != 0)
            return ss->tls_refused ? EXIT_PERMFAIL : EXIT_TEMPFAIL;
        break;
    case SMTPCORE_CEV_AUTH_CHALLENGE:
        smtpcore_client_auth_respond(ss->c, NULL, 0); /* no host-run mechanisms here */
        break;
    case SMTPCORE_CEV_AUTH_RESULT:
        if (ev->failure != SMTPCORE_SUCCESS) {
            r->auth_failure = (int)ev->failure;
            reply_text(&ev->reply, r->auth_reply, sizeof r->auth_reply);
            do_quit(ss);
        }
        break;
    case SMTPCORE_CEV_READY:
        if (!ss->submitted)
            return submit(ss, &ev->caps);
        do_quit(ss);
        break;
    case SMTPCORE_CEV_MAIL_RESULT:
        r->mail_failure = (int)ev->failure;
        reply_text(&ev->reply, r->mail_reply, sizeof r->mail_reply);
        break;
    case SMTPCORE_CEV_RCPT_RESULT:
        if (ev->rcpt_index < ss->o->nto) {
            r->rcpt_failure[ev->rcpt_index] = (int)ev->failure;
            reply_text(&ev->reply, r->rcpt_reply[ev->rcpt_index], sizeof r->rcpt_reply[0]);
        }
        break;
    case SMTPCORE_CEV_DELIVERY_RESULT:
        if (ev->rcpt_index < ss->o->nto) {
            r->delivery_failure[ev->rcpt_index] = (int)ev->failure;
            reply_text(&ev->reply, r->delivery_reply[ev->rcpt_index],
                       sizeof r->delivery_reply[0]);
        }
        break;
    case SMTPCORE_CEV_SEND_BODY:
        ss->sending_body = 1;
        break;
    case SMTPCORE_CEV_MESSAGE_RESULT:
        r->have_message_result = 1;
        r->message_failure = (int)ev->failure;
        r->rcpt_accepted = ev->rcpt_accepted;
        reply_text(&ev->reply, r->message_reply, sizeof r->message_reply);
        if (r->message_reply[0] == '\0')
            copy_slice(ev->message, r->message_reply, sizeof r->message_reply);
        ss->sending_body = 0;
        do_quit(ss); /* INVALID_STATE here means READY comes first; quit then */
        break;
    case SMTPCORE_CEV_PROTOCOL_ERROR:
        r->protocol_error = 1;
        copy_slice(ev->message, r->error_message, sizeof r->error_message);
        break;
    case SMTPCORE_CEV_CLOSED:
        r->closed = 1;
        r->close_violation = ev->violation;
        copy_slice(ev->message, r->close_message, sizeof r->close_message);
        if (r->close_message[0] == '\0')
            reply_text(&ev->reply, r->close_message, sizeof r->close_message);
        break;
    default:
        break;
    }
    return 0;
}

/* Feeds body bytes and the end of data. Returns 1 on progress. */
static int feed_body(send_session *ss)
{
    if (!ss->sending_body || ss->body_ended)
        return 0;
    int progress = 0;
    if (ss->msg_off < ss->msg_len) {
        size_t used = 0;
        int rc = smtpcore_client_body(ss->c, ss->msg + ss->msg_off, ss->msg_len - ss->msg_off,
                                      &used);
        if (rc != SMTPCORE_OK) {
            ss->sending_body = 0; /* the engine ended the transaction (e.g. 5xx to DATA) */
            return 1;
        }
        ss->msg_off += used;
        progress = used > 0;
    }
    if (ss->msg_off == ss->msg_len) {
        int rc = smtpcore_client_body_end(ss->c);
        if (rc == SMTPCORE_OK) {
            ss->body_ended = 1;
            ss->sending_body = 0;
            progress = 1;
        } else if (rc != SMTPCORE_ERR_BUFFER_FULL) {
            ss->sending_body = 0;
        }
    }
    return progress;
}

static int run(send_session *ss)
{
    for (;;) {
        int progress = 0;
        smtpcore_client_event ev;
        while (smtpcore_client_next_event(ss->c, &ev) == SMTPCORE_OK &&
               ev.type != SMTPCORE_CEV_NONE) {
            int rc = on_event(ss, &ev);
            if (rc != 0)
                return rc;
            progress = 1;
        }
        progress |= feed_body(ss);
        if (ss->in_len > 0) {
            size_t used = 0;
            if (smtpcore_client_receive(ss->c, ss->in, ss->in_len, &used) == SMTPCORE_ERR_CLOSED)
                ss->in_len = 0;
            if (used > 0) {
                memmove(ss->in, ss->in + used, ss->in_len - used);
                ss->in_len -= used;
                progress = 1;
            }
        }
        if (ss->sock_eof && ss->in_len == 0 && !ss->eof_given) {
            smtpcore_client_receive_eof(ss->c);
            ss->eof_given = 1;
            progress = 1;
        }
        const char *p;
        size_t pending = smtpcore_client_output(ss->c, &p);
        if (pending > 0) {
            short want;
            long w = tool_stream_write(&ss->st, p, pending, &want);
            if (w > 0) {
                tool_transcript_feed(&ss->tc, p, (size_t)w);
                smtpcore_client_consume(ss->c, (size_t)w);
                progress = 1;
            } else if (w == TOOL_IO_ERROR) {
                if (!ss->eof_given) {
                    smtpcore_client_receive_eof(ss->c);
                    ss->eof_given = 1;
                    continue;
                }
                return 0;
            }
            pending = smtpcore_client_output(ss->c, &p);
        }
        if ((ss->res->closed || smtpcore_client_want_close(ss->c)) && pending == 0)
            return 0;
        if (progress) {
            ss->deadline = tool_now_ms() + (int64_t)ss->o->timeout_s * 1000;
            continue;
        }
        if (ss->eof_given || ss->sock_eof)
            return 0; /* nothing more will come, and the engine took what it could */
        short events = (short)((ss->in_len < sizeof ss->in ? POLLIN : 0) | (pending ? POLLOUT : 0));
        int wr = tool_wait(ss->st.fd, events, ss->deadline);
        if (wr == 0) {
            fprintf(stderr, "smtpcore-send: timeout waiting for %s\n", ss->o->host);
            return EXIT_TEMPFAIL;
        }
        if (wr < 0)
            return EXIT_TEMPFAIL;
        if (ss->in_len < sizeof ss->in) {
            short want;
            long n = tool_stream_read(&ss->st, ss->in + ss->in_len, sizeof ss->in - ss->in_len,
                                      &want);
            if (n > 0) {
                tool_transcript_feed(&ss->ts, ss->in + ss->in_len, (size_t)n);
                ss->in_len += (size_t)n;
            } else if (n == 0 || n == TOOL_IO_ERROR) {
                /* Buffered replies are handed over first; EOF follows (loop above). */
                ss->sock_eof = 1;
            }
        }
    }
}

/* LMTP: one line per recipient, with the reply that decided its fate (RCPT's when RCPT
 * was refused, else the one after the data). */
static void lmtp_lines(const send_session *ss)
{
    const send_result *r = ss->res;
    for (size_t i = 0; i < ss->o->nto && !ss->o->quiet; i++) {
        int f = r->rcpt_failure[i] > 0 ? r->rcpt_failure[i] : r->delivery_failure[i];
        const char *reply = r->rcpt_failure[i] > 0        ? r->rcpt_reply[i]
                            : r->delivery_reply[i][0] != '\0' ? r->delivery_reply[i]
                                                              : r->message_reply;
        const char *what = f == SMTPCORE_SUCCESS           ? "delivered"
                           : f == SMTPCORE_FAIL_TRANSIENT ? "deferred"
                           : f < 0                        ? "not delivered"
                                                          : "refused";
        fprintf(stderr, "smtpcore-send: <%s> %s: %s\n", ss->o->to[i], what,
                reply[0] ? reply : "(no reply)");
    }
}

/* Maps what happened to the documented exit status and prints the result line. */
static int verdict(const send_session *ss)
{
    const send_result *r = ss->res;
    const send_opts *o = ss->o;
    int status;
    if (o->lmtp)
        lmtp_lines(ss);
    for (size_t i = 0; i < o->nto && !o->quiet && !o->lmtp; i++)
        if (r->rcpt_failure[i] > 0)
            fprintf(stderr, "smtpcore-send: <%s> refused: %s\n", o->to[i],
                    r->rcpt_reply[i][0] ? r->rcpt_reply[i] : "(no reply)");
    if (r->have_message_result && r->message_failure == SMTPCORE_SUCCESS) {
        status = r->rcpt_accepted < o->nto ? EXIT_PARTIAL : EXIT_OK;
        if (!o->quiet && o->lmtp)
            fprintf(stderr, "smtpcore-send: delivered to %zu of %zu recipients\n",
                    r->rcpt_accepted, o->nto);
        else if (!o->quiet)
            fprintf(stderr, "smtpcore-send: accepted for %zu of %zu recipients: %s\n",
                    r->rcpt_accepted, o->nto, r->message_reply);
        return status;
    }
    const char *why = NULL;
    int cls = 0;
    if (r->have_message_result) {
        cls = r->message_failure;
        why = r->message_reply;
        if (why[0] == '\0' && r->mail_failure > 0)
            why = r->mail_reply;
        else if (why[0] == '\0')
            why = "no recipient accepted";
    } else if (r->auth_failure) {
        cls = r->auth_failure;
        why = r->auth_reply;
    } else if (r->mail_failure > 0) {
        cls = r->mail_failure;
        why = r->mail_reply;
    } else if (r->closed && r->close_violation == SMTPCORE_V_TLS_REQUIRED) {
        cls = SMTPCORE_FAIL_PERMANENT;
        why = r->close_message[0] ? r->close_message : "TLS required but not offered";
    } else {
        /* all recipients refused, or the conversation broke off */
        int any_rcpt = 0, any_transient = 0;
        for (size_t i = 0; i < o->nto; i++) {
            any_rcpt |= r->rcpt_failure[i] > 0;
            any_transient |= r->rcpt_failure[i] == SMTPCORE_FAIL_TRANSIENT;
        }
        if (any_rcpt) {
            cls = any_transient ? SMTPCORE_FAIL_TRANSIENT : SMTPCORE_FAIL_PERMANENT;
            why = "no recipient accepted";
        } else {
            cls = SMTPCORE_FAIL_TRANSIENT;
            why = r->protocol_error ? r->error_message
                  : r->close_message[0] ? r->close_message : "conversation ended early";
        }
    }
    status = cls == SMTPCORE_FAIL_TRANSIENT ? EXIT_TEMPFAIL : EXIT_PERMFAIL;
    if (!o->quiet)
        fprintf(stderr, "smtpcore-send: %s failure: %s\n",
                status == EXIT_TEMPFAIL ? "temporary" : "permanent", why && *why ? why : "?");
    return status;
}

static int pick_helo(const send_opts *o, int fd, char *out, size_t cap)
{
    if (o->helo != NULL) {
        if (smtpcore_helo_classify(o->helo, strlen(o->helo)) == SMTPCORE_HELO_INVALID)
            return -1;
        snprintf(out, cap, "%s", o->helo);
        return 0;
    }
    char name[256];
    if (gethostname(name, sizeof name) == 0) {
        name[sizeof name - 1] = '\0';
        if (smtpcore_helo_classify(name, strlen(name)) == SMTPCORE_HELO_FQDN) {
            snprintf(out, cap, "%s", name);
            return 0;
        }
    }
    char ip[64];
    if (tool_local_ip(fd, ip, sizeof ip) == 0 && cap <= (size_t)INT32_MAX &&
        smtpcore_address_literal(ip, out, cap) > 0)
        return 0;
    snprintf(out, cap, "[127.0.0.1]");
    return 0;
}

int main(int argc, char **argv)
{
    static send_opts o;     /* large: recipient table */
    static send_result res; /* large: per-recipient replies */
    static send_session ss;
    int rc = parse_args(&o, argc, argv);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    memset(&res, 0, sizeof res);
    res.mail_failure = -1;
    for (size_t i = 0; i < MAX_RCPTS; i++)
        res.rcpt_failure[i] = res.delivery_failure[i] = -1;
    size_t msg_len = 0;
    char *msg = read_message(o.file, &msg_len);
    if (msg == NULL)
        return EXIT_LOCAL;

    char err[256];
    int fd = tool_connect(o.host, o.port, (int)o.timeout_s * 1000, err, sizeof err);
    if (fd < 0) {
        fprintf(stderr, "smtpcore-send: %s\n", err);
        free(msg);
        return EXIT_TEMPFAIL;
    }
    char helo[300];
    if (pick_helo(&o, fd, helo, sizeof helo) != 0) {
        close(fd);
        free(msg);
        return usage_error("--helo must be a domain or an address literal", o.helo);
    }
    char user[256] = "";
    const char *pass = NULL;
    if (o.auth != NULL) {
        const char *colon = strchr(o.auth, ':');
        snprintf(user, sizeof user, "%.*s", (int)(colon - o.auth), o.auth);
        pass = colon + 1;
    }
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = helo;
    cfg.quirks = o.quirks;
    cfg.tls_policy = o.tls;
    cfg.auth_user = o.auth ? user : NULL;
    cfg.auth_password = pass;
    cfg.auth_mechanism = o.auth_mech;
    cfg.lmtp = o.lmtp;
    if (o.nto > cfg.max_recipients)
        cfg.max_recipients = o.nto;
    ss.o = &o;
    ss.res = &res;
    ss.st.fd = fd;
    ss.st.ssl = NULL;
    ss.tc = (tool_transcript){ .out = o.verbose ? stdout : NULL, .prefix = "C: " };
    ss.ts = (tool_transcript){ .out = o.verbose ? stdout : NULL, .prefix = "S: " };
    ss.msg = msg;
    ss.msg_len = msg_len;
    ss.deadline = tool_now_ms() + (int64_t)o.timeout_s * 1000;
    rc = smtpcore_client_new(&ss.c, &cfg);
    if (rc != SMTPCORE_OK) {
        fprintf(stderr, "smtpcore-send: client: %s\n", smtpcore_strerror(rc));
        tool_stream_close(&ss.st);
        free(msg);
        return EXIT_LOCAL;
    }
    rc = run(&ss);
    if (rc == 0 || (rc == EXIT_TEMPFAIL && (res.have_message_result || res.closed)))
        rc = verdict(&ss);
    else if (rc == EXIT_TEMPFAIL && !o.quiet)
        fprintf(stderr, "smtpcore-send: temporary failure: connection problem\n");
    else if (rc == EXIT_PERMFAIL && ss.tls_refused && !o.quiet)
        fprintf(stderr, "smtpcore-send: permanent failure: TLS certificate not accepted\n");
    smtpcore_client_del(ss.c);
    tool_stream_close(&ss.st);
    if (ss.tls_ctx != NULL)
        SSL_CTX_free(ss.tls_ctx);
    free(msg);
    return rc;
}
