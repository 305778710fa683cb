/* fuzz_config.c — libFuzzer target for everything the library reads from
 * its environment at start-up: ts_config_load (preload/config.c),
 * ts_sampler_load (reporter/sampler.c) and ts_rules_load (hooks/rules.c,
 * PCRE2).
 *
 * The input is the environment: variable k of the list below gets the
 * k-th NUL-separated piece of the input ("" for an empty piece, unset past
 * the last piece). The error lines the loaders write are checked (one line,
 * ending in its only LF, at most 512 bytes) and dropped instead of reaching
 * stderr. After loading, the sampler decides, builds its strategy URL, and
 * the rules match a route, an ignore subject and an injection destination
 * taken from the input's last piece.
 *
 * Invariants (abort() on violation): the loaded configuration's strings
 * are NUL-terminated inside their arrays, its numbers inside their
 * documented ranges, its OTLP header lines "Name: value\r\n" each; a second
 * load of the same environment gives the same bytes; the sampler's URL and
 * the route fit their buffers with their NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks/rules.h"
#include "preload/config.h"
#include "preload/real.h"
#include "reporter/sampler.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort();                                                                               \
    } while (0)

/* Every variable the three loaders read, the richest parsers first. */
static const char *const vars[] = {
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "TRACESHIM_ROUTES",
    "TRACESHIM_IGNORE",
    "TRACESHIM_INJECT_TO",
    "TRACESHIM_NO_INJECT_TO",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
    "OTEL_PROPAGATORS",
    "TRACESHIM_EXPORTER",
    "OTEL_TRACES_EXPORTER",
    "TRACESHIM_STACKS",
    "OTEL_SERVICE_NAME",
    "JAEGER_SERVICE_NAME",
    "JAEGER_SAMPLER_TYPE",
    "JAEGER_SAMPLER_PARAM",
    "JAEGER_SAMPLER_MANAGER_HOST_PORT",
    "JAEGER_AGENT_HOST",
    "JAEGER_AGENT_PORT",
    "OTEL_EXPORTER_JAEGER_AGENT_HOST",
    "OTEL_EXPORTER_JAEGER_AGENT_PORT",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_ZIPKIN_TIMEOUT",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_JAEGER_ENDPOINT",
    "JAEGER_ENDPOINT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "TRACESHIM_MAX_HEAD_BYTES",
    "TRACESHIM_EXIT_TIMEOUT",
    "TRACESHIM_LOG_LEVEL",
    "TRACESHIM_FILE",
    "TRACESHIM_DISABLED",
    "OTEL_SDK_DISABLED",
    "TRACESHIM_FOLLOW_EXEC",
    "TRACESHIM_PROCESS_SPANS",
    "TRACESHIM_STATS",
    "TRACESHIM_OWN_FD_TABLE",
    "TRACESHIM_DIRECT_CALLS",
    "TRACESHIM_DEEPBIND",
    "TRACESHIM_SIGNAL_FLUSH",
    "JAEGER_TAGS",
    "JAEGER_PROPAGATION",
    "JAEGER_SAMPLING_ENDPOINT",
    "JAEGER_DISABLED",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
};
#define NVARS (sizeof vars / sizeof *vars)

/* The current input's pieces, each in a heap block of its exact size
 * (with its NUL), so a read past a value is an ASan report. */
static char *piece[NVARS];
static size_t npieces;
static int lookups_unknown;

static const char *fuzz_env(const char *name)
{
    for (size_t k = 0; k < NVARS; k++)
        if (strcmp(name, vars[k]) == 0)
            return k < npieces ? piece[k] : NULL;
    lookups_unknown++; /* a variable this list lacks: add it */
    return NULL;
}

/* The loaders' error lines: one line each, never reaching stderr. */
static ssize_t log_sink(int fd, const void *buf, size_t len)
{
    CHECK(fd == 2);
    CHECK(len > 0 && len <= 512);
    const char *s = buf;
    CHECK(s[len - 1] == '\n');
    CHECK(memchr(s, '\n', len - 1) == NULL);
    return (ssize_t)len;
}

static void check_str(const char *s, size_t cap)
{
    CHECK(memchr(s, '\0', cap) != NULL);
}

static void check_url(const struct ts_url *u)
{
    check_str(u->host, sizeof u->host);
    check_str(u->path, sizeof u->path);
    check_str(u->authority, sizeof u->authority);
    CHECK(u->host[0] && u->path[0] == '/' && u->port != 0);
}

static void check_config(const struct ts_config *c)
{
    check_str(c->service_name, sizeof c->service_name);
    check_str(c->file_path, sizeof c->file_path);
    check_str(c->resource_attrs, sizeof c->resource_attrs);
    check_str(c->otlp_headers, sizeof c->otlp_headers);
    check_str(c->jaeger_host, sizeof c->jaeger_host);
    check_url(&c->otlp_url);
    check_url(&c->zipkin_url);
    CHECK(c->jaeger_host[0] && c->jaeger_port != 0);
    CHECK((c->exporters & ~((1u << TS_EXPORTER_NONE) - 1)) == 0);
    CHECK(c->log_level >= TS_LOG_ERROR && c->log_level <= TS_LOG_DEBUG);
    CHECK((c->propagators & ~0xfu) == 0);
    CHECK(c->otlp_protocol == TS_OTLP_PROTOBUF || c->otlp_protocol == TS_OTLP_JSON);
    CHECK(c->bsp_max_queue >= 1 && c->bsp_max_queue <= 1000000);
    CHECK(c->bsp_max_batch >= 1 && c->bsp_max_batch <= c->bsp_max_queue);
    CHECK(c->bsp_delay_ms >= 1 && c->bsp_delay_ms <= 3600000);
    CHECK(c->bsp_export_timeout_ms >= 1 && c->bsp_export_timeout_ms <= 3600000);
    CHECK(c->max_head_bytes >= 1024 && c->max_head_bytes <= 1048576);
    CHECK(c->exit_timeout_ms <= 600000);
    CHECK(c->otlp_timeout_ms >= 1 && c->otlp_timeout_ms <= 3600000);
    CHECK(c->zipkin_timeout_ms >= 1 && c->zipkin_timeout_ms <= 3600000);
    CHECK(c->stacks >= TS_STACKS_OFF && c->stacks <= TS_STACKS_SLOW);
    if (c->stacks != TS_STACKS_SLOW)
        CHECK(c->stacks_slow_ns == 0);
    /* header lines: "Name: value\r\n" each, no other CR or LF */
    const char *h = c->otlp_headers, *end = h + strlen(h);
    while (h < end) {
        const char *eol = strstr(h, "\r\n");
        CHECK(eol != NULL);
        CHECK(memchr(h, '\n', (size_t)(eol - h)) == NULL);
        const char *colon = memchr(h, ':', (size_t)(eol - h));
        CHECK(colon != NULL && colon > h);
        h = eol + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        ts_real_resolve();
        ts_real_write = log_sink;
        ts_cfg.log_level = TS_LOG_DEBUG; /* every line is formatted, and checked */
        ready = 1;
    }
    /* the pieces */
    npieces = 0;
    size_t pos = 0;
    while (npieces < NVARS) {
        const uint8_t *nul = memchr(data + pos, '\0', size - pos);
        size_t end = nul ? (size_t)(nul - data) : size;
        size_t n = end - pos;
        piece[npieces] = malloc(n + 1);
        CHECK(piece[npieces] != NULL);
        memcpy(piece[npieces], data + pos, n);
        piece[npieces][n] = '\0';
        npieces++;
        if (!nul)
            break;
        pos = end + 1;
    }
    const char *last = piece[npieces - 1];
    size_t last_len = strlen(last);

    static struct ts_config cfg, again;
    int e = ts_config_load(&cfg, fuzz_env);
    CHECK(e >= 0);
    check_config(&cfg);
    CHECK(ts_config_load(&again, fuzz_env) == e);
    CHECK(memcmp(&cfg, &again, sizeof cfg) == 0);
    CHECK(lookups_unknown == 0);

    /* the sampler */
    CHECK(ts_sampler_load(fuzz_env) >= 0);
    uint8_t trace[TS_TRACE_ID_LEN] = {0};
    memcpy(trace, data, size < sizeof trace ? size : sizeof trace);
    struct ts_ctx parent = {.valid = true, .sampling = (uint8_t)(size % 4)};
    memcpy(parent.trace_id, trace, sizeof trace);
    parent.span_id[0] = 1;
    (void)ts_sampler_should_sample(NULL, trace, last, last_len);
    (void)ts_sampler_should_sample(&parent, trace, last, last_len);
    char url[600];
    if (ts_sampler_remote_url(url, sizeof url, cfg.service_name[0] ? cfg.service_name : "svc"))
        check_str(url, sizeof url);
    CHECK(ts_sampler_poll_interval_ms() >= 100);

    /* the rules, matched against the last piece */
    CHECK(ts_rules_load(fuzz_env) >= 0);
    char route[TS_ROUTE_MAX];
    size_t rn = ts_rules_route(last, last_len, route, sizeof route);
    CHECK(rn < sizeof route && route[rn] == '\0');
    rn = ts_rules_route("/users/123/orders/0f8fad5b-d9cb-469f-a165-70867728950e", 53, route,
                        sizeof route);
    CHECK(rn < sizeof route && route[rn] == '\0');
    char small[8];
    rn = ts_rules_route(last, last_len, small, sizeof small);
    CHECK(rn < sizeof small && small[rn] == '\0');
    (void)ts_rules_ignored("GET", 3, last, last_len);
    (void)ts_rules_should_inject(last, last_len, 80, "127.0.0.1", 8080);
    (void)ts_rules_should_inject(NULL, 0, 443, "::1", 443);

    for (size_t k = 0; k < npieces; k++)
        free(piece[k]);
    npieces = 0;
    return 0;
}
