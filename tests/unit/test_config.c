/* test_config.c — configuration from the environment: defaults, every
 * variable, which of two names wins, and that every bad value yields
 * exactly one error line (naming the variable and the value) and the
 * default. stderr is captured around each load to count the lines that
 * the real ts_log writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_env.h"
#include "preload/config.h"
#include "stderr_capture.h"

/* ------------------------------------------------------------- fake env */

static const char *no_env(const char *name)
{
    (void)name;
    return NULL;
}

/* ------------------------------------------------------------- capture */

static char captured[16384];

/* ts_config_load with lookup, capturing what it writes on stderr. */
static int load_with(struct ts_config *cfg, ts_env_lookup_fn lookup)
{
    struct stderr_capture cap;
    stderr_capture_begin(&cap);
    int errors = ts_config_load(cfg, lookup);
    stderr_capture_end(&cap, captured, sizeof captured);
    return errors;
}

/* An exporter's settings are read only when it is in use: the tests of
 * those settings set this, and every exporter is in use unless the fake
 * environment names some (setup clears it). */
static bool every_exporter;
#define EVERY_EXPORTER                                                                             \
    (1u << TS_EXPORTER_FILE | 1u << TS_EXPORTER_OTLP | 1u << TS_EXPORTER_ZIPKIN |                  \
     1u << TS_EXPORTER_JAEGER)

static const char *exporting_lookup(const char *name)
{
    if (every_exporter && strcmp(name, "TRACESHIM_EXPORTER") == 0 &&
        !env_lookup("TRACESHIM_EXPORTER") && !env_lookup("OTEL_TRACES_EXPORTER"))
        return "file,otlp,zipkin,jaeger";
    return env_lookup(name);
}

static int load(struct ts_config *cfg)
{
    return load_with(cfg, exporting_lookup);
}

/* Number of lines written on stderr by the last load. */
static int captured_lines(void)
{
    int n = 0;
    for (const char *p = captured; *p; p++)
        if (*p == '\n')
            n++;
    return n;
}

/* Exactly one error line, in the agreed shape, naming var and value; for
 * the exporters' headers, which may hold credentials, naming var alone,
 * the value nowhere (the line has no quoted part). */
static void assert_one_error(const char *var, const char *shown_value)
{
    if (captured_lines() != 1)
        fail_msg("expected one error line, got:\n%s", captured);
    char head[256];
    if (strstr(var, "_HEADERS")) {
        snprintf(head, sizeof head, "traceshim: invalid %s: expected ", var);
        if (strncmp(captured, head, strlen(head)) != 0)
            fail_msg("error line \"%s\" does not start with \"%s\"", captured, head);
        if (strchr(captured, '"') || !strstr(captured, "the value is not shown"))
            fail_msg("error line \"%s\" shows %s's value", captured, var);
        return;
    }
    snprintf(head, sizeof head, "traceshim: invalid %s=\"%s", var, shown_value);
    if (strncmp(captured, head, strlen(head)) != 0)
        fail_msg("error line \"%s\" does not start with \"%s\"", captured, head);
    if (!strstr(captured, "\": expected "))
        fail_msg("error line \"%s\" does not say what was expected", captured);
}

/* var's endpoint refused, the last that could name it: its one line also
 * says that its exporter is off, and it is (its spans and OTLP's headers
 * do not go to the default endpoint instead); the others as they were. */
static void assert_endpoint_refused(const struct ts_config *c, const char *var,
                                    const char *shown_value)
{
    bool zipkin = strstr(var, "ZIPKIN") != NULL;
    assert_one_error(var, shown_value);
    const char *off = zipkin ? "; the zipkin exporter is off: its spans do not go to the default "
                               "(http://localhost:9411/api/v2/spans) instead\n"
                             : "; the otlp exporter is off: its spans and headers do not go to "
                               "the default (http://localhost:4318/v1/traces) instead\n";
    size_t n = strlen(captured), k = strlen(off);
    if (n < k || strcmp(captured + n - k, off) != 0)
        fail_msg("\"%s\" does not end with \"%s\"", captured, off);
    unsigned gone = 1u << (zipkin ? TS_EXPORTER_ZIPKIN : TS_EXPORTER_OTLP);
    assert_int_equal(c->exporters, EVERY_EXPORTER & ~gone);
    assert_string_equal(c->otlp_headers, "");
}

/* u is http://host:port/path, its authority as written. */
static void assert_url(const struct ts_url *u, const char *host, unsigned port, const char *path,
                       const char *authority)
{
    assert_string_equal(u->host, host);
    assert_int_equal(u->port, port);
    assert_string_equal(u->path, path);
    assert_string_equal(u->authority, authority);
}

static void assert_exporter_defaults(const struct ts_config *c)
{
    assert_url(&c->otlp_url, "localhost", 4318, "/v1/traces", "localhost:4318");
    assert_int_equal(c->otlp_protocol, TS_OTLP_PROTOBUF);
    assert_string_equal(c->otlp_headers, "");
    assert_int_equal(c->otlp_timeout_ms, 10000);
    assert_url(&c->zipkin_url, "localhost", 9411, "/api/v2/spans", "localhost:9411");
    assert_int_equal(c->zipkin_timeout_ms, 10000);
    assert_string_equal(c->jaeger_host, "127.0.0.1");
    assert_int_equal(c->jaeger_port, 6831);
    assert_int_equal(c->exit_timeout_ms, 2000);
}

static void assert_defaults(const struct ts_config *c)
{
    assert_false(c->disabled);
    bool named = env_lookup("TRACESHIM_EXPORTER") || env_lookup("OTEL_TRACES_EXPORTER");
    assert_int_equal(c->exporters,
                     every_exporter && !named ? EVERY_EXPORTER : 1u << TS_EXPORTER_FILE);
    assert_int_equal(c->log_level, TS_LOG_ERROR);
    assert_int_equal(c->propagators, TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT);
    assert_string_equal(c->service_name, "");
    assert_string_equal(c->file_path, "");
    assert_string_equal(c->resource_attrs, "");
    assert_int_equal(c->bsp_max_queue, 2048);
    assert_int_equal(c->bsp_max_batch, 512);
    assert_int_equal(c->bsp_delay_ms, 5000);
    assert_int_equal(c->bsp_export_timeout_ms, 30000);
    assert_int_equal(c->max_head_bytes, 16384);
    assert_exporter_defaults(c);
}

/* A config full of junk, so tests see that load resets every field. */
static struct ts_config junk_config(void)
{
    struct ts_config c;
    memset(&c, 0x5a, sizeof c);
    c.service_name[sizeof c.service_name - 1] = '\0';
    c.file_path[sizeof c.file_path - 1] = '\0';
    c.resource_attrs[sizeof c.resource_attrs - 1] = '\0';
    c.otlp_headers[sizeof c.otlp_headers - 1] = '\0';
    c.jaeger_host[sizeof c.jaeger_host - 1] = '\0';
    return c;
}

static int setup(void **state)
{
    (void)state;
    env_reset();
    every_exporter = false;
    captured[0] = '\0';
    return 0;
}

/* A string of n copies of ch (static storage, one at a time per size). */
static const char *repeat(char ch, size_t n)
{
    static char buf[3][8192];
    static int which;
    char *b = buf[which++ % 3];
    assert_true(n < sizeof buf[0]);
    memset(b, ch, n);
    b[n] = '\0';
    return b;
}

/* ------------------------------------------------------------- defaults */

static void test_defaults(void **state)
{
    (void)state;
    struct ts_config c = junk_config();
    assert_int_equal(load_with(&c, no_env), 0);
    assert_defaults(&c);
    assert_int_equal(captured_lines(), 0);

    c = junk_config();
    assert_int_equal(load_with(&c, NULL), 0);
    assert_defaults(&c);
    assert_int_equal(ts_config_load(NULL, no_env), 0);
}

static void test_empty_values_are_unset(void **state)
{
    (void)state;
    static const char *const vars[] = {
        "TRACESHIM_DISABLED",
        "OTEL_SDK_DISABLED",
        "TRACESHIM_EXPORTER",
        "OTEL_TRACES_EXPORTER",
        "TRACESHIM_LOG_LEVEL",
        "OTEL_PROPAGATORS",
        "OTEL_SERVICE_NAME",
        "JAEGER_SERVICE_NAME",
        "TRACESHIM_FILE",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_BSP_EXPORT_TIMEOUT",
        "TRACESHIM_MAX_HEAD_BYTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
        "OTEL_EXPORTER_ZIPKIN_TIMEOUT",
        "JAEGER_AGENT_HOST",
        "JAEGER_AGENT_PORT",
        "TRACESHIM_EXIT_TIMEOUT",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        env_set(vars[i], "");
    struct ts_config c = junk_config();
    assert_int_equal(load(&c), 0);
    assert_defaults(&c);
    assert_int_equal(captured_lines(), 0);
}

static void test_global_instance(void **state)
{
    (void)state;
    env_set("OTEL_SERVICE_NAME", "global");
    assert_int_equal(load(&ts_cfg), 0);
    assert_string_equal(ts_cfg.service_name, "global");
    env_reset();
    assert_int_equal(load(&ts_cfg), 0);
    assert_defaults(&ts_cfg);
}

/* ------------------------------------------------------------- disabled */

/* OTEL_SDK_DISABLED by OpenTelemetry's rule for booleans: "true" in any
 * case disables; "false" and blank do not; any other value ("1", "yes")
 * does not either, and is said (one line, counted). TRACESHIM_DISABLED,
 * when set, decides alone. */
static void test_sdk_disabled_spec_booleans(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        bool disabled;
        int errors;
    } cases[] = {{"true", true, 0},   {"TRUE", true, 0}, {" True ", true, 0}, {"false", false, 0},
                 {"FALSE", false, 0}, {" ", false, 0},   {"1", false, 1},     {"yes", false, 1},
                 {"on", false, 1},    {"0", false, 1},   {"truee", false, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set("OTEL_SDK_DISABLED", cases[i].value);
        struct ts_config c = junk_config();
        int errors = load(&c);
        if (errors != cases[i].errors || c.disabled != cases[i].disabled)
            fail_msg("OTEL_SDK_DISABLED=\"%s\": disabled %d, %d errors", cases[i].value, c.disabled,
                     errors);
        if (errors)
            assert_one_error("OTEL_SDK_DISABLED", cases[i].value);
    }
    env_reset();
    env_set("OTEL_SDK_DISABLED", "true");
    env_set("TRACESHIM_DISABLED", "0");
    struct ts_config c = junk_config();
    assert_int_equal(load(&c), 0);
    assert_false(c.disabled);
    env_reset();
    env_set("OTEL_SDK_DISABLED", "1");
    env_set("TRACESHIM_DISABLED", "yes");
    assert_int_equal(load(&c), 0); /* the OTel variable is not read then */
    assert_true(c.disabled);
}

static void test_disabled_values(void **state)
{
    (void)state;
    static const char *const yes[] = {"1",   "true", "TRUE", "True",   "yes",
                                      "YES", "on",   "On",   " true ", "\tyes"};
    static const char *const no[] = {"0", "false", "FALSE", "no", "No", "off", "OFF", " ", " 0 "};
    static const char *const vars[] = {"TRACESHIM_DISABLED"};
    for (size_t v = 0; v < 1; v++) {
        for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
            env_reset();
            env_set(vars[v], yes[i]);
            struct ts_config c = junk_config();
            assert_int_equal(load(&c), 0);
            if (!c.disabled)
                fail_msg("%s=\"%s\" did not disable", vars[v], yes[i]);
        }
        for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
            env_reset();
            env_set(vars[v], no[i]);
            struct ts_config c = junk_config();
            assert_int_equal(load(&c), 0);
            if (c.disabled)
                fail_msg("%s=\"%s\" disabled", vars[v], no[i]);
        }
    }
}

static void test_disabled_first_name_wins(void **state)
{
    (void)state;
    struct ts_config c;
    env_set("TRACESHIM_DISABLED", "false");
    env_set("OTEL_SDK_DISABLED", "true");
    assert_int_equal(load(&c), 0);
    assert_false(c.disabled);

    env_reset();
    env_set("TRACESHIM_DISABLED", "yes");
    env_set("OTEL_SDK_DISABLED", "false");
    assert_int_equal(load(&c), 0);
    assert_true(c.disabled);

    /* a bad first value gives the default, not the second name's value */
    env_reset();
    env_set("TRACESHIM_DISABLED", "maybe");
    env_set("OTEL_SDK_DISABLED", "true");
    assert_int_equal(load(&c), 1);
    assert_false(c.disabled);
    assert_one_error("TRACESHIM_DISABLED", "maybe");

    /* an empty first value is unset: the second name counts */
    env_reset();
    env_set("TRACESHIM_DISABLED", "");
    env_set("OTEL_SDK_DISABLED", "true");
    assert_int_equal(load(&c), 0);
    assert_true(c.disabled);
}

/* ------------------------------------------------------------- exporter */

#define BIT(e) (1u << (e))

static void test_exporter_names(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        unsigned want;
    } cases[] = {
        {"file", BIT(TS_EXPORTER_FILE)},       {"otlp", BIT(TS_EXPORTER_OTLP)},
        {"zipkin", BIT(TS_EXPORTER_ZIPKIN)},   {"jaeger", BIT(TS_EXPORTER_JAEGER)},
        {"console", BIT(TS_EXPORTER_CONSOLE)}, {"none", 0},
        {"OTLP", BIT(TS_EXPORTER_OTLP)},       {"Zipkin", BIT(TS_EXPORTER_ZIPKIN)},
        {" jaeger ", BIT(TS_EXPORTER_JAEGER)}, {"logging", BIT(TS_EXPORTER_CONSOLE)},
    };
    static const char *const vars[] = {"TRACESHIM_EXPORTER", "OTEL_TRACES_EXPORTER"};
    for (size_t v = 0; v < 2; v++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            env_reset();
            env_set(vars[v], cases[i].v);
            struct ts_config c;
            assert_int_equal(load(&c), 0);
            if (c.exporters != cases[i].want)
                fail_msg("%s=%s gave %#x", vars[v], cases[i].v, c.exporters);
        }
}

/* Both names take a list (the OpenTelemetry form): every exporter in it runs. */
static void test_exporter_lists(void **state)
{
    (void)state;
    static const char *const vars[] = {"TRACESHIM_EXPORTER", "OTEL_TRACES_EXPORTER"};
    for (size_t v = 0; v < 2; v++) {
        struct ts_config c;
        env_reset();
        env_set(vars[v], "otlp,console");
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.exporters, BIT(TS_EXPORTER_OTLP) | BIT(TS_EXPORTER_CONSOLE));

        env_reset();
        env_set(vars[v], " file , jaeger,,zipkin,");
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.exporters,
                         BIT(TS_EXPORTER_FILE) | BIT(TS_EXPORTER_JAEGER) | BIT(TS_EXPORTER_ZIPKIN));

        env_reset();
        env_set(vars[v], "none,otlp");
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.exporters, BIT(TS_EXPORTER_OTLP));

        env_reset();
        env_set(vars[v], "zipkin, whatever");
        assert_int_equal(load(&c), 1);
        assert_int_equal(c.exporters, BIT(TS_EXPORTER_FILE));
        assert_one_error(vars[v], "zipkin, whatever");

        env_reset();
        env_set(vars[v], " , ");
        assert_int_equal(load(&c), 1);
        assert_int_equal(c.exporters, BIT(TS_EXPORTER_FILE));
    }
}

static void test_exporter_first_name_wins(void **state)
{
    (void)state;
    struct ts_config c;
    env_set("TRACESHIM_EXPORTER", "zipkin");
    env_set("OTEL_TRACES_EXPORTER", "otlp");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.exporters, BIT(TS_EXPORTER_ZIPKIN));

    env_reset();
    env_set("TRACESHIM_EXPORTER", "kafka");
    env_set("OTEL_TRACES_EXPORTER", "otlp");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.exporters, BIT(TS_EXPORTER_FILE));
    assert_one_error("TRACESHIM_EXPORTER", "kafka");
}

/* ------------------------------------------------------------- log level */

static void test_log_level(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int want;
    } cases[] = {
        {"error", TS_LOG_ERROR}, {"warn", TS_LOG_WARN},   {"info", TS_LOG_INFO},
        {"debug", TS_LOG_DEBUG}, {"DEBUG", TS_LOG_DEBUG}, {" Info ", TS_LOG_INFO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set("TRACESHIM_LOG_LEVEL", cases[i].v);
        struct ts_config c;
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.log_level, cases[i].want);
    }
}

/* ------------------------------------------------------------- propagators */

static void test_parse_propagators(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        unsigned want;
    } ok[] = {
        {"b3multi", TS_PROP_B3MULTI},
        {"b3", TS_PROP_B3},
        {"tracecontext", TS_PROP_TRACECONTEXT},
        {"jaeger", TS_PROP_JAEGER},
        {"b3multi,tracecontext", TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT},
        {" b3 , jaeger ", TS_PROP_B3 | TS_PROP_JAEGER},
        {"tracecontext,baggage", TS_PROP_TRACECONTEXT},
        {"baggage", 0},
        {"none", 0},
        {"B3Multi,TraceContext", TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT},
        {"b3,b3", TS_PROP_B3},
        {"b3,,jaeger,", TS_PROP_B3 | TS_PROP_JAEGER},
        {"b3multi,b3,tracecontext,jaeger",
         TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        unsigned out = 0xdead;
        if (ts_config_parse_propagators(ok[i].s, &out) != 0)
            fail_msg("rejected \"%s\"", ok[i].s);
        if (out != ok[i].want)
            fail_msg("\"%s\" gave %#x, want %#x", ok[i].s, out, ok[i].want);
    }
    static const char *const bad[] = {
        "",
        " ",
        ",",
        "xray",
        "b3multi,xray",
        "b3 multi",
        "b3-multi",
        "w3c",
        "b3;tracecontext",
        "tracecontext\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned out = 0xdead;
        if (ts_config_parse_propagators(bad[i], &out) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_int_equal(out, 0xdead); /* untouched on error */
    }
    unsigned out = 0xdead;
    assert_int_equal(ts_config_parse_propagators(NULL, &out), -1);
    assert_int_equal(out, 0xdead);
}

static void test_propagators_env(void **state)
{
    (void)state;
    struct ts_config c;
    const unsigned every = TS_PROP_B3 | TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT | TS_PROP_JAEGER;
    env_reset(); /* unset: two formats written, every one read */
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.extracted, every);

    env_set("OTEL_PROPAGATORS", "b3,jaeger");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.propagators, TS_PROP_B3 | TS_PROP_JAEGER);
    assert_int_equal(c.extracted, TS_PROP_B3 | TS_PROP_B3MULTI | TS_PROP_JAEGER);

    env_reset();
    env_set("OTEL_PROPAGATORS", "tracecontext,baggage");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.extracted, TS_PROP_TRACECONTEXT);

    env_reset();
    env_set("OTEL_PROPAGATORS", "b3multi");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.extracted, TS_PROP_B3 | TS_PROP_B3MULTI);

    env_reset();
    env_set("OTEL_PROPAGATORS", "none");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.propagators, 0);
    assert_int_equal(c.extracted, 0);

    env_reset();
    env_set("OTEL_PROPAGATORS", "b3,xray");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.propagators, TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT);
    assert_int_equal(c.extracted, every);
    assert_one_error("OTEL_PROPAGATORS", "b3,xray");
}

/* ------------------------------------------------------------- service name */

static void test_service_name(void **state)
{
    (void)state;
    struct ts_config c;
    env_set("OTEL_SERVICE_NAME", "orders");
    env_set("JAEGER_SERVICE_NAME", "jorders");
    env_set("OTEL_RESOURCE_ATTRIBUTES", "service.name=rorders");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "orders");
    assert_string_equal(c.resource_attrs, "service.name=rorders");

    env_reset();
    env_set("JAEGER_SERVICE_NAME", "jorders");
    env_set("OTEL_RESOURCE_ATTRIBUTES", "service.name=rorders");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "jorders");

    env_reset();
    env_set("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, service.name = rorders ,x=y");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "rorders");
    assert_string_equal(c.resource_attrs,
                        "deployment.environment=prod, service.name = rorders ,x=y");

    /* values are percent-encoded; the last service.name wins */
    env_reset();
    env_set("OTEL_RESOURCE_ATTRIBUTES", "service.name=a,service.name=my%20svc%2C1,");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "my svc,1");

    /* keys with '/' (Kubernetes' labels) are keys like any other */
    env_reset();
    env_set("OTEL_RESOURCE_ATTRIBUTES", "service.name=api,app.kubernetes.io/name=web");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "api");

    /* other keys that merely look alike do not count */
    env_reset();
    env_set("OTEL_RESOURCE_ATTRIBUTES", "service.namespace=shop,xservice.name=n");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "");

    /* UTF-8 names pass through byte for byte */
    env_reset();
    env_set("OTEL_SERVICE_NAME", "caf\xc3\xa9-\xe6\x9c\x8d\xe5\x8a\xa1");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "caf\xc3\xa9-\xe6\x9c\x8d\xe5\x8a\xa1");
}

static void test_service_name_length(void **state)
{
    (void)state;
    struct ts_config c;
    const char *max = repeat('s', TS_CFG_STR - 1);
    env_set("OTEL_SERVICE_NAME", max);
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, max);

    /* one byte more: rejected whole, never truncated; JAEGER_ is not used */
    env_reset();
    const char *too_long = repeat('s', TS_CFG_STR);
    env_set("OTEL_SERVICE_NAME", too_long);
    env_set("JAEGER_SERVICE_NAME", "fallback");
    assert_int_equal(load(&c), 1);
    assert_string_equal(c.service_name, "");
    assert_one_error("OTEL_SERVICE_NAME", "ssssssssss");
    assert_non_null(strstr(captured, "...\": expected at most 255 bytes"));

    env_reset();
    env_set("JAEGER_SERVICE_NAME", too_long);
    assert_int_equal(load(&c), 1);
    assert_string_equal(c.service_name, "");
    assert_one_error("JAEGER_SERVICE_NAME", "ssssssssss");

    /* service.name inside the resource attributes: same limit */
    env_reset();
    static char attrs[600];
    snprintf(attrs, sizeof attrs, "service.name=%s", too_long);
    env_set("OTEL_RESOURCE_ATTRIBUTES", attrs);
    assert_int_equal(load(&c), 1);
    assert_string_equal(c.service_name, "");
    assert_one_error("OTEL_RESOURCE_ATTRIBUTES", "service.name=sss");
    /* ...but it does not matter when a service variable is set */
    env_set("OTEL_SERVICE_NAME", "short");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "short");
    assert_string_equal(c.resource_attrs, attrs);
}

static void test_resource_attributes_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "service.name",         /* no '=' */
        "a=b,service.name",     /* no '=' in a later entry */
        "=orders",              /* empty key */
        "service.name=a%2",     /* truncated escape */
        "service.name=a%zz",    /* bad escape */
        "k=v%,service.name=ok", /* bad escape elsewhere discards it all */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_reset();
        env_set("OTEL_RESOURCE_ATTRIBUTES", bad[i]);
        struct ts_config c;
        assert_int_equal(load(&c), 1);
        assert_string_equal(c.resource_attrs, "");
        assert_string_equal(c.service_name, "");
        assert_one_error("OTEL_RESOURCE_ATTRIBUTES", bad[i]);
    }
    /* longer than its field */
    env_reset();
    static char attrs[1100];
    snprintf(attrs, sizeof attrs, "k=%s", repeat('v', 1021));
    assert_int_equal(strlen(attrs), 1023);
    env_set("OTEL_RESOURCE_ATTRIBUTES", attrs);
    struct ts_config c;
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.resource_attrs, attrs);
    snprintf(attrs, sizeof attrs, "service.name=x,k=%s", repeat('v', 1022));
    assert_int_equal(load(&c), 1);
    assert_string_equal(c.resource_attrs, "");
    assert_string_equal(c.service_name, "");
    assert_one_error("OTEL_RESOURCE_ATTRIBUTES", "service.name=x,k=vvv");
}

/* ------------------------------------------------------------- file path */

static void test_file_path(void **state)
{
    (void)state;
    struct ts_config c;
    env_set("TRACESHIM_FILE", "/var/tmp/spans.jsonl");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.file_path, "/var/tmp/spans.jsonl");

    env_reset();
    const char *max = repeat('p', TS_CFG_PATH - 1);
    env_set("TRACESHIM_FILE", max);
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.file_path, max);

    env_reset();
    env_set("TRACESHIM_FILE", repeat('p', TS_CFG_PATH));
    assert_int_equal(load(&c), 1);
    assert_string_equal(c.file_path, "");
    assert_one_error("TRACESHIM_FILE", "pppp");
    /* the message stays short: the value is cut */
    assert_true(strlen(captured) < 300);
}

/* ------------------------------------------------------------- integers */

/* The SDKs' settings the exporters do not have: one line each while that
 * exporter is in use, nothing (not even read) while it is not; "none" is
 * the one compression there is. */
static void test_unsupported_settings(void **state)
{
    (void)state;
    static const struct {
        const char *exporter, *var, *value;
        int errors;
    } cases[] = {
        {"otlp", "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1},
        {"file,otlp", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "zstd", 1},
        {"otlp", "OTEL_EXPORTER_OTLP_COMPRESSION", " NONE ", 0},
        {"file", "OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 0},
        {"jaeger", "JAEGER_ENDPOINT", "http://jaeger:14268/api/traces", 1},
        {"jaeger", "OTEL_EXPORTER_JAEGER_ENDPOINT", "http://jaeger:14268/api/traces", 1},
        {"otlp", "JAEGER_ENDPOINT", "http://jaeger:14268/api/traces", 0},
        /* TLS files: no TLS to use them for */
        {"otlp", "OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/ca.pem", 1},
        {"otlp", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/etc/ssl/ca.pem", 1},
        {"otlp", "OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/ssl/client.key", 1},
        {"otlp", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/etc/ssl/client.key", 1},
        {"otlp", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/etc/ssl/client.pem", 1},
        {"otlp", "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/etc/ssl/client.pem", 1},
        {"file,zipkin", "OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/ca.pem", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        env_reset();
        env_set("TRACESHIM_EXPORTER", cases[i].exporter);
        env_set(cases[i].var, cases[i].value);
        struct ts_config c;
        assert_int_equal(load(&c), cases[i].errors);
        assert_int_equal(captured_lines(), cases[i].errors);
        if (cases[i].errors)
            assert_non_null(strstr(captured, cases[i].var));
    }
    /* with an https endpoint the exporter is off: its one line says it all */
    env_reset();
    env_set("TRACESHIM_EXPORTER", "otlp");
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318");
    env_set("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ssl/ca.pem");
    struct ts_config c;
    assert_int_equal(load(&c), 1);
    assert_int_equal(captured_lines(), 1);
    assert_null(strstr(captured, "CERTIFICATE"));
    /* the SDKs' settings that change nothing here are not read */
    static const char *const ignored[] = {
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT",
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
        "OTEL_EXPORTER_OTLP_INSECURE",
        "OTEL_LOG_LEVEL",
        "OTEL_METRICS_EXPORTER",
        "OTEL_LOGS_EXPORTER",
    };
    env_reset();
    env_set("TRACESHIM_EXPORTER", "otlp");
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++)
        env_set(ignored[i], "bogus");
    assert_int_equal(load(&c), 0);
    assert_string_equal(captured, "");
}

static void test_integers_valid(void **state)
{
    (void)state;
    struct ts_config c;
    env_set("OTEL_BSP_MAX_QUEUE_SIZE", "1000000");
    env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1000000");
    env_set("OTEL_BSP_SCHEDULE_DELAY", "1");
    env_set("OTEL_BSP_EXPORT_TIMEOUT", "3600000");
    env_set("TRACESHIM_MAX_HEAD_BYTES", "1024");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.bsp_max_queue, 1000000);
    assert_int_equal(c.bsp_max_batch, 1000000);
    assert_int_equal(c.bsp_delay_ms, 1);
    assert_int_equal(c.bsp_export_timeout_ms, 3600000);
    assert_int_equal(c.max_head_bytes, 1024);

    env_reset();
    env_set("OTEL_BSP_MAX_QUEUE_SIZE", " 1 ");
    env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1");
    env_set("OTEL_BSP_SCHEDULE_DELAY", "3600000");
    env_set("OTEL_BSP_EXPORT_TIMEOUT", "1");
    env_set("TRACESHIM_MAX_HEAD_BYTES", "001048576");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.bsp_max_queue, 1);
    assert_int_equal(c.bsp_max_batch, 1);
    assert_int_equal(c.bsp_delay_ms, 3600000);
    assert_int_equal(c.bsp_export_timeout_ms, 1);
    assert_int_equal(c.max_head_bytes, 1048576);
}

static void test_batch_limited_by_queue(void **state)
{
    (void)state;
    struct ts_config c;
    /* a small queue shrinks the default batch */
    env_set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.bsp_max_queue, 100);
    assert_int_equal(c.bsp_max_batch, 100);

    env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "100");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.bsp_max_batch, 100);

    env_reset();
    env_set("OTEL_BSP_MAX_QUEUE_SIZE", "100");
    env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "101");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.bsp_max_batch, 100);
    assert_one_error("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "101");
    assert_non_null(strstr(captured, "from 1 to 100"));

    /* a batch above the default queue size */
    env_reset();
    env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.bsp_max_batch, 512);
    assert_int_equal(c.bsp_max_queue, 2048);
}

/* ------------------------------------------------------------- exporters */

/* Which URL the endpoint variables give: the general OTLP variable is a
 * base to which /v1/traces is appended, the traces-specific one (which
 * wins) and Zipkin's are used as given. */
static void test_endpoints(void **state)
{
    (void)state;
    every_exporter = true;
    static const struct {
        const char *var, *value, *var2, *value2; /* var2: NULL or a second variable */
        bool zipkin;                             /* check zipkin_url, else otlp_url */
        const char *host;
        unsigned port;
        const char *path, *authority;
    } cases[] = {
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", NULL, NULL, false, "collector",
         4318, "/v1/traces", "collector:4318"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/", NULL, NULL, false, "collector",
         4318, "/v1/traces", "collector:4318"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1]:4318/otlp/", NULL, NULL, false, "::1", 4318,
         "/otlp/v1/traces", "[::1]:4318"},
        /* the signal's path goes before a query; a fragment is never sent */
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080/otlp?token=abc", NULL, NULL, false, "gw",
         8080, "/otlp/v1/traces?token=abc", "gw:8080"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080/otlp//?a=1&b=/x", NULL, NULL, false, "gw",
         8080, "/otlp/v1/traces?a=1&b=/x", "gw:8080"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080?a=1", NULL, NULL, false, "gw", 8080,
         "/v1/traces?a=1", "gw:8080"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080/otlp#part", NULL, NULL, false, "gw", 8080,
         "/otlp/v1/traces", "gw:8080"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://gw:8080/otlp?q=1#part", NULL, NULL, false, "gw",
         8080, "/otlp/v1/traces?q=1", "gw:8080"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
         "http://traces:5555/custom/path", false, "traces", 5555, "/custom/path", "traces:5555"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:5555", NULL, NULL, false, "traces",
         5555, "/", "traces:5555"},
        {"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://zipkin.internal:9412/api/v2/spans?x=1", NULL,
         NULL, true, "zipkin.internal", 9412, "/api/v2/spans?x=1", "zipkin.internal:9412"},
        {"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://127.0.0.1", NULL, NULL, true, "127.0.0.1", 80,
         "/", "127.0.0.1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set(cases[i].var, cases[i].value);
        if (cases[i].var2)
            env_set(cases[i].var2, cases[i].value2);
        struct ts_config c;
        assert_int_equal(load(&c), 0);
        assert_url(cases[i].zipkin ? &c.zipkin_url : &c.otlp_url, cases[i].host, cases[i].port,
                   cases[i].path, cases[i].authority);
    }

    /* https and the other bad URLs: a line naming the variable and the
     * value, and a second one: the exporter is off, not sending to the
     * default endpoint in place of the one the user named */
    static const char *const bad[][2] = {
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318/v1/traces"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector:4318/v1/traces"},
        {"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "https://collector:4318/v1/traces"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://collector:0/v1/traces"},
        {"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "ftp://zipkin/"},
    };
    struct ts_config c;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_reset();
        env_set(bad[i][0], bad[i][1]);
        c = junk_config();
        assert_int_equal(load(&c), 1);
        if (strncmp(bad[i][1], "https:", 6) == 0)
            assert_non_null(strstr(captured, "https is not supported"));
        assert_endpoint_refused(&c, bad[i][0], bad[i][1]);
    }
    /* too long once /v1/traces is appended */
    env_reset();
    static char url[TS_CFG_PATH + 16];
    snprintf(url, sizeof url, "http://h/%s", repeat('p', TS_CFG_PATH));
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT", url);
    assert_int_equal(load(&c), 1);
    assert_endpoint_refused(&c, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://h/ppp");
    /* a path that fits, but not with /v1/traces: the longest that does */
    struct ts_url probe;
    size_t room = sizeof probe.path - 1 - (sizeof "/v1/traces" - 1); /* path bytes left */
    for (size_t extra = 0; extra < 2; extra++) {
        env_reset();
        snprintf(url, sizeof url, "http://h/%s", repeat('p', room - 1 + extra));
        env_set("OTEL_EXPORTER_OTLP_ENDPOINT", url);
        c = junk_config();
        assert_int_equal(load(&c), (int)extra);
        if (extra) {
            assert_endpoint_refused(&c, "OTEL_EXPORTER_OTLP_ENDPOINT", "http://h/ppp");
        } else {
            assert_int_equal(strlen(c.otlp_url.path), sizeof probe.path - 1);
            assert_string_equal(c.otlp_url.path + room, "/v1/traces");
        }
    }
}

static void test_otlp_protocol(void **state)
{
    (void)state;
    every_exporter = true;
    static const struct {
        const char *general, *traces;
        int want;
    } cases[] = {
        {"http/json", NULL, TS_OTLP_JSON},
        {"http/protobuf", NULL, TS_OTLP_PROTOBUF},
        {" HTTP/JSON ", NULL, TS_OTLP_JSON},
        {NULL, "http/json", TS_OTLP_JSON},
        {"http/json", "http/protobuf", TS_OTLP_PROTOBUF},
        {"http/protobuf", "http/json", TS_OTLP_JSON},
        {"grpc", "http/json", TS_OTLP_JSON}, /* the general one is not even read */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        if (cases[i].general)
            env_set("OTEL_EXPORTER_OTLP_PROTOCOL", cases[i].general);
        if (cases[i].traces)
            env_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", cases[i].traces);
        struct ts_config c;
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.otlp_protocol, cases[i].want);
    }
    struct ts_config c;
    env_reset();
    env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    assert_int_equal(load(&c), 1);
    assert_one_error("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    assert_non_null(strstr(captured, "grpc is not supported"));
    assert_int_equal(c.otlp_protocol, TS_OTLP_PROTOBUF);
}

static void test_otlp_headers(void **state)
{
    (void)state;
    every_exporter = true;
    static const struct {
        const char *v, *want;
    } cases[] = {
        {"api-key=secret", "api-key: secret\r\n"},
        {"a=1,b=2", "a: 1\r\nb: 2\r\n"},
        {" a = 1 , ,b=two%20words, ", "a: 1\r\nb: two words\r\n"},
        {"X-Tenant=t%2C1%3D2%25", "X-Tenant: t,1=2%\r\n"},
        {"k=a%09b", "k: a\tb\r\n"},
        {"k=", "k: \r\n"},
        {"k=caf%C3%A9", "k: caf\xc3\xa9\r\n"},
        {"Authorization=Basic dXNlcjpwdw==", "Authorization: Basic dXNlcjpwdw==\r\n"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set("OTEL_EXPORTER_OTLP_HEADERS", cases[i].v);
        struct ts_config c;
        if (load(&c) != 0)
            fail_msg("OTEL_EXPORTER_OTLP_HEADERS=\"%s\" rejected: %s", cases[i].v, captured);
        assert_string_equal(c.otlp_headers, cases[i].want);
    }

    /* the traces variable wins, whole: nothing of the general one is added */
    struct ts_config c;
    env_reset();
    env_set("OTEL_EXPORTER_OTLP_HEADERS", "general=1");
    env_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "traces=2");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.otlp_headers, "traces: 2\r\n");

    /* a literal line break cannot inject a header either */
    env_reset();
    env_set("OTEL_EXPORTER_OTLP_HEADERS", "k=a\r\nInjected: 1");
    assert_int_equal(load(&c), 1);
    assert_one_error("OTEL_EXPORTER_OTLP_HEADERS", "k=a??Injected: 1");
    assert_string_equal(c.otlp_headers, "");

    /* a bearer token of 4 KiB (JWTs of 1 to 4 KiB are common) fits */
    static char v[2 * TS_CFG_HEADERS];
    env_reset();
    snprintf(v, sizeof v, "authorization=Bearer%%20%s,x-api-key=k1", repeat('t', 4096));
    env_set("OTEL_EXPORTER_OTLP_HEADERS", v);
    assert_int_equal(load(&c), 0);
    assert_int_equal(strlen(c.otlp_headers),
                     strlen("authorization: Bearer \r\nx-api-key: k1\r\n") + 4096);
    assert_non_null(strstr(c.otlp_headers, "\r\nx-api-key: k1\r\n"));

    /* too long: one value past the room, or too many lines */
    env_reset();
    snprintf(v, sizeof v, "k=%s", repeat('v', TS_CFG_HEADERS - 4));
    env_set("OTEL_EXPORTER_OTLP_HEADERS", v);
    assert_int_equal(load(&c), 1);
    assert_one_error("OTEL_EXPORTER_OTLP_HEADERS", "k=vvv");
    assert_non_null(strstr(captured, "shorter headers (at most 8191 bytes in all"));
    assert_string_equal(c.otlp_headers, "");

    size_t n = 0;
    for (int i = 0; i < 90; i++) /* 90 lines of 107 bytes */
        n += (size_t)snprintf(v + n, sizeof v - n, "h%02d=%s,", i, repeat('v', 100));
    env_set("OTEL_EXPORTER_OTLP_HEADERS", v);
    assert_int_equal(load(&c), 1);
    assert_one_error("OTEL_EXPORTER_OTLP_HEADERS", "h00=vvv");
    assert_string_equal(c.otlp_headers, ""); /* nothing half-rendered is kept */

    /* the renderer itself: exactly filling the buffer, one byte short */
    char out[16];
    assert_int_equal(ts_config_render_headers("abc=012345678", out, sizeof out), -2);
    assert_int_equal(ts_config_render_headers("abc=01234567", out, sizeof out), 0);
    assert_string_equal(out, "abc: 01234567\r\n"); /* 15 bytes and the NUL */
    /* DEL, escaped or not, as any other control byte; a tab is allowed */
    assert_int_equal(ts_config_render_headers("k=a%7Fb", out, sizeof out), -1);
    assert_int_equal(ts_config_render_headers("k=a\x7f", out, sizeof out), -1);
    assert_int_equal(ts_config_render_headers("k=a%09b", out, sizeof out), 0);
}

static void test_exporter_timeouts(void **state)
{
    (void)state;
    every_exporter = true;
    struct ts_config c;
    env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
    env_set("OTEL_EXPORTER_ZIPKIN_TIMEOUT", " 3600000 ");
    env_set("TRACESHIM_EXIT_TIMEOUT", "0");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.otlp_timeout_ms, 2500);
    assert_int_equal(c.zipkin_timeout_ms, 3600000);
    assert_int_equal(c.exit_timeout_ms, 0); /* no flush at exit at all */

    env_reset();
    env_set("OTEL_EXPORTER_OTLP_TIMEOUT", "2500");
    env_set("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1");
    env_set("TRACESHIM_EXIT_TIMEOUT", "600000");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.otlp_timeout_ms, 1);
    assert_int_equal(c.exit_timeout_ms, 600000);
}

/* OpenTelemetry's names for the agent are read first (as everywhere else,
 * the OTEL_ variable wins over Jaeger's own); host and port independently. */
static void test_jaeger_agent(void **state)
{
    (void)state;
    every_exporter = true;
    struct ts_config c;
    env_set("JAEGER_AGENT_HOST", "agent.local");
    env_set("JAEGER_AGENT_PORT", "6832");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.jaeger_host, "agent.local");
    assert_int_equal(c.jaeger_port, 6832);

    env_set("OTEL_EXPORTER_JAEGER_AGENT_HOST", "otel-agent");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.jaeger_host, "otel-agent");
    assert_int_equal(c.jaeger_port, 6832);

    env_set("OTEL_EXPORTER_JAEGER_AGENT_PORT", "65535");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.jaeger_port, 65535);

    /* not a host name */
    env_reset();
    env_set("JAEGER_AGENT_HOST", "agent;rm -rf");
    assert_int_equal(load(&c), 1);
    assert_one_error("JAEGER_AGENT_HOST", "agent;rm -rf");
    assert_string_equal(c.jaeger_host, "127.0.0.1");
    env_reset();
    env_set("JAEGER_AGENT_HOST", "::1");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.jaeger_host, "::1");
    /* an IPv6 literal in brackets, as in a URL: the address without them */
    env_reset();
    env_set("JAEGER_AGENT_HOST", "[fd00::6831]");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.jaeger_host, "fd00::6831");
    /* with a zone, the interface a link-local address is on */
    static const char *const zoned[][2] = {
        {"fe80::1%eth0", "fe80::1%eth0"},
        {"[fe80::1%eth0]", "fe80::1%eth0"},
        {"fe80::1%2", "fe80::1%2"},
        {"fe80::1%br+1", "fe80::1%br+1"},
        /* in brackets, as in a URL, "%25" is the '%' (RFC 6874); bare, a
         * zone is as written */
        {"[fe80::1%25eth0]", "fe80::1%eth0"},
        {"fe80::1%25eth0", "fe80::1%25eth0"},
    };
    for (size_t i = 0; i < sizeof zoned / sizeof zoned[0]; i++) {
        env_reset();
        env_set("JAEGER_AGENT_HOST", zoned[i][0]);
        assert_int_equal(load(&c), 0);
        assert_string_equal(c.jaeger_host, zoned[i][1]);
    }
    /* a zone that is no interface's name: said so, not taken for a port */
    static const char *const bad_zones[] = {"fe80::1%", "[fe80::1%]", "fe80::1%a/b",
                                            "fe80::1%abcdefghijklmnop"};
    for (size_t i = 0; i < sizeof bad_zones / sizeof bad_zones[0]; i++) {
        env_reset();
        env_set("JAEGER_AGENT_HOST", bad_zones[i]);
        assert_int_equal(load(&c), 1);
        assert_one_error("JAEGER_AGENT_HOST", bad_zones[i]);
        if (!strstr(captured, "interface's name or index") || strstr(captured, "_PORT"))
            fail_msg("%s: %s", bad_zones[i], captured);
        assert_string_equal(c.jaeger_host, "127.0.0.1");
    }

    /* ':' elsewhere than in an IPv6 address is a port, which has a
     * variable of its own: refused at start-up, not at the first export */
    static const struct {
        const char *var, *value, *port_var;
    } with_port[] = {
        {"JAEGER_AGENT_HOST", "127.0.0.1:16831", "JAEGER_AGENT_PORT"},
        {"JAEGER_AGENT_HOST", "agent.local:6831", "JAEGER_AGENT_PORT"},
        {"JAEGER_AGENT_HOST", "[::1]:6831", "JAEGER_AGENT_PORT"},
        {"OTEL_EXPORTER_JAEGER_AGENT_HOST", "agent:6831", "OTEL_EXPORTER_JAEGER_AGENT_PORT"},
        {"JAEGER_AGENT_HOST", "fd00::zz", "JAEGER_AGENT_PORT"},
        {"JAEGER_AGENT_HOST", "[::1", "JAEGER_AGENT_PORT"},
        {"JAEGER_AGENT_HOST", "fe80::1%eth0:6831", "JAEGER_AGENT_PORT"},
        {"JAEGER_AGENT_HOST", "[fe80::1%eth0]:6831", "JAEGER_AGENT_PORT"},
    };
    for (size_t i = 0; i < sizeof with_port / sizeof with_port[0]; i++) {
        env_reset();
        env_set(with_port[i].var, with_port[i].value);
        assert_int_equal(load(&c), 1);
        assert_one_error(with_port[i].var, with_port[i].value);
        if (!strstr(captured, with_port[i].port_var))
            fail_msg("the line does not name %s: %s", with_port[i].port_var, captured);
        assert_string_equal(c.jaeger_host, "127.0.0.1");
    }

    /* a host that does not fit is rejected whole */
    env_reset();
    env_set("JAEGER_AGENT_HOST", repeat('a', sizeof c.jaeger_host));
    assert_int_equal(load(&c), 1);
    assert_one_error("JAEGER_AGENT_HOST", "aaaa");
    assert_string_equal(c.jaeger_host, "127.0.0.1");
}

/* The Jaeger clients' own names: JAEGER_DISABLED after the OpenTelemetry
 * and shim names, JAEGER_PROPAGATION where OTEL_PROPAGATORS is unset,
 * JAEGER_TAGS as resource attributes (written as OTEL_RESOURCE_ATTRIBUTES
 * entries: a '%' of a value encoded). */
static void test_jaeger_client_variables(void **state)
{
    (void)state;
    struct ts_config c;
    static const struct {
        const char *value;
        bool disabled;
    } disabled[] = {{"true", true},   {"TRUE", true}, {" t ", true}, {"1", true},
                    {"false", false}, {"f", false},   {"0", false}};
    for (size_t i = 0; i < sizeof disabled / sizeof disabled[0]; i++) {
        env_reset();
        env_set("JAEGER_DISABLED", disabled[i].value);
        assert_int_equal(load(&c), 0);
        assert_int_equal(c.disabled, disabled[i].disabled);
    }
    env_reset();
    env_set("JAEGER_DISABLED", "yes");
    assert_int_equal(load(&c), 1);
    assert_one_error("JAEGER_DISABLED", "yes");
    assert_false(c.disabled);
    env_reset(); /* OTEL_SDK_DISABLED set: it decides, JAEGER_DISABLED is not read */
    env_set("OTEL_SDK_DISABLED", "false");
    env_set("JAEGER_DISABLED", "true");
    assert_int_equal(load(&c), 0);
    assert_false(c.disabled);
    env_reset();
    env_set("TRACESHIM_DISABLED", "0");
    env_set("JAEGER_DISABLED", "true");
    assert_int_equal(load(&c), 0);
    assert_false(c.disabled);

    env_reset();
    env_set("JAEGER_PROPAGATION", "b3, w3c");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.propagators, TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT);
    assert_int_equal(c.extracted, TS_PROP_B3MULTI | TS_PROP_B3 | TS_PROP_TRACECONTEXT);
    env_reset();
    env_set("JAEGER_PROPAGATION", "jaeger");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.propagators, TS_PROP_JAEGER);
    assert_int_equal(c.extracted, TS_PROP_JAEGER);
    env_set("OTEL_PROPAGATORS", "tracecontext"); /* OpenTelemetry's name wins */
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.propagators, TS_PROP_TRACECONTEXT);
    env_reset();
    env_set("JAEGER_PROPAGATION", "b3multi"); /* OpenTelemetry's names are not Jaeger's */
    assert_int_equal(load(&c), 1);
    assert_one_error("JAEGER_PROPAGATION", "b3multi");
    assert_int_equal(c.propagators, TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT);

    env_reset();
    env_set("JAEGER_TAGS", "team=a, zone = eu-1 ,ratio=5%,eq=a=b,");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.jaeger_tags, "team=a,zone=eu-1,ratio=5%25,eq=a=b");
    static const char *const bad_tags[] = {"team", "=a", "in ner=x", "host=${HOSTNAME:box}",
                                           "a=1,user=${USER}"};
    for (size_t i = 0; i < sizeof bad_tags / sizeof bad_tags[0]; i++) {
        env_reset();
        env_set("JAEGER_TAGS", bad_tags[i]);
        assert_int_equal(load(&c), 1);
        assert_one_error("JAEGER_TAGS", bad_tags[i]);
        assert_string_equal(c.jaeger_tags, "");
    }
    assert_non_null(strstr(captured, "${ENV:default}"));
}

/* A key the shim sets for each process, in OTEL_RESOURCE_ATTRIBUTES or
 * JAEGER_TAGS, is left out with one line at the default (error) level;
 * the list is accepted, so it is no rejection. */
static void test_own_resource_key_is_said(void **state)
{
    (void)state;
    struct ts_config c;
    env_set("OTEL_RESOURCE_ATTRIBUTES", "process.pid=3,team=a");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.resource_attrs, "process.pid=3,team=a");
    assert_string_equal(captured, "traceshim: the OTEL_RESOURCE_ATTRIBUTES entry process.pid is "
                                  "ignored: the shim sets it for each process\n");
    env_reset();
    env_set("JAEGER_TAGS", "telemetry.sdk.name=x");
    assert_int_equal(load(&c), 0);
    assert_string_equal(captured, "traceshim: the JAEGER_TAGS entry telemetry.sdk.name is "
                                  "ignored: the shim sets it for each process\n");
}

/* One key rule for OTEL_RESOURCE_ATTRIBUTES and JAEGER_TAGS, on the key
 * as the resource has it: a blank or a control byte refuses either list,
 * with words that say so. JAEGER_TAGS's keys are taken as they are (a '%'
 * kept, written %25 for the resource); OTEL_RESOURCE_ATTRIBUTES's are
 * percent-decoded as its values are (the Resource SDK specification: ','
 * and '=' in keys and values are written %2C and %3D), so a key's '%'
 * must be an escape, and the rule holds for the decoded key. */
static void test_resource_keys_one_rule(void **state)
{
    (void)state;
    struct ts_config c;
    static const char *const good[][2] = {
        {"a%b=1", "a%25b=1"}, {"app.kubernetes.io/name=x", NULL}, {"k:v=1", NULL}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        env_reset();
        env_set("JAEGER_TAGS", good[i][0]);
        assert_int_equal(load(&c), 0);
        assert_string_equal(c.jaeger_tags, good[i][1] ? good[i][1] : good[i][0]);
        if (good[i][1])
            continue;
        env_set("OTEL_RESOURCE_ATTRIBUTES", good[i][0]);
        assert_int_equal(load(&c), 0);
        assert_string_equal(c.resource_attrs, good[i][0]);
    }
    static const char *const decoded_good[] = {"a%25b=1", "k%2C1%3Dx=v", "caf%C3%A9=1"};
    for (size_t i = 0; i < sizeof decoded_good / sizeof decoded_good[0]; i++) {
        env_reset();
        env_set("OTEL_RESOURCE_ATTRIBUTES", decoded_good[i]);
        assert_int_equal(load(&c), 0);
        assert_string_equal(c.resource_attrs, decoded_good[i]);
    }
    static const char *const bad[] = {"in ner=x", "k\x01=1", "k\x7f=1", "=x"};
    static const char *const vars[] = {"JAEGER_TAGS", "OTEL_RESOURCE_ATTRIBUTES"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t v = 0; v < 2; v++) {
            env_reset();
            env_set(vars[v], bad[i]);
            assert_int_equal(load(&c), 1);
            assert_non_null(
                strstr(captured, "non-empty keys without blanks or control characters"));
        }
    }
    /* keys decoded: a blank or a control byte once decoded, a bad escape */
    static const char *const decoded_bad[] = {"in%20ner=x", "k%01=1", "k%7F=1",
                                              "a%b=1",      "k%2=1",  "ok=1,x%zz=2"};
    for (size_t i = 0; i < sizeof decoded_bad / sizeof decoded_bad[0]; i++) {
        env_reset();
        env_set("OTEL_RESOURCE_ATTRIBUTES", decoded_bad[i]);
        assert_int_equal(load(&c), 1);
        assert_one_error("OTEL_RESOURCE_ATTRIBUTES", decoded_bad[i]);
        assert_string_equal(c.resource_attrs, "");
    }
    /* the keys the configuration looks for are matched decoded */
    env_reset();
    env_set("OTEL_RESOURCE_ATTRIBUTES", "service%2Ename=svc,process%2epid=3");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "svc");
    assert_string_equal(captured, "traceshim: the OTEL_RESOURCE_ATTRIBUTES entry process%2epid is "
                                  "ignored: the shim sets it for each process\n");
    env_reset();
    env_set("JAEGER_TAGS", "process%2Epid=3"); /* as it is: no key of the shim's */
    assert_int_equal(load(&c), 0);
    assert_string_equal(captured, "");
    assert_string_equal(c.jaeger_tags, "process%252Epid=3");
}

/* service.name in JAEGER_TAGS is no service name (the Jaeger clients take
 * theirs from JAEGER_SERVICE_NAME alone): left out of the resource, and
 * said, whichever service variable is set. */
static void test_jaeger_tags_service_name_is_said(void **state)
{
    (void)state;
    static const char line[] =
        "traceshim: the JAEGER_TAGS entry service.name is ignored: the service name is "
        "OTEL_SERVICE_NAME's, else JAEGER_SERVICE_NAME's, else the service.name of "
        "OTEL_RESOURCE_ATTRIBUTES, else the program's name\n";
    struct ts_config c;
    env_set("JAEGER_TAGS", "service.name=tagged,team=a");
    assert_int_equal(load(&c), 0);
    assert_string_not_equal(c.service_name, "tagged");
    assert_string_equal(captured, line);
    env_set("JAEGER_SERVICE_NAME", "shop");
    assert_int_equal(load(&c), 0);
    assert_string_equal(c.service_name, "shop");
    assert_string_equal(captured, line);
}

/* Where two names are set, a bad value under the first gives the default,
 * never the second name's good value. */
static void test_follow_exec_and_stacks(void **state)
{
    (void)state;
    struct ts_config c;
    assert_int_equal(load(&c), 0);
    assert_true(c.follow_exec);
    assert_false(c.process_spans);
    assert_int_equal(c.stacks, TS_STACKS_OFF);
    assert_int_equal(c.own_fd_table, -1); /* decided at run time */
    assert_true(c.direct_calls);
    assert_true(c.deepbind);
    assert_true(c.signal_flush);

    env_set("TRACESHIM_PROCESS_SPANS", "1");
    env_set("TRACESHIM_FOLLOW_EXEC", "0");
    env_set("TRACESHIM_STACKS", "client");
    env_set("TRACESHIM_OWN_FD_TABLE", "0");
    env_set("TRACESHIM_DIRECT_CALLS", "0");
    env_set("TRACESHIM_DEEPBIND", "0");
    env_set("TRACESHIM_SIGNAL_FLUSH", "0");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.own_fd_table, 0);
    assert_false(c.direct_calls);
    assert_false(c.deepbind);
    assert_false(c.signal_flush);
    assert_false(c.follow_exec);
    assert_true(c.process_spans);
    assert_int_equal(c.stacks, TS_STACKS_CLIENT);

    int mode = -1;
    uint64_t ns = 0;
    assert_int_equal(ts_config_parse_stacks("ALL", &mode, &ns), 0);
    assert_int_equal(mode, TS_STACKS_ALL);
    assert_int_equal(ts_config_parse_stacks(" off ", &mode, &ns), 0);
    assert_int_equal(mode, TS_STACKS_OFF);
    assert_int_equal(ts_config_parse_stacks("slow:50ms", &mode, &ns), 0);
    assert_int_equal(mode, TS_STACKS_SLOW);
    assert_int_equal(ns, 50000000ULL);
    assert_int_equal(ts_config_parse_stacks("slow:250", &mode, &ns), 0);
    assert_int_equal(ns, 250000000ULL);
    assert_int_equal(ts_config_parse_stacks("slow:2s", &mode, &ns), 0);
    assert_int_equal(ns, 2000000000ULL);
    assert_int_equal(ts_config_parse_stacks("slow:700us", &mode, &ns), 0);
    assert_int_equal(ns, 700000ULL);
    const char *bad[] = {"slow:", "slow:ms", "slow:5m", "slow:-1", "slow:99999999999999",
                         "some",  "slowly"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ts_config_parse_stacks(bad[i], &mode, &ns), -1);

    env_reset();
    env_set("TRACESHIM_STACKS", "sometimes");
    env_set("TRACESHIM_FOLLOW_EXEC", "perhaps");
    env_set("TRACESHIM_OWN_FD_TABLE", "separate");
    env_set("TRACESHIM_DIRECT_CALLS", "never");
    env_set("TRACESHIM_DEEPBIND", "deep");
    env_set("TRACESHIM_SIGNAL_FLUSH", "sometimes");
    assert_int_equal(load(&c), 6);
    assert_int_equal(c.stacks, TS_STACKS_OFF);
    assert_true(c.follow_exec);
    assert_int_equal(c.own_fd_table, -1);
    assert_true(c.direct_calls); /* a bad value keeps the default */
    assert_true(c.deepbind);
    assert_true(c.signal_flush);
    env_reset();
    env_set("TRACESHIM_OWN_FD_TABLE", "yes");
    assert_int_equal(load(&c), 0);
    assert_int_equal(c.own_fd_table, 1);
}

static void test_exporter_first_name_bad(void **state)
{
    (void)state;
    every_exporter = true;
    /* OTLP's general variable is the traces-specific one's default: a
     * rejected traces value gives way to it, as an unset one would */
    static const char *const traces_first[][4] = {
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector:4318/v1/traces",
         "OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"},
        {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue", "OTEL_EXPORTER_OTLP_HEADERS", "k=v"},
        {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "fast", "OTEL_EXPORTER_OTLP_TIMEOUT", "2500"},
    };
    struct ts_config c;
    for (size_t i = 0; i < sizeof traces_first / sizeof traces_first[0]; i++) {
        env_reset();
        env_set(traces_first[i][0], traces_first[i][1]);
        env_set(traces_first[i][2], traces_first[i][3]);
        c = junk_config();
        assert_int_equal(load(&c), 1);
        assert_one_error(traces_first[i][0], traces_first[i][1]);
    }
    /* (the last load: the timeout) */
    assert_int_equal(c.otlp_timeout_ms, 2500);
    env_reset();
    env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector:4318/v1/traces");
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318");
    env_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc");
    env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    env_set("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "novalue");
    env_set("OTEL_EXPORTER_OTLP_HEADERS", "k=v");
    assert_int_equal(load(&c), 3);
    assert_url(&c.otlp_url, "general", 4318, "/v1/traces", "general:4318");
    assert_int_equal(c.otlp_protocol, TS_OTLP_JSON);
    assert_string_equal(c.otlp_headers, "k: v\r\n");
    /* a rejected general value leaves the default */
    env_reset();
    env_set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc");
    env_set("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
    assert_int_equal(load(&c), 2);
    assert_int_equal(c.otlp_protocol, TS_OTLP_PROTOBUF);

    /* two names of one setting: the first set is the one read; rejected, the
     * default stays */
    env_reset();
    env_set("OTEL_EXPORTER_JAEGER_AGENT_PORT", "x");
    env_set("JAEGER_AGENT_PORT", "6832");
    c = junk_config();
    assert_int_equal(load(&c), 1);
    assert_one_error("OTEL_EXPORTER_JAEGER_AGENT_PORT", "x");
    assert_defaults(&c);
}

/* An exporter's settings are read only when it is in use: an environment
 * set for the SDKs (a gRPC or https collector) costs a process that
 * exports elsewhere no line, and leaves its configuration as it was. */
static void test_settings_of_exporters_not_in_use_are_not_read(void **state)
{
    (void)state;
    static const char *const sdk_env[][2] = {
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel-collector:4317"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://otel-collector:4317/v1/traces"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"},
        {"OTEL_EXPORTER_OTLP_TIMEOUT", "0"},
        {"OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"},
        {"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "https://zipkin:9411/api/v2/spans"},
        {"OTEL_EXPORTER_ZIPKIN_TIMEOUT", "0"},
        {"OTEL_EXPORTER_JAEGER_AGENT_HOST", "not a host"},
        {"JAEGER_AGENT_PORT", "x"},
        {"OTEL_EXPORTER_JAEGER_ENDPOINT", "http://jaeger:14268/api/traces"},
    };
    for (size_t i = 0; i < sizeof sdk_env / sizeof sdk_env[0]; i++)
        env_set(sdk_env[i][0], sdk_env[i][1]);
    struct ts_config c = junk_config();
    assert_int_equal(load(&c), 0);
    assert_string_equal(captured, "");
    assert_defaults(&c);
    /* each in use: its own are read (and rejected) */
    /* otlp: both endpoints and both protocols (a rejected traces value
     * gives way to the general one), the headers, the timeout, the
     * compression */
    /* (both OTLP endpoints refused: the exporter is off, and its other
     * settings are not read; Zipkin's endpoint refused, the same) */
    static const char *const in_use[][2] = {{"otlp", "2"}, {"zipkin", "1"}, {"jaeger", "3"}};
    for (size_t i = 0; i < sizeof in_use / sizeof in_use[0]; i++) {
        env_reset();
        for (size_t k = 0; k < sizeof sdk_env / sizeof sdk_env[0]; k++)
            env_set(sdk_env[k][0], sdk_env[k][1]);
        env_set("TRACESHIM_EXPORTER", in_use[i][0]);
        assert_int_equal(load(&c), atoi(in_use[i][1]));
    }
}

/* ------------------------------------------------------------- one error each */

struct bad_case {
    const char *var;
    const char *value;
};

static void test_each_invalid_value_one_error(void **state)
{
    (void)state;
    every_exporter = true;
    static const struct bad_case cases[] = {
        {"TRACESHIM_DISABLED", "2"},
        {"TRACESHIM_DISABLED", "enabled"},
        {"OTEL_SDK_DISABLED", "truee"},
        {"OTEL_SDK_DISABLED", "t"},
        {"TRACESHIM_EXPORTER", "kafka"},
        {"TRACESHIM_EXPORTER", "fil"},
        {"TRACESHIM_EXPORTER", "f\xc3\xafle"},
        {"OTEL_TRACES_EXPORTER", "logging2"},
        {"TRACESHIM_LOG_LEVEL", "verbose"},
        {"TRACESHIM_LOG_LEVEL", "3"},
        {"TRACESHIM_LOG_LEVEL", "warning"},
        {"OTEL_PROPAGATORS", "ottrace"},
        {"OTEL_PROPAGATORS", ","},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "0"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "1000001"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "-1"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "+5"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "0x10"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "1.5"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "1e3"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "12 34"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", " "},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "99999999999999999999999999999999999999"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "4294967297"}, /* 2^32 + 1: no wrap-around */
        {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"},
        {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "abc"},
        {"OTEL_BSP_SCHEDULE_DELAY", "0"},
        {"OTEL_BSP_SCHEDULE_DELAY", "5000ms"},
        {"OTEL_BSP_SCHEDULE_DELAY", "3600001"},
        {"OTEL_BSP_EXPORT_TIMEOUT", "0"},
        {"OTEL_BSP_EXPORT_TIMEOUT", "30s"},
        {"OTEL_BSP_EXPORT_TIMEOUT", "3600001"},
        {"TRACESHIM_MAX_HEAD_BYTES", "1023"},
        {"TRACESHIM_MAX_HEAD_BYTES", "1048577"},
        {"TRACESHIM_MAX_HEAD_BYTES", "16k"},
        {"TRACESHIM_MAX_HEAD_BYTES", "-16384"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/proto"},
        {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "json"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "novalue"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "=v"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "bad name=v"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "k=%0d%0aInjected: 1"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "k=%00"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "k=a%7Fb"}, /* DEL: no field-value byte (RFC 9110) */
        {"OTEL_EXPORTER_OTLP_HEADERS", "k=a\x7f"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "k=%zz"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "a=1,k:v=2"},
        {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=1,novalue"},
        {"OTEL_RESOURCE_ATTRIBUTES", "a=1,my key=2"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "Content-Type=text/plain"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "a=1,content-length=5"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "Transfer-Encoding=chunked"},
        {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", "CONNECTION=close"},
        {"OTEL_EXPORTER_OTLP_TIMEOUT", "0"},
        {"OTEL_EXPORTER_OTLP_TIMEOUT", "10s"},
        {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3600001"},
        {"OTEL_EXPORTER_ZIPKIN_TIMEOUT", "0"},
        {"JAEGER_AGENT_PORT", "0"},
        {"JAEGER_AGENT_PORT", "70000"},
        {"JAEGER_AGENT_PORT", "x"},
        {"OTEL_EXPORTER_JAEGER_AGENT_PORT", "65536"},
        {"TRACESHIM_EXIT_TIMEOUT", "600001"},
        {"TRACESHIM_EXIT_TIMEOUT", "-1"},
        {"TRACESHIM_EXIT_TIMEOUT", "2s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set(cases[i].var, cases[i].value);
        struct ts_config c = junk_config();
        int errors = load(&c);
        if (errors != 1)
            fail_msg("%s=\"%s\": %d errors", cases[i].var, cases[i].value, errors);
        assert_defaults(&c);
        assert_one_error(cases[i].var, cases[i].value);
    }
}

/* A refused endpoint's message shows neither its user and password nor
 * its query's values (a collector's token). */
static void test_endpoint_message_hides_credentials(void **state)
{
    (void)state;
    every_exporter = true;
    static const char *const cases[][3] = {
        {"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://user:pw@zipkin:9411/",
         "http://(not shown)@zipkin:9411/"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4318/?token=t0p&x",
         "https://c:4318/?token=(not shown)&(not shown)"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:0/?token=t0p",
         "http://c:0/?token=(not shown)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        env_reset();
        env_set(cases[i][0], cases[i][1]);
        struct ts_config c = junk_config();
        assert_int_equal(load(&c), 1);
        assert_null(strstr(captured, "pw"));
        assert_null(strstr(captured, "t0p"));
        assert_endpoint_refused(&c, cases[i][0], cases[i][2]);
    }
}

/* An OTLP endpoint set and refused (https, which the exporter cannot
 * speak) takes the headers with it: a bearer token must not go in clear
 * text to the default endpoint, a port on this host any local user may
 * listen on. Nor do the spans go there: the exporter is off. The same for
 * Zipkin's endpoint. A refused traces-specific endpoint still gives way to
 * a general one that is accepted, the one the user named. */
static void test_refused_endpoint_sends_nothing_to_the_default(void **state)
{
    (void)state;
    static const char *const otlp_vars[][2] = {
        {"OTEL_EXPORTER_OTLP_ENDPOINT", NULL},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", NULL},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"},
    };
    static const char *const header_vars[] = {"OTEL_EXPORTER_OTLP_HEADERS",
                                              "OTEL_EXPORTER_OTLP_TRACES_HEADERS"};
    struct ts_config c;
    for (size_t i = 0; i < sizeof otlp_vars / sizeof otlp_vars[0]; i++) {
        for (size_t h = 0; h < 2; h++) {
            env_reset();
            env_set("OTEL_TRACES_EXPORTER", "otlp,file");
            env_set(otlp_vars[i][0], "https://collector.example.com:4318");
            if (otlp_vars[i][1])
                env_set(otlp_vars[i][1], "https://collector.example.com:4318");
            env_set(header_vars[h], "Authorization=Bearer%20s3cret");
            c = junk_config();
            assert_int_equal(load(&c), otlp_vars[i][1] ? 2 : 1);
            assert_int_equal(c.exporters, 1u << TS_EXPORTER_FILE);
            assert_string_equal(c.otlp_headers, "");
            assert_null(strstr(captured, "s3cret"));
            /* said once, in the last refusal's line */
            const char *off = strstr(captured, "; the otlp exporter is off: its spans and "
                                               "headers do not go to the default "
                                               "(http://localhost:4318/v1/traces) instead\n");
            assert_non_null(off);
            assert_true(strstr(captured, "exporter is off") > off); /* not before */
            assert_int_equal(strchr(off, '\n')[1], '\0');           /* the last line */
            assert_int_equal(captured_lines(), otlp_vars[i][1] ? 2 : 1);
        }
    }
    /* otlp alone: no exporter left (not the file one in its place) */
    env_reset();
    env_set("OTEL_TRACES_EXPORTER", "otlp");
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:pw@collector:4318");
    env_set("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.exporters, 0);
    assert_string_equal(c.otlp_headers, "");

    /* the general endpoint accepted: it is the one named, the headers go */
    env_reset();
    env_set("OTEL_TRACES_EXPORTER", "otlp");
    env_set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://collector.example.com:4318");
    env_set("OTEL_EXPORTER_OTLP_ENDPOINT", "http://gateway:4318");
    env_set("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.exporters, 1u << TS_EXPORTER_OTLP);
    assert_url(&c.otlp_url, "gateway", 4318, "/v1/traces", "gateway:4318");
    assert_string_equal(c.otlp_headers, "x-api-key: k\r\n");

    /* zipkin */
    env_reset();
    env_set("OTEL_TRACES_EXPORTER", "zipkin,otlp");
    env_set("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "https://zipkin.example.com/api/v2/spans");
    assert_int_equal(load(&c), 1);
    assert_int_equal(c.exporters, 1u << TS_EXPORTER_OTLP);
    assert_non_null(strstr(captured, "; the zipkin exporter is off: "));
}

/* OTEL_RESOURCE_ATTRIBUTES keys the shim sets for each process are left
 * out of the resource, and a warning names each; the list stays. */
static void test_resource_own_keys_warned(void **state)
{
    (void)state;
    env_set("OTEL_RESOURCE_ATTRIBUTES",
            "team=a,process.pid=1,telemetry.sdk.name=x,process.owner=me");
    int saved = ts_cfg.log_level;
    ts_cfg.log_level = TS_LOG_WARN;
    struct ts_config c = junk_config();
    int errors = load(&c);
    ts_cfg.log_level = saved;
    assert_int_equal(errors, 0);
    assert_string_equal(c.resource_attrs,
                        "team=a,process.pid=1,telemetry.sdk.name=x,process.owner=me");
    assert_int_equal(captured_lines(), 2);
    assert_non_null(strstr(captured, "the OTEL_RESOURCE_ATTRIBUTES entry process.pid is ignored"));
    assert_non_null(strstr(captured, "the OTEL_RESOURCE_ATTRIBUTES entry telemetry.sdk.name is ignored"));
    assert_true(ts_resource_key_is_own("telemetry.sdk.version", 21));
    assert_false(ts_resource_key_is_own("process.owner", 13));
    assert_false(ts_resource_key_is_own("host.name", 9));
    assert_false(ts_resource_key_is_own("process.pi", 10));
}

static void test_all_invalid_at_once(void **state)
{
    (void)state;
    env_set("TRACESHIM_DISABLED", "x");
    env_set("TRACESHIM_EXPORTER", "x");
    env_set("TRACESHIM_LOG_LEVEL", "x");
    env_set("OTEL_PROPAGATORS", "x");
    env_set("OTEL_SERVICE_NAME", repeat('n', 300));
    env_set("OTEL_RESOURCE_ATTRIBUTES", "x");
    env_set("TRACESHIM_FILE", repeat('f', 5000));
    env_set("OTEL_BSP_MAX_QUEUE_SIZE", "x");
    env_set("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "x");
    env_set("OTEL_BSP_SCHEDULE_DELAY", "x");
    env_set("OTEL_BSP_EXPORT_TIMEOUT", "x");
    env_set("TRACESHIM_MAX_HEAD_BYTES", "x");
    struct ts_config c = junk_config();
    assert_int_equal(load(&c), 12);
    assert_int_equal(captured_lines(), 12);
    assert_defaults(&c);
    static const char *const vars[] = {
        "TRACESHIM_DISABLED",      "TRACESHIM_EXPORTER",      "TRACESHIM_LOG_LEVEL",
        "OTEL_PROPAGATORS",        "OTEL_SERVICE_NAME",       "OTEL_RESOURCE_ATTRIBUTES",
        "TRACESHIM_FILE",          "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_EXPORT_TIMEOUT", "TRACESHIM_MAX_HEAD_BYTES",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "traceshim: invalid %s=\"", vars[i]);
        if (!strstr(captured, needle))
            fail_msg("no error line for %s in:\n%s", vars[i], captured);
    }
}

/* ------------------------------------------------------------- hostile input */

static void test_message_is_one_safe_line(void **state)
{
    (void)state;
    struct ts_config c;
    /* control characters in a value cannot break the one-line rule */
    env_set("TRACESHIM_LOG_LEVEL", "de\nbug\r\x1b[31m");
    assert_int_equal(load(&c), 1);
    assert_int_equal(captured_lines(), 1);
    assert_one_error("TRACESHIM_LOG_LEVEL", "de?bug??[31m");
    assert_int_equal(c.log_level, TS_LOG_ERROR);

    /* a huge value is cut in the message */
    env_reset();
    env_set("OTEL_BSP_SCHEDULE_DELAY", repeat('9', 8000));
    assert_int_equal(load(&c), 1);
    assert_int_equal(captured_lines(), 1);
    assert_true(strlen(captured) < 300);
    assert_non_null(strstr(captured, "...\": expected a whole number from 1 to 3600000"));
    assert_int_equal(c.bsp_delay_ms, 5000);
}

static void test_non_ascii_everywhere(void **state)
{
    (void)state;
    /* bytes >= 0x80 in every variable: no crash, defaults, one error each
     * (file path and service name take them as they are) */
    static const char hi[] = "\xff\xfe\x80\xc3\xa9";
    env_set("TRACESHIM_DISABLED", hi);
    env_set("TRACESHIM_EXPORTER", hi);
    env_set("TRACESHIM_LOG_LEVEL", hi);
    env_set("OTEL_PROPAGATORS", hi);
    env_set("OTEL_BSP_MAX_QUEUE_SIZE", hi);
    env_set("OTEL_SERVICE_NAME", hi);
    env_set("TRACESHIM_FILE", hi);
    env_set("OTEL_RESOURCE_ATTRIBUTES", "k=\xff");
    struct ts_config c;
    assert_int_equal(load(&c), 5);
    assert_int_equal(captured_lines(), 5);
    assert_string_equal(c.service_name, hi);
    assert_string_equal(c.file_path, hi);
    assert_string_equal(c.resource_attrs, "k=\xff");
    assert_false(c.disabled);
    assert_int_equal(c.exporters, 1u << TS_EXPORTER_FILE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_empty_values_are_unset, setup),
        cmocka_unit_test_setup(test_global_instance, setup),
        cmocka_unit_test_setup(test_jaeger_client_variables, setup),
        cmocka_unit_test_setup(test_own_resource_key_is_said, setup),
        cmocka_unit_test_setup(test_jaeger_tags_service_name_is_said, setup),
        cmocka_unit_test_setup(test_resource_keys_one_rule, setup),
        cmocka_unit_test_setup(test_disabled_values, setup),
        cmocka_unit_test_setup(test_sdk_disabled_spec_booleans, setup),
        cmocka_unit_test_setup(test_disabled_first_name_wins, setup),
        cmocka_unit_test_setup(test_exporter_names, setup),
        cmocka_unit_test_setup(test_exporter_lists, setup),
        cmocka_unit_test_setup(test_exporter_first_name_wins, setup),
        cmocka_unit_test_setup(test_log_level, setup),
        cmocka_unit_test_setup(test_parse_propagators, setup),
        cmocka_unit_test_setup(test_propagators_env, setup),
        cmocka_unit_test_setup(test_service_name, setup),
        cmocka_unit_test_setup(test_service_name_length, setup),
        cmocka_unit_test_setup(test_resource_attributes_invalid, setup),
        cmocka_unit_test_setup(test_file_path, setup),
        cmocka_unit_test_setup(test_unsupported_settings, setup),
        cmocka_unit_test_setup(test_integers_valid, setup),
        cmocka_unit_test_setup(test_batch_limited_by_queue, setup),
        cmocka_unit_test_setup(test_endpoints, setup),
        cmocka_unit_test_setup(test_otlp_protocol, setup),
        cmocka_unit_test_setup(test_otlp_headers, setup),
        cmocka_unit_test_setup(test_exporter_timeouts, setup),
        cmocka_unit_test_setup(test_jaeger_agent, setup),
        cmocka_unit_test_setup(test_follow_exec_and_stacks, setup),
        cmocka_unit_test_setup(test_exporter_first_name_bad, setup),
        cmocka_unit_test_setup(test_settings_of_exporters_not_in_use_are_not_read, setup),
        cmocka_unit_test_setup(test_each_invalid_value_one_error, setup),
        cmocka_unit_test_setup(test_endpoint_message_hides_credentials, setup),
        cmocka_unit_test_setup(test_refused_endpoint_sends_nothing_to_the_default, setup),
        cmocka_unit_test_setup(test_resource_own_keys_warned, setup),
        cmocka_unit_test_setup(test_all_invalid_at_once, setup),
        cmocka_unit_test_setup(test_message_is_one_safe_line, setup),
        cmocka_unit_test_setup(test_non_ascii_everywhere, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
