/* SPDX-License-Identifier: MIT */
/* Client-side command writing. Every append checks the remaining room first, so nothing is
 * ever written past cap and a too-small buffer yields (size_t)-1. */
#include <string.h>

#include "command.h"
#include "sc_text.h"
#include "syntax.h"

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
    sc_wr_put(w, "\r\n", 2);
    return sc_wr_len(w);
}

static void put_path(sc_wr *w, const char *addr, size_t n)
{
    sc_wr_put(w, "<", 1);
    sc_wr_put(w, addr, n);
    sc_wr_put(w, ">", 1);
}

size_t sc_command_write_mail(char *out, size_t cap, const char *from, size_t from_len,
                             const smtpcore_mail_params *p)
{
    sc_wr w = sc_wr_init(out, cap);
    sc_wr_puts(&w, "MAIL FROM:");
    put_path(&w, from, from_len);
    if (p) {
        if (p->has_size) {
            sc_wr_puts(&w, " SIZE=");
            sc_wr_u64(&w, p->size);
        }
        switch (p->body) {
        case SMTPCORE_BODY_7BIT: sc_wr_puts(&w, " BODY=7BIT"); break;
        case SMTPCORE_BODY_8BITMIME: sc_wr_puts(&w, " BODY=8BITMIME"); break;
        case SMTPCORE_BODY_BINARYMIME: sc_wr_puts(&w, " BODY=BINARYMIME"); break;
        case SMTPCORE_BODY_UNSPECIFIED: break;
        }
        if (p->smtputf8)
            sc_wr_puts(&w, " SMTPUTF8");
        switch (p->ret) {
        case SMTPCORE_RET_FULL: sc_wr_puts(&w, " RET=FULL"); break;
        case SMTPCORE_RET_HDRS: sc_wr_puts(&w, " RET=HDRS"); break;
        case SMTPCORE_RET_UNSPECIFIED: break;
        }
        if (p->envid.len) {
            sc_wr_puts(&w, " ENVID=");
            put_xtext(&w, p->envid.ptr, p->envid.len);
        }
        if (p->auth.len) {
            sc_wr_puts(&w, " AUTH=");
            /* "<>" is the RFC 4954 5 "no identity" form and is sent as is. */
            if (p->auth.len == 2 && p->auth.ptr[0] == '<' && p->auth.ptr[1] == '>')
                sc_wr_put(&w, "<>", 2);
            else
                put_xtext(&w, p->auth.ptr, p->auth.len);
        }
    }
    return finish(&w);
}

size_t sc_command_write_rcpt(char *out, size_t cap, const char *to, size_t to_len,
                             const smtpcore_rcpt_params *p)
{
    sc_wr w = sc_wr_init(out, cap);
    sc_wr_puts(&w, "RCPT TO:");
    put_path(&w, to, to_len);
    if (p) {
        uint32_t nf = p->notify;
        if (nf & SMTPCORE_NOTIFY_NEVER) {
            sc_wr_puts(&w, " NOTIFY=NEVER");
        } else if (nf) {
            const char *sep = " NOTIFY=";
            if (nf & SMTPCORE_NOTIFY_SUCCESS) {
                sc_wr_puts(&w, sep);
                sc_wr_puts(&w, "SUCCESS");
                sep = ",";
            }
            if (nf & SMTPCORE_NOTIFY_FAILURE) {
                sc_wr_puts(&w, sep);
                sc_wr_puts(&w, "FAILURE");
                sep = ",";
            }
            if (nf & SMTPCORE_NOTIFY_DELAY) {
                sc_wr_puts(&w, sep);
                sc_wr_puts(&w, "DELAY");
            }
        }
        if (p->orcpt.len) {
            /* "type;addr": the type is an atom sent as is, the address is xtext-encoded. */
            const char *semi = memchr(p->orcpt.ptr, ';', p->orcpt.len);
            sc_wr_puts(&w, " ORCPT=");
            if (semi) {
                size_t tl = (size_t)(semi - p->orcpt.ptr);
                sc_wr_put(&w, p->orcpt.ptr, tl + 1);
                put_xtext(&w, semi + 1, p->orcpt.len - tl - 1);
            } else {
                sc_wr_put(&w, "rfc822;", 7);
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
    sc_wr w = sc_wr_init(out, cap);
    sc_wr_puts(&w, name);
    if (arg && arg_len) {
        sc_wr_put(&w, " ", 1);
        sc_wr_put(&w, arg, arg_len);
    }
    return finish(&w);
}

size_t sc_command_write_bdat(char *out, size_t cap, uint64_t size, int last)
{
    sc_wr w = sc_wr_init(out, cap);
    sc_wr_puts(&w, "BDAT ");
    sc_wr_u64(&w, size);
    if (last)
        sc_wr_puts(&w, " LAST");
    return finish(&w);
}
