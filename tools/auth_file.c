/* SPDX-License-Identifier: MIT */
/* --auth-file loading and checking. */
#include "auth_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { AUTH_MAX_ENTRIES = 10000 };

int tool_auth_load(tool_auth_file *af, const char *path, char *err, size_t err_cap)
{
    memset(af, 0, sizeof *af);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, err_cap, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    unsigned lineno = 0;
    int rc = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line || af->count >= AUTH_MAX_ENTRIES) {
            snprintf(err, err_cap, "%s:%u: expected user:password", path, lineno);
            rc = -1;
            break;
        }
        *colon = '\0';
        char **u = realloc(af->users, (af->count + 1) * sizeof *u);
        if (u != NULL)
            af->users = u;
        char **p = realloc(af->passwords, (af->count + 1) * sizeof *p);
        if (p != NULL)
            af->passwords = p;
        if (u == NULL || p == NULL) {
            snprintf(err, err_cap, "out of memory");
            rc = -1;
            break;
        }
        af->users[af->count] = strdup(line);
        af->passwords[af->count] = strdup(colon + 1);
        af->count++;
        if (af->users[af->count - 1] == NULL || af->passwords[af->count - 1] == NULL) {
            snprintf(err, err_cap, "out of memory");
            rc = -1;
            break;
        }
    }
    fclose(f);
    if (rc != 0)
        tool_auth_free(af);
    return rc;
}

/* Compares without an early exit so the time does not tell how much of a password matched
 * (the length still shows; this is a test server). */
static int same(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    unsigned char diff = 0;
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

int tool_auth_check(const tool_auth_file *af, const char *user, size_t user_len,
                    const char *pass, size_t pass_len)
{
    int ok = 0;
    for (size_t i = 0; i < af->count; i++) {
        if (strlen(af->users[i]) == user_len && memcmp(af->users[i], user, user_len) == 0)
            ok |= same(pass, pass_len, af->passwords[i], strlen(af->passwords[i]));
    }
    return ok;
}

void tool_auth_free(tool_auth_file *af)
{
    for (size_t i = 0; i < af->count; i++) {
        free(af->users[i]);
        free(af->passwords[i]);
    }
    free(af->users);
    free(af->passwords);
    memset(af, 0, sizeof *af);
}
