/* SPDX-License-Identifier: MIT */
/* smtpcore-sink --workers N: a supervisor process and N worker processes that share
 * nothing but the listening address (and the maildir, whose file names carry the pid). */
#ifndef SMTPCORE_TOOLS_WORKERS_H
#define SMTPCORE_TOOLS_WORKERS_H

#include "sink.h"

/** How the workers get their connections. */
typedef enum sink_worker_socket {
    SINK_WORKER_REUSEPORT = 0, /**< one SO_REUSEPORT listener per worker (default) */
    SINK_WORKER_SHARED = 1     /**< one listener opened before the fork, shared by all */
} sink_worker_socket;

/** What a worker does: the same steps as the single-process sink. */
typedef struct sink_worker_ops {
    /** Engine configuration, TLS, maildir, storage thread. 0 or -1 (message printed). */
    int (*setup)(sink_ctx *ctx);
    /** The accept/serve loop until shutdown; closes @p lfd. Returns the exit status. */
    int (*serve)(sink_ctx *ctx, int lfd, int sfd);
    /** Releases what setup() opened. */
    void (*cleanup)(sink_ctx *ctx);
} sink_worker_ops;

/**
 * Runs ctx->opt.workers worker processes and supervises them: prints "listening on" once
 * every worker is ready, forwards SIGTERM/SIGINT to all of them, and prints one summary
 * with the totals when the last one has exited. The caller has blocked SIGTERM and
 * SIGINT. Returns the exit status: 0 when every worker stopped cleanly, 1 otherwise.
 */
int sink_workers_main(sink_ctx *ctx, const sink_worker_ops *ops);

#endif
