/* SPDX-License-Identifier: MIT */
/* Every tests/transcripts/client/ (*.txt), played whole, byte by byte, split at every offset
 * and in seeded random pieces (tests/support/client_script.c). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "client_script.h"

Test(client_transcripts, all_files_all_splits)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/transcripts/client", SMTPCORE_TEST_DATA_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "missing %s", dir);
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".txt") != 0)
            continue;
        char path[2048], err[4096] = "";
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        int rc = ccs_run_file_all(path, 20, err, sizeof err);
        cr_expect_eq(rc, 0, "%s", err);
        count++;
    }
    closedir(d);
    cr_expect_gt(count, 20, "only %d client transcripts", count);
}
