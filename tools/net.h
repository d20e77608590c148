/* SPDX-License-Identifier: MIT */
/* Sockets for the tools: listen/connect on numeric or named hosts, non-blocking mode,
 * deadlines. Every wait is bounded by a deadline in milliseconds of CLOCK_MONOTONIC. */
#ifndef SMTPCORE_TOOLS_NET_H
#define SMTPCORE_TOOLS_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

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

/** Nonzero when @p host names a Unix-domain socket ("unix:PATH"). */
int tool_is_unix(const char *host);

/** The file of a listening Unix-domain socket, identified so that it is removed only while
 *  it is still ours (fstat() on the socket fd describes the socket, not the file). */
typedef struct tool_unix_file {
    char path[108]; /**< Empty when there is nothing to remove. */
    dev_t dev;      /**< Device of the file after bind(). */
    ino_t ino;      /**< Inode of the file after bind(). */
} tool_unix_file;

/**
 * tool_listen() with SO_REUSEPORT set when @p reuseport is nonzero, so that several
 * sockets (one per worker process) can listen on the same address and the kernel spreads
 * the connections over them.
 */
int tool_listen_ex(const char *host, uint16_t port, int reuseport, char *bound,
                   size_t bound_cap, char *err, size_t err_cap);

/**
 * Opens a non-blocking listening Unix-domain socket at @p path with permissions @p mode.
 * A stale socket file left by a process that is gone is removed first; a live one (a
 * connect succeeds) or a file that is not a socket is an error, never removed.
 * @param file receives the socket file, for tool_unix_file_remove().
 * @param bound receives "unix:PATH".
 * Returns the fd, or -1 with a message in @p err.
 */
int tool_listen_unix(const char *path, unsigned mode, tool_unix_file *file, char *bound,
                     size_t bound_cap, char *err, size_t err_cap);

/** Removes the socket file, but only when the file at its path is still the one bound
 *  (another server may have replaced it since). Then clears @p file. */
void tool_unix_file_remove(tool_unix_file *file);

/**
 * Connects to HOST:PORT, or to the Unix-domain socket when @p host is "unix:PATH"
 * (@p port then unused), within @p timeout_ms. The returned fd is non-blocking.
 * Returns the fd, or -1 with a message in @p err.
 */
int tool_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t err_cap);

/**
 * Waits until @p fd is ready for @p events (POLLIN/POLLOUT) or the deadline passes.
 * Returns 1 ready, 0 timed out, -1 error.
 */
int tool_wait(int fd, short events, int64_t deadline_ms);

/** Formats a socket address as "ADDR:PORT" (IPv6 in brackets), or "unix" for a
 *  Unix-domain peer (accept() reports no name for those). */
void tool_addr_str(const struct sockaddr *sa, char *out, size_t cap);

/**
 * The numeric address (no brackets) and port of one end of a connected TCP socket:
 * @p remote nonzero for the peer, 0 for our own end. Returns 0, or -1 (not TCP/IP).
 */
int tool_endpoint(int fd, int remote, char *addr, size_t cap, uint16_t *port);

/** Formats the numeric local address of @p fd (no port) into @p out. Returns 0 or -1
 *  (also for a Unix-domain socket, which has no IP address). */
int tool_local_ip(int fd, char *out, size_t cap);

#endif
