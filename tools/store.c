/* SPDX-License-Identifier: MIT */
/* Storage worker thread with group commit (see store.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void *worker(void *arg)
{
    sink_store *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (st->todo == NULL && !st->stop)
            pthread_cond_wait(&st->cv, &st->mu);
        if (st->todo == NULL && st->stop)
            break;
        sink_store_job *batch = st->todo;
        st->todo = st->todo_tail = NULL;
        pthread_mutex_unlock(&st->mu);

        /* Each file is fsynced and renamed; one directory fsync then covers them all. */
        int any = 0;
        for (sink_store_job *j = batch; j != NULL; j = j->next) {
            j->result = tool_msg_commit_nosync(st->md, j->msg);
            j->err = j->result != 0 ? errno : 0;
            any |= j->result == 0;
        }
        if (any && tool_maildir_sync(st->md) != 0) {
            int e = errno;
            for (sink_store_job *j = batch; j != NULL; j = j->next) {
                j->result = -1; /* renamed but not known durable: answer 451, never 250 */
                j->err = e;
            }
        }

        pthread_mutex_lock(&st->mu);
        st->batches++;
        sink_store_job *last = batch;
        for (sink_store_job *j = batch; j != NULL; j = j->next) {
            st->jobs++;
            last = j;
        }
        last->next = st->done;
        st->done = batch;
        char b = 1;
        ssize_t w;
        do
            w = write(st->notify[1], &b, 1);
        while (w < 0 && errno == EINTR); /* EAGAIN: a byte is already pending, enough */
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

int sink_store_start(sink_store *st, tool_maildir *md)
{
    memset(st, 0, sizeof *st);
    st->md = md;
    st->notify[0] = st->notify[1] = -1;
    if (pipe2(st->notify, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
    if (pthread_create(&st->thread, NULL, worker, st) != 0) {
        close(st->notify[0]);
        close(st->notify[1]);
        return -1;
    }
    st->running = 1;
    return 0;
}

void sink_store_submit(sink_store *st, sink_store_job *job)
{
    job->next = NULL;
    job->result = -1;
    pthread_mutex_lock(&st->mu);
    if (st->todo_tail != NULL)
        st->todo_tail->next = job;
    else
        st->todo = job;
    st->todo_tail = job;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

int sink_store_fd(const sink_store *st)
{
    return st->running ? st->notify[0] : -1;
}

sink_store_job *sink_store_collect(sink_store *st)
{
    char buf[64];
    while (read(st->notify[0], buf, sizeof buf) > 0) {
    }
    pthread_mutex_lock(&st->mu);
    sink_store_job *done = st->done;
    st->done = NULL;
    pthread_mutex_unlock(&st->mu);
    return done;
}

void sink_store_stop(sink_store *st)
{
    if (!st->running)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    st->running = 0;
    close(st->notify[0]);
    close(st->notify[1]);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
}
