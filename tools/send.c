/* SPDX-License-Identifier: MIT */
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
#include "report.h"
#include "send_msg.h"
#include "tls.h"
#include "transcript.h"

enum {
    EXIT_OK = 0,
    EXIT_PARTIAL = 1,
    EXIT_TEMPFAIL = 2,
    EXIT_PERMFAIL = 3,
    EXIT_LOCAL = 4,
    MAX_MESSAGE = 256 * 1024 * 1024,
    MAX_RCPTS = 1000,
    MAX_XCLIENT = 16
};

static const char usage_text[] =
"NAME\n"
"    smtpcore-send - send one message over SMTP with the smtpcore client engine\n"
"\n"
"SYNOPSIS\n"
"    smtpcore-send --from ADDR --to ADDR [--to ADDR ...] [OPTIONS] HOST[:PORT] [FILE]\n"
"    smtpcore-send --from ADDR --to ADDR [--to ADDR ...] [OPTIONS] unix:PATH [FILE]\n"
"    smtpcore-send -f ADDR -t ADDR[,ADDR...] --server HOST [--port PORT] [--body TEXT]\n"
"                  [--header \"NAME: VALUE\" ...] [--data FILE] [OPTIONS]\n"
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
"    SIZE= declares the size the message has on the wire (line ends converted to CRLF).\n"
"    A message with 8-bit bytes is refused (status 3, nothing sent) when the server does\n"
"    not offer 8BITMIME (RFC 6152), unless --send-8bit. An empty message is refused\n"
"    (status 4). Replies are quoted whole: every line of a multi-line reply, joined by\n"
"    \" / \" (the last line often carries the queue id).\n"
"\n"
"OPTIONS\n"
"    -f, --from ADDR      Envelope sender (\"\" or \"<>\" for the null reverse path).\n"
"    -t, --to ADDR[,ADDR] Envelope recipients; repeat for more (up to 1000). Each ADDR\n"
"                         may be written <addr> or \"Name <addr>\".\n"
"    -s, --server HOST[:PORT]  The server (instead of the HOST[:PORT] argument).\n"
"    -p, --port PORT      The server's port (default 25; 24 with --lmtp).\n"
"    --data FILE          Read the message from FILE (\"-\": standard input), like FILE.\n"
"    --body TEXT          Send a message built around TEXT: Date, From, To, Subject\n"
"                         (\"test\"), Message-ID and X-Mailer headers, then TEXT.\n"
"    --header \"NAME: VALUE\"  Add a header line; repeatable. With --body it replaces\n"
"                         the built header of that name; otherwise it goes on top of\n"
"                         the message read.\n"
"    --helo NAME, --ehlo NAME\n"
"                         Name for EHLO/HELO: a domain or an address literal. Default:\n"
"                         this host's name when it is a fully qualified domain, otherwise\n"
"                         the local address literal such as [127.0.0.1].\n"
"    --starttls           Use STARTTLS when the server offers it.\n"
"    --tls-required       Use STARTTLS and fail (exit 3) when it is not available.\n"
"                         Certificates are not verified (opportunistic TLS, as MTAs do).\n"
"    --tls-verify         Like --tls-required, and the server's certificate must chain to\n"
"                         a trusted CA (the system's, or --cafile) and be for HOST (a\n"
"                         name, or an IP address in its subjectAltName); exit 3 if not.\n"
"    --cafile FILE        Trust the CA certificates in FILE (PEM); implies --tls-verify.\n"
"    --auth USER:PASS     Authenticate (PLAIN or LOGIN, the best offered). A refusal\n"
"                         ends the session: exit 3 (2 for a 4xx). Servers usually\n"
"                         offer AUTH only after STARTTLS: add --starttls.\n"
"    --auth-mech MECH     Force PLAIN, LOGIN or XOAUTH2.\n"
"    --show-auth          Show AUTH credentials in the -v transcript (hidden by default:\n"
"                         \"AUTH PLAIN [hidden]\", then \"[hidden]\" for each response).\n"
"    --send-8bit          Send an 8-bit message as is to a server without 8BITMIME.\n"
"    --lmtp               Speak LMTP (RFC 2033): LHLO instead of EHLO (no HELO fallback),\n"
"                         and one delivery reply per accepted recipient after the data.\n"
"                         The default port becomes 24. Each recipient's outcome is\n"
"                         printed (see RESULT LINES).\n"
"    --no-pipelining      Send one command at a time even when PIPELINING is offered.\n"
"    --quirk NAME         Work around a broken server; repeatable or comma-separated:\n"
"                         split-quit (never put QUIT in a group after RSET),\n"
"                         no-pipelining, no-chunking, helo-only, send-8bit.\n"
"    --timeout SECONDS    Give up when the server is silent this long (default 60).\n"
"    --proxy V            Start with a PROXY protocol header, v1 or v2, as HAProxy's\n"
"                         send-proxy does: source = this connection's own address and\n"
"                         port (or --proxy-source), destination = the server's.\n"
"    --proxy-source ADDR:PORT  The client the PROXY header names instead ([V6]:PORT for\n"
"                         IPv6; same family as the server's address).\n"
"    --xclient NAME=VALUE Send XCLIENT with this attribute after EHLO, before the\n"
"                         transaction (Postfix XCLIENT_README: ADDR, PORT, NAME, HELO,\n"
"                         PROTO, LOGIN, DESTADDR, DESTPORT); repeatable. The server must\n"
"                         offer XCLIENT (exit 3 if not); after its new 220 greeting the\n"
"                         engine says EHLO again. VALUE is sent xtext-encoded;\n"
"                         [UNAVAILABLE] and [TEMPUNAVAIL] are sent as they are.\n"
"    -v, --verbose        Print the transcript on stdout: \"C: \" lines sent, \"S: \" lines\n"
"                         received (a bare LF shows as \\n, a bare CR as \\r).\n"
"    -q, --quiet          No result line on stderr.\n"
"    -h, --help           This text.\n"
"    --version            The tool's and the library's version.\n"
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
"    3  permanent failure (5xx, also at the greeting or to EHLO and HELO; AUTH refused\n"
"       or not offered; TLS required but unavailable or its certificate refused;\n"
"       message refused locally because the server cannot take it, e.g. over its SIZE\n"
"       or 8-bit without 8BITMIME)\n"
"    4  usage or local error (bad options, unreadable file, empty message)\n"
"    The printed reason quotes the reply that decided the status: the MAIL reply, or\n"
"    the first recipient refusal of the deciding class (a 4xx before a 5xx).\n";

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
    int send_8bit;      /* --send-8bit: QUIRK_SEND_8BIT */
    int show_auth;      /* --show-auth: credentials in the -v transcript */
    send_msg_spec msg;  /* --body / --header */
    int verbose;
    int quiet;
    uint32_t timeout_s;
    smtpcore_proxy_mode proxy;      /* --proxy */
    char proxy_src[64];             /* --proxy-source address, "" = our own end */
    uint16_t proxy_src_port;
    char xnames[MAX_XCLIENT][16];   /* --xclient NAME=VALUE, split */
    const char *xvalues[MAX_XCLIENT];
    size_t nx;
} send_opts;

/* What the conversation produced; reply texts are copied out of the engine. */
typedef struct send_result {
    int mail_failure;            /* smtpcore_failure of MAIL FROM, -1 when not seen */
    char mail_reply[512];
    int rcpt_failure[MAX_RCPTS]; /* -1 when not seen */
    char rcpt_reply[MAX_RCPTS][256];
    int delivery_failure[MAX_RCPTS]; /* LMTP: reply after the data, -1 when not seen */
    char delivery_reply[MAX_RCPTS][128];
    int have_message_result;
    int message_failure;
    size_t rcpt_accepted;
    char message_reply[1024];
    int xclient_failure;         /* 0, or the failure class of XCLIENT */
    char xclient_reply[256];
    int auth_failure;            /* 0, or the failure class of AUTH */
    char auth_reply[512];
    smtpcore_caps auth_caps;     /* what the server offered when AUTH was tried */
    int greeted;                 /* a 220 greeting came */
    int tls_up;                  /* TLS was established */
    int closed;
    int close_failure;           /* smtpcore_failure of CLOSED */
    int close_code;              /* the reply the session closed on, 0 when none */
    smtpcore_violation close_violation;
    char close_message[512];
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
        else if (!strcmp(q, "send-8bit"))
            o->quirks |= SMTPCORE_QUIRK_SEND_8BIT;
        else
            return -1;
    }
    return 0;
}

/* Returns -1 to continue, or an exit status. */
static int parse_args(send_opts *o, int argc, char **argv)
{
    const char *target = NULL, *server = NULL, *port = NULL;
    o->tls = SMTPCORE_TLS_NEVER;
    o->timeout_s = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        uint64_t n;
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            tool_print_version("smtpcore-send");
            return EXIT_OK;
        } else if ((r = tool_opt_value(argc, argv, &i, "--from", &v)) != 0 ||
                   (r = tool_opt_value(argc, argv, &i, "-f", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            /* v points into argv[i] (also for --from=ADDR): edited in place. */
            o->from = send_addr_strip(argv[i] + (v - argv[i]));
        } else if ((r = tool_opt_value(argc, argv, &i, "--to", &v)) != 0 ||
                   (r = tool_opt_value(argc, argv, &i, "-t", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            if (send_addr_add(argv[i] + (v - argv[i]), o->to, &o->nto, MAX_RCPTS) != 0)
                return usage_error(o->nto >= MAX_RCPTS ? "too many recipients"
                                                       : "empty address in --to", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--server", &v)) != 0 ||
                   (r = tool_opt_value(argc, argv, &i, "-s", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            server = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--port", &v)) != 0 ||
                   (r = tool_opt_value(argc, argv, &i, "-p", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 65535, &n) || n == 0)
                return usage_error("bad --port", v);
            port = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--data", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            if (o->file != NULL)
                return usage_error("more than one message file", v);
            o->file = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--body", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->msg.body = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--header", &v)) != 0) {
            if (r < 0 || strchr(v, ':') == NULL || v[0] == ':' || strpbrk(v, "\r\n"))
                return usage_error("--header takes \"NAME: VALUE\" on one line", v);
            if (o->msg.nheaders >= SEND_MAX_HEADERS)
                return usage_error("too many --header", v);
            o->msg.headers[o->msg.nheaders++] = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--helo", &v)) != 0 ||
                   (r = tool_opt_value(argc, argv, &i, "--ehlo", &v)) != 0) {
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
        } else if ((r = tool_opt_value(argc, argv, &i, "--proxy", &v)) != 0) {
            if (r < 0 || (strcmp(v, "v1") != 0 && strcmp(v, "v2") != 0))
                return usage_error("--proxy takes v1 or v2", v);
            o->proxy = !strcmp(v, "v1") ? SMTPCORE_PROXY_V1 : SMTPCORE_PROXY_V2;
        } else if ((r = tool_opt_value(argc, argv, &i, "--proxy-source", &v)) != 0) {
            if (r < 0 || tool_parse_hostport(v, 0, 1, o->proxy_src, sizeof o->proxy_src,
                                             &o->proxy_src_port) != 0)
                return usage_error("bad --proxy-source (ADDR:PORT)", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--xclient", &v)) != 0) {
            const char *eq = r < 0 ? NULL : strchr(v, '=');
            if (eq == NULL || eq == v || (size_t)(eq - v) >= sizeof o->xnames[0])
                return usage_error("--xclient takes NAME=VALUE", v);
            if (o->nx >= MAX_XCLIENT)
                return usage_error("too many --xclient", v);
            snprintf(o->xnames[o->nx], sizeof o->xnames[0], "%.*s", (int)(eq - v), v);
            o->xvalues[o->nx++] = eq + 1;
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
        } else if (!strcmp(a, "--send-8bit")) {
            o->quirks |= SMTPCORE_QUIRK_SEND_8BIT;
        } else if (!strcmp(a, "--show-auth")) {
            o->show_auth = 1;
        } else if (!strcmp(a, "--no-pipelining")) {
            o->quirks |= SMTPCORE_QUIRK_NO_PIPELINING;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            o->verbose = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o->quiet = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option", a);
        } else if (target == NULL && server == NULL) {
            target = a;
        } else if (o->file == NULL) {
            o->file = a;
        } else {
            return usage_error("unexpected argument", a);
        }
    }
    if (server != NULL && target != NULL) {
        /* "--server H FILE": the argument read first as HOST is the message file. */
        if (o->file != NULL)
            return usage_error("unexpected argument", o->file);
        o->file = target;
        target = NULL;
    }
    if (server != NULL)
        target = server;
    if (target == NULL)
        return usage_error("missing HOST:PORT (or --server)", NULL);
    if (tool_parse_hostport(target, o->lmtp ? 24 : 25, 0, o->host, sizeof o->host, &o->port) != 0)
        return usage_error("bad HOST:PORT", target);
    if (port != NULL) {
        uint64_t pn = 0;
        (void)tool_parse_uint(port, 65535, &pn);
        o->port = (uint16_t)pn;
    }
    if (o->msg.body != NULL && o->file != NULL)
        return usage_error("--body and a message file both given", o->file);
    if (o->from == NULL)
        return usage_error("missing --from", NULL);
    if (o->nto == 0)
        return usage_error("missing --to", NULL);
    if (o->proxy_src[0] != '\0' && o->proxy == SMTPCORE_PROXY_OFF)
        return usage_error("--proxy-source needs --proxy", NULL);
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

/* The whole reply (every line of a multi-line one) on one line, for messages. */
static void reply_text(const smtpcore_reply *r, char *out, size_t cap)
{
    tool_reply_format(r, out, cap);
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
    int xclient_sent;
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
    ss->res->tls_up = 1;
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
    smtpcore_mail_params_init(&mp);
    if (caps->extensions & SMTPCORE_EXT_SIZE) {
        /* RFC 1870: the size of what will be sent, i.e. after CRLF conversion. */
        int bdat = (caps->extensions & SMTPCORE_EXT_CHUNKING) &&
                   !(ss->o->quirks & SMTPCORE_QUIRK_NO_CHUNKING);
        mp.has_size = 1;
        mp.size = send_msg_wire_size(ss->msg, ss->msg_len, bdat);
    }
    /* Declared whenever the message is 8-bit: the engine refuses it for a server without
     * 8BITMIME (RFC 6152) before anything is sent, or with --send-8bit leaves BODY= out. */
    if (has_8bit(ss->msg, ss->msg_len))
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
    if (rc == SMTPCORE_ERR_8BIT_NOT_OFFERED)
        fprintf(stderr, "smtpcore-send: permanent failure: the message has 8-bit bytes and "
                        "the server does not offer 8BITMIME (RFC 6152); nothing was sent. "
                        "Encode it as 7-bit (e.g. quoted-printable), or use --send-8bit "
                        "to send it as is\n");
    else if (rc == SMTPCORE_ERR_TOO_LONG && caps->size_limit && mp.size > caps->size_limit)
        fprintf(stderr, "smtpcore-send: permanent failure: the message (%llu bytes) is over "
                        "the server's SIZE limit (%llu bytes); nothing was sent\n",
                (unsigned long long)mp.size, (unsigned long long)caps->size_limit);
    else
        fprintf(stderr, "smtpcore-send: %s: %s\n", what, smtpcore_strerror(rc));
    smtpcore_client_quit(ss->c);
    ss->quit_sent = 1;
    ss->submitted = 1;
    return rc == SMTPCORE_ERR_UNSUPPORTED || rc == SMTPCORE_ERR_TOO_LONG ||
                   rc == SMTPCORE_ERR_8BIT_NOT_OFFERED
               ? EXIT_PERMFAIL
               : EXIT_LOCAL;
}

static void do_quit(send_session *ss)
{
    if (!ss->quit_sent && smtpcore_client_quit(ss->c) == SMTPCORE_OK)
        ss->quit_sent = 1;
}

/* --xclient: sends XCLIENT at the first READY; the transaction waits for the READY that
 * follows the new greeting. Returns 0, or an exit status. */
static int send_xclient(send_session *ss)
{
    const char *names[MAX_XCLIENT];
    for (size_t i = 0; i < ss->o->nx; i++)
        names[i] = ss->o->xnames[i];
    ss->xclient_sent = 1;
    int rc = smtpcore_client_xclient(ss->c, names, ss->o->xvalues, ss->o->nx);
    if (rc == SMTPCORE_OK)
        return 0;
    fprintf(stderr, "smtpcore-send: XCLIENT: %s\n",
            rc == SMTPCORE_ERR_UNSUPPORTED ? "the server does not offer XCLIENT"
                                           : smtpcore_strerror(rc));
    smtpcore_client_quit(ss->c);
    ss->quit_sent = 1;
    ss->submitted = 1;
    return rc == SMTPCORE_ERR_UNSUPPORTED ? EXIT_PERMFAIL : EXIT_LOCAL;
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
    case SMTPCORE_CEV_GREETING:
        r->greeted = 1;
        break;
    case SMTPCORE_CEV_AUTH_RESULT:
        tool_transcript_auth_done(&ss->tc);
        if (ev->failure != SMTPCORE_SUCCESS) {
            /* The engine goes on to READY; sending unauthenticated is not what was asked. */
            r->auth_failure = (int)ev->failure;
            r->auth_caps = ev->caps;
            reply_text(&ev->reply, r->auth_reply, sizeof r->auth_reply);
            do_quit(ss);
        }
        break;
    case SMTPCORE_CEV_READY:
        tool_transcript_auth_done(&ss->tc);
        if (ss->o->nx > 0 && !ss->xclient_sent && !r->auth_failure)
            return send_xclient(ss);
        if (!ss->submitted && !r->auth_failure)
            return submit(ss, &ev->caps);
        ss->submitted = 1;
        do_quit(ss);
        break;
    case SMTPCORE_CEV_XCLIENT_RESULT:
        if (ev->failure != SMTPCORE_SUCCESS) {
            /* READY follows (or CLOSED after a 421): quit instead of sending as the proxy */
            r->xclient_failure = (int)ev->failure;
            reply_text(&ev->reply, r->xclient_reply, sizeof r->xclient_reply);
            ss->submitted = 1;
        }
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
        r->close_failure = (int)ev->failure;
        r->close_code = ev->reply.code;
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
        const smtpcore_client_event *ev;
        while (smtpcore_client_next_event(ss->c, &ev) == SMTPCORE_OK &&
               ev->type != SMTPCORE_CEV_NONE) {
            int rc = on_event(ss, ev);
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

/* Why AUTH did not happen or failed, with what the user can do about it. */
static const char *auth_reason(const send_session *ss, char *buf, size_t cap)
{
    const send_result *r = ss->res;
    const smtpcore_caps *caps = &r->auth_caps;
    if (r->auth_failure != SMTPCORE_FAIL_LOCAL) {
        snprintf(buf, cap, "authentication failed: %s",
                 r->auth_reply[0] ? r->auth_reply : "(no reply)");
    } else if (!(caps->esmtp && (caps->extensions & SMTPCORE_EXT_AUTH))) {
        const char *hint = r->tls_up ? ""
                           : ss->o->tls == SMTPCORE_TLS_NEVER
                               ? " (servers usually offer AUTH only after STARTTLS: add "
                                 "--starttls or --tls-required)"
                               : " (nor STARTTLS, so AUTH cannot follow TLS either)";
        snprintf(buf, cap, "authentication not possible: the server does not offer AUTH%s%s",
                 r->tls_up ? " after STARTTLS" : " before TLS", hint);
    } else {
        static const struct { uint32_t bit; const char *name; } mechs[] = {
            {SMTPCORE_AUTH_PLAIN, " PLAIN"}, {SMTPCORE_AUTH_LOGIN, " LOGIN"},
            {SMTPCORE_AUTH_XOAUTH2, " XOAUTH2"}, {SMTPCORE_AUTH_CRAM_MD5, " CRAM-MD5"},
            {SMTPCORE_AUTH_OTHER, " (others)"}};
        char offered[96] = "";
        for (size_t i = 0; i < sizeof mechs / sizeof mechs[0]; i++)
            if (caps->auth_mechs & mechs[i].bit)
                strncat(offered, mechs[i].name, sizeof offered - strlen(offered) - 1);
        snprintf(buf, cap, "authentication not possible: the server offers no mechanism "
                           "smtpcore-send can use%s%s (it offers:%s)",
                 ss->o->auth_mech ? " such as " : "",
                 ss->o->auth_mech ? ss->o->auth_mech : "", offered[0] ? offered : " none");
    }
    return buf;
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
    char buf[1200];
    int cls = 0;
    if (r->have_message_result) {
        cls = r->message_failure;
        why = r->message_reply;
        if (why[0] == '\0' && r->mail_failure > 0)
            why = r->mail_reply;
        else if (why[0] == '\0')
            why = "no recipient accepted";
    } else if (r->xclient_failure) {
        cls = r->xclient_failure;
        why = r->xclient_reply[0] ? r->xclient_reply : "XCLIENT refused";
    } else if (r->auth_failure) {
        cls = r->auth_failure;
        why = auth_reason(ss, buf, sizeof buf);
    } else if (r->mail_failure > 0) {
        cls = r->mail_failure;
        why = r->mail_reply;
    } else if (r->closed && r->close_violation == SMTPCORE_V_TLS_REQUIRED) {
        cls = SMTPCORE_FAIL_PERMANENT;
        why = r->close_message[0] ? r->close_message : "TLS required but not offered";
    } else if (r->closed && r->close_code >= 400 &&
               (r->close_failure == SMTPCORE_FAIL_TRANSIENT ||
                r->close_failure == SMTPCORE_FAIL_PERMANENT)) {
        /* No transaction ran: the reply the session closed on decides (a 554 greeting,
         * EHLO and HELO both refused, a 421). */
        cls = r->close_failure;
        snprintf(buf, sizeof buf, "%s: %s",
                 r->greeted ? "the server ended the session"
                            : "the server refused the session at the greeting",
                 r->close_message);
        why = buf;
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
    char *msg = o.msg.body != NULL ? calloc(1, 1) : read_message(o.file, &msg_len);
    if (msg == NULL)
        return EXIT_LOCAL;
    o.msg.from = o.from;
    o.msg.to = o.to;
    o.msg.nto = o.nto;
    o.msg.host = o.helo;
    msg = send_msg_compose(&o.msg, msg, msg_len, &msg_len);
    if (msg == NULL)
        return EXIT_LOCAL;
    if (msg_len == 0) {
        /* swaks refuses too: an empty DATA is almost always a mistake (< /dev/null). */
        fprintf(stderr, "smtpcore-send: the message is empty (nothing read from %s); "
                        "nothing sent\n",
                o.file && strcmp(o.file, "-") ? o.file : "standard input");
        free(msg);
        return EXIT_LOCAL;
    }

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
    char psrc[64], pdst[64];
    if (o.proxy != SMTPCORE_PROXY_OFF) {
        /* The header names this connection's own ends, as HAProxy does for its client's
         * connection; --proxy-source claims another client (for tests of a receiver). */
        uint16_t sport = 0, dport = 0;
        if (tool_endpoint(fd, 0, psrc, sizeof psrc, &sport) != 0 ||
            tool_endpoint(fd, 1, pdst, sizeof pdst, &dport) != 0) {
            fprintf(stderr, "smtpcore-send: --proxy needs a TCP connection\n");
            close(fd);
            free(msg);
            return EXIT_LOCAL;
        }
        if (o.proxy_src[0] != '\0') {
            snprintf(psrc, sizeof psrc, "%s", o.proxy_src);
            sport = o.proxy_src_port;
        }
        cfg.proxy_protocol = o.proxy;
        cfg.proxy_src_addr = psrc;
        cfg.proxy_dst_addr = pdst;
        cfg.proxy_src_port = sport;
        cfg.proxy_dst_port = dport;
    }
    ss.o = &o;
    ss.res = &res;
    ss.st.fd = fd;
    ss.st.ssl = NULL;
    ss.tc = (tool_transcript){ .out = o.verbose ? stdout : NULL, .prefix = "C: ",
                               .hide_auth = o.auth != NULL && !o.show_auth };
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
