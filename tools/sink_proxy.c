/* SPDX-License-Identifier: MIT */
/* Who the client is when smtpcore-sink runs behind HAProxy (PROXY protocol) or nginx's
 * mail proxy (XCLIENT). The engine has checked the syntax of both; this file only turns
 * the result into the log line's peer= and proxy= fields. */
#include "sink_proxy.h"

#include <stdio.h>
#include <string.h>

/* Copies a slice as printable text: control bytes and spaces become '?', so a value
 * from the wire can never split or forge a log line. */
static void copy_clean(char *dst, size_t cap, smtpcore_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];
        dst[i] = (ch <= 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    dst[n] = '\0';
}

static void format_peer(char *out, size_t cap, const char *addr, const char *port)
{
    int v6 = strchr(addr, ':') != NULL;
    if (port[0] == '\0')
        snprintf(out, cap, "%s%s%s", v6 ? "[" : "", addr, v6 ? "]" : "");
    else
        snprintf(out, cap, "%s%s%s:%s", v6 ? "[" : "", addr, v6 ? "]" : "", port);
}

void sink_proxy_from_header(sink_client_id *id, const smtpcore_proxy_header *h,
                            const char *sock_peer)
{
    const char *ver = h->version == 1 ? "v1" : "v2";
    if (h->command == SMTPCORE_PROXY_CMD_LOCAL || h->family == SMTPCORE_PROXY_AF_UNSPEC ||
        h->family == SMTPCORE_PROXY_AF_UNIX) {
        /* No client address in the header: the connection is the proxy's own (a health
         * check) or of a kind without one; the socket's peer is the truth. */
        snprintf(id->via, sizeof id->via, " proxy=%s-local", ver);
        return;
    }
    char addr[48], port[8];
    copy_clean(addr, sizeof addr, h->src_addr);
    snprintf(port, sizeof port, "%u", (unsigned)h->src_port);
    format_peer(id->peer, sizeof id->peer, addr, port);
    snprintf(id->via, sizeof id->via, " proxy=%s via=%s", ver, sock_peer);
}

void sink_proxy_from_xclient(sink_client_id *id, const smtpcore_xclient_attrs *a,
                             const char *sock_peer, char *helo, size_t helo_cap, char *login,
                             size_t login_cap)
{
    char addr[48] = "unknown", port[8] = "";
    if (a->addr.state == SMTPCORE_XCLIENT_VALUE)
        copy_clean(addr, sizeof addr, a->addr.value);
    if (a->port.state == SMTPCORE_XCLIENT_VALUE)
        copy_clean(port, sizeof port, a->port.value);
    if (a->addr.state != SMTPCORE_XCLIENT_ABSENT || a->port.state != SMTPCORE_XCLIENT_ABSENT)
        format_peer(id->peer, sizeof id->peer, addr, port);
    snprintf(id->via, sizeof id->via, " proxy=xclient via=%s", sock_peer);
    if (a->helo.state == SMTPCORE_XCLIENT_VALUE)
        copy_clean(helo, helo_cap, a->helo.value);
    else if (a->helo.state != SMTPCORE_XCLIENT_ABSENT)
        helo[0] = '\0';
    if (a->login.state == SMTPCORE_XCLIENT_VALUE)
        copy_clean(login, login_cap, a->login.value);
    else if (a->login.state != SMTPCORE_XCLIENT_ABSENT)
        login[0] = '\0';
}
