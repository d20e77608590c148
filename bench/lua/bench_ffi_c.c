/* SPDX-License-Identifier: MIT */
/* The C side of bench/lua: the same work as bench_ffi.lua, without the FFI.
 *
 * A server session is fed a pipelined stream (EHLO first, then transactions of MAIL,
 * two RCPT, DATA, a short body) in chunks; every event is pulled and answered with the
 * default reply (smtpcore_server_accept_next(): one call per event) and output is
 * drained as it appears. Prints events/s.
 * Usage: bench_ffi_c TRANSACTIONS SESSIONS CHUNK
 */
#include <smtpcore/smtpcore.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char TX[] = "MAIL FROM:<sender@example.org>\r\n"
                         "RCPT TO:<rcpt1@example.org>\r\n"
                         "RCPT TO:<rcpt2@example.org>\r\n"
                         "DATA\r\n"
                         "Subject: bench\r\n"
                         "\r\n"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
                         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
                         ".\r\n";
static const char EHLO[] = "EHLO bench.example.org\r\n";

struct counts {
    unsigned long events;
    unsigned long body_bytes;
};

/* Pulls events until the session needs input; answers and drains output. The default
 * answer to an event that needs one is given by the next accept_next() call; the
 * events of a read in an inner loop, as bench_ffi.lua has them. */
static int drain(smtpcore_server *s, struct counts *n)
{
    const smtpcore_server_event *ev;
    for (;;) {
        for (;;) {
            if (smtpcore_server_accept_next(s, &ev) != SMTPCORE_OK) return -1;
            if (ev->type == SMTPCORE_SEV_NONE) break;
            n->events++;
            if (ev->type == SMTPCORE_SEV_BODY) n->body_bytes += ev->data.len;
        }
        const char *out;
        size_t len = smtpcore_server_output(s, &out);
        if (len == 0) return 0;
        if (smtpcore_server_consume(s, len) != SMTPCORE_OK) return -1;
    }
}

static int feed(smtpcore_server *s, const char *data, size_t len, size_t chunk,
                struct counts *n)
{
    size_t pos = 0;
    while (pos < len) {
        size_t want = len - pos < chunk ? len - pos : chunk;
        size_t used = 0;
        if (smtpcore_server_receive(s, data + pos, want, &used) != SMTPCORE_OK) return -1;
        pos += used;
        if (drain(s, n) != 0) return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s TRANSACTIONS SESSIONS CHUNK\n", argv[0]);
        return 2;
    }
    size_t tx = (size_t)strtoul(argv[1], NULL, 10);
    unsigned long sessions = strtoul(argv[2], NULL, 10);
    size_t chunk = (size_t)strtoul(argv[3], NULL, 10);
    size_t txlen = sizeof TX - 1;
    char *stream = malloc(tx * txlen);
    if (!stream || chunk == 0) return 1;
    for (size_t i = 0; i < tx; i++) memcpy(stream + i * txlen, TX, txlen);

    struct counts n = {0, 0};
    double t0 = now_seconds();
    for (unsigned long r = 0; r < sessions; r++) {
        smtpcore_server *s = NULL;
        if (smtpcore_server_new(&s, NULL) != SMTPCORE_OK) return 1;
        if (drain(s, &n) != 0) return 1; /* CONNECT */
        if (feed(s, EHLO, sizeof EHLO - 1, chunk, &n) != 0) return 1;
        if (feed(s, stream, tx * txlen, chunk, &n) != 0) return 1;
        smtpcore_server_del(s);
    }
    double dt = now_seconds() - t0;
    printf("C      events=%lu body_bytes=%lu seconds=%.3f events/s=%.0f\n", n.events,
           n.body_bytes, dt, (double)n.events / dt);
    free(stream);
    return 0;
}
