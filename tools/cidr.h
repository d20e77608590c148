/* SPDX-License-Identifier: MIT */
/* Address lists for trust decisions: "who may send XCLIENT" (smtpcore-sink --xclient-from).
 * The peer address is the socket's own, which only the host knows; the engine is told the
 * outcome per connection (smtpcore_server_set_xclient_allowed()). */
#ifndef SMTPCORE_TOOLS_CIDR_H
#define SMTPCORE_TOOLS_CIDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** One network: an IPv4 or IPv6 prefix. */
typedef struct tool_cidr {
    int family;        /**< AF_INET or AF_INET6. */
    uint8_t addr[16];  /**< Network bytes (4 used for IPv4), host bits cleared. */
    unsigned bits;     /**< Prefix length: 0..32 or 0..128. */
} tool_cidr;

/**
 * Parses "ADDR[/BITS][,ADDR[/BITS]...]" (IPv4 or IPv6, IPv6 optionally in brackets) into
 * @p out. An address without /BITS is a single host. Returns the number of entries, or
 * -1 on a syntax error or more than @p cap entries.
 */
int tool_cidr_parse_list(const char *s, tool_cidr *out, size_t cap);

/**
 * Nonzero when @p sa (AF_INET or AF_INET6) is inside one of the @p n networks. An
 * IPv4-mapped IPv6 peer (::ffff:192.0.2.1, seen on a dual-stack listener) is matched
 * against the IPv4 entries as the IPv4 address it is.
 */
int tool_cidr_match(const tool_cidr *list, size_t n, const struct sockaddr *sa);

#endif
