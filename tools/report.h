/* SPDX-License-Identifier: MIT */
/* What the tools print about replies and themselves: one format for every tool. */
#ifndef SMTPCORE_TOOLS_REPORT_H
#define SMTPCORE_TOOLS_REPORT_H

#include <stddef.h>

#include <smtpcore/smtpcore.h>

/**
 * Formats a whole reply on one line: "CODE text", and for a multi-line reply every line's
 * text joined by " / " (so Exim's "250- 0 byte chunk" line and its "250 OK id=..." line
 * both show). Control bytes become '?'. Empty when the reply is NULL or has no code.
 */
void tool_reply_format(const smtpcore_reply *r, char *out, size_t cap);

/** Prints "TOOL VERSION (libsmtpcore VERSION)" on stdout: the tool's version is the one it
 *  was built with, the library's is smtpcore_version() of the library loaded at run time. */
void tool_print_version(const char *tool);

#endif
