/* SPDX-License-Identifier: MIT */
/* Socket plumbing shared by the tools. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int64_t tool_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int tool_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

void tool_addr_str(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(out, cap, "unix");
    } else {
        snprintf(out, cap, "unknown");
    }
}

int tool_endpoint(int fd, int remote, char *addr, size_t cap, uint16_t *port)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = remote ? getpeername(fd, (struct sockaddr *)&ss, &len)
                    : getsockname(fd, (struct sockaddr *)&ss, &len);
    if (rc != 0 || cap > (size_t)INT32_MAX)
        return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)&ss;
        *port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)cap) ? 0 : -1;
    }
    if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)&ss;
        *port = ntohs(in6->sin6_port);
        return inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)cap) ? 0 : -1;
    }
    return -1;
}

int tool_local_ip(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    const void *a = NULL;
    if (ss.ss_family == AF_INET)
        a = &((struct sockaddr_in *)(void *)&ss)->sin_addr;
    else if (ss.ss_family == AF_INET6)
        a = &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr;
    if (a == NULL || cap > (size_t)INT32_MAX)
        return -1;
    return inet_ntop(ss.ss_family, a, out, (socklen_t)cap) ? 0 : -1;
}

static struct addrinfo *resolve(const char *host, uint16_t port, int passive, char *err,
                                size_t err_cap)
{
    struct addrinfo hints, *res = NULL;
    char portstr[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, err_cap, "cannot resolve %s: %s", host, gai_strerror(rc));
        return NULL;
    }
    return res;
}

int tool_listen(const char *host, uint16_t port, char *bound, size_t bound_cap, char *err,
                size_t err_cap)
{
    return tool_listen_ex(host, port, 0, bound, bound_cap, err, err_cap);
}

int tool_listen_ex(const char *host, uint16_t port, int reuseport, char *bound,
                   size_t bound_cap, char *err, size_t err_cap)
{
    struct addrinfo *res = resolve(host, port, 1, err, err_cap);
    if (res == NULL)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            snprintf(err, err_cap, "SO_REUSEPORT: %s", strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 512) == 0 &&
            tool_set_nonblock(fd) == 0)
            break;
        snprintf(err, err_cap, "cannot listen on %s:%u: %s", host, (unsigned)port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
            tool_addr_str((struct sockaddr *)&ss, bound, bound_cap);
        else
            snprintf(bound, bound_cap, "%s:%u", host, (unsigned)port);
    }
    return fd;
}

int tool_is_unix(const char *host)
{
    return strncmp(host, "unix:", 5) == 0;
}

/* Fills a sockaddr_un; -1 when the path does not fit (no silent truncation). */
static int unix_addr(const char *path, struct sockaddr_un *un, char *err, size_t err_cap)
{
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof un->sun_path) {
        snprintf(err, err_cap, "bad socket path (1 to %zu bytes): %s", sizeof un->sun_path - 1,
                 path);
        return -1;
    }
    memcpy(un->sun_path, path, n + 1);
    return 0;
}

/* A blocking connect to a Unix-domain socket: 0 when something listens there. */
static int unix_alive(const struct sockaddr_un *un)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 1; /* cannot tell: assume alive, never remove what may be in use */
    int rc = connect(fd, (const struct sockaddr *)un, sizeof *un);
    int e = errno;
    close(fd);
    return rc == 0 || (e != ECONNREFUSED && e != ENOENT);
}

int tool_listen_unix(const char *path, unsigned mode, tool_unix_file *file, char *bound,
                     size_t bound_cap, char *err, size_t err_cap)
{
    memset(file, 0, sizeof *file);
    struct sockaddr_un un;
    if (unix_addr(path, &un, err, err_cap) != 0)
        return -1;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, err_cap, "%s exists and is not a socket", path);
            return -1;
        }
        if (unix_alive(&un)) {
            snprintf(err, err_cap, "%s: another server is listening there", path);
            return -1;
        }
        unlink(path); /* stale: its server is gone */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "socket: %s", strerror(errno));
        return -1;
    }
    /* bind() creates the file with the umask applied; chmod sets the mode asked for. The
     * window in between only ever has fewer permissions than asked. */
    if (bind(fd, (struct sockaddr *)&un, sizeof un) != 0) {
        snprintf(err, err_cap, "cannot listen on unix:%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(path, (mode_t)mode) != 0 || lstat(path, &st) != 0 || listen(fd, 512) != 0 ||
        tool_set_nonblock(fd) != 0) {
        snprintf(err, err_cap, "cannot listen on unix:%s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    memcpy(file->path, un.sun_path, sizeof file->path);
    file->dev = st.st_dev;
    file->ino = st.st_ino;
    snprintf(bound, bound_cap, "unix:%s", path);
    return fd;
}

void tool_unix_file_remove(tool_unix_file *file)
{
    struct stat there;
    if (file->path[0] != '\0' && lstat(file->path, &there) == 0 && S_ISSOCK(there.st_mode) &&
        there.st_ino == file->ino && there.st_dev == file->dev)
        unlink(file->path);
    memset(file, 0, sizeof *file);
}

int tool_wait(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - tool_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
        int rc = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

/* Connects to a Unix-domain socket. A local connect does not wait for a handshake: it
 * succeeds, fails, or (backlog full) says EAGAIN, which is retried until the deadline. */
static int connect_unix(const char *path, int timeout_ms, char *err, size_t err_cap)
{
    struct sockaddr_un un;
    if (unix_addr(path, &un, err, err_cap) != 0)
        return -1;
    int64_t deadline = tool_now_ms() + timeout_ms;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || tool_set_nonblock(fd) != 0) {
            snprintf(err, err_cap, "socket: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&un, sizeof un) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != EAGAIN || tool_now_ms() >= deadline) {
            snprintf(err, err_cap, "cannot connect to unix:%s: %s", path,
                     strerror(e == EAGAIN ? ETIMEDOUT : e));
            return -1;
        }
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep(&pause, NULL);
    }
}

int tool_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t err_cap)
{
    if (tool_is_unix(host))
        return connect_unix(host + 5, timeout_ms, err, err_cap);
    struct addrinfo *res = resolve(host, port, 0, err, err_cap);
    if (res == NULL)
        return -1;
    int64_t deadline = tool_now_ms() + timeout_ms;
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0 || tool_set_nonblock(fd) != 0) {
            snprintf(err, err_cap, "socket: %s", strerror(errno));
            if (fd >= 0)
                close(fd);
            fd = -1;
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            int w = tool_wait(fd, POLLOUT, deadline);
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                rc = 0;
            else
                errno = w == 0 ? ETIMEDOUT : (soerr ? soerr : errno);
        }
        if (rc == 0)
            break;
        snprintf(err, err_cap, "cannot connect to %s:%u: %s", host, (unsigned)port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}
