/* SPDX-License-Identifier: MIT */
/* bench_floor_sink: the least work any SMTP server could do under smtp-source, measured
 * beside smtpcore-sink and Postfix smtp-sink in row 6 (bench/sink_vs_postfix.sh).
 *
 * Why it is the floor: it has the readiness loop of smtpcore-sink (one thread,
 * non-blocking sockets, poll, read until a short read, one send per batch of replies)
 * and nothing else. There is no SMTP engine: it answers the greeting, each complete
 * command line with a canned reply chosen by its first four letters (EHLO: a 250 with
 * PIPELINING and CHUNKING; HELO, MAIL, RCPT, RSET, NOOP: 250; DATA: 354; QUIT: 221 and
 * close), and in DATA it only looks for the end of data (CRLF.CRLF, across reads) and
 * answers 250. CHUNKING is offered because bench_loadgen (the pipelined shape) uses BDAT
 * when smtpcore-sink offers it: the same load needs the same offer; a chunk is skipped
 * by its length and answered 250. No parsing of addresses, no limits beyond its buffers, no state beyond
 * "command or content", no logging. Every system call it makes is one the load forces
 * on any server (one read per request that arrives alone, one write per reply the
 * client waits for, poll when nothing is ready, accept and close per connection), so
 * its CPU per message is what the kernel charges for smtp-source's round trips, and its
 * ratio to smtp-sink is the lowest any server could reach in row 6.
 *
 * It is a benchmark program, not a server for users: it accepts anything and checks
 * nothing. Memory is bounded (MAX_CONNS connections, fixed buffers each; a command line
 * longer than LINE_MAX is answered 500 and skipped).
 *
 * The options switch one thing each, so the floor can be compared with itself (task 3
 * of issue 15 row 6): --loop epoll / epoll-et (epoll, level- or edge-triggered, instead
 * of poll), --nodelay (TCP_NODELAY), --quickack (TCP_QUICKACK after every read),
 * --reread (after a send, read once more before waiting: the next command may already
 * be there).
 *
 * Usage: bench_floor_sink [--listen HOST:PORT] [--loop poll|epoll|epoll-et] [--nodelay]
 *                         [--quickack] [--reread]
 * Prints "listening on HOST:PORT" on stdout (port 0 picks a free port); stops on
 * SIGTERM or SIGINT (their default action). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    MAX_CONNS = 1024,
    IN_CAP = 16384,  /* as smtpcore-sink's host buffer: the same read sizes */
    OUT_CAP = 4096,
    REPLY_MAX = 64,  /* the longest canned reply, with room to spare */
    LINE_MAX_ = 1000,
    ACCEPTS = 64     /* accepts per wake-up, as smtpcore-sink */
};

typedef enum loop_kind { LOOP_POLL, LOOP_EPOLL, LOOP_EPOLL_ET } loop_kind;

typedef struct options {
    loop_kind loop;
    int nodelay;
    int quickack;
    int reread;
} options;

typedef struct fconn {
    int fd;
    int dead;
    int closing;     /* QUIT answered: close once the output is written */
    int in_data;     /* between 354 and the final dot */
    size_t bdat_left;/* bytes of a BDAT chunk still to skip */
    int eod;         /* CRLF.CRLF matched so far: 0 none, 1 CR, 2 CRLF, 3 CRLF., 4 CRLF.CR */
    int discard;     /* a command line over LINE_MAX: skip to its LF, then 500 */
    int want_out;    /* output blocked: waiting for the socket to be writable */
    size_t in_len;   /* bytes in in[] not yet handled (a partial command line, or input
                      * held back while the output buffer was full) */
    size_t out_off, out_len;
    char in[IN_CAP];
    char out[OUT_CAP];
} fconn;

static const char RE_GREETING[] = "220 localhost ESMTP floor\r\n";
static const char RE_EHLO[] = "250-localhost\r\n250-PIPELINING\r\n250 CHUNKING\r\n";
static const char RE_HELO[] = "250 localhost\r\n";
static const char RE_OK[] = "250 2.0.0 Ok\r\n";
static const char RE_DATA[] = "354 End data with <CR><LF>.<CR><LF>\r\n";
static const char RE_QUEUED[] = "250 2.0.0 Ok: queued\r\n";
static const char RE_BYE[] = "221 2.0.0 Bye\r\n";
static const char RE_UNKNOWN[] = "502 5.5.2 Error: command not recognized\r\n";
static const char RE_TOO_LONG[] = "500 5.5.0 Error: line too long\r\n";

static void reply(fconn *c, const char *r, size_t n)
{
    /* Callers stop before the buffer can fill (out_room); REPLY_MAX covers every reply. */
    memcpy(c->out + c->out_len, r, n);
    c->out_len += n;
}
#define REPLY(c, lit) reply((c), (lit), sizeof(lit) - 1)

static size_t out_room(const fconn *c) { return OUT_CAP - c->out_len; }

/* The first four letters of a command line, lowercased, as one number. */
static unsigned verb(const char *p, size_t n)
{
    if (n < 4)
        return 0;
    return (unsigned)((p[0] | 0x20) & 0xff) << 24 | (unsigned)((p[1] | 0x20) & 0xff) << 16 |
           (unsigned)((p[2] | 0x20) & 0xff) << 8 | (unsigned)((p[3] | 0x20) & 0xff);
}
#define VERB(s) ((unsigned)(s)[0] << 24 | (unsigned)(s)[1] << 16 | (unsigned)(s)[2] << 8 | \
                 (unsigned)(s)[3])

static void command(fconn *c, const char *line, size_t n)
{
    unsigned v = verb(line, n);
    if (v == VERB("ehlo")) {
        REPLY(c, RE_EHLO);
    } else if (v == VERB("helo")) {
        REPLY(c, RE_HELO);
    } else if (v == VERB("mail") || v == VERB("rcpt") || v == VERB("rset") ||
               v == VERB("noop")) {
        REPLY(c, RE_OK);
    } else if (v == VERB("data")) {
        REPLY(c, RE_DATA);
        c->in_data = 1;
        c->eod = 2; /* content starts at the beginning of a line */
    } else if (v == VERB("bdat")) {
        /* "BDAT <size> [LAST]": the size only; the chunk is answered once skipped. */
        size_t size = 0;
        int digits = 0;
        for (size_t i = 5; i < n && line[i] >= '0' && line[i] <= '9' && digits < 12; i++, digits++)
            size = size * 10 + (size_t)(line[i] - '0');
        if (digits == 0 || line[4] != ' ') {
            REPLY(c, RE_UNKNOWN);
        } else if (size == 0) {
            REPLY(c, RE_OK);
        } else {
            c->bdat_left = size;
        }
    } else if (v == VERB("quit")) {
        REPLY(c, RE_BYE);
        c->closing = 1;
    } else {
        REPLY(c, RE_UNKNOWN);
    }
}

/* Message content from p: returns how many bytes it used (all, or up to the end of data). */
static size_t content(fconn *c, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (c->eod == 0) {
            /* Most content is inside lines: skip to the next CR at memchr's speed. */
            const char *cr = memchr(p + i, '\r', n - i);
            if (cr == NULL)
                return n;
            i = (size_t)(cr - p);
        }
        char b = p[i++];
        switch (c->eod) {
        case 0: c->eod = 1; break; /* b is the CR memchr found */
        case 1: c->eod = b == '\n' ? 2 : b == '\r' ? 1 : 0; break;
        case 2: c->eod = b == '.' ? 3 : b == '\r' ? 1 : 0; break;
        case 3: c->eod = b == '\r' ? 4 : 0; break;
        default:
            if (b == '\n') {
                c->in_data = 0;
                c->eod = 0;
                REPLY(c, RE_QUEUED);
                return i;
            }
            c->eod = b == '\r' ? 1 : 0;
            break;
        }
    }
    return n;
}

/* Handles what it can of in[]: whole command lines and content, until the input runs out,
 * the output buffer could not take another reply, or QUIT. Keeps the rest at the front. */
static void process(fconn *c)
{
    size_t pos = 0;
    while (pos < c->in_len && !c->closing && out_room(c) >= REPLY_MAX) {
        if (c->in_data) {
            pos += content(c, c->in + pos, c->in_len - pos);
            continue;
        }
        if (c->bdat_left > 0) {
            size_t take = c->in_len - pos < c->bdat_left ? c->in_len - pos : c->bdat_left;
            pos += take;
            c->bdat_left -= take;
            if (c->bdat_left == 0)
                REPLY(c, RE_OK);
            continue;
        }
        const char *line = c->in + pos;
        const char *lf = memchr(line, '\n', c->in_len - pos);
        if (lf == NULL) {
            if (c->in_len - pos > LINE_MAX_) {
                c->discard = 1;
                pos = c->in_len;
            }
            break;
        }
        size_t n = (size_t)(lf - line) + 1;
        if (c->discard || n > LINE_MAX_) {
            c->discard = 0;
            REPLY(c, RE_TOO_LONG);
        } else {
            command(c, line, n);
        }
        pos += n;
    }
    if (c->closing)
        pos = c->in_len; /* nothing after QUIT is answered */
    if (pos > 0) {
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
}

/* Sends the pending output: 1 when all of it went, 0 when the socket is full, -1 dead. */
static int flush(fconn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                c->want_out = 1;
                return 0;
            }
            c->dead = 1;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    c->want_out = 0;
    return 1;
}

/* One wake-up of a connection: read until a short read (it emptied the socket, so the
 * next read would only say EAGAIN), handle each read, one send for the batch. */
static void conn_run(fconn *c, const options *o)
{
    if (c->want_out && flush(c) <= 0)
        return;
    int drained = 0;
    for (;;) {
        process(c);
        if (c->closing)
            break;
        if (out_room(c) < REPLY_MAX) {
            if (flush(c) <= 0)
                return;
            continue;
        }
        if (drained || c->in_len >= IN_CAP)
            break;
        size_t cap = IN_CAP - c->in_len;
        ssize_t n = recv(c->fd, c->in + c->in_len, cap, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n <= 0) {
            c->dead = 1; /* EOF or reset: the client is gone */
            return;
        }
        if (o->quickack) {
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        if ((size_t)n < cap)
            drained = 1;
        c->in_len += (size_t)n;
        if (drained && o->reread && c->out_len > 0) {
            /* Variant: answer now and read again at once, before waiting. */
            process(c);
            if (flush(c) <= 0)
                return;
            if (!c->closing)
                drained = 0;
        }
    }
    if (c->out_len > 0 && flush(c) <= 0)
        return;
    if (c->closing)
        c->dead = 1;
}

static fconn *conn_new(int fd, const options *o)
{
    fconn *c = malloc(sizeof *c);
    if (c == NULL) {
        close(fd);
        return NULL;
    }
    c->fd = fd;
    c->dead = c->closing = c->in_data = c->eod = c->discard = c->want_out = 0;
    c->bdat_left = 0;
    c->in_len = c->out_off = c->out_len = 0;
    int one = 1;
    if (o->nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    REPLY(c, RE_GREETING);
    (void)flush(c); /* the greeting goes out at once; a client speaks after it */
    return c;
}

static void conn_free(fconn *c)
{
    close(c->fd);
    free(c);
}

typedef struct loop {
    const options *o;
    int lfd;
    int ep;           /* epoll descriptor, -1 with poll */
    fconn **conns;    /* poll: the live connections */
    size_t nconns;    /* live connections (both loops) */
    struct pollfd *pfd;
} loop;

static uint32_t ep_events(const loop *l, const fconn *c)
{
    if (l->o->loop == LOOP_EPOLL_ET)
        return EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
    return c->want_out ? EPOLLOUT : EPOLLIN;
}

static void accept_all(loop *l)
{
    for (int k = 0; k < ACCEPTS; k++) {
        int fd = accept4(l->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (l->nconns >= MAX_CONNS) {
            close(fd);
            continue;
        }
        fconn *c = conn_new(fd, l->o);
        if (c == NULL)
            continue;
        if (c->dead) {
            conn_free(c);
            continue;
        }
        if (l->ep >= 0) {
            struct epoll_event ev = { .events = ep_events(l, c), .data.ptr = c };
            if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
                conn_free(c);
                continue;
            }
        } else {
            l->conns[l->nconns] = c;
        }
        l->nconns++;
    }
}

static int run_poll(loop *l)
{
    for (;;) {
        l->pfd[0] = (struct pollfd){ .fd = l->lfd, .events = POLLIN, .revents = 0 };
        for (size_t i = 0; i < l->nconns; i++)
            l->pfd[i + 1] = (struct pollfd){ .fd = l->conns[i]->fd,
                                             .events = l->conns[i]->want_out ? POLLOUT : POLLIN,
                                             .revents = 0 };
        if (poll(l->pfd, l->nconns + 1, -1) < 0 && errno != EINTR) {
            perror("bench_floor_sink: poll");
            return 1;
        }
        size_t n = l->nconns;
        for (size_t i = 0; i < n; i++)
            if (l->pfd[i + 1].revents != 0)
                conn_run(l->conns[i], l->o);
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            if (l->conns[i]->dead)
                conn_free(l->conns[i]);
            else
                l->conns[w++] = l->conns[i];
        }
        l->nconns = w;
        if (l->pfd[0].revents & POLLIN)
            accept_all(l);
    }
}

static int run_epoll(loop *l)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, l->lfd, &ev) != 0) {
        perror("bench_floor_sink: epoll_ctl");
        return 1;
    }
    struct epoll_event evs[64];
    for (;;) {
        int n = epoll_wait(l->ep, evs, 64, -1);
        if (n < 0 && errno != EINTR) {
            perror("bench_floor_sink: epoll_wait");
            return 1;
        }
        int listener = 0;
        for (int i = 0; i < n; i++) {
            fconn *c = evs[i].data.ptr;
            if (c == NULL) {
                listener = 1;
                continue;
            }
            int was_out = c->want_out;
            conn_run(c, l->o);
            if (c->dead) {
                conn_free(c); /* closing the descriptor takes it out of the epoll set */
                l->nconns--;
                continue;
            }
            if (l->o->loop == LOOP_EPOLL && was_out != c->want_out) {
                struct epoll_event mod = { .events = ep_events(l, c), .data.ptr = c };
                if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &mod) != 0)
                    c->dead = 1;
            }
            if (c->dead) {
                conn_free(c);
                l->nconns--;
            }
        }
        if (listener)
            accept_all(l);
    }
}

static int listen_on(const char *spec)
{
    char host[64];
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host)
        return -1;
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    char *end = NULL;
    unsigned long port = strtoul(colon + 1, &end, 10);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (*end != '\0' || port > 65535 || inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 512) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
    printf("listening on %s:%u\n", ip, (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_floor_sink [--listen HOST:PORT] [--loop poll|epoll|epoll-et] "
                    "[--nodelay] [--quickack] [--reread]\n");
    return 2;
}

int main(int argc, char **argv)
{
    options o = { LOOP_POLL, 0, 0, 0 };
    const char *addr = "127.0.0.1:2526";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            addr = argv[++i];
        } else if (!strcmp(argv[i], "--loop") && i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(v, "poll"))
                o.loop = LOOP_POLL;
            else if (!strcmp(v, "epoll"))
                o.loop = LOOP_EPOLL;
            else if (!strcmp(v, "epoll-et"))
                o.loop = LOOP_EPOLL_ET;
            else
                return usage();
        } else if (!strcmp(argv[i], "--nodelay")) {
            o.nodelay = 1;
        } else if (!strcmp(argv[i], "--quickack")) {
            o.quickack = 1;
        } else if (!strcmp(argv[i], "--reread")) {
            o.reread = 1;
        } else {
            return usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    int lfd = listen_on(addr);
    if (lfd < 0) {
        fprintf(stderr, "bench_floor_sink: cannot listen on %s\n", addr);
        return 1;
    }
    loop l = { .o = &o, .lfd = lfd, .ep = -1, .conns = NULL, .nconns = 0, .pfd = NULL };
    int rc;
    if (o.loop == LOOP_POLL) {
        l.conns = calloc(MAX_CONNS, sizeof *l.conns);
        l.pfd = calloc(MAX_CONNS + 1, sizeof *l.pfd);
        if (l.conns == NULL || l.pfd == NULL) {
            fprintf(stderr, "bench_floor_sink: out of memory\n");
            return 1;
        }
        rc = run_poll(&l);
    } else {
        l.ep = epoll_create1(EPOLL_CLOEXEC);
        if (l.ep < 0) {
            perror("bench_floor_sink: epoll_create1");
            return 1;
        }
        rc = run_epoll(&l);
    }
    free(l.conns);
    free(l.pfd);
    close(lfd);
    return rc;
}
