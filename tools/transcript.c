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

void tool_transcript_feed(tool_transcript *t, const char *data, size_t len)
{
    if (t->out == NULL)
        return;
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
