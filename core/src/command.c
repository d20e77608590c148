/* SPDX-License-Identifier: MIT */
/* Server-side command parsing: verb lookup, argument checks, MAIL/RCPT paths and ESMTP
 * parameters. Zero-copy (every field is a slice of the line) and allocation-free. */
#include <string.h>

#include "command.h"
#include "sc_text.h"
#include "syntax.h"
#include "syntax_path.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { SC_ENVID_MAX = 100 };


/* Case-insensitive compare of s[0..n) with a lower-case literal. */
static int eq_ci(const char *s, const char *lit, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (sc_ascii_lower((unsigned char)s[i]) != (unsigned char)lit[i])
            return 0;
    return 1;
}

/* Verbs are all letters, so OR-ing 0x20 into every byte folds case exactly: only 'X' and
 * 'x' map to 'x'. Word compares replace a byte loop (the 7- and 8-letter verbs; the
 * four-letter ones are verb4()'s). */
static int verb_eq(const char *s, const char *lit, size_t n)
{
    if (n == 7) { /* XCLIENT: never read past the verb */
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, lit, 4);
        return (a | 0x20202020u) == b && (s[4] | 0x20) == lit[4] && (s[5] | 0x20) == lit[5] &&
               (s[6] | 0x20) == lit[6];
    }
    uint64_t a, b;
    memcpy(&a, s, 8);
    memcpy(&b, lit, 8);
    return (a | 0x2020202020202020u) == b;
}

/* "FROM:" / "TO:" in any case, by word compares (letters only, so OR 0x20 folds exactly;
 * the colon is compared as is). The caller has checked that 5 / 3 bytes are present. */
static int keyword_eq(const char *s, int from)
{
    if (from) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, "from", 4);
        return (a | 0x20202020u) == b && s[4] == ':';
    }
    uint16_t a, b;
    memcpy(&a, s, 2);
    memcpy(&b, "to", 2);
    return (uint16_t)(a | 0x2020u) == b && s[2] == ':';
}

/* The four-letter verbs by a perfect hash: the word (bytes in order, case folded by OR
 * 0x20, which maps any other byte that could match onto a letter only if it is that
 * letter's upper case) times a constant, its top four bits, picks the one slot its verb
 * can be in, and one compare decides. The constant was searched for so that the 16
 * verbs take the 16 slots (tests/test_command.c checks every case variant of every
 * verb, and a near miss of each). A switch on the first letter cost 10 instructions
 * before its compares. */
#define SC_V4W(a, b, c, d)                                                                  \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SC_V4_HASH(w) ((uint32_t)((w) * 0x79518aabu) >> 28)
typedef struct verb4_slot {
    uint32_t word;
    uint32_t verb;
} verb4_slot;
static const verb4_slot verb4_table[16] = {
    {SC_V4W('e', 't', 'r', 'n'), SC_VERB_ETRN}, {SC_V4W('h', 'e', 'l', 'o'), SC_VERB_HELO},
    {SC_V4W('q', 'u', 'i', 't'), SC_VERB_QUIT}, {SC_V4W('e', 'x', 'p', 'n'), SC_VERB_EXPN},
    {SC_V4W('v', 'r', 'f', 'y'), SC_VERB_VRFY}, {SC_V4W('b', 'd', 'a', 't'), SC_VERB_BDAT},
    {SC_V4W('n', 'o', 'o', 'p'), SC_VERB_NOOP}, {SC_V4W('t', 'u', 'r', 'n'), SC_VERB_TURN},
    {SC_V4W('a', 'u', 't', 'h'), SC_VERB_AUTH}, {SC_V4W('m', 'a', 'i', 'l'), SC_VERB_MAIL},
    {SC_V4W('e', 'h', 'l', 'o'), SC_VERB_EHLO}, {SC_V4W('r', 'c', 'p', 't'), SC_VERB_RCPT},
    {SC_V4W('h', 'e', 'l', 'p'), SC_VERB_HELP}, {SC_V4W('r', 's', 'e', 't'), SC_VERB_RSET},
    {SC_V4W('d', 'a', 't', 'a'), SC_VERB_DATA}, {SC_V4W('l', 'h', 'l', 'o'), SC_VERB_LHLO},
};

/* Inline: it is the first thing sc_command_parse() does with almost every line. */
static inline sc_verb verb4(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    uint32_t w = SC_V4W(u[0], u[1], u[2], u[3]) | 0x20202020u;
    const verb4_slot *e = &verb4_table[SC_V4_HASH(w)];
    return e->word == w ? (sc_verb)e->verb : SC_VERB_UNKNOWN;
}

/* The verb is found by its length (and first letter), so at most a few word compares
 * are made. */
sc_verb sc_verb_lookup(const char *s, size_t len)
{
    if (!s)
        return SC_VERB_UNKNOWN;
    sc_verb v = SC_VERB_UNKNOWN;
    const char *lit = NULL;
    if (len == 4) {
        return verb4(s);
    } else if (len == 8) {
        v = SC_VERB_STARTTLS;
        lit = "starttls";
    } else if (len == 7) {
        v = SC_VERB_XCLIENT;
        lit = "xclient";
    } else {
        return SC_VERB_UNKNOWN;
    }
    return verb_eq(s, lit, len) ? v : SC_VERB_UNKNOWN;
}

const char *sc_verb_name(sc_verb v)
{
    switch (v) {
    case SC_VERB_HELO: return "HELO";
    case SC_VERB_EHLO: return "EHLO";
    case SC_VERB_MAIL: return "MAIL";
    case SC_VERB_RCPT: return "RCPT";
    case SC_VERB_DATA: return "DATA";
    case SC_VERB_BDAT: return "BDAT";
    case SC_VERB_RSET: return "RSET";
    case SC_VERB_NOOP: return "NOOP";
    case SC_VERB_VRFY: return "VRFY";
    case SC_VERB_EXPN: return "EXPN";
    case SC_VERB_HELP: return "HELP";
    case SC_VERB_QUIT: return "QUIT";
    case SC_VERB_STARTTLS: return "STARTTLS";
    case SC_VERB_AUTH: return "AUTH";
    case SC_VERB_TURN: return "TURN";
    case SC_VERB_ETRN: return "ETRN";
    case SC_VERB_LHLO: return "LHLO";
    case SC_VERB_XCLIENT: return "XCLIENT";
    case SC_VERB_UNKNOWN:
    case SC_VERB_COUNT:
        break;
    }
    return NULL;
}

int sc_command_check_arg(const char *s, size_t len)
{
    if (!s)
        return len ? -1 : 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
            return -1;
    return 0;
}

/* ---- error replies -------------------------------------------------------------------- */

static int fail(sc_reply_spec *err, int code, uint16_t sub, uint16_t det, const char *text,
                smtpcore_violation v)
{
    err->code = code;
    err->enhanced.cls = (uint16_t)(code / 100);
    err->enhanced.subject = sub;
    err->enhanced.detail = det;
    err->text = text;
    err->violation = v;
    return -1;
}

#define FAIL_UNKNOWN(e) fail(e, 500, 5, 1, "Command unrecognized", SMTPCORE_V_UNKNOWN_COMMAND)
#define FAIL_SYNTAX(e, t) fail(e, 501, 5, 2, t, SMTPCORE_V_SYNTAX)
#define FAIL_PARAM(e, t) fail(e, 501, 5, 4, t, SMTPCORE_V_BAD_PARAMETER)
#define FAIL_NOPARAM(e, t) fail(e, 555, 5, 4, t, SMTPCORE_V_UNKNOWN_PARAMETER)

/* ---- ESMTP parameters ----------------------------------------------------------------- */

enum {
    P_SIZE = 1u << 0, P_BODY = 1u << 1, P_SMTPUTF8 = 1u << 2, P_RET = 1u << 3,
    P_ENVID = 1u << 4, P_AUTH = 1u << 5, P_NOTIFY = 1u << 6, P_ORCPT = 1u << 7
};

/* Digits only; values beyond uint64 saturate so a size check refuses them (552). */
static int parse_u64_sat(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < '0' || c > '9')
            return 0;
        unsigned d = (unsigned)(c - '0');
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* RFC 3461 4.1: NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ). */
static int parse_notify(const char *s, size_t n, uint32_t *out)
{
    uint32_t f = 0;
    size_t i = 0;
    if (n == 5 && eq_ci(s, "never", 5)) {
        *out = SMTPCORE_NOTIFY_NEVER;
        return 1;
    }
    while (i < n) {
        size_t st = i;
        while (i < n && s[i] != ',')
            i++;
        size_t l = i - st;
        uint32_t bit;
        if (l == 7 && eq_ci(s + st, "success", 7))
            bit = SMTPCORE_NOTIFY_SUCCESS;
        else if (l == 7 && eq_ci(s + st, "failure", 7))
            bit = SMTPCORE_NOTIFY_FAILURE;
        else if (l == 5 && eq_ci(s + st, "delay", 5))
            bit = SMTPCORE_NOTIFY_DELAY;
        else
            return 0; /* includes NEVER in a list and empty items */
        if (f & bit)
            return 0;
        f |= bit;
        if (i < n && ++i == n)
            return 0; /* trailing comma */
    }
    if (!f)
        return 0;
    *out = f;
    return 1;
}

/* ORCPT = addr-type ";" xtext, addr-type an atom (RFC 3461 4.2). */
static int orcpt_valid(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && s[i] != ';') {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c))))
            return 0;
        i++;
    }
    /* xtext is *( xchar / hexchar ): the address part may be empty. */
    if (i == 0 || i >= n)
        return 0;
    return sc_xtext_valid(s + i + 1, n - i - 1);
}

static int parse_params(const char *s, size_t n, int is_mail, uint32_t ext, sc_command *cmd,
                        sc_reply_spec *err)
{
    uint32_t seen = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && s[i] == ' ')
            i++;
        if (i >= n)
            return 0;
        size_t ks = i;
        while (i < n && s[i] != ' ' && s[i] != '=')
            i++;
        const char *k = s + ks;
        size_t kl = i - ks;
        const char *val = NULL;
        size_t vl = 0;
        if (i < n && s[i] == '=') {
            val = s + ++i;
            while (i < n && s[i] != ' ')
                i++;
            vl = (size_t)(s + i - val);
        }
        /* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"); value = 1*(%d33-60 / %d62-126) */
        if (kl == 0)
            return FAIL_PARAM(err, "Malformed parameter");
        for (size_t j = 0; j < kl; j++) {
            unsigned char c = (unsigned char)k[j];
            int ad = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
            if (!ad && (j == 0 || c != '-'))
                return FAIL_PARAM(err, "Malformed parameter");
        }
        if (val) {
            if (vl == 0)
                return FAIL_PARAM(err, "Malformed parameter value");
            for (size_t j = 0; j < vl; j++) {
                unsigned char c = (unsigned char)val[j];
                if (c < 33 || c > 126 || c == '=')
                    return FAIL_PARAM(err, "Malformed parameter value");
            }
        }
        uint32_t bit;
        uint32_t need;
        if (is_mail && kl == 4 && eq_ci(k, "size", 4)) {
            bit = P_SIZE;
            need = SMTPCORE_EXT_SIZE;
        } else if (is_mail && kl == 4 && eq_ci(k, "body", 4)) {
            bit = P_BODY;
            need = 0; /* depends on the value, checked below */
        } else if (is_mail && kl == 8 && eq_ci(k, "smtputf8", 8)) {
            bit = P_SMTPUTF8;
            need = SMTPCORE_EXT_SMTPUTF8;
        } else if (is_mail && kl == 3 && eq_ci(k, "ret", 3)) {
            bit = P_RET;
            need = SMTPCORE_EXT_DSN;
        } else if (is_mail && kl == 5 && eq_ci(k, "envid", 5)) {
            bit = P_ENVID;
            need = SMTPCORE_EXT_DSN;
        } else if (is_mail && kl == 4 && eq_ci(k, "auth", 4)) {
            bit = P_AUTH;
            need = SMTPCORE_EXT_AUTH;
        } else if (!is_mail && kl == 6 && eq_ci(k, "notify", 6)) {
            bit = P_NOTIFY;
            need = SMTPCORE_EXT_DSN;
        } else if (!is_mail && kl == 5 && eq_ci(k, "orcpt", 5)) {
            bit = P_ORCPT;
            need = SMTPCORE_EXT_DSN;
        } else {
            return FAIL_NOPARAM(err, "Parameter not recognized");
        }
        if (need && !(ext & need))
            return FAIL_NOPARAM(err, "Parameter not supported");
        if (seen & bit)
            return FAIL_PARAM(err, "Duplicate parameter");
        seen |= bit;
        if (bit == P_SMTPUTF8) {
            if (val)
                return FAIL_PARAM(err, "SMTPUTF8 takes no value");
            cmd->mail.smtputf8 = 1;
            continue;
        }
        if (!val)
            return FAIL_PARAM(err, "Parameter needs a value");
        switch (bit) {
        case P_SIZE:
            if (!parse_u64_sat(val, vl, &cmd->mail.size))
                return FAIL_PARAM(err, "Invalid SIZE value");
            cmd->mail.has_size = 1;
            break;
        case P_BODY:
            if (vl == 4 && eq_ci(val, "7bit", 4)) {
                cmd->mail.body = SMTPCORE_BODY_7BIT;
                need = SMTPCORE_EXT_8BITMIME | SMTPCORE_EXT_BINARYMIME;
            } else if (vl == 8 && eq_ci(val, "8bitmime", 8)) {
                cmd->mail.body = SMTPCORE_BODY_8BITMIME;
                need = SMTPCORE_EXT_8BITMIME;
            } else if (vl == 10 && eq_ci(val, "binarymime", 10)) {
                cmd->mail.body = SMTPCORE_BODY_BINARYMIME;
                need = SMTPCORE_EXT_BINARYMIME;
            } else {
                return FAIL_PARAM(err, "Invalid BODY value");
            }
            if (!(ext & need))
                return FAIL_NOPARAM(err, "BODY type not supported");
            break;
        case P_RET:
            if (vl == 4 && eq_ci(val, "full", 4))
                cmd->mail.ret = SMTPCORE_RET_FULL;
            else if (vl == 4 && eq_ci(val, "hdrs", 4))
                cmd->mail.ret = SMTPCORE_RET_HDRS;
            else
                return FAIL_PARAM(err, "Invalid RET value");
            break;
        case P_ENVID:
            if (vl > SC_ENVID_MAX || !sc_xtext_valid(val, vl))
                return FAIL_PARAM(err, "Invalid ENVID value");
            cmd->mail.envid.ptr = val;
            cmd->mail.envid.len = vl;
            break;
        case P_AUTH:
            if (!(vl == 2 && val[0] == '<' && val[1] == '>') && !sc_xtext_valid(val, vl))
                return FAIL_PARAM(err, "Invalid AUTH value");
            cmd->mail.auth.ptr = val;
            cmd->mail.auth.len = vl;
            break;
        case P_NOTIFY:
            if (!parse_notify(val, vl, &cmd->rcpt.notify))
                return FAIL_PARAM(err, "Invalid NOTIFY value");
            break;
        default: /* P_ORCPT */
            if (!orcpt_valid(val, vl))
                return FAIL_PARAM(err, "Invalid ORCPT value");
            cmd->rcpt.orcpt.ptr = val;
            cmd->rcpt.orcpt.len = vl;
            break;
        }
    }
}

/* ---- MAIL / RCPT ---------------------------------------------------------------------- */

/* Inlined at its two calls, each with a constant is_mail (the hot path of the parser). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static inline int parse_mail_rcpt(const char *a, size_t n, size_t before, int is_mail,
                                  uint32_t ext, sc_command *cmd, sc_reply_spec *err)
{
    size_t kwl = is_mail ? 5 : 3;
    if (n < kwl || !keyword_eq(a, is_mail))
        return FAIL_SYNTAX(err, is_mail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
    size_t i = kwl;
    while (i < n && a[i] == ' ') /* liberal: "MAIL FROM: <a@b>" */
        i++;
    int addr_sub = is_mail ? 7 : 3;
    const char *badaddr = is_mail ? "Bad sender address syntax" : "Bad recipient address syntax";
    if (i >= n || a[i] != '<')
        return fail(err, 501, 1, (uint16_t)addr_sub, badaddr, SMTPCORE_V_SYNTAX);
    const char *mb = NULL;
    size_t mbl = 0;
    int utf8 = 0;
    /* The usual "<local@domain>" inline (syntax_path.h); every other shape, and what
     * the fast path leaves undecided, goes to the general parser, which gives the
     * same answer for the usual one. */
    size_t pl = 0;
    if (n - i >= 2 && a[i + 1] != '>' && a[i + 1] != '@') {
        pl = sc_path_fast(a + i, n - i, before + i, 1, SC_SYN_UTF8, &utf8);
        if (pl) {
            mb = a + i + 1;
            mbl = pl - 2;
        }
    }
    if (pl == 0)
        pl = sc_path_parse_at(a + i, n - i, before + i, is_mail, SC_SYN_UTF8, &mb, &mbl, &utf8);
    if (pl == 0 && !is_mail && n - i >= 12 && a[i + 11] == '>' && eq_ci(a + i + 1, "postmaster", 10)) {
        /* RFC 5321 4.1.1.3: "<Postmaster>" without a domain. */
        pl = 12;
        mb = a + i + 1;
        mbl = 10;
    }
    if (pl == 0)
        return fail(err, 501, 1, (uint16_t)addr_sub, badaddr, SMTPCORE_V_SYNTAX);
    cmd->mailbox.ptr = mb;
    cmd->mailbox.len = mbl;
    cmd->mailbox_utf8 = utf8;
    i += pl;
    if (i < n && a[i] != ' ')
        return fail(err, 501, 1, (uint16_t)addr_sub, badaddr, SMTPCORE_V_SYNTAX);
    if (i < n && parse_params(a + i, n - i, is_mail, ext, cmd, err) != 0)
        return -1; /* (no call when nothing follows the path: the common case) */
    /* RFC 6531 3.4: a UTF-8 address needs SMTPUTF8 on MAIL. RCPT can only be checked
     * against what was advertised; the transaction check is the server's. */
    if (utf8 && (is_mail ? !cmd->mail.smtputf8 : !(ext & SMTPCORE_EXT_SMTPUTF8)))
        return fail(err, 553, 6, 7, "Non-ASCII address requires SMTPUTF8", SMTPCORE_V_8BIT);
    return 0;
}

/* ---- other verbs ---------------------------------------------------------------------- */

static int parse_bdat(const char *a, size_t n, sc_command *cmd, sc_reply_spec *err)
{
    size_t i = 0;
    while (i < n && a[i] != ' ')
        i++;
    uint64_t v;
    if (!parse_u64_sat(a, i, &v) || v == UINT64_MAX)
        return FAIL_PARAM(err, "Syntax: BDAT <size> [LAST]");
    /* A saturated value means overflow; UINT64_MAX itself is refused with it. */
    cmd->chunk_size = v;
    while (i < n && a[i] == ' ')
        i++;
    if (i == n)
        return 0;
    if (n - i == 4 && eq_ci(a + i, "last", 4)) {
        cmd->last = 1;
        return 0;
    }
    return FAIL_PARAM(err, "Syntax: BDAT <size> [LAST]");
}

/* RFC 4422 3.1 sasl-mech; initial response is base64 or "=" (RFC 4954 4). */
static int parse_auth(const char *a, size_t n, sc_command *cmd, sc_reply_spec *err)
{
    size_t i = 0;
    while (i < n && a[i] != ' ')
        i++;
    if (!sc_sasl_mech_valid(a, i))
        return FAIL_SYNTAX(err, "Invalid SASL mechanism name");
    cmd->mechanism.ptr = a;
    cmd->mechanism.len = i;
    while (i < n && a[i] == ' ')
        i++;
    if (i == n)
        return 0;
    const char *r = a + i;
    size_t rl = n - i;
    if (!(rl == 1 && r[0] == '=')) {
        if (rl % 4 != 0)
            return FAIL_SYNTAX(err, "Invalid initial response");
        for (size_t j = 0; j < rl; j++) {
            unsigned char c = (unsigned char)r[j];
            int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/' || (c == '=' && j >= rl - 2 && (j == rl - 1 || r[rl - 1] == '='));
            if (!ok)
                return FAIL_SYNTAX(err, "Invalid initial response");
        }
    }
    cmd->initial_response.ptr = r;
    cmd->initial_response.len = rl;
    return 0;
}

static int parse_helo(const char *a, size_t n, sc_command *cmd, sc_reply_spec *err)
{
    cmd->domain.ptr = a;
    cmd->domain.len = n;
    cmd->helo_class = SMTPCORE_HELO_INVALID;
    if (n == 0)
        return FAIL_SYNTAX(err, "HELO/EHLO requires a domain or address literal");
    if (memchr(a, ' ', n))
        return FAIL_SYNTAX(err, "Invalid domain name");
    cmd->helo_class = smtpcore_helo_classify(a, n);
    if (cmd->helo_class == SMTPCORE_HELO_INVALID)
        return FAIL_SYNTAX(err, "Invalid domain name");
    return 0;
}

/* Clears the result: every field starts at zero, so a result never depends on what the
 * caller's struct held. A memset of this size is compiled to `rep stos`, which cost 34
 * instructions per command (a sixth of the parser) and has a start-up latency; 16-byte
 * stores take 14. The empty asm keeps the loop from becoming a memset again. */
static inline void clear_command(sc_command *cmd)
{
#if defined(__SSE2__) && defined(__GNUC__)
    unsigned char *p = (unsigned char *)cmd;
    const __m128i z = _mm_setzero_si128();
    size_t i = 0;
    for (; i + 16 <= sizeof *cmd; i += 16) {
        _mm_storeu_si128((__m128i *)(void *)(p + i), z);
        __asm__ volatile("" : : : "memory");
    }
    if (i < sizeof *cmd)
        memset(p + i, 0, sizeof *cmd - i);
#else
    memset(cmd, 0, sizeof *cmd);
#endif
}

int sc_command_parse(const char *line, size_t len, uint32_t allowed_ext, sc_command *cmd,
                     sc_reply_spec *err)
{
    clear_command(cmd);
    cmd->mail.struct_size = sizeof cmd->mail;
    memset(err, 0, sizeof *err);
    if (!line)
        len = 0;
    /* Nearly every verb has four letters: try that length first. A space inside the
     * first four bytes cannot matter: no verb matches a word holding one, so the result
     * is "unknown command" whichever length is tried. */
    size_t vl = 4;
    if (len < 4 || (len > 4 && line[4] != ' ')) {
        vl = 0;
        while (vl < len && line[vl] != ' ')
            vl++;
    }
    cmd->verb = vl == 4 ? verb4(line) : sc_verb_lookup(line, vl);
    if (cmd->verb == SC_VERB_UNKNOWN)
        return FAIL_UNKNOWN(err);
    size_t i = vl;
    while (i < len && line[i] == ' ')
        i++;
    size_t end = len;
    while (end > i && line[end - 1] == ' ')
        end--;
    const char *a = line + i;
    size_t n = end - i;
    cmd->arg.ptr = n ? a : NULL;
    cmd->arg.len = n;

    switch (cmd->verb) {
    case SC_VERB_HELO:
    case SC_VERB_EHLO:
    case SC_VERB_LHLO:
        return parse_helo(a, n, cmd, err);
    case SC_VERB_MAIL:
        return parse_mail_rcpt(a, n, i, 1, allowed_ext, cmd, err);
    case SC_VERB_RCPT:
        return parse_mail_rcpt(a, n, i, 0, allowed_ext, cmd, err);
    case SC_VERB_DATA:
    case SC_VERB_RSET:
    case SC_VERB_QUIT:
    case SC_VERB_STARTTLS:
    case SC_VERB_TURN:
        if (n)
            return FAIL_PARAM(err, "No parameters allowed");
        return 0;
    case SC_VERB_VRFY:
    case SC_VERB_EXPN:
    case SC_VERB_ETRN:
    case SC_VERB_XCLIENT: /* attributes: server_xclient.c */
        if (!n)
            return FAIL_SYNTAX(err, "Argument required");
        return 0;
    case SC_VERB_NOOP:
    case SC_VERB_HELP:
        return 0;
    case SC_VERB_BDAT:
        return parse_bdat(a, n, cmd, err);
    case SC_VERB_AUTH:
        return parse_auth(a, n, cmd, err);
    case SC_VERB_UNKNOWN:
    case SC_VERB_COUNT:
        break;
    }
    return FAIL_UNKNOWN(err);
}
