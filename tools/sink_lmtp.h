/* SPDX-License-Identifier: MIT */
/* smtpcore-sink --lmtp: the per-recipient answers after the data (RFC 2033 4.2) and the
 * --lmtp-refuse rules that refuse or defer chosen recipients there. Kept apart from the
 * connection pump (sink_conn.c), which calls sink_lmtp_answer() once a message's fate is
 * known. */
#ifndef SMTPCORE_TOOLS_SINK_LMTP_H
#define SMTPCORE_TOOLS_SINK_LMTP_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

enum { SINK_LMTP_MAX_RULES = 64 };

/** One --lmtp-refuse ADDR=CODE[/X.Y.Z] rule. */
typedef struct sink_lmtp_rule {
    char addr[256];    /**< Recipient address, compared case-insensitively. */
    int code;          /**< 4xx (defer) or 5xx (refuse). */
    char enhanced[16]; /**< Enhanced status code of the same class. */
} sink_lmtp_rule;

/** LMTP settings of the sink. */
typedef struct sink_lmtp_opts {
    int on;                                   /**< --lmtp. */
    sink_lmtp_rule rules[SINK_LMTP_MAX_RULES]; /**< --lmtp-refuse rules, in order. */
    size_t nrules;                            /**< Rules in use. */
} sink_lmtp_opts;

/** Parses "ADDR=CODE" or "ADDR=CODE/X.Y.Z" into a new rule. Returns 0 or -1. */
int sink_lmtp_add_rule(sink_lmtp_opts *o, const char *arg);

/** The rule for a recipient: its index + 1, or 0 when no rule names it. */
uint16_t sink_lmtp_match(const sink_lmtp_opts *o, smtpcore_str addr);

/** Nonzero when every one of the @p n recipients is refused by a rule, so there is
 *  nothing to store. @p rule holds each recipient's sink_lmtp_match() (NULL: no rules). */
int sink_lmtp_all_refused(const uint16_t *rule, uint32_t n);

/**
 * Answers the @p n recipients of the message that just ended: those named by a rule get
 * its code, the others 250 when @p stored, else 451 4.3.0. Refusals are given first and
 * out of RCPT order (the engine puts the replies back in order). Writes the codes, in
 * RCPT order and comma-separated, into @p codes (cut with "..." when long). Returns the
 * message's overall code for the log line: 250 when one recipient got 250, else the first
 * 4xx, else the first 5xx.
 */
int sink_lmtp_answer(smtpcore_server *s, const sink_lmtp_opts *o, const uint16_t *rule,
                     uint32_t n, int stored, char *codes, size_t codes_cap);

#endif
