/* config.c — reading the configuration from the environment (see config.h).
 *
 * Every rejected value gets one line on stderr naming the variable, the
 * value and what was expected, and its default is used: nothing the
 * environment says may stop or crash the program. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

struct ts_config ts_cfg;

/* Show at most this much of a rejected value. */
#define SHOWN 64

static void reject(int *errors, const char *var, const char *value, const char *expected)
{
    ts_log_error("invalid %s=\"%.*s\"%s: expected %s", var, SHOWN, value,
                 strlen(value) > SHOWN ? "..." : "", expected);
    (*errors)++;
}

/* The first of two variables that is set (non-NULL), and its name. */
static const char *first_set(ts_env_lookup_fn get, const char *a, const char *b, const char **name)
{
    const char *v = get(a);
    *name = a;
    if (!v && b) {
        v = get(b);
        *name = b;
    }
    return v;
}

static void read_bool(ts_env_lookup_fn get, const char *var, bool *out, int *errors)
{
    const char *v = get(var);
    if (!v)
        return;
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"", "0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return;
        }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (strcasecmp(v, no[i]) == 0)
            return;
    reject(errors, var, v, "true or false");
}

/* Copy v into out (cap bytes) or reject it as too long. */
static void read_string(const char *var, const char *v, char *out, size_t cap, int *errors)
{
    if (!v)
        return;
    size_t len = strlen(v);
    if (len >= cap) {
        char expected[64];
        snprintf(expected, sizeof expected, "at most %zu bytes", cap - 1);
        reject(errors, var, v, expected);
        return;
    }
    memcpy(out, v, len + 1);
}

static void read_uint(ts_env_lookup_fn get, const char *var, unsigned lo, unsigned hi,
                      unsigned *out, int *errors)
{
    const char *v = get(var);
    if (!v)
        return;
    unsigned long long n = 0;
    const char *p = v;
    while (*p == ' ')
        p++;
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++, digits = true)
        if ((n = n * 10 + (unsigned)(*p - '0')) > hi)
            break;
    while (*p == ' ')
        p++;
    if (!digits || *p || n < lo || n > hi) {
        char expected[80];
        snprintf(expected, sizeof expected, "a whole number from %u to %u", lo, hi);
        reject(errors, var, v, expected);
        return;
    }
    *out = (unsigned)n;
}

static int exporter_named(const char *s, size_t len)
{
    static const char *const names[] = {
        [TS_EXPORTER_FILE] = "file",     [TS_EXPORTER_OTLP] = "otlp",
        [TS_EXPORTER_ZIPKIN] = "zipkin", [TS_EXPORTER_JAEGER] = "jaeger",
        [TS_EXPORTER_CONSOLE] = "console", [TS_EXPORTER_NONE] = "none",
    };
    while (len && *s == ' ')
        s++, len--;
    while (len && s[len - 1] == ' ')
        len--;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i]) == len && strncasecmp(s, names[i], len) == 0)
            return (int)i;
    return -1;
}

static void read_exporter(ts_env_lookup_fn get, struct ts_config *cfg, int *errors)
{
    const char *var;
    const char *v = first_set(get, "TRACESHIM_EXPORTER", "OTEL_TRACES_EXPORTER", &var);
    if (!v)
        return;
    size_t len = strlen(v);
    if (strcmp(var, "OTEL_TRACES_EXPORTER") == 0) { /* a list: its first entry */
        const char *comma = strchr(v, ',');
        if (comma)
            len = (size_t)(comma - v);
    }
    int e = exporter_named(v, len);
    if (e < 0)
        reject(errors, var, v, "file, otlp, zipkin, jaeger, console or none");
    else
        cfg->exporter = e;
}

static void read_log_level(ts_env_lookup_fn get, struct ts_config *cfg, int *errors)
{
    const char *v = get("TRACESHIM_LOG_LEVEL");
    if (!v)
        return;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcasecmp(v, names[i]) == 0) {
            cfg->log_level = i;
            return;
        }
    reject(errors, "TRACESHIM_LOG_LEVEL", v, "error, warn, info or debug");
}

int ts_config_parse_propagators(const char *s, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bit;
    } known[] = {
        {"b3multi", TS_PROP_B3MULTI}, {"b3", TS_PROP_B3},       {"tracecontext", TS_PROP_TRACECONTEXT},
        {"jaeger", TS_PROP_JAEGER},   {"baggage", 0},            {"none", 0},
    };
    unsigned bits = 0;
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;
        while (len && *q == ' ')
            q++, len--;
        while (len && q[len - 1] == ' ')
            len--;
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (strlen(known[i].name) == len && strncasecmp(q, known[i].name, len) == 0) {
                bits |= known[i].bit;
                found = true;
            }
        if (!found)
            return -1;
        if (!end)
            break;
        p = end + 1;
    }
    *out = bits;
    return 0;
}

/* service.name inside OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2"). */
static void service_from_resource(const char *attrs, char *out, size_t cap)
{
    const char *p = attrs;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 13 && strncmp(p, "service.name", 12) == 0) {
            const char *v = p + 12;
            while (*v == ' ')
                v++;
            if (*v == '=') {
                v++;
                size_t vlen = (size_t)(p + len - v);
                while (vlen && v[vlen - 1] == ' ')
                    vlen--;
                if (vlen && vlen < cap) {
                    memcpy(out, v, vlen);
                    out[vlen] = '\0';
                }
                return;
            }
        }
        p = end ? end + 1 : NULL;
    }
}

int ts_config_load(struct ts_config *cfg, ts_env_lookup_fn get)
{
    int errors = 0;
    memset(cfg, 0, sizeof *cfg);
    cfg->exporter = TS_EXPORTER_FILE;
    cfg->log_level = TS_LOG_ERROR;
    cfg->propagators = TS_PROP_B3MULTI | TS_PROP_TRACECONTEXT;
    cfg->bsp_max_queue = 2048;
    cfg->bsp_max_batch = 512;
    cfg->bsp_delay_ms = 5000;
    cfg->bsp_export_timeout_ms = 30000;
    cfg->max_head_bytes = 16384;

    /* The log level first: it decides which of the later lines are shown. */
    read_log_level(get, cfg, &errors);
    ts_cfg.log_level = cfg->log_level;

    read_bool(get, "TRACESHIM_DISABLED", &cfg->disabled, &errors);
    read_bool(get, "OTEL_SDK_DISABLED", &cfg->disabled, &errors);
    read_exporter(get, cfg, &errors);

    const char *v = get("OTEL_PROPAGATORS");
    if (v && ts_config_parse_propagators(v, &cfg->propagators) != 0)
        reject(&errors, "OTEL_PROPAGATORS", v,
               "a comma-separated list of b3multi, b3, tracecontext, jaeger, none");

    const char *var;
    v = first_set(get, "OTEL_SERVICE_NAME", "JAEGER_SERVICE_NAME", &var);
    read_string(var, v, cfg->service_name, sizeof cfg->service_name, &errors);
    read_string("OTEL_RESOURCE_ATTRIBUTES", get("OTEL_RESOURCE_ATTRIBUTES"), cfg->resource_attrs,
                sizeof cfg->resource_attrs, &errors);
    if (!cfg->service_name[0])
        service_from_resource(cfg->resource_attrs, cfg->service_name, sizeof cfg->service_name);
    read_string("TRACESHIM_FILE", get("TRACESHIM_FILE"), cfg->file_path, sizeof cfg->file_path,
                &errors);

    read_uint(get, "OTEL_BSP_MAX_QUEUE_SIZE", 1, 1000000, &cfg->bsp_max_queue, &errors);
    read_uint(get, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 1000000, &cfg->bsp_max_batch, &errors);
    if (cfg->bsp_max_batch > cfg->bsp_max_queue)
        cfg->bsp_max_batch = cfg->bsp_max_queue;
    read_uint(get, "OTEL_BSP_SCHEDULE_DELAY", 1, 3600000, &cfg->bsp_delay_ms, &errors);
    read_uint(get, "OTEL_BSP_EXPORT_TIMEOUT", 1, 3600000, &cfg->bsp_export_timeout_ms, &errors);
    read_uint(get, "TRACESHIM_MAX_HEAD_BYTES", 1024, 1048576, &cfg->max_head_bytes, &errors);
    return errors;
}
