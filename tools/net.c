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
    } else {
        snprintf(out, cap, "unknown");
    }
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

int tool_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t err_cap)
{
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
