/* SPDX-License-Identifier: MIT */
/* smtpcore-sink behind a proxy: who the real client is, from a PROXY header (HAProxy)
 * or an XCLIENT command (nginx's mail proxy, Postfix tools), and how the log says it. */
#ifndef SMTPCORE_TOOLS_SINK_PROXY_H
#define SMTPCORE_TOOLS_SINK_PROXY_H

#include <stddef.h>

#include <smtpcore/smtpcore.h>

/** What the log line shows for a connection's client. */
typedef struct sink_client_id {
    char peer[64];  /**< "ADDR:PORT" of the client: the socket's peer until a proxy says. */
    char via[96];   /**< "" or " proxy=v1|v2|xclient via=ADDR:PORT" (the proxy itself). */
} sink_client_id;

/**
 * Takes the client from a PROXY header (SMTPCORE_SEV_PROXY). A LOCAL header or one
 * without addresses (a health check, v1 UNKNOWN) leaves the socket's peer and says so
 * ("proxy=v2-local"). @p sock_peer is the socket's own peer, kept as via=.
 */
void sink_proxy_from_header(sink_client_id *id, const smtpcore_proxy_header *h,
                            const char *sock_peer);

/**
 * Checks and takes the client from XCLIENT attributes (SMTPCORE_SEV_XCLIENT). ADDR and
 * PORT replace the peer (ADDR without PORT shows no port: the old one was the proxy's);
 * HELO and LOGIN are copied into @p helo / @p login when given. [UNAVAILABLE] and
 * [TEMPUNAVAIL] read as "unknown". @p sock_peer is kept as via=.
 */
void sink_proxy_from_xclient(sink_client_id *id, const smtpcore_xclient_attrs *a,
                             const char *sock_peer, char *helo, size_t helo_cap, char *login,
                             size_t login_cap);

#endif
