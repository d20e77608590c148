/* SPDX-License-Identifier: MIT */
/* The sink's storage thread: fsync and rename run off the event loop, and messages that
 * finish together share one fsync of new/ (group commit), so one slow disk flush does not
 * stall every other session. A message is acknowledged only after its batch is durable. */
#ifndef SMTPCORE_TOOLS_STORE_H
#define SMTPCORE_TOOLS_STORE_H

#include <pthread.h>

#include "maildir.h"

/** One message to make durable. Owned by the submitter until it comes back done. */
typedef struct sink_store_job {
    struct sink_store_job *next; /**< Queue link. */
    tool_msgfile *msg;           /**< The message file (written, not yet synced). */
    void *owner;                 /**< The submitter's cookie (a connection). */
    int result;                  /**< 0 stored durably, -1 failed (file removed). */
    int err;                     /**< errno of the failure, 0 if unknown. */
} sink_store_job;

/** The worker and its two queues. */
typedef struct sink_store {
    tool_maildir *md;            /**< Where files go. */
    pthread_t thread;            /**< The worker. */
    pthread_mutex_t mu;          /**< Guards everything below. */
    pthread_cond_t cv;           /**< Signals new work or stop. */
    sink_store_job *todo;        /**< Submitted, in order. */
    sink_store_job *todo_tail;   /**< Last of @ref todo. */
    sink_store_job *done;        /**< Finished, any order. */
    int stop;                    /**< Finish the queue and exit. */
    int running;                 /**< The thread was started. */
    int notify[2];               /**< Pipe: a byte per finished batch, polled by the loop. */
    unsigned long batches;       /**< Directory fsyncs done. */
    unsigned long jobs;          /**< Messages stored. */
} sink_store;

/** Starts the worker. Returns 0 or -1. */
int sink_store_start(sink_store *st, tool_maildir *md);

/** Queues @p job (its msg and owner set). */
void sink_store_submit(sink_store *st, sink_store_job *job);

/** The fd to poll for POLLIN: finished jobs are waiting. */
int sink_store_fd(const sink_store *st);

/** Takes the list of finished jobs (linked by next), draining the notification pipe. */
sink_store_job *sink_store_collect(sink_store *st);

/** Finishes every queued job, stops the worker and closes the pipe. */
void sink_store_stop(sink_store *st);

#endif
