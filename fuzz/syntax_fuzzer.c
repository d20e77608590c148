/* SPDX-License-Identifier: MIT */
/* Fuzzes the pure syntax functions: paths, mailboxes, domains, HELO classes, address
 * literals, xtext and base64. Every function sees the same input bytes.
 *
 * Invariants are cross-checks between the functions (a path's mailbox is a valid
 * mailbox, a literal class agrees with the classifier, UTF-8 mode accepts a superset of
 * ASCII mode) and round trips (decode(encode(x)) == x for xtext and base64). */
#include "fuzz_common.h"

#include "base64.h"
#include "syntax.h"

static int has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

static int ldh_only(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static void check_domain(const char *s, size_t n)
{
    int ascii = sc_domain_valid(s, n, 0);
    int utf8 = sc_domain_valid(s, n, SC_SYN_UTF8);
    FZ_CHECK(ascii == 0 || ascii == 1);
    if (ascii) {
        FZ_CHECK(utf8);
        FZ_CHECK(n >= 1 && n <= 255 && ldh_only(s, n));
        FZ_CHECK(s[0] != '.' && s[n - 1] != '.' && s[0] != '-' && s[n - 1] != '-');
        FZ_CHECK(!fz_contains(s, n, "..", 2));
    }
    if (utf8) {
        FZ_CHECK(sc_utf8_valid(s, n));
        FZ_CHECK(memchr(s, '@', n) == NULL && memchr(s, ' ', n) == NULL);
    }
}

static void check_helo(const char *s, size_t n)
{
    smtpcore_helo_class c = smtpcore_helo_classify(s, n);
    FZ_CHECK(c >= SMTPCORE_HELO_INVALID && c <= SMTPCORE_HELO_GENERAL_LITERAL);
    smtpcore_helo_class lit = sc_address_literal_class(s, n);
    if (n && s[0] == '[')
        FZ_CHECK(c == lit);
    else
        FZ_CHECK(lit == SMTPCORE_HELO_INVALID);
    if (c == SMTPCORE_HELO_FQDN || c == SMTPCORE_HELO_SINGLE_LABEL) {
        /* The classifier is liberal about one trailing dot (an absolute name). */
        size_t dn = n > 1 && s[n - 1] == '.' ? n - 1 : n;
        FZ_CHECK(sc_domain_valid(s, dn, 0));
        FZ_CHECK((c == SMTPCORE_HELO_SINGLE_LABEL) == (memchr(s, '.', dn) == NULL));
    }
    if (lit != SMTPCORE_HELO_INVALID)
        FZ_CHECK(n >= 3 && s[n - 1] == ']');
}

static void check_mailbox(const char *s, size_t n)
{
    int u_ascii = -1, u_utf8 = -1;
    int a = sc_mailbox_valid(s, n, 0, &u_ascii);
    int u = sc_mailbox_valid(s, n, SC_SYN_UTF8, &u_utf8);
    if (a) {
        FZ_CHECK(u);
        FZ_CHECK(!has_8bit(s, n));
    }
    if (u) {
        FZ_CHECK(u_utf8 == has_8bit(s, n));
        /* Some '@' separates a local part of 1..64 octets from a valid domain or
         * address literal (a quoted local part and a general literal may hold '@'). */
        int split_ok = 0;
        for (size_t i = 1; i < n && i <= 64 && !split_ok; i++) {
            if (s[i] != '@')
                continue;
            const char *d = s + i + 1;
            size_t dn = n - i - 1;
            split_ok = sc_domain_valid(d, dn, SC_SYN_UTF8) ||
                       sc_address_literal_class(d, dn) != SMTPCORE_HELO_INVALID;
        }
        FZ_CHECK(split_ok);
        FZ_CHECK(memchr(s, '\r', n) == NULL && memchr(s, '\n', n) == NULL &&
                 memchr(s, '\0', n) == NULL);
    }
}

static void check_path(const char *s, size_t n, int allow_null, uint32_t flags)
{
    const char *mbox = NULL;
    size_t mlen = 12345;
    int utf8 = -1;
    size_t used = sc_path_parse(s, n, allow_null, flags, &mbox, &mlen, &utf8);
    FZ_CHECK(used <= n);
    /* With bytes readable in front (a path inside a line: the 16-byte window scan of
     * short domains), the answer is the same. */
    char *pad = malloc(n + 16);
    FZ_CHECK(pad != NULL);
    memset(pad, 'x', 16);
    if (n)
        memcpy(pad + 16, s, n);
    const char *mbox2 = NULL;
    size_t mlen2 = 12345;
    int utf8b = -1;
    size_t used2 = sc_path_parse_at(pad + 16, n, 16, allow_null, flags, &mbox2, &mlen2, &utf8b);
    FZ_CHECK(used2 == used && utf8b == utf8);
    if (used)
        FZ_CHECK(mlen2 == mlen && mbox2 - (pad + 16) == mbox - s);
    free(pad);
    if (used == 0)
        return;
    FZ_CHECK(used >= 2 && s[0] == '<' && s[used - 1] == '>');
    FZ_CHECK(fz_within(s, used, mbox, mlen));
    if (mlen == 0) {
        FZ_CHECK(allow_null && used == 2);
    } else {
        int u2 = -1;
        FZ_CHECK(sc_mailbox_valid(mbox, mlen, flags, &u2));
        FZ_CHECK(u2 == utf8);
        /* The mailbox ends right before the closing bracket. */
        FZ_CHECK(mbox + mlen == s + used - 1);
    }
}

static void check_xtext(const char *s, size_t n)
{
    char *dec = malloc(n + 1);
    FZ_CHECK(dec != NULL);
    size_t dl = 0;
    int valid = sc_xtext_valid(s, n);
    int r = smtpcore_xtext_decode(s, n, dec, n + 1, &dl);
    FZ_CHECK((r == SMTPCORE_OK) == (valid != 0));
    FZ_CHECK(r == SMTPCORE_OK || r == SMTPCORE_ERR_SYNTAX);
    if (r == SMTPCORE_OK) {
        FZ_CHECK(dl <= n);
        /* Too small an output buffer is reported, never overrun. */
        if (dl > 0) {
            size_t dl2 = 0;
            FZ_CHECK(smtpcore_xtext_decode(s, n, dec, dl - 1, &dl2) == SMTPCORE_ERR_BUFFER_FULL);
        }
    }
    free(dec);

    /* Any bytes encode to valid xtext that decodes back to them. */
    size_t cap = 3 * n + 1;
    char *enc = malloc(cap);
    char *back = malloc(n + 1);
    FZ_CHECK(enc && back);
    size_t el = sc_xtext_encode(s, n, enc, cap);
    FZ_CHECK(el != (size_t)-1 && el <= 3 * n);
    FZ_CHECK(sc_xtext_valid(enc, el));
    size_t bl = 0;
    FZ_CHECK(smtpcore_xtext_decode(enc, el, back, n + 1, &bl) == SMTPCORE_OK);
    FZ_CHECK(bl == n && (n == 0 || memcmp(back, s, n) == 0));
    if (el > 0)
        FZ_CHECK(sc_xtext_encode(s, n, enc, el - 1) == (size_t)-1);
    free(enc);
    free(back);
}

static void check_base64(const char *s, size_t n)
{
    size_t el = sc_base64_encoded_len(n);
    char *enc = malloc(el + 1);
    char *back = malloc(n + 1);
    FZ_CHECK(enc && back);
    FZ_CHECK(sc_base64_encode(s, n, enc, el) == el);
    if (el > 0)
        FZ_CHECK(sc_base64_encode(s, n, enc, el - 1) == (size_t)-1);
    FZ_CHECK(sc_base64_decode(enc, el, back, n + 1) == n);
    FZ_CHECK(n == 0 || memcmp(back, s, n) == 0);
    free(back);

    /* Decoding arbitrary bytes: strict, and what it accepts has the canonical length. */
    char *dec = malloc(n + 1);
    FZ_CHECK(dec != NULL);
    size_t dl = sc_base64_decode(s, n, dec, n + 1);
    if (dl != (size_t)-1) {
        FZ_CHECK(n % 4 == 0 && dl <= n / 4 * 3);
        FZ_CHECK(sc_base64_encoded_len(dl) == n);
        char *re = malloc(n + 1);
        FZ_CHECK(re != NULL);
        FZ_CHECK(sc_base64_encode(dec, dl, re, n + 1) == n);
        free(re);
        if (dl > 0)
            FZ_CHECK(sc_base64_decode(s, n, dec, dl - 1) == (size_t)-1);
    }
    free(dec);
    free(enc);
}

static void check_literal_builder(const char *s, size_t n)
{
    char ip[80];
    if (n >= sizeof ip || memchr(s, '\0', n))
        return;
    memcpy(ip, s, n);
    ip[n] = '\0';
    char out[64];
    int r = smtpcore_address_literal(ip, out, sizeof out);
    FZ_CHECK(r == SMTPCORE_ERR_SYNTAX || (r > 0 && (size_t)r < sizeof out));
    if (r > 0) {
        FZ_CHECK(out[r] == '\0' && (size_t)r == strlen(out));
        smtpcore_helo_class c = smtpcore_helo_classify(out, (size_t)r);
        FZ_CHECK(c == SMTPCORE_HELO_IPV4_LITERAL || c == SMTPCORE_HELO_IPV6_LITERAL);
        char small[4];
        FZ_CHECK(smtpcore_address_literal(ip, small, sizeof small) == SMTPCORE_ERR_BUFFER_FULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2048)
        return 0;
    /* An exact-size (zeroed) copy so ASan sees reads past the end. */
    char *s = calloc(size ? size : 1, 1);
    FZ_CHECK(s != NULL);
    if (size)
        memcpy(s, data, size);

    int v = sc_utf8_valid(s, size);
    FZ_CHECK(v == 0 || v == 1);
    if (!has_8bit(s, size))
        FZ_CHECK(v);
    check_domain(s, size);
    check_helo(s, size);
    check_mailbox(s, size);
    check_path(s, size, 0, 0);
    check_path(s, size, 1, 0);
    check_path(s, size, 1, SC_SYN_UTF8);
    check_xtext(s, size);
    check_base64(s, size);
    check_literal_builder(s, size);
    free(s);
    return 0;
}
