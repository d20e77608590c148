/* SPDX-License-Identifier: MIT */
/* smtpcore-sink: failed AUTH attempts per client address (see sink_limits.h). */
#include "sink_limits.h"

#include <string.h>

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

void sink_limits_init(sink_limits *l, uint32_t max, int64_t window_ms)
{
    memset(l, 0, sizeof *l);
    l->max = max;
    l->window_ms = window_ms;
}

static sink_limit_slot *find(const sink_limits *l, const char *addr)
{
    uint32_t h = hash(addr);
    for (uint32_t k = 0; k < SINK_LIMIT_PROBES; k++) {
        const sink_limit_slot *s = &l->slot[(h + k) % SINK_LIMIT_SLOTS];
        if (s->addr[0] && strcmp(s->addr, addr) == 0)
            return (sink_limit_slot *)(uintptr_t)s;
    }
    return NULL;
}

int sink_limits_blocked(const sink_limits *l, const char *addr, int64_t now_ms)
{
    if (l->max == 0 || !addr[0])
        return 0;
    const sink_limit_slot *s = find(l, addr);
    return s != NULL && now_ms - s->window_start < l->window_ms && s->count >= l->max;
}

void sink_limits_fail(sink_limits *l, const char *addr, uint32_t n, int64_t now_ms)
{
    if (l->max == 0 || !addr[0] || n == 0)
        return;
    sink_limit_slot *s = find(l, addr);
    if (s == NULL) {
        uint32_t h = hash(addr);
        for (uint32_t k = 0; k < SINK_LIMIT_PROBES; k++) {
            sink_limit_slot *t = &l->slot[(h + k) % SINK_LIMIT_SLOTS];
            if (!t->addr[0]) {
                s = t;
                break;
            }
            if (s == NULL || t->window_start < s->window_start)
                s = t;
        }
        size_t len = strlen(addr);
        if (len >= sizeof s->addr)
            len = sizeof s->addr - 1;
        memcpy(s->addr, addr, len);
        s->addr[len] = '\0';
        s->count = 0;
        s->window_start = now_ms;
    }
    if (now_ms - s->window_start >= l->window_ms) {
        s->window_start = now_ms;
        s->count = 0;
    }
    s->count = s->count > UINT32_MAX - n ? UINT32_MAX : s->count + n;
}

void sink_limits_addr(const char *peer, char *out, unsigned cap)
{
    if (cap == 0)
        return;
    size_t n = strlen(peer);
    const char *colon = strrchr(peer, ':');
    if (peer[0] == '[') {
        const char *end = strchr(peer, ']');
        if (end != NULL) {
            peer++;
            n = (size_t)(end - peer);
        }
    } else if (colon != NULL && strchr(peer, ':') == colon) {
        n = (size_t)(colon - peer); /* "a.b.c.d:port"; anything else is kept whole */
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, peer, n);
    out[n] = '\0';
}
