/* SPDX-License-Identifier: MIT */
/* The sink's --auth-file: one "user:password" per line; '#' starts a comment line. */
#ifndef SMTPCORE_TOOLS_AUTH_FILE_H
#define SMTPCORE_TOOLS_AUTH_FILE_H

#include <stddef.h>

/** Credentials loaded from a file. */
typedef struct tool_auth_file {
    char **users;     /**< User names. */
    char **passwords; /**< Passwords, same index. */
    size_t count;     /**< Entries. */
} tool_auth_file;

/** Loads @p path. Returns 0 or -1 with a message in @p err. */
int tool_auth_load(tool_auth_file *af, const char *path, char *err, size_t err_cap);

/** Nonzero when user/password (not NUL-terminated) match an entry. */
int tool_auth_check(const tool_auth_file *af, const char *user, size_t user_len,
                    const char *pass, size_t pass_len);

/** Frees the entries. */
void tool_auth_free(tool_auth_file *af);

#endif
