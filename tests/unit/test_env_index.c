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

/* More entries that begin with O, J or T than the index holds: every
 * answer is getenv's own (also for a name past the index's end). */
static void test_more_than_it_holds(void **state)
{
    (void)state;
    static char text[80][32];
    char *env[82];
    int n = 0;
    for (int i = 0; i < 80; i++) {
        snprintf(text[i], sizeof text[i], "TRACESHIM_N%d=%d", i, i);
        env[n++] = text[i];
    }
    env[n++] = "OTEL_A=after";
    env[n] = NULL;
    same_answers_as_getenv(env, false);

    /* exactly as many as it holds: complete */
    env[TS_ENV_INDEX_MAX] = NULL;
    same_answers_as_getenv(env, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_answers),
        cmocka_unit_test(test_more_than_it_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
