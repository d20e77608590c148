/* SPDX-License-Identifier: MIT */
/* The transcript dialect itself (tests/transcripts/README.md): both runners refuse a line
 * prefix they do not know, so a file in the old per-role dialects (E: A: T: N:) fails
 * instead of passing with its checks skipped; E= / E~ / E! mean the same for both roles;
 * directory listings and scripts have no silent caps. */
#define _DEFAULT_SOURCE /* mkdtemp */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <smtpcore/smtpcore.h>

#include "client_script.h"
#include "server_transcript.h"
#include "transcript_text.h"

/* A server conversation every line below is appended to. */
static const char srv_base[] = "S: 220 localhost ESMTP smtpcore\n"
                               "C: NOOP\n"
                               "C: QUIT\n"
                               "S: 250 2.0.0 Ok\n"
                               "S: 221 2.0.0 Bye\n";

static int srv(const char *extra, char *err, size_t cap)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", srv_base, extra);
    return sct_run_text("dialect", text, strlen(text), SCT_WHOLE, 0, err, cap);
}

Test(transcript_dialect, server_base_passes)
{
    char err[4096];
    cr_assert_eq(srv("", err, sizeof err), 0, "%s", err);
}

Test(transcript_dialect, server_refuses_old_and_unknown_prefixes)
{
    static const char *const bad[] = {"E: QUIT\n", "N: HELO\n", "A: NOOP accept\n",
                                      "T: eof\n", "H| eof\n", "E? QUIT\n", "EE QUIT\n",
                                      "Z: x\n", "@mode whole\n", "S|250 glued\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[4096] = "";
        cr_expect_eq(srv(bad[i], err, sizeof err), -1, "accepted: %s", bad[i]);
        cr_expect(strstr(err, "unknown line prefix") != NULL, "%s: %s", bad[i], err);
    }
}

Test(transcript_dialect, server_event_lines)
{
    char err[4096];
    /* E= is the very next event, E~ any later one, E! none at all. */
    cr_expect_eq(srv("E~ NOOP\nE= QUIT\nE= CLOSE\nE! HELO\n", err, sizeof err), 0, "%s", err);
    cr_expect_eq(srv("E~ CLOSE\n", err, sizeof err), 0, "%s", err);
    cr_expect_eq(srv("E~ NOOP\nE= CLOSE\n", err, sizeof err), -1, "E= skipped QUIT");
    cr_expect(strstr(err, "next event differs") != NULL, "%s", err);
    cr_expect_eq(srv("E~ QUIT\nE~ NOOP\n", err, sizeof err), -1, "E~ went backwards");
    cr_expect_eq(srv("E! QUIT\n", err, sizeof err), -1, "E! missed QUIT");
    cr_expect_eq(srv("E~ NOOP BARE_LF\n", err, sizeof err), -1, "violation ignored");
    cr_expect_eq(srv("E~ NOPE\n", err, sizeof err), -1, "unknown event name accepted");
}

Test(transcript_dialect, server_host_lines)
{
    char err[4096];
    cr_expect_eq(srv("H: answer NOOP accept\n", err, sizeof err), 0, "%s", err);
    cr_expect_eq(srv("H: dance\n", err, sizeof err), -1, "unknown host action accepted");
    cr_expect(strstr(err, "unknown host action") != NULL, "%s", err);
    const char *reject = "S: 220 localhost ESMTP smtpcore\n"
                         "H: answer HELO reject 550 5.7.1 No\n"
                         "C: HELO c.example\n"
                         "S: 550 5.7.1 No\n"
                         "H: eof\n"
                         "E= CONNECT\nE= HELO\nE= CLOSE\n";
    cr_expect_eq(sct_run_text("reject", reject, strlen(reject), SCT_BYTES, 0, err, sizeof err),
                 0, "%s", err);
}

Test(transcript_dialect, server_too_many_blocks_fails_loudly)
{
    ts_bytes t = {0};
    const char *greet = "S: 220 localhost ESMTP smtpcore\n";
    ts_put(&t, greet, strlen(greet));
    for (int i = 0; i < 600; i++) {
        const char *l = "C: NOOP\nS: 250 2.0.0 Ok\n";
        ts_put(&t, l, strlen(l));
    }
    char err[4096];
    cr_expect_eq(sct_run_text("long", t.p, t.len, SCT_WHOLE, 0, err, sizeof err), -1);
    cr_expect(strstr(err, "more than") != NULL, "%s", err);
    free(t.p);
}

static const char cli_base[] = "S: 220 mx.example ESMTP\n"
                               "C: EHLO client.example.org\n"
                               "S: 250 mx.example\n"
                               "H: quit\n"
                               "C: QUIT\n"
                               "S: 221 Bye\n";

static int cli(const char *extra, char *err, size_t cap)
{
    char text[2048];
    snprintf(text, sizeof text, "%s%s", cli_base, extra);
    return ccs_run_text("dialect", text, strlen(text), CCS_WHOLE, 0, err, cap);
}

Test(transcript_dialect, client_refuses_old_and_unknown_prefixes)
{
    static const char *const bad[] = {"E: CLOSED\n", "A: quit\n", "T: eof\n", "N: READY\n",
                                      "@modes whole\n", "B| x\n", "P: none\n", "E? READY\n",
                                      "S|glued\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[4096] = "";
        char text[2048];
        snprintf(text, sizeof text, "%s%s", bad[i], cli_base);
        cr_expect_eq(ccs_run_text("dialect", text, strlen(text), CCS_WHOLE, 0, err, sizeof err),
                     -1, "accepted: %s", bad[i]);
        cr_expect(strstr(err, "unknown line prefix") != NULL, "%s: %s", bad[i], err);
    }
}

Test(transcript_dialect, client_event_lines)
{
    char err[4096];
    /* Every event must be consumed by the end: by E= one by one or skipped over by E~. */
    cr_expect_eq(cli("", err, sizeof err), -1, "unchecked events passed");
    cr_expect_eq(cli("E= GREETING 220\nE= READY\nE= CLOSED OK\nE! PROTOCOL_ERROR\n", err,
                     sizeof err),
                 0, "%s", err);
    cr_expect_eq(cli("E~ CLOSED\n", err, sizeof err), 0, "%s", err);
    cr_expect_eq(cli("E= READY\nE~ CLOSED\n", err, sizeof err), -1, "E= skipped GREETING");
    cr_expect_eq(cli("E~ READY\nE~ GREETING\nE~ CLOSED\n", err, sizeof err), -1,
                 "E~ went backwards");
    cr_expect_eq(cli("E~ CLOSED\nE! READY\n", err, sizeof err), -1, "E! missed READY");
    cr_expect(strstr(err, "E! READY") != NULL, "%s", err);
}

Test(transcript_dialect, listing_has_no_cap)
{
    char dir[] = "/tmp/smtpcore-dialect-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    const long want = 700; /* above the old runner's silent 512 */
    for (long i = want - 1; i >= 0; i--) {
        snprintf(path, sizeof path, "%s/f%04ld.txt", dir, i);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/README.md", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    char **names;
    long n = ts_list_dir(dir, ".txt", &names);
    cr_expect_eq(n, want);
    for (long i = 0; i < n; i++) {
        char expect[32];
        snprintf(expect, sizeof expect, "f%04ld.txt", i);
        cr_expect_str_eq(names[i], expect);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    ts_free_names(names, n);
    snprintf(path, sizeof path, "%s/README.md", dir);
    unlink(path);
    cr_expect_eq(rmdir(dir), 0);
    cr_expect_eq(ts_list_dir(dir, ".txt", &names), -1);
}

/* The violation names of event lines cover exactly the library's violations: a value the
 * library describes has a name, the first one it does not know has none. */
Test(transcript_dialect, violation_names_match_the_library)
{
    const char *unknown = smtpcore_violation_str(-1);
    int v = 0;
    for (; strcmp(smtpcore_violation_str(v), unknown) != 0; v++) {
        cr_expect_str_neq(ts_violation_name(v), "?", "violation %d has no name", v);
        cr_expect_eq(ts_violation_lookup(ts_violation_name(v), strlen(ts_violation_name(v))), v);
    }
    cr_expect_gt(v, 30);
    cr_expect_str_eq(ts_violation_name(v), "?", "name for %d, which the library lacks", v);
}

/* Escaped values are decoded whole or refused, never cut at a buffer's size. */
Test(transcript_dialect, long_values_are_not_cut)
{
    ts_bytes in = {0}, out = {0};
    for (int i = 0; i < 10000; i++)
        ts_put(&in, "\\x41", 4);
    cr_expect_eq(ts_unescaped_len(in.p, in.len), 10000);
    ts_put(&out, "<", 1);
    ts_put_unescaped(&out, in.p, in.len);
    cr_assert_eq(out.len, 10001);
    cr_expect_eq(out.p[0], '<');
    cr_expect_eq(out.p[10000], 'A');
    cr_expect_eq(out.p[10001], '\0');
    free(in.p);
    free(out.p);

    /* A client value longer than its buffer fails the file, saying so. */
    ts_bytes t = {0};
    const char *k = "@config helo=";
    ts_put(&t, k, strlen(k));
    for (int i = 0; i < 2000; i++)
        ts_put(&t, "h", 1);
    ts_put(&t, "\n", 1);
    ts_put(&t, cli_base, strlen(cli_base));
    char err[4096] = "";
    cr_expect_eq(ccs_run_text("long", t.p, t.len, CCS_WHOLE, 0, err, sizeof err), -1);
    cr_expect(strstr(err, "longer than") != NULL, "%s", err);
    free(t.p);
}
