/* SPDX-License-Identifier: MIT */
/* Reply parsing (client) and writing (server), plus default enhanced status codes. */
#include "reply.h"

#include <string.h>

#include "line.h"
#include "sc_text.h"

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets including the code and CRLF. */
#define SC_REPLY_MAX_LINE 512

static int is_digit(char c) { return c >= '0' && c <= '9'; }

void sc_reply_parser_init(sc_reply_parser *p) { memset(p, 0, sizeof *p); }

/* Reads 1-3 digits; returns how many were used (0 when none or more than 3). */
static size_t read_subcode(const char *s, size_t len, uint16_t *out)
{
    size_t i = 0;
    unsigned v = 0;
    while (i < len && is_digit(s[i])) {
        if (i == 3)
            return 0;
        v = v * 10u + (unsigned)(s[i] - '0');
        i++;
    }
    if (i == 0)
        return 0;
    *out = (uint16_t)v;
    return i;
}

size_t sc_enhanced_parse(const char *s, size_t len, smtpcore_enhanced *out)
{
    smtpcore_enhanced e = {0, 0, 0};
    if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    e.cls = (uint16_t)(s[0] - '0');
    size_t i = 2;
    size_t n = read_subcode(s + i, len - i, &e.subject);
    if (n == 0)
        return 0;
    i += n;
    if (i >= len || s[i] != '.')
        return 0;
    i++;
    n = read_subcode(s + i, len - i, &e.detail);
    if (n == 0)
        return 0;
    i += n;
    /* "2.0.0x" or "2.0.0.1" is text that merely starts like a code. */
    if (i < len && s[i] != ' ')
        return 0;
    *out = e;
    return i;
}

sc_reply_status sc_reply_parser_feed(sc_reply_parser *p, const char *line, size_t len,
                                     size_t line_total_len, uint32_t line_flags)
{
    if (line_flags & SC_LINE_BARE_LF)
        p->flags |= SMTPCORE_REPLY_BARE_LF;
    if (line_flags & (SC_LINE_NUL | SC_LINE_BARE_CR))
        p->flags |= SMTPCORE_REPLY_BAD_BYTES;
    if (line_total_len > SC_REPLY_MAX_LINE)
        p->flags |= SMTPCORE_REPLY_LONG_LINE;

    if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
        return SC_REPLY_INVALID;
    int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    /* RFC 5321 4.2: first digit 2-5 (1yz is never used by SMTP), second digit 0-5. */
    if (line[0] < '2' || line[0] > '5' || line[1] > '5')
        p->flags |= SMTPCORE_REPLY_BAD_CODE;

    int last = 1;
    size_t text_at = 3;
    if (len > 3) {
        if (line[3] == '-')
            last = 0;
        else if (line[3] != ' ')
            p->flags |= SMTPCORE_REPLY_BAD_SEPARATOR; /* e.g. "2500" or "250\t": treated as last */
        text_at = 4;
    }

    if (p->nlines == 0) {
        p->code = code;
        smtpcore_enhanced e;
        /* RFC 2034: the class must match the reply's first digit; a mismatching "code"
         * is ordinary text (trusting it could turn a 4xx into a permanent failure). */
        if (text_at < len && sc_enhanced_parse(line + text_at, len - text_at, &e) &&
            e.cls == (uint16_t)(code / 100))
            p->enhanced = e;
    } else if (code != p->code) {
        p->flags |= SMTPCORE_REPLY_MIXED_CODES;
    }
    p->nlines++;
    if (!last)
        return SC_REPLY_CONTINUE;
    /* The finished reply carries the last line's code (RFC 5321 4.2.1 tells clients to
     * act on it); while continuing, code holds the first line's code for comparison. */
    p->code = code;
    return SC_REPLY_DONE;
}

size_t sc_reply_write(char *out, size_t cap, int code, const smtpcore_enhanced *enhanced,
                      const char *text, size_t text_len)
{
    if (code < 100 || code > 999 || (text_len > 0 && !text))
        return (size_t)-1;
    /* Injection guard: a CR or NUL from the host could forge extra reply lines. */
    if (text_len > 0 && (memchr(text, '\r', text_len) || memchr(text, '\0', text_len)))
        return (size_t)-1;
    char esc[SC_REPLY_ENH_ROOM];
    size_t esc_len = 0;
    if (enhanced && enhanced->cls != 0) {
        if (enhanced->cls > 9 || enhanced->subject > 999 || enhanced->detail > 999)
            return (size_t)-1;
        esc_len += sc_dec_u64(esc + esc_len, enhanced->cls);
        esc[esc_len++] = '.';
        esc_len += sc_dec_u64(esc + esc_len, enhanced->subject);
        esc[esc_len++] = '.';
        esc_len += sc_dec_u64(esc + esc_len, enhanced->detail);
    }
    /* A single trailing '\n' ends the last line rather than starting an empty one. */
    if (text_len > 0 && text[text_len - 1] == '\n')
        text_len--;

    char head[4] = {(char)('0' + code / 100), (char)('0' + code / 10 % 10),
                    (char)('0' + code % 10), ' '};
    sc_wr w = sc_wr_init(out, cap);
    size_t at = 0;
    for (;;) {
        const char *nl = text_len > at ? memchr(text + at, '\n', text_len - at) : NULL;
        size_t end = nl ? (size_t)(nl - text) : text_len;
        size_t n = end - at;
        int last = nl == NULL;
        head[3] = last ? ' ' : '-';
        /* "250\r\n" / "250-\r\n" for an empty line without a code: no trailing space. */
        size_t head_len = (n == 0 && esc_len == 0) ? (last ? 3 : 4) : 4;
        sc_wr_put(&w, head, head_len);
        if (esc_len > 0) {
            sc_wr_put(&w, esc, esc_len);
            if (n > 0)
                sc_wr_put(&w, " ", 1);
        }
        if (n > 0)
            sc_wr_put(&w, text + at, n);
        sc_wr_put(&w, "\r\n", 2);
        if (last || w.full)
            return sc_wr_len(&w);
        at = end + 1;
    }
}

static smtpcore_enhanced esc3(unsigned c, unsigned s, unsigned d)
{
    smtpcore_enhanced e = {(uint16_t)c, (uint16_t)s, (uint16_t)d};
    return e;
}

/* Defaults follow the code's meaning in RFC 5321 and the code associations listed in
 * RFC 3463 / RFC 5248 (and RFC 4954 for AUTH). Where one reply code covers several
 * causes (550, 554) the undefined detail x.0.0 is used rather than a guess: hosts that
 * know the cause should pass a precise code. */
smtpcore_enhanced sc_enhanced_default(int code)
{
    switch (code) {
    case 235: return esc3(2, 7, 0);  /* RFC 4954: authentication succeeded */
    case 251: return esc3(2, 1, 5);  /* destination address valid (forwarded) */
    case 421: return esc3(4, 3, 0);  /* service unavailable: mail system status */
    case 450: return esc3(4, 2, 0);  /* mailbox unavailable */
    case 451: return esc3(4, 3, 0);  /* local error in processing */
    case 452: return esc3(4, 3, 1);  /* insufficient system storage */
    case 454: return esc3(4, 7, 0);  /* RFC 4954 / 3207: temporary auth or TLS failure */
    case 455: return esc3(4, 5, 4);  /* parameters cannot be accommodated */
    case 500: return esc3(5, 5, 2);  /* syntax error, command unrecognised */
    case 501: return esc3(5, 5, 4);  /* invalid command arguments */
    case 502: return esc3(5, 5, 1);  /* command not implemented */
    case 503: return esc3(5, 5, 1);  /* bad sequence of commands */
    case 504: return esc3(5, 5, 4);  /* parameter not implemented */
    case 521: return esc3(5, 3, 2);  /* RFC 7504: host does not accept mail */
    case 530: return esc3(5, 7, 0);  /* RFC 4954: authentication required */
    case 534: return esc3(5, 7, 9);  /* RFC 4954: mechanism too weak */
    case 535: return esc3(5, 7, 8);  /* RFC 4954: credentials invalid */
    case 538: return esc3(5, 7, 11); /* RFC 4954: encryption required */
    case 551: return esc3(5, 1, 6);  /* user not local: mailbox moved */
    case 552: return esc3(5, 2, 2);  /* exceeded storage allocation */
    case 553: return esc3(5, 1, 3);  /* mailbox name not allowed (syntax) */
    case 555: return esc3(5, 5, 4);  /* RFC 1869: parameters not recognised */
    case 556: return esc3(5, 1, 10); /* RFC 7505: domain does not accept mail */
    default: break;
    }
    /* 3xx (intermediate) replies never carry an enhanced code (RFC 2034). */
    if (code >= 200 && code < 300)
        return esc3(2, 0, 0);
    if (code >= 400 && code < 500)
        return esc3(4, 0, 0);
    if (code >= 500 && code < 600)
        return esc3(5, 0, 0);
    return esc3(0, 0, 0);
}
