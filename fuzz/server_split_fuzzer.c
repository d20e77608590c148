/* SPDX-License-Identifier: MIT */
/* Differential: a server session fed the client's bytes whole and fed them in
 * pseudo-random reads must behave identically (same output bytes, same events, same
 * message contents). The host accepts everything and drains fully after every read.
 *
 * Input: 4 configuration bytes (extension toggles, policies, limits), the client bytes,
 * then 4 bytes at the end seeding the read splits. PIPELINING is always advertised and
 * STARTTLS never (both make behaviour legitimately depend on read boundaries: early
 * talking and improper pipelining are timing facts, and plaintext after STARTTLS is only
 * detected when it arrives in the same read). Those notices are left out of the
 * comparison for the same reason. */
#include "fuzz_common.h"

#include <smtpcore/smtpcore.h>

#define MAX_WIRE 4096
#define MAX_OUT (64 * 1024)
#define MAX_EV 8192

typedef struct record {
    char out[MAX_OUT];
    size_t out_len;
    int ev[MAX_EV]; /* type * 64 + violation */
    size_t nev;
    char body[2 * MAX_WIRE]; /* contents of the messages that ended (MESSAGE_END) */
    size_t body_len;
    size_t msg_start;        /* where the current message began in body */
    int truncated;
} record;

static record rec_whole, rec_split;

static void drain(smtpcore_server *s, record *r)
{
    for (int guard = 0; guard < 100000; guard++) {
        int any = 0;
        const smtpcore_server_event *ev;
        while (smtpcore_server_next_event(s, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_SEV_NONE) {
            any = 1;
            if (fz_trace_on())
                fprintf(stderr, "%s event %d violation %d size %llu data %zu line %.*s\n",
                        r == &rec_whole ? "whole" : "split", (int)ev->type, (int)ev->violation,
                        (unsigned long long)ev->message_size, ev->data.len, (int)ev->line.len,
                        ev->line.ptr ? ev->line.ptr : "");
            if (ev->answer_required)
                FZ_CHECK(smtpcore_server_accept(s) == SMTPCORE_OK);
            if (ev->type == SMTPCORE_SEV_BODY) {
                if (r->body_len + ev->data.len <= sizeof r->body) {
                    memcpy(r->body + r->body_len, ev->data.ptr, ev->data.len);
                    r->body_len += ev->data.len;
                } else {
                    r->truncated = 1;
                }
                continue;
            }
            if (ev->type == SMTPCORE_SEV_PROTOCOL_ERROR &&
                (ev->violation == SMTPCORE_V_EARLY_TALKER ||
                 ev->violation == SMTPCORE_V_IMPROPER_PIPELINING))
                continue;
            FZ_CHECK(r->nev < MAX_EV);
            r->ev[r->nev++] = (int)ev->type * 64 + (int)ev->violation;
            if (ev->type == SMTPCORE_SEV_MESSAGE_END) {
                FZ_CHECK(r->nev < MAX_EV);
                r->ev[r->nev++] = (int)(ev->message_size & 0xffffff) * -1 - 1;
                FZ_CHECK(ev->message_size == r->body_len - r->msg_start || r->truncated);
                r->msg_start = r->body_len;
            } else if (ev->type == SMTPCORE_SEV_MAIL) {
                /* A new transaction: content streamed for one that RSET or EHLO dropped
                 * (BDAT chunks before the reset) is not part of this message. */
                r->body_len = r->msg_start;
            } else if (ev->type == SMTPCORE_SEV_MESSAGE_ABORTED || ev->type == SMTPCORE_SEV_CLOSE ||
                       ev->violation == SMTPCORE_V_MESSAGE_TOO_BIG) {
                /* A message that will not end in MESSAGE_END is discarded by the host, and
                 * how much of it was streamed before the engine knew depends on the reads
                 * (e.g. a size limit crossed by one large read or by the last of many small
                 * ones); only finished messages are compared. */
                r->body_len = r->msg_start;
            }
        }
        const char *o;
        size_t n = smtpcore_server_output(s, &o);
        if (n) {
            any = 1;
            FZ_CHECK(r->out_len + n <= MAX_OUT);
            memcpy(r->out + r->out_len, o, n);
            r->out_len += n;
            FZ_CHECK(smtpcore_server_consume(s, n) == SMTPCORE_OK);
        }
        if (!any)
            return;
    }
    fz_fail(__FILE__, __LINE__, "session never settles");
}

static void run(const smtpcore_server_config *cfg, const char *wire, size_t n, fz_rng *rng,
                record *r)
{
    memset(r, 0, offsetof(record, body));
    r->body_len = 0;
    r->msg_start = 0;
    r->truncated = 0;
    smtpcore_server *s = NULL;
    FZ_CHECK(smtpcore_server_new(&s, cfg) == SMTPCORE_OK);
    drain(s, r); /* the greeting goes out before the client talks */
    size_t at = 0;
    int stuck = 0;
    while (at < n) {
        size_t k = rng ? fz_rng_split(rng, n - at) : n - at;
        size_t used = 0;
        int rc = smtpcore_server_receive(s, wire + at, k, &used);
        if (rc == SMTPCORE_ERR_CLOSED)
            break;
        FZ_CHECK(rc == SMTPCORE_OK && used <= k);
        at += used;
        drain(s, r);
        if (used == 0)
            FZ_CHECK(++stuck < 3);
        else
            stuck = 0;
    }
    if (smtpcore_server_receive_eof(s) == SMTPCORE_OK)
        drain(s, r);
    r->body_len = r->msg_start; /* an unfinished message does not count */
    smtpcore_server_del(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 || size > MAX_WIRE + 8)
        return 0;
    smtpcore_server_config cfg;
    smtpcore_server_config_init(&cfg);
    cfg.extensions ^= ((uint32_t)data[0] | ((uint32_t)(data[1] & 0x0fu) << 8));
    cfg.extensions |= SMTPCORE_EXT_PIPELINING;
    cfg.extensions &= ~(uint32_t)SMTPCORE_EXT_STARTTLS;
    cfg.helo_policy = (data[2] & 1u) ? SMTPCORE_HELO_OPTIONAL : SMTPCORE_HELO_REQUIRED;
    cfg.bare_lf_policy = (data[2] & 2u) ? SMTPCORE_BARE_LF_ACCEPT : SMTPCORE_BARE_LF_REJECT;
    cfg.nul_policy = (data[2] & 4u) ? SMTPCORE_NUL_ACCEPT : SMTPCORE_NUL_REJECT;
    cfg.allow_plaintext_auth = (data[2] & 16u) != 0;
    cfg.tls_active = (data[2] & 32u) != 0;
    if (data[2] & 64u) { /* small buffers: many partial receives */
        cfg.max_command_line = 64;
        cfg.input_buffer_size = 80;
        cfg.max_text_line = 40;
    }
    if (data[3] & 15u)
        cfg.max_errors = data[3] & 15u;
    if (data[3] >> 4)
        cfg.max_recipients = data[3] >> 4;
    cfg.max_message_size = (data[2] & 128u) ? 64 : cfg.max_message_size;

    fz_src src;
    fz_init(&src, data + 4, size - 4);
    uint32_t seed = fz_ctl32(&src);
    const char *wire = (const char *)src.p;
    size_t n = src.n;

    run(&cfg, wire, n, NULL, &rec_whole);
    fz_rng rng;
    fz_rng_init(&rng, seed);
    run(&cfg, wire, n, &rng, &rec_split);

    if (rec_whole.out_len != rec_split.out_len ||
        memcmp(rec_whole.out, rec_split.out, rec_whole.out_len) != 0) {
        fprintf(stderr, "--- whole:\n%.*s--- split:\n%.*s---\n", (int)rec_whole.out_len,
                rec_whole.out, (int)rec_split.out_len, rec_split.out);
        fz_fail(__FILE__, __LINE__, "output differs between whole and split reads");
    }
    FZ_CHECK(rec_whole.nev == rec_split.nev);
    FZ_CHECK(memcmp(rec_whole.ev, rec_split.ev, rec_whole.nev * sizeof(int)) == 0);
    if (!rec_whole.truncated && !rec_split.truncated &&
        (rec_whole.body_len != rec_split.body_len ||
         memcmp(rec_whole.body, rec_split.body, rec_whole.body_len) != 0)) {
        fprintf(stderr, "--- whole body:\n%.*s--- split body:\n%.*s---\n",
                (int)rec_whole.body_len, rec_whole.body, (int)rec_split.body_len, rec_split.body);
        fz_fail(__FILE__, __LINE__, "message content differs between whole and split reads");
    }
    return 0;
}
