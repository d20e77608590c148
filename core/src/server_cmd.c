/* SPDX-License-Identifier: MIT */
/* Server, layer 1 (see server_core.h): dispatch of one command line (from server.c's
 * step loop) to the concerns, and the EHLO/HELO reply. */
#include <string.h>

#include "reply.h"
#include "sc_text.h"
#include "server_internal.h"
#include "syntax.h"

/* Every extension line the EHLO reply can hold, with "250-" and CRLF: within the room
 * the reserve counts for them. */
#define EHLO_LINE(k) (sizeof("250-" k "\r\n") - 1)
_Static_assert(EHLO_LINE("PIPELINING") + EHLO_LINE("SIZE ") + SC_DEC_U64_MAX + EHLO_LINE("VRFY") +
                       EHLO_LINE("8BITMIME") + EHLO_LINE("SMTPUTF8") + EHLO_LINE("DSN") +
                       EHLO_LINE("ENHANCEDSTATUSCODES") + EHLO_LINE("CHUNKING") +
                       EHLO_LINE("BINARYMIME") + EHLO_LINE("STARTTLS") +
                       EHLO_LINE("AUTH PLAIN LOGIN XOAUTH2") + EHLO_LINE("HELP") <=
                   SC_SRV_EHLO_EXT_MAX,
               "SC_SRV_EHLO_EXT_MAX holds every extension line");
_Static_assert(EHLO_LINE(SC_SRV_XCLIENT_EHLO) <= SC_SRV_XCLIENT_ECHO_CUT,
               "the XCLIENT line fits where the echoed name was cut");

void sc_srv_ehlo_reply(smtpcore_server *s)
{
    /* host name, " Hello ", the echoed name, and every extension keyword as "\nKEYWORD"
     * (shorter than its reply line, which SC_SRV_EHLO_EXT_MAX counts with "250-" and
     * CRLF), the XCLIENT line on top. The buffer holds the longest reply the
     * configuration allows, so a writer that ran full is an engine bug. */
    char b[SC_SRV_MAX_HOSTNAME + sizeof(" Hello ") - 1 + SC_SRV_HELO_ECHO +
           SC_SRV_EHLO_EXT_MAX + sizeof("\n" SC_SRV_XCLIENT_EHLO)];
    sc_wr w = sc_wr_init(b, sizeof b);
    uint32_t x = s->cfg.extensions;
    sc_wr_puts(&w, s->cfg.hostname);
    if (s->pend_esmtp) {
        sc_wr_puts(&w, " Hello ");
        size_t echo = s->helo_name_len;
        if (s->xclient_allowed && echo > SC_SRV_HELO_ECHO - SC_SRV_XCLIENT_ECHO_CUT)
            echo = SC_SRV_HELO_ECHO - SC_SRV_XCLIENT_ECHO_CUT; /* room for the XCLIENT line */
        sc_wr_put(&w, s->helo_name, echo);
        if (x & SMTPCORE_EXT_PIPELINING)
            sc_wr_puts(&w, "\nPIPELINING");
        if (x & SMTPCORE_EXT_SIZE) {
            /* RFC 1870 4: "SIZE 0" announces the extension without a fixed limit. */
            sc_wr_puts(&w, "\nSIZE ");
            sc_wr_u64(&w, s->cfg.max_message_size);
        }
        if (x & SMTPCORE_EXT_VRFY)
            sc_wr_puts(&w, "\nVRFY");
        if (x & SMTPCORE_EXT_8BITMIME)
            sc_wr_puts(&w, "\n8BITMIME");
        if (x & SMTPCORE_EXT_SMTPUTF8)
            sc_wr_puts(&w, "\nSMTPUTF8");
        if (x & SMTPCORE_EXT_DSN)
            sc_wr_puts(&w, "\nDSN");
        if (x & SMTPCORE_EXT_ENHANCEDSTATUSCODES)
            sc_wr_puts(&w, "\nENHANCEDSTATUSCODES");
        if (x & SMTPCORE_EXT_CHUNKING)
            sc_wr_puts(&w, "\nCHUNKING");
        if (x & SMTPCORE_EXT_BINARYMIME)
            sc_wr_puts(&w, "\nBINARYMIME");
        if ((x & SMTPCORE_EXT_STARTTLS) && !s->tls_active)
            sc_wr_puts(&w, "\nSTARTTLS");
        if ((x & SMTPCORE_EXT_AUTH) && (s->tls_active || s->cfg.allow_plaintext_auth)) {
            sc_wr_puts(&w, "\nAUTH");
            if (s->cfg.auth_mechs & SMTPCORE_AUTH_PLAIN)
                sc_wr_puts(&w, " PLAIN");
            if (s->cfg.auth_mechs & SMTPCORE_AUTH_LOGIN)
                sc_wr_puts(&w, " LOGIN");
            if (s->cfg.auth_mechs & SMTPCORE_AUTH_XOAUTH2)
                sc_wr_puts(&w, " XOAUTH2");
        }
        if (x & SMTPCORE_EXT_HELP)
            sc_wr_puts(&w, "\nHELP");
        if (s->xclient_allowed)
            sc_wr_puts(&w, "\n" SC_SRV_XCLIENT_EHLO);
    }
    SC_ASSERT(!w.full); /* release builds send the reply without the piece that did not fit */
    (void)sc_srv_reply_raw(s, 250, b, w.len);
}

static void refuse(smtpcore_server *s, smtpcore_str line, int code, const char *enh,
                   const char *text, smtpcore_violation v)
{
    sc_srv_refuse(s, line, code, enh, text, v, 1);
}

static void do_helo(smtpcore_server *s, const sc_command *c, smtpcore_str line)
{
    sc_srv_reset_txn(s);
    int esmtp = c->verb == SC_VERB_EHLO || c->verb == SC_VERB_LHLO;
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_HELO);
    ev->line = line;
    ev->esmtp = (uint8_t)esmtp;
    ev->helo_class = c->helo_class;
    ev->address = c->domain;
    /* The own-name check is information for the host: the engine never refuses on what
     * the name says (a name is judged by syntax only); the host may still refuse. */
    ev->helo_is_own_name = sc_helo_is_own(c->domain.ptr, c->domain.len, s->cfg.own_names,
                                          s->cfg.own_names_count) ? 1 : 0;
    if (ev->helo_is_own_name)
        ev->violation = SMTPCORE_V_LOOP_DETECTED;
    s->helo_name = c->domain.ptr;
    s->helo_name_len =
        (uint32_t)(c->domain.len < SC_SRV_HELO_ECHO ? c->domain.len : SC_SRV_HELO_ECHO);
    s->pend_esmtp = esmtp ? 1 : 0;
    sc_srv_await(s, ev);
}

static void do_mail(smtpcore_server *s, const sc_command *c, smtpcore_str line)
{
    if (s->cfg.helo_policy == SMTPCORE_HELO_REQUIRED && !s->helo_done) {
        refuse(s, line, 503, "5.5.1",
               s->cfg.lmtp ? "Error: send LHLO first" : "Error: send HELO/EHLO first",
               SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    if (s->mail_open) {
        refuse(s, line, 503, "5.5.1", "Error: nested MAIL command", SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    if (c->mail.has_size && s->cfg.max_message_size &&
        c->mail.size > s->cfg.max_message_size) {
        sc_srv_refuse(s, line, 552, "5.3.4", "Message size exceeds fixed maximum message size",
                      SMTPCORE_V_MESSAGE_TOO_BIG, 0);
        return;
    }
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_MAIL);
    ev->line = line;
    ev->address = c->mailbox;
    ev->address_utf8 = c->mailbox_utf8 ? 1 : 0;
    ev->mail = c->mail;
    s->pend_body = c->mail.body;
    s->pend_utf8 = c->mail.smtputf8 ? 1 : 0;
    sc_srv_await(s, ev);
}

static void do_rcpt(smtpcore_server *s, const sc_command *c, smtpcore_str line)
{
    if (!s->mail_open) {
        refuse(s, line, 503, "5.5.1", "Error: need MAIL command", SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    /* The parser cannot see the MAIL line: a UTF-8 forward path is only valid inside a
     * transaction opened with SMTPUTF8 (RFC 6531 3.4). */
    if (c->mailbox_utf8 && !s->txn_utf8) {
        refuse(s, line, 553, "5.6.7", "Non-ASCII address requires SMTPUTF8",
               SMTPCORE_V_SYNTAX);
        return;
    }
    /* RFC 5321 4.5.3.1.10: too many recipients is 452, so the client retries the rest. */
    if (s->cfg.max_recipients && s->rcpt_count >= s->cfg.max_recipients) {
        sc_srv_refuse(s, line, 452, "4.5.3", "Error: too many recipients",
                      SMTPCORE_V_TOO_MANY_RECIPIENTS, 0);
        return;
    }
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_RCPT);
    ev->line = line;
    ev->address = c->mailbox;
    ev->address_utf8 = c->mailbox_utf8 ? 1 : 0;
    ev->rcpt = c->rcpt;
    ev->rcpt_count = s->rcpt_count;
    sc_srv_await(s, ev);
}

static void do_data(smtpcore_server *s, smtpcore_str line)
{
    if (!s->mail_open) {
        refuse(s, line, 503, "5.5.1", "Error: need MAIL command", SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    if (s->bdat_used) {
        refuse(s, line, 503, "5.5.1", "Error: DATA after BDAT", SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    if (s->body_type == SMTPCORE_BODY_BINARYMIME) {
        /* RFC 3030 3: a BINARYMIME body can only be sent with BDAT. */
        refuse(s, line, 503, "5.5.1", "Error: BODY=BINARYMIME requires BDAT",
               SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    if (s->rcpt_count == 0) {
        refuse(s, line, 554, "5.5.1", "Error: no valid recipients", SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_DATA);
    ev->line = line;
    ev->rcpt_count = s->rcpt_count;
    sc_srv_await(s, ev);
}

static void do_bdat(smtpcore_server *s, const sc_command *c)
{
    sc_bdat_mode mode = SC_BDAT_STREAM;
    if (!(s->cfg.extensions & SMTPCORE_EXT_CHUNKING))
        mode = SC_BDAT_NO_EXT;
    else if (!s->mail_open || s->refused)
        mode = SC_BDAT_NO_TXN;
    else if (s->bdat_failed)
        mode = SC_BDAT_TOO_BIG;
    else if (s->rcpt_count == 0)
        mode = SC_BDAT_NO_RCPT; /* RFC 3030 2: like DATA, BDAT needs a valid recipient */
    /* The octets are read in every case, so they are never mistaken for commands. */
    sc_srv_bdat_start(s, c->chunk_size, c->last, mode);
}

static void do_starttls(smtpcore_server *s, smtpcore_str line, size_t rest)
{
    if (s->tls_active) {
        refuse(s, line, 503, "5.5.1", "Error: TLS already active", SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    if (!(s->cfg.extensions & SMTPCORE_EXT_STARTTLS)) {
        refuse(s, line, 502, "5.5.1", "Error: command not implemented",
               SMTPCORE_V_UNKNOWN_COMMAND);
        return;
    }
    /* Whatever follows STARTTLS in the same read was sent in plaintext and would be
     * executed as if it came over TLS (CVE-2011-0411): never process it. */
    s->in_done += rest;
    if (rest && s->cfg.injection_policy == SMTPCORE_INJECTION_REJECT) {
        sc_srv_refuse(s, line, 554, "5.5.1", "Error: command pipelined after STARTTLS",
                      SMTPCORE_V_STARTTLS_INJECTION, 0)
            ->discarded = rest;
        sc_srv_close(s, SMTPCORE_V_STARTTLS_INJECTION);
        return;
    }
    sc_srv_reply(s, 220, "2.0.0", "Ready to start TLS");
    smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_STARTTLS);
    ev->line = line;
    ev->discarded = rest;
    if (rest)
        ev->violation = SMTPCORE_V_STARTTLS_INJECTION;
    s->group_end = 1;
    s->phase = SC_PH_TLS_WAIT;
}

static void simple_info(smtpcore_server *s, smtpcore_server_event_type t, smtpcore_str line)
{
    smtpcore_server_event *ev = sc_srv_push(s, t);
    ev->line = line;
}

static void asked(smtpcore_server *s, smtpcore_server_event_type t, const sc_command *c,
                  smtpcore_str line)
{
    smtpcore_server_event *ev = sc_srv_push(s, t);
    ev->line = line;
    ev->address = c->arg;
    sc_srv_await(s, ev);
}

/* Sets of verbs as bit masks: one test instead of a chain of compares on the path of
 * every command. */
#define VERB_BIT(v) (1u << (v))
_Static_assert(SC_VERB_COUNT <= 32, "verb sets fit 32 bits");
static int verb_in(sc_verb v, uint32_t set)
{
    return ((set >> (unsigned)v) & 1u) != 0;
}
#define HELLO_VERBS (VERB_BIT(SC_VERB_HELO) | VERB_BIT(SC_VERB_EHLO) | VERB_BIT(SC_VERB_LHLO))
/* QUIT ends the session (what follows is ignored), STARTTLS has its own rule and BDAT is
 * followed by its octets by definition: none of them is judged as pipelined. */
#define PIPELINE_EXEMPT_VERBS                                                              \
    (VERB_BIT(SC_VERB_QUIT) | VERB_BIT(SC_VERB_STARTTLS) | VERB_BIT(SC_VERB_BDAT))

/* Pipelining is legal only once the client has seen PIPELINING in an EHLO reply. */
static int pipelining_ok(const smtpcore_server *s)
{
    return (s->cfg.extensions & SMTPCORE_EXT_PIPELINING) && s->helo_done && s->esmtp;
}

/* RFC 2920 3.1: commands whose reply changes what the client may send next must end a
 * group (the RFC names EHLO, DATA, VRFY, EXPN, TURN, QUIT and NOOP; HELO, LHLO and HELP
 * are of the same kind). QUIT is left out as Postfix does: what follows it is ignored. */
static int ends_group(sc_verb verb)
{
    switch (verb) {
    case SC_VERB_HELO:
    case SC_VERB_EHLO:
    case SC_VERB_LHLO:
    case SC_VERB_DATA:
    case SC_VERB_NOOP:
    case SC_VERB_VRFY:
    case SC_VERB_EXPN:
    case SC_VERB_HELP: return 1;
    default: return 0;
    }
}

static int sync_enforced(const smtpcore_server *s)
{
    switch (s->cfg.sync_policy) {
    case SMTPCORE_SYNC_ALL: return 1;
    case SMTPCORE_SYNC_UNAUTH: return !s->authenticated;
    default: return 0;
    }
}

/* The sync policy: the command with input behind it is not executed; 554 and close,
 * like Postfix's smtpd_forbid_unauth_pipelining. The discarded input is never read. */
static void sync_refuse(smtpcore_server *s, smtpcore_str line, size_t rest)
{
    s->in_done += rest;
    smtpcore_server_event *ev =
        sc_srv_refuse(s, line, 554, "5.5.0", "Error: SMTP protocol synchronization",
                      SMTPCORE_V_IMPROPER_PIPELINING, 0);
    ev->discarded = rest;
    sc_srv_close(s, SMTPCORE_V_IMPROPER_PIPELINING);
}

/* An AUTH line is shown only up to its mechanism, as in the AUTH event: its initial
 * response is a credential, and it is decoded in place right after the dispatch. Made
 * only where a line is shown (refusals), not for every command. */
static smtpcore_str shown_line(const sc_command *c, smtpcore_str ln)
{
    if (c->verb == SC_VERB_AUTH && c->mechanism.ptr)
        ln.len = (size_t)(c->mechanism.ptr + c->mechanism.len - ln.ptr);
    return ln;
}

/* Returns 1 when the command was refused for improper pipelining. */
static int check_pipelining(smtpcore_server *s, const sc_command *c, size_t rest,
                            smtpcore_str ln)
{
    sc_verb verb = c->verb;
    int improper = s->improper_next;
    int exempt = verb_in(verb, PIPELINE_EXEMPT_VERBS);
    int behind = rest > 0 && !exempt; /* input follows the command */
    int ok = !behind || pipelining_ok(s);
    /* AUTH is exempt from the sync rule only: a SASL response sent behind it is served
     * (see cmd_step()), anything else behind it is judged as the next command. */
    if (behind && s->cfg.sync_policy != SMTPCORE_SYNC_OFF && verb != SC_VERB_AUTH &&
        sync_enforced(s) && (ends_group(verb) || !ok)) {
        sync_refuse(s, shown_line(c, ln), rest);
        return 1;
    }
    s->improper_next = !ok;
    if (!improper || exempt)
        return 0;
    if (s->cfg.talker_policy == SMTPCORE_TALKER_REJECT) {
        refuse(s, shown_line(c, ln), 503, "5.5.0",
               "Error: improper use of SMTP command pipelining", SMTPCORE_V_IMPROPER_PIPELINING);
        return 1;
    }
    if (!s->improper_reported) {
        s->improper_reported = 1;
        smtpcore_server_event *ev = sc_srv_push(s, SMTPCORE_SEV_PROTOCOL_ERROR);
        ev->line = shown_line(c, ln);
        ev->violation = SMTPCORE_V_IMPROPER_PIPELINING;
        static const char msg[] = "command sent before the previous reply";
        ev->message = sc_mkstr(msg, sizeof(msg) - 1);
    }
    return 0;
}

void sc_srv_command(smtpcore_server *s, const char *line, size_t len, uint32_t flags,
                    size_t rest)
{
    smtpcore_str ln = sc_mkstr(line, len);
    /* Parsing has no side effects and names the verb even on error (command.h), so it
     * comes first: the pipelining check needs the verb, and the line is scanned once. */
    sc_command c;
    sc_reply_spec err;
    int rc = sc_command_parse(line, len, s->cfg.extensions, &c, &err);
    if (check_pipelining(s, &c, rest, ln))
        return;
    if (flags & (SC_LINE_NUL | SC_LINE_BARE_CR | SC_LINE_BARE_LF)) {
        if (flags & SC_LINE_NUL) {
            refuse(s, ln, 500, "5.5.2", "Error: NUL character in command", SMTPCORE_V_NUL);
            return;
        }
        if (flags & SC_LINE_BARE_CR) {
            refuse(s, ln, 500, "5.5.2", "Error: bare <CR> received", SMTPCORE_V_BARE_CR);
            return;
        }
        if ((flags & SC_LINE_BARE_LF) && s->cfg.bare_lf_policy == SMTPCORE_BARE_LF_REJECT) {
            refuse(s, ln, 500, "5.5.2", "Error: bare <LF> received", SMTPCORE_V_BARE_LF);
            return;
        }
    }
    if (s->refused && c.verb != SC_VERB_QUIT) {
        /* RFC 5321 3.1: after a 554 greeting only QUIT is served. */
        if (rc == 0 && c.verb == SC_VERB_BDAT)
            do_bdat(s, &c);
        else
            refuse(s, ln, 503, "5.5.1", "Error: service refused, send QUIT",
                   SMTPCORE_V_BAD_SEQUENCE);
        return;
    }
    /* RFC 2033 4.1: an LMTP server refuses HELO and EHLO; LHLO is unknown to SMTP. */
    int hello = verb_in(c.verb, HELLO_VERBS);
    if (hello && (s->cfg.lmtp ? c.verb != SC_VERB_LHLO : c.verb == SC_VERB_LHLO)) {
        refuse(s, ln, 500, "5.5.1",
               s->cfg.lmtp ? "Error: this is an LMTP server, use LHLO"
                           : "Command unrecognized",
               SMTPCORE_V_UNKNOWN_COMMAND);
        return;
    }
    if (rc != 0) {
        smtpcore_violation v = err.violation ? err.violation : SMTPCORE_V_SYNTAX;
        /* A malformed AUTH is a failed authentication (counted there, with the errors);
         * its line is shown without what may be a credential. */
        int auth = c.verb == SC_VERB_AUTH;
        sc_srv_refuse_e(s, auth ? shown_line(&c, ln) : ln, err.code ? err.code : 501,
                        &err.enhanced, err.text ? err.text : "Syntax error", v, !auth);
        if (auth)
            sc_srv_auth_malformed(s);
        return;
    }
    switch (c.verb) {
    case SC_VERB_HELO:
    case SC_VERB_EHLO:
    case SC_VERB_LHLO: do_helo(s, &c, ln); break;
    case SC_VERB_MAIL: do_mail(s, &c, ln); break;
    case SC_VERB_RCPT: do_rcpt(s, &c, ln); break;
    case SC_VERB_DATA: do_data(s, ln); break;
    case SC_VERB_BDAT: do_bdat(s, &c); break;
    case SC_VERB_RSET:
        sc_srv_reset_txn(s);
        SC_SRV_SAY(s, "250", "2.0.0", "Ok");
        simple_info(s, SMTPCORE_SEV_RSET, ln);
        break;
    case SC_VERB_NOOP:
        SC_SRV_SAY(s, "250", "2.0.0", "Ok");
        simple_info(s, SMTPCORE_SEV_NOOP, ln);
        s->group_end = 1;
        break;
    case SC_VERB_VRFY: asked(s, SMTPCORE_SEV_VRFY, &c, ln); break;
    case SC_VERB_EXPN: asked(s, SMTPCORE_SEV_EXPN, &c, ln); break;
    case SC_VERB_HELP: asked(s, SMTPCORE_SEV_HELP, &c, ln); break;
    case SC_VERB_QUIT:
        SC_SRV_SAY(s, "221", "2.0.0", "Bye");
        simple_info(s, SMTPCORE_SEV_QUIT, ln);
        sc_srv_close(s, SMTPCORE_V_NONE);
        break;
    case SC_VERB_STARTTLS: do_starttls(s, ln, rest); break;
    case SC_VERB_AUTH: sc_srv_auth_start(s, &c, ln); break;
    case SC_VERB_XCLIENT: sc_srv_xclient(s, &c, ln); break;
    default:
        refuse(s, ln, 502, "5.5.1", "Error: command not implemented",
               SMTPCORE_V_UNKNOWN_COMMAND);
        break;
    }
}
