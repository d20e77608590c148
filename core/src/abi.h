/* SPDX-License-Identifier: MIT */
/* The one struct_size rule for every struct the host fills in (server and client
 * configs, MAIL parameters), as smtpcore.h states it: 0 refused; smaller (an older
 * header) read as far as it goes, the rest keeps the defaults already in dst; larger (a
 * newer header than this library) refused, because our defaults are not all zero and a
 * tail we cannot read may mean something. One function, so both roles agree. */
#ifndef SC_ABI_H
#define SC_ABI_H

#include <stddef.h>
#include <string.h>

#include <smtpcore/smtpcore.h>

/* dst holds the defaults (its _init()) and is dst_size bytes; src starts with its
 * struct_size. Returns SMTPCORE_OK with the host's fields copied over the defaults and
 * dst's struct_size set to dst_size, or SMTPCORE_ERR_INVALID_ARGUMENT (dst untouched). */
static inline int sc_abi_read(void *dst, size_t dst_size, const void *src)
{
    size_t n;
    memcpy(&n, src, sizeof n);
    /* Below sizeof(size_t) the host's struct cannot even hold struct_size: 0 (not
     * initialised) lands here too. */
    if (n < sizeof(size_t) || n > dst_size)
        return SMTPCORE_ERR_INVALID_ARGUMENT;
    memcpy(dst, src, n);
    memcpy(dst, &dst_size, sizeof dst_size);
    return SMTPCORE_OK;
}

#endif
