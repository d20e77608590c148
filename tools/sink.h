/* SPDX-License-Identifier: MIT */
/* smtpcore-sink internals shared by the main loop (sink.c) and the per-connection
 * protocol pump (sink_conn.c). */
#ifndef SMTPCORE_TOOLS_SINK_H
#define SMTPCORE_TOOLS_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <smtpcore/smtpcore.h>

#include "auth_file.h"
#include "cidr.h"
#include "maildir.h"
#include "net.h"
#include "sink_limits.h"
#include "sink_lmtp.h"
#include "store.h"
#include "tls.h"

/** Command-line settings. */
typedef struct sink_options {
    char host[256];          /**< --listen address, or "unix:PATH". */
    uint16_t port;           /**< --listen port (0: any free port). */
    unsigned socket_mode;    /**< --socket-mode of a unix: listener. */
    sink_lmtp_opts lmtp;     /**< --lmtp and its --lmtp-refuse rules. */
    const char *maildir;     /**< --maildir, NULL to discard messages. */
    uint64_t max_size;       /**< --max-size (0: unlimited). */
    uint32_t max_rcpt;       /**< --max-rcpt. */
    const char *tls_cert;    /**< --tls-cert. */
    const char *tls_key;     /**< --tls-key. */
    const char *auth_file;   /**< --auth-file. */
    int auth_plaintext;      /**< --auth-plaintext. */
    int require_helo;        /**< --require-helo. */
    int bare_lf_accept;      /**< --bare-lf accept. */
    int quiet;               /**< --quiet. */
    int verbose;             /**< --verbose: log protocol errors and connections too. */
    const char *hostname;    /**< --hostname for the greeting. */
    uint32_t max_conn;       /**< --max-conn. */
    uint32_t timeout_s;      /**< --timeout (idle seconds). */
    uint32_t command_timeout_s; /**< --command-timeout (0: off). */
    uint32_t content_timeout_s; /**< --content-timeout (0: off). */
    uint32_t min_content_rate;  /**< --min-content-rate, bytes/s. */
    uint32_t auth_failure_delay_ms; /**< --auth-failure-delay. */
    uint32_t max_auth_failures;     /**< --max-auth-failures (per session; 0: no limit). */
    uint32_t max_auth_failures_per_address; /**< --max-auth-failures-per-address (0: off). */
    uint32_t auth_failure_window_s; /**< --auth-failure-window. */
    uint32_t grace_s;        /**< --grace (seconds in-flight messages get at shutdown). */
    uint32_t workers;        /**< --workers (processes; 1: no supervisor). */
    int worker_socket;       /**< --worker-socket: a sink_worker_socket (workers.h). */
    smtpcore_sync_policy sync_policy; /**< --forbid-pipelining (default unauth). */
    int nul_accept;          /**< --nul accept. */
    int proxy_protocol;      /**< --proxy-protocol: an smtpcore_proxy_mode. */
    tool_cidr xclient_from[32]; /**< --xclient-from networks. */
    size_t n_xclient_from;   /**< Entries used in xclient_from. */
} sink_options;

/** Process-wide state, passed explicitly (no globals). */
typedef struct sink_ctx {
    sink_options opt;            /**< Settings. */
    smtpcore_server_config cfg;  /**< Engine configuration for every session. */
    SSL_CTX *tls;                /**< Server TLS context, NULL without --tls-cert. */
    tool_maildir md;             /**< Open maildir when opt.maildir is set. */
    sink_store store;            /**< Storage thread when opt.maildir is set. */
    tool_unix_file unix_file;    /**< The unix: listener's socket file, removed on exit. */
    tool_auth_file auth;         /**< Credentials when opt.auth_file is set. */
    int stopping;                /**< SIGTERM/SIGINT seen. */
    uint64_t conn_seq;           /**< Connection ids. */
    uint64_t id_step;            /**< Id increment (the number of workers: ids stay unique). */
    uint64_t stored;             /**< Messages acknowledged with 250. */
    uint64_t refused;            /**< Messages refused or aborted (451s included). */
    uint64_t failed;             /**< ...of which refused with 451 (storage failed). */
    sink_limits *limits;         /**< AUTH failures per client address. */
    int spare_fd;                /**< Kept free to answer 421 when accept() hits EMFILE. */
    int fd_episode;              /**< accept() is failing for lack of descriptors. */
    int64_t accept_resume;       /**< While > now: the listener is not polled. */
    uint64_t connections;        /**< Connections accepted. */
    int flush_fallbacks;         /**< Times output was written without the flush hint. */
} sink_ctx;

/** ", N of them with 451" for the shutdown summary when storing failed N times, else "".
 *  The text lives in a static buffer (the summary is printed once, at exit). */
const char *sink_failed_note(uint64_t failed);

typedef struct sink_conn sink_conn;

/** Creates a connection for an accepted socket. NULL when out of memory or the engine
 *  refused the configuration (the socket is then closed). */
sink_conn *sink_conn_new(sink_ctx *ctx, int fd, const struct sockaddr *peer);

/** Runs the connection as far as it can go without blocking. */
void sink_conn_run(sink_ctx *ctx, sink_conn *c, int64_t now_ms);

/** The socket fd and the poll events the connection waits for. */
int sink_conn_fd(const sink_conn *c);
/** Poll events wanted (POLLIN/POLLOUT). */
short sink_conn_events(const sink_conn *c);
/** Nonzero when the connection can make progress without waiting for the socket. */
int sink_conn_busy(const sink_conn *c);
/** Nonzero when the connection is finished and may be freed. */
int sink_conn_dead(const sink_conn *c);
/** Ends connections whose idle timeout or command/content deadline passed (421 4.4.2,
 *  see sink_conn.c); nonzero when it did. */
int sink_conn_check_idle(sink_ctx *ctx, sink_conn *c, int64_t now_ms);
/** When the connection wants to run again without socket activity (the pause after a
 *  failed AUTH ends), or 0. */
int64_t sink_conn_wake(const sink_conn *c);
/** Starts the shutdown of one connection (SIGTERM): idle ones get 421 and close;
 *  a message in flight finishes first. */
void sink_conn_shutdown(sink_ctx *ctx, sink_conn *c);
/** Forces a connection closed (grace period over): an unacknowledged message is removed. */
void sink_conn_abort(sink_ctx *ctx, sink_conn *c);
/** A message handed to the storage thread came back: answer it (250 or 451). */
void sink_conn_store_done(sink_ctx *ctx, sink_conn *c, int result);
/** Frees the connection and closes its socket. */
void sink_conn_free(sink_ctx *ctx, sink_conn *c);

#endif
