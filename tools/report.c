/* SPDX-License-Identifier: MIT */
/* Reply formatting and --version for the tools. */
#include "report.h"

#include <stdio.h>
#include <string.h>

void tool_reply_format(const smtpcore_reply *r, char *out, size_t cap)
{
    if (cap == 0)
        return;
    out[0] = '\0';
    if (r == NULL || r->code == 0 || r->raw.ptr == NULL || cap < 8)
        return;
    char text[2048];
    size_t tl = smtpcore_reply_text(r, text, sizeof text);
    if (tl >= sizeof text)
        tl = sizeof text - 1;
    int n = snprintf(out, cap, "%d", r->code);
    size_t o = n > 0 ? (size_t)n : 0;
    /* Each line's text, trimmed, lines joined by " / "; an empty line adds nothing. */
    size_t at = 0;
    int first = 1;
    while (at <= tl && o + 1 < cap) {
        const char *nl = memchr(text + at, '\n', tl - at);
        size_t end = nl ? (size_t)(nl - text) : tl;
        size_t b = at, e = end;
        while (b < e && text[b] == ' ')
            b++;
        while (e > b && text[e - 1] == ' ')
            e--;
        if (e > b) {
            const char *sep = first ? " " : " / ";
            for (const char *s = sep; *s && o + 1 < cap; s++)
                out[o++] = *s;
            for (size_t i = b; i < e && o + 1 < cap; i++) {
                unsigned char ch = (unsigned char)text[i];
                out[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
            }
            first = 0;
        }
        if (!nl)
            break;
        at = end + 1;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

void tool_print_version(const char *tool)
{
    printf("%s %s (libsmtpcore %s)\n", tool, SMTPCORE_VERSION, smtpcore_version());
}
