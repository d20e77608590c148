/* SPDX-License-Identifier: MIT */
/* Maildir delivery: each message is written to tmp/, fsynced, renamed into new/, and the
 * new/ directory is fsynced, so a message is either stored whole or not at all. The file
 * holds exactly the message bytes as received (unstuffed), nothing added. */
#ifndef SMTPCORE_TOOLS_MAILDIR_H
#define SMTPCORE_TOOLS_MAILDIR_H

#include <stddef.h>
#include <stdint.h>

/** A maildir opened for delivery. */
typedef struct tool_maildir {
    char *path;        /**< The maildir root. */
    int new_fd;        /**< Directory fd of new/ (fsynced after each rename). */
    char host[64];     /**< Host part of unique names. */
    unsigned long pid; /**< Process id part of unique names. */
    uint64_t seq;      /**< Delivery counter part of unique names. */
} tool_maildir;

/** A message being written. */
typedef struct tool_msgfile {
    int fd;             /**< File in tmp/, -1 when none. */
    int failed;         /**< A write failed: the message must not be acknowledged. */
    char name[160];     /**< Unique file name (same in tmp/ and new/). */
    uint64_t size;      /**< Bytes written so far. */
    size_t buf_len;     /**< Bytes waiting in @ref buf. */
    char *buf;          /**< Write-behind buffer (one per message in flight). */
} tool_msgfile;

/** Creates DIR, DIR/tmp, DIR/new, DIR/cur as needed. Returns 0 or -1 (message in err). */
int tool_maildir_open(tool_maildir *md, const char *path, char *err, size_t err_cap);

/** Releases the maildir. */
void tool_maildir_close(tool_maildir *md);

/** Starts a message in tmp/. Returns 0 or -1 (errno set). */
int tool_msg_begin(tool_maildir *md, tool_msgfile *m);

/** Appends bytes; errors are remembered in @ref tool_msgfile.failed. */
void tool_msg_write(tool_msgfile *m, const char *data, size_t len);

/** Flushes, fsyncs, renames into new/, fsyncs new/. Returns 0 or -1 (then removed). */
int tool_msg_commit(tool_maildir *md, tool_msgfile *m);

/** tool_msg_commit() without the fsync of new/: call tool_maildir_sync() once for a
 *  batch before acknowledging any message of it. Returns 0 or -1 (then removed). */
int tool_msg_commit_nosync(tool_maildir *md, tool_msgfile *m);

/** Makes the renames into new/ durable (fsync of the directory). Returns 0 or -1. */
int tool_maildir_sync(tool_maildir *md);

/** Removes a message that will not be acknowledged. Safe on an idle @p m. */
void tool_msg_abort(tool_maildir *md, tool_msgfile *m);

#endif
