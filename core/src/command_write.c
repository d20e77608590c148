/* SPDX-License-Identifier: MIT */
/* Client-side command writing. Every append checks the remaining room first, so nothing is
 * ever written past cap and a too-small buffer yields (size_t)-1. */
#include <string.h>

#include "command.h"
#include "syntax.h"

typedef struct sc_wr {
    char *out;
    size_t cap;
    size_t len;
    int full;
} sc_wr;

static void put(sc_wr *w, const char *s, size_t n)
{
    if (w->full || n > w->cap - w->len) {
        w->full = 1;
        return;
    }
    if (n)
        memcpy(w->out + w->len, s, n);
    w->len += n;
}

static void puts_(sc_wr *w, const char *s) { put(w, s, strlen(s)); }

static void put_u64(sc_wr *w, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + (v % 10));
        v /= 10;
    } while (v);
    put(w, tmp + i, sizeof tmp - i);
}

static void put_xtext(sc_wr *w, const char *s, size_t n)
{
    if (w->full)
        return;
    size_t r = sc_xtext_encode(s, n, w->out + w->len, w->cap - w->len);
    if (r == (size_t)-1)
        w->full = 1;
    else
        w->len += r;
}

static size_t finish(sc_wr *w)
{
    put(w, "\r\n", 2);
    return w->full ? (size_t)-1 : w->len;
}

static void put_path(sc_wr *w, const char *addr, size_t n)
{
    put(w, "<", 1);
    put(w, addr, n);
    put(w, ">", 1);
}

size_t sc_command_write_mail(char *out, size_t cap, const char *from, size_t from_len,
                             const smtpcore_mail_params *p)
{
    sc_wr w = {out, cap, 0, 0};
    puts_(&w, "MAIL FROM:");
    put_path(&w, from, from_len);
    if (p) {
        if (p->has_size) {
            puts_(&w, " SIZE=");
            put_u64(&w, p->size);
        }
        switch (p->body) {
        case SMTPCORE_BODY_7BIT: puts_(&w, " BODY=7BIT"); break;
        case SMTPCORE_BODY_8BITMIME: puts_(&w, " BODY=8BITMIME"); break;
        case SMTPCORE_BODY_BINARYMIME: puts_(&w, " BODY=BINARYMIME"); break;
        case SMTPCORE_BODY_UNSPECIFIED: break;
        }
        if (p->smtputf8)
            puts_(&w, " SMTPUTF8");
        switch (p->ret) {
        case SMTPCORE_RET_FULL: puts_(&w, " RET=FULL"); break;
        case SMTPCORE_RET_HDRS: puts_(&w, " RET=HDRS"); break;
        case SMTPCORE_RET_UNSPECIFIED: break;
        }
        if (p->envid.len) {
            puts_(&w, " ENVID=");
            put_xtext(&w, p->envid.ptr, p->envid.len);
        }
        if (p->auth.len) {
            puts_(&w, " AUTH=");
            /* "<>" is the RFC 4954 5 "no identity" form and is sent as is. */
            if (p->auth.len == 2 && p->auth.ptr[0] == '<' && p->auth.ptr[1] == '>')
                put(&w, "<>", 2);
            else
                put_xtext(&w, p->auth.ptr, p->auth.len);
        }
    }
    return finish(&w);
}

size_t sc_command_write_rcpt(char *out, size_t cap, const char *to, size_t to_len,
                             const smtpcore_rcpt_params *p)
{
    sc_wr w = {out, cap, 0, 0};
    puts_(&w, "RCPT TO:");
    put_path(&w, to, to_len);
    if (p) {
        uint32_t nf = p->notify;
        if (nf & SMTPCORE_NOTIFY_NEVER) {
            puts_(&w, " NOTIFY=NEVER");
        } else if (nf) {
            const char *sep = " NOTIFY=";
            if (nf & SMTPCORE_NOTIFY_SUCCESS) {
                puts_(&w, sep);
                puts_(&w, "SUCCESS");
                sep = ",";
            }
            if (nf & SMTPCORE_NOTIFY_FAILURE) {
                puts_(&w, sep);
                puts_(&w, "FAILURE");
                sep = ",";
            }
            if (nf & SMTPCORE_NOTIFY_DELAY) {
                puts_(&w, sep);
                puts_(&w, "DELAY");
            }
        }
        if (p->orcpt.len) {
            /* "type;addr": the type is an atom sent as is, the address is xtext-encoded. */
            const char *semi = memchr(p->orcpt.ptr, ';', p->orcpt.len);
            puts_(&w, " ORCPT=");
            if (semi) {
                size_t tl = (size_t)(semi - p->orcpt.ptr);
                put(&w, p->orcpt.ptr, tl + 1);
                put_xtext(&w, semi + 1, p->orcpt.len - tl - 1);
            } else {
                put(&w, "rfc822;", 7);
                put_xtext(&w, p->orcpt.ptr, p->orcpt.len);
            }
        }
    }
    return finish(&w);
}

size_t sc_command_write_simple(char *out, size_t cap, sc_verb v, const char *arg, size_t arg_len)
{
    const char *name = sc_verb_name(v);
    if (!name)
        return (size_t)-1;
    sc_wr w = {out, cap, 0, 0};
    puts_(&w, name);
    if (arg && arg_len) {
        put(&w, " ", 1);
        put(&w, arg, arg_len);
    }
    return finish(&w);
}

size_t sc_command_write_bdat(char *out, size_t cap, uint64_t size, int last)
{
    sc_wr w = {out, cap, 0, 0};
    puts_(&w, "BDAT ");
    put_u64(&w, size);
    if (last)
        puts_(&w, " LAST");
    return finish(&w);
}
