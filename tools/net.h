/* Sockets for the tools: listen/connect on numeric or named hosts, non-blocking mode,
 * deadlines. Every wait is bounded by a deadline in milliseconds of CLOCK_MONOTONIC. */
#ifndef SMTPCORE_TOOLS_NET_H
#define SMTPCORE_TOOLS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/** Milliseconds of CLOCK_MONOTONIC. */
int64_t tool_now_ms(void);

/** Puts @p fd into non-blocking mode. Returns 0 or -1. */
int tool_set_nonblock(int fd);

/**
 * Opens a non-blocking listening socket. When @p port is 0 the kernel picks one.
 * @param bound receives "ADDR:PORT" of the socket actually bound.
 * Returns the fd, or -1 with a message in @p err.
 */
int tool_listen(const char *host, uint16_t port, char *bound, size_t bound_cap, char *err,
                size_t err_cap);

/**
 * tool_listen() with SO_REUSEPORT set when @p reuseport is nonzero, so that several
 * sockets (one per worker process) can listen on the same address and the kernel spreads
 * the connections over them.
 */
int tool_listen_ex(const char *host, uint16_t port, int reuseport, char *bound,
                   size_t bound_cap, char *err, size_t err_cap);

/**
 * Connects to HOST:PORT within @p timeout_ms. The returned fd is non-blocking.
 * Returns the fd, or -1 with a message in @p err.
 */
int tool_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t err_cap);

/**
 * Waits until @p fd is ready for @p events (POLLIN/POLLOUT) or the deadline passes.
 * Returns 1 ready, 0 timed out, -1 error.
 */
int tool_wait(int fd, short events, int64_t deadline_ms);

/** Formats a socket address as "ADDR:PORT" (IPv6 in brackets). */
void tool_addr_str(const struct sockaddr *sa, char *out, size_t cap);

/** Formats the numeric local address of @p fd (no port) into @p out. Returns 0 or -1. */
int tool_local_ip(int fd, char *out, size_t cap);

#endif
