/* test_sysconf.c — system mode's configuration file (KEY=VALUE lines, any
 * other line makes the whole file unusable) and the TRACESHIM_PROGRAMS
 * allowlist (shell patterns on the executable's name or path). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/sysconf.h"

static struct ts_sysconf conf; /* 64 KiB: not on the stack */

static void parse(const char *text)
{
    memset(&conf, 0x5a, sizeof conf); /* parse must reset every field it reports */
    ts_sysconf_parse(&conf, text, strlen(text));
}

static void test_entries(void **state)
{
    (void)state;
    parse("# traceshim system-wide configuration\n"
          "\n"
          "TRACESHIM_PROGRAMS = curl, /usr/sbin/nginx*  \n"
          "  OTEL_SERVICE_NAME=web\r\n"
          "\tTRACESHIM_FILE=/var/log/traceshim/spans.jsonl\n"
          "EMPTY=\n"
          "OTEL_RESOURCE_ATTRIBUTES=a=b,c=d # not a comment\n"
          "OTEL_SERVICE_NAME=later");
    assert_int_equal(conf.status, TS_SYSCONF_OK);
    assert_int_equal(conf.bad_line, 0);
    assert_int_equal(conf.count, 5);
    assert_string_equal(ts_sysconf_get(&conf, "TRACESHIM_PROGRAMS"), "curl, /usr/sbin/nginx*");
    assert_string_equal(ts_sysconf_get(&conf, "OTEL_SERVICE_NAME"), "later"); /* last wins */
    assert_string_equal(ts_sysconf_get(&conf, "TRACESHIM_FILE"), "/var/log/traceshim/spans.jsonl");
    assert_string_equal(ts_sysconf_get(&conf, "EMPTY"), "");
    assert_string_equal(ts_sysconf_get(&conf, "OTEL_RESOURCE_ATTRIBUTES"), "a=b,c=d # not a comment");
    assert_null(ts_sysconf_get(&conf, "TRACESHIM_EXPORTER"));
    assert_null(ts_sysconf_get(&conf, "OTEL_SERVICE"));
}

static void test_empty_file(void **state)
{
    (void)state;
    parse("");
    assert_int_equal(conf.status, TS_SYSCONF_OK);
    assert_int_equal(conf.count, 0);
    assert_null(ts_sysconf_get(&conf, "TRACESHIM_PROGRAMS"));
}

/* Any line that is not blank, a comment or KEY=VALUE: nothing is used. */
static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
    } cases[] = {
        {"TRACESHIM_PROGRAMS=curl\nexport OTEL_SERVICE_NAME=x\n", 2},
        {"TRACESHIM_PROGRAMS curl\n", 1},
        {"=curl\n", 1},
        {"1ABC=x\n", 1},
        {"A-B=x\n", 1},
        {"# ok\n\n[section]\nA=b\n", 3},
        {"A=b\n\"B\"=c\n", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parse(cases[i].text);
        if (conf.status != TS_SYSCONF_MALFORMED || conf.bad_line != cases[i].line)
            fail_msg("\"%s\": status %d line %d, want malformed at %d", cases[i].text,
                     conf.status, conf.bad_line, cases[i].line);
        assert_null(ts_sysconf_get(&conf, "TRACESHIM_PROGRAMS"));
        assert_null(ts_sysconf_get(&conf, "A"));
    }
    /* a NUL byte inside the file */
    static const char nul[] = "A=b\nC=d\0e\n";
    memset(&conf, 0, sizeof conf);
    ts_sysconf_parse(&conf, nul, sizeof nul - 1);
    assert_int_equal(conf.status, TS_SYSCONF_MALFORMED);
    assert_int_equal(conf.bad_line, 2);
    assert_null(ts_sysconf_get(&conf, "A"));
}

static void test_limits(void **state)
{
    (void)state;
    static char big[TS_SYSCONF_MAX_BYTES + 2];
    memset(big, '#', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    parse(big);
    assert_int_equal(conf.status, TS_SYSCONF_TOO_BIG);
    assert_null(ts_sysconf_get(&conf, "A"));

    static char many[TS_SYSCONF_MAX_ENTRIES * 16];
    size_t used = 0;
    for (int i = 0; i <= TS_SYSCONF_MAX_ENTRIES; i++)
        used += (size_t)snprintf(many + used, sizeof many - used, "K%d=v\n", i);
    parse(many);
    assert_int_equal(conf.status, TS_SYSCONF_TOO_BIG);
    assert_int_equal(conf.bad_line, TS_SYSCONF_MAX_ENTRIES + 1);
    assert_null(ts_sysconf_get(&conf, "K0"));
}

static void test_read_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ts-sysconf-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/traceshim.conf", dir);

    ts_sysconf_read(&conf, path);
    assert_int_equal(conf.status, TS_SYSCONF_MISSING);
    assert_null(ts_sysconf_get(&conf, "TRACESHIM_PROGRAMS"));

    ts_sysconf_read(&conf, dir); /* a directory is never read */
    assert_int_equal(conf.status, TS_SYSCONF_NOT_FILE);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("TRACESHIM_PROGRAMS=curl\nTRACESHIM_FILE=/tmp/x.jsonl\n", f);
    fclose(f);
    int fds_before = dup(0);
    close(fds_before);
    ts_sysconf_read(&conf, path);
    assert_int_equal(conf.status, TS_SYSCONF_OK);
    assert_string_equal(ts_sysconf_get(&conf, "TRACESHIM_PROGRAMS"), "curl");
    int fds_after = dup(0);
    close(fds_after);
    assert_int_equal(fds_before, fds_after); /* no fd left open */

    unlink(path);
    rmdir(dir);
}

static void test_glob(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *s;
        bool match;
    } cases[] = {
        {"curl", "curl", true},
        {"curl", "curl2", false},
        {"curl", "xcurl", false},
        {"*", "", true},
        {"*", "anything/at/all", true},
        {"py*", "python3.11", true},
        {"python3*", "python3", true},
        {"*.py", "server.py", true},
        {"*.py", "server.pyc", false},
        {"a*b*c", "aXXbYYc", true},
        {"a*b*c", "aXXbYY", false},
        {"a*b", "abab", true},
        {"?url", "curl", true},
        {"?url", "url", false},
        {"[cw]get", "wget", true},
        {"[cw]get", "cget", true},
        {"[cw]get", "aget", false},
        {"[!c]url", "curl", false},
        {"[^c]url", "Xurl", true},
        {"[a-c]x", "bx", true},
        {"[a-c]x", "dx", false},
        {"[]]x", "]x", true},
        {"[abc", "[abc", true},
        {"\\*x", "*x", true},
        {"\\*x", "ax", false},
        {"/usr/sbin/*", "/usr/sbin/nginx", true},
        {"/usr/sbin/*", "/usr/bin/nginx", false},
        {"", "", true},
        {"", "a", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (ts_glob_match(cases[i].pattern, cases[i].s) != cases[i].match)
            fail_msg("pattern \"%s\" on \"%s\": want %s", cases[i].pattern, cases[i].s,
                     cases[i].match ? "match" : "no match");
}

static void test_programs(void **state)
{
    (void)state;
    /* names match the executable's or argv[0]'s last component */
    assert_true(ts_programs_match("curl", "/usr/bin/curl", "curl", NULL));
    assert_true(ts_programs_match("wget, curl", "/usr/bin/curl", NULL, NULL));
    assert_true(ts_programs_match(" python3 ", "/usr/bin/python3.11", "python3", NULL));
    assert_true(ts_programs_match("python3", "/usr/bin/python3.11", "/usr/bin/python3", NULL));
    assert_false(ts_programs_match("python3", "/usr/bin/python3.11", "/opt/run", NULL));
    assert_false(ts_programs_match("curl", "/usr/bin/fetch", "fetch", NULL));
    /* a pattern with a slash matches the whole path */
    assert_true(ts_programs_match("/usr/sbin/*", "/usr/sbin/nginx", "nginx: worker process", NULL));
    assert_false(ts_programs_match("/usr/sbin/*", "/usr/bin/nginx", "nginx", NULL));
    assert_true(ts_programs_match("/opt/app/*", NULL, "/opt/app/server", NULL));
    assert_false(ts_programs_match("/opt/app/*", NULL, "server", NULL));
    assert_false(ts_programs_match("/usr/bin/curl", "/usr/bin/fetch", "curl", NULL));
    /* empty lists and entries match nothing */
    assert_false(ts_programs_match("", "/usr/bin/curl", "curl", NULL));
    assert_false(ts_programs_match(" , ,", "/usr/bin/curl", "curl", NULL));
    assert_false(ts_programs_match(NULL, "/usr/bin/curl", "curl", NULL));
    assert_false(ts_programs_match("curl", NULL, NULL, NULL));
    assert_true(ts_programs_match("*", "/sbin/anything", NULL, NULL));
    /* the file the exec named: a #! script's own path (exe is its
     * interpreter's, argv[0] as the caller wrote it), a link's */
    assert_true(
        ts_programs_match("/opt/shop/bin/*", "/usr/bin/dash", "./app", "/opt/shop/bin/app"));
    assert_true(ts_programs_match("/usr/bin/awk", "/usr/bin/mawk", "awk", "/usr/bin/awk"));
    assert_true(ts_programs_match("app", "/usr/bin/dash", "/bin/sh", "/opt/shop/bin/app"));
    assert_false(ts_programs_match("/opt/shop/bin/*", "/usr/bin/dash", "app", "bin/app"));
    assert_false(ts_programs_match("/usr/bin/awk", "/usr/bin/mawk", "awk", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entries),   cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_read_file), cmocka_unit_test(test_glob),
        cmocka_unit_test(test_programs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
