/* SPDX-License-Identifier: MIT */
/* RFC 5321 4.1.2 / 4.1.3 syntax, RFC 6531 UTF-8, RFC 3461 xtext. Pure functions, no DNS. */
#ifndef SC_SYNTAX_H
#define SC_SYNTAX_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

/* Flags for parsing mailboxes. */
enum {
    SC_SYN_UTF8 = 1u << 0 /* allow RFC 6531 UTF-8 in local part and domain */
};

/* Valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF)? */
int sc_utf8_valid(const char *s, size_t len);

/* Domain = sub-domain *("." sub-domain) (letters-digits-hyphens, no leading/trailing
 * hyphen, label <= 63, total <= 255). With SC_SYN_UTF8, U-labels (valid UTF-8 >= 0x80) are
 * allowed as label characters. Returns 1 if valid. */
int sc_domain_valid(const char *s, size_t len, uint32_t flags);

/* Address literal including brackets: [IPv4], [IPv6:...] (all RFC 5321 4.1.3 forms incl.
 * IPv4-embedded), [tag:dcontent]. Returns the smtpcore_helo_class of the literal
 * (IPV4/IPV6/GENERAL) or SMTPCORE_HELO_INVALID. */
smtpcore_helo_class sc_address_literal_class(const char *s, size_t len);

/* Mailbox = Local-part "@" ( Domain / address-literal ). Local part is a Dot-string or a
 * Quoted-string (local part <= 64 octets). With SC_SYN_UTF8, UTF-8 is allowed. Sets *utf8
 * when any byte >= 0x80 was seen. Returns 1 if valid. */
int sc_mailbox_valid(const char *s, size_t len, uint32_t flags, int *utf8);

/* Parses a Path "<" [ A-d-l ":" ] Mailbox ">" or the null path "<>" at s[0..len).
 * On success returns the number of bytes the path spans (incl. the brackets), and sets
 * *mbox / *mbox_len to the mailbox without brackets and without the source route
 * (empty for "<>"). allow_null: accept "<>". Returns 0 if invalid.
 * Sets *utf8 when the mailbox contains UTF-8. */
size_t sc_path_parse(const char *s, size_t len, int allow_null, uint32_t flags,
                     const char **mbox, size_t *mbox_len, int *utf8);
/* The same, when `before` bytes in front of s are readable too (s lies inside a longer
 * line): short domains are then scanned 16 bytes at a time. Same results. */
size_t sc_path_parse_at(const char *s, size_t len, size_t before, int allow_null,
                        uint32_t flags, const char **mbox, size_t *mbox_len, int *utf8);

/* RFC 4422 3.1 sasl-mech = 1*20mech-char, mech-char = UPPER-ALPHA / DIGIT / "-" / "_":
 * the one definition of a SASL mechanism name, for the server's AUTH parser and the
 * client's configuration check (which takes a name in any case and sends it upper-cased). */
#define SC_SASL_MECH_MAX 20u
static inline int sc_sasl_mech_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}
int sc_sasl_mech_valid(const char *s, size_t len);

/* RFC 3461 xtext validity and decoding. */
int sc_xtext_valid(const char *s, size_t len);
/* Encodes in[0..len) as xtext into out (cap); returns bytes written or (size_t)-1. */
size_t sc_xtext_encode(const char *in, size_t len, char *out, size_t cap);

/* Is name one of the own names (ASCII case-insensitive for domains, exact for literals)? */
int sc_helo_is_own(const char *name, size_t len, const char *const *own, size_t n_own);

#endif
