/* SPDX-License-Identifier: MIT */
/* RFC 4648 section 4 base64, strict: padding required, no whitespace, canonical tail. */
#include <stdint.h>

#include "base64.h"

static const char sc_b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value + 1 of each alphabet byte; 0 marks bytes outside it (including '='), so one
 * lookup both validates and decodes. */
static const uint8_t sc_b64_rev[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
    ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
    ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
    ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
    ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
    ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
    ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

size_t sc_base64_encode(const char *in, size_t len, char *out, size_t cap)
{
    if (len > ((size_t)-1 / 4) * 3 - 3)
        return (size_t)-1;
    size_t need = sc_base64_encoded_len(len);
    if (need > cap)
        return (size_t)-1;
    const unsigned char *p = (const unsigned char *)in;
    size_t i = 0, o = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];
        out[o++] = sc_b64_alpha[(v >> 18) & 63];
        out[o++] = sc_b64_alpha[(v >> 12) & 63];
        out[o++] = sc_b64_alpha[(v >> 6) & 63];
        out[o++] = sc_b64_alpha[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = sc_b64_alpha[(v >> 18) & 63];
        out[o++] = sc_b64_alpha[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8);
        out[o++] = sc_b64_alpha[(v >> 18) & 63];
        out[o++] = sc_b64_alpha[(v >> 12) & 63];
        out[o++] = sc_b64_alpha[(v >> 6) & 63];
        out[o++] = '=';
    }
    return o;
}

size_t sc_base64_decode(const char *in, size_t len, char *out, size_t cap)
{
    if (len == 0)
        return 0;
    if (len % 4 != 0)
        return (size_t)-1;
    const unsigned char *p = (const unsigned char *)in;
    size_t pad = 0;
    if (p[len - 1] == '=')
        pad = p[len - 2] == '=' ? 2 : 1;
    size_t need = len / 4 * 3 - pad;
    if (need > cap)
        return (size_t)-1;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        size_t valid = (i + 4 == len) ? 4 - pad : 4;
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++) {
            unsigned char c = p[i + k];
            if (k < valid) {
                uint32_t d = sc_b64_rev[c];
                if (d == 0)
                    return (size_t)-1;
                v = (v << 6) | (d - 1);
            } else {
                v <<= 6; /* the '=' positions (checked above) */
            }
        }
        out[o++] = (char)(v >> 16);
        if (valid > 2)
            out[o++] = (char)((v >> 8) & 0xFF);
        if (valid > 3)
            out[o++] = (char)(v & 0xFF);
        /* Non-canonical encodings (bits set under the padding) are refused. */
        if (valid == 2 && (v & 0xFFFF))
            return (size_t)-1;
        if (valid == 3 && (v & 0xFF))
            return (size_t)-1;
    }
    return o;
}
