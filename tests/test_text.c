/* SPDX-License-Identifier: MIT */
/* The small text facts of sc_text.h: slices, ASCII case, decimal, the bounded writer. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "sc_text.h"

Test(text, slices)
{
    smtpcore_str a = sc_cstr("hello");
    cr_assert_eq(a.len, 5);
    cr_assert_eq(memcmp(a.ptr, "hello", 5), 0);
    smtpcore_str b = sc_mkstr("hello", 2);
    cr_assert_eq(b.len, 2);
    cr_assert_eq(sc_cstr("").len, 0);
}

Test(text, ascii_case_every_byte)
{
    /* Only A-Z and a-z change: bytes >= 0x80 and punctuation next to the letters
     * ('@', '[', '`', '{') stay what they are, whatever the locale. */
    for (unsigned c = 0; c < 256; c++) {
        unsigned char l = sc_ascii_lower((unsigned char)c);
        unsigned char u = sc_ascii_upper((unsigned char)c);
        if (c >= 'A' && c <= 'Z') {
            cr_assert_eq(l, c + 32);
            cr_assert_eq(u, c);
        } else if (c >= 'a' && c <= 'z') {
            cr_assert_eq(l, c);
            cr_assert_eq(u, c - 32);
        } else {
            cr_assert_eq(l, c, "byte %u", c);
            cr_assert_eq(u, c, "byte %u", c);
        }
    }
}

Test(text, ieq_upper)
{
    cr_assert(sc_ieq_upper("plain", 5, "PLAIN"));
    cr_assert(sc_ieq_upper("PlAiN", 5, "PLAIN"));
    cr_assert(sc_ieq_upper("x-Oauth2", 8, "X-OAUTH2"));
    cr_assert_not(sc_ieq_upper("plai", 4, "PLAIN"));
    cr_assert_not(sc_ieq_upper("plainx", 6, "PLAIN"));
    cr_assert_not(sc_ieq_upper("pla1n", 5, "PLAIN"));
    /* '{' is not a folded '[' */
    cr_assert_not(sc_ieq_upper("{", 1, "["));
    cr_assert(sc_ieq_upper("", 0, ""));
}

static void dec_is(uint64_t v, const char *want)
{
    char out[SC_DEC_U64_MAX + 2];
    memset(out, '#', sizeof out);
    size_t n = sc_dec_u64(out, v);
    cr_assert_eq(n, strlen(want));
    cr_assert_eq(memcmp(out, want, n), 0, "%llu", (unsigned long long)v);
    cr_assert_eq(out[n], '#', "writes only its digits");
}

Test(text, decimal)
{
    dec_is(0, "0");
    dec_is(9, "9");
    dec_is(10, "10");
    dec_is(999, "999");
    dec_is(10485760, "10485760");
    dec_is(UINT64_MAX, "18446744073709551615");
}

Test(text, writer_fits_and_fills)
{
    char b[8];
    memset(b, '#', sizeof b);
    sc_wr w = sc_wr_init(b, 6);
    sc_wr_puts(&w, "250 ");
    sc_wr_u64(&w, 12);
    cr_assert_eq(sc_wr_len(&w), 6);
    cr_assert_eq(memcmp(b, "250 12", 6), 0);
    /* A piece that does not fit is not written, and nothing after it either. */
    sc_wr_put(&w, "x", 1);
    cr_assert_eq(sc_wr_len(&w), (size_t)-1);
    sc_wr_put(&w, "", 0);
    cr_assert_eq(sc_wr_len(&w), (size_t)-1);
    cr_assert_eq(b[6], '#');

    sc_wr v = sc_wr_init(b, 3);
    sc_wr_puts(&v, "ab");
    sc_wr_puts(&v, "cd"); /* would cross cap: not written, even partly */
    cr_assert_eq(sc_wr_len(&v), (size_t)-1);
    cr_assert_eq(b[2], '0', "the third byte is still what the first writer left");
}
