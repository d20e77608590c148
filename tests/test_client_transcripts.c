/* SPDX-License-Identifier: MIT */
/* Every tests/transcripts/client/ (*.txt), played whole, byte by byte, split at every offset
 * and in seeded random pieces (tests/support/client_script.c). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "client_script.h"
#include "transcript_text.h"

Test(client_transcripts, all_files_all_splits)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/transcripts/client", SMTPCORE_TEST_DATA_DIR);
    char **names;
    long n = ts_list_dir(dir, ".txt", &names);
    cr_assert_geq(n, 0, "missing %s", dir);
    for (long i = 0; i < n; i++) {
        char path[2048], err[4096] = "";
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int rc = ccs_run_file_all(path, 20, err, sizeof err);
        cr_expect_eq(rc, 0, "%s", err);
    }
    ts_free_names(names, n);
    cr_expect_gt(n, 20, "only %ld client transcripts", n);
}
