/* SPDX-License-Identifier: MIT */
/* PROXY protocol v1/v2 (haproxy.org proxy-protocol.txt): parsing a received header and
 * writing one. Pure functions over caller buffers: no allocation, no state between calls,
 * so the server can offer the header one byte at a time and get the same answer. */
#ifndef SC_PROXY_H
#define SC_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include <smtpcore/smtpcore.h>

/* v1 lines are at most 107 octets including CRLF (spec 2.1). */
#define SC_PROXY_V1_MAX 107u
/* v2: 16 fixed octets, then up to 65535 of addresses and TLVs. */
#define SC_PROXY_V2_FIXED 16u
#define SC_PROXY_V2_MAX (16u + 65535u)
/* The smallest proxy_max_header: a v2 UNIX header (16 + 216) without TLVs. */
#define SC_PROXY_MIN_HEADER 232u
#define SC_PROXY_DEFAULT_HEADER 1024u
/* Room for an address as text: "ffff:ffff:...:ffff" or "::ffff:255.255.255.255" + NUL. */
#define SC_PROXY_ADDR_TEXT 48u

/* Where the text of v2 binary addresses is written (v1 addresses and UNIX paths are
 * slices of the header bytes themselves). */
typedef struct sc_proxy_text {
    char src[SC_PROXY_ADDR_TEXT];
    char dst[SC_PROXY_ADDR_TEXT];
} sc_proxy_text;

typedef struct sc_proxy_error {
    smtpcore_violation v;
    const char *msg; /* static text */
} sc_proxy_error;

/* Parses the start of p[0, n) as a PROXY header of the given mode (V1, V2 or ANY) no
 * longer than max octets. Returns:
 *   0   more bytes are needed to decide;
 *   >0  the header's length: *h is filled (slices into p and *txt);
 *   -1  a bad header: *err says why.
 * The answer depends only on the bytes, never on how they were split: a prefix that can
 * still become a valid header gives 0, one that cannot gives -1 as soon as it is seen.
 * `eof` says no more bytes will come (a header still incomplete is then truncated). */
long sc_proxy_parse(const char *p, size_t n, smtpcore_proxy_mode mode, size_t max, int eof,
                    smtpcore_proxy_header *h, sc_proxy_text *txt, sc_proxy_error *err);

/* CRC32C (Castagnoli) of p[0, n), continuing from crc (start with 0). */
uint32_t sc_crc32c(uint32_t crc, const unsigned char *p, size_t n);

/* Writes a header for the client: v1 or v2, with both addresses (same family, textual
 * IPv4 or IPv6) or with none (NULL: v1 UNKNOWN, v2 LOCAL). Returns the length written,
 * or a negative smtpcore_error (SYNTAX for a bad address or mixed families,
 * BUFFER_FULL when cap is too small; 108 octets always suffice). */
int sc_proxy_write(char *out, size_t cap, smtpcore_proxy_mode mode, const char *src,
                   const char *dst, uint16_t sport, uint16_t dport);

/* IPv4 dotted quad (no leading zeros) -> 4 bytes; 1 if valid. */
int sc_ipv4_parse(const char *s, size_t n, unsigned char out[4]);
/* IPv6 text (RFC 4291 2.2, with an embedded IPv4 tail) -> 16 bytes; 1 if valid. */
int sc_ipv6_parse(const char *s, size_t n, unsigned char out[16]);

#endif
