/* SPDX-License-Identifier: MIT */
/* smtpcore-probe: conformance checks against any SMTP server, as a verdict table. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smtpcore/smtpcore.h>

#include "cli.h"
#include "net.h"
#include "rawsmtp.h"
#include "report.h"
#include "tls.h"

static const char usage_text[] =
"NAME\n"
"    smtpcore-probe - check an SMTP server for pipelining, fallback and smuggling issues\n"
"\n"
"SYNOPSIS\n"
"    smtpcore-probe [--json] [--lmtp] [--from ADDR] [--to ADDR] [--helo NAME] HOST[:PORT]\n"
"    smtpcore-probe [OPTIONS] unix:PATH\n"
"\n"
"DESCRIPTION\n"
"    Runs a fixed set of checks, each over its own connection, and prints a verdict table:\n"
"\n"
"    greeting       the server greets with 220 (read by the smtpcore client engine)\n"
"    ehlo           EHLO is answered; the capabilities the engine parsed are listed\n"
"                   (lhlo in LMTP)\n"
"    lmtp           (LMTP only) the server refused EHLO and HELO but answered LHLO, so\n"
"                   it is an LMTP server (RFC 2033): every check then speaks LMTP, and\n"
"                   helo-fallback is not tested; or --lmtp was given\n"
"    helo-fallback  after EHLO and RSET, HELO is still answered with 250 (what clients do\n"
"                   when EHLO is refused, RFC 1869 / RFC 5321 4.1.4)\n"
"    pipelining     MAIL, RCPT, RSET, QUIT sent in one write all get their four replies,\n"
"                   in order (RFC 2920 3.2); a server that loses pipelined commands fails\n"
"                   (skipped when PIPELINING is not offered)\n"
"    dot-quit       the end of data \".\" and QUIT sent in one write get 250 then 221\n"
"                   (this check delivers one small message)\n"
"    starttls       when offered: STARTTLS, the TLS handshake and a second EHLO work\n"
"                   (info when not offered; certificates are not verified)\n"
"    tls-injection  when STARTTLS is offered: a NOOP sent in plaintext in the same write\n"
"                   as STARTTLS must not be answered inside TLS (CVE-2011-0411 class)\n"
"    xclient        whether XCLIENT (Postfix) is offered to this client: info. A server\n"
"                   should offer it only to its own proxies, since it lets the client\n"
"                   choose the address the server believes it has\n"
"    bare-lf-dot    a message body containing <LF>.<LF> followed by a real <CRLF>.<CRLF>:\n"
"                   a server that answers twice took the bare-LF form as the end of data\n"
"                   and is exposed to SMTP smuggling (this check may deliver a message)\n"
"\n"
"    Results are pass, FAIL, info, or inconclusive: a check that sends a message could\n"
"    not run because the server refused its MAIL, RCPT or DATA (e.g. \"550 relay not\n"
"    permitted\" for the default recipient: give --to an address it accepts). Use it\n"
"    against servers you run; it sends mail.\n"
"\n"
"OPTIONS\n"
"    --json           Print the result as one JSON object instead of a table.\n"
"    --lmtp           Probe an LMTP server (LHLO; default port 24). Without it, a\n"
"                     server that refuses EHLO and HELO but takes LHLO is found to be\n"
"                     one, and the checks are run again in LMTP.\n"
"    --from ADDR      Sender for the checks (default probe@example.com).\n"
"    --to ADDR        Recipient for the checks (default probe@example.com).\n"
"    --helo NAME      EHLO/HELO name (default probe.example.com).\n"
"    --timeout SEC    Wait for each reply at most SEC seconds (default 5).\n"
"    -h, --help       This text.\n"
"    --version        The tool's and the library's version.\n"
"\n"
"EXIT STATUS\n"
"    0 every check passed (conformant), 1 at least one check failed, 2 the server could\n"
"    not be reached, did not greet, or greeted with a refusal (verdict \"refused at the\n"
"    greeting\"), 3 no check failed but some were inconclusive, 4 usage error.\n";

/* R_INCONCLUSIVE: the check could not run (e.g. the server refused its recipient). */
typedef enum { R_PASS, R_FAIL, R_INFO, R_INCONCLUSIVE } result_kind;

typedef struct check {
    const char *name;
    result_kind result;
    char detail[512];
} check;

typedef struct probe {
    char host[256];
    uint16_t port;
    const char *from, *to, *helo;
    int timeout_ms;
    int json;
    check checks[10];
    size_t nchecks;
    smtpcore_caps caps;
    int have_caps;
    int lmtp;       /* speak LMTP: --lmtp, or the server refused EHLO and HELO but took LHLO */
    int lmtp_found; /* ...found that way */
    int greet_refused; /* it answered, but its greeting was a 4xx/5xx refusal */
} probe;

/* The greeting command of the protocol being probed. */
static const char *hello(const probe *p)
{
    return p->lmtp ? "LHLO" : "EHLO";
}

static check *add_check(probe *p, const char *name, result_kind r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static check *add_check(probe *p, const char *name, result_kind r, const char *fmt, ...)
{
    check *c = &p->checks[p->nchecks++];
    c->name = name;
    c->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof c->detail, fmt, ap);
    va_end(ap);
    return c;
}

static void caps_text(const smtpcore_caps *caps, char *out, size_t cap)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { SMTPCORE_EXT_PIPELINING, "PIPELINING" }, { SMTPCORE_EXT_8BITMIME, "8BITMIME" },
        { SMTPCORE_EXT_SMTPUTF8, "SMTPUTF8" }, { SMTPCORE_EXT_DSN, "DSN" },
        { SMTPCORE_EXT_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES" },
        { SMTPCORE_EXT_CHUNKING, "CHUNKING" }, { SMTPCORE_EXT_BINARYMIME, "BINARYMIME" },
        { SMTPCORE_EXT_STARTTLS, "STARTTLS" }, { SMTPCORE_EXT_AUTH, "AUTH" },
        { SMTPCORE_EXT_VRFY, "VRFY" }, { SMTPCORE_EXT_HELP, "HELP" },
        { SMTPCORE_EXT_XCLIENT, "XCLIENT" },
    };
    size_t o = 0;
    out[0] = '\0';
    if (caps->extensions & SMTPCORE_EXT_SIZE)
        o += (size_t)snprintf(out + o, cap - o, "SIZE=%llu", (unsigned long long)caps->size_limit);
    for (size_t i = 0; i < sizeof names / sizeof names[0] && o < cap; i++)
        if (caps->extensions & names[i].bit)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? " " : "", names[i].name);
    if (o == 0)
        snprintf(out, cap, "(no extensions)");
}

/* XCLIENT in the EHLO reply (seen by the engine session): reported, never used. */
static void check_xclient(probe *p)
{
    if (p->have_caps && (p->caps.extensions & SMTPCORE_EXT_XCLIENT))
        add_check(p, "xclient", R_INFO, "offered to this client: it may name another client "
                  "(fine for a proxy's address, a risk if anyone can connect from here)");
    else
        add_check(p, "xclient", R_INFO, "not offered to this client");
}

/* The engine session: greeting, EHLO (with its own HELO fallback), capabilities, QUIT. */
static int engine_session(probe *p)
{
    char err[256];
    int fd = tool_connect(p->host, p->port, p->timeout_ms, err, sizeof err);
    if (fd < 0) {
        add_check(p, "greeting", R_FAIL, "%s", err);
        return -1;
    }
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = p->helo;
    cfg.tls_policy = SMTPCORE_TLS_NEVER;
    cfg.lmtp = p->lmtp;
    smtpcore_client *c = NULL;
    int rc = smtpcore_client_new(&c, &cfg);
    if (rc != SMTPCORE_OK) {
        close(fd);
        add_check(p, "greeting", R_FAIL, "client engine: %s", smtpcore_strerror(rc));
        return -1;
    }
    tool_stream st = { .fd = fd, .ssl = NULL };
    char in[8192];
    size_t in_len = 0;
    int greeted = 0, ready = 0, closed = 0, eof = 0;
    char greeting[256] = "", why[256] = "", refusal[512] = "";
    int64_t deadline = tool_now_ms() + p->timeout_ms * 3;
    while (!closed && tool_now_ms() < deadline) {
        int progress = 0;
        const smtpcore_client_event *ev;
        while (smtpcore_client_next_event(c, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_CEV_NONE) {
            progress = 1;
            if (ev->type == SMTPCORE_CEV_GREETING) {
                greeted = ev->reply.code == 220;
                size_t n = 0;
                for (; n < ev->reply.raw.len && n + 1 < sizeof greeting; n++) {
                    char ch = ev->reply.raw.ptr[n];
                    if (ch == '\r' || ch == '\n')
                        break;
                    greeting[n] = ch;
                }
                greeting[n] = '\0';
            } else if (ev->type == SMTPCORE_CEV_READY) {
                ready = 1;
                p->caps = ev->caps;
                p->have_caps = 1;
                smtpcore_client_quit(c);
            } else if (ev->type == SMTPCORE_CEV_CLOSED || ev->type == SMTPCORE_CEV_PROTOCOL_ERROR) {
                /* A refusing greeting (554, 421) closes without a GREETING event. */
                if (!greeted && ev->type == SMTPCORE_CEV_CLOSED && ev->reply.code >= 400)
                    tool_reply_format(&ev->reply, refusal, sizeof refusal);
                size_t n = ev->message.len < sizeof why - 1 ? ev->message.len : sizeof why - 1;
                if (n > 0 && why[0] == '\0') {
                    memcpy(why, ev->message.ptr, n);
                    why[n] = '\0';
                }
                closed |= ev->type == SMTPCORE_CEV_CLOSED;
            }
        }
        if (in_len > 0) {
            size_t used = 0;
            smtpcore_client_receive(c, in, in_len, &used);
            memmove(in, in + used, in_len - used);
            in_len -= used;
            progress |= used > 0;
        }
        const char *out;
        size_t pending = smtpcore_client_output(c, &out);
        if (pending > 0) {
            short want;
            long w = tool_stream_write(&st, out, pending, &want);
            if (w > 0) {
                smtpcore_client_consume(c, (size_t)w);
                progress = 1;
            }
        }
        if (closed || eof)
            break;
        if (progress)
            continue;
        if (tool_wait(fd, POLLIN, deadline) != 1)
            break;
        short want;
        long n = tool_stream_read(&st, in + in_len, sizeof in - in_len, &want);
        if (n > 0) {
            in_len += (size_t)n;
        } else if (n == 0 || n == TOOL_IO_ERROR) {
            smtpcore_client_receive_eof(c);
            eof = 1;
            while (smtpcore_client_next_event(c, &ev) == SMTPCORE_OK &&
                   ev->type != SMTPCORE_CEV_NONE) {
            }
        }
    }
    smtpcore_client_del(c);
    tool_stream_close(&st);
    if (!greeted && refusal[0]) {
        add_check(p, "greeting", R_FAIL, "the server greeted with a refusal: %s", refusal);
        p->greet_refused = 1;
        return -1;
    }
    if (!greeted) {
        add_check(p, "greeting", R_FAIL, "%s", greeting[0] ? greeting : why[0] ? why : "no greeting");
        return -1;
    }
    add_check(p, "greeting", R_PASS, "%s", greeting);
    if (!ready && p->lmtp) {
        add_check(p, "lhlo", R_FAIL, "no usable LHLO reply%s%s", why[0] ? ": " : "", why);
        return 0;
    }
    if (!ready) {
        add_check(p, "ehlo", R_FAIL, "no usable EHLO or HELO reply%s%s", why[0] ? ": " : "", why);
        return 0;
    }
    char text[400];
    caps_text(&p->caps, text, sizeof text);
    if (p->lmtp)
        add_check(p, "lhlo", R_PASS, "%s", text);
    else if (p->caps.esmtp)
        add_check(p, "ehlo", R_PASS, "%s", text);
    else
        add_check(p, "ehlo", R_FAIL, "EHLO refused (RFC 5321 2.2.1: servers MUST support it); "
                  "the engine fell back to HELO");
    return 0;
}

/* Opens a raw session and reads the greeting; says EHLO when @p ehlo. */
static int raw_open(probe *p, tool_raw *r, int ehlo, char *why, size_t why_cap)
{
    tool_raw_reply rep;
    if (tool_raw_connect(r, p->host, p->port, p->timeout_ms, why, why_cap) != 0)
        return -1;
    if (tool_raw_reply_read(r, &rep, p->timeout_ms) != 1 || rep.code != 220) {
        snprintf(why, why_cap, "no 220 greeting");
        tool_raw_close(r);
        return -1;
    }
    if (ehlo) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "%s %s", hello(p), p->helo);
        if (tool_raw_cmd(r, cmd, &rep) != 250 && p->lmtp) {
            snprintf(why, why_cap, "LHLO refused: %.200s", rep.text[0] ? rep.text : "no reply");
            tool_raw_close(r);
            return -1;
        } else if (rep.code != 250) {
            /* an SMTP-only server: the checks still run after HELO */
            snprintf(cmd, sizeof cmd, "HELO %s", p->helo);
            if (tool_raw_cmd(r, cmd, &rep) != 250) {
                snprintf(why, why_cap, "EHLO and HELO refused: %.200s",
                         rep.text[0] ? rep.text : "no reply");
                tool_raw_close(r);
                return -1;
            }
        }
    }
    return 0;
}

/* An LMTP server refuses EHLO and HELO (RFC 2033 4.1) but answers LHLO with 250.
 * Returns LHLO's reply code (0 when there was none). */
static int try_lhlo(probe *p)
{
    tool_raw r;
    tool_raw_reply rep;
    char why[256], cmd[300];
    if (raw_open(p, &r, 0, why, sizeof why) != 0)
        return 0;
    snprintf(cmd, sizeof cmd, "LHLO %s", p->helo);
    int code = tool_raw_cmd(&r, cmd, &rep);
    tool_raw_cmd(&r, "QUIT", &rep);
    tool_raw_close(&r);
    return code;
}

static void check_helo_fallback(probe *p)
{
    if (p->lmtp) {
        add_check(p, "helo-fallback", R_INFO, "LMTP has no HELO (RFC 2033 4.1): not tested");
        return;
    }
    tool_raw r;
    tool_raw_reply rep;
    char why[256], cmd[300];
    if (raw_open(p, &r, 0, why, sizeof why) != 0) {
        add_check(p, "helo-fallback", R_FAIL, "%s", why);
        return;
    }
    snprintf(cmd, sizeof cmd, "EHLO %s", p->helo);
    int ehlo = tool_raw_cmd(&r, cmd, &rep);
    int rset = tool_raw_cmd(&r, "RSET", &rep);
    snprintf(cmd, sizeof cmd, "HELO %s", p->helo);
    int helo = tool_raw_cmd(&r, cmd, &rep);
    if (helo == 250)
        add_check(p, "helo-fallback", R_PASS, "EHLO %d, RSET %d, HELO %d", ehlo, rset, helo);
    else
        add_check(p, "helo-fallback", R_FAIL, "HELO after EHLO+RSET answered %d: %s", helo,
                  rep.text[0] ? rep.text : "no reply");
    tool_raw_cmd(&r, "QUIT", &rep);
    tool_raw_close(&r);
}

static void check_pipelining(probe *p)
{
    if (p->have_caps && !(p->caps.extensions & SMTPCORE_EXT_PIPELINING)) {
        add_check(p, "pipelining", R_INFO, "PIPELINING not offered: not tested");
        return;
    }
    tool_raw r;
    char why[256], group[1200];
    if (raw_open(p, &r, 1, why, sizeof why) != 0) {
        add_check(p, "pipelining", R_FAIL, "%s", why);
        return;
    }
    /* The 003 seed's group: a verification probe as Postfix sends it. */
    snprintf(group, sizeof group, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRSET\r\nQUIT\r\n", p->from,
             p->to);
    tool_raw_sends(&r, group);
    int codes[8];
    size_t n = 0;
    tool_raw_reply rep;
    while (n < 8 && tool_raw_reply_read(&r, &rep, p->timeout_ms) == 1)
        codes[n++] = rep.code;
    tool_raw_close(&r);
    char got[64] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? " " : "", codes[i]);
    int ok = n == 4 && codes[0] / 100 == 2 && codes[2] == 250 && codes[3] == 221 &&
             codes[1] != 221;
    if (ok)
        add_check(p, "pipelining", R_PASS, "MAIL RCPT RSET QUIT in one write: 4 replies in "
                  "order (%s)", got);
    else
        add_check(p, "pipelining", R_FAIL, "MAIL RCPT RSET QUIT in one write: %zu of 4 replies "
                  "(%s)%s", n, n ? got : "none",
                  n < 4 ? ": pipelined commands lost (RFC 2920 3.2); clients need the "
                          "split-quit workaround" : ": replies out of order");
}

/* MAIL, RCPT, DATA one at a time; returns 0 once 354 is in, or with a reason -1 (no
 * session) or -2 (the server refused the envelope: the check cannot run). */
static int raw_to_data(probe *p, tool_raw *r, char *why, size_t why_cap)
{
    char cmd[600];
    tool_raw_reply rep;
    if (raw_open(p, r, 1, why, why_cap) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "MAIL FROM:<%s>", p->from);
    if (tool_raw_cmd(r, cmd, &rep) / 100 != 2) {
        snprintf(why, why_cap, "MAIL refused: %.200s (use --from)", rep.text);
        tool_raw_close(r);
        return -2;
    }
    snprintf(cmd, sizeof cmd, "RCPT TO:<%s>", p->to);
    if (tool_raw_cmd(r, cmd, &rep) / 100 != 2) {
        snprintf(why, why_cap, "RCPT refused: %.200s (use --to with an address it accepts)",
                 rep.text);
        tool_raw_close(r);
        return -2;
    }
    if (tool_raw_cmd(r, "DATA", &rep) != 354) {
        snprintf(why, why_cap, "DATA refused: %.200s", rep.text);
        tool_raw_close(r);
        return -2;
    }
    return 0;
}

static void check_dot_quit(probe *p)
{
    tool_raw r;
    char why[256];
    int rc = raw_to_data(p, &r, why, sizeof why);
    if (rc != 0) {
        add_check(p, "dot-quit", rc == -2 ? R_INCONCLUSIVE : R_FAIL, "%s%s",
                  rc == -2 ? "could not run: " : "", why);
        return;
    }
    tool_raw_sends(&r, "Subject: smtpcore-probe dot+QUIT check\r\n\r\nprobe\r\n.\r\nQUIT\r\n");
    tool_raw_reply a, b;
    int ra = tool_raw_reply_read(&r, &a, p->timeout_ms);
    int rb = ra == 1 ? tool_raw_reply_read(&r, &b, p->timeout_ms) : -1;
    tool_raw_close(&r);
    if (ra == 1 && rb == 1 && a.code / 100 == 2 && b.code == 221)
        add_check(p, "dot-quit", R_PASS, "\".\" and QUIT in one write: %d then %d", a.code,
                  b.code);
    else
        add_check(p, "dot-quit", R_FAIL, "\".\" and QUIT in one write: %s%s%s",
                  ra == 1 ? a.text : "no reply", rb == 1 ? " then " : ", no second reply",
                  rb == 1 ? b.text : "");
}

static void check_bare_lf(probe *p)
{
    tool_raw r;
    char why[256];
    int rc = raw_to_data(p, &r, why, sizeof why);
    if (rc != 0) {
        add_check(p, "bare-lf-dot", rc == -2 ? R_INCONCLUSIVE : R_FAIL, "%s%s",
                  rc == -2 ? "could not run: " : "", why);
        return;
    }
    /* If "\n.\n" ends the data, "MAIL FROM" after it would start a second, smuggled
     * transaction; a harmless NOOP shows the same thing without sending a second mail. */
    tool_raw_sends(&r, "Subject: smtpcore-probe bare LF check\r\n\r\nbefore\n.\nNOOP\r\n"
                       "after\r\n.\r\n");
    tool_raw_reply a, b;
    int ra = tool_raw_reply_read(&r, &a, p->timeout_ms);
    /* A conformant server sends exactly one reply; wait a little for a second. */
    int rb = ra == 1 ? tool_raw_reply_read(&r, &b, p->timeout_ms < 2000 ? p->timeout_ms : 2000)
                     : 0;
    tool_raw_reply q;
    tool_raw_cmd(&r, "QUIT", &q);
    tool_raw_close(&r);
    if (ra != 1)
        add_check(p, "bare-lf-dot", R_FAIL, "no reply to the message");
    else if (rb == 1)
        add_check(p, "bare-lf-dot", R_FAIL, "<LF>.<LF> accepted as end of data: answered "
                  "\"%s\" then \"%s\" (SMTP smuggling exposure)", a.text, b.text);
    else
        add_check(p, "bare-lf-dot", R_PASS, "<LF>.<LF> not taken as end of data; one reply: %s",
                  a.text);
}

/* STARTTLS, handshake, EHLO again: the upgrade works end to end. */
static void check_starttls(probe *p, SSL_CTX *ctx)
{
    if (!p->have_caps || !(p->caps.extensions & SMTPCORE_EXT_STARTTLS)) {
        add_check(p, "starttls", R_INFO, "not offered");
        return;
    }
    tool_raw r;
    tool_raw_reply rep;
    char why[256], cmd[300], desc[128];
    if (raw_open(p, &r, 1, why, sizeof why) != 0) {
        add_check(p, "starttls", R_FAIL, "%s", why);
        return;
    }
    int code = tool_raw_cmd(&r, "STARTTLS", &rep);
    if (code != 220) {
        add_check(p, "starttls", R_FAIL, "offered, but STARTTLS answered %d: %.200s", code,
                  rep.text);
    } else if (ctx == NULL || tool_raw_starttls(&r, ctx, why, sizeof why) != 0) {
        add_check(p, "starttls", R_FAIL, "TLS handshake failed: %s", ctx ? why : "no TLS context");
    } else {
        snprintf(cmd, sizeof cmd, "%s %s", hello(p), p->helo);
        code = tool_raw_cmd(&r, cmd, &rep);
        tool_tls_describe(&r.st, desc, sizeof desc);
        if (code == 250)
            add_check(p, "starttls", R_PASS, "offered; %s; %s after TLS 250", desc, hello(p));
        else
            add_check(p, "starttls", R_FAIL, "%s after TLS answered %d", hello(p), code);
        tool_raw_cmd(&r, "QUIT", &rep);
    }
    tool_raw_close(&r);
}

/* CVE-2011-0411 class: a command sent in plaintext right behind STARTTLS must not be
 * executed inside the TLS session. */
static void check_starttls_injection(probe *p, SSL_CTX *ctx)
{
    if (!p->have_caps || !(p->caps.extensions & SMTPCORE_EXT_STARTTLS))
        return;
    tool_raw r;
    tool_raw_reply rep, extra;
    char why[256], cmd[300];
    if (raw_open(p, &r, 1, why, sizeof why) != 0) {
        add_check(p, "tls-injection", R_FAIL, "%s", why);
        return;
    }
    tool_raw_sends(&r, "STARTTLS\r\nNOOP\r\n");
    int rc = tool_raw_reply_read(&r, &rep, p->timeout_ms);
    if (rc != 1 || rep.code != 220) {
        add_check(p, "tls-injection", R_PASS, "plaintext after STARTTLS refused: %.200s",
                  rc == 1 ? rep.text : "connection closed");
        tool_raw_close(&r);
        return;
    }
    /* A NOOP reply already queued in plaintext would also be an answer to injected input. */
    int early = r.in_len > 0;
    r.in_len = 0;
    if (ctx == NULL || tool_raw_starttls(&r, ctx, why, sizeof why) != 0) {
        add_check(p, "tls-injection", R_PASS, "TLS not completed after injected input (%s)",
                  ctx ? why : "no TLS context");
        tool_raw_close(&r);
        return;
    }
    snprintf(cmd, sizeof cmd, "%s %s", hello(p), p->helo);
    tool_raw_sends(&r, cmd);
    tool_raw_sends(&r, "\r\n");
    rc = tool_raw_reply_read(&r, &rep, p->timeout_ms);
    int rc2 = rc == 1 ? tool_raw_reply_read(&r, &extra, p->timeout_ms < 2000 ? p->timeout_ms : 2000)
                      : 0;
    /* Vulnerable: the first reply inside TLS answers the injected NOOP (not EHLO), so a
     * second reply follows for EHLO. */
    if (early || (rc == 1 && rc2 == 1))
        add_check(p, "tls-injection", R_FAIL, "a command sent in plaintext with STARTTLS was "
                  "executed inside TLS (CVE-2011-0411 class)");
    else
        add_check(p, "tls-injection", R_PASS, "plaintext sent with STARTTLS discarded; "
                  "only %s answered inside TLS", hello(p));
    tool_raw_close(&r);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

static const char *result_name(result_kind r)
{
    return r == R_PASS ? "pass" : r == R_FAIL ? "FAIL" : r == R_INFO ? "info" : "inconclusive";
}

static int report(const probe *p, int reachable)
{
    char target[300];
    if (tool_is_unix(p->host))
        snprintf(target, sizeof target, "%s", p->host);
    else
        snprintf(target, sizeof target, "%s:%u", p->host, (unsigned)p->port);
    int failed = 0, inconclusive = 0;
    for (size_t i = 0; i < p->nchecks; i++) {
        failed |= p->checks[i].result == R_FAIL;
        inconclusive |= p->checks[i].result == R_INCONCLUSIVE;
    }
    const char *unreached = p->greet_refused ? "refused at the greeting" : "unreachable";
    const char *verdict = !reachable ? unreached
                          : failed   ? "NOT conformant"
                          : inconclusive
                              ? "inconclusive (checks that send a message could not run: use --to)"
                              : "conformant";
    if (p->json) {
        printf("{\"target\":");
        json_str(target);
        printf(",\"protocol\":\"%s\",\"conformant\":%s,\"verdict\":", p->lmtp ? "lmtp" : "smtp",
               reachable && !failed && !inconclusive ? "true" : "false");
        json_str(verdict);
        printf(",\"checks\":[");
        for (size_t i = 0; i < p->nchecks; i++) {
            printf("%s{\"name\":", i ? "," : "");
            json_str(p->checks[i].name);
            printf(",\"result\":\"%s\",\"detail\":",
                   p->checks[i].result == R_PASS ? "pass"
                   : p->checks[i].result == R_FAIL ? "fail"
                   : p->checks[i].result == R_INFO ? "info" : "inconclusive");
            json_str(p->checks[i].detail);
            putchar('}');
        }
        printf("]}\n");
    } else {
        printf("smtpcore-probe %s%s\n", target, p->lmtp ? " (LMTP)" : "");
        printf("%-14s %-12s %s\n", "CHECK", "RESULT", "DETAIL");
        for (size_t i = 0; i < p->nchecks; i++)
            printf("%-14s %-12s %s\n", p->checks[i].name, result_name(p->checks[i].result),
                   p->checks[i].detail);
        printf("verdict: %s\n", verdict);
    }
    return !reachable ? 2 : failed ? 1 : inconclusive ? 3 : 0;
}

int main(int argc, char **argv)
{
    probe p;
    memset(&p, 0, sizeof p);
    p.from = "probe@example.com";
    p.to = "probe@example.com";
    p.helo = "probe.example.com";
    p.timeout_ms = 5000;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        uint64_t n;
        int r;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            tool_print_version("smtpcore-probe");
            return 0;
        } else if (!strcmp(a, "--json")) {
            p.json = 1;
        } else if (!strcmp(a, "--lmtp")) {
            p.lmtp = 1;
        } else if ((r = tool_opt_value(argc, argv, &i, "--from", &v)) != 0) {
            if (r < 0)
                goto usage;
            p.from = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--to", &v)) != 0) {
            if (r < 0)
                goto usage;
            p.to = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--helo", &v)) != 0) {
            if (r < 0 || smtpcore_helo_classify(v, strlen(v)) == SMTPCORE_HELO_INVALID)
                goto usage;
            p.helo = v;
        } else if ((r = tool_opt_value(argc, argv, &i, "--timeout", &v)) != 0) {
            if (r < 0 || tool_parse_uint(v, 600, &n) || n == 0)
                goto usage;
            p.timeout_ms = (int)n * 1000;
        } else if (a[0] != '-' && target == NULL) {
            target = a;
        } else {
            goto usage;
        }
    }
    if (target == NULL ||
        tool_parse_hostport(target, p.lmtp ? 24 : 25, 0, p.host, sizeof p.host, &p.port) != 0)
        goto usage;
    if (strpbrk(p.from, "\r\n<>") || strpbrk(p.to, "\r\n<>"))
        goto usage;
    signal(SIGPIPE, SIG_IGN);
    if (engine_session(&p) != 0)
        return report(&p, 0);
    if (!p.lmtp && !p.have_caps && try_lhlo(&p) == 250) {
        /* EHLO and HELO refused, LHLO taken: an LMTP server. Start over in LMTP. */
        p.lmtp = p.lmtp_found = 1;
        p.nchecks = 0;
        if (engine_session(&p) != 0)
            return report(&p, 0);
    }
    if (p.lmtp)
        add_check(&p, "lmtp", R_INFO, "%s", p.lmtp_found
                  ? "EHLO and HELO refused, LHLO answered 250: an LMTP server (RFC 2033); "
                    "the checks speak LMTP"
                  : "--lmtp: the checks speak LMTP (RFC 2033)");
    check_xclient(&p);
    check_helo_fallback(&p);
    check_pipelining(&p);
    check_dot_quit(&p);
    char err[256];
    SSL_CTX *ctx = tool_tls_client_ctx(err, sizeof err);
    check_starttls(&p, ctx);
    check_starttls_injection(&p, ctx);
    if (ctx != NULL)
        SSL_CTX_free(ctx);
    check_bare_lf(&p);
    return report(&p, 1);
usage:
    fprintf(stderr, "usage: smtpcore-probe [--json] [--lmtp] [--from ADDR] [--to ADDR] "
                    "[--helo NAME] [--timeout SEC] HOST[:PORT]|unix:PATH\n"
                    "Try 'smtpcore-probe --help'.\n");
    return 4;
}
