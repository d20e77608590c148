/* SPDX-License-Identifier: MIT */
/* -v transcript printing. Non-printable bytes are escaped so a transcript is always
 * readable text, and a bare LF or CR stays visible as "\n" / "\r" (the smuggling cases
 * need it). */
#include "transcript.h"

static void begin_line(tool_transcript *t)
{
    if (!t->mid_line) {
        fputs(t->prefix, t->out);
        t->mid_line = 1;
    }
}

static void feed_raw(tool_transcript *t, const char *data, size_t len);

static int starts_auth(const char *s, size_t n)
{
    static const char verb[] = "AUTH ";
    if (n < sizeof verb - 1)
        return 0;
    for (size_t i = 0; i < sizeof verb - 1; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 32);
        if (c != verb[i])
            return 0;
    }
    return 1;
}

/* Prints what may be shown of the start of a line that carries credentials: "AUTH MECH"
 * (the mechanism is not secret) then "[hidden]" for an initial response; any other
 * line of the exchange is "[hidden]" except the "*" that cancels it. */
static void hidden_start(tool_transcript *t, const char *s, size_t body)
{
    if (starts_auth(s, body)) {
        size_t m = 5;
        while (m < body && s[m] != ' ')
            m++;
        feed_raw(t, s, m);
        if (m < body)
            feed_raw(t, " [hidden]", 9);
        t->in_auth = 1;
    } else if (body == 1 && s[0] == '*') {
        feed_raw(t, s, 1);
    } else {
        feed_raw(t, "[hidden]", 8);
    }
}

/* A whole held line (terminator included) while credentials are hidden. */
static void held_line(tool_transcript *t, const char *s, size_t n)
{
    size_t body = n;
    while (body > 0 && (s[body - 1] == '\n' || s[body - 1] == '\r'))
        body--;
    if (t->in_auth || starts_auth(s, body))
        hidden_start(t, s, body);
    else
        feed_raw(t, s, body);
    feed_raw(t, s + body, n - body);
}

void tool_transcript_feed(tool_transcript *t, const char *data, size_t len)
{
    if (t->out == NULL)
        return;
    if (!t->hide_auth) {
        feed_raw(t, data, len);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (t->passthru) {
            /* 1: a long ordinary line printed as it comes; 2: the rest of a long hidden
             * line, of which only the terminator shows. */
            if (t->passthru == 1 || c == '\r' || c == '\n')
                feed_raw(t, &c, 1);
            if (c == '\n')
                t->passthru = 0;
            continue;
        }
        t->held[t->held_len++] = c;
        if (c == '\n') {
            held_line(t, t->held, t->held_len);
            t->held_len = 0;
        } else if (t->held_len == sizeof t->held) {
            if (t->in_auth || starts_auth(t->held, t->held_len)) {
                hidden_start(t, t->held, t->held_len);
                t->passthru = 2;
            } else {
                feed_raw(t, t->held, t->held_len);
                t->passthru = 1;
            }
            t->held_len = 0;
        }
    }
}

void tool_transcript_auth_done(tool_transcript *t)
{
    if (t->held_len > 0)
        feed_raw(t, t->held, t->held_len);
    t->held_len = 0;
    t->hide_auth = t->in_auth = t->passthru = 0;
}

static void feed_raw(tool_transcript *t, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (t->pending_cr) {
            t->pending_cr = 0;
            if (c == '\n') {
                fputc('\n', t->out);
                t->mid_line = 0;
                continue;
            }
            fputs("\\r", t->out);
        }
        begin_line(t);
        if (c == '\r') {
            t->pending_cr = 1; /* the LF may come in the next read */
        } else if (c == '\n') {
            fputs("\\n\n", t->out);
            t->mid_line = 0;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(t->out, "\\x%02x", c);
        } else {
            fputc(c, t->out);
        }
    }
    fflush(t->out);
}

void tool_transcript_note(tool_transcript *t, const char *note)
{
    if (t->out == NULL)
        return;
    if (t->pending_cr)
        fputs("\\r", t->out);
    t->pending_cr = 0;
    if (t->mid_line)
        fputc('\n', t->out);
    t->mid_line = 0;
    fprintf(t->out, "   (%s)\n", note);
    fflush(t->out);
}
