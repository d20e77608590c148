/* SPDX-License-Identifier: MIT */
/* SMTP command parsing (server side) and writing (client side). Zero-copy: parsed fields
 * are slices of the line given to the parser. */
#ifndef SC_COMMAND_H
#define SC_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

typedef enum sc_verb {
    SC_VERB_UNKNOWN = 0,
    SC_VERB_HELO, SC_VERB_EHLO, SC_VERB_MAIL, SC_VERB_RCPT, SC_VERB_DATA, SC_VERB_BDAT,
    SC_VERB_RSET, SC_VERB_NOOP, SC_VERB_VRFY, SC_VERB_EXPN, SC_VERB_HELP, SC_VERB_QUIT,
    SC_VERB_STARTTLS, SC_VERB_AUTH, SC_VERB_TURN, SC_VERB_ETRN,
    SC_VERB_LHLO, /* LMTP (RFC 2033) */
    SC_VERB_XCLIENT,
    SC_VERB_COUNT
} sc_verb;

/* A reply the server should send for a syntax error. */
typedef struct sc_reply_spec {
    int code;                   /* e.g. 501 */
    smtpcore_enhanced enhanced; /* e.g. 5.5.4 */
    const char *text;           /* static text, e.g. "Syntax error in parameters" */
    smtpcore_violation violation;
} sc_reply_spec;

typedef struct sc_command {
    sc_verb verb;
    smtpcore_str arg;           /* everything after "VERB " (trailing spaces removed) */
    /* HELO/EHLO */
    smtpcore_str domain;
    smtpcore_helo_class helo_class;
    /* MAIL/RCPT */
    smtpcore_str mailbox;       /* without <>, route removed, "" for <> */
    int mailbox_utf8;
    smtpcore_mail_params mail;
    smtpcore_rcpt_params rcpt;
    /* BDAT */
    uint64_t chunk_size;
    int last;
    /* AUTH */
    smtpcore_str mechanism;
    smtpcore_str initial_response; /* base64 text, "=" for empty; len 0 when absent */
} sc_command;

/* Parses one command line (without CRLF). Verbs are case-insensitive. Accepts the
 * extension parameters syntactically (SIZE, BODY, SMTPUTF8, RET, ENVID, NOTIFY, ORCPT,
 * AUTH); which ones are allowed is the server's decision (allowed_ext is the advertised
 * SMTPCORE_EXT_* mask: a parameter of an extension not in it is refused with 555 5.5.4).
 * Returns 0 on success, or -1 with *err filled:
 *   unknown verb                  500 5.5.1  (violation UNKNOWN_COMMAND)
 *   generic syntax                501 5.5.2
 *   bad sender address            501 5.1.7, bad recipient address 501 5.1.3
 *   bad / duplicate parameter     501 5.5.4  (BAD_PARAMETER)
 *   unknown / unadvertised param  555 5.5.4  (UNKNOWN_PARAMETER)
 *   UTF-8 address without SMTPUTF8 553 5.6.7 (RFC 6531 3.6.x)
 *   HELO/EHLO/LHLO invalid name   501 5.5.2 (the class is still set)
 * On error cmd->verb is still set when the verb was recognised. */
int sc_command_parse(const char *line, size_t len, uint32_t allowed_ext, sc_command *cmd,
                     sc_reply_spec *err);

/* Case-insensitive verb lookup of exactly len bytes. */
sc_verb sc_verb_lookup(const char *s, size_t len);
const char *sc_verb_name(sc_verb v);

/* Writes "MAIL FROM:<from> params\r\n" etc. into out; returns bytes written, or (size_t)-1
 * when cap is too small. The writer never emits CR/LF/NUL from its arguments: callers must
 * have validated them (sc_command_check_arg). envid and auth in p are given decoded and are
 * xtext-encoded here; orcpt is "type;addr" decoded, addr xtext-encoded. */
size_t sc_command_write_mail(char *out, size_t cap, const char *from, size_t from_len,
                             const smtpcore_mail_params *p);
size_t sc_command_write_rcpt(char *out, size_t cap, const char *to, size_t to_len,
                             const smtpcore_rcpt_params *p);
/* Simple verbs with an optional argument: "EHLO name\r\n", "DATA\r\n", "BDAT 10 LAST\r\n"... */
size_t sc_command_write_simple(char *out, size_t cap, sc_verb v, const char *arg, size_t arg_len);
size_t sc_command_write_bdat(char *out, size_t cap, uint64_t size, int last);

/* Host-supplied string check: 0 when it contains no CR, LF or NUL (injection guard). */
int sc_command_check_arg(const char *s, size_t len);

#endif
