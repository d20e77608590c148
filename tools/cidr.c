/* SPDX-License-Identifier: MIT */
/* CIDR lists: parse once at start, match each accepted connection's peer. */
#include "cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static int parse_one(const char *s, size_t len, tool_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof buf)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *slash = strchr(buf, '/');
    long bits = -1;
    if (slash != NULL) {
        char *end;
        *slash = '\0';
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0')
            return -1;
    }
    char *a = buf;
    size_t alen = strlen(a);
    if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
        a[alen - 1] = '\0';
        a++;
    }
    memset(out, 0, sizeof *out);
    unsigned max;
    if (inet_pton(AF_INET, a, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, a, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    if (bits > (long)max)
        return -1;
    out->bits = bits < 0 ? max : (unsigned)bits;
    /* Clear the host bits so that matching compares networks only. */
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = out->bits > i * 8 ? out->bits - i * 8 : 0;
        if (keep < 8)
            out->addr[i] &= (uint8_t)(0xffu << (8 - keep));
    }
    return 0;
}

int tool_cidr_parse_list(const char *s, tool_cidr *out, size_t cap)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (n >= cap || parse_one(p, len, &out[n]) != 0)
            return -1;
        n++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    return (int)n;
}

static int prefix_eq(const uint8_t *a, const uint8_t *net, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, net, full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == net[full];
}

int tool_cidr_match(const tool_cidr *list, size_t n, const struct sockaddr *sa)
{
    uint8_t a4[4], a6[16];
    int have4 = 0, have6 = 0;
    if (sa->sa_family == AF_INET) {
        memcpy(a4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        have4 = 1;
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
        have6 = 1;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(a6, mapped, 12) == 0) {
            memcpy(a4, a6 + 12, 4);
            have4 = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (list[i].family == AF_INET && have4 && prefix_eq(a4, list[i].addr, list[i].bits))
            return 1;
        if (list[i].family == AF_INET6 && have6 && prefix_eq(a6, list[i].addr, list[i].bits))
            return 1;
    }
    return 0;
}
