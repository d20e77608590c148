/* SPDX-License-Identifier: MIT */
/* smtpcore-sink --workers N: fork N single-process sinks, supervise them, add up their
 * totals.
 *
 * Why processes and not threads: a session already shares nothing with another session
 * (one smtpcore_server each, no global state in the engine), so a worker is just the
 * single-process sink started N times; nothing needs a lock, and a crash stays in one
 * worker. The listening sockets are opened here, before the fork, so a bad --listen is
 * reported once and "listening on" is printed only when every worker can accept.
 *
 * Each worker sends the supervisor two fixed-size records over one pipe (writes of less
 * than PIPE_BUF are atomic, so records from different workers never interleave): READY
 * after its setup, STATS with its counters after its loop ended. */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"

enum { REC_READY = 1, REC_FAILED = 2, REC_STATS = 3 };

typedef struct worker_rec {
    uint32_t kind;
    uint32_t worker;
    uint64_t connections;
    uint64_t stored;
    uint64_t refused;
    uint64_t failed;
} worker_rec;

typedef struct worker {
    pid_t pid;      /* 0 once reaped */
    int lfd;        /* its listener until forked (the supervisor closes its copy) */
    int ready;
    int status_ok;  /* exited 0 */
} worker;

static void send_rec(int fd, uint32_t kind, uint32_t w, const sink_ctx *ctx)
{
    worker_rec r = { .kind = kind, .worker = w, .connections = ctx->connections,
                     .stored = ctx->stored, .refused = ctx->refused, .failed = ctx->failed };
    /* One write below PIPE_BUF: all or nothing. If the supervisor is gone there is no
     * one to tell. */
    ssize_t n = write(fd, &r, sizeof r);
    (void)n;
}

/* The life of worker @p w in the child process; never returns. */
static void worker_life(sink_ctx *ctx, const sink_worker_ops *ops, uint32_t w, int lfd,
                        int rec_fd, pid_t supervisor)
{
    /* If the supervisor is killed outright, stop as if it had forwarded SIGTERM. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != supervisor)
        _exit(1);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_UNBLOCK, &chld, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    /* Connection ids stay unique across workers: worker w numbers w+N, w+2N, ... */
    ctx->conn_seq = w;
    ctx->id_step = ctx->opt.workers;
    /* A unix: socket file belongs to the supervisor, which removes it at the end. */
    memset(&ctx->unix_file, 0, sizeof ctx->unix_file);
    if (sfd < 0 || ops->setup(ctx) != 0) {
        send_rec(rec_fd, REC_FAILED, w, ctx);
        _exit(1);
    }
    send_rec(rec_fd, REC_READY, w, ctx);
    int rc = ops->serve(ctx, lfd, sfd);
    ops->cleanup(ctx);
    close(sfd);
    send_rec(rec_fd, REC_STATS, w, ctx);
    fflush(stderr);
    _exit(rc);
}

/* Opens the listeners: one per worker with SO_REUSEPORT, or one shared. The first one
 * decides the port when --listen asked for port 0. Returns 0 or -1 (message printed). */
static int open_listeners(sink_ctx *ctx, worker *ws, uint32_t n, char *bound, size_t cap)
{
    /* A unix: socket is always shared: SO_REUSEPORT does not apply to a socket path. */
    int unix_path = tool_is_unix(ctx->opt.host);
    int reuse = ctx->opt.worker_socket == SINK_WORKER_REUSEPORT && !unix_path;
    uint16_t port = ctx->opt.port;
    char err[512];
    for (uint32_t i = 0; i < n; i++) {
        if (!reuse && i > 0) {
            ws[i].lfd = ws[0].lfd;
            continue;
        }
        ws[i].lfd = unix_path ? tool_listen_unix(ctx->opt.host + 5, ctx->opt.socket_mode,
                                                 &ctx->unix_file, bound, cap, err, sizeof err)
                              : tool_listen_ex(ctx->opt.host, port, reuse, bound, cap, err,
                                               sizeof err);
        if (ws[i].lfd < 0) {
            fprintf(stderr, "smtpcore-sink: %s\n", err);
            return -1;
        }
        if (i == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            if (getsockname(ws[0].lfd, (struct sockaddr *)&ss, &sl) != 0)
                return -1;
            if (ss.ss_family == AF_INET)
                port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
            else if (ss.ss_family == AF_INET6)
                port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
        }
    }
    return 0;
}

static void close_listeners(sink_ctx *ctx, worker *ws, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        if (ws[i].lfd >= 0 && (i == 0 || (ctx->opt.worker_socket == SINK_WORKER_REUSEPORT &&
                                          !tool_is_unix(ctx->opt.host))))
            close(ws[i].lfd);
        ws[i].lfd = -1;
    }
}

static void signal_all(worker *ws, uint32_t n, int sig)
{
    for (uint32_t i = 0; i < n; i++)
        if (ws[i].pid > 0)
            kill(ws[i].pid, sig);
}

/* Reaps exited workers. Returns how many are still running. */
static uint32_t reap(worker *ws, uint32_t n, int stopping, int quiet)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (uint32_t i = 0; i < n; i++) {
            if (ws[i].pid != pid)
                continue;
            ws[i].pid = 0;
            ws[i].status_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            if (!ws[i].status_ok || (!stopping && !quiet)) {
                if (WIFSIGNALED(st))
                    fprintf(stderr, "smtpcore-sink: worker %u (pid %d) killed by signal %d\n",
                            i, (int)pid, WTERMSIG(st));
                else
                    fprintf(stderr, "smtpcore-sink: worker %u (pid %d) exited with status %d\n",
                            i, (int)pid, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
            }
        }
    }
    uint32_t alive = 0;
    for (uint32_t i = 0; i < n; i++)
        alive += ws[i].pid > 0;
    return alive;
}

int sink_workers_main(sink_ctx *ctx, const sink_worker_ops *ops)
{
    uint32_t n = ctx->opt.workers;
    worker *ws = calloc(n, sizeof *ws);
    if (ws == NULL)
        return 1;
    for (uint32_t i = 0; i < n; i++)
        ws[i].lfd = -1;
    char bound[128];
    int fds[2] = { -1, -1 };
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || open_listeners(ctx, ws, n, bound, sizeof bound) != 0 ||
        pipe2(fds, O_CLOEXEC) != 0 || tool_set_nonblock(fds[0]) != 0) {
        if (sfd < 0)
            perror("smtpcore-sink: signalfd");
        close_listeners(ctx, ws, n);
        tool_unix_file_remove(&ctx->unix_file);
        free(ws);
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t self = getpid();
    int failed = 0;
    for (uint32_t i = 0; i < n && !failed; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            close(sfd);
            close(fds[0]);
            for (uint32_t j = 0; j < n; j++)
                if (ws[j].lfd >= 0 && ws[j].lfd != ws[i].lfd)
                    close(ws[j].lfd);
            worker_life(ctx, ops, i, ws[i].lfd, fds[1], self);
        }
        if (pid < 0) {
            perror("smtpcore-sink: fork");
            failed = 1;
        }
        ws[i].pid = pid > 0 ? pid : 0;
    }
    /* Only the workers hold the listeners now: one that dies takes its own with it, so
     * the kernel stops sending it connections. */
    close_listeners(ctx, ws, n);
    close(fds[1]);

    uint64_t connections = 0, stored = 0, refused = 0, failed451 = 0;
    uint32_t nready = 0, alive = n;
    int stopping = failed;
    int64_t kill_deadline = 0;
    if (failed)
        signal_all(ws, n, SIGTERM);
    while (alive > 0) {
        struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN, .revents = 0 },
                                 { .fd = fds[0], .events = POLLIN, .revents = 0 } };
        int rc = poll(pfd, 2, 1000);
        if (rc < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGCHLD)
                    continue;
                if (!stopping && !ctx->opt.quiet)
                    fprintf(stderr, "smtpcore-sink: signal %u: stopping %u workers\n",
                            si.ssi_signo, n);
                stopping = 1;
                signal_all(ws, n, SIGTERM);
                tool_unix_file_remove(&ctx->unix_file); /* later clients fail at once */
            }
        }
        if (pfd[1].revents & (POLLIN | POLLHUP)) {
            worker_rec r;
            while (read(fds[0], &r, sizeof r) == (ssize_t)sizeof r) {
                if (r.worker >= n)
                    continue;
                if (r.kind == REC_READY && !ws[r.worker].ready) {
                    ws[r.worker].ready = 1;
                    if (++nready == n) {
                        printf("listening on %s\n", bound);
                        fflush(stdout);
                    }
                } else if (r.kind == REC_FAILED) {
                    failed = 1;
                } else if (r.kind == REC_STATS) {
                    connections += r.connections;
                    stored += r.stored;
                    refused += r.refused;
                    failed451 += r.failed;
                }
            }
        }
        uint32_t before = alive;
        alive = reap(ws, n, stopping, ctx->opt.quiet);
        if (alive < before && !stopping) {
            /* A worker that failed to start, or died, leaves the others serving only when
             * they were all up; at start-up it ends the whole server. */
            if (nready < n || failed) {
                failed = 1;
                stopping = 1;
                signal_all(ws, n, SIGTERM);
                tool_unix_file_remove(&ctx->unix_file); /* later clients fail at once */
            }
        }
        if (stopping && kill_deadline == 0)
            kill_deadline = tool_now_ms() + ((int64_t)ctx->opt.grace_s + 30) * 1000;
        if (kill_deadline != 0 && tool_now_ms() >= kill_deadline) {
            signal_all(ws, n, SIGKILL); /* a worker stuck past its grace period */
            failed = 1;
        }
    }
    tool_unix_file_remove(&ctx->unix_file);
    /* Drain the records of the last workers (written before they exited). */
    worker_rec r;
    while (read(fds[0], &r, sizeof r) == (ssize_t)sizeof r) {
        if (r.kind == REC_STATS) {
            connections += r.connections;
            stored += r.stored;
            refused += r.refused;
            failed451 += r.failed;
        } else if (r.kind == REC_FAILED) {
            failed = 1;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        failed |= !ws[i].status_ok;
    if (!ctx->opt.quiet)
        fprintf(stderr, "smtpcore-sink: stopped: %llu connections, %llu messages stored, "
                "%llu refused%s (%u workers)\n", (unsigned long long)connections,
                (unsigned long long)stored, (unsigned long long)refused,
                sink_failed_note(failed451), n);
    close(fds[0]);
    close(sfd);
    free(ws);
    return failed ? 1 : 0;
}
