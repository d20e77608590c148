/* SPDX-License-Identifier: MIT */
/* smtpcore-sink: an SMTP server on the smtpcore engine that stores what it receives. */
#include "sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "net.h"
#include "report.h"
#include "workers.h"

/* How often deadlines and idle timeouts are checked. */
#define SINK_TICK_MS 250

static const char usage_text[] =
"NAME\n"
"    smtpcore-sink - an SMTP server that stores every accepted message in a maildir\n"
"\n"
"SYNOPSIS\n"
"    smtpcore-sink [--listen ADDR:PORT|unix:PATH] [--maildir DIR] [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    Accepts SMTP connections (many at once per process, non-blocking) and answers them\n"
"    with the smtpcore server engine. With --maildir each accepted message is written to\n"
"    DIR/tmp, fsynced, renamed into DIR/new and the directory fsynced before the 250 reply,\n"
"    so a message acknowledged is never lost. The file holds exactly the message content\n"
"    as received (dot-unstuffed); the envelope goes to the log line. Without --maildir\n"
"    messages are accepted and discarded.\n"
"\n"
"    On start the bound address is printed on stdout as \"listening on ADDR:PORT\"\n"
"    (or \"listening on unix:PATH\").\n"
"    One line per transaction is logged on stderr.\n"
"\n"
"OPTIONS\n"
"    --listen ADDR:PORT   Address to listen on (default 127.0.0.1:2525; port 0 picks a\n"
"                         free port).\n"
"    --listen unix:PATH   Listen on a Unix-domain socket instead. A stale socket file at\n"
"                         PATH (its server gone) is replaced; a live one or any other\n"
"                         file is an error. The file is removed on exit.\n"
"                         --listen is given at most once.\n"
"    --socket-mode MODE   Octal permissions of the unix: socket (default 0666: any local\n"
"                         user may connect, as with Dovecot's LMTP socket).\n"
"    --maildir DIR        Store messages in maildir DIR (created if missing).\n"
"    --lmtp               Speak LMTP (RFC 2033) instead of SMTP: LHLO, and after the data\n"
"                         one reply per accepted recipient. With --maildir a message is\n"
"                         stored once, as one file for all its recipients (the log line\n"
"                         lists them); each recipient then gets 250, or 451 4.3.0 when\n"
"                         storing failed. Usually with --listen unix:PATH.\n"
"    --lmtp-refuse ADDR=CODE[/X.Y.Z]\n"
"                         With --lmtp: answer recipient ADDR (any case) with CODE after\n"
"                         the data instead of storing for it: 4xx defers (default 4.2.0),\n"
"                         5xx refuses (default 5.1.1). Repeatable, up to 64. When every\n"
"                         recipient of a message is named, nothing is stored.\n"
"    --max-size N         Largest message in octets, K/M/G suffixes allowed; 0 means no\n"
"                         limit (default 10M). Advertised with SIZE.\n"
"    --max-rcpt N         Recipients per transaction (default 100; more get 452).\n"
"    --tls-cert FILE      PEM certificate chain; with --tls-key enables STARTTLS.\n"
"    --tls-key FILE       PEM private key.\n"
"    --auth-file FILE     Enables AUTH PLAIN and LOGIN against FILE's \"user:password\"\n"
"                         lines. AUTH is offered only after STARTTLS unless\n"
"                         --auth-plaintext is given.\n"
"    --auth-plaintext     Offer AUTH on unencrypted connections too.\n"
"    --require-helo       Refuse MAIL before HELO/EHLO (503). Default: HELO optional.\n"
"    --bare-lf POLICY     reject (default): bare LF in commands gets 500 and a message\n"
"                         containing one is refused with 550; accept: bare LF passes as\n"
"                         content. End of data is only ever CRLF.CRLF.\n"
"    --nul POLICY         reject (default): a message with a NUL byte in its content is\n"
"                         read to its end and refused with 550 5.6.0 (NUL is not allowed\n"
"                         in 7bit/8bit content; BODY=BINARYMIME with BDAT may carry it);\n"
"                         accept: NUL passes as content.\n"
"    --forbid-pipelining WHO\n"
"                         unauth (default): a client that has not authenticated and\n"
"                         sends more behind a command that must end a pipelined group\n"
"                         (DATA before its 354, EHLO, HELO, NOOP, VRFY, EXPN, HELP), or\n"
"                         pipelines at all without PIPELINING, gets \"554 5.5.0 Error:\n"
"                         SMTP protocol synchronization\" and is disconnected (Postfix's\n"
"                         smtpd_forbid_unauth_pipelining); all: authenticated clients\n"
"                         too; off: such commands are served.\n"
"    --hostname NAME      Name in the greeting and EHLO reply (default localhost).\n"
"    --max-conn N         Concurrent connections (default 1000; more get 421). Lowered to\n"
"                         what the open file limit (ulimit -n) allows: a connection\n"
"                         needs a descriptor, two with --maildir; the sink does not\n"
"                         start when the limit leaves room for none.\n"
"    --timeout SECONDS    Idle timeout: a connection that moves no byte this long gets\n"
"                         \"421 4.4.2 <host> Error: timeout exceeded\" and is closed,\n"
"                         mid-DATA too (default 300).\n"
"    --command-timeout SECONDS\n"
"                         A command line (or SASL response) must be complete within this\n"
"                         long of the previous command's handling, however its bytes\n"
"                         trickle in (default: --timeout; 0: off). Like Postfix's\n"
"                         smtpd_per_request_deadline.\n"
"    --content-timeout SECONDS\n"
"                         Message content (DATA to the final dot, a BDAT chunk) may take\n"
"                         this long plus one second per --min-content-rate bytes received\n"
"                         (default: --timeout; 0: off); a client sending one byte a second\n"
"                         is closed after about this long, with 421 4.4.2.\n"
"    --min-content-rate BYTES\n"
"                         See --content-timeout (default 1024; 0: the content deadline\n"
"                         does not grow).\n"
"    --max-auth-failures N\n"
"                         Failed AUTH attempts per connection before \"421 4.7.0 ... too\n"
"                         many failed authentications\" and close (default 3; 0: no\n"
"                         limit). Each also counts as an error.\n"
"    --auth-failure-delay SECONDS\n"
"                         The reply to a failed AUTH is held back this long (default 1,\n"
"                         fractions allowed, 0: none), as Postfix's smtpd_error_sleep_time;\n"
"                         other connections are served meanwhile.\n"
"    --max-auth-failures-per-address N\n"
"                         After N failed AUTH attempts from one client IP address within\n"
"                         --auth-failure-window, its next AUTH gets \"421 4.7.0 ... too many\n"
"                         failed authentications from ADDR, try later\" without a check\n"
"                         and the connection closes (default 0: off). At most 4096\n"
"                         addresses are remembered (the oldest are forgotten first);\n"
"                         with --workers each worker counts on its own.\n"
"    --auth-failure-window SECONDS\n"
"                         See --max-auth-failures-per-address (default 600).\n"
"    --grace SECONDS      At shutdown, time given to messages in flight (default 30).\n"
"    --workers N          Serve with N worker processes (default 1). Each worker is a\n"
"                         whole sink with its own sessions, storage thread and\n"
"                         --max-conn; a supervisor starts them, forwards SIGTERM/SIGINT\n"
"                         and prints one summary with the totals.\n"
"    --worker-socket MODE reuseport (default): one SO_REUSEPORT listener per worker, the\n"
"                         kernel spreads connections; shared: one listener for all.\n"
"    --proxy-protocol V   Every connection starts with a PROXY protocol header (HAProxy\n"
"                         send-proxy): v1, v2 or any (either version). The header names\n"
"                         the real client; a connection without a valid one is closed\n"
"                         without a greeting. Only for a listener that nothing but the\n"
"                         proxy can reach.\n"
"    --xclient-from CIDRS Offer and accept XCLIENT (nginx mail proxy, Postfix) from\n"
"                         connections whose address is in CIDRS, a comma-separated list\n"
"                         of IPv4/IPv6 addresses or networks (127.0.0.1,10.0.0.0/8,::1).\n"
"                         Others are not offered XCLIENT and get 550 5.7.0 for it.\n"
"    --quiet              No per-transaction log lines.\n"
"    --verbose            Also log connections, protocol errors and the sessions closed\n"
"                         by a timeout or deadline.\n"
"    -h, --help           This text.\n"
"    --version            The tool's and the library's version.\n"
"\n"
"SIGNALS\n"
"    SIGTERM, SIGINT      Stop accepting connections. Idle sessions get \"421 4.3.2\"; a\n"
"                         message in flight is stored and acknowledged, then 421. After\n"
"                         --grace seconds remaining sessions are dropped (unacknowledged\n"
"                         messages are removed, never half-stored). Exit status 0.\n"
"\n"
"LOG LINE\n"
"    smtpcore-sink: id=N peer=ADDR:PORT [proxy=HOW via=ADDR:PORT] helo=NAME\n"
"        tls=no|VERSION/CIPHER auth=USER|- from=<ADDR> nrcpt=N to=<A>,<B> size=OCTETS\n"
"        status=CODE [rcpt_status=C1,C2] [file=NAME] [reason=WHY]\n"
"    tls= is e.g. tls=TLSv1.3/TLS_AES_256_GCM_SHA384 (one word, no space).\n"
"    peer= is the real client: the socket's peer, or what a PROXY header (proxy=v1,\n"
"    proxy=v2) or XCLIENT (proxy=xclient) said; via= is then the proxy's own address.\n"
"    proxy=v2-local: a LOCAL header (a health check), peer= is the socket's.\n"
"    With --lmtp, rcpt_status gives each recipient's reply code in the order of to=,\n"
"    and status is 250 when one recipient got 250, else the first 4xx, else the first 5xx.\n"
"\n"
"EXIT STATUS\n"
"    0 after a clean shutdown, 2 on a usage error, 1 on a start-up failure (such as an\n"
"    open file limit with no room for a connection) or, with --workers, when a worker\n"
"    failed or died.\n";

/* "1", "0.25", "2.5": seconds with an optional fraction, into milliseconds. */
static int parse_seconds_ms(const char *v, uint32_t max_s, uint32_t *ms)
{
    uint64_t whole = 0, frac = 0, scale = 1000;
    const char *p = v;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++)
        if ((whole = whole * 10 + (uint64_t)(*p - '0')) > max_s)
            return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            if (scale > 1) {
                scale /= 10;
                frac += (uint64_t)(*p - '0') * scale;
            }
    }
    if (*p != '\0')
        return -1;
    *ms = (uint32_t)(whole * 1000 + frac);
    return 0;
}

const char *sink_failed_note(uint64_t failed)
{
    static char note[64];
    if (failed == 0)
        return "";
    snprintf(note, sizeof note, ", %llu of them with 451", (unsigned long long)failed);
    return note;
}

static int usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "smtpcore-sink: %s%s%s\nTry 'smtpcore-sink --help'.\n", msg,
            arg ? ": " : "", arg ? arg : "");
    return 2;
}

/* Parses argv into ctx->opt. Returns -1 to continue, or an exit status. */
static int parse_args(sink_ctx *ctx, int argc, char **argv)
{
    sink_options *o = &ctx->opt;
    snprintf(o->host, sizeof o->host, "127.0.0.1");
    o->port = 2525;
    o->socket_mode = 0666;
    o->max_size = 10u * 1024 * 1024;
    o->max_rcpt = 100;
    o->max_conn = 1000;
    o->timeout_s = 300;
    o->command_timeout_s = UINT32_MAX; /* = --timeout unless given */
    o->content_timeout_s = UINT32_MAX;
    o->min_content_rate = 1024;
    o->max_auth_failures = 3;
    o->auth_failure_delay_ms = 1000;
    o->auth_failure_window_s = 600;
    o->grace_s = 30;
    o->hostname = "localhost";
    o->workers = 1;
    o->sync_policy = SMTPCORE_SYNC_UNAUTH;
    int listen_seen = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        const char *a = argv[i];
        uint64_t n;
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            tool_print_version("smtpcore-sink");
            return 0;
        } else if ((r = tool_opt_value(argc, argv, &i, "--listen", &v)) != 0) {
            /* One listener per sink: a second --listen must not silently replace the
             * first (the user would think both addresses are served). */
            if (listen_seen++)
                return usage_error("--listen given twice (one address per sink; start one "
                                   "sink per address, or use --workers for more cores)", v);
            if (r < 0 || tool_parse_hostport(v, 2525, 1, o->host, sizeof o->host, &o->port))
                return usage_error("bad --listen", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--socket-mode", &v)) != 0) {
            char *end = NULL;
            unsigned long m = r < 0 ? 0 : strtoul(v, &end, 8);
            if (r < 0 || end == v || *end != '\0' || m > 0777)
                return usage_error("bad --socket-mode (octal, at most 0777)", v);
            o->socket_mode = (unsigned)m;
        } else if (!strcmp(a, "--lmtp")) {
            o->lmtp.on = 1;
        } else if ((r = tool_opt_value(argc, argv, &i, "--lmtp-refuse", &v)) != 0) {
            if (r < 0 || sink_lmtp_add_rule(&o->lmtp, v) != 0)
                return usage_error("bad --lmtp-refuse (ADDR=CODE or ADDR=CODE/X.Y.Z, CODE 4xx "
                                   "or 5xx, at most 64 rules)", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--maildir", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->maildir = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--max-size", &v)) != 0) {
            if (r < 0 || tool_parse_size(v, &o->max_size))
                return usage_error("bad --max-size", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--max-rcpt", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 1000000, &n) || n == 0)
                return usage_error("bad --max-rcpt", v);
            o->max_rcpt = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--max-conn", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 100000, &n) || n == 0)
                return usage_error("bad --max-conn", v);
            o->max_conn = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--timeout", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 86400, &n) || n == 0)
                return usage_error("bad --timeout", v);
            o->timeout_s = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--command-timeout", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 86400, &n))
                return usage_error("bad --command-timeout", v);
            o->command_timeout_s = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--content-timeout", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 86400, &n))
                return usage_error("bad --content-timeout", v);
            o->content_timeout_s = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--min-content-rate", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 1000000000, &n))
                return usage_error("bad --min-content-rate", v);
            o->min_content_rate = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--max-auth-failures", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 1000000, &n))
                return usage_error("bad --max-auth-failures", v);
            o->max_auth_failures = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--auth-failure-delay", &v)) != 0) {
            if (r < 0 || parse_seconds_ms(v, 3600, &o->auth_failure_delay_ms) != 0)
                return usage_error("bad --auth-failure-delay (seconds, at most 3600)", v);
        } else if ((r = tool_opt_value(argc, argv, &i, "--max-auth-failures-per-address",
                                       &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 1000000, &n))
                return usage_error("bad --max-auth-failures-per-address", v);
            o->max_auth_failures_per_address = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--auth-failure-window", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 86400 * 7, &n) || n == 0)
                return usage_error("bad --auth-failure-window", v);
            o->auth_failure_window_s = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--grace", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 3600, &n))
                return usage_error("bad --grace", v);
            o->grace_s = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--workers", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 256, &n) || n == 0)
                return usage_error("bad --workers (1 to 256)", v);
            o->workers = (uint32_t)n;
        } else if ((r = tool_opt_value(argc, argv, &i, "--worker-socket", &v)) != 0) {
            if (r < 0 || (strcmp(v, "reuseport") != 0 && strcmp(v, "shared") != 0))
                return usage_error("--worker-socket takes reuseport or shared", v);
            o->worker_socket = !strcmp(v, "shared") ? SINK_WORKER_SHARED
                                                     : SINK_WORKER_REUSEPORT;
        } else if ((r = tool_opt_value(argc, argv, &i, "--proxy-protocol", &v)) != 0) {
            if (r < 0 || (strcmp(v, "v1") && strcmp(v, "v2") && strcmp(v, "any")))
                return usage_error("--proxy-protocol takes v1, v2 or any", v);
            o->proxy_protocol = !strcmp(v, "v1")   ? SMTPCORE_PROXY_V1
                                : !strcmp(v, "v2") ? SMTPCORE_PROXY_V2
                                                   : SMTPCORE_PROXY_ANY;
        } else if ((r = tool_opt_value(argc, argv, &i, "--xclient-from", &v)) != 0) {
            int k = r < 0 ? -1
                          : tool_cidr_parse_list(v, o->xclient_from, sizeof o->xclient_from /
                                                                         sizeof o->xclient_from[0]);
            if (k <= 0)
                return usage_error("bad --xclient-from (ADDR[/BITS],... at most 32)", v);
            o->n_xclient_from = (size_t)k;
        } else if ((r = tool_opt_value(argc, argv, &i, "--tls-cert", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->tls_cert = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--tls-key", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->tls_key = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--auth-file", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->auth_file = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--hostname", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            o->hostname = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--bare-lf", &v)) != 0) {
            if (r < 0 || (strcmp(v, "reject") != 0 && strcmp(v, "accept") != 0))
                return usage_error("--bare-lf takes reject or accept", v);
            o->bare_lf_accept = !strcmp(v, "accept");
        } else if ((r = tool_opt_value(argc, argv, &i, "--nul", &v)) != 0) {
            if (r < 0 || (strcmp(v, "reject") != 0 && strcmp(v, "accept") != 0))
                return usage_error("--nul takes reject or accept", v);
            o->nul_accept = !strcmp(v, "accept");
        } else if ((r = tool_opt_value(argc, argv, &i, "--forbid-pipelining", &v)) != 0) {
            if (r < 0)
                return usage_error("missing value", a);
            if (!strcmp(v, "unauth"))
                o->sync_policy = SMTPCORE_SYNC_UNAUTH;
            else if (!strcmp(v, "all"))
                o->sync_policy = SMTPCORE_SYNC_ALL;
            else if (!strcmp(v, "off"))
                o->sync_policy = SMTPCORE_SYNC_OFF;
            else
                return usage_error("--forbid-pipelining takes unauth, all or off", v);
        } else if (!strcmp(a, "--auth-plaintext")) {
            o->auth_plaintext = 1;
        } else if (!strcmp(a, "--require-helo")) {
            o->require_helo = 1;
        } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
            o->quiet = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o->verbose = 1;
        } else {
            return usage_error("unknown option", a);
        }
    }
    if (o->lmtp.nrules > 0 && !o->lmtp.on)
        return usage_error("--lmtp-refuse needs --lmtp", NULL);
    if ((o->tls_cert == NULL) != (o->tls_key == NULL))
        return usage_error("--tls-cert and --tls-key go together", NULL);
    if (o->command_timeout_s == UINT32_MAX)
        o->command_timeout_s = o->timeout_s;
    if (o->content_timeout_s == UINT32_MAX)
        o->content_timeout_s = o->timeout_s;
    return -1;
}

/* Descriptors open now (the sink's own: stdio, signalfd, maildir, storage pipe, ...). */
static rlim_t fds_in_use(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 64; /* no /proc: assume a generous reserve */
    rlim_t n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n > 0 ? n - 1 : 0; /* the directory's own descriptor */
}

/* Each connection needs a socket and, while a message is stored, a file: raise the soft
 * descriptor limit to the hard one and keep --max-conn within it, so that accept() does
 * not run out (the listening socket would stay readable: a busy loop) and no accepted
 * message is refused for want of a file. Called once everything else is open. Returns
 * -1 when the limit leaves no room for a single connection. */
static int fit_fd_limit(sink_ctx *ctx)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return 0;
    rlim_t per_conn = ctx->opt.maildir != NULL ? 2 : 1;
    /* Still to come: the listener, the spare descriptor of accept_all(), and a few
     * short-lived ones (the maildir directory fsync, TLS and resolver internals). */
    rlim_t reserve = fds_in_use() + 2 + 8;
    rlim_t fit = rl.rlim_cur > reserve ? (rl.rlim_cur - reserve) / per_conn : 0;
    if (fit == 0) {
        fprintf(stderr, "smtpcore-sink: the open file limit (%llu) leaves no descriptor for "
                "a connection: the sink needs %llu for itself and %llu per connection; "
                "raise it (ulimit -n)\n", (unsigned long long)rl.rlim_cur,
                (unsigned long long)reserve, (unsigned long long)per_conn);
        return -1;
    }
    if (ctx->opt.max_conn > fit) {
        fprintf(stderr, "smtpcore-sink: --max-conn lowered to %llu (open file limit %llu)\n",
                (unsigned long long)fit, (unsigned long long)rl.rlim_cur);
        ctx->opt.max_conn = (uint32_t)fit;
    }
    return 0;
}

/* Builds the engine configuration and opens TLS, maildir and auth file. */
static int setup(sink_ctx *ctx)
{
    char err[512];
    smtpcore_server_config *cfg = &ctx->cfg;
    smtpcore_server_config_init(cfg);
    cfg->hostname = ctx->opt.hostname;
    /* The engine's defaults (514/768 bytes) keep idle sessions tiny; a sink mostly moves
     * message content, which costs fewer events per byte with a larger input buffer. */
    cfg->input_buffer_size = 16384;
    cfg->output_buffer_size = 4096;
    cfg->max_message_size = ctx->opt.max_size;
    cfg->max_recipients = ctx->opt.max_rcpt;
    cfg->helo_policy = ctx->opt.require_helo ? SMTPCORE_HELO_REQUIRED : SMTPCORE_HELO_OPTIONAL;
    cfg->bare_lf_policy = ctx->opt.bare_lf_accept ? SMTPCORE_BARE_LF_ACCEPT
                                                  : SMTPCORE_BARE_LF_REJECT;
    cfg->allow_plaintext_auth = ctx->opt.auth_plaintext;
    cfg->lmtp = ctx->opt.lmtp.on;
    cfg->sync_policy = ctx->opt.sync_policy;
    cfg->nul_policy = ctx->opt.nul_accept ? SMTPCORE_NUL_ACCEPT : SMTPCORE_NUL_REJECT;
    cfg->max_auth_failures = ctx->opt.max_auth_failures;
    ctx->limits = malloc(sizeof *ctx->limits);
    if (ctx->limits == NULL) {
        fprintf(stderr, "smtpcore-sink: out of memory\n");
        return -1;
    }
    sink_limits_init(ctx->limits, ctx->opt.max_auth_failures_per_address,
                     (int64_t)ctx->opt.auth_failure_window_s * 1000);
    cfg->proxy_protocol = (smtpcore_proxy_mode)ctx->opt.proxy_protocol;
    if (ctx->opt.tls_cert != NULL) {
        ctx->tls = tool_tls_server_ctx(ctx->opt.tls_cert, ctx->opt.tls_key, err, sizeof err);
        if (ctx->tls == NULL) {
            fprintf(stderr, "smtpcore-sink: %s\n", err);
            return -1;
        }
        cfg->extensions |= SMTPCORE_EXT_STARTTLS;
    }
    if (ctx->opt.auth_file != NULL) {
        if (tool_auth_load(&ctx->auth, ctx->opt.auth_file, err, sizeof err) != 0) {
            fprintf(stderr, "smtpcore-sink: %s\n", err);
            return -1;
        }
        cfg->extensions |= SMTPCORE_EXT_AUTH;
        cfg->auth_mechs = SMTPCORE_AUTH_PLAIN | SMTPCORE_AUTH_LOGIN;
    }
    if (ctx->opt.maildir != NULL) {
        if (tool_maildir_open(&ctx->md, ctx->opt.maildir, err, sizeof err) != 0) {
            fprintf(stderr, "smtpcore-sink: %s\n", err);
            return -1;
        }
        if (sink_store_start(&ctx->store, &ctx->md) != 0) {
            fprintf(stderr, "smtpcore-sink: cannot start the storage thread\n");
            return -1;
        }
    }
    /* Check the configuration once, so a bad value fails at start, not per connection. */
    smtpcore_server *probe = NULL;
    int rc = smtpcore_server_new(&probe, cfg);
    if (rc != SMTPCORE_OK) {
        fprintf(stderr, "smtpcore-sink: engine configuration: %s\n", smtpcore_strerror(rc));
        return -1;
    }
    smtpcore_server_del(probe);
    return fit_fd_limit(ctx);
}

/* accept() failed for lack of descriptors (EMFILE, ENFILE: --max-conn fits the limit,
 * so another process or the system ran out). The connection waiting in the queue would
 * keep the listener readable and the loop spinning: take it with the spare descriptor,
 * answer 421 and close it; when even that fails, stop polling the listener for a while.
 * Logged once per episode. */
static void accept_no_fd(sink_ctx *ctx, int lfd, int err, int64_t now)
{
    static const char busy[] = "421 4.3.2 Too many open files, try later\r\n";
    if (!ctx->fd_episode && !ctx->opt.quiet)
        fprintf(stderr, "smtpcore-sink: accept: %s: new connections get 421 until a "
                "descriptor is free\n", strerror(err));
    ctx->fd_episode = 1;
    int fd = -1;
    if (ctx->spare_fd >= 0) {
        close(ctx->spare_fd);
        ctx->spare_fd = -1;
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    }
    if (fd >= 0) {
        (void)send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
        close(fd);
    }
    ctx->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ctx->spare_fd < 0)
        ctx->accept_resume = now + 100; /* no descriptor at all: look again shortly */
}

static void accept_all(sink_ctx *ctx, int lfd, sink_conn **conns, size_t *nconns)
{
    static const char busy[] = "421 4.7.0 Too many connections, try later\r\n";
    for (int k = 0; k < 64; k++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                accept_no_fd(ctx, lfd, errno, tool_now_ms());
            return; /* EAGAIN, or a transient error such as ECONNABORTED */
        }
        if (ctx->fd_episode) {
            ctx->fd_episode = 0;
            if (!ctx->opt.quiet)
                fprintf(stderr, "smtpcore-sink: accept: descriptors available again\n");
        }
        if (*nconns >= ctx->opt.max_conn) {
            (void)send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            close(fd);
            continue;
        }
        sink_conn *c = sink_conn_new(ctx, fd, (struct sockaddr *)&ss);
        if (c == NULL)
            continue;
        ctx->connections++;
        conns[(*nconns)++] = c;
        sink_conn_run(ctx, c, tool_now_ms()); /* the greeting goes out at once */
    }
}

/* Closes the listening socket; a unix: socket's file goes with it, so clients that come
 * later get "no such file" at once instead of waiting on a socket nobody accepts on. */
static void close_listener(sink_ctx *ctx, int lfd)
{
    tool_unix_file_remove(&ctx->unix_file);
    close(lfd);
}

static int serve(sink_ctx *ctx, int lfd, int sfd)
{
    size_t cap = ctx->opt.max_conn;
    sink_conn **conns = calloc(cap, sizeof *conns);
    struct pollfd *pfd = calloc(cap + 3, sizeof *pfd);
    if (conns == NULL || pfd == NULL) {
        fprintf(stderr, "smtpcore-sink: out of memory\n");
        free(conns);
        free(pfd);
        return 1;
    }
    size_t nconns = 0;
    int64_t stop_deadline = 0;
    int64_t last_idle_check = tool_now_ms();
    ctx->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (;;) {
        int64_t now = tool_now_ms();
        if (ctx->stopping && (nconns == 0 || now >= stop_deadline)) {
            /* Messages already with the storage thread are finished (and answered when
             * their client is still there) before anything is dropped. */
            sink_store_stop(&ctx->store);
            for (sink_store_job *j = ctx->store.done, *next; j != NULL; j = next) {
                next = j->next;
                sink_conn_store_done(ctx, j->owner, j->result);
                sink_conn_run(ctx, j->owner, now);
            }
            ctx->store.done = NULL;
            for (size_t i = 0; i < nconns; i++) {
                sink_conn_abort(ctx, conns[i]);
                sink_conn_free(ctx, conns[i]);
            }
            nconns = 0;
            break;
        }
        int any_busy = 0;
        /* Deadlines are checked every SINK_TICK_MS; a connection pausing after a failed
         * AUTH wakes the loop when its pause ends. */
        int64_t wake = last_idle_check + SINK_TICK_MS;
        int listen = !ctx->stopping && now >= ctx->accept_resume;
        pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN, .revents = 0 };
        pfd[1] = (struct pollfd){ .fd = listen ? lfd : -1, .events = POLLIN, .revents = 0 };
        pfd[2] = (struct pollfd){ .fd = sink_store_fd(&ctx->store), .events = POLLIN, .revents = 0 };
        if (!listen && !ctx->stopping && ctx->accept_resume < wake)
            wake = ctx->accept_resume;
        for (size_t i = 0; i < nconns; i++) {
            int64_t w = sink_conn_wake(conns[i]);
            /* A paused connection is not polled at all: a reset socket would report
             * POLLHUP at once, again and again. */
            pfd[i + 3] = (struct pollfd){ .fd = w ? -1 : sink_conn_fd(conns[i]),
                                          .events = sink_conn_events(conns[i]), .revents = 0 };
            if (w && w < wake)
                wake = w;
            any_busy |= sink_conn_busy(conns[i]);
        }
        int64_t wait_ms = wake > now ? wake - now : 0;
        int rc = poll(pfd, nconns + 3, any_busy ? 0 : (int)(wait_ms < 1000 ? wait_ms : 1000));
        if (rc < 0 && errno != EINTR) {
            fprintf(stderr, "smtpcore-sink: poll: %s\n", strerror(errno));
            break;
        }
        now = tool_now_ms();
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si && !ctx->stopping) {
                ctx->stopping = 1;
                stop_deadline = now + (int64_t)ctx->opt.grace_s * 1000;
                close_listener(ctx, lfd);
                lfd = -1;
                if (!ctx->opt.quiet)
                    fprintf(stderr, "smtpcore-sink: signal %u: shutting down\n", si.ssi_signo);
                for (size_t i = 0; i < nconns; i++)
                    sink_conn_shutdown(ctx, conns[i]);
            }
        }
        if (pfd[2].revents & POLLIN) {
            for (sink_store_job *j = sink_store_collect(&ctx->store), *next; j != NULL; j = next) {
                next = j->next;
                sink_conn_store_done(ctx, j->owner, j->result);
                sink_conn_run(ctx, j->owner, now);
            }
        }
        size_t n_before = nconns;
        for (size_t i = 0; i < n_before; i++) {
            int64_t w = sink_conn_wake(conns[i]);
            if (pfd[i + 3].revents != 0 || sink_conn_busy(conns[i]) || ctx->stopping ||
                (w != 0 && now >= w))
                sink_conn_run(ctx, conns[i], now);
        }
        if (lfd >= 0 && (pfd[1].revents & POLLIN))
            accept_all(ctx, lfd, conns, &nconns);
        if (now - last_idle_check >= SINK_TICK_MS) {
            last_idle_check = now;
            for (size_t i = 0; i < nconns; i++)
                sink_conn_check_idle(ctx, conns[i], now);
        }
        size_t w = 0;
        for (size_t i = 0; i < nconns; i++) {
            if (sink_conn_dead(conns[i]))
                sink_conn_free(ctx, conns[i]);
            else
                conns[w++] = conns[i];
        }
        nconns = w;
    }
    if (lfd >= 0)
        close_listener(ctx, lfd);
    if (ctx->spare_fd >= 0)
        close(ctx->spare_fd);
    ctx->spare_fd = -1;
    free(conns);
    free(pfd);
    return 0;
}

/* Releases what setup() opened (the storage thread is stopped by serve()). */
static void cleanup(sink_ctx *ctx)
{
    sink_store_stop(&ctx->store); /* normally done by serve(); harmless twice */
    if (ctx->tls != NULL)
        SSL_CTX_free(ctx->tls);
    ctx->tls = NULL;
    tool_auth_free(&ctx->auth);
    free(ctx->limits);
    ctx->limits = NULL;
    if (ctx->opt.maildir != NULL)
        tool_maildir_close(&ctx->md);
}

int main(int argc, char **argv)
{
    sink_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.md.new_fd = -1;
    ctx.spare_fd = -1;
    ctx.id_step = 1;
    int rc = parse_args(&ctx, argc, argv);
    if (rc >= 0)
        return rc;
    signal(SIGPIPE, SIG_IGN);
    /* Signals arrive through a signalfd in the poll set: no handler, no global flag. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (ctx.opt.workers > 1) {
        static const sink_worker_ops ops = { setup, serve, cleanup };
        return sink_workers_main(&ctx, &ops);
    }
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || setup(&ctx) != 0) {
        if (sfd < 0)
            perror("smtpcore-sink: signalfd");
        return 1;
    }
    char bound[128], err[512];
    int lfd = tool_is_unix(ctx.opt.host)
                  ? tool_listen_unix(ctx.opt.host + 5, ctx.opt.socket_mode, &ctx.unix_file, bound,
                                     sizeof bound, err, sizeof err)
                  : tool_listen(ctx.opt.host, ctx.opt.port, bound, sizeof bound, err, sizeof err);
    if (lfd < 0) {
        fprintf(stderr, "smtpcore-sink: %s\n", err);
        return 1;
    }
    printf("listening on %s\n", bound);
    fflush(stdout);
    rc = serve(&ctx, lfd, sfd);
    sink_store_stop(&ctx.store);
    if (!ctx.opt.quiet)
        fprintf(stderr, "smtpcore-sink: stopped: %llu connections, %llu messages stored, "
                "%llu refused%s\n", (unsigned long long)ctx.connections,
                (unsigned long long)ctx.stored, (unsigned long long)ctx.refused,
                sink_failed_note(ctx.failed));
    close(sfd);
    cleanup(&ctx);
    return rc;
}
