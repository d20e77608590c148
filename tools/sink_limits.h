/* SPDX-License-Identifier: MIT */
/* smtpcore-sink: failed AUTH attempts counted per client address, in a fixed-size table,
 * so that a password guesser cannot simply go on through new connections
 * (--max-auth-failures-per-address, --auth-failure-window). */
#ifndef SMTPCORE_TOOLS_SINK_LIMITS_H
#define SMTPCORE_TOOLS_SINK_LIMITS_H

#include <stdint.h>

enum {
    SINK_LIMIT_SLOTS = 4096, /* addresses remembered (about 300 KiB) */
    SINK_LIMIT_PROBES = 8,   /* slots an address may use, from its hash */
    SINK_LIMIT_ADDR = 64     /* an IPv6 text address fits */
};

/** One address's failures in its current window. */
typedef struct sink_limit_slot {
    char addr[SINK_LIMIT_ADDR]; /**< Client address without port; "" = free. */
    int64_t window_start;       /**< ms (tool_now_ms()) of the window's first failure. */
    uint32_t count;             /**< Failures in the window. */
} sink_limit_slot;

/** The table. A new address takes a free probed slot, else the one whose window is
 *  oldest: memory is fixed, and under a flood of addresses the oldest are forgotten. */
typedef struct sink_limits {
    sink_limit_slot slot[SINK_LIMIT_SLOTS];
    uint32_t max;      /**< Failures per window before AUTH is refused; 0: off. */
    int64_t window_ms; /**< Window length. */
} sink_limits;

/** Empties the table and sets its limit (max failures per window_ms; max 0: off). */
void sink_limits_init(sink_limits *l, uint32_t max, int64_t window_ms);
/** Nonzero when @p addr reached the limit within its current window. */
int sink_limits_blocked(const sink_limits *l, const char *addr, int64_t now_ms);
/** Counts @p n failures for @p addr. */
void sink_limits_fail(sink_limits *l, const char *addr, uint32_t n, int64_t now_ms);
/** Copies the address part of "ADDR:PORT" or "[ADDR]:PORT" into @p out (other forms,
 *  e.g. a unix: peer, as they are). */
void sink_limits_addr(const char *peer, char *out, unsigned cap);

#endif
