/* SPDX-License-Identifier: MIT */
/* RFC 4648 base64 (standard alphabet, padded), as SASL in SMTP requires (RFC 4954). */
#ifndef SC_BASE64_H
#define SC_BASE64_H

#include <stddef.h>

/* Encoded length of n input bytes. */
static inline size_t sc_base64_encoded_len(size_t n) { return ((n + 2) / 3) * 4; }

/* Encodes; returns bytes written or (size_t)-1 when cap is too small. */
size_t sc_base64_encode(const char *in, size_t len, char *out, size_t cap);

/* Decodes strictly (padding required, no whitespace, no trailing garbage);
 * returns bytes written or (size_t)-1 on invalid input or small cap. Empty input -> 0. */
size_t sc_base64_decode(const char *in, size_t len, char *out, size_t cap);

#endif
