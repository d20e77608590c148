/* SPDX-License-Identifier: MIT */
/* RFC 4648 base64: the section 10 vectors, strict decoding, bounds. */
#include <criterion/criterion.h>
#include <string.h>

#include "base64.h"

static const struct { const char *plain, *enc; } vectors[] = {
    {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

Test(base64, rfc4648_encode)
{
    char out[32];
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        size_t n = sc_base64_encode(vectors[i].plain, strlen(vectors[i].plain), out, sizeof out);
        cr_assert_eq(n, strlen(vectors[i].enc), "%s", vectors[i].plain);
        cr_assert_eq(memcmp(out, vectors[i].enc, n), 0, "%s", vectors[i].plain);
        cr_assert_eq(sc_base64_encoded_len(strlen(vectors[i].plain)), n);
    }
}

Test(base64, rfc4648_decode)
{
    char out[32];
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        size_t n = sc_base64_decode(vectors[i].enc, strlen(vectors[i].enc), out, sizeof out);
        cr_assert_eq(n, strlen(vectors[i].plain), "%s", vectors[i].enc);
        cr_assert_eq(memcmp(out, vectors[i].plain, n), 0, "%s", vectors[i].enc);
    }
}

Test(base64, invalid_input)
{
    char out[64];
    const char *bad[] = {
        "Zg",        /* padding missing */
        "Zg=",       /* length not a multiple of 4 */
        "Zm9vYg",    /* padding missing */
        "Zm9v Yg==", /* whitespace */
        "Zm9v\r\nYg==",
        "Zm9vYg==Zg==", /* padding in the middle */
        "Z===",      /* three pad characters */
        "====",
        "Zm=v",      /* '=' inside a quantum */
        "Zh==",      /* non-canonical: low bits set under the padding */
        "Zm9=",      /* non-canonical */
        "Zm9v!A==",  /* outside the alphabet */
        "Zm9v-_==",  /* base64url alphabet is not accepted */
        "Zm9\x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_eq(sc_base64_decode(bad[i], strlen(bad[i]), out, sizeof out), (size_t)-1,
                     "accepted '%s'", bad[i]);
}

Test(base64, caps)
{
    char out[8];
    cr_assert_eq(sc_base64_encode("foo", 3, out, 3), (size_t)-1);
    cr_assert_eq(sc_base64_encode("foo", 3, out, 4), 4);
    cr_assert_eq(sc_base64_decode("Zm9vYg==", 8, out, 3), (size_t)-1);
    cr_assert_eq(sc_base64_decode("Zm9vYg==", 8, out, 4), 4);
    cr_assert_eq(sc_base64_decode("", 0, NULL, 0), 0);
}

Test(base64, round_trip_all_bytes)
{
    char in[300], enc[400], dec[300];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof in; len++) {
        size_t e = sc_base64_encode(in, len, enc, sizeof enc);
        cr_assert_eq(e, sc_base64_encoded_len(len));
        size_t d = sc_base64_decode(enc, e, dec, sizeof dec);
        cr_assert_eq(d, len);
        cr_assert_eq(memcmp(in, dec, len), 0);
    }
}
