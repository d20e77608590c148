/* SPDX-License-Identifier: MIT */
/* Fuzzes the PROXY header reader and XCLIENT through a whole server session, and the
 * pure parser (core/src/proxy.c) on its own.
 *
 * Input layout: byte 0 = configuration (bits 0-1 mode V1/V2/ANY/ANY, bit 2 small
 * proxy_max_header (232), bit 3 XCLIENT allowed), then the peer's bytes; read sizes are
 * decision bytes from the back (fuzz_common.h).
 *
 * Invariants:
 * - the pure parser gives the same answer for the whole input and never a different
 *   final answer for any prefix (split invariance); a header it accepts parses again
 *   from a copy to the same length; its TLV area walks to the end;
 * - the session: smtpcore_server_memory() constant, no allocation after creation, only
 *   legal reply lines out, and the events start either PROXY, CONNECT (header accepted:
 *   the accessor then returns slices inside the session) or PROTOCOL_ERROR with a
 *   PROXY_* violation then CLOSE and no byte of output; XCLIENT events come only when
 *   allowed, and their attributes are readable; EOF always ends in CLOSE. */
#include "fuzz_common.h"

#include <smtpcore/smtpcore.h>

#include "proxy.h"

#define MAX_INPUT 16384

static void walk_tlvs(smtpcore_str area)
{
    smtpcore_proxy_tlv t;
    int rc;
    int guard = 0;
    while ((rc = smtpcore_proxy_tlv_next(&area, &t)) == 1) {
        fz_touch(t.value.ptr, t.value.len);
        if (t.type == SMTPCORE_PP2_TYPE_SSL) {
            smtpcore_proxy_ssl ssl;
            if (smtpcore_proxy_ssl_parse(t.value, &ssl) == SMTPCORE_OK)
                walk_tlvs(ssl.subtlvs);
        }
        FZ_CHECK(++guard <= 65536);
    }
    FZ_CHECK(rc == 0); /* accepted headers have well-formed TLV areas */
}

static void pure_parser(const uint8_t *d, size_t n, smtpcore_proxy_mode mode, size_t max)
{
    smtpcore_proxy_header h;
    sc_proxy_text t;
    sc_proxy_error e = {SMTPCORE_V_NONE, ""};
    long whole = sc_proxy_parse((const char *)d, n, mode, max, 0, &h, &t, &e);
    smtpcore_violation wv = e.v;
    size_t step = n > 512 ? n / 64 : 1;
    for (size_t k = 0; k < n; k += step) {
        sc_proxy_error e2 = {SMTPCORE_V_NONE, ""};
        smtpcore_proxy_header h2;
        sc_proxy_text t2;
        long r = sc_proxy_parse((const char *)d, k, mode, max, 0, &h2, &t2, &e2);
        if (r != 0) {
            FZ_CHECK(r == whole);
            if (r < 0)
                FZ_CHECK(e2.v == wv);
        }
    }
    if (whole > 0) {
        FZ_CHECK((size_t)whole <= n && (size_t)whole == h.header_len);
        walk_tlvs(h.tlvs);
        fz_touch(h.src_addr.ptr, h.src_addr.len);
        fz_touch(h.dst_addr.ptr, h.dst_addr.len);
    } else if (whole < 0) {
        FZ_CHECK(wv >= SMTPCORE_V_PROXY_BAD_SIGNATURE && wv <= SMTPCORE_V_PROXY_BAD_TLV);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > MAX_INPUT)
        return 0;
    fz_src src;
    fz_init(&src, data, size);
    uint8_t cfgb = fz_byte(&src);
    static const smtpcore_proxy_mode modes[4] = {SMTPCORE_PROXY_V1, SMTPCORE_PROXY_V2,
                                                 SMTPCORE_PROXY_ANY, SMTPCORE_PROXY_ANY};
    smtpcore_proxy_mode mode = modes[cfgb & 3u];
    size_t max = (cfgb & 4u) ? 232 : 1024;
    pure_parser(src.p, src.n, mode, max);

    fz_alloc_stats st;
    smtpcore_allocator alloc = fz_counting_allocator(&st);
    smtpcore_server_config cfg;
    smtpcore_server_config_init(&cfg);
    cfg.allocator = &alloc;
    cfg.proxy_protocol = mode;
    cfg.proxy_max_header = max;
    cfg.xclient_allowed = (cfgb & 8u) != 0;
    smtpcore_server *s = NULL;
    FZ_CHECK(smtpcore_server_new(&s, &cfg) == SMTPCORE_OK);
    size_t mem0 = smtpcore_server_memory(s), allocs0 = st.mallocs + st.reallocs;
    fz_reply_checker chk;
    fz_reply_checker_init(&chk);
    int nev = 0, first = 0, second = 0, closed = 0, eof_given = 0;
    size_t out_total = 0;
    for (int round = 0; round < 100000; round++) {
        const smtpcore_server_event *ev;
        FZ_CHECK(smtpcore_server_next_event(s, &ev) == SMTPCORE_OK);
        if (ev->type != SMTPCORE_SEV_NONE) {
            if (nev == 0)
                first = (int)ev->type;
            else if (nev == 1)
                second = (int)ev->type;
            nev++;
            fz_touch(ev->line.ptr, ev->line.len);
            fz_touch(ev->message.ptr, ev->message.len);
            if (ev->type == SMTPCORE_SEV_CLOSE)
                closed = 1;
            if (ev->type == SMTPCORE_SEV_XCLIENT) {
                FZ_CHECK(cfg.xclient_allowed);
                smtpcore_xclient_attrs a;
                FZ_CHECK(smtpcore_server_xclient_attrs(s, &a, sizeof a) == SMTPCORE_OK);
                const smtpcore_xclient_attr *at[] = {&a.name, &a.addr, &a.port, &a.proto,
                                                     &a.helo, &a.login, &a.destaddr,
                                                     &a.destport};
                for (size_t i = 0; i < 8; i++)
                    fz_touch(at[i]->value.ptr, at[i]->value.len);
            }
            if (ev->answer_required) {
                uint8_t c = fz_ctl(&src);
                if (ev->type == SMTPCORE_SEV_XCLIENT && (c & 1u))
                    FZ_CHECK(smtpcore_server_reject(s, 550, "5.7.0", NULL) == SMTPCORE_OK);
                else
                    FZ_CHECK(smtpcore_server_accept(s) == SMTPCORE_OK);
            }
            continue;
        }
        const char *out;
        size_t on = smtpcore_server_output(s, &out);
        if (on) {
            fz_reply_check(&chk, out, on);
            out_total += on;
            FZ_CHECK(smtpcore_server_consume(s, on) == SMTPCORE_OK);
            continue;
        }
        if (closed || eof_given)
            break;
        if (src.n == 0) {
            FZ_CHECK(smtpcore_server_receive_eof(s) == SMTPCORE_OK);
            eof_given = 1;
            continue;
        }
        size_t want = 1 + fz_ctl(&src) % 64u;
        const uint8_t *p;
        size_t k = fz_take(&src, want, &p);
        size_t used = 0;
        int rc = smtpcore_server_receive(s, (const char *)p, k, &used);
        if (rc == SMTPCORE_ERR_CLOSED)
            break;
        /* Events were drained, so there is room, but a partial command line (shorter
         * than the line limit, so not yet discarded) may leave less room than k: the
         * host offers the rest again, as a real one does. */
        FZ_CHECK(rc == SMTPCORE_OK && used <= k && (used > 0 || k == 0));
        src.p -= k - used;
        src.n += k - used;
        FZ_CHECK(smtpcore_server_memory(s) == mem0);
        FZ_CHECK(st.mallocs + st.reallocs == allocs0);
    }
    FZ_CHECK(nev >= 2 || !eof_given);
    if (nev >= 2) {
        if (first == SMTPCORE_SEV_PROXY) {
            FZ_CHECK(second == SMTPCORE_SEV_CONNECT);
            const smtpcore_proxy_header *h = smtpcore_server_proxy_header(s);
            FZ_CHECK(h != NULL);
            walk_tlvs(h->tlvs);
            fz_touch(h->src_addr.ptr, h->src_addr.len);
        } else {
            /* A refused header: no greeting, nothing written, closed. */
            FZ_CHECK(first == SMTPCORE_SEV_PROTOCOL_ERROR && second == SMTPCORE_SEV_CLOSE);
            FZ_CHECK(out_total == 0);
            FZ_CHECK(smtpcore_server_proxy_header(s) == NULL);
        }
    }
    if (eof_given)
        FZ_CHECK(closed);
    FZ_CHECK(smtpcore_server_memory(s) == mem0);
    smtpcore_server_del(s);
    FZ_CHECK(st.live == 0);
    return 0;
}
