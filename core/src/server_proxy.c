/* SPDX-License-Identifier: MIT */
/* Server, layer 1 (see server_core.h): the PROXY header before the greeting
 * (sc_srv_proxy_step(), called by server.c's loop in the SC_PH_PROXY phase) and the
 * PROXY accessor. Uses the core's push/close and the pure parser in proxy.c. */
#include <string.h>

#include "proxy.h"
#include "server_internal.h"

int sc_srv_proxy_step(smtpcore_server *s)
{
    sc_srv_proxy *px = sc_srv_proxy_area(s);
    const char *p;
    size_t n = sc_srv_unprocessed(s, &p);
    smtpcore_proxy_header h;
    sc_proxy_error err = {SMTPCORE_V_NONE, ""};
    long r = sc_proxy_parse(p, n, s->cfg.proxy_protocol, px->raw_cap, s->eof, &h, &px->txt,
                            &err);
    if (r == 0)
        return 0;
    if (r < 0) {
        /* No greeting for a connection whose origin is unknown: report and close. What
         * the peer sent is void (it was not a PROXY header). */
        smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
        ev->violation = err.v;
        ev->message.ptr = err.msg;
        ev->message.len = strlen(err.msg);
        s->in_done += n;
        sc_srv_close(s, err.v);
        return 1;
    }
    size_t len = (size_t)r;
    /* Keep the header for the session's lifetime: the accessor's slices point into this
     * copy (and into px->txt for v2 addresses). Parsing the copy again cannot fail. */
    memcpy(px->raw, p, len);
    (void)sc_proxy_parse(px->raw, len, s->cfg.proxy_protocol, px->raw_cap, 1, &px->hdr,
                         &px->txt, &err);
    px->done = 1;
    s->in_done += len;
    /* Bytes behind the header arrived before the greeting: the usual early-talker rule
     * applies to them once the greeting is due. */
    if (n > len && !s->output_seen)
        s->early_talker = 1;
    s->phase = SC_PH_GREETING;
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROXY);
    if (px->hdr.version == 1) {
        ev->line.ptr = px->raw;
        ev->line.len = len - 2;
    }
    return 1;
}

const smtpcore_proxy_header *smtpcore_server_proxy_header(const smtpcore_server *s)
{
    const sc_srv_proxy *px = s ? sc_srv_proxy_area(s) : NULL;
    return px && px->done ? &px->hdr : NULL;
}
