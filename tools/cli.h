/* SPDX-License-Identifier: MIT */
/* Command-line parsing helpers shared by the tools. */
#ifndef SMTPCORE_TOOLS_CLI_H
#define SMTPCORE_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

/**
 * Splits "HOST:PORT", "[V6]:PORT" or "HOST" (then @p default_port) into @p host and
 * @p port. Port 0 is allowed when @p allow_zero. "unix:PATH" names a Unix-domain socket:
 * @p host receives it whole (tool_connect() and tool_is_unix() know the prefix) and
 * @p port is 0. Returns 0 or -1.
 */
int tool_parse_hostport(const char *s, uint16_t default_port, int allow_zero, char *host,
                        size_t host_cap, uint16_t *port);

/** Parses a size with an optional K, M or G suffix (powers of 1024). Returns 0 or -1. */
int tool_parse_size(const char *s, uint64_t *out);

/** Parses a decimal unsigned number no larger than @p max. Returns 0 or -1. */
int tool_parse_uint(const char *s, uint64_t max, uint64_t *out);

/**
 * Matches a long option: "--name VALUE" or "--name=VALUE". On a match sets *value and
 * advances *i past the value; returns 1. Returns 0 when argv[*i] is another option,
 * -1 when the value is missing.
 */
int tool_opt_value(int argc, char **argv, int *i, const char *name, const char **value);

#endif
