/* SPDX-License-Identifier: MIT */
/* Runs every transcript in tests/transcripts/server whole, one byte at a time and in random
 * splits (fixed seeds), so each case proves the engine is independent of read sizes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server_transcript.h"
#include "transcript_text.h"

#define SCT_DIR SMTPCORE_TEST_DATA_DIR "/transcripts/server"

/* Runs all files in one mode (however many there are); returns the number that ran. */
static size_t run_all(sct_mode mode, uint64_t seed)
{
    char **names;
    long n = ts_list_dir(SCT_DIR, ".txt", &names);
    cr_assert_geq(n, 0, "cannot open %s", SCT_DIR);
    size_t ran = 0;
    for (long i = 0; i < n; i++) {
        char path[1024];
        char err[8192];
        snprintf(path, sizeof(path), "%s/%s", SCT_DIR, names[i]);
        int rc = sct_run_file(path, mode, seed, err, sizeof(err));
        cr_expect(rc >= 0, "%s", err);
        if (rc == 0)
            ran++;
    }
    ts_free_names(names, n);
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
