/* SPDX-License-Identifier: MIT */
/* Fuzzes the server's command parser (sc_command_parse).
 *
 * Input: one command line (no CRLF; any bytes, as the framer may pass NUL or a bare CR),
 * followed by two decision bytes at the end that remove extensions from the advertised
 * set (so a seed "MAIL FROM:<a@b> SIZE=10\0\0" is parsed with every extension allowed).
 *
 * Invariants: every slice lies inside the line; a parameter is only accepted when its
 * extension is advertised; an accepted address is valid by the syntax module; errors
 * carry a sane code; the verb is case-insensitive; parsing is deterministic. */
#include "fuzz_common.h"

#include "command.h"
#include "syntax.h"

#define ALL_EXT 0xfffu

static void check_slice(const char *line, size_t len, smtpcore_str s)
{
    FZ_CHECK(fz_within(line, len, s.ptr, s.len));
    fz_touch(s.ptr, s.len);
}

static void check_ok(const char *line, size_t len, uint32_t ext, const sc_command *c)
{
    FZ_CHECK(c->verb > SC_VERB_UNKNOWN && c->verb < SC_VERB_COUNT);
    check_slice(line, len, c->arg);
    check_slice(line, len, c->domain);
    check_slice(line, len, c->mailbox);
    check_slice(line, len, c->mail.envid);
    check_slice(line, len, c->mail.auth);
    check_slice(line, len, c->rcpt.orcpt);
    check_slice(line, len, c->mechanism);
    check_slice(line, len, c->initial_response);

    if (c->arg.len) /* trailing spaces are removed from the argument */
        FZ_CHECK(c->arg.ptr[c->arg.len - 1] != ' ');

    switch (c->verb) {
    case SC_VERB_HELO:
    case SC_VERB_EHLO:
        FZ_CHECK(c->helo_class != SMTPCORE_HELO_INVALID);
        FZ_CHECK(smtpcore_helo_classify(c->domain.ptr, c->domain.len) == c->helo_class);
        break;
    case SC_VERB_MAIL:
    case SC_VERB_RCPT: {
        if (c->mailbox.len) {
            int u = 0;
            FZ_CHECK(sc_mailbox_valid(c->mailbox.ptr, c->mailbox.len, SC_SYN_UTF8, &u));
            FZ_CHECK(u == (c->mailbox_utf8 != 0));
        }
        if (c->mailbox_utf8 && c->verb == SC_VERB_MAIL)
            FZ_CHECK(c->mail.smtputf8); /* RFC 6531 3.4: UTF-8 sender needs SMTPUTF8 */
        if (c->mail.has_size)
            FZ_CHECK(ext & SMTPCORE_EXT_SIZE);
        if (c->mail.body == SMTPCORE_BODY_8BITMIME)
            FZ_CHECK(ext & SMTPCORE_EXT_8BITMIME);
        if (c->mail.body == SMTPCORE_BODY_BINARYMIME)
            FZ_CHECK(ext & SMTPCORE_EXT_BINARYMIME);
        if (c->mail.smtputf8)
            FZ_CHECK(ext & SMTPCORE_EXT_SMTPUTF8);
        if (c->mail.ret || c->mail.envid.len || c->rcpt.notify || c->rcpt.orcpt.len)
            FZ_CHECK(ext & SMTPCORE_EXT_DSN);
        if (c->mail.auth.len)
            FZ_CHECK(ext & SMTPCORE_EXT_AUTH);
        if (c->mail.envid.len)
            FZ_CHECK(sc_xtext_valid(c->mail.envid.ptr, c->mail.envid.len));
        if (c->verb == SC_VERB_RCPT) /* MAIL-only parameters never show up on RCPT */
            FZ_CHECK(!c->mail.has_size && !c->mail.body && !c->mail.ret && !c->mail.envid.len);
        else
            FZ_CHECK(!c->rcpt.notify && !c->rcpt.orcpt.len);
        if (c->rcpt.notify & SMTPCORE_NOTIFY_NEVER)
            FZ_CHECK(c->rcpt.notify == SMTPCORE_NOTIFY_NEVER);
        break;
    }
    case SC_VERB_AUTH:
        FZ_CHECK(c->mechanism.len > 0);
        break;
    default:
        break;
    }
}

static void check_err(const sc_reply_spec *e)
{
    FZ_CHECK(e->code == 500 || e->code == 501 || e->code == 502 || e->code == 504 ||
             e->code == 553 || e->code == 555);
    FZ_CHECK(e->text != NULL && strlen(e->text) < 200);
    FZ_CHECK(e->text[strcspn(e->text, "\r\n")] == '\0');
    FZ_CHECK(e->enhanced.cls == 0 || e->enhanced.cls == (uint16_t)(e->code / 100));
    FZ_CHECK(e->violation != SMTPCORE_V_NONE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    fz_src src;
    fz_init(&src, data, size);
    uint32_t drop = (uint32_t)fz_ctl(&src) | ((uint32_t)fz_ctl(&src) << 8);
    uint32_t ext = ALL_EXT & ~drop;

    /* A private copy sized exactly, so ASan sees any read past the line. */
    size_t len = src.n;
    char *line = malloc(len ? len : 1);
    FZ_CHECK(line != NULL);
    if (len)
        memcpy(line, src.p, len);

    sc_command c1, c2;
    sc_reply_spec e1, e2;
    memset(&c1, 0, sizeof c1);
    memset(&c2, 0, sizeof c2);
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    int r1 = sc_command_parse(line, len, ext, &c1, &e1);
    FZ_CHECK(r1 == 0 || r1 == -1);
    if (r1 == 0)
        check_ok(line, len, ext, &c1);
    else
        check_err(&e1);

    /* Deterministic, and independent of the output structs' previous contents. */
    memset(&c2, 0xA5, sizeof c2);
    int r2 = sc_command_parse(line, len, ext, &c2, &e2);
    FZ_CHECK(r1 == r2);
    if (r1 == 0)
        FZ_CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
    else
        FZ_CHECK(e1.code == e2.code && c1.verb == c2.verb);

    /* Verbs are case-insensitive: flipping the case of the verb changes nothing. */
    size_t vlen = 0;
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    int flipped = 0;
    for (size_t i = 0; i < vlen; i++) {
        unsigned char ch = (unsigned char)line[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            line[i] = (char)(ch ^ 0x20);
            flipped = 1;
        }
    }
    if (flipped) {
        sc_command c3;
        sc_reply_spec e3;
        memset(&c3, 0, sizeof c3);
        memset(&e3, 0, sizeof e3);
        int r3 = sc_command_parse(line, len, ext, &c3, &e3);
        FZ_CHECK(r3 == r1);
        FZ_CHECK(c3.verb == c1.verb);
        if (r1 != 0)
            FZ_CHECK(e3.code == e1.code);
    }

    /* A recognised verb's name looks itself up. */
    if (c1.verb != SC_VERB_UNKNOWN) {
        const char *name = sc_verb_name(c1.verb);
        FZ_CHECK(name != NULL && sc_verb_lookup(name, strlen(name)) == c1.verb);
    }
    free(line);
    return 0;
}
