/* SPDX-License-Identifier: MIT */
/* Command-line parsing helpers. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tool_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -1;
    *out = v;
    return 0;
}

int tool_parse_size(const char *s, uint64_t *out)
{
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned shift = 0;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: return -1;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0' || v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int tool_parse_hostport(const char *s, uint16_t default_port, int allow_zero, char *host,
                        size_t host_cap, uint16_t *port)
{
    const char *portstr = NULL;
    size_t hlen;
    if (s == NULL || s[0] == '\0')
        return -1;
    if (strncmp(s, "unix:", 5) == 0) {
        /* sockaddr_un.sun_path holds 108 bytes with its terminator on Linux */
        size_t n = strlen(s);
        if (n == 5 || n - 5 >= 108 || n >= host_cap)
            return -1;
        memcpy(host, s, n + 1);
        *port = 0;
        return 0;
    }
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL)
            return -1;
        hlen = (size_t)(close - s - 1);
        if (close[1] == ':')
            portstr = close + 2;
        else if (close[1] != '\0')
            return -1;
        s = s + 1;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            colon = NULL; /* a bare IPv6 address without brackets: no port */
        hlen = colon ? (size_t)(colon - s) : strlen(s);
        if (colon != NULL)
            portstr = colon + 1;
    }
    if (hlen == 0 || hlen >= host_cap)
        return -1;
    memmove(host, s, hlen);
    host[hlen] = '\0';
    uint64_t p = default_port;
    if (portstr != NULL && tool_parse_uint(portstr, 65535, &p) != 0)
        return -1;
    if (p == 0 && !allow_zero)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

int tool_opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *i += 1;
    *value = argv[*i];
    return 1;
}
