/* SPDX-License-Identifier: MIT */
/* Small text facts every part of the engine needs, written once: string slices, ASCII
 * case folding, unsigned decimal numbers and the bounded writer (sc_wr) that builds
 * commands and replies. Everything is inline and stateless: no locale (SMTP keywords are
 * ASCII, and tolower() would fold bytes >= 0x80 under some locales). */
#ifndef SC_TEXT_H
#define SC_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

/* ---- string slices ---- */

static inline smtpcore_str sc_mkstr(const char *p, size_t n)
{
    smtpcore_str r = {p, n};
    return r;
}

/* A slice of a NUL-terminated string (the engine's static texts). */
static inline smtpcore_str sc_cstr(const char *t)
{
    return sc_mkstr(t, strlen(t));
}

/* ---- ASCII case ---- */

static inline unsigned char sc_ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline unsigned char sc_ascii_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c & ~0x20) : c;
}

/* s[0, n) equals the upper-case literal `upper` in any case. */
static inline int sc_ieq_upper(const char *s, size_t n, const char *upper)
{
    if (strlen(upper) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (sc_ascii_upper((unsigned char)s[i]) != (unsigned char)upper[i])
            return 0;
    return 1;
}

/* ---- decimal ---- */

/* The most digits of a uint64_t (18446744073709551615). */
#define SC_DEC_U64_MAX 20u

/* Writes v in decimal at out, no NUL; returns the number of digits, which is all it
 * writes (never more than SC_DEC_U64_MAX). */
static inline size_t sc_dec_u64(char *out, uint64_t v)
{
    char tmp[SC_DEC_U64_MAX];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    memcpy(out, tmp + i, sizeof tmp - i);
    return sizeof tmp - i;
}

/* ---- the bounded writer ----
 * Appends to out[0, cap). A piece that does not fit is not written and makes the writer
 * full: nothing is ever written past cap, and sc_wr_len() then says (size_t)-1, so a
 * caller tests once at the end instead of after every piece. */
typedef struct sc_wr {
    char *out;
    size_t cap;
    size_t len;
    int full;
} sc_wr;

static inline sc_wr sc_wr_init(char *out, size_t cap)
{
    sc_wr w = {out, cap, 0, 0};
    return w;
}

static inline void sc_wr_put(sc_wr *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    if (n)
        memcpy(w->out + w->len, s, n);
    w->len += n;
}

static inline void sc_wr_puts(sc_wr *w, const char *s)
{
    sc_wr_put(w, s, strlen(s));
}

static inline void sc_wr_u64(sc_wr *w, uint64_t v)
{
    char d[SC_DEC_U64_MAX];
    sc_wr_put(w, d, sc_dec_u64(d, v));
}

/* What was written, or (size_t)-1 when a piece did not fit. */
static inline size_t sc_wr_len(const sc_wr *w)
{
    return w->full ? (size_t)-1 : w->len;
}

#endif
