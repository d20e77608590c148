/* SPDX-License-Identifier: MIT */
/* smtpcore-send's message: built from --body/--header, measured as the wire will carry it,
 * and the recipient arguments swaks and msmtp users write. */
#ifndef SMTPCORE_TOOLS_SEND_MSG_H
#define SMTPCORE_TOOLS_SEND_MSG_H

#include <stddef.h>
#include <stdint.h>

enum { SEND_MAX_HEADERS = 64 };

/** What goes into a message besides the bytes read from FILE/--data/stdin. */
typedef struct send_msg_spec {
    const char *body;                       /**< --body TEXT: build a message around it. */
    const char *headers[SEND_MAX_HEADERS];  /**< --header "Name: value" lines. */
    size_t nheaders;
    const char *from;                       /**< For the built From: header. */
    const char *const *to;                  /**< For the built To: header. */
    size_t nto;
    const char *host;                       /**< Right-hand side of the built Message-ID. */
} send_msg_spec;

/**
 * Returns the message to send (malloc'd), or NULL after printing why. With --body the
 * message is built: Date, From, To, Subject ("test"), Message-ID, the --header lines
 * (replacing a built header of the same name), an empty line and the body. Otherwise
 * @p read (of @p read_len bytes, taken over) is the message and --header lines go on top.
 */
char *send_msg_compose(const send_msg_spec *s, char *read, size_t read_len, size_t *len);

/**
 * The size the message has on the wire (RFC 1870 SIZE): line ends as CRLF (a bare LF or
 * CR becomes CRLF, as the engine sends it), plus the CRLF the engine adds to a last line
 * without one in DATA mode (@p bdat 0); dot-stuffing is not counted.
 */
uint64_t send_msg_wire_size(const char *m, size_t n, int bdat);

/** Nonzero when a byte has the high bit set. */
int send_msg_has_8bit(const char *p, size_t n);

/**
 * Adds the addresses of one --to/-t argument to @p list: a comma-separated list
 * ("a@x, b@y"; commas inside a quoted local part do not split), each address optionally
 * in angle brackets ("<a@x>") or with a display name ("Ann <a@x>"). Edits @p arg in
 * place. Returns 0, or -1 when an address is empty or the list is full.
 */
int send_addr_add(char *arg, const char **list, size_t *n, size_t max);

/** Strips one pair of angle brackets (and surrounding spaces) in place: "<a@x>" -> "a@x". */
char *send_addr_strip(char *addr);

#endif
