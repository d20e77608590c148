/* Line framing: find the next LF with memchr, resume where the last call stopped, and
 * classify the bytes of the line once. See line.h for the policy. */
#include "line.h"
#include "scan.h"

#include <string.h>

/* Internal bit in flags_acc while discarding: the last discarded byte was a CR, so a
 * following LF completes a CRLF rather than a bare LF. Never reported to callers. */
#define SC_LINE_PRIV_CR (1u << 31)

/* Flags of a run of line content (the terminator excluded): any CR inside the content
 * is bare, because a CR followed by LF would have ended the line there. Word-at-a-time
 * so the common clean ASCII line costs little more than the memchr that found it. */
static uint32_t content_flags(const unsigned char *p, size_t n)
{
    uint32_t b = sc_scan_bytes(p, n);
    return ((b & SC_SCAN_NUL) ? SC_LINE_NUL : 0u) | ((b & SC_SCAN_CR) ? SC_LINE_BARE_CR : 0u) |
           ((b & SC_SCAN_8BIT) ? SC_LINE_8BIT : 0u);
}

void sc_line_init(sc_line_framer *f, size_t max_len)
{
    /* 0 means "no limit"; a limit below 2 could never hold even a CRLF. */
    if (max_len == 0)
        max_len = SIZE_MAX;
    else if (max_len < 2)
        max_len = 2;
    f->max_len = max_len;
    sc_line_reset(f);
}

void sc_line_reset(sc_line_framer *f)
{
    f->scanned = 0;
    f->flags_acc = 0;
    f->discarding = 0;
}

/* Discard mode: everything up to and including the next LF is thrown away. Flags are
 * still accumulated so the caller can say why it refused the line if it wants to. */
static sc_line_status discard(sc_line_framer *f, const unsigned char *buf, size_t len,
                              size_t *line_len, size_t *consumed, uint32_t *flags)
{
    *line_len = 0;
    if (len == 0) {
        *consumed = 0;
        return SC_LINE_NEED_MORE;
    }
    const unsigned char *lf = memchr(buf, '\n', len);
    size_t n = lf ? (size_t)(lf - buf) : len; /* content bytes in this chunk */
    int prev_cr = (f->flags_acc & SC_LINE_PRIV_CR) != 0;
    uint32_t acc = f->flags_acc & ~SC_LINE_PRIV_CR;
    /* A CR held over from the previous chunk is bare unless this chunk starts with LF. */
    if (prev_cr && n > 0)
        acc |= SC_LINE_BARE_CR;
    if (lf) {
        int crlf = n > 0 ? buf[n - 1] == '\r' : prev_cr;
        size_t body = (n > 0 && buf[n - 1] == '\r') ? n - 1 : n;
        acc |= content_flags(buf, body);
        if (!crlf)
            acc |= SC_LINE_BARE_LF;
        *consumed = n + 1;
        *flags = acc;
        f->discarding = 0;
        f->scanned = 0;
        f->flags_acc = 0;
        return SC_LINE_OVERLONG;
    }
    int last_cr = buf[len - 1] == '\r';
    acc |= content_flags(buf, last_cr ? len - 1 : len);
    f->flags_acc = acc | (last_cr ? SC_LINE_PRIV_CR : 0);
    *consumed = len;
    return SC_LINE_NEED_MORE;
}

sc_line_status sc_line_next(sc_line_framer *f, const char *cbuf, size_t len, size_t *line_len,
                            size_t *consumed, uint32_t *flags)
{
    const unsigned char *buf = (const unsigned char *)cbuf;
    *flags = 0;
    if (f->discarding)
        return discard(f, buf, len, line_len, consumed, flags);

    *line_len = 0;
    *consumed = 0;
    if (f->scanned > len) { /* the caller broke the contract; rescan from scratch */
        f->scanned = 0;
        f->flags_acc = 0;
    }
    size_t from = f->scanned;
    /* flags_acc covers buf[0, from - 1): the last scanned byte may be the CR of a CRLF
     * and is classified only once we know what follows it. */
    size_t flag_from = from > 0 ? from - 1 : 0;
    const unsigned char *lf = from < len ? memchr(buf + from, '\n', len - from) : NULL;
    if (!lf) {
        if (len >= f->max_len) {
            /* Never buffer more than max_len: drop what we have and skip to the next LF. */
            f->discarding = 1;
            f->flags_acc = f->flags_acc & ~SC_LINE_PRIV_CR;
            int last_cr = len > 0 && buf[len - 1] == '\r';
            if (len > 0)
                f->flags_acc |= content_flags(buf + flag_from, len - 1 - flag_from);
            if (last_cr)
                f->flags_acc |= SC_LINE_PRIV_CR;
            else if (len > 0 && buf[len - 1] == 0)
                f->flags_acc |= SC_LINE_NUL;
            else if (len > 0 && buf[len - 1] >= 0x80)
                f->flags_acc |= SC_LINE_8BIT;
            f->scanned = 0;
            *consumed = len;
            return SC_LINE_NEED_MORE;
        }
        if (len > from) {
            f->flags_acc |= content_flags(buf + flag_from, len - 1 - flag_from);
            f->scanned = len;
        }
        return SC_LINE_NEED_MORE;
    }

    size_t i = (size_t)(lf - buf);
    int crlf = i > 0 && buf[i - 1] == '\r';
    size_t content = crlf ? i - 1 : i;
    uint32_t acc = f->flags_acc;
    if (content > flag_from)
        acc |= content_flags(buf + flag_from, content - flag_from);
    if (!crlf)
        acc |= SC_LINE_BARE_LF;
    f->scanned = 0;
    f->flags_acc = 0;
    *consumed = i + 1;
    *flags = acc;
    if (i + 1 > f->max_len)
        return SC_LINE_OVERLONG;
    *line_len = content;
    return SC_LINE_COMPLETE;
}
