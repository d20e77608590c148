/* SPDX-License-Identifier: MIT */
/* A pipelined SMTP load generator on the smtpcore client engine, the project's second
 * generator beside Postfix's smtp-source (bench/run rows 6 and 7a): smtp-source waits for
 * every reply (4 round trips per message), so on two CPUs it becomes the ceiling of
 * messages/s before a fast server does. This one keeps SESSIONS connections, pipelines
 * MAIL, RCPT and DATA, and sends the next message's MAIL right behind the previous final
 * dot (RFC 2920 3.1): one round trip per message.
 *
 * Usage: bench_loadgen HOST:PORT MESSAGES SESSIONS SIZE
 * Exits 0 when every message got a 2xx final reply, 1 otherwise (with a line on stderr).
 * Prints nothing on success; bench/measure.py times it and reads both sides' CPU. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <smtpcore/smtpcore.h>

enum { MAX_SESSIONS = 256, IN_SIZE = 16384 };

typedef struct conn {
    int fd;
    smtpcore_client *c;
    size_t left;      /* messages still to start on this connection */
    size_t body_off;  /* bytes of the current body already given to the engine */
    int in_body;      /* SEND_BODY seen, body_end not yet queued */
    int quit_sent;
    int next_due;     /* the dot is queued: send the next MAIL once it is written */
    char in[IN_SIZE];
    size_t in_len;
} conn;

static const char *g_body;
static size_t g_body_len;
static size_t g_ok, g_failed;

static int fail(const char *what)
{
    fprintf(stderr, "bench_loadgen: %s\n", what);
    return -1;
}

static int start_tx(conn *k)
{
    k->next_due = 0;
    int rc = smtpcore_client_mail(k->c, "from@example.org", NULL);
    if (rc == SMTPCORE_OK)
        rc = smtpcore_client_rcpt(k->c, "to@example.com", NULL);
    if (rc == SMTPCORE_OK)
        rc = smtpcore_client_data(k->c);
    if (rc != SMTPCORE_OK) {
        fprintf(stderr, "bench_loadgen: MAIL/RCPT/DATA (%zu left): %s\n", k->left, smtpcore_strerror(rc));
        return -1;
    }
    k->left--;
    return 0;
}

/* Gives the engine as much of the body as fits, then queues the dot; the next message
 * starts once the dot is written (write_out). */
static int push_body(conn *k)
{
    while (k->in_body) {
        if (k->body_off < g_body_len) {
            size_t used = 0;
            if (smtpcore_client_body(k->c, g_body + k->body_off, g_body_len - k->body_off,
                                     &used) != SMTPCORE_OK)
                return fail("the engine refused the body");
            k->body_off += used;
            if (k->body_off < g_body_len)
                return 0; /* output full: write, then come back */
        }
        int rc = smtpcore_client_body_end(k->c);
        if (rc == SMTPCORE_ERR_BUFFER_FULL)
            return 0;
        if (rc != SMTPCORE_OK)
            return fail("the engine refused the end of data");
        k->in_body = 0;
        k->next_due = k->left > 0;
    }
    return 0;
}

/* Handles the engine's events; returns -1 on a failure, 1 when the session is over. */
static int events(conn *k)
{
    const smtpcore_client_event *ev;
    while (smtpcore_client_next_event(k->c, &ev) == SMTPCORE_OK && ev->type != SMTPCORE_CEV_NONE) {
        switch (ev->type) {
        case SMTPCORE_CEV_READY:
            if (k->left > 0) {
                if (start_tx(k) != 0)
                    return -1;
            } else if (!k->quit_sent) {
                k->quit_sent = 1;
                if (smtpcore_client_quit(k->c) != SMTPCORE_OK)
                    return fail("the engine refused QUIT");
            }
            break;
        case SMTPCORE_CEV_SEND_BODY:
            k->in_body = 1;
            k->body_off = 0;
            if (push_body(k) != 0)
                return -1;
            break;
        case SMTPCORE_CEV_MESSAGE_RESULT:
            if (ev->failure == SMTPCORE_SUCCESS)
                g_ok++;
            else
                g_failed++;
            break;
        case SMTPCORE_CEV_PROTOCOL_ERROR:
            return fail("protocol error");
        case SMTPCORE_CEV_CLOSED:
            return 1;
        default:
            break;
        }
    }
    return 0;
}

static int write_out(conn *k)
{
    for (;;) {
        const char *p;
        size_t n = smtpcore_client_output(k->c, &p);
        if (n == 0 && k->in_body) {
            if (push_body(k) != 0)
                return -1;
            n = smtpcore_client_output(k->c, &p);
        }
        if (n == 0 && k->next_due) {
            /* MAIL behind the written dot (RFC 2920 3.1); if the engine wants the final
             * reply first, READY starts the message instead. */
            int rc = smtpcore_client_mail(k->c, "from@example.org", NULL);
            k->next_due = 0;
            if (rc == SMTPCORE_OK) {
                if (smtpcore_client_rcpt(k->c, "to@example.com", NULL) != SMTPCORE_OK ||
                    smtpcore_client_data(k->c) != SMTPCORE_OK)
                    return fail("the engine refused RCPT/DATA behind the dot");
                k->left--;
                continue;
            }
            if (rc != SMTPCORE_ERR_INVALID_STATE)
                return fail("the engine refused MAIL behind the dot");
        }
        if (n == 0)
            return 0;
        ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
        if (w < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : fail("send failed");
        smtpcore_client_consume(k->c, (size_t)w);
        if (k->in_body && push_body(k) != 0)
            return -1;
    }
}

/* Returns 1 when the connection is finished, -1 on an error. */
static int on_readable(conn *k)
{
    ssize_t n = recv(k->fd, k->in + k->in_len, sizeof k->in - k->in_len, 0);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : fail("recv failed");
    if (n == 0) {
        smtpcore_client_receive_eof(k->c);
        return events(k) < 0 ? -1 : 1;
    }
    k->in_len += (size_t)n;
    size_t used = 0;
    if (smtpcore_client_receive(k->c, k->in, k->in_len, &used) != SMTPCORE_OK)
        return fail("the engine refused the server's input");
    memmove(k->in, k->in + used, k->in_len - used);
    k->in_len -= used;
    return events(k);
}

static int connect_to(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST:PORT MESSAGES SESSIONS SIZE\n", argv[0]);
        return 2;
    }
    char host[64];
    const char *colon = strrchr(argv[1], ':');
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof host)
        return 2;
    memcpy(host, argv[1], (size_t)(colon - argv[1]));
    host[colon - argv[1]] = '\0';
    sa.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return 2;
    size_t messages = strtoul(argv[2], NULL, 10);
    size_t sessions = strtoul(argv[3], NULL, 10);
    size_t size = strtoul(argv[4], NULL, 10);
    if (sessions == 0 || sessions > MAX_SESSIONS || messages < sessions || size < 2)
        return 2;

    /* The body: lines of up to 76 characters, like smtp-source -l SIZE. */
    char *body = malloc(size);
    if (body == NULL)
        return 1;
    for (size_t i = 0; i < size; i++)
        body[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : 'x';
    body[size - 2] = '\r';
    body[size - 1] = '\n';
    g_body = body;
    g_body_len = size;

    static conn conns[MAX_SESSIONS];
    struct pollfd pfd[MAX_SESSIONS];
    smtpcore_client_config cfg;
    smtpcore_client_config_init(&cfg);
    cfg.helo_name = "bench.example.org";
    for (size_t i = 0; i < sessions; i++) {
        conn *k = &conns[i];
        k->left = messages / sessions + (i < messages % sessions ? 1 : 0);
        k->fd = connect_to(&sa);
        if (k->fd < 0 || smtpcore_client_new(&k->c, &cfg) != SMTPCORE_OK) {
            perror("bench_loadgen: connect");
            return 1;
        }
    }
    size_t open_n = sessions;
    int status = 0;
    while (open_n > 0) {
        for (size_t i = 0; i < sessions; i++) {
            const char *p;
            pfd[i].fd = conns[i].fd;
            pfd[i].events = (short)(POLLIN | (conns[i].fd >= 0 &&
                                     smtpcore_client_output(conns[i].c, &p) > 0 ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        if (poll(pfd, (nfds_t)sessions, 30000) <= 0) {
            fail("no progress for 30 s");
            status = 1;
            break;
        }
        for (size_t i = 0; i < sessions; i++) {
            conn *k = &conns[i];
            if (k->fd < 0 || pfd[i].revents == 0)
                continue;
            int rc = 0;
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                rc = on_readable(k);
            if (rc == 0)
                rc = write_out(k);
            if (rc != 0) {
                if (rc < 0)
                    status = 1;
                close(k->fd);
                k->fd = -1;
                open_n--;
            }
        }
    }
    for (size_t i = 0; i < sessions; i++) {
        if (conns[i].fd >= 0)
            close(conns[i].fd);
        smtpcore_client_del(conns[i].c);
    }
    free(body);
    if (g_ok != messages || g_failed != 0) {
        fprintf(stderr, "bench_loadgen: %zu of %zu messages accepted, %zu refused\n", g_ok,
                messages, g_failed);
        status = 1;
    }
    return status;
}
