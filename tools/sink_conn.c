/* SPDX-License-Identifier: MIT */
/* One smtpcore-sink connection: socket (plain or TLS) <-> server engine <-> maildir. */
#include "sink.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "sink_proxy.h"

enum {
    CONN_IN_SIZE = 16384,  /* host-side input bytes not yet taken by the engine */
    PUMP_ROUNDS = 64       /* rounds per wake-up, so one fast client cannot starve others */
};

typedef enum conn_state {
    CS_SMTP,          /* talking SMTP */
    CS_TLS_FLUSH,     /* STARTTLS answered: writing the 220 before the handshake */
    CS_TLS_HANDSHAKE, /* SSL_accept in progress */
    CS_DEAD           /* finished; free me */
} conn_state;

struct sink_conn {
    tool_stream st;
    smtpcore_server *s;
    conn_state state;
    uint64_t id;
    sink_client_id who;    /* the client as the log shows it (a proxy may tell) */
    char sock_peer[64];    /* the socket's own peer: the client, or the proxy */
    char in[CONN_IN_SIZE];
    size_t in_len;
    int drained;           /* a short plain read emptied the socket: no read until woken */
    int fresh;             /* accepted, greeting not sent: nothing to read yet */
    int eof_seen;          /* the socket reached EOF */
    int eof_given;         /* ...and the engine was told */
    short io_want;         /* what the last would-block operation waits for */
    int busy;              /* stopped early with work left */
    int close_after_flush; /* QUIT/CLOSE/421: close once the output is written */
    int bye_421;           /* shutting down: send a raw 421 after the output, then close */
    int64_t last_activity; /* the last read or write that moved bytes (idle timeout) */
    /* Deadlines (Postfix's smtpd_per_request_deadline and smtpd_min_data_rate model): a
     * command line must be complete within --command-timeout of the last event, however
     * its bytes trickle in; message content within --content-timeout of its start plus a
     * second per --min-content-rate bytes received. */
    int64_t wait_start;    /* the last event other than BODY: a command was served */
    int64_t content_start; /* the session entered message content */
    uint64_t content_bytes;/* read since */
    int in_message;        /* smtpcore_server_in_message() as last seen */
    const char *close_reason; /* "idle-timeout" etc. once a deadline ended the session */
    /* AUTH failures: the reply to each is held back --auth-failure-delay (nothing is read
     * or written meanwhile; the loop serves other connections) and counted per address. */
    int64_t hold_until;
    uint32_t auth_failures_seen;
    char addr[SINK_LIMIT_ADDR];
    /* transaction, kept for the log line */
    char helo[128];
    char from[256];
    char rcpts[1024];
    uint32_t rcpt_n;
    int in_data;           /* a maildir file is open for the current message */
    int store_failed;      /* the file could not be created: refuse at the end */
    int store_wait;        /* the message is with the storage thread; its end is unanswered */
    char store_error[96];  /* why storing failed, for the log line (reason=) */
    uint64_t end_size;     /* message size and long-line flag, kept for the log line */
    int end_long_lines;
    sink_store_job job;
    tool_msgfile msg;
    char auth_user[128];
    int tls_done;
    /* LMTP: each accepted recipient's --lmtp-refuse rule (index + 1, 0 none), sized
     * max_rcpt; NULL without rules. lmtp_codes: the per-recipient codes for the log. */
    uint16_t *rcpt_rule;
    uint32_t end_rcpts;    /* recipients of the ended message (MESSAGE_END rcpt_count) */
    char lmtp_codes[256];
};

/* Copies an engine slice into a fixed buffer; over-long values are cut with "...". */
static void copy_str(char *dst, size_t cap, smtpcore_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    if (n > 0)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
    if (s.len > n && cap > 4)
        memcpy(dst + cap - 4, "...", 4);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)dst[i] < 0x20 || dst[i] == 0x7f)
            dst[i] = '?';
}

static void reset_tx(sink_ctx *ctx, sink_conn *c)
{
    if (c->store_wait)
        return; /* the storage thread owns the file; sink_conn_store_done() finishes */
    if (c->in_data)
        tool_msg_abort(&ctx->md, &c->msg);
    c->in_data = 0;
    c->store_failed = 0;
    c->from[0] = '\0';
    c->rcpts[0] = '\0';
    c->rcpt_n = 0;
}

static void log_tx(sink_ctx *ctx, sink_conn *c, int code, uint64_t size, const char *file,
                   const char *reason)
{
    if (ctx->opt.quiet)
        return;
    char tlsdesc[96];
    fprintf(stderr,
            "smtpcore-sink: id=%llu peer=%s%s helo=%s tls=%s auth=%s from=<%s> nrcpt=%u to=%s "
            "size=%llu status=%d%s%s%s%s%s%s\n",
            (unsigned long long)c->id, c->who.peer, c->who.via, c->helo[0] ? c->helo : "-",
            c->tls_done ? tool_tls_describe(&c->st, tlsdesc, sizeof tlsdesc) : "no",
            c->auth_user[0] ? c->auth_user : "-", c->from, c->rcpt_n,
            c->rcpts[0] ? c->rcpts : "-", (unsigned long long)size, code,
            c->lmtp_codes[0] ? " rcpt_status=" : "", c->lmtp_codes,
            file ? " file=" : "", file ? file : "", reason ? " reason=" : "",
            reason ? reason : "");
    c->lmtp_codes[0] = '\0';
}

sink_conn *sink_conn_new(sink_ctx *ctx, int fd, const struct sockaddr *peer)
{
    sink_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        tool_stream tmp = { .fd = fd, .ssl = NULL };
        tool_stream_close(&tmp);
        return NULL;
    }
    c->st.fd = fd;
    c->st.ssl = NULL;
    c->msg.fd = -1;
    c->fresh = 1;
    c->id = (ctx->conn_seq += ctx->id_step);
    c->last_activity = c->wait_start = tool_now_ms();
    tool_addr_str(peer, c->sock_peer, sizeof c->sock_peer);
    snprintf(c->who.peer, sizeof c->who.peer, "%s", c->sock_peer);
    sink_limits_addr(c->sock_peer, c->addr, sizeof c->addr);
    if (ctx->opt.lmtp.nrules > 0) {
        c->rcpt_rule = calloc(ctx->opt.max_rcpt, sizeof *c->rcpt_rule);
        if (c->rcpt_rule == NULL) {
            tool_stream_close(&c->st);
            free(c);
            return NULL;
        }
    }
    int rc = smtpcore_server_new(&c->s, &ctx->cfg);
    if (rc != SMTPCORE_OK) {
        free(c->rcpt_rule);
        fprintf(stderr, "smtpcore-sink: session: %s\n", smtpcore_strerror(rc));
        tool_stream_close(&c->st);
        free(c);
        return NULL;
    }
    /* XCLIENT rewrites who the client is: only connections from the proxies named by
     * --xclient-from may use it (and see it in the EHLO reply). */
    if (ctx->opt.n_xclient_from > 0 &&
        tool_cidr_match(ctx->opt.xclient_from, ctx->opt.n_xclient_from, peer))
        smtpcore_server_set_xclient_allowed(c->s, 1);
    if (ctx->opt.verbose)
        fprintf(stderr, "smtpcore-sink: id=%llu connect from %s\n", (unsigned long long)c->id,
                c->sock_peer);
    return c;
}

void sink_conn_free(sink_ctx *ctx, sink_conn *c)
{
    reset_tx(ctx, c);
    smtpcore_server_del(c->s);
    tool_stream_close(&c->st);
    if (ctx->opt.verbose)
        fprintf(stderr, "smtpcore-sink: id=%llu closed\n", (unsigned long long)c->id);
    free(c->rcpt_rule);
    free(c);
}

int sink_conn_fd(const sink_conn *c) { return c->st.fd; }
int sink_conn_dead(const sink_conn *c) { return c->state == CS_DEAD && !c->store_wait; }
int sink_conn_busy(const sink_conn *c) { return c->state != CS_DEAD && c->busy; }

int64_t sink_conn_wake(const sink_conn *c) { return c->state == CS_DEAD ? 0 : c->hold_until; }

short sink_conn_events(const sink_conn *c)
{
    if (c->state == CS_DEAD || c->hold_until != 0)
        return 0;
    if (c->state == CS_TLS_HANDSHAKE)
        return c->io_want;
    short ev = 0;
    const char *p;
    if (smtpcore_server_output(c->s, &p) > 0 || c->bye_421)
        ev |= POLLOUT;
    if (c->state == CS_SMTP && !c->eof_seen && c->in_len < sizeof c->in)
        ev |= POLLIN;
    if (c->st.ssl != NULL && c->io_want == POLLOUT)
        ev |= POLLOUT; /* a TLS read may need to write first */
    return ev;
}

/* Answers an event we chose to refuse because the server is stopping. */
static void refuse_stopping(sink_conn *c)
{
    if (smtpcore_server_reply(c->s, 421, "4.3.2", "Service shutting down") != SMTPCORE_OK)
        smtpcore_server_accept(c->s);
    c->close_after_flush = 1;
}

/* Opens the maildir file for the message on its first content (DATA or BDAT). */
static void ensure_msg(sink_ctx *ctx, sink_conn *c)
{
    if (ctx->opt.maildir == NULL || c->in_data || c->store_failed)
        return;
    if (tool_msg_begin(&ctx->md, &c->msg) != 0) {
        fprintf(stderr, "smtpcore-sink: id=%llu maildir: cannot create a message file: %s\n",
                (unsigned long long)c->id, strerror(errno));
        snprintf(c->store_error, sizeof c->store_error, "maildir-create:%s", strerror(errno));
        for (char *p = c->store_error; *p; p++)
            if (*p == ' ')
                *p = '-';
        c->store_failed = 1;
        return;
    }
    c->in_data = 1;
}

/* Answers the end of a message once its fate is known and logs the transaction. */
static void finish_message(sink_ctx *ctx, sink_conn *c, int code, const char *file)
{
    if (ctx->opt.lmtp.on) {
        /* One answer per recipient; code becomes the message's overall one for the log. */
        code = sink_lmtp_answer(c->state != CS_DEAD ? c->s : NULL, &ctx->opt.lmtp,
                                c->rcpt_rule, c->end_rcpts, code == 250, c->lmtp_codes,
                                sizeof c->lmtp_codes);
    } else if (c->state != CS_DEAD) {
        if (code == 250)
            smtpcore_server_accept(c->s);
        else
            smtpcore_server_reject(c->s, 451, "4.3.0", "Cannot store the message, try later");
    }
    if (code == 250) {
        ctx->stored++;
    } else {
        ctx->refused++;
        if (code == 451)
            ctx->failed++;
    }
    log_tx(ctx, c, code, c->end_size, file,
           c->state == CS_DEAD ? "client-gone-before-reply"
           : code == 451 && c->store_error[0] ? c->store_error
           : c->end_long_lines ? "long-lines" : NULL);
    c->store_error[0] = '\0';
    c->in_data = 0;
    reset_tx(ctx, c);
    if (ctx->stopping)
        c->bye_421 = 1;
    c->busy = 1;
}

static void on_message_end(sink_ctx *ctx, sink_conn *c, const smtpcore_server_event *ev)
{
    c->end_size = ev->message_size;
    c->end_long_lines = ev->long_lines;
    c->end_rcpts = ev->rcpt_count < c->rcpt_n ? ev->rcpt_count : c->rcpt_n;
    if (ctx->opt.lmtp.on && sink_lmtp_all_refused(c->rcpt_rule, c->end_rcpts)) {
        /* --lmtp-refuse names every recipient: nobody to store the message for. */
        if (c->in_data)
            tool_msg_abort(&ctx->md, &c->msg);
        c->in_data = 0;
        finish_message(ctx, c, 250, NULL);
        return;
    }
    ensure_msg(ctx, c); /* an empty BDAT LAST message has no content before its end */
    if (c->store_failed) {
        finish_message(ctx, c, 451, NULL);
        return;
    }
    if (!c->in_data) {
        finish_message(ctx, c, 250, NULL); /* no --maildir: accept and discard */
        return;
    }
    /* fsync + rename happen on the storage thread; the answer waits for them. */
    c->job.msg = &c->msg;
    c->job.owner = c;
    c->store_wait = 1;
    sink_store_submit(&ctx->store, &c->job);
}

void sink_conn_store_done(sink_ctx *ctx, sink_conn *c, int result)
{
    c->store_wait = 0;
    c->wait_start = tool_now_ms(); /* the wait was ours, not the client's */
    if (result != 0)
        snprintf(c->store_error, sizeof c->store_error, "maildir-commit:%s",
                 c->job.err ? strerror(c->job.err) : "failed");
    for (char *p = c->store_error; *p; p++)
        if (*p == ' ')
            *p = '-';
    c->in_data = 0; /* the file is in new/ or removed */
    finish_message(ctx, c, result == 0 ? 250 : 451, result == 0 ? c->msg.name : NULL);
}

static void on_event(sink_ctx *ctx, sink_conn *c, const smtpcore_server_event *ev)
{
    c->busy = 1;
    switch (ev->type) {
    case SMTPCORE_SEV_CONNECT:
        if (ctx->stopping)
            refuse_stopping(c);
        break;
    case SMTPCORE_SEV_HELO:
        copy_str(c->helo, sizeof c->helo, ev->address);
        if (ctx->stopping)
            refuse_stopping(c);
        break;
    case SMTPCORE_SEV_MAIL:
        reset_tx(ctx, c);
        copy_str(c->from, sizeof c->from, ev->address);
        if (ctx->stopping)
            refuse_stopping(c);
        break;
    case SMTPCORE_SEV_RCPT: {
        if (ctx->stopping) {
            refuse_stopping(c);
            break;
        }
        char one[256];
        copy_str(one, sizeof one, ev->address);
        size_t used = strlen(c->rcpts);
        if (used + strlen(one) + 4 < sizeof c->rcpts)
            snprintf(c->rcpts + used, sizeof c->rcpts - used, "%s<%s>", used ? "," : "", one);
        if (c->rcpt_rule != NULL && c->rcpt_n < ctx->opt.max_rcpt)
            c->rcpt_rule[c->rcpt_n] = sink_lmtp_match(&ctx->opt.lmtp, ev->address);
        c->rcpt_n++;
        break;
    }
    case SMTPCORE_SEV_DATA:
        if (ctx->stopping) {
            refuse_stopping(c);
            break;
        }
        ensure_msg(ctx, c);
        if (c->store_failed) {
            smtpcore_server_reject(c->s, 451, "4.3.0", "Cannot store messages now");
            ctx->refused++;
            ctx->failed++;
            log_tx(ctx, c, 451, 0, NULL, c->store_error[0] ? c->store_error : "maildir");
            c->store_error[0] = '\0';
            reset_tx(ctx, c);
        }
        break;
    case SMTPCORE_SEV_BODY:
        ensure_msg(ctx, c);
        if (c->in_data)
            tool_msg_write(&c->msg, ev->data.ptr, ev->data.len);
        break;
    case SMTPCORE_SEV_MESSAGE_END:
        on_message_end(ctx, c, ev);
        break;
    case SMTPCORE_SEV_MESSAGE_ABORTED: {
        char why[160];
        copy_str(why, sizeof why, ev->message);
        for (char *p = why; *p; p++)
            if (*p == ' ')
                *p = '_';
        log_tx(ctx, c, ev->reply_code, ev->message_size, NULL,
               ev->violation == SMTPCORE_V_HOST_CLOSE && c->close_reason ? c->close_reason
               : why[0] ? why : smtpcore_violation_str((int)ev->violation));
        ctx->refused++;
        reset_tx(ctx, c);
        break;
    }
    case SMTPCORE_SEV_RSET:
        reset_tx(ctx, c);
        break;
    case SMTPCORE_SEV_STARTTLS:
        /* Plaintext that followed STARTTLS must not be read as if it came through TLS
         * (CVE-2011-0411 class): the engine drops what it holds, we drop what we hold. */
        if (ctx->opt.verbose && (ev->discarded > 0 || c->in_len > 0))
            fprintf(stderr, "smtpcore-sink: id=%llu discarded %zu plaintext bytes after "
                    "STARTTLS\n", (unsigned long long)c->id, ev->discarded + c->in_len);
        c->in_len = 0;
        if (ctx->tls == NULL)
            c->close_after_flush = 1;
        else
            c->state = CS_TLS_FLUSH;
        break;
    case SMTPCORE_SEV_AUTH:
        if (sink_limits_blocked(ctx->limits, c->addr, tool_now_ms())) {
            /* Too many failures from this address lately: not even checked. */
            char text[300];
            snprintf(text, sizeof text, "%s Error: too many failed authentications from %s, "
                     "try later", ctx->opt.hostname, c->addr);
            if (smtpcore_server_reject(c->s, 421, "4.7.0", text) != SMTPCORE_OK)
                smtpcore_server_reject(c->s, 421, "4.7.0", NULL);
            c->close_after_flush = 1;
            if (ctx->opt.verbose)
                fprintf(stderr, "smtpcore-sink: id=%llu AUTH refused: %s is over "
                        "--max-auth-failures-per-address\n", (unsigned long long)c->id, c->addr);
        } else if (ctx->auth.count > 0 &&
            tool_auth_check(&ctx->auth, ev->username.ptr, ev->username.len, ev->password.ptr,
                            ev->password.len)) {
            copy_str(c->auth_user, sizeof c->auth_user, ev->username);
            smtpcore_server_accept(c->s);
        } else {
            smtpcore_server_reject(c->s, 535, "5.7.8", "Authentication credentials invalid");
        }
        break;
    case SMTPCORE_SEV_QUIT:
        c->close_after_flush = 1;
        break;
    case SMTPCORE_SEV_CLOSE:
        if (c->in_data && !c->store_wait) {
            log_tx(ctx, c, 0, c->msg.size, NULL,
                   c->close_reason ? c->close_reason : "connection-lost");
            ctx->refused++;
        }
        reset_tx(ctx, c);
        c->close_after_flush = 1;
        break;
    case SMTPCORE_SEV_PROXY: {
        const smtpcore_proxy_header *h = smtpcore_server_proxy_header(c->s);
        if (h != NULL)
            sink_proxy_from_header(&c->who, h, c->sock_peer);
        /* per-address AUTH limits apply to the client the proxy named */
        sink_limits_addr(c->who.peer, c->addr, sizeof c->addr);
        if (ctx->opt.verbose)
            fprintf(stderr, "smtpcore-sink: id=%llu client %s%s\n", (unsigned long long)c->id,
                    c->who.peer, c->who.via);
        break;
    }
    case SMTPCORE_SEV_XCLIENT: {
        if (ctx->stopping) {
            refuse_stopping(c);
            break;
        }
        smtpcore_xclient_attrs a;
        int arc = smtpcore_server_xclient_attrs(c->s, &a, sizeof a);
        reset_tx(ctx, c);
        c->helo[0] = '\0'; /* the session starts over: HELO and AUTH are forgotten */
        c->auth_user[0] = '\0';
        if (arc == SMTPCORE_OK)
            sink_proxy_from_xclient(&c->who, &a, c->sock_peer, c->helo, sizeof c->helo,
                                    c->auth_user, sizeof c->auth_user);
        sink_limits_addr(c->who.peer, c->addr, sizeof c->addr);
        smtpcore_server_accept(c->s);
        if (ctx->opt.verbose)
            fprintf(stderr, "smtpcore-sink: id=%llu client %s%s\n", (unsigned long long)c->id,
                    c->who.peer, c->who.via);
        break;
    }
    case SMTPCORE_SEV_PROTOCOL_ERROR:
        if (ev->violation == SMTPCORE_V_TOO_MANY_AUTH_FAILURES && !ctx->opt.quiet)
            fprintf(stderr, "smtpcore-sink: id=%llu peer=%s closed after %u failed "
                    "authentications\n", (unsigned long long)c->id, c->who.peer,
                    (unsigned)smtpcore_server_auth_failures(c->s));
        if (!ctx->opt.quiet && ev->violation >= SMTPCORE_V_PROXY_BAD_SIGNATURE &&
            ev->violation <= SMTPCORE_V_PROXY_BAD_TLV) {
            /* A refused PROXY header means a client that bypassed the proxy or a proxy
             * configured for another version: worth a line even without --verbose. */
            char why[160];
            copy_str(why, sizeof why, ev->message);
            fprintf(stderr, "smtpcore-sink: id=%llu peer=%s PROXY header refused: %s (%s)\n",
                    (unsigned long long)c->id, c->sock_peer,
                    smtpcore_violation_str((int)ev->violation), why);
        } else if (ctx->opt.verbose) {
            char why[160];
            copy_str(why, sizeof why, ev->message);
            fprintf(stderr, "smtpcore-sink: id=%llu protocol error: %s (%s), reply %d\n",
                    (unsigned long long)c->id, smtpcore_violation_str((int)ev->violation), why,
                    ev->reply_code);
        }
        break;
    default:
        break;
    }
}

/* Writes pending engine output. Returns 1 on progress, 0 when blocked or idle, -1 dead. */
static int write_output(sink_conn *c, int64_t now)
{
    const char *p;
    size_t n = smtpcore_server_output(c->s, &p);
    if (n == 0)
        return 0;
    long w = tool_stream_write(&c->st, p, n, &c->io_want);
    if (w == TOOL_IO_AGAIN)
        return 0;
    if (w <= 0)
        return -1;
    smtpcore_server_consume(c->s, (size_t)w);
    c->last_activity = now;
    return 1;
}

/* Reads from the socket into the host buffer. Returns 1 on progress, 0 when blocked.
 * A plain read that returns less than asked for has emptied the socket's receive queue,
 * so the next read of this wake-up would only fail with EAGAIN: it is skipped (poll is
 * level-triggered, so bytes that arrive later wake us again). Under smtp-source that
 * was one failed recv per command, up to 5 per message. TLS may hold decrypted bytes,
 * so it always reads until it would block. */
static int read_input(sink_conn *c, int64_t now)
{
    if (c->eof_seen || (c->drained && c->st.ssl == NULL) || c->in_len >= sizeof c->in)
        return 0;
    size_t cap = sizeof c->in - c->in_len;
    long n = tool_stream_read(&c->st, c->in + c->in_len, cap, &c->io_want);
    if (n == TOOL_IO_AGAIN) {
        c->drained = c->st.ssl == NULL;
        return 0;
    }
    if (n > 0 && (size_t)n < cap && c->st.ssl == NULL)
        c->drained = 1;
    if (n <= 0) {
        c->eof_seen = 1; /* EOF or a reset: either way the peer is gone */
        return 1;
    }
    c->in_len += (size_t)n;
    c->last_activity = now;
    if (c->in_message)
        c->content_bytes += (uint64_t)n;
    return 1;
}

/* Gives host-buffered bytes to the engine, keeping what it does not take. */
static int feed_engine(sink_conn *c)
{
    int progress = 0;
    if (c->in_len > 0) {
        size_t used = 0;
        int rc = smtpcore_server_receive(c->s, c->in, c->in_len, &used);
        if (rc == SMTPCORE_ERR_CLOSED) {
            c->in_len = 0; /* the session is over; the rest is never read */
            c->close_after_flush = 1;
            return 1;
        }
        if (used > 0) {
            memmove(c->in, c->in + used, c->in_len - used);
            c->in_len -= used;
            progress = 1;
        }
    }
    if (c->eof_seen && c->in_len == 0 && !c->eof_given) {
        smtpcore_server_receive_eof(c->s);
        c->eof_given = 1;
        progress = 1;
    }
    return progress;
}

static void start_handshake(sink_ctx *ctx, sink_conn *c)
{
    if (tool_tls_begin(&c->st, ctx->tls, 1, NULL) != 0) {
        c->state = CS_DEAD;
        return;
    }
    c->state = CS_TLS_HANDSHAKE;
    c->io_want = POLLIN;
}

static void step_handshake(sink_ctx *ctx, sink_conn *c)
{
    char err[256];
    int rc = tool_tls_handshake(&c->st, 1, &c->io_want, err, sizeof err);
    if (rc < 0) {
        if (!ctx->opt.quiet)
            fprintf(stderr, "smtpcore-sink: id=%llu %s\n", (unsigned long long)c->id, err);
        c->state = CS_DEAD;
    } else if (rc == 1) {
        c->tls_done = 1;
        c->io_want = 0;
        c->state = CS_SMTP;
        if (smtpcore_server_tls_started(c->s) != SMTPCORE_OK)
            c->state = CS_DEAD;
        c->busy = 1;
    }
}

static void send_bye(sink_conn *c)
{
    static const char bye[] = "421 4.3.2 Service shutting down\r\n";
    short want;
    /* Best effort: the peer may have gone; nothing acknowledged depends on it. */
    (void)tool_stream_write(&c->st, bye, sizeof bye - 1, &want);
    c->state = CS_DEAD;
}

/* After the events of a round: message content starting (its deadline runs from here),
 * and AUTH failures (counted for the client's address; the reply is held back). */
static void after_events(sink_ctx *ctx, sink_conn *c, int64_t now)
{
    int inm = smtpcore_server_in_message(c->s);
    if (inm && !c->in_message) {
        c->content_start = now;
        c->content_bytes = 0;
    }
    c->in_message = inm;
    uint32_t f = smtpcore_server_auth_failures(c->s);
    if (f > c->auth_failures_seen) {
        sink_limits_fail(ctx->limits, c->addr, f - c->auth_failures_seen, now);
        c->auth_failures_seen = f;
        if (ctx->opt.auth_failure_delay_ms > 0 && c->state == CS_SMTP && !ctx->stopping)
            c->hold_until = now + (int64_t)ctx->opt.auth_failure_delay_ms;
    }
}

void sink_conn_run(sink_ctx *ctx, sink_conn *c, int64_t now_ms)
{
    /* Woken (readable, writable, busy, storage done): read once more. The call right
     * after accept only sends the greeting: a client speaks after it. */
    c->drained = c->fresh;
    c->fresh = 0;
    c->busy = 0;
    if (c->hold_until != 0) {
        if (now_ms < c->hold_until)
            return;
        c->hold_until = 0;
        c->wait_start = now_ms;
    }
    for (int round = 0; round < PUMP_ROUNDS && c->state != CS_DEAD; round++) {
        if (c->state == CS_TLS_HANDSHAKE) {
            step_handshake(ctx, c);
            if (c->state != CS_SMTP)
                return;
        }
        int progress = 0;
        if (c->state == CS_SMTP) {
            progress |= read_input(c, now_ms);
            progress |= feed_engine(c);
        }
        c->busy = 0;
        const smtpcore_server_event *ev;
        while (c->state == CS_SMTP && smtpcore_server_next_event(c->s, &ev) == SMTPCORE_OK &&
               ev->type != SMTPCORE_SEV_NONE) {
            if (ev->type != SMTPCORE_SEV_BODY)
                c->wait_start = now_ms;
            on_event(ctx, c, ev);
            if (ev->answer_required && c->state == CS_SMTP && !c->store_wait) {
                /* Events not handled above take the engine's defaults (252 VRFY, etc.);
                 * a second answer is refused by the engine, so this is harmless. */
                int rc = smtpcore_server_accept(c->s);
                (void)rc;
            }
            progress = 1;
        }
        if (c->state == CS_SMTP)
            after_events(ctx, c, now_ms);
        if (c->hold_until != 0)
            return; /* the reply to the failed AUTH goes out when the pause ends */
        const char *p;
        size_t pending = smtpcore_server_output(c->s, &p);
        int flush = smtpcore_server_want_flush(c->s) || c->state == CS_TLS_FLUSH ||
                    c->close_after_flush || c->bye_421;
        if (pending > 0 && !flush && !progress && c->in_len == 0) {
            /* Input ran dry and the engine still holds replies: the flush hint should have
             * been set. Write anyway so the client is never left waiting. */
            if (!c->store_wait && ctx->flush_fallbacks++ == 0 && !ctx->opt.quiet)
                fprintf(stderr, "smtpcore-sink: note: engine withheld output with input dry\n");
            flush = 1;
        }
        if (pending > 0 && flush) {
            int w = write_output(c, now_ms);
            if (w < 0) {
                c->state = CS_DEAD;
                break;
            }
            progress |= w;
            pending = smtpcore_server_output(c->s, &p);
        }
        if (pending == 0) {
            if (c->state == CS_TLS_FLUSH) {
                start_handshake(ctx, c);
                progress = 1;
                continue;
            }
            if (c->bye_421) {
                send_bye(c);
                break;
            }
            if (c->close_after_flush || smtpcore_server_want_close(c->s) ||
                (c->eof_given && !progress && !c->store_wait)) {
                c->state = CS_DEAD;
                break;
            }
        }
        if (!progress)
            return;
    }
    /* Out of rounds with work left (or TLS holding decrypted bytes): come back soon. */
    if (c->state == CS_SMTP)
        c->busy = 1;
}

/* A deadline or the idle timeout ended the session: the engine answers "421 4.4.2
 * <host> Error: timeout exceeded" in whatever phase it is (mid-DATA included; nothing
 * during a TLS handshake) and aborts a message in progress. One non-blocking write of
 * it: a client that stopped reading does not get to hold the connection any longer. */
static void timeout_close(sink_ctx *ctx, sink_conn *c, const char *why, int64_t now_ms)
{
    c->close_reason = why;
    if (ctx->opt.verbose)
        fprintf(stderr, "smtpcore-sink: id=%llu peer=%s %s: closing with 421\n",
                (unsigned long long)c->id, c->who.peer, why);
    if (c->state == CS_SMTP || c->state == CS_TLS_FLUSH ||
        c->state == CS_TLS_HANDSHAKE) {
        (void)smtpcore_server_shutdown(c->s, SMTPCORE_SHUTDOWN_TIMEOUT);
        const smtpcore_server_event *ev;
        while (smtpcore_server_next_event(c->s, &ev) == SMTPCORE_OK &&
               ev->type != SMTPCORE_SEV_NONE)
            on_event(ctx, c, ev);
        if (c->state != CS_TLS_HANDSHAKE)
            (void)write_output(c, now_ms);
    }
    if (c->in_data && !c->store_wait) {
        log_tx(ctx, c, 0, c->msg.size, NULL, why);
        ctx->refused++;
    }
    reset_tx(ctx, c);
    c->state = CS_DEAD;
}

int sink_conn_check_idle(sink_ctx *ctx, sink_conn *c, int64_t now_ms)
{
    /* Not while the storage thread or our own AUTH pause holds the session. */
    if (c->state == CS_DEAD || c->store_wait || c->hold_until != 0)
        return 0;
    const sink_options *o = &ctx->opt;
    const char *why = NULL;
    if (now_ms - c->last_activity >= (int64_t)o->timeout_s * 1000) {
        why = "idle-timeout";
    } else if (c->in_message) {
        /* --content-timeout plus a second per --min-content-rate bytes received: a
         * message that flows at the rate is never cut, one byte a second is cut after
         * about --content-timeout. */
        int64_t allowed = (int64_t)o->content_timeout_s * 1000;
        if (o->min_content_rate > 0)
            allowed += (int64_t)(c->content_bytes * 1000 / o->min_content_rate);
        if (o->content_timeout_s > 0 && now_ms - c->content_start >= allowed)
            why = "content-timeout";
    } else if (o->command_timeout_s > 0 &&
               now_ms - c->wait_start >= (int64_t)o->command_timeout_s * 1000) {
        why = "command-timeout";
    }
    if (why == NULL)
        return 0;
    timeout_close(ctx, c, why, now_ms);
    return 1;
}

void sink_conn_shutdown(sink_ctx *ctx, sink_conn *c)
{
    (void)ctx;
    if (c->state != CS_SMTP)
        return; /* mid-handshake: the next command is refused with 421 */
    c->busy = 1;
    /* A message in flight is finished (stored and answered) first; on_message_end then
     * asks for the 421. Everything else is answered, then 421 and close. */
    if (!c->in_data)
        c->bye_421 = 1;
}

void sink_conn_abort(sink_ctx *ctx, sink_conn *c)
{
    if (c->in_data && !c->store_wait)
        log_tx(ctx, c, 0, c->msg.size, NULL, "shutdown");
    reset_tx(ctx, c);
    c->state = CS_DEAD;
}
