/* test_env_index.c — the start's one-pass index of the environment
 * (preload/env_index.h) answers every lookup as getenv does, over the same
 * environment: the first entry of a name, names that are prefixes of
 * others, entries without '=', empty values, names the index does not
 * hold, and an environment with more entries than it holds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "preload/env_index.h"

extern char **environ;

/* getenv, counted: the index's lookups that it could not answer. */
static unsigned getenv_calls;
char *getenv(const char *name)
{
    getenv_calls++;
    size_t n = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static const char *const names[] = {
    "OTEL_A",
    "OTEL_AB",
    "OTEL_",
    "OTEL_SERVICE_NAME",
    "TRACESHIM_X",
    "TRACESHIM_Y",
    "TRACESHIM_Z",
    "JAEGER_Z",
    "JAEGER_AGENT_HOST",
    "TRACEPARENT",
    "TRACESTATE",
    "PATH",
    "HOME",
    "O",
    "T",
    "TRACESHIM_FILE",
    "OTEL_SDK_DISABLED",
    "TRACESHIM_N63",
    "TRACESHIM_N64",
    "TRACESHIM_N70",
    "",
    "otel_a",
    "TRACESHIM_N0",
    "OTEL_B",
};

/* Every name of the table, looked up through an index of env and by
 * getenv with env as the process's environment: the same answers (the
 * environment is put back before anything is asserted). */
static void same_answers_as_getenv(char **env, bool want_complete)
{
    enum { N = sizeof names / sizeof names[0] };
    const char *want[N], *got[N];
    char **saved = environ;
    environ = env;
    struct ts_env_index ix;
    ts_env_index_build(&ix, env);
    for (size_t i = 0; i < N; i++) {
        want[i] = getenv(names[i]);
        got[i] = ts_env_index_get(&ix, names[i]);
    }
    environ = saved;
    assert_int_equal(ix.complete, want_complete);
    for (size_t i = 0; i < N; i++)
        if (got[i] != want[i]) /* the very entry getenv finds */
            fail_msg("%s: getenv \"%s\", the index \"%s\"", names[i], want[i] ? want[i] : "NULL",
                     got[i] ? got[i] : "NULL");
}

static void test_same_answers(void **state)
{
    (void)state;
    char *env[] = {
        "PATH=/usr/bin",
        "OTEL_AB=2",
        "OTEL_A=1",
        "TRACESHIM_X=first",
        "TRACESHIM_X=second",
        "TRACESHIM_Y",
        "JAEGER_Z=",
        "TRACEPARENT=00-abc",
        "HOME=/root",
        "OTHER=OTEL_A=no",
        "T=t",
        "OTEL_SERVICE_NAME=a=b",
        NULL,
    };
    same_answers_as_getenv(env, true);
    char *none[] = {NULL};
    same_answers_as_getenv(none, true);
}

/* More entries that begin with O, J or T than the index holds: a name
 * among the first it holds is answered from it, any other by getenv, and
 * every answer is getenv's own (names past the index's end, and after). */
static void test_more_than_it_holds(void **state)
{
    (void)state;
    static char text[80][32];
    char *env[83];
    int n = 0;
    for (int i = 0; i < 80; i++) {
        snprintf(text[i], sizeof text[i], "TRACESHIM_N%d=%d", i, i);
        env[n++] = text[i];
    }
    env[n++] = "OTEL_A=after";
    env[n++] = "OTEL_B=after";
    env[n] = NULL;
    same_answers_as_getenv(env, false);

    /* exactly as many as it holds: complete */
    env[TS_ENV_INDEX_MAX] = NULL;
    same_answers_as_getenv(env, true);
}

/* Names as long as the index can say (USHRT_MAX - 1) and longer: an
 * entry whose name is too long is never matched by the index, a lookup of
 * one goes to getenv. */
static void test_long_names(void **state)
{
    (void)state;
    enum { LONG = 65535 };
    static char at_limit[LONG + 8], past_limit[LONG + 8], name_at[LONG], name_past[LONG + 2];
    memset(name_at, 'T', LONG - 1);   /* USHRT_MAX - 1 characters */
    memset(name_past, 'O', LONG + 1); /* USHRT_MAX + 1 */
    snprintf(at_limit, sizeof at_limit, "%s=at", name_at);
    snprintf(past_limit, sizeof past_limit, "%s=past", name_past);
    char *env[] = {at_limit, past_limit, "OTEL_A=1", NULL};
    char **saved = environ;
    environ = env;
    struct ts_env_index ix;
    ts_env_index_build(&ix, env);
    const char *at = ts_env_index_get(&ix, name_at), *past = ts_env_index_get(&ix, name_past);
    const char *want_at = getenv(name_at), *want_past = getenv(name_past);
    const char *a = ts_env_index_get(&ix, "OTEL_A");
    environ = saved;
    assert_ptr_equal(at, want_at);
    assert_non_null(at);
    assert_ptr_equal(past, want_past);
    assert_non_null(past);
    assert_string_equal(a, "1");
}

/* A pod's 300 variables of a collector's service, more than the index
 * holds: a name in none of them is answered from the filter, but for
 * the filter's false "may be", which sends it to getenv's walk of all
 * 300. At most 1.5% of names (19 of these 2,000 with three bits in
 * 4096; 148 with two bits in 2048, two of the configuration's JAEGER_
 * names among them: test_startup.py). */
static void test_few_lookups_pass_the_filter(void **state)
{
    (void)state;
    enum { SET = 300, LOOKED_UP = 2000 };
    static char text[SET][48];
    static char *env[SET + 1];
    for (int i = 0; i < SET; i++) {
        snprintf(text[i], sizeof text[i], "JAEGER_COLLECTOR_PORT_%d_TCP=10.0.1.%d", i, i % 256);
        env[i] = text[i];
    }
    struct ts_env_index ix;
    ts_env_index_build(&ix, env);
    assert_false(ix.complete);
    char **saved = environ;
    environ = env;
    getenv_calls = 0;
    for (int i = 0; i < LOOKED_UP; i++) {
        char name[48];
        snprintf(name, sizeof name, i % 2 ? "OTEL_UNSET_%d" : "JAEGER_UNSET_%d", i);
        assert_null(ts_env_index_get(&ix, name));
    }
    unsigned passed = getenv_calls;
    environ = saved;
    assert_true(passed * 1000 <= LOOKED_UP * 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers),
        cmocka_unit_test(test_more_than_it_holds),
        cmocka_unit_test(test_long_names),
        cmocka_unit_test(test_few_lookups_pass_the_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
