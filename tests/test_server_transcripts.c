/* SPDX-License-Identifier: MIT */
/* Runs every transcript in tests/transcripts/server whole, one byte at a time and in random
 * splits (fixed seeds), so each case proves the engine is independent of read sizes. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_transcript.h"

#define SCT_DIR SMTPCORE_TEST_DATA_DIR "/transcripts/server"

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs all files in one mode; returns the number of files that ran. */
static size_t run_all(sct_mode mode, uint64_t seed)
{
    DIR *d = opendir(SCT_DIR);
    cr_assert_not_null(d, "cannot open %s", SCT_DIR);
    char *names[512];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 512) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0)
            {
            names[n] = malloc(l + 1);
            memcpy(names[n++], e->d_name, l + 1);
        }
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), name_cmp);
    size_t ran = 0;
    for (size_t i = 0; i < n; i++) {
        char path[1024];
        char err[8192];
        snprintf(path, sizeof(path), "%s/%s", SCT_DIR, names[i]);
        int rc = sct_run_file(path, mode, seed, err, sizeof(err));
        cr_expect(rc >= 0, "%s", err);
        if (rc == 0)
            ran++;
        free(names[i]);
    }
    return ran;
}

Test(server_transcripts, whole)
{
    cr_expect(run_all(SCT_WHOLE, 0) >= 80, "expected at least 80 transcripts");
}

Test(server_transcripts, one_byte_at_a_time)
{
    cr_expect(run_all(SCT_BYTES, 0) > 0);
}

Test(server_transcripts, random_splits)
{
    for (uint64_t seed = 1; seed <= 8; seed++)
        cr_expect(run_all(SCT_RANDOM, seed) > 0);
}
