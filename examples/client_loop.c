/* SPDX-License-Identifier: MIT */
/* A complete client event loop. The "network" is an in-memory pipe to a server session
 * (the same library, server role), so the program runs anywhere; a real host would
 * write the client's output to a socket and feed what it reads back into
 * smtpcore_client_receive(). The client sends one message to two recipients (the server
 * refuses one), then quits. Exits 0 when the message was accepted. Shown in
 * docs/client-guide.md. */
#include <stdio.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

static const char body[] = "From: alice@example.net\n"
                           "To: bob@example.org\n"
                           "Subject: hello\n"
                           "\n"
                           "Hi Bob,\n"
                           ".this line starts with a dot (the engine stuffs it)\n";

/* ---- the peer: a server session answering everything, refusing "nobody" ---- */

static void serve(smtpcore_server *s)
{
    const smtpcore_server_event *ev;
    while (smtpcore_server_next_event(s, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_SEV_NONE) {
        if (ev->type == SMTPCORE_SEV_RCPT && ev->address.len >= 6 &&
            memcmp(ev->address.ptr, "nobody", 6) == 0)
            smtpcore_server_reject(s, 550, "5.1.1", "No such user");
        else if (ev->answer_required)
            smtpcore_server_accept(s);
    }
}

/* ---- the client host ---- */

typedef struct host {
    size_t body_sent; /* bytes of body handed to the engine so far */
    int sending;      /* between SEND_BODY and body_end() */
    int accepted;     /* the message was accepted */
    int closed;
} host;

/* Reacts to one client event. Returns 0, or -1 when an API call failed. */
static int on_event(smtpcore_client *c, const smtpcore_client_event *ev, host *h)
{
    switch (ev->type) {
    case SMTPCORE_CEV_GREETING:
        printf("greeting: %.*s", (int)ev->reply.raw.len, ev->reply.raw.ptr);
        return 0;
    case SMTPCORE_CEV_READY:
        if (h->accepted || h->body_sent > 0)
            return smtpcore_client_quit(c); /* one message only */
        /* The whole envelope is queued at once; the engine pipelines it if it can. */
        if (smtpcore_client_mail(c, "alice@example.net", NULL) != SMTPCORE_OK ||
            smtpcore_client_rcpt(c, "bob@example.org", NULL) != SMTPCORE_OK ||
            smtpcore_client_rcpt(c, "nobody@example.org", NULL) != SMTPCORE_OK)
            return -1;
        return smtpcore_client_data(c);
    case SMTPCORE_CEV_RCPT_RESULT:
        printf("recipient %zu: %d\n", ev->rcpt_index, ev->reply.code);
        return 0;
    case SMTPCORE_CEV_SEND_BODY:
        h->sending = 1;
        return 0;
    case SMTPCORE_CEV_MESSAGE_RESULT:
        printf("message: %s (%zu of %zu recipients): %.*s", ev->failure == SMTPCORE_SUCCESS
                                                                 ? "accepted"
                                                                 : "refused",
               ev->rcpt_accepted, ev->rcpt_total, (int)ev->reply.raw.len, ev->reply.raw.ptr);
        h->accepted = ev->failure == SMTPCORE_SUCCESS;
        return 0;
    case SMTPCORE_CEV_STARTTLS:
        return -1; /* a real host starts TLS here, then calls smtpcore_client_tls_started() */
    case SMTPCORE_CEV_PROTOCOL_ERROR:
        printf("protocol error: %s\n", smtpcore_violation_str((int)ev->violation));
        return 0;
    case SMTPCORE_CEV_CLOSED:
        h->closed = 1;
        return 0;
    default:
        return 0;
    }
}

/* Gives the engine as much body as its output buffer takes; ends the body when done. */
static int feed_body(smtpcore_client *c, host *h)
{
    size_t used = 0;
    int rc = smtpcore_client_body(c, body + h->body_sent, sizeof body - 1 - h->body_sent, &used);
    if (rc != SMTPCORE_OK)
        return rc;
    h->body_sent += used;
    if (h->body_sent < sizeof body - 1)
        return 0; /* output full: write it out, then continue */
    rc = smtpcore_client_body_end(c);
    if (rc == SMTPCORE_ERR_BUFFER_FULL)
        return 0; /* try again after writing the output */
    h->sending = 0;
    return rc;
}

int main(void)
{
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "client.example.net"; /* or smtpcore_address_literal() */
    smtpcore_client *c;
    if (smtpcore_client_new(&c, &cfg) != SMTPCORE_OK)
        return 1;

    smtpcore_server_config scfg;
    smtpcore_server_config_init(&scfg);
    scfg.hostname = "mx.example.org";
    smtpcore_server *s;
    if (smtpcore_server_new(&s, &scfg) != SMTPCORE_OK)
        return 1;

    host h = {0, 0, 0, 0};
    for (int round = 0; round < 1000 && !h.closed; round++) {
        /* 1. The "socket" delivers what the server wrote. */
        serve(s);
        const char *p;
        size_t n = smtpcore_server_output(s, &p), used = 0;
        if (n > 0 && smtpcore_client_receive(c, p, n, &used) == SMTPCORE_OK)
            smtpcore_server_consume(s, used);

        /* 2. Drain the client's events. */
        const smtpcore_client_event *ev;
        while (smtpcore_client_next_event(c, &ev) == SMTPCORE_OK &&
               ev->type != SMTPCORE_CEV_NONE)
            if (on_event(c, ev, &h) != SMTPCORE_OK)
                return 1;
        if (h.sending && feed_body(c, &h) != SMTPCORE_OK)
            return 1;

        /* 3. Write the client's output to the "socket". */
        n = smtpcore_client_output(c, &p);
        if (n > 0 && smtpcore_server_receive(s, p, n, &used) == SMTPCORE_OK)
            smtpcore_client_consume(c, used);
    }
    smtpcore_client_del(c);
    smtpcore_server_del(s);
    return h.accepted && h.closed ? 0 : 1;
}
