/* SPDX-License-Identifier: MIT */
/* A complete server event loop over an in-memory "connection": a scripted client sends
 * one SMTP conversation (pipelined, with a refused recipient and a dot-stuffed body),
 * the host answers the session's events, and the program checks every reply.
 * Exits 0 when the conversation went as expected. Shown in docs/server-guide.md. */
#include <stdio.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

/* What the client sends, in groups (a group is written at once, as a pipelining client
 * does), and the replies it must get back for that group. */
typedef struct step {
    const char *send;
    const char *expect;
} step;

static const step script[] = {
    {NULL, "220 mx.example.org ESMTP ready\r\n"},
    {"EHLO client.example.net\r\n",
     "250-mx.example.org Hello client.example.net\r\n250-PIPELINING\r\n250-SIZE 1048576\r\n"
     "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"},
    {"MAIL FROM:<alice@example.net>\r\nRCPT TO:<bob@example.org>\r\n"
     "RCPT TO:<nobody@example.org>\r\nDATA\r\n",
     "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user here\r\n"
     "354 End data with <CR><LF>.<CR><LF>\r\n"},
    {"Subject: test\r\n\r\nHello Bob.\r\n..leading dot\r\n.\r\nQUIT\r\n",
     "250 2.0.0 Ok: queued as 1\r\n221 2.0.0 Bye\r\n"},
};

/* The host's side: what it learnt from the events. */
typedef struct host {
    char body[256];
    size_t body_len;
    int messages;
} host;

/* Answers one event: the only policy decisions a host has to make. */
static int answer(smtpcore_server *s, const smtpcore_server_event *ev, host *h)
{
    switch (ev->type) {
    case SMTPCORE_SEV_RCPT:
        if (ev->address.len == 18 && memcmp(ev->address.ptr, "nobody@example.org", 18) == 0)
            return smtpcore_server_reject(s, 550, "5.1.1", "No such user here");
        return smtpcore_server_accept(s);
    case SMTPCORE_SEV_BODY:
        /* Slices are only valid until the next call: copy (or write to disk) now. */
        if (h->body_len + ev->data.len <= sizeof(h->body)) {
            memcpy(h->body + h->body_len, ev->data.ptr, ev->data.len);
            h->body_len += ev->data.len;
        }
        return SMTPCORE_OK;
    case SMTPCORE_SEV_MESSAGE_END:
        h->messages++;
        return smtpcore_server_reply(s, 250, NULL, "Ok: queued as 1");
    case SMTPCORE_SEV_PROTOCOL_ERROR:
        /* The engine already queued its reply; a real host would log ev->message. */
        return SMTPCORE_OK;
    default:
        return ev->answer_required ? smtpcore_server_accept(s) : SMTPCORE_OK;
    }
}

/* One turn of the loop: feed what the peer sent, run events, "write" the output. */
static int serve(smtpcore_server *s, const char *in, size_t len, host *h, char *wire,
                 size_t *wire_len, size_t wire_cap)
{
    size_t off = 0;
    for (;;) {
        size_t used = 0;
        int rc = smtpcore_server_receive(s, in + off, len - off, &used);
        if (rc == SMTPCORE_ERR_CLOSED)
            break; /* input after QUIT is ignored */
        if (rc != SMTPCORE_OK)
            return rc;
        off += used;
        const smtpcore_server_event *ev;
        while (smtpcore_server_next_event(s, &ev) == SMTPCORE_OK &&
               ev->type != SMTPCORE_SEV_NONE) {
            rc = answer(s, ev, h);
            if (rc != SMTPCORE_OK)
                return rc;
        }
        /* A socket host writes when want_flush() says so; here the "socket" is a
         * buffer, so everything pending is written at the end of each turn. */
        const char *out;
        size_t n = smtpcore_server_output(s, &out);
        if (*wire_len + n > wire_cap)
            return -100;
        memcpy(wire + *wire_len, out, n);
        *wire_len += n;
        smtpcore_server_consume(s, n);
        if (off == len)
            break;
    }
    return SMTPCORE_OK;
}

int main(void)
{
    smtpcore_server_config cfg;
    smtpcore_server_config_init(&cfg);
    cfg.hostname = "mx.example.org";
    cfg.greeting_text = "ESMTP ready";
    cfg.extensions = SMTPCORE_EXT_PIPELINING | SMTPCORE_EXT_SIZE | SMTPCORE_EXT_8BITMIME |
                     SMTPCORE_EXT_ENHANCEDSTATUSCODES;
    cfg.max_message_size = 1024 * 1024;

    smtpcore_server *s;
    if (smtpcore_server_new(&s, &cfg) != SMTPCORE_OK)
        return 1;
    host h = {.body_len = 0, .messages = 0};
    int failed = 0;
    for (size_t i = 0; i < sizeof(script) / sizeof(script[0]) && !failed; i++) {
        char wire[1024];
        size_t wire_len = 0;
        const char *send = script[i].send ? script[i].send : "";
        if (serve(s, send, strlen(send), &h, wire, &wire_len, sizeof(wire)) != SMTPCORE_OK)
            failed = 1;
        if (wire_len != strlen(script[i].expect) ||
            memcmp(wire, script[i].expect, wire_len) != 0) {
            fprintf(stderr, "step %zu: unexpected reply:\n%.*s", i, (int)wire_len, wire);
            failed = 1;
        }
    }
    static const char body[] = "Subject: test\r\n\r\nHello Bob.\r\n.leading dot\r\n";
    if (h.messages != 1 || h.body_len != sizeof(body) - 1 || memcmp(h.body, body, h.body_len))
        failed = 1;
    if (!smtpcore_server_want_close(s))
        failed = 1;
    smtpcore_server_del(s);
    if (!failed)
        printf("server_loop: conversation ok, %zu body octets\n", h.body_len);
    return failed;
}
