/* SPDX-License-Identifier: MIT */
/* Server, layer 1 (see server_core.h): XCLIENT (Postfix XCLIENT_README). Called from the
 * command dispatch (server_cmd.c) and, for the restart after an accepted XCLIENT, from
 * server.c's answer path; it uses the core's push/refuse.
 *
 * The session keeps no copy of the attributes. The arguments are checked and decoded in
 * place in the input buffer, compacted as "NAME\0value\0NAME\0value\0..." (values may
 * hold spaces once decoded, never NUL), and that slice stays in place while the event
 * awaits its answer (sc_srv_keeps_line()); smtpcore_server_xclient_attrs() walks it. */
#include <string.h>

#include "proxy.h"
#include "sc_text.h"
#include "server_internal.h"

enum { XA_NAME, XA_ADDR, XA_PORT, XA_PROTO, XA_HELO, XA_LOGIN, XA_DESTADDR, XA_DESTPORT, XA_N };

static const char *const xa_names[XA_N] = {"NAME", "ADDR",  "PORT",     "PROTO",
                                           "HELO", "LOGIN", "DESTADDR", "DESTPORT"};

static int attr_index(const char *s, size_t n)
{
    for (int i = 0; i < XA_N; i++)
        if (sc_ieq_upper(s, n, xa_names[i]))
            return i;
    return -1;
}

static int marker(const char *v, size_t n)
{
    if (sc_ieq_upper(v, n, "[UNAVAILABLE]"))
        return SMTPCORE_XCLIENT_UNAVAILABLE;
    if (sc_ieq_upper(v, n, "[TEMPUNAVAIL]"))
        return SMTPCORE_XCLIENT_TEMPUNAVAIL;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    /* RFC 3461 4 says upper case; lower case is taken too, as Postfix does. */
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* ADDR/DESTADDR: IPv4, or IPv6 with or without Postfix's "IPV6:" prefix (removed). */
static int addr_ok(const char **v, size_t *n)
{
    unsigned char b[16];
    if (*n > 5 && sc_ieq_upper(*v, 5, "IPV6:")) {
        *v += 5;
        *n -= 5;
        return sc_ipv6_parse(*v, *n, b);
    }
    return sc_ipv4_parse(*v, *n, b) || sc_ipv6_parse(*v, *n, b);
}

static int port_ok(const char *v, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    unsigned p = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 0;
        p = p * 10u + (unsigned)(v[i] - '0');
    }
    return p <= 65535u;
}

/* Checks one decoded value for its attribute. */
static const char *value_error(int a, const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x20 || c == 0x7f)
            return "Error: control character in XCLIENT attribute value";
    }
    switch (a) {
    case XA_ADDR:
    case XA_DESTADDR:
        if (!addr_ok(&v, &n))
            return "Error: bad XCLIENT address";
        break;
    case XA_PORT:
    case XA_DESTPORT:
        if (!port_ok(v, n))
            return "Error: bad XCLIENT port";
        break;
    case XA_PROTO:
        if (!sc_ieq_upper(v, n, "SMTP") && !sc_ieq_upper(v, n, "ESMTP"))
            return "Error: bad XCLIENT protocol";
        break;
    default: break;
    }
    return NULL;
}

/* Checks and decodes a[0, n) in place into the compact form; returns its length, or -1
 * with *why set. Writing never overtakes reading: names are copied as they are, a
 * separator replaces '=' or a space, and xtext decoding only shrinks. */
static long compact(char *a, size_t n, const char **why)
{
    size_t r = 0, w = 0;
    int any = 0;
    while (r < n) {
        if (a[r] == ' ') {
            r++;
            continue;
        }
        size_t nb = r;
        while (r < n && a[r] != '=' && a[r] != ' ')
            r++;
        int idx = attr_index(a + nb, r - nb);
        if (idx < 0 || r >= n || a[r] != '=') {
            *why = idx < 0 ? "Error: bad XCLIENT attribute name" : "Error: XCLIENT attribute without a value";
            return -1;
        }
        memmove(a + w, a + nb, r - nb);
        w += r - nb;
        a[w++] = '\0';
        r++; /* '=' */
        size_t vb = r;
        while (r < n && a[r] != ' ')
            r++;
        size_t vn = r - vb;
        if (vn == 0) {
            *why = "Error: empty XCLIENT attribute value";
            return -1;
        }
        size_t vw = w;
        if (marker(a + vb, vn)) {
            memmove(a + w, a + vb, vn);
            w += vn;
        } else {
            for (size_t i = vb; i < r; i++) {
                char c = a[i];
                if (c == '+') {
                    int h = i + 2 < r ? hexval(a[i + 1]) : -1;
                    int l = i + 2 < r ? hexval(a[i + 2]) : -1;
                    if (h < 0 || l < 0) {
                        *why = "Error: bad xtext in XCLIENT attribute value";
                        return -1;
                    }
                    a[w++] = (char)(h * 16 + l);
                    i += 2;
                } else if ((unsigned char)c < 0x21 || (unsigned char)c > 0x7e || c == '=') {
                    *why = "Error: bad xtext in XCLIENT attribute value";
                    return -1;
                } else {
                    a[w++] = c;
                }
            }
            const char *e = value_error(idx, a + vw, w - vw);
            if (e) {
                *why = e;
                return -1;
            }
        }
        if (r < n)
            r++; /* the space after the value: the NUL below may take its place */
        a[w++] = '\0';
        any = 1;
    }
    if (!any) {
        *why = "Syntax: XCLIENT attribute=value ...";
        return -1;
    }
    return (long)w;
}

void sc_srv_xclient(smtpcore_server *s, const sc_command *cmd, smtpcore_str line)
{
    if (!s->xclient_allowed) {
        sc_srv_refuse(s, line, 550, "5.7.0", "Error: insufficient authorization",
                      SMTPCORE_V_XCLIENT_DENIED, 1);
        return;
    }
    if (s->mail_open) {
        sc_srv_refuse(s, line, 503, "5.5.1", "Error: MAIL transaction in progress",
                      SMTPCORE_V_BAD_SEQUENCE, 1);
        return;
    }
    /* The arguments are in the session's own input buffer: a writable view of them. */
    char *a = sc_srv_input_writable(s, cmd->arg.ptr);
    const char *why = NULL;
    long n = compact(a, cmd->arg.len, &why);
    /* The line is about to be decoded in place: the event shows the verb only. */
    smtpcore_str shown = {line.ptr, (size_t)(cmd->arg.ptr - line.ptr)};
    while (shown.len && shown.ptr[shown.len - 1] == ' ')
        shown.len--;
    if (n < 0) {
        sc_srv_refuse(s, shown, 501, "5.5.4", why, SMTPCORE_V_XCLIENT_SYNTAX, 1);
        return;
    }
    s->helo_name = a;
    s->helo_name_len = (uint32_t)n;
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_XCLIENT);
    ev->line = shown;
    sc_srv_await(s, ev);
}

void sc_srv_xclient_restart(smtpcore_server *s)
{
    /* XCLIENT_README: the session starts over as if the client had just connected. */
    s->helo_done = 0;
    s->esmtp = 0;
    s->authenticated = 0;
    s->improper_next = 0;
    sc_srv_reset_txn(s);
}

int smtpcore_server_xclient_attrs(const smtpcore_server *s, smtpcore_xclient_attrs *out,
                                  size_t out_size)
{
    if (!s || !out || out_size == 0)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    if (s->awaiting != SMTPCORE_SEV_XCLIENT)
        return SMTPCORE_ERR_INVALID_STATE;
    smtpcore_xclient_attrs all;
    memset(&all, 0, sizeof all);
    smtpcore_xclient_attr *slot[XA_N] = {&all.name,  &all.addr,  &all.port,     &all.proto,
                                         &all.helo,  &all.login, &all.destaddr, &all.destport};
    const char *p = s->helo_name, *end = p + s->helo_name_len;
    while (p < end) {
        size_t nl = strlen(p); /* every name and value ends in a NUL (compact()) */
        int idx = attr_index(p, nl);
        const char *v = p + nl + 1;
        size_t vl = strlen(v);
        p = v + vl + 1;
        if (idx < 0)
            continue;
        smtpcore_xclient_attr *at = slot[idx];
        int m = marker(v, vl);
        at->state = m ? (smtpcore_xclient_state)m : SMTPCORE_XCLIENT_VALUE;
        at->value.ptr = m ? NULL : v;
        at->value.len = m ? 0 : vl;
        if (!m && (idx == XA_ADDR || idx == XA_DESTADDR) && vl > 5 &&
            sc_ieq_upper(v, 5, "IPV6:")) {
            at->value.ptr += 5;
            at->value.len -= 5;
        }
    }
    memcpy(out, &all, out_size < sizeof all ? out_size : sizeof all);
    return SMTPCORE_OK;
}

int smtpcore_server_set_xclient_allowed(smtpcore_server *s, int allowed)
{
    if (!s)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    s->xclient_allowed = allowed ? 1 : 0;
    return SMTPCORE_OK;
}
