/* SPDX-License-Identifier: MIT */
/* Fixed workloads for instruction counting under `valgrind --tool=callgrind` (bench/run
 * --profile and docs/performance.md). Timing is meaningless here; what matters is that
 * each mode runs one known amount of work so that instructions per unit (command, reply,
 * byte) can be derived from the total. Prints the unit count so the caller can divide,
 * and the process CPU time of the measured part (a cross-check that other tenants of a
 * shared machine do not inflate, unlike wall-clock time).
 *
 * Usage: bench_profile MODE [N]
 *   server   N pipelined MAIL/RCPT/RSET commands through a server session (default 60000)
 *   parse    N commands through framer + sc_command_parse only
 *   reply    N 12-line EHLO replies through framer + sc_reply_parser_feed
 *   unstuff  N KiB of DATA content through sc_unstuff_next
 *   stuff    N KiB of body through sc_stuff
 *   data     N KiB of DATA content through a server session
 *   connect  N server sessions: created, greeted (220), deleted
 *   proxy1   the same, each reading a PROXY v1 header first (TCP4)
 *   proxy2   the same with a PROXY v2 header (TCP4, no TLVs, as HAProxy's send-proxy-v2)
 *            proxyN - connect = the cost of reading the header, per connection */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <smtpcore/smtpcore.h>

#include "command.h"
#include "data.h"
#include "line.h"
#include "reply.h"

static volatile size_t sink;

/* Process CPU time: on a shared machine wall-clock time also counts other tenants. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char CMDS[] = "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.net>\r\nRSET\r\n";
static const char EHLO_REPLY[] = "250-mx.example.org Hello client.example.net [192.0.2.1]\r\n"
                                 "250-SIZE 52428800\r\n250-PIPELINING\r\n250-DSN\r\n"
                                 "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n"
                                 "250-AUTH PLAIN LOGIN XOAUTH2\r\n250-8BITMIME\r\n"
                                 "250-BINARYMIME\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250 HELP\r\n";
static const char BODY_UNIT[] = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do\r\n"
                                "..a stuffed line\r\n"
                                "tempor incididunt ut labore et dolore magna aliqua. Ut enim\r\n";

static char *repeat(const char *unit, size_t times, size_t *out_len)
{
    size_t ul = strlen(unit);
    char *s = malloc(times * ul + 3); /* room for a ".\r\n" terminator */
    if (!s)
        exit(1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    *out_len = times * ul;
    return s;
}

static void pump(smtpcore_server *s)
{
    for (;;) {
        const smtpcore_server_event *ev;
        smtpcore_server_next_event(s, &ev);
        if (ev->type == SMTPCORE_SEV_NONE) {
            const char *p;
            size_t n = smtpcore_server_output(s, &p);
            if (n == 0)
                return;
            smtpcore_server_consume(s, n);
            continue;
        }
        if (ev->type == SMTPCORE_SEV_BODY)
            sink += ev->data.len;
        if (ev->answer_required)
            smtpcore_server_accept(s);
    }
}

static void feed(smtpcore_server *s, const char *p, size_t len)
{
    size_t at = 0;
    while (at < len) {
        size_t used = 0;
        if (smtpcore_server_receive(s, p + at, len - at, &used) != SMTPCORE_OK)
            exit(2);
        at += used;
        pump(s);
    }
}

static smtpcore_server *session(void)
{
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.extensions = SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_ENHANCEDSTATUSCODES;
    c.max_message_size = 0;
    smtpcore_server *s;
    if (smtpcore_server_new(&s, &c) != SMTPCORE_OK)
        exit(1);
    pump(s);
    feed(s, "EHLO bench.example\r\n", 20);
    return s;
}

static size_t run_server(size_t n, double *cpu)
{
    size_t len;
    char *in = repeat(CMDS, n / 3, &len);
    smtpcore_server *s = session();
    double t0 = cpu_now();
    feed(s, in, len);
    *cpu = cpu_now() - t0;
    smtpcore_server_del(s);
    free(in);
    return n / 3 * 3;
}

static size_t run_parse(size_t n, double *cpu)
{
    size_t len;
    char *in = repeat(CMDS, n / 3, &len);
    sc_line_framer f;
    sc_line_init(&f, 512);
    size_t off = 0, count = 0;
    double t0 = cpu_now();
    while (off < len) {
        size_t ll, c;
        uint32_t fl;
        if (sc_line_next(&f, in + off, len - off, &ll, &c, &fl) != SC_LINE_COMPLETE)
            break;
        sc_command cmd;
        sc_reply_spec err;
        count += sc_command_parse(in + off, ll, 0xffffffffu, &cmd, &err) == 0;
        off += c;
    }
    *cpu = cpu_now() - t0;
    sink += count;
    free(in);
    return count;
}

static size_t run_reply(size_t n, double *cpu)
{
    size_t len;
    char *in = repeat(EHLO_REPLY, n, &len);
    sc_line_framer f;
    sc_line_init(&f, 512);
    sc_reply_parser p;
    sc_reply_parser_init(&p);
    size_t off = 0, count = 0;
    double t0 = cpu_now();
    while (off < len) {
        size_t ll, c;
        uint32_t fl;
        if (sc_line_next(&f, in + off, len - off, &ll, &c, &fl) != SC_LINE_COMPLETE)
            break;
        sc_reply_status st = sc_reply_parser_feed(&p, in + off, ll, c, fl);
        off += c;
        if (st == SC_REPLY_DONE) {
            count++;
            sc_reply_parser_init(&p);
        }
    }
    *cpu = cpu_now() - t0;
    sink += count;
    free(in);
    return count;
}

static size_t run_unstuff(size_t kib, double *cpu)
{
    size_t len;
    char *in = repeat(BODY_UNIT, kib * 1024 / (sizeof BODY_UNIT - 1) + 1, &len);
    memcpy(in + len, ".\r\n", 3);
    sc_unstuffer u;
    sc_unstuffer_init(&u, 1000);
    size_t off = 0, total = 0;
    double t0 = cpu_now();
    for (;;) {
        size_t so, sl, c;
        sc_unstuff_status st = sc_unstuff_next(&u, in + off, len + 3 - off, &so, &sl, &c);
        off += c;
        total += sl;
        if (st != SC_UNSTUFF_SEGMENT)
            break;
    }
    *cpu = cpu_now() - t0;
    sink += total;
    free(in);
    return len;
}

static size_t run_stuff(size_t kib, double *cpu)
{
    size_t len;
    char *in = repeat(BODY_UNIT, kib * 1024 / (sizeof BODY_UNIT - 1) + 1, &len);
    char *out = malloc(2 * len + 1);
    if (!out)
        exit(1);
    sc_stuffer st;
    sc_stuffer_init(&st, 1, 0);
    size_t used;
    double t0 = cpu_now();
    sink += sc_stuff(&st, in, len, out, 2 * len + 1, &used);
    *cpu = cpu_now() - t0;
    free(out);
    free(in);
    return len;
}

static size_t run_data(size_t kib, double *cpu)
{
    size_t len;
    char *body = repeat(BODY_UNIT, kib * 1024 / (sizeof BODY_UNIT - 1) + 1, &len);
    smtpcore_server *s = session();
    feed(s, "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n", 58);
    double t0 = cpu_now();
    feed(s, body, len);
    feed(s, ".\r\n", 3);
    *cpu = cpu_now() - t0;
    smtpcore_server_del(s);
    free(body);
    return len;
}

static size_t run_sessions(size_t n, double *cpu, smtpcore_proxy_mode mode)
{
    static const char v1[] = "PROXY TCP4 192.0.2.1 198.51.100.2 56324 25\r\n";
    static const char v2[] = "\r\n\r\n\0\r\nQUIT\n" /* signature */
                             "\x21\x11\x00\x0c"            /* v2 PROXY, TCP4, 12 octets */
                             "\xc0\x00\x02\x01\xc6\x33\x64\x02" /* 192.0.2.1 198.51.100.2 */
                             "\xdc\x04\x00\x19";           /* 56324 25 */
    smtpcore_server_config c;
    smtpcore_server_config_init(&c);
    c.proxy_protocol = mode;
    const char *hdr = mode == SMTPCORE_PROXY_V1 ? v1 : v2;
    size_t hlen = mode == SMTPCORE_PROXY_V1 ? sizeof v1 - 1 : sizeof v2 - 1;
    double t0 = cpu_now();
    for (size_t i = 0; i < n; i++) {
        smtpcore_server *s;
        if (smtpcore_server_new(&s, &c) != SMTPCORE_OK)
            exit(1);
        if (mode != SMTPCORE_PROXY_OFF)
            feed(s, hdr, hlen);
        else
            pump(s);
        smtpcore_server_del(s);
    }
    *cpu = cpu_now() - t0;
    return n;
}

static size_t run_connect(size_t n, double *cpu) { return run_sessions(n, cpu, SMTPCORE_PROXY_OFF); }
static size_t run_proxy1(size_t n, double *cpu) { return run_sessions(n, cpu, SMTPCORE_PROXY_V1); }
static size_t run_proxy2(size_t n, double *cpu) { return run_sessions(n, cpu, SMTPCORE_PROXY_V2); }

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        size_t (*fn)(size_t, double *);
        size_t dflt;
        const char *unit;
    } modes[] = {
        {"server", run_server, 60000, "commands"}, {"parse", run_parse, 60000, "commands"},
        {"reply", run_reply, 20000, "replies"},    {"unstuff", run_unstuff, 8192, "bytes"},
        {"stuff", run_stuff, 8192, "bytes"},       {"data", run_data, 8192, "bytes"},
        {"connect", run_connect, 100000, "connections"},
        {"proxy1", run_proxy1, 100000, "connections"},
        {"proxy2", run_proxy2, 100000, "connections"},
    };
    if (argc < 2) {
        fprintf(stderr, "usage: %s server|parse|reply|unstuff|stuff|data|connect|proxy1|proxy2 "
                        "[N]\n", argv[0]);
        return 64;
    }
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (strcmp(argv[1], modes[i].name) != 0)
            continue;
        size_t n = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : modes[i].dflt;
        double cpu = 0;
        size_t units = modes[i].fn(n, &cpu);
        printf("profile mode=%s units=%zu unit=%s cpu_seconds=%.6f cpu_ns_per_unit=%.3f\n",
               modes[i].name, units, modes[i].unit, cpu, units ? cpu * 1e9 / (double)units : 0.0);
        return 0;
    }
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 64;
}
