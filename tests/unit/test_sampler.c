/* test_sampler.c — the sampler: every OpenTelemetry sampler name and every
 * Jaeger type, rejected values (one error line each, then the default),
 * parent handling, trace-id ratio (deterministic, boundaries, the rate
 * over many ids), rate limiting, remote strategies (probabilistic, rate
 * limiting, per operation with a lower bound, numeric strategyType,
 * malformed answers), the strategy URL, Jaeger's sampler.type and
 * sampler.param tags (also in a decimal-comma locale), and deciding on
 * many threads while strategies change. stderr is redirected into a pipe
 * around each load so that the lines the real ts_log writes can be
 * checked. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "comma_locale.h"
#include "preload/clock.h"
#include "reporter/sampler.h"
#include "reporter/sampler_tags.h"

/* ------------------------------------------------------------- environment */

/* A test's environment: name/value pairs, ended by a NULL name. */
struct var {
    const char *name;
    const char *value;
};

static const struct var *test_env;

static const char *test_lookup(const char *name)
{
    for (const struct var *v = test_env; v && v->name; v++)
        if (!strcmp(v->name, name))
            return v->value;
    return NULL;
}

static char log_text[8192];

/* ts_sampler_load under env; what it logged goes to log_text. */
static int load_env(const struct var *env)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(stderr);
    int keep = dup(2);
    assert_true(keep >= 0);
    dup2(p[1], 2);
    close(p[1]);
    test_env = env;
    int errors = ts_sampler_load(test_lookup);
    dup2(keep, 2);
    close(keep);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof log_text - 1 && (r = read(p[0], log_text + n, sizeof log_text - 1 - n)) > 0)
        n += (size_t)r;
    log_text[n] = '\0';
    close(p[0]);
    return errors;
}

/* Load env and require exactly `errors` rejections, each one
 * "traceshim: invalid VAR=..." line naming what was expected. */
static void load_expect(const struct var *env, int errors)
{
    int got = load_env(env);
    int lines = 0;
    for (const char *l = log_text; *l; lines++) {
        if (strncmp(l, "traceshim: invalid ", 19) != 0 || !strstr(l, "\": expected "))
            fail_msg("unexpected log line: %s", l);
        l = strchr(l, '\n');
        assert_non_null(l);
        l++;
    }
    if (got != errors || lines != errors)
        fail_msg("expected %d rejections, got %d with %d lines:\n%s", errors, got, lines, log_text);
}

#define ENV(...) ((const struct var[]){__VA_ARGS__, {NULL, NULL}})
#define NO_ENV ((const struct var[]){{NULL, NULL}})

/* ------------------------------------------------------------- ids and parents */

/* A trace id whose low 8 bytes (the part ratio sampling reads) are low. */
static void make_id(uint8_t id[TS_TRACE_ID_LEN], uint64_t high, uint64_t low)
{
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(high >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(low >> (56 - 8 * i));
    }
}

/* splitmix64: reproducible "random" ids, so the rate checks cannot flake. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#define LOW_ID 0ull        /* sampled by any ratio above 0 */
#define HIGH_ID UINT64_MAX /* sampled only by ratio 1 */

enum parent { ROOT, ACCEPT, DENY, DEFER, DEBUG, INVALID };

/* A parent of kind pk in a trace whose low part is `low`; NULL for ROOT. */
static const struct ts_ctx *make_parent(enum parent pk, uint64_t low, struct ts_ctx *ctx)
{
    memset(ctx, 0, sizeof *ctx);
    make_id(ctx->trace_id, 0x0123456789abcdefull, low);
    ctx->valid = pk != INVALID;
    ctx->sampling = pk == ACCEPT  ? TS_SAMPLING_ACCEPT
                    : pk == DENY  ? TS_SAMPLING_DENY
                    : pk == DEBUG ? TS_SAMPLING_DEBUG
                                  : TS_SAMPLING_DEFER;
    if (pk == INVALID)
        ctx->sampling = TS_SAMPLING_ACCEPT; /* must be ignored */
    return pk == ROOT ? NULL : ctx;
}

/* Decide for a span named name in a trace with low part `low` under parent. */
static bool decide_named(enum parent pk, uint64_t low, const char *name)
{
    struct ts_ctx ctx;
    const struct ts_ctx *parent = make_parent(pk, low, &ctx);
    return ts_sampler_should_sample(parent, ctx.trace_id, name, name ? strlen(name) : 0);
}

static bool reads_name(enum parent pk)
{
    struct ts_ctx ctx;
    return ts_sampler_reads_name(make_parent(pk, LOW_ID, &ctx));
}

static bool decide(enum parent pk, uint64_t low)
{
    return decide_named(pk, low, "GET /");
}

/* The root decision for low and high ids, and what each parent yields
 * (for parents, the id is the one the root rejects when the root has a
 * ratio: that shows whether the parent was followed). */
struct expect {
    bool root_low, root_high;
    bool accept, deny, defer, debug;
};

static void check_decisions(const char *what, struct expect e)
{
    bool got[6] = {decide(ROOT, LOW_ID), decide(ROOT, HIGH_ID), decide(ACCEPT, HIGH_ID),
                   decide(DENY, LOW_ID), decide(DEFER, LOW_ID), decide(DEBUG, HIGH_ID)};
    bool want[6] = {e.root_low, e.root_high, e.accept, e.deny, e.defer, e.debug};
    static const char *names[6] = {"root low",    "root high",    "ACCEPT parent",
                                   "DENY parent", "DEFER parent", "DEBUG parent"};
    for (int i = 0; i < 6; i++)
        if (got[i] != want[i])
            fail_msg("%s: %s decided %d, expected %d", what, names[i], got[i], want[i]);
    /* An invalid parent is no parent. */
    assert_int_equal(decide(INVALID, LOW_ID), e.root_low);
    assert_int_equal(decide(INVALID, HIGH_ID), e.root_high);
}

/* How many of n decisions for root spans named name are sampled. */
static int count_sampled(int n, const char *name)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += decide_named(ROOT, HIGH_ID, name);
    return k;
}

static double elapsed_s(uint64_t since_ms)
{
    return (double)(ts_mono_ms() - since_ms) / 1000.0;
}

/* ------------------------------------------------------------- names */

static void test_default_is_parentbased_always_on(void **state)
{
    (void)state;
    load_expect(NO_ENV, 0);
    check_decisions("default", (struct expect){1, 1, 1, 0, 1, 1});
    char url[256];
    assert_false(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_int_equal(ts_sampler_poll_interval_ms(), 60000);
    /* NULL lookup: the defaults too. */
    assert_int_equal(ts_sampler_load(NULL), 0);
    check_decisions("NULL lookup", (struct expect){1, 1, 1, 0, 1, 1});
}

/* A configuration and the decisions it must give. */
struct sampler_case {
    const char *what;
    const struct var *env;
    struct expect e;
};

#define OTEL(name) ENV({"OTEL_TRACES_SAMPLER", name})
#define OTEL_ARG(name, arg) ENV({"OTEL_TRACES_SAMPLER", name}, {"OTEL_TRACES_SAMPLER_ARG", arg})
#define JAEGER(type, param) ENV({"JAEGER_SAMPLER_TYPE", type}, {"JAEGER_SAMPLER_PARAM", param})

/* Non-parent-based samplers decide ACCEPT and DENY parents at the root
 * (HIGH_ID / LOW_ID there): a ratio 0.5 root shows it. The remote samplers
 * start at their initial rate, 0.001. */
static const struct sampler_case sampler_cases[] = {
    {"always_on", OTEL("always_on"), {1, 1, 1, 1, 1, 1}},
    {"always_off", OTEL("always_off"), {0, 0, 0, 0, 0, 1}},
    {"traceidratio", OTEL_ARG("traceidratio", "0.5"), {1, 0, 0, 1, 1, 1}},
    {"traceidratio, no arg", OTEL("traceidratio"), {1, 1, 1, 1, 1, 1}},
    {"parentbased_always_on", OTEL("parentbased_always_on"), {1, 1, 1, 0, 1, 1}},
    {"parentbased_always_off", OTEL("parentbased_always_off"), {0, 0, 1, 0, 0, 1}},
    {"parentbased_traceidratio", OTEL_ARG("parentbased_traceidratio", "0.5"), {1, 0, 1, 0, 1, 1}},
    {"jaeger_remote", OTEL("jaeger_remote"), {1, 0, 0, 1, 1, 1}},
    {"parentbased_jaeger_remote", OTEL("parentbased_jaeger_remote"), {1, 0, 1, 0, 1, 1}},
    /* names are case-insensitive, blanks around them ignored */
    {"Always_Off", OTEL(" Always_Off\t"), {0, 0, 0, 0, 0, 1}},
    /* the argument means nothing to the fixed samplers */
    {"always_on + arg", OTEL_ARG("always_on", "junk"), {1, 1, 1, 1, 1, 1}},
    /* Jaeger's samplers, all parent-based */
    {"const 1", JAEGER("const", "1"), {1, 1, 1, 0, 1, 1}},
    {"const 0", JAEGER("const", "0"), {0, 0, 1, 0, 0, 1}},
    {"const, no param", ENV({"JAEGER_SAMPLER_TYPE", "const"}), {1, 1, 1, 0, 1, 1}},
    {"probabilistic 0.5", JAEGER("probabilistic", "0.5"), {1, 0, 1, 0, 1, 1}},
    {"remote", ENV({"JAEGER_SAMPLER_TYPE", "remote"}), {1, 0, 1, 0, 1, 1}},
    {"remote 1", JAEGER("remote", "1"), {1, 1, 1, 0, 1, 1}},
    /* an empty OTEL_TRACES_SAMPLER is unset: Jaeger's variables apply */
    {"empty OTel",
     ENV({"OTEL_TRACES_SAMPLER", ""}, {"JAEGER_SAMPLER_TYPE", "const"},
         {"JAEGER_SAMPLER_PARAM", "0"}),
     {0, 0, 1, 0, 0, 1}},
    /* OTEL_TRACES_SAMPLER, when set, is the only one read */
    {"OTel over Jaeger",
     ENV({"OTEL_TRACES_SAMPLER", "always_off"}, {"JAEGER_SAMPLER_TYPE", "const"},
         {"JAEGER_SAMPLER_PARAM", "1"}),
     {0, 0, 0, 0, 0, 1}},
};

static void test_sampler_names(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof sampler_cases / sizeof sampler_cases[0]; i++) {
        load_expect(sampler_cases[i].env, 0);
        check_decisions(sampler_cases[i].what, sampler_cases[i].e);
    }
}

static void test_jaeger_details(void **state)
{
    (void)state;
    load_expect(JAEGER("PROBABILISTIC", "1e-3"), 0);
    assert_true(decide(ROOT, 1000));
    assert_false(decide(ROOT, UINT64_MAX / 500));

    load_expect(JAEGER("ratelimiting", "2"), 0);
    uint64_t t0 = ts_mono_ms();
    int n = count_sampled(100, "GET /");
    assert_in_range(n, 2, 2 + (int)(2 * elapsed_s(t0)) + 1);
    assert_true(decide(ACCEPT, HIGH_ID)); /* parent-based */
    assert_false(decide(DENY, LOW_ID));

    char url[512];
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}), 0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=svc");
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"},
                    {"JAEGER_SAMPLER_MANAGER_HOST_PORT", "agent.local:15778"}),
                0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://agent.local:15778/sampling?service=svc");
    load_expect(
        ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_SAMPLER_MANAGER_HOST_PORT", "[::1]:5778"}),
        0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "s"));
    assert_string_equal(url, "http://[::1]:5778/sampling?service=s");

    /* JAEGER_SAMPLING_ENDPOINT, a URL, wins over the deprecated
     * JAEGER_SAMPLER_MANAGER_HOST_PORT (as in jaeger-client-go) */
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"},
                    {"JAEGER_SAMPLING_ENDPOINT", "http://127.0.0.1:15779/sampling"},
                    {"JAEGER_SAMPLER_MANAGER_HOST_PORT", "agent.local:15778"}),
                0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://127.0.0.1:15779/sampling?service=svc");
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"},
                    {"JAEGER_SAMPLING_ENDPOINT", "https://agent/sampling"}),
                1);
    assert_non_null(strstr(log_text, "JAEGER_SAMPLING_ENDPOINT"));
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=svc");
    /* neither: port 5778 of the agent's host, when that is set */
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_AGENT_HOST", "jaeger-agent"}), 0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://jaeger-agent:5778/sampling?service=svc");
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_AGENT_HOST", "fd00::1"}), 0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://[fd00::1]:5778/sampling?service=svc");
    /* a zone's '%' is "%25" in the URL (RFC 6874) */
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_AGENT_HOST", "fe80::1%eth0"}), 0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://[fe80::1%25eth0]:5778/sampling?service=svc");
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"},
                    {"JAEGER_SAMPLER_MANAGER_HOST_PORT", "[fe80::1%eth0]:5778"}),
                0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "s"));
    assert_string_equal(url, "http://[fe80::1%eth0]:5778/sampling?service=s");
    /* a zone that is no interface's name: said so (the jaeger exporter,
     * which would say it first, is not in use) */
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_AGENT_HOST", "fe80::1%a/b"}), 1);
    assert_non_null(strstr(log_text, "interface's name or index"));
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=svc");
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_AGENT_HOST", "a/b"}), 1);
    assert_non_null(strstr(log_text, "JAEGER_AGENT_HOST"));
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=svc");
    /* a host with a port: refused by the sampler's line, or, with the
     * jaeger exporter on, by the configuration's alone (it said two) */
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"JAEGER_AGENT_HOST", "127.0.0.1:6831"}), 1);
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"TRACESHIM_EXPORTER", "file,jaeger"},
                    {"JAEGER_AGENT_HOST", "127.0.0.1:6831"}),
                0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=svc");
    load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"}, {"OTEL_TRACES_EXPORTER", "jaeger"},
                    {"JAEGER_AGENT_HOST", "[::1]"}),
                0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://[::1]:5778/sampling?service=svc");
}

/* ------------------------------------------------------------- rejected values */

static void test_rejected_values(void **state)
{
    (void)state;
    static const char *bad_ratios[] = {"1.5", "abc",  "-0.1", "nan", "inf",
                                       "0x1", "0.5x", ".",    "1e",  "0,5"};
    for (size_t i = 0; i < sizeof bad_ratios / sizeof bad_ratios[0]; i++) {
        load_expect(OTEL_ARG("parentbased_traceidratio", bad_ratios[i]), 1);
        assert_non_null(strstr(log_text, "OTEL_TRACES_SAMPLER_ARG"));
        /* the default ratio, 1.0: everything at the root; still parent-based */
        check_decisions(bad_ratios[i], (struct expect){1, 1, 1, 0, 1, 1});
    }
    load_expect(OTEL_ARG("traceidratio", " .25 "), 0);
    assert_true(decide(ROOT, UINT64_MAX / 4 - 1));
    assert_false(decide(ROOT, UINT64_MAX / 4 + 1));

    /* An unknown sampler: parentbased_always_on, its argument unread. */
    load_expect(OTEL_ARG("sometimes", "zzz"), 1);
    assert_non_null(strstr(log_text, "invalid OTEL_TRACES_SAMPLER=\"sometimes\": expected "));
    check_decisions("unknown", (struct expect){1, 1, 1, 0, 1, 1});
    /* Control bytes are not written to the terminal; long values are cut. */
    load_expect(OTEL("bad\033[31m\nname"), 1);
    assert_non_null(strstr(log_text, "\"bad?[31m?name\""));
    char longv[300];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    load_expect(OTEL(longv), 1);
    assert_non_null(strstr(log_text, "xxx...\": expected"));

    /* Jaeger: a bad type, bad parameters, a bad manager address. */
    load_expect(JAEGER("lowerbound", "x"), 1);
    check_decisions("bad Jaeger type", (struct expect){1, 1, 1, 0, 1, 1});
    load_expect(JAEGER("const", "0.5"), 1);
    check_decisions("const 0.5 -> 1", (struct expect){1, 1, 1, 0, 1, 1});
    load_expect(JAEGER("probabilistic", "2"), 1);
    check_decisions("probabilistic 2 -> 0.001", (struct expect){1, 0, 1, 0, 1, 1});
    load_expect(JAEGER("ratelimiting", "-1"), 1);
    load_expect(JAEGER("remote", "many"), 1);
    char url[512];
    static const char *bad_host_ports[] = {"localhost", "host:", ":5778",    "h:0",
                                           "h:99999",   "h:1/x", "::1:5778", "a b:1"};
    for (size_t i = 0; i < sizeof bad_host_ports / sizeof bad_host_ports[0]; i++) {
        load_expect(ENV({"JAEGER_SAMPLER_TYPE", "remote"},
                        {"JAEGER_SAMPLER_MANAGER_HOST_PORT", bad_host_ports[i]}),
                    1);
        assert_true(ts_sampler_remote_url(url, sizeof url, "s"));
        assert_string_equal(url, "http://localhost:5778/sampling?service=s");
    }
}

/* OTEL_TRACES_SAMPLER_ARG as messages show it: no user, no query value,
 * however the endpoint is written or mistyped. */
static void test_remote_arg_shown(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"endpoint=http://127.0.0.1:5778/sampling,pollingIntervalMs=5",
         "endpoint=http://127.0.0.1:5778/sampling,pollingIntervalMs=5"},
        {"endpoint=http://bob:S1@agent:5778/sampling?token=S2,initialSamplingRate=2",
         "endpoint=http://(not shown)@agent:5778/sampling?token=(not shown),"
         "initialSamplingRate=2"},
        /* the key forgotten, the scheme mistyped or missing */
        {"http://bob:S1@h:5778/sampling?token=S2",
         "http://(not shown)@h:5778/sampling?token=(not shown)"},
        {"endpoint=bob:S1@h:5778/sampling", "endpoint=(not shown)@h:5778/sampling"},
        {"endpoint=http:/bob:S1@h/x?token=S2", "endpoint=(not shown)@h/x?token=(not shown)"},
        /* a query the list split at a comma, an entry without a key */
        {"endpoint=http://h/s?token=ab,S3TAIL",
         "endpoint=http://h/s?token=(not shown),(not shown)"},
        {" Endpoint = x@y ", " Endpoint =(not shown)@y "},
        {"", ""},
        {",,", ",,"},
        /* nothing like a URL: as written (a ratio sampler's argument) */
        {"0.5x", "0.5x"},
        {"endpoint,pollingIntervalMs", "endpoint,pollingIntervalMs"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_sampler_arg_shown(cases[i][0], out, sizeof out);
        assert_string_equal(out, cases[i][1]);
    }
    /* cut to fit, NUL kept */
    ts_sampler_arg_shown("endpoint=http://h/sampling", out, 12);
    assert_string_equal(out, "endpoint=ht");
    /* the library's line */
    load_expect(ENV({"OTEL_TRACES_SAMPLER", "jaeger_remote"},
                    {"OTEL_TRACES_SAMPLER_ARG", "endpoint=http://bob:S1@agent:5778/x?token=S2"}),
                1);
    assert_null(strstr(log_text, "S1"));
    assert_null(strstr(log_text, "S2"));
}

static void test_remote_arg(void **state)
{
    (void)state;
    char url[512];
    load_expect(
        ENV({"OTEL_TRACES_SAMPLER", "jaeger_remote"},
            {"OTEL_TRACES_SAMPLER_ARG", " endpoint=http://agent:1234/s?x=1 , pollingIntervalMs=250,"
                                        "initialSamplingRate=1,"}),
        0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "svc"));
    assert_string_equal(url, "http://agent:1234/s?x=1&service=svc");
    assert_int_equal(ts_sampler_poll_interval_ms(), 250);
    assert_true(decide(ROOT, HIGH_ID));

    /* Unknown keys and entries without '=' are errors, and then the whole
     * argument is ignored, as if it were not set (OpenTelemetry: invalid
     * input is logged and otherwise ignored): initialSamplingRate=0 beside
     * them does not apply, the default 0.001 does (it samples LOW_ID).
     * Each line says which entry (the key of one with '='; one without
     * may be a secret: not repeated). */
    load_expect(OTEL_ARG("jaeger_remote", "foo=1,initialSamplingRate=0,bare"), 2);
    assert_true(decide(ROOT, LOW_ID));
    assert_false(decide(ROOT, HIGH_ID));
    assert_int_equal(ts_sampler_poll_interval_ms(), 60000);
    assert_non_null(strstr(log_text, "initialSamplingRate=RATE, not \"foo\"\n"));
    assert_non_null(strstr(log_text, "initialSamplingRate=RATE, not an entry without =\n"));
    /* One bad value: the good entries around it are ignored too. */
    load_expect(OTEL_ARG("jaeger_remote",
                         "endpoint=http://agent:1234/s,pollingIntervalMs=50,initialSamplingRate=1"),
                1);
    assert_true(ts_sampler_remote_url(url, sizeof url, "s"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=s");
    assert_int_equal(ts_sampler_poll_interval_ms(), 60000);
    assert_false(decide(ROOT, HIGH_ID));

    /* The sampler's endpoint is not called the exporter's. */
    load_expect(OTEL_ARG("jaeger_remote", "endpoint=https://x/sampling"), 1);
    assert_non_null(strstr(log_text, "expected endpoint to be an http:// URL (https is not "
                                     "supported: the remote sampler polls"));
    assert_null(strstr(log_text, "exporter"));

    /* Bad values: each one line, and its default. */
    load_expect(ENV({"OTEL_TRACES_SAMPLER", "jaeger_remote"},
                    {"OTEL_TRACES_SAMPLER_ARG",
                     "endpoint=https://agent/sampling,pollingIntervalMs=50,initialSamplingRate=7"}),
                3);
    assert_true(ts_sampler_remote_url(url, sizeof url, "s"));
    assert_string_equal(url, "http://localhost:5778/sampling?service=s");
    assert_int_equal(ts_sampler_poll_interval_ms(), 60000);
    check_decisions("initial default", (struct expect){1, 0, 0, 1, 1, 1});
    load_expect(OTEL_ARG("jaeger_remote", "pollingIntervalMs=100.5,endpoint="), 2);
    assert_int_equal(ts_sampler_poll_interval_ms(), 60000);
    load_expect(OTEL_ARG("jaeger_remote", "pollingIntervalMs=99999999999999999999999"), 1);
    char huge[1200] = "endpoint=http://h/";
    memset(huge + strlen(huge), 'p', sizeof huge - strlen(huge) - 1);
    huge[sizeof huge - 1] = '\0';
    load_expect(OTEL_ARG("jaeger_remote", huge), 1);
}

/* ------------------------------------------------------------- ratio */

static void test_ratio(void **state)
{
    (void)state;
    load_expect(OTEL_ARG("traceidratio", "0.25"), 0);
    uint64_t rnd = 42;
    int hits = 0;
    for (int i = 0; i < 20000; i++) {
        uint64_t low = next_random(&rnd);
        bool d = decide(ROOT, low);
        hits += d;
        /* the same trace always gets the same answer, whatever the high half */
        uint8_t id[TS_TRACE_ID_LEN];
        make_id(id, next_random(&rnd), low);
        assert_int_equal(ts_sampler_should_sample(NULL, id, "x", 1), d);
        assert_int_equal(d, low < (1ull << 62)); /* exactly ratio * 2^64 */
    }
    assert_in_range(hits, 20000 * 22 / 100, 20000 * 28 / 100);

    load_expect(OTEL_ARG("traceidratio", "0.5"), 0);
    assert_true(decide(ROOT, (1ull << 63) - 1));
    assert_false(decide(ROOT, 1ull << 63));
    load_expect(OTEL_ARG("traceidratio", "0"), 0);
    assert_false(decide(ROOT, 0));
    assert_false(decide(ROOT, 1));
    load_expect(OTEL_ARG("traceidratio", "1"), 0);
    assert_true(decide(ROOT, UINT64_MAX));
    assert_true(decide(ROOT, 0));
    /* just below 1: rounds to "always" rather than overflowing */
    load_expect(OTEL_ARG("traceidratio", "0.99999999999999999999"), 0);
    assert_true(decide(ROOT, UINT64_MAX));
    /* a NULL trace id is read as the highest: only ratio 1 samples it */
    assert_true(ts_sampler_should_sample(NULL, NULL, NULL, 0));
}

/* ------------------------------------------------------------- rate limiting */

static void test_rate_limiting(void **state)
{
    (void)state;
    load_expect(JAEGER("ratelimiting", "100"), 0);
    uint64_t t0 = ts_mono_ms();
    int first = count_sampled(1000, "a");
    assert_in_range(first, 100, 100 + (int)(100 * elapsed_s(t0)) + 1);
    /* Refill: 60 ms at 100/s is at least 5 more tokens (ms clock). */
    uint64_t t1 = ts_mono_ms();
    struct timespec nap = {0, 60 * 1000 * 1000};
    nanosleep(&nap, NULL);
    int again = count_sampled(200, "a");
    assert_in_range(again, 5, (int)(100 * elapsed_s(t1)) + 2);

    load_expect(JAEGER("ratelimiting", "0"), 0);
    assert_int_equal(count_sampled(100, "a"), 0);
    /* below one per second: one token at most in a burst */
    load_expect(JAEGER("ratelimiting", "0.01"), 0);
    assert_int_equal(count_sampled(100, "a"), 1);
}

/* ------------------------------------------------------------- remote strategies */

static int apply(const char *json)
{
    return ts_sampler_apply_strategy(json, strlen(json));
}

static void load_remote(void)
{
    load_expect(OTEL("jaeger_remote"), 0);
}

static void test_strategy_probabilistic(void **state)
{
    (void)state;
    load_remote();
    assert_true(decide(ROOT, LOW_ID)); /* initial 0.001 */
    assert_false(decide(ROOT, UINT64_MAX / 100));
    assert_int_equal(
        apply(
            "{\"strategyType\":\"PROBABILISTIC\",\"probabilisticSampling\":{\"samplingRate\":0}}"),
        0);
    assert_false(decide(ROOT, LOW_ID));
    assert_int_equal(count_sampled(100, "GET /"), 0);
    assert_int_equal(apply("{\"strategyType\":\"PROBABILISTIC\",\"probabilisticSampling\":{"
                           "\"samplingRate\":0.5}}"),
                     0);
    assert_true(decide(ROOT, (1ull << 63) - 1));
    assert_false(decide(ROOT, 1ull << 63));
    /* proto3 JSON leaves out a zero: {} is rate 0 */
    assert_int_equal(apply("{\"strategyType\":\"PROBABILISTIC\",\"probabilisticSampling\":{}}"), 0);
    assert_false(decide(ROOT, LOW_ID));
    /* numeric strategyType (older agents) */
    assert_int_equal(apply("{\"strategyType\":0,\"probabilisticSampling\":{\"samplingRate\":1}}"),
                     0);
    assert_true(decide(ROOT, HIGH_ID));
    /* no strategyType: whichever strategy is given */
    assert_int_equal(apply("{\"probabilisticSampling\":{\"samplingRate\":0}}"), 0);
    assert_false(decide(ROOT, LOW_ID));
}

static void test_strategy_rate_limiting(void **state)
{
    (void)state;
    load_remote();
    assert_int_equal(apply("{\"strategyType\":\"RATE_LIMITING\",\"rateLimitingSampling\":{"
                           "\"maxTracesPerSecond\":2}}"),
                     0);
    uint64_t t0 = ts_mono_ms();
    int n = count_sampled(100, "GET /");
    assert_in_range(n, 2, 2 + (int)(2 * elapsed_s(t0)) + 1);
    /* The same answer polled again does not refill the bucket. */
    assert_int_equal(apply("{\"strategyType\":\"RATE_LIMITING\",\"rateLimitingSampling\":{"
                           "\"maxTracesPerSecond\":2}}"),
                     0);
    assert_in_range(count_sampled(100, "GET /"), 0, (int)(2 * elapsed_s(t0)) + 1);
    assert_int_equal(
        apply("{\"strategyType\":1,\"rateLimitingSampling\":{\"maxTracesPerSecond\":0}}"), 0);
    assert_int_equal(count_sampled(100, "GET /"), 0);
    /* a DEFER parent goes to the root sampler; the non-parent-based
     * remote sampler ignores a sampled parent */
    assert_false(decide(DEFER, LOW_ID));
    assert_false(decide(ACCEPT, LOW_ID));
    assert_true(decide(DEBUG, LOW_ID));
}

/* A bucket carried into a strategy with another rate keeps the fraction
 * of it in use, not its absolute debt (Jaeger's RateLimiter.Update): from
 * 0.1 traces per second (one token, then 10 s of debt) to 100, the new
 * bucket refills at 100 a second at once instead of after 9 s; and the
 * same for a listed operation's lower bound. */
static void test_strategy_rate_change_rescales_bucket(void **state)
{
    (void)state;
    static const char *const answers[][2] = {
        {"{\"strategyType\":\"RATE_LIMITING\",\"rateLimitingSampling\":{"
         "\"maxTracesPerSecond\":0.1}}",
         "{\"strategyType\":\"RATE_LIMITING\",\"rateLimitingSampling\":{"
         "\"maxTracesPerSecond\":100}}"},
        {"{\"operationSampling\":{\"defaultSamplingProbability\":0,"
         "\"defaultLowerBoundTracesPerSecond\":0.1,\"perOperationStrategies\":["
         "{\"operation\":\"GET /\",\"probabilisticSampling\":{\"samplingRate\":0}}]}}",
         "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
         "\"defaultLowerBoundTracesPerSecond\":100,\"perOperationStrategies\":["
         "{\"operation\":\"GET /\",\"probabilisticSampling\":{\"samplingRate\":0}}]}}"},
    };
    for (size_t i = 0; i < sizeof answers / sizeof answers[0]; i++) {
        load_remote();
        assert_int_equal(apply(answers[i][0]), 0);
        assert_int_equal(count_sampled(10, "GET /"), 1); /* the one token, now 10 s of debt */
        assert_int_equal(apply(answers[i][1]), 0);
        uint64_t t0 = ts_mono_ms();
        struct timespec nap = {0, 60 * 1000 * 1000};
        nanosleep(&nap, NULL);
        /* 60 ms at 100/s: at least 5 tokens (ms clock), none before the
         * fix */
        int n = count_sampled(200, "GET /");
        if (n < 5 || n > (int)(100 * elapsed_s(t0)) + 2)
            fail_msg("answer %zu: %d sampled in %.3f s after the rate went up", i, n,
                     elapsed_s(t0));
        /* and down again: the full fast bucket's debt scaled, not kept
         * whole (a token at most) */
        assert_int_equal(apply(answers[i][0]), 0);
        assert_in_range(count_sampled(10, "GET /"), 0, 1);
    }
}

static void test_strategy_per_operation(void **state)
{
    (void)state;
    load_remote();
    const char *ops =
        "{\"strategyType\":\"PROBABILISTIC\","
        "\"probabilisticSampling\":{\"samplingRate\":1},"
        "\"operationSampling\":{\"defaultSamplingProbability\":0,"
        "\"defaultLowerBoundTracesPerSecond\":0.0,"
        "\"perOperationStrategies\":["
        "{\"operation\":\"GET /a\",\"probabilisticSampling\":{\"samplingRate\":1.0}},"
        "{\"operation\":\"GET /half\",\"probabilisticSampling\":{\"samplingRate\":0.5}},"
        "{\"operation\":\"GET /a\",\"probabilisticSampling\":{\"samplingRate\":0}}]}}";
    assert_int_equal(apply(ops), 0);
    assert_int_equal(count_sampled(50, "GET /a"), 50);
    assert_int_equal(count_sampled(50, "GET /b"), 0);
    assert_int_equal(count_sampled(50, "GET /"), 0);
    assert_int_equal(count_sampled(50, "GET /a/"), 0);
    assert_int_equal(count_sampled(50, NULL), 0);
    assert_true(decide_named(ROOT, (1ull << 63) - 1, "GET /half"));
    assert_false(decide_named(ROOT, 1ull << 63, "GET /half"));

    /* A lower bound lets a few through that the probability rejects: one
     * bucket per operation, listed or not. */
    const char *bound = "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
                        "\"defaultLowerBoundTracesPerSecond\":2,"
                        "\"perOperationStrategies\":["
                        "{\"operation\":\"GET /x\",\"probabilisticSampling\":{\"samplingRate\":0}},"
                        "{\"operation\":\"GET /y\",\"probabilisticSampling\":{}}]}}";
    assert_int_equal(apply(bound), 0);
    uint64_t t0 = ts_mono_ms();
    int x = count_sampled(100, "GET /x");
    int y = count_sampled(100, "GET /y");
    int p = count_sampled(100, "GET /p");
    int q = count_sampled(100, "GET /q");
    int slack = (int)(2 * elapsed_s(t0)) + 1;
    assert_in_range(x, 2, 2 + slack);
    assert_in_range(y, 2, 2 + slack);
    assert_in_range(p, 2, 2 + slack);
    assert_in_range(q, 2, 2 + slack);

    /* Spans the probability accepts use up the bound's tokens too: the
     * bound is a minimum rate, not extra traffic (as in Jaeger). */
    const char *half =
        "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
        "\"defaultLowerBoundTracesPerSecond\":2,\"perOperationStrategies\":["
        "{\"operation\":\"GET /h\",\"probabilisticSampling\":{\"samplingRate\":0.5}}]}}";
    assert_int_equal(apply(half), 0);
    uint64_t t1 = ts_mono_ms();
    for (int i = 0; i < 10; i++)
        assert_true(decide_named(ROOT, LOW_ID, "GET /h"));
    int extra = 0;
    for (int i = 0; i < 10; i++)
        extra += decide_named(ROOT, HIGH_ID, "GET /h");
    assert_in_range(extra, 0, (int)(2 * elapsed_s(t1)) + 1);
}

/* Operations a per-operation strategy does not list each get their own
 * lower bound, as in Jaeger's clients (a guaranteed-throughput sampler per
 * new operation), not one bucket shared by all of them; a bucket stays
 * with its operation across answers; and with no operation listed, the
 * decision reads the span's name all the same. */
static void test_strategy_unlisted_operations_own_buckets(void **state)
{
    (void)state;
    load_remote();
    const char *none_listed = "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
                              "\"defaultLowerBoundTracesPerSecond\":1}}";
    assert_int_equal(apply(none_listed), 0);
    assert_true(reads_name(ROOT));
    uint64_t t0 = ts_mono_ms();
    int a = count_sampled(50, "GET /a");
    int b = count_sampled(50, "GET /b");
    int c = count_sampled(50, "POST /c");
    int slack = (int)elapsed_s(t0) + 1;
    assert_in_range(a, 1, 1 + slack);
    assert_in_range(b, 1, 1 + slack);
    assert_in_range(c, 1, 1 + slack);
    /* The same answer again, then one that lists another operation: the
     * unlisted buckets are carried, not refilled. */
    assert_int_equal(apply(none_listed), 0);
    const char *other_listed =
        "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
        "\"defaultLowerBoundTracesPerSecond\":1,\"perOperationStrategies\":["
        "{\"operation\":\"GET /z\",\"probabilisticSampling\":{\"samplingRate\":0}}]}}";
    assert_int_equal(apply(other_listed), 0);
    int again = count_sampled(50, "GET /a") + count_sampled(50, "GET /b");
    assert_true(again <= 2 * (int)elapsed_s(t0)); /* refilled buckets would give 2 at once */
    /* a plain rate-limiting strategy keeps one bucket for every span */
    assert_int_equal(apply("{\"strategyType\":\"RATE_LIMITING\",\"rateLimitingSampling\":{"
                           "\"maxTracesPerSecond\":1}}"),
                     0);
    assert_false(reads_name(ROOT));
    t0 = ts_mono_ms();
    int shared = count_sampled(50, "GET /a") + count_sampled(50, "GET /b");
    assert_in_range(shared, 1, 1 + (int)elapsed_s(t0) + 1);
}

/* ts_sampler_reads_name: the hooks name a span before the decision only
 * when it says the decision reads the name. Wherever it says no, two
 * names that a strategy samples differently get the same decision; and it
 * says yes where they would not. */
static void check_reads_name(const char *what, bool root_reads)
{
    static const enum parent kinds[] = {ROOT, ACCEPT, DENY, DEFER, DEBUG, INVALID};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        enum parent pk = kinds[i];
        bool named = decide_named(pk, HIGH_ID, "GET /a") != decide_named(pk, HIGH_ID, "GET /b");
        if (named && !reads_name(pk))
            fail_msg("%s: parent kind %d decides by name unannounced", what, (int)pk);
    }
    assert_int_equal(reads_name(ROOT), root_reads);
}

static void test_reads_name(void **state)
{
    (void)state;
    const struct {
        const char *name;
        const struct var *env;
    } plain[] = {
        {"default", ENV({NULL, NULL})},
        {"always_off", OTEL("always_off")},
        {"ratio", OTEL_ARG("parentbased_traceidratio", "0.5")},
        {"jaeger_remote, initial", OTEL("jaeger_remote")},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        load_expect(plain[i].env, 0);
        check_reads_name(plain[i].name, false);
    }
    const char *ops =
        "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
        "\"perOperationStrategies\":["
        "{\"operation\":\"GET /a\",\"probabilisticSampling\":{\"samplingRate\":1}}]}}";
    load_remote(); /* not parent-based: a sampled parent is decided at the root */
    assert_int_equal(apply(ops), 0);
    check_reads_name("jaeger_remote, operations", true);
    assert_true(reads_name(ACCEPT));
    assert_false(reads_name(DEBUG));
    load_expect(OTEL("parentbased_jaeger_remote"), 0);
    assert_int_equal(apply(ops), 0);
    check_reads_name("parentbased_jaeger_remote, operations", true);
    assert_false(reads_name(ACCEPT));
    assert_false(reads_name(DENY));
    assert_true(reads_name(DEFER));
    /* a plain strategy again: no name is read */
    assert_int_equal(apply("{\"probabilisticSampling\":{\"samplingRate\":0.5}}"), 0);
    check_reads_name("jaeger_remote, plain again", false);
}

/* A decision looks the span name up only while a strategy lists
 * operations: from a per-operation strategy to a plain one and back, each
 * decision follows the strategy that is live. */
static void test_strategy_operations_come_and_go(void **state)
{
    (void)state;
    load_remote();
    const char *ops =
        "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
        "\"perOperationStrategies\":["
        "{\"operation\":\"GET /on\",\"probabilisticSampling\":{\"samplingRate\":1}}]}}";
    const char *plain = "{\"strategyType\":\"PROBABILISTIC\","
                        "\"probabilisticSampling\":{\"samplingRate\":1}}";
    for (int round = 0; round < 3; round++) {
        assert_int_equal(apply(ops), 0);
        assert_int_equal(count_sampled(10, "GET /on"), 10);
        assert_int_equal(count_sampled(10, "GET /off"), 0);
        assert_int_equal(apply(plain), 0);
        assert_int_equal(count_sampled(10, "GET /on"), 10);
        assert_int_equal(count_sampled(10, "GET /off"), 10);
    }
}

static void test_strategy_operation_limits(void **state)
{
    (void)state;
    load_remote();
    static char json[64 * 1024];
    size_t n = (size_t)snprintf(json, sizeof json,
                                "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
                                "\"perOperationStrategies\":[");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(json + n, sizeof json - n,
                              "%s{\"operation\":\"op%d\",\"probabilisticSampling\":"
                              "{\"samplingRate\":1}}",
                              i ? "," : "", i);
    snprintf(json + n, sizeof json - n, "]}}");
    assert_int_equal(apply(json), 0);
    assert_true(decide_named(ROOT, HIGH_ID, "op0"));
    assert_true(decide_named(ROOT, HIGH_ID, "op127"));
    assert_false(decide_named(ROOT, HIGH_ID, "op128"));
    assert_false(decide_named(ROOT, HIGH_ID, "op199"));

    /* Names up to 128 bytes are kept, longer ones ignored. */
    char name128[129], name129[130];
    memset(name128, 'n', 128);
    name128[128] = '\0';
    memset(name129, 'n', 129);
    name129[129] = '\0';
    snprintf(json, sizeof json,
             "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
             "\"perOperationStrategies\":["
             "{\"operation\":\"%s\",\"probabilisticSampling\":{\"samplingRate\":1}},"
             "{\"operation\":\"%s\",\"probabilisticSampling\":{\"samplingRate\":1}}]}}",
             name128, name129);
    assert_int_equal(apply(json), 0);
    assert_true(decide_named(ROOT, HIGH_ID, name128));
    assert_false(decide_named(ROOT, HIGH_ID, name129));
    char name127[128];
    memcpy(name127, name128, 127);
    name127[127] = '\0';
    assert_false(decide_named(ROOT, HIGH_ID, name127));
}

static void test_strategy_rejected(void **state)
{
    (void)state;
    /* Not remote: there is nothing to apply a strategy to. */
    load_expect(OTEL("always_off"), 0);
    assert_int_equal(apply("{\"probabilisticSampling\":{\"samplingRate\":1}}"), -1);
    assert_false(decide(ROOT, LOW_ID));

    load_remote();
    assert_int_equal(apply("{\"probabilisticSampling\":{\"samplingRate\":1}}"), 0);
    static const char *bad[] = {
        "",
        "{",
        "[]",
        "null",
        "1",
        "\"PROBABILISTIC\"",
        "{}",
        "{\"strategyType\":\"PROBABILISTIC\"}",
        "{\"strategyType\":\"RATE_LIMITING\",\"probabilisticSampling\":{\"samplingRate\":0}}",
        "{\"strategyType\":\"probabilistic\",\"probabilisticSampling\":{\"samplingRate\":0}}",
        "{\"strategyType\":\"FOO\",\"probabilisticSampling\":{\"samplingRate\":0}}",
        "{\"strategyType\":2,\"probabilisticSampling\":{\"samplingRate\":0}}",
        "{\"strategyType\":0.5,\"probabilisticSampling\":{\"samplingRate\":0}}",
        "{\"strategyType\":true,\"probabilisticSampling\":{\"samplingRate\":0}}",
        "{\"strategyType\":0,\"probabilisticSampling\":{\"samplingRate\":\"0\"}}",
        "{\"strategyType\":0,\"probabilisticSampling\":{\"samplingRate\":1.5}}",
        "{\"strategyType\":0,\"probabilisticSampling\":{\"samplingRate\":-0.1}}",
        "{\"strategyType\":0,\"probabilisticSampling\":{\"samplingRate\":1e999}}",
        "{\"strategyType\":0,\"probabilisticSampling\":[0]}",
        "{\"strategyType\":0,\"probabilisticSampling\":0}",
        "{\"strategyType\":1,\"rateLimitingSampling\":{\"maxTracesPerSecond\":-1}}",
        "{\"strategyType\":1,\"rateLimitingSampling\":{\"maxTracesPerSecond\":null}}",
        "{\"strategyType\":1,\"rateLimitingSampling\":5}",
        "{\"operationSampling\":[]}",
        "{\"operationSampling\":{\"defaultSamplingProbability\":\"0\"}}",
        "{\"operationSampling\":{\"defaultSamplingProbability\":2}}",
        "{\"operationSampling\":{\"defaultLowerBoundTracesPerSecond\":-1}}",
        "{\"operationSampling\":{\"perOperationStrategies\":{}}}",
        "{\"operationSampling\":{\"perOperationStrategies\":[1]}}",
        "{\"operationSampling\":{\"perOperationStrategies\":[{\"operation\":1,"
        "\"probabilisticSampling\":{\"samplingRate\":0}}]}}",
        "{\"operationSampling\":{\"perOperationStrategies\":[{\"operation\":\"a\"}]}}",
        "{\"operationSampling\":{\"perOperationStrategies\":[{\"operation\":\"a\","
        "\"probabilisticSampling\":{\"samplingRate\":3}}]}}",
        "{\"probabilisticSampling\":{\"samplingRate\":0}} trailing",
        "\xff\xfe{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (apply(bad[i]) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_true(decide(ROOT, HIGH_ID)); /* the old strategy stays */
    }
    assert_int_equal(ts_sampler_apply_strategy(NULL, 5), -1);
    /* The length is honoured: a valid prefix of a longer buffer. */
    const char *s = "{\"probabilisticSampling\":{\"samplingRate\":0}}garbage";
    assert_int_equal(ts_sampler_apply_strategy(s, strlen(s) - 7), 0);
    assert_false(decide(ROOT, LOW_ID));
    assert_int_equal(ts_sampler_apply_strategy(s, 10), -1);
}

/* Mangled strategies: any answer is 0 or -1, and deciding still works. */
static void test_strategy_mangled(void **state)
{
    (void)state;
    load_remote();
    const char *good =
        "{\"strategyType\":\"PROBABILISTIC\",\"probabilisticSampling\":"
        "{\"samplingRate\":0.5},\"operationSampling\":{\"defaultSamplingProbability\":"
        "0.1,\"defaultLowerBoundTracesPerSecond\":1,\"perOperationStrategies\":"
        "[{\"operation\":\"GET /x\",\"probabilisticSampling\":{\"samplingRate\":1}}]}}";
    size_t len = strlen(good);
    char buf[512];
    uint64_t rnd = 7;
    for (int i = 0; i < 5000; i++) {
        memcpy(buf, good, len);
        for (int k = 0; k < 3; k++)
            buf[next_random(&rnd) % len] = (char)next_random(&rnd);
        size_t n = next_random(&rnd) % (len + 1);
        int r = ts_sampler_apply_strategy(buf, n);
        assert_true(r == 0 || r == -1);
        (void)decide_named(ROOT, next_random(&rnd), "GET /x");
    }
}

/* ------------------------------------------------------------- URL */

static void test_remote_url(void **state)
{
    (void)state;
    char url[256];
    load_remote();
    assert_true(ts_sampler_remote_url(url, sizeof url, "my svc/ä&=?~x_y-1.2"));
    assert_string_equal(
        url, "http://localhost:5778/sampling?service=my%20svc%2F%C3%A4%26%3D%3F~x_y-1.2");
    assert_true(ts_sampler_remote_url(url, sizeof url, NULL));
    assert_string_equal(url, "http://localhost:5778/sampling?service=");
    /* Too small: false, and an empty string rather than a cut URL. */
    assert_false(ts_sampler_remote_url(url, 20, "svc"));
    assert_string_equal(url, "");
    size_t exact = strlen("http://localhost:5778/sampling?service=%20");
    assert_false(ts_sampler_remote_url(url, exact, " "));
    assert_true(ts_sampler_remote_url(url, exact + 1, " "));
    assert_false(ts_sampler_remote_url(url, 0, "svc"));

    load_expect(OTEL_ARG("parentbased_jaeger_remote", "endpoint=http://agent/sampling?"), 0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "a"));
    assert_string_equal(url, "http://agent/sampling?service=a");
    load_expect(OTEL_ARG("parentbased_jaeger_remote", "endpoint=http://agent/api/sampling?x=y"), 0);
    assert_true(ts_sampler_remote_url(url, sizeof url, "a"));
    assert_string_equal(url, "http://agent/api/sampling?x=y&service=a");
}

/* ------------------------------------------------------------- Jaeger's tags */

/* The decision for a span named name with parent kind pk and trace low
 * part low, with its sampler tag and parameter. */
struct tagged {
    bool sampled;
    uint8_t tag;
    double param;
};

static struct tagged decide_tagged(enum parent pk, uint64_t low, const char *name)
{
    struct ts_ctx ctx;
    const struct ts_ctx *parent = make_parent(pk, low, &ctx);
    struct tagged t = {false, 99, -1};
    t.sampled = ts_sampler_decide(parent, ctx.trace_id, name, strlen(name), &t.tag, &t.param);
    return t;
}

static void expect_tagged(const char *what, struct tagged got, bool sampled, uint8_t tag,
                          double param)
{
    if (got.sampled != sampled || got.tag != tag || (tag && got.param != param))
        fail_msg("%s: sampled %d, tag %d, param %g; expected %d, %d, %g", what, got.sampled,
                 got.tag, got.param, sampled, tag, param);
}

/* Jaeger's sampler.type / sampler.param of a root span, as Jaeger's
 * clients set them, under every Jaeger sampler; none under OpenTelemetry's
 * own samplers, for a span whose parent decided (a child of a sampled
 * parent, a debug one), or for a span not sampled. */
static void test_jaeger_sampler_tags(void **state)
{
    (void)state;
    enum {
        NONE = TS_SAMPLER_TAG_NONE,
        CONST = TS_SAMPLER_TAG_CONST,
        PROB = TS_SAMPLER_TAG_PROBABILISTIC,
        LOWER = TS_SAMPLER_TAG_LOWERBOUND,
        RATE = TS_SAMPLER_TAG_RATELIMITING,
    };
    load_expect(JAEGER("const", "1"), 0);
    expect_tagged("const root", decide_tagged(ROOT, HIGH_ID, "a"), true, CONST, 1);
    expect_tagged("const child", decide_tagged(ACCEPT, HIGH_ID, "a"), true, NONE, 0);
    expect_tagged("const debug", decide_tagged(DEBUG, HIGH_ID, "a"), true, NONE, 0);
    /* a deferred parent: the sampler decides, but the span is no root, and
     * the collector reads the tags from roots alone */
    expect_tagged("const, deferred parent", decide_tagged(DEFER, HIGH_ID, "a"), true, NONE, 0);
    load_expect(JAEGER("probabilistic", "0.5"), 0);
    expect_tagged("probabilistic", decide_tagged(ROOT, LOW_ID, "a"), true, PROB, 0.5);
    expect_tagged("probabilistic, rejected", decide_tagged(ROOT, HIGH_ID, "a"), false, NONE, 0);
    load_expect(JAEGER("probabilistic", "1"), 0); /* the always-sampled shortcut */
    expect_tagged("probabilistic 1", decide_tagged(ROOT, HIGH_ID, "a"), true, PROB, 1);
    load_expect(JAEGER("ratelimiting", "2.5"), 0);
    expect_tagged("ratelimiting", decide_tagged(ROOT, HIGH_ID, "a"), true, RATE, 2.5);

    /* OpenTelemetry's samplers: no tags */
    load_expect(NO_ENV, 0);
    expect_tagged("default", decide_tagged(ROOT, HIGH_ID, "a"), true, NONE, 0);
    load_expect(OTEL_ARG("traceidratio", "0.5"), 0);
    expect_tagged("traceidratio", decide_tagged(ROOT, LOW_ID, "a"), true, NONE, 0);

    /* jaeger_remote: the initial rate; a sampled parent the sampler
     * overrules is still no root */
    load_remote();
    expect_tagged("initial", decide_tagged(ROOT, LOW_ID, "a"), true, PROB, 0.001);
    expect_tagged("remote child", decide_tagged(ACCEPT, LOW_ID, "a"), true, NONE, 0);
    assert_int_equal(apply("{\"strategyType\":\"RATE_LIMITING\",\"rateLimitingSampling\":{"
                           "\"maxTracesPerSecond\":3}}"),
                     0);
    expect_tagged("remote rate limit", decide_tagged(ROOT, HIGH_ID, "a"), true, RATE, 3);
    /* per operation: the probability, or the lower bound's token, which
     * Jaeger's clients tag with the operation's probability */
    assert_int_equal(
        apply("{\"operationSampling\":{\"defaultSamplingProbability\":0.25,"
              "\"defaultLowerBoundTracesPerSecond\":5,\"perOperationStrategies\":["
              "{\"operation\":\"GET /a\",\"probabilisticSampling\":{\"samplingRate\":0.75}}]}}"),
        0);
    expect_tagged("listed, by probability", decide_tagged(ROOT, LOW_ID, "GET /a"), true, PROB,
                  0.75);
    expect_tagged("listed, by lower bound", decide_tagged(ROOT, HIGH_ID, "GET /a"), true, LOWER,
                  0.75);
    expect_tagged("unlisted, by probability", decide_tagged(ROOT, LOW_ID, "GET /b"), true, PROB,
                  0.25);
    expect_tagged("unlisted, by lower bound", decide_tagged(ROOT, HIGH_ID, "GET /b"), true, LOWER,
                  0.25);
    /* should_sample is the same decision without the tags */
    assert_true(ts_sampler_should_sample(NULL, NULL, "GET /c", 6));
}

/* A span with n attributes already, carrying a decision's tag. */
static void tagged_span(struct ts_span *s, size_t n, uint8_t tag, double param)
{
    ts_span_clear(s);
    for (size_t i = 0; i < n; i++)
        ts_span_attr_int(s, "k", (int64_t)i);
    s->sampler_tag = tag;
    s->sampler_param = param;
}

static void expect_attrs(const struct ts_span *s, const char *type, const char *param)
{
    const struct ts_attr *t = ts_span_attr_find(s, "sampler.type");
    const struct ts_attr *p = ts_span_attr_find(s, "sampler.param");
    if (!type) {
        assert_null(t);
        assert_null(p);
        return;
    }
    assert_non_null(t);
    assert_non_null(p);
    assert_int_equal(t->type, TS_ATTR_STR);
    assert_int_equal(p->type, TS_ATTR_STR);
    if (t->len != strlen(type) || memcmp(ts_span_attr_sval(s, t), type, t->len) != 0 ||
        p->len != strlen(param) || memcmp(ts_span_attr_sval(s, p), param, p->len) != 0)
        fail_msg("sampler.type \"%.*s\", sampler.param \"%.*s\"; expected \"%s\", \"%s\"",
                 (int)t->len, ts_span_attr_sval(s, t), (int)p->len, ts_span_attr_sval(s, p), type,
                 param);
}

/* The reporter's side: the two attributes as text the collector parses
 * (strconv.ParseFloat), both or neither. */
static void test_jaeger_sampler_tags_attached(void **state)
{
    (void)state;
    static struct ts_span s;
    static const struct {
        uint8_t tag;
        double param;
        const char *type, *text;
    } cases[] = {
        {TS_SAMPLER_TAG_CONST, 1, "const", "1"},
        {TS_SAMPLER_TAG_PROBABILISTIC, 0.001, "probabilistic", "0.001"},
        {TS_SAMPLER_TAG_PROBABILISTIC, 0.1, "probabilistic", "0.1"},
        {TS_SAMPLER_TAG_LOWERBOUND, 0, "lowerbound", "0"},
        {TS_SAMPLER_TAG_RATELIMITING, 100, "ratelimiting", "100"},
        {TS_SAMPLER_TAG_RATELIMITING, 1e-5, "ratelimiting", "1e-05"},
        {TS_SAMPLER_TAG_PROBABILISTIC, 1.0 / 3, "probabilistic", "0.33333333333333331"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tagged_span(&s, 3, cases[i].tag, cases[i].param);
        ts_sampler_tags_attach(&s);
        expect_attrs(&s, cases[i].type, cases[i].text);
        assert_int_equal(s.nattrs, 5);
        assert_int_equal(s.sampler_tag, TS_SAMPLER_TAG_NONE); /* done once */
    }
    /* no decision recorded, or no room for both (then both counted as
     * dropped: OTLP's dropped_attributes_count) */
    tagged_span(&s, 3, TS_SAMPLER_TAG_NONE, 1);
    ts_sampler_tags_attach(&s);
    expect_attrs(&s, NULL, NULL);
    assert_int_equal(s.dropped_attrs, 0);
    tagged_span(&s, TS_SPAN_MAX_ATTRS - 1, TS_SAMPLER_TAG_CONST, 1);
    ts_sampler_tags_attach(&s);
    expect_attrs(&s, NULL, NULL);
    assert_int_equal(s.nattrs, TS_SPAN_MAX_ATTRS - 1);
    assert_int_equal(s.dropped_attrs, 2);
    tagged_span(&s, 0, TS_SAMPLER_TAG_PROBABILISTIC, 0.5);
    s.str_used = TS_SPAN_STRBUF - 10; /* "probabilistic" and "0.5" need 16 bytes */
    ts_sampler_tags_attach(&s);
    expect_attrs(&s, NULL, NULL);
    assert_int_equal(s.dropped_attrs, 2);
    tagged_span(&s, TS_SPAN_MAX_ATTRS - 2, TS_SAMPLER_TAG_PROBABILISTIC, 0.5);
    ts_sampler_tags_attach(&s);
    expect_attrs(&s, "probabilistic", "0.5");
}

/* In a program whose LC_NUMERIC has a decimal comma: still "0.001", which
 * the collector parses (printf alone writes "0,001"). */
static void test_jaeger_sampler_param_in_decimal_comma_locale(void **state)
{
    comma_locale_enter(state);
    char text[32];
    snprintf(text, sizeof text, "%g", 0.001);
    assert_string_equal(text, "0,001"); /* the locale bites */
    static struct ts_span s;
    tagged_span(&s, 0, TS_SAMPLER_TAG_PROBABILISTIC, 0.001);
    ts_sampler_tags_attach(&s);
    expect_attrs(&s, "probabilistic", "0.001");
    assert_string_equal(localeconv()->decimal_point, ","); /* the program's, given back */
}

/* ------------------------------------------------------------- threads */

/* Three strategies that differ in shape but agree on "always" (sampled)
 * and "never" (not sampled): a torn read would break that agreement. */
static char strategies[3][32 * 1024];

static void build_strategies(void)
{
    size_t n = (size_t)snprintf(strategies[0], sizeof strategies[0],
                                "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
                                "\"perOperationStrategies\":[");
    for (int i = 0; i < 127; i++)
        n += (size_t)snprintf(strategies[0] + n, sizeof strategies[0] - n,
                              "{\"operation\":\"never%d\",\"probabilisticSampling\":"
                              "{\"samplingRate\":1}},",
                              i);
    snprintf(strategies[0] + n, sizeof strategies[0] - n,
             "{\"operation\":\"always\",\"probabilisticSampling\":{\"samplingRate\":1}}]}}");
    snprintf(strategies[1], sizeof strategies[1],
             "{\"operationSampling\":{\"defaultSamplingProbability\":1,"
             "\"perOperationStrategies\":["
             "{\"operation\":\"never\",\"probabilisticSampling\":{\"samplingRate\":0}}]}}");
    snprintf(strategies[2], sizeof strategies[2],
             "{\"operationSampling\":{\"defaultSamplingProbability\":0,"
             "\"perOperationStrategies\":["
             "{\"operation\":\"always\",\"probabilisticSampling\":{\"samplingRate\":1}},"
             "{\"operation\":\"never\",\"probabilisticSampling\":{\"samplingRate\":0}}]}}");
}

static int stop_flag;
static int wrong_decisions;

static void *applier(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3000; i++) {
        const char *s = strategies[i % 3];
        if (ts_sampler_apply_strategy(s, strlen(s)) != 0)
            __atomic_fetch_add(&wrong_decisions, 1000000, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *decider(void *arg)
{
    uint64_t rnd = (uint64_t)(uintptr_t)arg;
    while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
        uint8_t id[TS_TRACE_ID_LEN];
        make_id(id, next_random(&rnd), next_random(&rnd));
        int bad = !ts_sampler_should_sample(NULL, id, "always", 6) +
                  ts_sampler_should_sample(NULL, id, "never", 5);
        if (bad)
            __atomic_fetch_add(&wrong_decisions, bad, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void test_concurrent_decisions(void **state)
{
    (void)state;
    build_strategies();
    load_remote();
    assert_int_equal(apply(strategies[2]), 0);
    stop_flag = 0;
    wrong_decisions = 0;
    pthread_t deciders[4], writer;
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&deciders[i], NULL, decider, (void *)(i + 1)), 0);
    assert_int_equal(pthread_create(&writer, NULL, applier, NULL), 0);
    pthread_join(writer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(deciders[i], NULL);
    assert_int_equal(wrong_decisions, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_parentbased_always_on),
        cmocka_unit_test(test_sampler_names),
        cmocka_unit_test(test_jaeger_details),
        cmocka_unit_test(test_rejected_values),
        cmocka_unit_test(test_remote_arg),
        cmocka_unit_test(test_remote_arg_shown),
        cmocka_unit_test(test_ratio),
        cmocka_unit_test(test_rate_limiting),
        cmocka_unit_test(test_strategy_probabilistic),
        cmocka_unit_test(test_strategy_rate_limiting),
        cmocka_unit_test(test_strategy_rate_change_rescales_bucket),
        cmocka_unit_test(test_strategy_per_operation),
        cmocka_unit_test(test_strategy_unlisted_operations_own_buckets),
        cmocka_unit_test(test_reads_name),
        cmocka_unit_test(test_strategy_operations_come_and_go),
        cmocka_unit_test(test_strategy_operation_limits),
        cmocka_unit_test(test_strategy_rejected),
        cmocka_unit_test(test_strategy_mangled),
        cmocka_unit_test(test_remote_url),
        cmocka_unit_test(test_jaeger_sampler_tags),
        cmocka_unit_test(test_jaeger_sampler_tags_attached),
        cmocka_unit_test_setup_teardown(test_jaeger_sampler_param_in_decimal_comma_locale,
                                        comma_locale_setup, comma_locale_teardown),
        cmocka_unit_test(test_concurrent_decisions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
