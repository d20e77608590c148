/* SPDX-License-Identifier: MIT */
/* Maildir writing (tmp -> fsync -> rename -> fsync dir). */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

enum { MSG_BUF_SIZE = 64 * 1024 };

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int tool_maildir_open(tool_maildir *md, const char *path, char *err, size_t err_cap)
{
    memset(md, 0, sizeof *md);
    md->new_fd = -1;
    static const char *const subs[] = { "", "/tmp", "/new", "/cur" };
    char p[4096];
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        int n = snprintf(p, sizeof p, "%s%s", path, subs[i]);
        if (n < 0 || (size_t)n >= sizeof p - 200) {
            snprintf(err, err_cap, "maildir path too long");
            return -1;
        }
        if (mkdir_p(p) != 0) {
            snprintf(err, err_cap, "cannot create %s: %s", p, strerror(errno));
            return -1;
        }
    }
    snprintf(p, sizeof p, "%s/new", path);
    md->new_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (md->new_fd < 0) {
        snprintf(err, err_cap, "cannot open %s: %s", p, strerror(errno));
        return -1;
    }
    md->path = strdup(path);
    if (md->path == NULL) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    if (gethostname(md->host, sizeof md->host) != 0)
        snprintf(md->host, sizeof md->host, "localhost");
    md->host[sizeof md->host - 1] = '\0';
    /* '/' and ':' have meanings in maildir names */
    for (char *c = md->host; *c; c++)
        if (*c == '/' || *c == ':')
            *c = '_';
    md->pid = (unsigned long)getpid();
    return 0;
}

void tool_maildir_close(tool_maildir *md)
{
    if (md->new_fd >= 0)
        close(md->new_fd);
    md->new_fd = -1;
    free(md->path);
    md->path = NULL;
}

static void path_of(const tool_maildir *md, const tool_msgfile *m, const char *sub, char *out,
                    size_t cap)
{
    snprintf(out, cap, "%s/%s/%s", md->path, sub, m->name);
}

int tool_msg_begin(tool_maildir *md, tool_msgfile *m)
{
    struct timeval tv;
    char p[4400];
    gettimeofday(&tv, NULL);
    memset(m, 0, sizeof *m);
    m->fd = -1;
    m->buf = malloc(MSG_BUF_SIZE);
    if (m->buf == NULL)
        return -1;
    md->seq++;
    snprintf(m->name, sizeof m->name, "%lld.M%06ldP%luQ%llu.%s", (long long)tv.tv_sec,
             (long)tv.tv_usec, md->pid, (unsigned long long)md->seq, md->host);
    path_of(md, m, "tmp", p, sizeof p);
    m->fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (m->fd < 0) {
        free(m->buf);
        m->buf = NULL;
        return -1;
    }
    return 0;
}

static void flush_buf(tool_msgfile *m)
{
    size_t off = 0;
    while (off < m->buf_len && !m->failed) {
        ssize_t n = write(m->fd, m->buf + off, m->buf_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            m->failed = 1;
        else
            off += (size_t)n;
    }
    m->buf_len = 0;
}

void tool_msg_write(tool_msgfile *m, const char *data, size_t len)
{
    if (m->fd < 0 || m->failed)
        return;
    m->size += len;
    while (len > 0) {
        size_t room = MSG_BUF_SIZE - m->buf_len;
        size_t k = len < room ? len : room;
        memcpy(m->buf + m->buf_len, data, k);
        m->buf_len += k;
        data += k;
        len -= k;
        if (m->buf_len == MSG_BUF_SIZE)
            flush_buf(m);
    }
}

void tool_msg_abort(tool_maildir *md, tool_msgfile *m)
{
    char p[4400];
    if (m->fd >= 0) {
        close(m->fd);
        path_of(md, m, "tmp", p, sizeof p);
        unlink(p);
    }
    m->fd = -1;
    free(m->buf);
    m->buf = NULL;
}

int tool_msg_commit_nosync(tool_maildir *md, tool_msgfile *m)
{
    char from[4400], to[4400];
    if (m->fd < 0)
        return -1;
    flush_buf(m);
    if (m->failed || fsync(m->fd) != 0 || close(m->fd) != 0) {
        m->failed = 1;
        tool_msg_abort(md, m);
        return -1;
    }
    m->fd = -1;
    free(m->buf);
    m->buf = NULL;
    path_of(md, m, "tmp", from, sizeof from);
    path_of(md, m, "new", to, sizeof to);
    if (rename(from, to) != 0) {
        unlink(from);
        return -1;
    }
    return 0;
}

int tool_maildir_sync(tool_maildir *md)
{
    /* The rename is durable only once the directory entry is on disk. */
    return fsync(md->new_fd) == 0 ? 0 : -1;
}

int tool_msg_commit(tool_maildir *md, tool_msgfile *m)
{
    if (tool_msg_commit_nosync(md, m) != 0)
        return -1;
    return tool_maildir_sync(md);
}
