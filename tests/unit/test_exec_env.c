/* test_exec_env.c — the environment a traced program's child starts with,
 * and ids that stay distinct across fork. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "hooks/env_context.h"
#include "hooks/exec_env.h"
#include "preload/ids.h"
#include "stderr_capture.h"

static char *const start_env[] = {
    "HOME=/root",
    "LD_PRELOAD=/opt/ts/libtraceshim.so",
    "TRACESHIM_FILE=/tmp/spans.jsonl",
    "OTEL_SERVICE_NAME=web",
    "JAEGER_AGENT_PORT=6831",
    "TRACEPARENT=00-11111111111111111111111111111111-2222222222222222-01",
    "TRACESHIM_B3=11111111111111111111111111111111-2222222222222222-d",
    NULL,
};

static const struct ts_ctx ctx = {
    .trace_id = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c,
                 0x80, 0x31, 0x9c},
    .span_id = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
    .sampling = TS_SAMPLING_ACCEPT,
    .valid = true,
};
#define CTX_ENTRY "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static int setup(void **state)
{
    (void)state;
    ts_exec_env_init(start_env, "/opt/ts/libtraceshim.so", NULL);
    return 0;
}

/* The child's environment as one string, entries joined by '|'. */
static const char *build_with(char *const envp[], const struct ts_ctx *c, const char *tracestate,
                              bool follow)
{
    static char joined[8192];
    static struct ts_exec_env_buf buf;
    size_t slots = ts_exec_env_slots(envp);
    char **out = calloc(slots, sizeof *out);
    assert_non_null(out);
    struct ts_exec_ctx parent = {c, tracestate, tracestate ? strlen(tracestate) : 0};
    ts_exec_env_build(envp, out, slots, &parent, follow, &buf);
    joined[0] = '\0';
    for (size_t i = 0; out[i]; i++) {
        assert_true(i < slots);
        if (i)
            strcat(joined, "|");
        strcat(joined, out[i]);
    }
    free(out);
    return joined;
}

static const char *build(char *const envp[], const struct ts_ctx *c, bool follow)
{
    return build_with(envp, c, NULL, follow);
}

static void test_traceparent_names_the_current_span(void **state)
{
    (void)state;
    char *const env[] = {"HOME=/root", start_env[1], start_env[2], start_env[3], start_env[4],
                         start_env[5], NULL};
    assert_string_equal(build(env, &ctx, true),
                        "HOME=/root|LD_PRELOAD=/opt/ts/libtraceshim.so|"
                        "TRACESHIM_FILE=/tmp/spans.jsonl|OTEL_SERVICE_NAME=web|"
                        "JAEGER_AGENT_PORT=6831|" CTX_ENTRY);
    /* unsampled context: flags 00 */
    struct ts_ctx deny = ctx;
    deny.sampling = TS_SAMPLING_DENY;
    char *const one[] = {"A=1", NULL};
    assert_string_equal(build(one, &deny, false),
                        "A=1|TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00");
    /* no context: the program's TRACEPARENT stays */
    char *const tp[] = {"TRACEPARENT=00-aa-bb-01", NULL};
    assert_string_equal(build(tp, NULL, false), "TRACEPARENT=00-aa-bb-01");
}

/* TRACESTATE goes with TRACEPARENT: the context's tracestate, or none; the
 * program's own is its own TRACEPARENT's and goes with it. */
static void test_tracestate_goes_with_the_traceparent(void **state)
{
    (void)state;
    char *const env[] = {"A=1", "TRACESTATE=old=1", "TRACEPARENT=00-aa-bb-01", NULL};
    assert_string_equal(build_with(env, &ctx, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", false),
                        "A=1|" CTX_ENTRY "|TRACESTATE=rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    assert_string_equal(build_with(env, &ctx, NULL, false), "A=1|" CTX_ENTRY);
    /* no context: both of the program's stay */
    assert_string_equal(build_with(env, NULL, "x=1", false),
                        "A=1|TRACESTATE=old=1|TRACEPARENT=00-aa-bb-01");
    /* the longest a tracestate may be fits */
    static char longest[TS_TRACESTATE_MAX + 1];
    memset(longest, 'a', TS_TRACESTATE_MAX);
    longest[1] = '=';
    const char *got = build_with(NULL, &ctx, longest, false);
    assert_non_null(strstr(got, "|TRACESTATE=a=aaa"));
    assert_int_equal(strlen(strstr(got, "|TRACESTATE=")), 1 + 11 + TS_TRACESTATE_MAX);
}

static void test_scrubbed_environment_gets_the_shim_back(void **state)
{
    (void)state;
    char *const scrubbed[] = {"PATH=/bin", NULL};
    assert_string_equal(build(scrubbed, &ctx, true),
                        "PATH=/bin|" CTX_ENTRY "|LD_PRELOAD=/opt/ts/libtraceshim.so|"
                        "TRACESHIM_FILE=/tmp/spans.jsonl|OTEL_SERVICE_NAME=web|"
                        "JAEGER_AGENT_PORT=6831");
    /* an empty environment, and none at all (envp NULL) */
    char *const empty[] = {NULL};
    assert_non_null(strstr(build(empty, &ctx, true), "LD_PRELOAD="));
    assert_non_null(strstr(build(NULL, &ctx, true), "LD_PRELOAD="));
    /* following off: only the context */
    assert_string_equal(build(scrubbed, &ctx, false), "PATH=/bin|" CTX_ENTRY);
}

static void test_values_the_program_set_win(void **state)
{
    (void)state;
    char *const env[] = {"OTEL_SERVICE_NAME=worker", NULL};
    const char *got = build(env, NULL, true);
    assert_non_null(strstr(got, "OTEL_SERVICE_NAME=worker"));
    assert_null(strstr(got, "OTEL_SERVICE_NAME=web"));
}

static void test_ld_preload_without_the_library_gets_it_first(void **state)
{
    (void)state;
    char *const env[] = {"LD_PRELOAD=/usr/lib/libother.so", NULL};
    assert_string_equal(build(env, NULL, true),
                        "LD_PRELOAD=/opt/ts/libtraceshim.so /usr/lib/libother.so|"
                        "TRACESHIM_FILE=/tmp/spans.jsonl|OTEL_SERVICE_NAME=web|"
                        "JAEGER_AGENT_PORT=6831");
    char *const kept[] = {"LD_PRELOAD=libtraceshim.so:/x.so", NULL};
    assert_non_null(strstr(build(kept, NULL, true), "LD_PRELOAD=libtraceshim.so:/x.so|"));
}

/* A relative span file (or none: the default in the cwd) names another
 * file after a chdir: the children get the absolute path this process
 * writes, in place of the entry it started with and among those put back;
 * an entry the program set itself stays, and with the start's entry
 * already absolute nothing changes. */
static void test_children_write_the_span_file_this_process_writes(void **state)
{
    (void)state;
    char *const relative[] = {"LD_PRELOAD=/opt/ts/libtraceshim.so", "TRACESHIM_FILE=spans.jsonl",
                              NULL};
    ts_exec_env_init(relative, "/opt/ts/libtraceshim.so", "/srv/app/spans.jsonl");
    const char *want = "LD_PRELOAD=/opt/ts/libtraceshim.so|TRACESHIM_FILE=/srv/app/spans.jsonl";
    assert_string_equal(build(relative, NULL, true), want);
    assert_string_equal(build(relative, NULL, false), want); /* not a following's entry */
    char *const scrubbed[] = {"PATH=/bin", NULL};
    assert_string_equal(build(scrubbed, NULL, true), "PATH=/bin|LD_PRELOAD=/opt/ts/libtraceshim.so|"
                                                     "TRACESHIM_FILE=/srv/app/spans.jsonl");
    assert_string_equal(build(scrubbed, NULL, false), "PATH=/bin");
    char *const own[] = {"TRACESHIM_FILE=mine.jsonl", NULL};
    assert_string_equal(build(own, NULL, true),
                        "TRACESHIM_FILE=mine.jsonl|LD_PRELOAD=/opt/ts/libtraceshim.so");
    /* started without one: the default's absolute path is put back */
    char *const bare[] = {"LD_PRELOAD=/opt/ts/libtraceshim.so", NULL};
    ts_exec_env_init(bare, "/opt/ts/libtraceshim.so", "/home/u/traceshim-spans.jsonl");
    assert_string_equal(build(bare, NULL, true), "LD_PRELOAD=/opt/ts/libtraceshim.so|"
                                                 "TRACESHIM_FILE=/home/u/traceshim-spans.jsonl");
    /* not following: a child that loads the library still gets it */
    assert_string_equal(build(bare, NULL, false), "LD_PRELOAD=/opt/ts/libtraceshim.so|"
                                                  "TRACESHIM_FILE=/home/u/traceshim-spans.jsonl");
    char *const without[] = {"LD_PRELOAD=/usr/lib/libother.so", NULL};
    assert_string_equal(build(without, NULL, false), "LD_PRELOAD=/usr/lib/libother.so");
    assert_string_equal(build(scrubbed, NULL, false), "PATH=/bin");
    /* without a span file (another exporter, the system file): as given */
    ts_exec_env_init(relative, "/opt/ts/libtraceshim.so", NULL);
    assert_string_equal(build(relative, NULL, true),
                        "LD_PRELOAD=/opt/ts/libtraceshim.so|TRACESHIM_FILE=spans.jsonl");
    assert_string_equal(build(scrubbed, NULL, true),
                        "PATH=/bin|LD_PRELOAD=/opt/ts/libtraceshim.so|TRACESHIM_FILE=spans.jsonl");
    /* the setup's absolute entry, its own path: unchanged */
    ts_exec_env_init(start_env, "/opt/ts/libtraceshim.so", "/tmp/spans.jsonl");
    assert_string_equal(build(scrubbed, NULL, true),
                        "PATH=/bin|LD_PRELOAD=/opt/ts/libtraceshim.so|"
                        "TRACESHIM_FILE=/tmp/spans.jsonl|OTEL_SERVICE_NAME=web|"
                        "JAEGER_AGENT_PORT=6831");
}

/* What a traceparent cannot say goes beside it in TRACESHIM_B3: the
 * debug flag, a 64-bit trace id with its 16 digits. A context that says
 * neither gets none; the program's own goes with its TRACEPARENT. */
static void test_b3_entry_says_what_traceparent_cannot(void **state)
{
    (void)state;
    char *const env[] = {"A=1", "TRACESHIM_B3=aa-bb-1", NULL};
    assert_string_equal(build(env, &ctx, false), "A=1|" CTX_ENTRY);
    struct ts_ctx debug = ctx;
    debug.sampling = TS_SAMPLING_DEBUG;
    assert_string_equal(build(env, &debug, false),
                        "A=1|" CTX_ENTRY "|TRACESHIM_B3=0af7651916cd43dd8448eb211c80319c-"
                        "b7ad6b7169203331-d");
    struct ts_ctx b64 = ctx;
    memset(b64.trace_id, 0, TS_TRACE_ID_LEN / 2);
    b64.trace_id_64 = true;
    assert_string_equal(build(NULL, &b64, false),
                        "TRACEPARENT=00-00000000000000008448eb211c80319c-b7ad6b7169203331-01|"
                        "TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331-1");
    b64.sampling = TS_SAMPLING_DENY;
    assert_string_equal(build(NULL, &b64, false),
                        "TRACEPARENT=00-00000000000000008448eb211c80319c-b7ad6b7169203331-00|"
                        "TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331-0");
    b64.sampling = TS_SAMPLING_DEBUG;
    assert_non_null(strstr(build_with(NULL, &b64, "k=v", false),
                           "|TRACESTATE=k=v|TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331-d"));
    /* no context: the program's stays; and the one the process started
     * with is not configuration to put back */
    assert_string_equal(build(env, NULL, false), "A=1|TRACESHIM_B3=aa-bb-1");
    assert_null(strstr(build(NULL, &ctx, true), "TRACESHIM_B3"));
}

/* The environment a child starts with, as its lookup. */
static char **child_env;

static const char *child_lookup(const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; child_env && child_env[i]; i++)
        if (strncmp(child_env[i], name, len) == 0 && child_env[i][len] == '=')
            return child_env[i] + len + 1;
    return NULL;
}

/* Load the process's context from env, as a child at start-up; returns
 * how many entries were ignored as not valid. */
static int load_from(char **env)
{
    struct ts_ctx none = {0};
    ts_ctx_set_process(&none);
    child_env = env;
    struct stderr_capture cap;
    char said[512];
    stderr_capture_begin(&cap);
    int ignored = ts_env_context_load(child_lookup);
    stderr_capture_end(&cap, said, sizeof said);
    return ignored;
}

/* A child continues the context its parent handed it as an in-process
 * call would: debug stays debug, a 64-bit trace id 64-bit. */
static void test_child_continues_debug_and_64_bit_ids(void **state)
{
    (void)state;
    struct ts_ctx sent = ctx;
    memset(sent.trace_id, 0, TS_TRACE_ID_LEN / 2);
    sent.trace_id_64 = true;
    sent.sampling = TS_SAMPLING_DEBUG;
    char *out[8];
    static struct ts_exec_env_buf buf;
    struct ts_exec_ctx parent = {&sent, NULL, 0};
    assert_int_equal(load_from(ts_exec_env_build(NULL, out, 8, &parent, false, &buf)), 0);
    const struct ts_ctx *got = ts_ctx_process();
    assert_non_null(got);
    assert_memory_equal(got->trace_id, sent.trace_id, TS_TRACE_ID_LEN);
    assert_memory_equal(got->span_id, sent.span_id, TS_SPAN_ID_LEN);
    assert_true(got->trace_id_64);
    assert_int_equal(got->sampling, TS_SAMPLING_DEBUG);
    assert_true(got->remote);

    /* a 32-digit debug context, and a plain one */
    sent = ctx;
    sent.sampling = TS_SAMPLING_DEBUG;
    assert_int_equal(load_from(ts_exec_env_build(NULL, out, 8, &parent, false, &buf)), 0);
    assert_false(ts_ctx_process()->trace_id_64);
    assert_int_equal(ts_ctx_process()->sampling, TS_SAMPLING_DEBUG);
    sent.sampling = TS_SAMPLING_ACCEPT;
    assert_int_equal(load_from(ts_exec_env_build(NULL, out, 8, &parent, false, &buf)), 0);
    assert_int_equal(ts_ctx_process()->sampling, TS_SAMPLING_ACCEPT);
}

/* TRACESHIM_B3 counts only beside its own TRACEPARENT: one of another
 * span, trace or decision is left out (a program gave its child a
 * TRACEPARENT of its own); one that does not parse is an error. */
static void test_b3_entry_of_another_context_is_ignored(void **state)
{
    (void)state;
    char tp[] = "TRACEPARENT=00-00000000000000008448eb211c80319c-b7ad6b7169203331-01";
    char *cases[] = {
        "TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203332-d", /* another span */
        "TRACESHIM_B3=1448eb211c80319c-b7ad6b7169203331-d", /* another trace */
        "TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331-0", /* not sampled */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *env[] = {tp, cases[i], NULL};
        assert_int_equal(load_from(env), 0);
        assert_non_null(ts_ctx_process());
        assert_false(ts_ctx_process()->trace_id_64);
        assert_int_equal(ts_ctx_process()->sampling, TS_SAMPLING_ACCEPT);
    }
    char *bad[] = {
        "TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331",   /* no decision */
        "TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331-x", /* not one */
        "TRACESHIM_B3=d",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *env[] = {tp, bad[i], NULL};
        assert_int_equal(load_from(env), 1);
        assert_non_null(ts_ctx_process());
        assert_false(ts_ctx_process()->trace_id_64);
    }
    /* without a TRACEPARENT it says nothing */
    char *alone[] = {"TRACESHIM_B3=8448eb211c80319c-b7ad6b7169203331-d", NULL};
    assert_int_equal(load_from(alone), 0);
    assert_null(ts_ctx_process());
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Four forked children (with the fork handler's reseed) each make 25,000
 * span ids: no id appears twice among the 100,000. */
static void test_ids_distinct_across_forked_children(void **state)
{
    (void)state;
    enum { KIDS = 4, PER = 25000 };
    static uint64_t all[KIDS * PER];
    int fds[KIDS][2];
    uint8_t warm[TS_SPAN_ID_LEN];
    ts_ids_new_span(warm); /* the parent's generator is seeded before the forks */
    for (int k = 0; k < KIDS; k++) {
        assert_int_equal(pipe(fds[k]), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            ts_ids_after_fork();
            for (int i = 0; i < PER; i++) {
                uint8_t id[TS_SPAN_ID_LEN];
                ts_ids_new_span(id);
                if (write(fds[k][1], id, sizeof id) != (ssize_t)sizeof id)
                    _exit(2);
            }
            _exit(0);
        }
        close(fds[k][1]);
    }
    size_t n = 0;
    for (int k = 0; k < KIDS; k++) {
        uint8_t id[TS_SPAN_ID_LEN];
        while (read(fds[k][0], id, sizeof id) == (ssize_t)sizeof id) {
            uint64_t v;
            memcpy(&v, id, sizeof v);
            all[n++] = v;
        }
        close(fds[k][0]);
        int st;
        wait(&st);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    assert_int_equal(n, KIDS * PER);
    qsort(all, n, sizeof all[0], cmp_u64);
    for (size_t i = 1; i < n; i++)
        if (all[i] == all[i - 1])
            fail_msg("span id %016llx made twice", (unsigned long long)all[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_traceparent_names_the_current_span, setup),
        cmocka_unit_test_setup(test_tracestate_goes_with_the_traceparent, setup),
        cmocka_unit_test_setup(test_scrubbed_environment_gets_the_shim_back, setup),
        cmocka_unit_test_setup(test_values_the_program_set_win, setup),
        cmocka_unit_test_setup(test_ld_preload_without_the_library_gets_it_first, setup),
        cmocka_unit_test_setup(test_b3_entry_says_what_traceparent_cannot, setup),
        cmocka_unit_test_setup(test_children_write_the_span_file_this_process_writes, setup),
        cmocka_unit_test(test_child_continues_debug_and_64_bit_ids),
        cmocka_unit_test(test_b3_entry_of_another_context_is_ignored),
        cmocka_unit_test(test_ids_distinct_across_forked_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
