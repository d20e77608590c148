/* SPDX-License-Identifier: MIT */
/* Test shim (LD_PRELOAD), not part of the library: the first SC_FAULT_ACCEPT_EMFILE calls
 * of accept4() fail with EMFILE, the rest go to libc. Descriptor exhaustion cannot be
 * produced on purpose once the sink fits --max-conn to the limit (it takes descriptors
 * another process or the system ran out of), so t49 fakes it here to reach the sink's
 * spare-descriptor path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    /* The sink accepts on one thread: plain statics are enough for a test shim. */
    static long left = -1;
    static accept4_fn real;
    if (real == NULL) {
        void *sym = dlsym(RTLD_NEXT, "accept4");
        memcpy(&real, &sym, sizeof real);
    }
    if (left < 0) {
        const char *e = getenv("SC_FAULT_ACCEPT_EMFILE");
        left = e != NULL ? strtol(e, NULL, 10) : 0;
        if (left < 0)
            left = 0;
    }
    if (left > 0) {
        left--;
        errno = EMFILE;
        return -1;
    }
    return real(fd, addr, len, flags);
}
